"""End to end: a tiny suite (BM25 + a tiny StaticEmbedding on a slice of scifact built in tmp) through
the runner, the cache (skip on rerun, --overwrite, crash recovery, lock), the leaderboard, the
regression check and the plug-in path; numbers checked against pytrec_eval and scipy directly."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from benchmarks import check as check_mod
from benchmarks import run as run_mod
from benchmarks.records import CELL_MARKER
from benchmarks.suites import load_suite
from synrank.errors import ConfigError, LockedError
from synrank.io import folder_lock

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_dataset(shared_datasets, tmp_path_factory) -> Path:
    """20 scifact test queries, their relevant documents and 300 other documents (BEIR layout)."""
    src = shared_datasets / "scifact"
    out = tmp_path_factory.mktemp("data") / "scifact-tiny"
    (out / "qrels").mkdir(parents=True)
    lines = (src / "qrels" / "test.tsv").read_text().splitlines()
    rows = [ln.split("\t") for ln in lines[1:]]
    qids = sorted({r[0] for r in rows})[:20]
    keep_rows = [r for r in rows if r[0] in qids]
    rel_docs = {r[1] for r in keep_rows}
    corpus = [json.loads(ln) for ln in (src / "corpus.jsonl").open()]
    others = [d for d in corpus if d["_id"] not in rel_docs]
    random.Random(0).shuffle(others)
    docs = [d for d in corpus if d["_id"] in rel_docs] + others[:300]
    (out / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    queries = [json.loads(ln) for ln in (src / "queries.jsonl").open()]
    (out / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries if q["_id"] in qids))
    (out / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n"
                                            + "".join("\t".join(r) + "\n" for r in keep_rows))
    return out


@pytest.fixture(scope="module")
def tiny_static_model(minilm_path, tmp_path_factory) -> Path:
    """A 32-dim StaticEmbedding over MiniLM's tokenizer with seeded random token vectors."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import StaticEmbedding
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(minilm_path / "tokenizer.json"))
    gen = torch.Generator().manual_seed(0)
    weights = torch.randn(tok.get_vocab_size(), 32, generator=gen)
    model = SentenceTransformer(modules=[StaticEmbedding(tok, embedding_weights=weights)], device="cpu")
    out = tmp_path_factory.mktemp("models") / "static-tiny"
    model.save(str(out))
    return out


