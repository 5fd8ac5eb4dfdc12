"""The Python API: ``synrank.load_dataset``, ``synrank.evaluate`` and ``synrank.train``.

Thin wrappers over what the commands use (:func:`synrank.data.load_dataset`,
:func:`synrank.evaluation.pipeline.evaluate_model`, :func:`synrank.training.trainer.train`), with the
commands' names for their options (``output`` as ``--output``). See README.md, "Python API".
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from synrank.data.beir import BeirDataset
from synrank.data.beir import load_dataset as _load_beir
from synrank.evaluation.measures import DEFAULT_MEASURES
from synrank.training.config import TrainConfig, config_from_dict, load_train_config

if TYPE_CHECKING:
    from synrank.evaluation.pipeline import CellResult
    from synrank.training.trainer import TrainResult

__all__ = ["evaluate", "load_dataset", "train"]


def load_dataset(name_or_path: str | os.PathLike, split: str | None = None, *, corpus: bool = True) -> BeirDataset:
    """Load one split of a BEIR-layout dataset: a name from ``synrank datasets`` (``"scifact"``) or a folder
    with ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``.

    ``split=None`` takes the dataset's default split (usually ``test``); ``corpus=False`` skips the corpus.
    Returns a :class:`~synrank.data.beir.BeirDataset` (``corpus``, ``queries``, ``qrels``, ``checksums``).
    Bad files raise :class:`~synrank.errors.DatasetError` naming file and line.
    """
    return _load_beir(name_or_path, split=split, corpus=corpus)


def evaluate(model: Any, dataset: str | os.PathLike | BeirDataset, *, split: str | None = None,
             output: str | os.PathLike | None = None, mode: str = "auto", top_k: int = 1000,
             measures: Sequence[str] = DEFAULT_MEASURES, batch_size: int = 64, max_length: int | None = None,
             cache: bool = True, name: str | None = None, candidates: str | os.PathLike | None = None,
             show_progress: bool = True) -> CellResult:
    """Evaluate ``model`` on ``dataset`` and return the scores (``.aggregate``, ``.per_query``, ``.run``).

    ``model``: a sentence-transformers folder, an alias (``"all-MiniLM-L6-v2"``), a hub name (online),
    ``"module:Class"``, ``"bm25"``, or an object with ``encode_queries``/``encode_corpus`` or only
    ``encode(texts, **kwargs)``. ``dataset``: a name, a folder, or a loaded :class:`BeirDataset`.
    ``output``: write ``run.trec.gz``, ``per_query.tsv``, ``metrics.json`` (and MTEB-format results for
    MTEB's datasets) there. ``mode``: ``full`` (search the corpus), ``rerank`` (the dataset's shipped
    candidates, or ``candidates``) or ``auto``. The rest as ``synrank evaluate``'s options.
    """
    from synrank.evaluation.pipeline import evaluate_model  # start-up time: the pipeline loads torch (1-2 s)

    return evaluate_model(model, dataset, split=split, output_dir=output, mode=mode, top_k=top_k,
                          batch_size=batch_size, cache=cache, name=name, measures=tuple(measures),
                          max_length=max_length, show_progress=show_progress, candidates=candidates)


def train(config: str | os.PathLike | Mapping[str, Any] | TrainConfig, *, output: str | os.PathLike | None = None,
          resume: bool = False, **overrides: Any) -> TrainResult:
    """Train a bi-encoder and return where it went (``.output_dir``), its steps and final loss.

    ``config``: a training config file (``.yaml``, ``.toml``, ``.json``; see ``benchmarks/configs/train/``),
    a dict with the same keys (relative paths are taken from the working directory), or a
    :class:`~synrank.training.config.TrainConfig`. ``overrides`` replace top-level keys
    (``max_steps=10``, ``learning_rate=1e-5``). ``output`` defaults to the config's ``output``; the folder
    loads with ``SentenceTransformer(path)`` and holds a model card (``README.md``). ``resume`` continues
    from the newest checkpoint there.
    """
    from synrank.training.trainer import train as _train  # start-up time: the trainer loads torch (1-2 s)

    if isinstance(config, TrainConfig):
        cfg = config_from_dict({**config.to_dict(), **overrides}) if overrides else config
    elif isinstance(config, Mapping):
        cfg = config_from_dict({**config, **overrides}, source="synrank.train(config=...)")
    else:
        cfg = load_train_config(config, overrides=overrides or None)
    return _train(cfg, output=output, resume=resume)
