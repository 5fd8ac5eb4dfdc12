"""Shared fixtures: real small data and the packaged MiniLM model.

Real data comes from the reference folder ``../shared/datasets`` beside the repository (what CI has;
``$SYNRANK_TEST_DATA`` names another one). On a fresh clone without it, ``shared_datasets`` is a
temporary folder holding plain copies of the datasets shipped in the package
(``synrank/data/shipped``: cranfield, scifact, trec-dl-2019); a test that needs a dataset that is not
shipped asks for it with :func:`need_datasets`, which skips it there (and fails it when the reference
folder exists but lacks the dataset).
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# No test may touch the internet: the registry must never download a dataset it cannot find
# (the download tests unset this and serve files from 127.0.0.1).
os.environ["SYNRANK_OFFLINE"] = "1"

REPO = Path(__file__).resolve().parent.parent
SHARED_DATASETS = Path(os.environ.get("SYNRANK_TEST_DATA") or REPO.parent / "shared" / "datasets")
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def have_reference_data() -> bool:
    """True where the full reference datasets are available (CI), False on a bare clone."""
    return SHARED_DATASETS.is_dir()


def need_datasets(root: Path, *names: str) -> None:
    """Skip the calling test unless every dataset in ``names`` is in ``root`` (fail instead where the
    reference folder exists: there a missing dataset is a broken setup, not a bare clone)."""
    missing = [n for n in names if not (root / n).is_dir()]
    if not missing:
        return
    if have_reference_data():
        pytest.fail(f"{SHARED_DATASETS}: missing dataset folder(s) {missing}")
    pytest.skip(f"needs dataset(s) {', '.join(missing)}: not shipped with the repository (in "
                f"../shared/datasets on CI; `synrank download NAME` when online)")


def present_datasets(root: Path, *names: str) -> list[str]:
    """The datasets of ``names`` found in ``root``: all of them where the reference folder exists (a
    missing one fails the test), those shipped with the package on a bare clone."""
    if have_reference_data():
        need_datasets(root, *names)
        return list(names)
    return [n for n in names if (root / n).is_dir()]


def committed_files(pattern: str) -> list[Path]:
    """The files git tracks under ``pattern`` (e.g. ``results/*/metrics.json``); skips the calling test
    outside a git checkout (a source archive)."""
    try:
        out = subprocess.run(["git", "-C", str(REPO), "ls-files", pattern], check=True, capture_output=True,
                             text=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        out = []
    if not out:
        pytest.skip("no git checkout with committed results")
    return [REPO / p for p in out]


def _unpack_shipped(dest: Path) -> Path:
    """Plain copies of the shipped (gzip) datasets, for tests that read the files directly."""
    from synrank.paths import SHIPPED_DATASETS

    for src in sorted(p for p in SHIPPED_DATASETS.iterdir() if p.is_dir()):
        for f in sorted(src.rglob("*")):
            if not f.is_file():
                continue
            target = dest / src.name / f.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            if f.suffix == ".gz":
                with gzip.open(f, "rb") as fin, open(target.with_suffix(""), "wb") as fout:
                    shutil.copyfileobj(fin, fout)
            else:
                shutil.copyfile(f, target)
    return dest


@pytest.fixture(scope="session")
def shared_datasets(tmp_path_factory) -> Path:
    if have_reference_data():
        return SHARED_DATASETS
    return _unpack_shipped(tmp_path_factory.mktemp("shipped-datasets"))


@pytest.fixture
def local_server():
    """An HTTP server on 127.0.0.1 with Range support and fault injection (tests/localserver.py)."""
    from tests.localserver import LocalServer

    server = LocalServer().start()
    try:
        yield server
    finally:
        server.stop()


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
