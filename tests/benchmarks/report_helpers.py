"""Helpers of the report tests: a synthetic results folder (with seed replicates and rankings) and a
small DOM built with the standard library's HTML parser (tables, ids, text)."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import yaml

from benchmarks.records import CELL_MARKER, CellMarker
from synrank.records import METRICS_FILE, DatasetRef, EvaluationRecord, EvaluationSummary

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)
    parent: Node | None = None

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self):
        yield self
        for c in self.children:
            if isinstance(c, Node):
                yield from c.iter()

    def find_all(self, tag: str, **attrs: str) -> list[Node]:
        return [n for n in self.iter() if n.tag == tag and all(n.attrs.get(k) == v for k, v in attrs.items())]

    def by_id(self, ident: str) -> Node | None:
        return next((n for n in self.iter() if n.attrs.get("id") == ident), None)

    def rows(self, section: str = "tbody") -> list[Node]:
        return [tr for part in self.find_all(section) for tr in part.find_all("tr")]


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.cur = self.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: v or "" for k, v in attrs}, parent=self.cur)
        self.cur.children.append(node)
        if tag not in VOID:
            self.cur = node

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, {k: v or "" for k, v in attrs}, parent=self.cur))

    def handle_endtag(self, tag):
        node = self.cur
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.cur = node.parent

    def handle_data(self, data):
        self.cur.children.append(data)


def parse_html(text: str) -> Node:
    b = _Builder()
    b.feed(text)
    b.close()
    return b.root


def cell_texts(tr: Node) -> list[str]:
    return [" ".join(td.text().split()) for td in tr.children if isinstance(td, Node) and td.tag in ("td", "th")]


# ---------------------------------------------------------------------------------------------------
# A synthetic suite and results folder
# ---------------------------------------------------------------------------------------------------

@dataclass
class Fixture:
    suite_file: Path
    results: Path
    dataset: Path
    qrels: dict[str, dict[str, int]]
    queries: dict[str, str]
    runs: dict[tuple[str, str], dict[str, list[str]]]  # (cell folder, dataset) -> qid -> ranked doc ids
    per_query: dict[tuple[str, str], dict[str, np.ndarray]]  # (cell folder, dataset) -> measure -> scores
    qids: list[str]


MEASURES = ("nDCG@10", "MRR@10")


def write_marker(folder: Path, *, model: str, dataset: str, aggregate: dict[str, float], n_queries: int,
                 config_hash: str, variant: str, seconds: float | None = None, kind: str = "bm25",
                 config: dict | None = None) -> None:
    """A completion marker for a hand-made cell (what the leaderboard reads; the fields it does not
    read are placeholders)."""
    CellMarker(suite="test", model=model, variant=variant, kind=kind, dataset=dataset, split="test", mode="full",
               config=config or {}, config_hash=config_hash, dataset_sha256="0" * 64, dataset_checksums={},
               n_queries=n_queries, aggregate=aggregate, timings={} if seconds is None else {"total": seconds},
               peak_rss_mb=0.0, batch_size=1, finished_utc="2026-01-01T00:00:00Z").to_disk(folder / CELL_MARKER)


def write_scores_cell(results: Path, folder: str, dataset: str, scores: np.ndarray) -> None:
    """A hand-made finished cell ``cells/<folder>/<dataset>/`` holding per-query nDCG@10 ``scores``
    (query ids q000, q001, ...) and its marker; the variant is the folder's row name."""
    path = results / "cells" / folder / dataset
    path.mkdir(parents=True)
    ids = [f"q{i:03d}" for i in range(scores.size)]
    lines = ["query_id\tnDCG@10"] + [f"{q}\t{s!r}" for q, s in zip(ids, scores.tolist(), strict=True)]
    (path / "per_query.tsv").write_text("\n".join(lines) + "\n")
    write_marker(path, model=folder, dataset=dataset, aggregate={"nDCG@10": float(scores.mean())},
                 n_queries=int(scores.size), config_hash=f"h-{folder}-{dataset}", variant=folder.split("@")[0])


#: A config key left out of a hand-made metrics.json (a record written before the key existed).
ABSENT = object()


