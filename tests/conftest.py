"""Shared fixtures: real small data from ../shared and the packaged MiniLM model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
SHARED_DATASETS = REPO.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    if not SHARED_DATASETS.is_dir():
        pytest.fail(f"{SHARED_DATASETS} not found: tests need ../shared/datasets beside the repository")
    return SHARED_DATASETS


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep every test's caches out of the user's ~/.cache."""
    monkeypatch.setenv("SYNRANK_CACHE", str(tmp_path_factory.getbasetemp() / "synrank-cache"))


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    from synrank.paths import minilm_path as _p

    return _p()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A word-level StaticEmbedding sentence-transformers folder (dim 16) over the tiny groups' words."""
    from tests.training.conftest import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model") / "model")


@pytest.fixture(scope="session")
def tiny_groups(tmp_path_factory) -> Path:
    """48 synthetic graded groups (``tests.training.conftest.make_groups``) as a JSONL file."""
    from tests.training.conftest import make_groups, write_groups

    return write_groups(tmp_path_factory.mktemp("groups") / "groups.jsonl", make_groups(48))
