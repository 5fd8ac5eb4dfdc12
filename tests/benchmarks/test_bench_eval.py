"""benchmarks/bench_eval.py: job planning, the report (medians, ratios, gate, refusals, idle note) from
fake jobs, the real workers against beir on a tiny Cranfield subset, and the profile."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks import bench_eval
from benchmarks.bench_eval import GATE_TOLERANCE, Job, gate_verdicts, padding_ratio, plan_repeat


def _tiny_dataset(shared: Path, out: Path, n_queries: int = 6, n_docs: int = 20, chars: int = 300) -> Path:
    """A BEIR folder: the first Cranfield queries, their judged documents and the first ``n_docs`` others,
    texts cut to ``chars`` characters (encoding is the cost of every job)."""
    src = shared / "cranfield"
    qrels = [line.split("\t") for line in (src / "qrels" / "test.tsv").read_text().splitlines()[1:]]
    queries = [json.loads(line) for line in (src / "queries.jsonl").read_text().splitlines()][:n_queries]
    qids = {q["_id"] for q in queries}
    kept = [r for r in qrels if r[0] in qids]
    wanted = {r[1] for r in kept}
    docs = [json.loads(line) for line in (src / "corpus.jsonl").read_text().splitlines()]
    docs = [{**d, "text": d["text"][:chars]} for i, d in enumerate(docs) if d["_id"] in wanted or i < n_docs]
    (out / "qrels").mkdir(parents=True)
    (out / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (out / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (out / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join("\t".join(r) + "\n" for r in kept))
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, shared_datasets) -> Path:
    return _tiny_dataset(shared_datasets, tmp_path_factory.mktemp("bench") / "tiny")


# ----------------------------------------------------------------------------------------- planning
def test_repeats_alternate_order_and_the_cached_job_comes_last():
    first = [j.label for j in plan_repeat("d", ["a", "b"], "b", 0)]
    second = [j.label for j in plan_repeat("d", ["a", "b"], "b", 1)]
    assert first == ["beir", "cold a", "cold b", "cached b"]
    assert second == ["cold b", "cold a", "beir", "cached b"]
    assert [j.label for j in plan_repeat("d", ["a"], None, 0)] == ["beir", "cold a"]


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 12), st.integers(1, 8), st.data(), st.randoms())
def test_padding_ratio_is_smallest_for_length_sorted_batches(batch_size, n_batches, data, rnd):
    lengths = data.draw(st.lists(st.integers(1, 300), min_size=batch_size * n_batches, max_size=batch_size * n_batches))

    def brute(order):  # independent reference: pad each batch explicitly
        padded = real = 0
        for start in range(0, len(order), batch_size):
            batch = [lengths[i] for i in order[start:start + batch_size]]
            padded += sum(max(batch) - n for n in batch) + sum(batch)
            real += sum(batch)
        return padded / real

    shuffled = list(range(len(lengths)))
    rnd.shuffle(shuffled)
    by_length = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    assert padding_ratio(lengths, shuffled, batch_size) == pytest.approx(brute(shuffled))
    # with full batches, longest-first batching pads least (a partial last batch would rather hold the longest)
    assert 1.0 <= padding_ratio(lengths, by_length, batch_size) <= padding_ratio(lengths, shuffled, batch_size) + 1e-12


@given(st.integers(-60, 60), st.integers(-60, 60))
def test_gate_passes_exactly_within_the_tolerance(a, b):
    ref = {"x": 0.5, "y": 0.25}
    deltas = {"x": a / 10_000, "y": b / 10_000}  # steps of 0.0001 around the 0.002 edge
    ndcg = {"torch-fp32": ref, "openvino-bf16": {k: ref[k] + deltas[k] for k in ref}, "onnx-int8": {"x": None, "y": 0.3}}
    gate = gate_verdicts(ndcg, ["x", "y"])
    assert gate["torch-fp32"]["verdict"] == "reference"
    assert gate["onnx-int8"]["verdict"] == "n/a"
    expected = "PASS" if abs(a) <= GATE_TOLERANCE * 10_000 and abs(b) <= GATE_TOLERANCE * 10_000 else "FAIL"
    assert gate["openvino-bf16"]["verdict"] == expected


# ----------------------------------------------------------------------------------------- the report
class FakeJobs:
    """Deterministic job records: seconds per (job, repeat), one backend refused, load averages given."""

    SECONDS = {"beir": [100.0, 130.0, 90.0], "cold torch-fp32": [80.0, 85.0, 95.0],
               "cold openvino-fp32": [40.0, 50.0, 45.0], "cached openvino-fp32": [2.0, 3.0, 1.0]}
    NDCG = {("torch-fp32", "main"): 0.30, ("openvino-fp32", "main"): 0.3015,
            ("torch-fp32", "other"): 0.60, ("openvino-fp32", "other"): 0.5970}

    def __init__(self, loads: list[float]):
        self.calls: list[Job] = []
        self.loads = loads

    def __call__(self, job: Job, args: Any, cache: Path, workdir: Path) -> dict[str, Any]:
        n = sum(1 for j in self.calls if j == job)
        self.calls.append(job)
        load = [self.loads[(len(self.calls) - 1) % len(self.loads)], 1.0, 1.0]
        base = {"job": job.label, "load_before": load, "load_after": load}
        if job.backend == "onnx-int8":
            return {**base, "refused": "encoding backend onnx-int8 disagrees with torch-fp32 on probe texts"}
        seconds = self.SECONDS.get(job.label, [10.0])[n]
        ndcg = 0.31 if job.kind == "beir" else self.NDCG[(job.backend, job.dataset)]
        return {**base, "seconds": seconds, "cpu_seconds": seconds * 2, "peak_rss_mb": 1000.0 - seconds,
                "subprocess_wall_seconds": seconds + 5, "subprocess_cpu_seconds": seconds * 2 + 5,
                "import_seconds": 5.0, "ndcg@10": ndcg, "mode": "full", "max_length": 256}


def test_report_from_fake_jobs(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_eval, "default_backend_name", lambda: "openvino-fp32")
    fake = FakeJobs(loads=[0.1, 0.2, 0.7])
    code = bench_eval.main(["--dataset", "main", "--backends", "torch-fp32,openvino-fp32,onnx-int8",
                            "--gate-datasets", "main,other", "--repeats", "3", "--settle", "0",
                            "--output", str(tmp_path)], run_job=fake)
    assert code == 0
    report = json.loads((tmp_path / "eval.json").read_text())
    md = (tmp_path / "eval.md").read_text()
    # the refused backend runs once, and no gate job is spent on it; the other jobs 3 times each
    labels = [j.label for j in fake.calls]
    assert labels.count("cold onnx-int8") == 1 and labels.count("cold openvino-fp32") == 3
    assert labels[:5] == ["beir", "cold torch-fp32", "cold openvino-fp32", "cold onnx-int8", "cached openvino-fp32"]
    assert labels[5:9] == ["cold openvino-fp32", "cold torch-fp32", "beir", "cached openvino-fp32"]
    assert sorted(j.label for j in fake.calls if j.kind == "gate") == ["gate openvino-fp32 other",
                                                                       "gate torch-fp32 other"]
    med = report["median"]
    assert med["beir"]["seconds"] == 100.0 and med["cold openvino-fp32"]["seconds"] == 45.0
    ratio = report["summary"]["ratio_vs_beir"]["openvino-fp32"]
    assert ratio["wall"] == pytest.approx(100 / 45, abs=1e-3) and ratio["cpu"] == pytest.approx(200 / 90, abs=1e-3)
    assert ratio["rss"] == pytest.approx(955 / 900, abs=1e-3)
    # gate: +0.0015 on main passes, -0.003 on other fails
    assert report["gate"]["openvino-fp32"]["verdict"] == "FAIL"
    assert report["gate"]["openvino-fp32"]["delta"]["main"] == pytest.approx(0.0015)
    assert report["summary"]["goal_met"] is False  # 2.22x, but the gate failed
    assert report["summary"]["fastest_passing_backend"] == "torch-fp32"
    assert "onnx-int8`: refused: encoding backend onnx-int8 disagrees" in md
    assert "| synrank cold openvino-fp32 | 45.00 | 90.00 | 2.22 | 2.22 | 0.3015 | 0.5970 | FAIL | 955 |" in md
    assert "| beir (sentence-transformers fp32) | 100.00 | 200.00 | — | — | 0.3100 | — |" in md
    assert "**The machine was not idle**" in md and report["summary"]["max_load_at_job_start"] == 0.7


def test_idle_machine_has_no_note_and_a_failed_job_sets_the_exit_code(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_eval, "default_backend_name", lambda: "torch-fp32")
    fake = FakeJobs(loads=[0.1])

    def failing(job, args, cache, workdir):
        if job.kind == "cached":
            fake.calls.append(job)
            return {"job": job.label, "error": "exit 1: boom", "load_before": [0.1, 0, 0], "load_after": [0.1, 0, 0]}
        return fake(job, args, cache, workdir)

    code = bench_eval.main(["--dataset", "main", "--backends", "torch-fp32", "--gate-datasets", "main",
                            "--repeats", "2", "--settle", "0", "--output", str(tmp_path)], run_job=failing)
    md = (tmp_path / "eval.md").read_text()
    assert code == 1
    assert "not idle" not in md and "`cached torch-fp32`: FAILED: exit 1: boom" in md
    assert [j.label for j in fake.calls].count("cached torch-fp32") == 1  # not retried after failing


# ----------------------------------------------------------------------------------------- real workers
def test_workers_score_like_beir_and_record_refusals(tiny, tmp_path, monkeypatch):
    beir = bench_eval._worker(Job("beir", str(tiny)), bench_eval.MODEL, 16, tmp_path)
    ours = bench_eval._worker(Job("cold", str(tiny), "torch-fp32"), bench_eval.MODEL, 16, tmp_path)
    assert beir["max_length"] == ours["max_length"] == 256
    assert ours["backend"] == "torch-fp32" and ours["n_queries"] == beir["n_queries"] == 6
    assert ours["ndcg@10"] == pytest.approx(beir["ndcg@10"], abs=1e-4)  # beir is the independent reference
    for r in (beir, ours):
        assert r["seconds"] > 0 and r["cpu_seconds"] > 0 and r["peak_rss_mb"] > 100
    monkeypatch.setattr("synrank.retrieval.backends.cpu_has_native_bf16", lambda: False)
    refused = bench_eval._worker(Job("cold", str(tiny), "torch-bf16"), bench_eval.MODEL, 16, tmp_path)
    assert set(refused) == {"job", "refused"} and "native bfloat16" in refused["refused"]
    assert "\n" not in refused["refused"]


def test_profile_worker_finds_the_phases(tiny, tmp_path):
    pytest.importorskip("openvino")
    p = bench_eval._profile_worker("openvino-fp32", bench_eval.MODEL, str(tiny), 16, tmp_path)
    labels = {r["label"]: r for r in p["rows"]}
    for label in ("tokenise (preprocess)", "pad batches (synrank)", "transformer forward (openvino/onnx)",
                  "faiss search", "score (pytrec_eval)", "write run.trec.gz", "convert + compile for the backend"):
        assert labels[label]["seconds"] >= 0 and labels[label]["calls"] >= 1, label
    docs = p["padding"]["documents"]
    assert docs["texts"] == len((tiny / "corpus.jsonl").read_text().splitlines())
    assert 1.0 <= docs["padded_over_real_by_tokens"] <= docs["padded_over_real_by_characters"]
    text = bench_eval.render_profile({"profile": p, "config": {"model": bench_eval.MODEL, "argv": ["--profile", "x"]},
                                      "load_before": [0.2, 0, 0], "load_after": [0.3, 0, 0],
                                      "environment": {"created_utc": "now", "git_commit": "c", "hardware": {}}})
    assert "| documents |" in text and "tokenise (preprocess)" in text and "not idle" not in text


@pytest.mark.slow
def test_end_to_end_in_subprocesses(tiny, tmp_path):
    """The real thing on 6 queries: beir, two backends, cached; every job a fresh subprocess."""
    pytest.importorskip("openvino")
    code = bench_eval.main(["--dataset", str(tiny), "--backends", "torch-fp32,openvino-fp32", "--gate-datasets",
                            str(tiny), "--repeats", "1", "--settle", "0", "--batch-size", "16",
                            "--output", str(tmp_path)])
    assert code == 0
    report = json.loads((tmp_path / "eval.json").read_text())
    med = report["median"]
    cached = report["config"]["cached_backend"]  # the default backend when timed, else the first listed
    assert cached == ("openvino-fp32" if report["summary"]["default_backend"] == "openvino-fp32" else "torch-fp32")
    assert set(med) == {"beir", "cold torch-fp32", "cold openvino-fp32", f"cached {cached}"}
    assert med["cold torch-fp32"]["ndcg@10"] == pytest.approx(med["beir"]["ndcg@10"], abs=1e-4)
    assert report["gate"]["openvino-fp32"]["verdict"] == "PASS"
    assert med[f"cached {cached}"]["embedding_cache"]["hits"] > 0
    assert med[f"cold {cached}"]["embedding_cache"]["hits"] == 0
    assert all(r["load_before"] and r["subprocess_cpu_seconds"] > 0 for r in report["runs"])
