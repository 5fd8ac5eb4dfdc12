"""Fixtures for the synthetic-data tests: a small real query pool and an evaluation guard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def msmarco_queries(shared_datasets: Path) -> dict[str, str]:
    """The first 3,000 real MS MARCO dev queries (enough for BM25 siblings, fast to index)."""
    out: dict[str, str] = {}
    with open(shared_datasets / "msmarco-dev-queries" / "queries.jsonl", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            out[rec["_id"]] = rec["text"]
            if len(out) == 3000:
                break
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