def _write_suite(tmp: Path, dataset: Path, model: Path) -> Path:
    suite = {
        "name": "tiny",
        "description": "test suite",
        "baseline": "bm25",
        "batch_size": 32,
        "measures": ["nDCG@10", "Recall@100"],
        "variants": [
            {"name": "bm25", "bm25": {"k1": 0.9, "b": 0.4}},
            {"name": "static", "model": str(model), "variant": "base", "base": "static"},
        ],
        "datasets": [{"name": str(dataset), "mode": "full", "top_k": 100}],
        "comparisons": [{"model": "static", "baseline": "bm25"}],
    }
    path = tmp / "tiny.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def _statuses(summary) -> dict[str, str]:
    return {f"{o.model}/{o.dataset}": o.status for o in summary["outcomes"]}


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_tiny_suite_end_to_end(tmp_path, tiny_dataset, tiny_static_model, monkeypatch):
    import pytrec_eval
    from scipy import stats

    from synrank.data.trec import read_run

    suite_file = _write_suite(tmp_path, tiny_dataset, tiny_static_model)
    suite = load_suite(suite_file)
    results = tmp_path / "results"

    first = run_mod.run_suite(suite, results)
    assert _statuses(first) == {"bm25/scifact-tiny": "computed", "static/scifact-tiny": "computed"}
    assert not first["failures"]
    for name in ("leaderboard.csv", "leaderboard.md", "manifest.json", "significance.csv",
                 "plots/scifact-tiny.png", "plots/overview.png"):
        assert (results / name).exists(), name
    cell = results / "cells" / "bm25" / "scifact-tiny"
    for name in ("run.trec.gz", "per_query.tsv", "metrics.json", CELL_MARKER):
        assert (cell / name).exists(), name

    # The BM25 number, recomputed independently with pytrec_eval from the written run.
    qrels: dict[str, dict[str, int]] = {}
    for ln in (tiny_dataset / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        q, d, g = ln.split("\t")
        qrels.setdefault(q, {})[d] = int(g)
    run = read_run(cell / "run.trec.gz")
    ev = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"})
    # Ranks as scores so pytrec_eval's tie-break cannot differ from the file order.
    ranked = {q: {d: float(len(ds) - i) for i, d in enumerate(ds)} for q, ds in run.items()}
    per_q = ev.evaluate(ranked)
    ref = np.mean([per_q.get(q, {}).get("ndcg_cut_10", 0.0) for q in qrels])
    rows = _read_csv(results / "leaderboard.csv")
    got = {(r["model"], r["measure"]): r for r in rows}
    assert float(got[("bm25", "nDCG@10")]["value"]) == pytest.approx(ref, abs=1e-9)
    assert int(got[("bm25", "nDCG@10")]["n_queries"]) == 20

    # costs.csv: each model's evaluation time is its cells' own recorded time; no training here.
    costs = {r["model"]: r for r in _read_csv(results / "costs.csv")}
    assert set(costs) == {"bm25", "static"}
    for model, row in costs.items():
        marker = json.loads((results / "cells" / model / "scifact-tiny" / CELL_MARKER).read_text())
        assert float(row["eval_seconds"]) == pytest.approx(marker["timings"]["total"], abs=0.06)
        assert (row["train_steps"], row["train_seconds"], row["eval_cells"]) == ("", "", "1")
    assert "## Cost" in (results / "leaderboard.md").read_text()
    assert 0 < ref < 1
    assert set(rows[0]) >= {"model", "variant", "dataset", "split", "measure", "value", "n_queries",
                            "config_hash", "p_value", "p_holm"}

    # Significance of static vs bm25, recomputed with scipy from the per-query files.
    def per_query(model: str) -> dict[str, float]:
        with open(results / "cells" / model / "scifact-tiny" / "per_query.tsv") as fh:
            return {r["query_id"]: float(r["nDCG@10"]) for r in csv.DictReader(fh, delimiter="\t")}

    a, b = per_query("static"), per_query("bm25")
    ids = sorted(a)
    x, y = np.array([a[q] for q in ids]), np.array([b[q] for q in ids])
    row = got[("static", "nDCG@10")]
    assert row["baseline"] == "bm25"
    assert float(row["p_ttest"]) == pytest.approx(stats.ttest_rel(x, y).pvalue, rel=1e-9)
    assert float(row["mean_diff"]) == pytest.approx((x - y).mean(), abs=1e-12)
    assert float(row["p_value"]) == float(row["p_randomization"])
    assert 0 < float(row["p_value"]) <= 1
    assert got[("bm25", "nDCG@10")]["p_value"] == ""  # the baseline is not tested against itself
    md = (results / "leaderboard.md").read_text()
    assert "| bm25 |" in md and "| static |" in md and "**" in md

    # Rerun: everything cached, artifacts untouched.
    mtime = (cell / "run.trec.gz").stat().st_mtime_ns
    second = run_mod.run_suite(suite, results)
    assert set(_statuses(second).values()) == {"cached"}
    assert (cell / "run.trec.gz").stat().st_mtime_ns == mtime
    manifest = json.loads((results / "manifest.json").read_text())
    assert len(manifest["invocations"]) == 2 and manifest["invocations"][1]["cached"] == 2
    assert manifest["dataset_sha256"]["scifact-tiny"]
    assert all(c["seconds"] is not None for c in manifest["cells"])

    # --overwrite recomputes, only for the models asked for.
    third = run_mod.run_suite(suite, results, overwrite=True, models=["bm25"])
    assert _statuses(third) == {"bm25/scifact-tiny": "computed"}

    # A crash inside a cell loses only that cell: no marker, rerun recomputes it.
    import benchmarks.cells as cells_mod

    def boom(*args, **kwargs):
        (results / "cells" / "static" / "scifact-tiny" / "per_query.tsv").write_text("torn")
        raise cells_mod.SynrankError("simulated crash")

    monkeypatch.setattr(cells_mod, "_model_cell", boom)
    crashed = run_mod.run_suite(suite, results, overwrite=True, models=["static"])
    assert _statuses(crashed) == {"static/scifact-tiny": "failed"}
    assert not (results / "cells" / "static" / "scifact-tiny" / CELL_MARKER).exists()
    monkeypatch.undo()
    recovered = run_mod.run_suite(suite, results)
    assert _statuses(recovered) == {"bm25/scifact-tiny": "cached", "static/scifact-tiny": "computed"}

    # A second writer is refused while the results folder is locked.
    with folder_lock(results), pytest.raises(LockedError):
        run_mod.run_suite(suite, results)

    # Regression check: --update writes expected values, check passes, a changed value fails.
    expected = tmp_path / "expected.yaml"
    monkeypatch.setattr(check_mod, "load_suite", lambda name: suite)
    assert check_mod.main(["--suite", "tiny", "--results", str(results), "--expected", str(expected),
                           "--update", "--measures", "Recall@100"]) == 0
    assert check_mod.main(["--suite", "tiny", "--results", str(results), "--expected", str(expected)]) == 0
    data = yaml.safe_load(expected.read_text())
    assert len(data["cells"]) == 4
    data["cells"][0]["value"] += 0.01
    expected.write_text(yaml.safe_dump(data))
    assert check_mod.main(["--suite", "tiny", "--results", str(results), "--expected", str(expected)]) == 1
    data["cells"][0]["value"] -= 0.01
    data["cells"].append({"model": "nope", "dataset": "scifact-tiny", "value": 0.5})
    expected.write_text(yaml.safe_dump(data))
    assert check_mod.main(["--suite", "tiny", "--results", str(results), "--expected", str(expected)]) == 1

    # A second --update keeps what a person wrote: notes, default and per-cell tolerances, measures.
    data["cells"] = [dict(c, value=c["value"] + 1, tolerance=0.005) if c["measure"] == "Recall@100" else c
                     for c in data["cells"] if c["model"] != "nope"]
    data.update(notes="hand-written reason", tolerance=0.002)
    expected.write_text(yaml.safe_dump(data))
    assert check_mod.main(["--suite", "tiny", "--results", str(results), "--expected", str(expected),
                           "--update"]) == 0
    again = yaml.safe_load(expected.read_text())
    assert (again["notes"], again["tolerance"]) == ("hand-written reason", 0.002)
    assert sorted((c["measure"], c.get("tolerance")) for c in again["cells"]) == [
        ("Recall@100", 0.005), ("Recall@100", 0.005), ("nDCG@10", None), ("nDCG@10", None)]
    assert check_mod.main(["--suite", "tiny", "--results", str(results), "--expected", str(expected)]) == 0

    # Plug-in through the command line: one more row, the others stay cached.
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--suite", str(suite_file),
                           "--output", str(results), "--model", str(tiny_static_model), "--name", "plugged"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "plugged × scifact-tiny: computed" in proc.stdout
    rows = _read_csv(results / "leaderboard.csv")
    plugged = {r["measure"]: r for r in rows if r["model"] == "plugged"}
    static = {r["measure"]: r for r in rows if r["model"] == "static"}
    assert plugged["nDCG@10"]["value"] == static["nDCG@10"]["value"]  # same weights, same scores
    assert json.loads((results / "plugins.json").read_text())["models"]["plugged"]["baseline"] == "bm25"


def test_plugin_name_clash_and_unknown_dataset(tmp_path, tiny_dataset, tiny_static_model):
    suite = load_suite(_write_suite(tmp_path, tiny_dataset, tiny_static_model))
    with pytest.raises(ConfigError, match="already a variant"):
        run_mod.run_suite(suite, tmp_path / "r", plugin=("static", str(tiny_static_model)))
    with pytest.raises(ConfigError, match="unknown dataset"):
        run_mod.run_suite(suite, tmp_path / "r", datasets=["nope"])


ENCODER_MODULE = '''
import zlib

import numpy as np


class HashingEncoder:
    """Bag of hashed lower-case words: a deterministic encoder with no model files."""

    similarity = "dot"

    def _embed(self, texts):
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, zlib.crc32(w.encode()) % 64] += 1.0
        return out

    def encode_queries(self, queries, batch_size=64, **kwargs):
        return self._embed(queries)

    def encode_corpus(self, corpus, batch_size=64, **kwargs):
        return self._embed([(d.get("title", "") + " " + d.get("text", "")) for d in corpus])
'''


def test_plugin_importable_class(tmp_path, tiny_dataset, tiny_static_model, monkeypatch):
    (tmp_path / "my_encoders.py").write_text(ENCODER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    suite = load_suite(_write_suite(tmp_path, tiny_dataset, tiny_static_model))
    results = tmp_path / "results"
    out = run_mod.run_suite(suite, results, plugin=("hashing", "my_encoders:HashingEncoder"))
    assert _statuses(out) == {"hashing/scifact-tiny": "computed"}
    marker = json.loads((results / "cells" / "hashing" / "scifact-tiny" / CELL_MARKER).read_text())
    assert marker["config"]["model"]["kind"] == "class" and marker["config"]["model"]["module_sha256"]
    assert 0 < marker["aggregate"]["nDCG@10"] <= 1
    rows = _read_csv(results / "leaderboard.csv")
    # The baseline (bm25) was not run in this results folder: the row is there, untested.
    assert [r["p_value"] for r in rows if r["model"] == "hashing"] == ["", ""]


@pytest.mark.slow  # three training subprocesses: ~1 min idle
def test_seed_replicates_and_a_base_from_another_variant(tmp_path, tiny_dataset, tiny_static_model, tiny_groups):
    """``seeds:`` trains and evaluates ``<row>@seed<N>`` replicates that the leaderboard averages;
    ``model.base: "@first"`` starts from variant ``first``'s trained model and is keyed by its training key."""
    from benchmarks.keys import training_spec
    from tests.training.conftest import tiny_config

    first = tiny_config(tiny_static_model, tiny_groups, max_steps=2, save_every=2)
    second = {**tiny_config(tiny_static_model, tiny_groups, max_steps=2, save_every=2),
              "model": {"base": "@first", "kind": "sentence-transformers", "pooling": "keep", "similarity": "dot"}}
    suite_file = tmp_path / "pair.yaml"
    suite_file.write_text(json.dumps({
        "name": "pair", "baseline": "first", "measures": ["nDCG@10"],
        "variants": [{"name": "first", "train": first},
                     {"name": "second", "train": second, "seeds": [11], "baseline": "first"}],
        "datasets": [{"name": str(tiny_dataset), "split": "test", "mode": "full"}]}))
    suite = load_suite(suite_file)
    results = tmp_path / "results"
    summary = run_mod.run_suite(suite, results)
    assert _statuses(summary) == {"first/scifact-tiny": "computed", "second/scifact-tiny": "computed",
                                  "second@seed11/scifact-tiny": "computed"}
    child = json.loads((results / "train" / "second" / "train_config.json").read_text())
    assert child["model"]["base"] == str(results / "train" / "first" / "model")
    assert json.loads((results / "train" / "second@seed11" / "train_config.json").read_text())["seed"] == 11
    rows = {r["model"]: r for r in _read_csv(results / "leaderboard.csv") if r["measure"] == "nDCG@10"}
    assert set(rows) == {"first", "second"}  # replicates are not rows of their own
    assert rows["second"]["n_seeds"] == "2" and rows["first"]["n_seeds"] == "1"
    a, b = (json.loads((results / "cells" / n / "scifact-tiny" / CELL_MARKER).read_text())["aggregate"]["nDCG@10"]
            for n in ("second", "second@seed11"))
    assert float(rows["second"]["value"]) == pytest.approx((a + b) / 2, abs=1e-9)
    # the dependent's key follows its base's: a change to `first` changes `second`'s key
    before = training_spec(suite, suite.variant("second")).key
    suite.variant("first").train["max_steps"] = 3
    assert training_spec(suite, suite.variant("second")).key != before
