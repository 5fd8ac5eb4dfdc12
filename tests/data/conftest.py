"""Builders for small BEIR-layout folders (good and deliberately broken) inside tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

HEADER = "query-id\tcorpus-id\tscore"


def jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


DOCS = [{"_id": "d1", "title": "Alpha", "text": "alpha text"},
        {"_id": "d2", "title": "", "text": "beta text"},
        {"_id": "d3", "title": "Gamma", "text": "gamma text"}]
QUERIES = [{"_id": "q1", "text": "what is alpha"}, {"_id": "q2", "text": "what is beta"}]
QRELS = [("q1", "d1", 2), ("q1", "d3", 0), ("q2", "d2", 1)]


def write_dataset(root: Path, *, corpus: str | None = None, queries: str | None = None,
                  qrels: dict[str, str] | None = None, with_corpus: bool = True) -> Path:
    """Write a folder; each file defaults to a valid version of the toy data above."""
    root.mkdir(parents=True, exist_ok=True)
    if with_corpus:
        (root / "corpus.jsonl").write_text(jsonl(DOCS) if corpus is None else corpus, encoding="utf-8")
    (root / "queries.jsonl").write_text(jsonl(QUERIES) if queries is None else queries, encoding="utf-8")
    if qrels is None:
        qrels = {"test": HEADER + "\n" + "".join(f"{q}\t{d}\t{g}\n" for q, d, g in QRELS)}
    (root / "qrels").mkdir(exist_ok=True)
    for split, text in qrels.items():
        (root / "qrels" / f"{split}.tsv").write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def make_dataset(tmp_path):
    counter = iter(range(10_000))

    def make(name: str | None = None, **kwargs) -> Path:
        return write_dataset(tmp_path / (name or f"toy{next(counter)}"), **kwargs)

    return make
