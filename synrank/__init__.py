"""synrank: train and evaluate dense retrievers with synthetic, multi-level relevance data.

Reproduces and extends Esfandiarpoor et al., 2025, "Beyond Contrastive Learning: Synthetic Data
Enables List-wise Training with Multiple Levels of Relevance" (arXiv:2503.23239, SyCL).

The Python API (README.md, "Python API")::

    import synrank

    data = synrank.load_dataset("scifact")                       # a BEIR-layout split
    result = synrank.evaluate("all-MiniLM-L6-v2", "scifact")      # scores, per-query scores, the run
    trained = synrank.train("config.yaml", output="runs/mine")     # a sentence-transformers folder
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "evaluate", "load_dataset", "train"]

_API = ("evaluate", "load_dataset", "train")


def __getattr__(name: str) -> Any:
    if name in _API:
        # start-up time: `import synrank` (which every submodule import runs first) stays light; synrank.api
        # loads the data layer, numpy and pytrec_eval (~0.3 s), and torch once evaluate/train run
        from synrank import api

        return getattr(api, name)
    raise AttributeError(f"module 'synrank' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
