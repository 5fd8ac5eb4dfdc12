"""Fixtures for the synthetic-data tests: a small real query pool and an evaluation guard."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.conftest import FIXTURES


@pytest.fixture(scope="session")
def msmarco_queries() -> dict[str, str]:
    """The first 3,000 real MS MARCO dev queries (enough for BM25 siblings, fast to index): the first
    3,000 lines of ``msmarco-dev-queries/queries.jsonl``, shipped as a test fixture (see
    ``tests/fixtures/README.md``)."""
    out: dict[str, str] = {}
    with gzip.open(FIXTURES / "msmarco-dev-queries-3000.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            out[rec["_id"]] = rec["text"]
    assert len(out) == 3000
    return out


@pytest.fixture
def query_file(tmp_path: Path, msmarco_queries: dict[str, str]) -> Path:
    path = tmp_path / "queries.tsv"
    path.write_text("".join(f"{k}\t{v}\n" for k, v in msmarco_queries.items()), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def guard():
    from synrank.data.leakage import evaluation_guard

    return evaluation_guard()
