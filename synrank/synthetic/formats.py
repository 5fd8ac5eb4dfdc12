"""Other views of synthetic groups: a Hugging Face ``datasets.Dataset``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synrank.data.groups import group_files
from synrank.errors import SynrankError


def load_hf_dataset(path: str | Path) -> Any:
    """The groups in ``path`` (file or folder, .jsonl or .jsonl.gz) as a ``datasets.Dataset`` (one row per group).

    Needs the ``datasets`` package (extra ``hf``). Rejects files are not included.
    """
    try:
        import datasets
    except ImportError as exc:
        raise SynrankError("loading groups as a Hugging Face dataset needs `datasets` "
                           "(pip install 'synrank[hf]')") from exc
    files = [str(f) for f in group_files(path)]
    return datasets.load_dataset("json", data_files=files, split="train")
