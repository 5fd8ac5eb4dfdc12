"""Fixtures of the reliability catalog: a small valid BEIR folder to break, and a TREC run for it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

HEADER = "query-id\tcorpus-id\tscore"
DOCS = [{"_id": "d1", "title": "Alpha", "text": "alpha text about cats"},
        {"_id": "d2", "title": "", "text": "beta text about dogs"},
        {"_id": "d3", "title": "Gamma", "text": "gamma text about birds"}]
QUERIES = [{"_id": "q1", "text": "what is alpha"}, {"_id": "q2", "text": "what is beta"},
           {"_id": "q3", "text": "what is gamma"}]
QRELS = [("q1", "d1", 2), ("q1", "d3", 0), ("q2", "d2", 1), ("q3", "d3", 0)]
RUN = "q1 Q0 d1 1 2.0 t\nq1 Q0 d2 2 1.0 t\nq2 Q0 d2 1 3.0 t\nq3 Q0 d1 1 1.0 t\n"


def jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def qrels_text(rows=QRELS) -> str:
    return HEADER + "\n" + "".join(f"{q}\t{d}\t{g}\n" for q, d, g in rows)


@pytest.fixture
def toy(tmp_path) -> Path:
    """A valid BEIR-layout folder ``toy`` (q3 is judged but has no relevant document)."""
    root = tmp_path / "toy"
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(jsonl(DOCS), encoding="utf-8")
    (root / "queries.jsonl").write_text(jsonl(QUERIES), encoding="utf-8")
    (root / "qrels" / "test.tsv").write_text(qrels_text(), encoding="utf-8")
    return root


@pytest.fixture
def run_file(tmp_path) -> Path:
    path = tmp_path / "run.trec"
    path.write_text(RUN, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """The training tests' word-level StaticEmbedding sentence-transformers folder (dim 16)."""
    from tests.training.conftest import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("rel-model") / "model")


@pytest.fixture(scope="session")
def tiny_groups(tmp_path_factory) -> Path:
    from tests.training.conftest import make_groups, write_groups

    return write_groups(tmp_path_factory.mktemp("rel-groups") / "groups.jsonl", make_groups(24))


@pytest.fixture
def train_config(tmp_path, tiny_model, tiny_groups):
    """``train_config(name, **overrides) -> Path`` of a JSON training config for the tiny model."""
    from tests.training.conftest import tiny_config

    def make(name: str = "cfg", **overrides) -> Path:
        cfg = tiny_config(overrides.pop("base", tiny_model), overrides.pop("groups", tiny_groups), **overrides)
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(cfg), encoding="utf-8")
        return path

    return make