def write_metrics(folder: Path, *, aggregate: dict[str, float], n_queries: int, kind: str = "encoder",
                  encoding: object = ABSENT, max_length: object = ABSENT, threshold: int | None = 1,
                  dataset: str = "toyds", forums: dict | None = None) -> EvaluationRecord:
    """A hand-made evaluation record (``metrics.json``): ``encoding`` / ``max_length`` go into its config
    unless ABSENT; ``threshold`` None leaves the evaluation summary out."""
    config: dict = {"model": "m"}
    if encoding is not ABSENT:
        config["encoding"] = encoding
    if max_length is not ABSENT:
        config["max_length"] = max_length
    summary = None if threshold is None else EvaluationSummary(
        n_queries=n_queries, measures=list(aggregate), relevance_threshold=threshold, ignore_identical_ids=False,
        n_queries_not_retrieved=0, n_queries_without_relevant=0, n_unjudged_run_queries=0, n_identical_ids_dropped=0)
    record = EvaluationRecord(
        kind=kind, aggregate=aggregate, n_queries=n_queries, mode="full", config=config, config_hash="c" * 16,
        evaluation=summary, forums=forums, dataset=DatasetRef(name=dataset, split="test", sha256="0" * 64,
                                                               forums=sorted(forums) if forums else None),
        versions={}, hardware={}, created_utc="2026-01-01T00:00:00Z")
    folder.mkdir(parents=True, exist_ok=True)
    record.to_disk(folder / METRICS_FILE)
    return record


def make_fixture(tmp: Path, n_queries: int = 14, seed: int = 0) -> Fixture:
    """Rows base (reference), better (a real gain on toyds), sx (three seed replicates), plus a
    dataset that does not exist on disk (its texts are left out). Every cell has a run file."""
    rng = np.random.default_rng(seed)
    ds = tmp / "data" / "toyds"
    (ds / "qrels").mkdir(parents=True)
    docs = [f"d{i:02d}" for i in range(40)]
    qids = [f"q{i:02d}" for i in range(n_queries)]
    # a query id that is also a document id, to check identical ids are kept (not arguana/quora)
    (ds / "corpus.jsonl").write_text("".join(json.dumps({"_id": d, "title": f"Title {d}", "text": f"text of {d} " * 30})
                                             + "\n" for d in docs))
    queries = {q: f"question number {q} about topic {i}" for i, q in enumerate(qids)}
    queries[qids[0]] += ' </script><!-- "quoted" & <b>markup</b>'  # must survive the page as text
    (ds / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items()))
    qrels: dict[str, dict[str, int]] = {}
    for q in qids:
        judged = rng.choice(docs, size=6, replace=False)
        qrels[q] = {str(d): int(g) for d, g in zip(judged, [3, 2, 1, 1, 0, 0], strict=True)}
    (ds / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\t{d}\t{g}\n" for q, dg in qrels.items() for d, g in dg.items()))
    suite = {
        "name": "toy", "description": "A synthetic suite for the report tests.", "baseline": "base",
        "measures": list(MEASURES),
        "variants": [{"name": "base", "bm25": {}, "variant": "reference"},
                     {"name": "better", "bm25": {}, "variant": "gain"},
                     {"name": "sx", "bm25": {}, "variant": "seeded"}],
        "datasets": [{"name": str(ds), "mode": "full"}, {"name": "nonexistent-toy", "mode": "full"}],
        "comparisons": [{"model": "better", "baseline": "sx"}],
    }
    suite_file = tmp / "toy.yaml"
    suite_file.write_text(yaml.safe_dump(suite))
    results = tmp / "results"
    runs: dict[tuple[str, str], dict[str, list[str]]] = {}
    per_query: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    base_scores = rng.uniform(0, 0.8, n_queries)
    for dname in ("toyds", "nonexistent-toy"):
        for folder, shift in (("base", 0.0), ("better", 0.15), ("sx@seed1", 0.02), ("sx@seed2", 0.05),
                              ("sx@seed3", -0.01)):
            scores = {m: np.clip(base_scores + shift + rng.normal(0, 0.05, n_queries), 0, 1) for m in MEASURES}
            cell = results / "cells" / folder / dname
            cell.mkdir(parents=True)
            lines = ["query_id\t" + "\t".join(MEASURES)]
            lines += [q + "\t" + "\t".join(repr(float(scores[m][i])) for m in MEASURES) for i, q in enumerate(qids)]
            (cell / "per_query.tsv").write_text("\n".join(lines) + "\n")
            ranked = {q: [str(d) for d in rng.permutation(docs)[:20]] for q in qids}
            text = "".join(f"{q} Q0 {d} {r + 1} {20 - r:.1f} {folder}\n" for q, ds_ in ranked.items()
                           for r, d in enumerate(ds_))
            (cell / "run.trec.gz").write_bytes(gzip.compress(text.encode()))
            row = folder.split("@")[0]
            write_marker(cell, model=folder, dataset=dname, aggregate={m: float(scores[m].mean()) for m in MEASURES},
                         n_queries=n_queries, config_hash=f"h-{folder}-{dname}", seconds=1.5,
                         variant={"base": "reference", "better": "gain", "sx": "seeded"}[row])
            runs[(folder, dname)] = ranked
            per_query[(folder, dname)] = scores
    return Fixture(suite_file, results, ds, qrels, queries, runs, per_query, qids)
