"""Evaluation speed, memory and quality per encoding backend: synrank vs beir's exact search.

    python -m benchmarks.bench_eval [--dataset scifact] [--backends torch-fp32,openvino-bf16,...]
                                    [--repeats 3] [--gate-datasets scifact,trec-dl-2019]
                                    [--settle 180] [--output results/bench]
    python -m benchmarks.bench_eval --profile openvino-bf16 [--dataset scifact]

Timed jobs, each in its own fresh Python subprocess (peak RSS is that job's alone; nothing is shared
through warm imports or caches):

- ``beir``: beir's ``GenericDataLoader`` + ``SentenceBERT`` + ``DenseRetrievalExactSearch`` +
  ``EvaluateRetrieval`` (fp32 sentence-transformers, cosine, top-k 1000) on the model folder synrank uses;
- ``cold <backend>`` for every backend of ``--backends``: ``evaluate_model`` from an empty embedding
  cache (load data and model, encode, search, score, write run/per-query/metrics files);
- ``cached <backend>``: ``evaluate_model`` again on the cache the cold job of the default backend left.

Each repeat runs the timed jobs in alternating order (forward, then reversed), the cached job last;
medians over repeats are reported. Before each timed job the parent waits (up to ``--settle`` seconds)
for the 1-minute load average to fall to 0.5, since the previous job's own load takes about 80 s to
decay; a job that still started above 0.5 marks the run "machine was not idle".

Per job: wall time and CPU time of the evaluation itself (from the first data/model load to the final
scores and files; imports of the tool and of sentence-transformers excluded, an engine's package such as
openvino included), CPU time being ``time.process_time`` (every thread) plus waited-for
children; the subprocess's wall and CPU time including imports; peak RSS (``ru_maxrss``); nDCG@10.
A backend refused by synrank (the CPU would emulate it, or its probe embeddings disagree with fp32) is
recorded with its one-line refusal instead of numbers.

Quality gate: every backend's nDCG@10 on each ``--gate-datasets`` entry (mode ``auto``: SciFact full
retrieval, TREC DL 2019 re-ranking of the shipped BM25 top-100) against ``torch-fp32``'s, PASS within
±0.002. The timed dataset's numbers come from the timed cold jobs; the others from one extra job each.

``--profile BACKEND`` instead runs one cold synrank evaluation under cProfile and writes
``eval_profile.md``: where the time goes besides the transformer (tokenisation, padding, faiss search,
scoring, writing) and the padding waste of batching by characters vs by tokens.

Writes ``<output>/eval.json`` and ``<output>/eval.md`` (or ``eval_profile.{json,md}``) atomically.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
MODEL = "all-MiniLM-L6-v2"
TOP_K = 1000
GATE_TOLERANCE = 0.002
IDLE_LOAD = 0.5
#: the goal of issue 13 for the default backend, on wall and CPU time
SPEEDUP_GOAL = 2.0
EXTRA_PACKAGES = ("openvino", "onnxruntime", "onnx", "optimum")
REFERENCE = "torch-fp32"


@dataclass(frozen=True)
class Job:
    """One subprocess: ``kind`` beir | cold | cached | gate, on ``dataset`` (a backend for synrank's)."""

    kind: str
    dataset: str
    backend: str | None = None

    @property
    def label(self) -> str:
        if self.kind == "beir":
            return "beir"
        if self.kind == "gate":
            return f"gate {self.backend} {self.dataset}"
        return f"{self.kind} {self.backend}"


# ----------------------------------------------------------------------------------------- workers
def _cpu_seconds() -> float:
    """CPU time of this process (all threads) plus its waited-for children."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _synrank_imports() -> None:
    """What a synrank job imports before its clock starts: synrank's evaluation and sentence-transformers,
    the library beir's job has imported before its clock starts (synrank loads it lazily). An engine's
    own package (openvino, onnxruntime) is imported inside the timed span, as part of the backend."""
    import sentence_transformers  # noqa: F401

    import synrank.evaluation.pipeline  # noqa: F401  (inside the worker's import clock)


def _synrank_eval(model: str, dataset: str, backend: str, batch_size: int, out: Path, cache: bool) -> Any:
    from synrank.evaluation.pipeline import evaluate_model  # loaded by _synrank_imports (in the clock)

    return evaluate_model(model, dataset, output_dir=out, batch_size=batch_size, top_k=TOP_K, cache=cache,
                          show_progress=False, backend=backend)


def _worker(job: Job, model: str, batch_size: int, workdir: Path) -> dict[str, Any]:
    """Runs inside the subprocess (``SYNRANK_CACHE`` is set by the parent); returns the job's record."""
    t0 = time.perf_counter()
    # The job's imports are part of what it measures (import_seconds): below t0, never at module top.
    import torch

    from synrank.errors import SynrankError  # in the import clock, as above

    if job.kind == "beir":
        from beir.datasets.data_loader import GenericDataLoader  # in the import clock, as above
        from beir.retrieval.evaluation import EvaluateRetrieval
        from beir.retrieval.models import SentenceBERT
        from beir.retrieval.search.dense import DenseRetrievalExactSearch

        from synrank.data.registry import resolve_dataset  # in the import clock, as above
        from synrank.paths import resolve_model_alias  # in the import clock, as above

        t_import = time.perf_counter() - t0
        folder, model_folder = resolve_dataset(job.dataset), resolve_model_alias(model)
        start, cpu0 = time.perf_counter(), _cpu_seconds()
        corpus, queries, qrels = GenericDataLoader(data_folder=str(folder)).load(split="test")
        encoder = SentenceBERT(model_folder)
        search = DenseRetrievalExactSearch(encoder, batch_size=batch_size, show_progress_bar=False)
        retriever = EvaluateRetrieval(search, score_function="cos_sim", k_values=[1, 3, 5, 10, 100, TOP_K])
        results = retriever.retrieve(corpus, queries)
        ndcg, _map, _recall, _p = retriever.evaluate(qrels, results, retriever.k_values)
        elapsed, cpu = time.perf_counter() - start, _cpu_seconds() - cpu0
        out = {"ndcg@10": ndcg["NDCG@10"], "n_queries": len(queries), "backend": "torch-fp32 (beir)",
               "max_length": encoder.q_model.max_seq_length, "mode": "full", "model_folder": model_folder}
    else:
        _synrank_imports()
        t_import = time.perf_counter() - t0
        assert job.backend is not None
        start, cpu0 = time.perf_counter(), _cpu_seconds()
        try:
            cell = _synrank_eval(model, job.dataset, job.backend, batch_size, workdir / job.label.replace(" ", "_"),
                                 cache=job.kind != "gate")
        except SynrankError as exc:
            return {"job": job.label, "refused": str(exc).splitlines()[0]}
        elapsed, cpu = time.perf_counter() - start, _cpu_seconds() - cpu0
        out = {"ndcg@10": cell.aggregate["nDCG@10"], "n_queries": cell.n_queries, "backend": cell.config["encoding"],
               "max_length": cell.config["max_length"], "mode": cell.config["mode"], "timings": cell.timings,
               "embedding_cache": cell.metrics.get("embedding_cache")}
    out.update({"job": job.label, "seconds": round(elapsed, 3), "cpu_seconds": round(cpu, 3),
                "import_seconds": round(t_import, 3), "peak_rss_mb": round(_peak_rss_mb(), 1),
                "threads": torch.get_num_threads()})
    return out


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _settle(max_wait: float, poll: float = 5.0) -> float:
    """Wait until the 1-minute load average is at most :data:`IDLE_LOAD` (or ``max_wait`` passed)."""
    start = time.perf_counter()
    while os.getloadavg()[0] > IDLE_LOAD and time.perf_counter() - start < max_wait:
        time.sleep(min(poll, max(0.0, max_wait - (time.perf_counter() - start))))
    return round(time.perf_counter() - start, 1)


def _run_job(job: Job, args: argparse.Namespace, cache: Path, workdir: Path) -> dict[str, Any]:
    """Run ``job`` in a fresh subprocess; its record plus load averages and the subprocess's totals."""
    env = dict(os.environ, SYNRANK_CACHE=str(cache), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false")
    cmd = [sys.executable, "-m", "benchmarks.bench_eval", "--worker", job.kind, "--dataset", job.dataset,
           "--backend-of-worker", job.backend or "", "--model", args.model, "--batch-size", str(args.batch_size),
           "--workdir", str(workdir)]
    load_before, usage0 = _loadavg(), resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = proc.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1]) if proc.returncode == 0 and lines else None
    except json.JSONDecodeError:
        result = None
    if not isinstance(result, dict):
        tail = [line for line in proc.stderr.strip().splitlines() if line.strip()][-1:] or ["no output"]
        result = {"job": job.label, "error": f"exit {proc.returncode}: {tail[0][:300]}"}
    result.update({"load_before": load_before, "load_after": _loadavg(),
                   "subprocess_wall_seconds": round(wall, 3),
                   "subprocess_cpu_seconds": round(usage1.ru_utime + usage1.ru_stime
                                                   - usage0.ru_utime - usage0.ru_stime, 3)})
    return result


# ----------------------------------------------------------------------------------------- planning
def native_backends() -> list[str]:
    """Every backend this CPU runs natively and whose packages are installed, in synrank's order."""
    # not at module top: each timed worker imports this module before its import clock starts
    from synrank.errors import SynrankError
    from synrank.retrieval.backends import BACKENDS, resolve_backend  # as above (it loads torch)

    out = []
    for name in BACKENDS:
        try:
            resolve_backend(name)
        except SynrankError:
            continue
        out.append(name)
    return out


def default_backend_name() -> str:
    # not at module top: each timed worker imports this module before its import clock starts
    from synrank.retrieval.backends import resolve_backend

    return resolve_backend("auto").name


def _split(text: str) -> list[str]:
    return [x.strip() for x in text.replace(" ", ",").split(",") if x.strip()]


def plan_repeat(dataset: str, backends: Sequence[str], cached_backend: str | None, rep: int) -> list[Job]:
    """The timed jobs of repeat ``rep`` (0-based): beir and a cold job per backend, in forward order on
    even repeats and reversed on odd ones, then the cached job (it needs its cold job's cache)."""
    jobs = [Job("beir", dataset), *(Job("cold", dataset, b) for b in backends)]
    if rep % 2:
        jobs.reverse()
    if cached_backend is not None:
        jobs.append(Job("cached", dataset, cached_backend))
    return jobs


# ----------------------------------------------------------------------------------------- summary
MEDIAN_KEYS = ("seconds", "cpu_seconds", "subprocess_wall_seconds", "subprocess_cpu_seconds", "peak_rss_mb",
               "import_seconds")


def median_record(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of the timing keys over repeats; the rest from the first run; refusals/errors as they are."""
    if not runs:
        return {}
    bad = [r for r in runs if "refused" in r or "error" in r]
    if bad:
        return dict(bad[0])
    out = dict(runs[0])
    for key in MEDIAN_KEYS:
        if all(key in r for r in runs):
            out[key] = statistics.median(r[key] for r in runs)
    values = [r["ndcg@10"] for r in runs]
    out["ndcg@10_spread"] = max(values) - min(values)
    out["repeats"] = len(runs)
    return out


def gate_verdicts(ndcg: dict[str, dict[str, float | None]], datasets: Sequence[str],
                  tolerance: float = GATE_TOLERANCE) -> dict[str, dict[str, Any]]:
    """Per backend: PASS when every gate dataset's nDCG@10 is within ``tolerance`` of torch-fp32's.

    ``ndcg[backend][dataset]`` is None where the backend was refused or failed.
    """
    reference = ndcg.get(REFERENCE, {})
    out: dict[str, dict[str, Any]] = {}
    for backend, values in ndcg.items():
        deltas = {d: (None if values.get(d) is None or reference.get(d) is None
                      else values[d] - reference[d]) for d in datasets}  # type: ignore[operator]
        if backend == REFERENCE:
            verdict = "reference" if all(reference.get(d) is not None for d in datasets) else "n/a"
        elif any(v is None for v in deltas.values()):
            verdict = "n/a"
        else:
            # a hair of slack: nDCG values are sums of floats, 0.002 itself must pass
            verdict = "PASS" if all(abs(v) <= tolerance + 1e-12 for v in deltas.values()) else "FAIL"
        out[backend] = {"verdict": verdict, "delta": deltas}
    return out


def summarise(med: dict[str, dict[str, Any]], backends: Sequence[str], default: str,
              gate: dict[str, dict[str, Any]], runs: Iterable[dict[str, Any]]) -> dict[str, Any]:
    beir = med.get("beir", {})
    ratios: dict[str, dict[str, float]] = {}
    for b in backends:
        r = med.get(f"cold {b}", {})
        if "seconds" in r and "seconds" in beir:
            ratios[b] = {"wall": round(beir["seconds"] / r["seconds"], 3),
                         "cpu": round(beir["cpu_seconds"] / r["cpu_seconds"], 3),
                         "rss": round(r["peak_rss_mb"] / beir["peak_rss_mb"], 3)}
    loads = [r["load_before"][0] for r in runs if r.get("load_before") and r.get("timed")]
    passing = [b for b in backends if b in ratios and gate.get(b, {}).get("verdict") in ("PASS", "reference")]
    fastest = max(passing, key=lambda b: ratios[b]["wall"], default=None)
    d = ratios.get(default)
    goal_met = bool(d and d["wall"] >= SPEEDUP_GOAL and d["cpu"] >= SPEEDUP_GOAL
                    and gate.get(default, {}).get("verdict") in ("PASS", "reference"))
    return {"default_backend": default, "ratio_vs_beir": ratios, "fastest_passing_backend": fastest,
            "goal": f">= {SPEEDUP_GOAL}x beir by wall and CPU time with the default backend, gate PASS",
            "goal_met": goal_met, "max_load_at_job_start": max(loads, default=None),
            "machine_idle": bool(loads) and max(loads) <= IDLE_LOAD}


# ----------------------------------------------------------------------------------------- report
def _fmt(value: Any, spec: str = ".2f") -> str:
    return "—" if value is None else format(value, spec)


def _display(dataset: str) -> str:
    """A dataset as a column name: a folder by its last part."""
    return Path(dataset).name if os.sep in dataset or "/" in dataset else dataset


def _dataset_columns(config: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys([*config["gate_datasets"], config["dataset"]]))


def render_markdown(report: dict[str, Any]) -> str:
    cfg, s, env = report["config"], report["summary"], report["environment"]
    med, ndcg, gate = report["median"], report["ndcg"], report["gate"]
    columns = _dataset_columns(cfg)
    head = ("| job | wall s | CPU s | ratio vs beir (wall) | ratio vs beir (CPU) | "
            + " | ".join(f"nDCG@10 {_display(d)}" for d in columns) + " | gate | peak RSS MiB |")
    rows = [head, "|---|" + "---:|" * (4 + len(columns)) + "---|---:|"]
    refusals = []
    labels = ["beir", *(f"cold {b}" for b in cfg["backends"]), *([f"cached {cfg['cached_backend']}"]
                                                                  if cfg["cached_backend"] else [])]
    for label in labels:
        r = med.get(label, {})
        backend = label.split(" ", 1)[1] if " " in label else None
        name = {"beir": "beir (sentence-transformers fp32)"}.get(label, f"synrank {label}")
        if "refused" in r or "error" in r:
            why = r.get("refused") or r.get("error")
            refusals.append(f"- `{label}`: {'refused' if 'refused' in r else 'FAILED'}: {why}")
            rows.append(f"| {name} | {'refused' if 'refused' in r else 'failed'} (below) |"
                        + " — |" * (3 + len(columns)) + " — | — |")
            continue
        ratio = s["ratio_vs_beir"].get(backend, {}) if label.startswith("cold") else {}
        if label.startswith("cached") and "seconds" in r and "seconds" in med.get("beir", {}):
            ratio = {"wall": med["beir"]["seconds"] / r["seconds"], "cpu": med["beir"]["cpu_seconds"] / r["cpu_seconds"]}
        gated = ndcg.get(backend, {}) if label.startswith("cold") else {}
        values = [r.get("ndcg@10") if d == cfg["dataset"] else gated.get(d) for d in columns]
        verdict = gate.get(backend, {}).get("verdict", "") if label.startswith("cold") else ""
        rows.append(f"| {name} | {_fmt(r.get('seconds'))} | {_fmt(r.get('cpu_seconds'))} | "
                    f"{_fmt(ratio.get('wall'))} | {_fmt(ratio.get('cpu'))} | "
                    + " | ".join(_fmt(v, '.4f') for v in values)
                    + f" | {verdict} | {_fmt(r.get('peak_rss_mb'), '.0f')} |")
    hw = env["hardware"]
    flags = report["cpu"]
    idle = s["machine_idle"]
    lines = [
        f"# Evaluation benchmark: {cfg['dataset']} with {cfg['model']}, per encoding backend",
        "",
        f"Made by `python -m benchmarks.bench_eval {' '.join(cfg['argv'])}` on {env['created_utc']} "
        f"(commit {env['git_commit']}).",
        f"CPU: {hw.get('cpu_model')}, {hw.get('cpu_count')} logical CPUs, native bf16: "
        f"{'yes' if flags['native_bf16'] else 'no'}, int8 dot product (VNNI/AMX): "
        f"{'yes' if flags['int8_dot'] else 'no'} (flags: {', '.join(flags['flags']) or 'none'}); "
        f"torch threads {hw.get('torch_threads')}.",
        f"Settings: batch size {cfg['batch_size']} for both tools, top-k {TOP_K}, the model's own maximum length "
        f"({cfg.get('max_length')}), cosine; {cfg['repeats']} repeat(s), medians; default backend (`auto`): "
        f"{s['default_backend']}.",
        "",
    ]
    if not idle:
        lines += [f"**The machine was not idle**: the 1-minute load average was above {IDLE_LOAD} at the start "
                  f"of at least one timed job (highest {_fmt(s['max_load_at_job_start'])}); wall times "
                  "include waiting for other processes, CPU times less so. See the runs below.", ""]
    lines += [*rows, ""]
    if refusals:
        lines += ["Refused or failed jobs (synrank's one-line message):", "", *refusals, ""]
    d = s["ratio_vs_beir"].get(s["default_backend"])
    lines += [
        f"- default backend {s['default_backend']}: "
        + (f"**{d['wall']:.2f}x** beir by wall time, **{d['cpu']:.2f}x** by CPU time, peak RSS "
           f"{d['rss']:.2f} of beir's" if d else "not measured")
        + f"; goal ({s['goal']}): **{'met' if s['goal_met'] else 'NOT met'}**",
        f"- fastest backend passing the gate: {s['fastest_passing_backend'] or 'none'}",
        f"- quality gate: nDCG@10 on {', '.join(cfg['gate_datasets'])} (mode auto: "
        + ", ".join(f"{k} {v}" for k, v in report["gate_modes"].items())
        + f") within ±{GATE_TOLERANCE} of {REFERENCE}",
        "",
        "Wall and CPU time are the evaluation's own (first data/model load to final scores and written",
        "files; imports of the tool and sentence-transformers excluded, openvino's or onnxruntime's included);",
        "CPU time is every thread of the job's process plus its children.",
        "Ratios are beir's time over synrank's (higher is faster). Each job ran in a fresh subprocess;",
        "cold jobs started from an empty embedding cache.",
        "",
        "## Runs (in order)",
        "",
        "| # | job | load before (1/5/15 min) | load after | waited s | wall s | CPU s | subprocess wall / CPU s | "
        "peak RSS MiB | nDCG@10 |",
        "|---:|---|---|---|---:|---:|---:|---|---:|---:|",
    ]
    for i, r in enumerate(report["runs"], 1):
        lines.append(f"| {i} | {r['job']} | {'/'.join(map(str, r.get('load_before', [])))} | "
                     f"{'/'.join(map(str, r.get('load_after', [])))} | {_fmt(r.get('waited_seconds'), '.0f')} | "
                     f"{_fmt(r.get('seconds'))} | {_fmt(r.get('cpu_seconds'))} | "
                     f"{_fmt(r.get('subprocess_wall_seconds'))} / {_fmt(r.get('subprocess_cpu_seconds'))} | "
                     f"{_fmt(r.get('peak_rss_mb'), '.0f')} | "
                     + (_fmt(r.get('ndcg@10'), '.4f') if 'ndcg@10' in r else (r.get('refused') or r.get('error', ''))[:60])
                     + " |")
    versions = {**env["versions"], **report["extra_versions"]}
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) + ".",
              "Raw numbers: eval.json.", ""]
    return "\n".join(lines)


def cpu_info() -> dict[str, Any]:
    # not at module top: each timed worker imports this module before its import clock starts
    from synrank.hardware import cpu_flags, cpu_has_int8_dot, cpu_has_native_bf16

    wanted = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8", "amx_tile")
    return {"native_bf16": cpu_has_native_bf16(), "int8_dot": cpu_has_int8_dot(),
            "flags": [f for f in wanted if f in cpu_flags()]}


RunJob = Callable[[Job, argparse.Namespace, Path, Path], dict[str, Any]]


def benchmark(args: argparse.Namespace, run_job: RunJob | None = None) -> dict[str, Any]:
    """Run every job and build the report (``run_job`` is replaceable for tests)."""
    # not at module top: each timed worker imports this module before its import clock starts
    from synrank.provenance import environment, package_versions

    run_job = run_job or _run_job
    backends = _split(args.backends) if args.backends else native_backends()
    gate_datasets = _split(args.gate_datasets)
    default = default_backend_name()
    cached_backend = default if default in backends else (backends[0] if backends else None)
    runs: list[dict[str, Any]] = []
    by_job: dict[str, list[dict[str, Any]]] = {}
    skip: set[str] = set()

    def record(job: Job, result: dict[str, Any], rep: int, timed: bool, waited: float | None) -> None:
        result.update({"repeat": rep + 1, "timed": timed, "waited_seconds": waited})
        runs.append(result)
        by_job.setdefault(job.label, []).append(result)
        if "refused" in result or "error" in result:
            skip.add(job.label)
            if job.kind == "cold" and job.backend == cached_backend:
                skip.add(f"cached {cached_backend}")
        what = (f"{result['seconds']:.2f}s ({result['cpu_seconds']:.1f}s CPU), {result['peak_rss_mb']:.0f} MiB, "
                f"nDCG@10 {result['ndcg@10']:.4f}" if "seconds" in result
                else result.get("refused") or result.get("error"))
        print(f"[{rep + 1}/{args.repeats}] {job.label}: {what} (1-min load {result.get('load_before', ['?'])[0]} "
              "before)", flush=True)

    with tempfile.TemporaryDirectory(prefix="synrank-bench-") as tmp:
        for rep in range(args.repeats):
            for job in plan_repeat(args.dataset, backends, cached_backend, rep):
                if job.label in skip:
                    continue
                cache = Path(tmp) / f"cache-r{rep}-{job.backend or 'beir'}"  # the cached job reuses its cold one's
                waited = _settle(args.settle) if args.settle > 0 else 0.0
                record(job, run_job(job, args, cache, Path(tmp) / f"work-r{rep}"), rep, True, waited)
        med = {label: median_record(rs) for label, rs in by_job.items()}
        # quality gate: the timed dataset from the cold jobs, the others from one job per backend
        ndcg: dict[str, dict[str, float | None]] = {}
        gate_modes: dict[str, str] = {}
        for b in dict.fromkeys([REFERENCE, *backends]):
            ndcg[b] = {}
            for d in gate_datasets:
                timed = med.get(f"cold {b}")
                r = timed if d == args.dataset or (timed and "refused" in timed) else None
                if r is None:
                    job = Job("gate", d, b)
                    r = run_job(job, args, Path(tmp) / f"cache-gate-{b}-{d}", Path(tmp) / "work-gate")
                    record(job, r, 0, False, None)
                ndcg[b][d] = r.get("ndcg@10") if "refused" not in r and "error" not in r else None
                if r.get("mode"):
                    gate_modes[d] = r["mode"]
    gate = gate_verdicts(ndcg, gate_datasets)
    first_synrank = next((r for r in runs if r.get("max_length") and r["job"] != "beir"), {})
    config = {"dataset": args.dataset, "model": args.model, "batch_size": args.batch_size, "top_k": TOP_K,
              "similarity": "cosine", "repeats": args.repeats, "backends": backends,
              "cached_backend": cached_backend, "gate_datasets": gate_datasets, "gate_tolerance": GATE_TOLERANCE,
              "max_length": first_synrank.get("max_length"), "settle_seconds": args.settle,
              "argv": list(args.argv)}
    return {
        "schema": "synrank.bench.eval/v2",
        "config": config,
        "summary": summarise(med, backends, default, gate, runs),
        "median": med,
        "ndcg": ndcg,
        "gate": gate,
        "gate_modes": gate_modes,
        "runs": runs,
        "cpu": cpu_info(),
        "environment": environment(),
        "extra_versions": package_versions(EXTRA_PACKAGES),
    }


# ----------------------------------------------------------------------------------------- profile
def padding_ratio(lengths: Sequence[int], order: Sequence[int], batch_size: int) -> float:
    """Padded tokens over real tokens when texts are batched in ``order``, each batch padded to its longest."""
    padded = real = 0
    for start in range(0, len(order), batch_size):
        batch = [lengths[i] for i in order[start:start + batch_size]]
        padded += max(batch) * len(batch)
        real += sum(batch)
    return padded / real if real else 1.0


#: (label, file fragment, function name, depth): one cProfile entry each, cumulative seconds. The depth
#: shows nesting for a model folder loaded lazily (on the first encode), as evaluate_model does.
PROFILE_ROWS = (
    ("load dataset", "synrank/data/beir.py", "load_dataset", 0),
    ("fingerprint model folder (sha256)", "synrank/retrieval/encoders.py", "folder_fingerprint", 0),
    ("dataset sha256", "synrank/data/beir.py", "sha256", 0),
    ("full retrieval (exact_search)", "synrank/retrieval/search.py", "exact_search", 0),
    ("re-ranking (rerank)", "synrank/retrieval/search.py", "rerank", 0),
    ("encode (all texts)", "synrank/retrieval/search.py", "_call", 1),
    ("load model (sentence-transformers, lazily)", "synrank/retrieval/encoders.py", "_load_sentence_transformer", 2),
    ("backend probe check", "synrank/retrieval/backends.py", "check", 2),
    ("convert + compile for the backend", "synrank/retrieval/backends.py", "_prepare", 3),
    ("tokenise (preprocess)", "sentence_transformers/base/modules/transformer.py", "preprocess", 2),
    ("pad batches (synrank)", "synrank/retrieval/backends.py", "batch", 2),
    ("transformer forward (openvino/onnx)", "synrank/retrieval/backends.py", "_hidden", 2),
    ("transformer forward (torch)", "transformers/models/bert/modeling_bert.py", "forward", 2),
    ("pooling", "sentence_transformers/sentence_transformer/modules/pooling.py", "forward", 2),
    ("order corpus by length", "synrank/retrieval/search.py", "_corpus_order", 1),
    ("embedding cache write", "synrank/retrieval/cache.py", "put", 1),
    ("faiss search", "faiss/class_wrappers.py", "replacement_search", 1),
    ("score (pytrec_eval)", "synrank/evaluation/evaluator.py", "evaluate_run", 0),
    ("write run.trec.gz", "synrank/data/trec.py", "write_run", 0),
    ("format run lines", "synrank/data/trec.py", "format_run", 1),
    ("write per_query.tsv", "synrank/evaluation/evaluator.py", "write_per_query_tsv", 0),
    ("write MTEB result file", "synrank/evaluation/mteb_format.py", "export_evaluation", 0),
    ("provenance (versions, git)", "synrank/provenance.py", "environment", 0),
)


def _profile_rows(stats: Any) -> list[dict[str, Any]]:
    """Cumulative seconds of each :data:`PROFILE_ROWS` entry found in ``stats`` (the outermost match)."""
    out = []
    for label, fragment, func, depth in PROFILE_ROWS:
        hits = [(ct, nc) for (file, _line, name), (_cc, nc, _tt, ct, _callers) in stats.stats.items()
                if name == func and file.replace(os.sep, "/").endswith(fragment)]
        if hits:
            ct, nc = max(hits)
            out.append({"label": label, "seconds": round(ct, 3), "calls": nc, "depth": depth})
    return out


def _padding_report(model: str, dataset: str, batch_size: int) -> dict[str, Any]:
    """Token counts of the texts a cold evaluation encodes, and padding waste per batching order."""
    # not at module top: each timed worker imports this module before its import clock starts
    import numpy as np

    from synrank.data.beir import load_dataset  # as above
    from synrank.data.trec import read_run  # as above
    from synrank.retrieval.backends import _Tokens  # as above
    from synrank.retrieval.documents import document_text  # as above
    from synrank.retrieval.encoders import SentenceTransformerEncoder  # as above
    from synrank.retrieval.search import _corpus_order  # as above

    data = load_dataset(dataset)
    encoder = SentenceTransformerEncoder(model, backend=REFERENCE)
    corpus: Any = data.corpus
    if data.info.rerank_run is not None:  # mode auto re-ranks: only the candidates are encoded
        needed = {d for q, ranking in read_run(data.info.rerank_run).items() if q in data.qrels for d in ranking}
        corpus = {d: data.corpus[d] for d in needed if d in data.corpus}
    _ids, docs = _corpus_order(corpus)
    out: dict[str, Any] = {"max_length": encoder.max_length, "batch_size": batch_size}
    for role, texts in (("documents", [document_text(d, encoder.sep) for d in docs]),
                        ("queries", list(data.judged_queries().values()))):
        tokens = _Tokens.build(encoder.model, texts)
        assert tokens is not None, "the reference model's preprocess must split into tokenise + pad"
        lengths = tokens.lengths.tolist()
        by_chars = np.argsort([-len(t) for t in texts], kind="stable").tolist()
        by_tokens = np.argsort(-tokens.lengths, kind="stable").tolist()
        out[role] = {"texts": len(texts), "tokens": int(sum(lengths)),
                     "truncated": int(sum(1 for n in lengths if n >= encoder.max_length)),
                     "padded_over_real_by_characters": round(padding_ratio(lengths, by_chars, batch_size), 4),
                     "padded_over_real_by_tokens": round(padding_ratio(lengths, by_tokens, batch_size), 4)}
    return out


def _stats_table(text: str) -> str:
    """pstats' printed table without its preamble, paths shortened to the package."""
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    out = []
    for line in lines[first:]:
        for marker in ("site-packages/", str(REPO) + "/"):
            if marker in line:
                head, _, tail = line.partition(marker)
                line = head[:head.rfind(" ") + 1] + tail
        out.append(line)
    return "\n".join(out).rstrip()


def _profile_worker(backend: str, model: str, dataset: str, batch_size: int, workdir: Path) -> dict[str, Any]:
    _synrank_imports()
    prof = cProfile.Profile()
    start, cpu0 = time.perf_counter(), _cpu_seconds()
    prof.enable()
    cell = _synrank_eval(model, dataset, backend, batch_size, workdir / "profile", cache=True)
    prof.disable()
    elapsed, cpu = time.perf_counter() - start, _cpu_seconds() - cpu0
    stats = pstats.Stats(prof)
    top, ours = io.StringIO(), io.StringIO()
    pstats.Stats(prof, stream=top).sort_stats("tottime").print_stats(25)
    pstats.Stats(prof, stream=ours).sort_stats("cumulative").print_stats(r"synrank/", 25)
    timings = dict(cell.timings)
    timings["write + provenance (rest)"] = round(elapsed - sum(cell.timings.values()), 3)
    return {"backend": cell.config["encoding"], "dataset": dataset, "mode": cell.config["mode"],
            "ndcg@10": cell.aggregate["nDCG@10"], "seconds": round(elapsed, 3), "cpu_seconds": round(cpu, 3),
            "peak_rss_mb": round(_peak_rss_mb(), 1), "timings": timings, "rows": _profile_rows(stats),
            "top_tottime": _stats_table(top.getvalue()), "top_synrank_cumulative": _stats_table(ours.getvalue()),
            "padding": _padding_report(model, dataset, batch_size)}


def render_profile(report: dict[str, Any]) -> str:
    p, env = report["profile"], report["environment"]
    total = p["seconds"]
    lines = [
        f"# Where a cold evaluation's time goes: {p['dataset']} ({p['mode']}), {report['config']['model']}, "
        f"backend {p['backend']}",
        "",
        f"Made by `python -m benchmarks.bench_eval {' '.join(report['config']['argv'])}` on {env['created_utc']} "
        f"(commit {env['git_commit']}, {env['hardware'].get('cpu_model')}, {env['hardware'].get('cpu_count')} "
        f"CPUs; 1-minute load average {report['load_before'][0]} before, {report['load_after'][0]} after"
        + (", **machine not idle**" if report["load_before"][0] > IDLE_LOAD else "") + ").",
        f"One cold `evaluate_model` under cProfile (which slows Python-heavy parts more than C/C++ ones): "
        f"{total:.1f} s wall, {p['cpu_seconds']:.1f} s CPU, peak RSS {p['peak_rss_mb']:.0f} MiB, "
        f"nDCG@10 {p['ndcg@10']:.4f}.",
        "",
        "## synrank's own timings",
        "",
        "| phase | s | share |",
        "|---|---:|---:|",
        *(f"| {k} | {v:.2f} | {v / total:.1%} |" for k, v in p["timings"].items()),
        "",
        "## Profile (cumulative seconds; indented rows are part of the row above them)",
        "",
        "| what | s | share | calls |",
        "|---|---:|---:|---:|",
        *(f"| {'&nbsp;' * 4 * r['depth']}{r['label']} | {r['seconds']:.2f} | {r['seconds'] / total:.1%} | "
          f"{r['calls']} |" for r in p["rows"]),
        "",
        f"## Padding waste (batch size {p['padding']['batch_size']}, max length {p['padding']['max_length']})",
        "",
        "Padded tokens the transformer computes over real tokens, each batch padded to its longest text:",
        "",
        "| texts | n | real tokens | truncated | sorted by characters | sorted by tokens |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for role in ("documents", "queries"):
        r = p["padding"][role]
        lines.append(f"| {role} | {r['texts']} | {r['tokens']} | {r['truncated']} | "
                     f"{r['padded_over_real_by_characters']:.3f} | {r['padded_over_real_by_tokens']:.3f} |")
    lines += [
        "",
        "Sorted by characters is how sentence-transformers' `encode` batches (synrank's `torch-fp32` and",
        "`torch-bf16` and beir); the openvino and onnx backends batch by token count, each text tokenised once.",
        "",
        "## Top functions by own time",
        "",
        "```",
        p["top_tottime"],
        "```",
        "",
        "## synrank's functions by cumulative time",
        "",
        "```",
        p.get("top_synrank_cumulative", ""),
        "```",
        "",
    ]
    return "\n".join(lines)


def profile(args: argparse.Namespace) -> dict[str, Any]:
    # not at module top: each timed worker imports this module before its import clock starts
    from synrank.provenance import environment

    with tempfile.TemporaryDirectory(prefix="synrank-profile-") as tmp:
        env = dict(os.environ, SYNRANK_CACHE=str(Path(tmp) / "cache"), HF_HUB_OFFLINE="1",
                   TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
        cmd = [sys.executable, "-m", "benchmarks.bench_eval", "--worker", "profile", "--dataset", args.dataset,
               "--backend-of-worker", args.profile, "--model", args.model, "--batch-size", str(args.batch_size),
               "--workdir", tmp]
        load_before = _loadavg()
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
        load_after = _loadavg()
    if proc.returncode != 0:
        raise SystemExit(f"profile job failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return {"schema": "synrank.bench.eval_profile/v1",
            "config": {"dataset": args.dataset, "model": args.model, "batch_size": args.batch_size,
                       "backend": args.profile, "argv": list(args.argv)},
            "profile": json.loads(proc.stdout.strip().splitlines()[-1]),
            "load_before": load_before, "load_after": load_after, "environment": environment()}


# ----------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None, run_job: RunJob | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_eval", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--dataset", default="scifact", help="the timed dataset (a name or folder)")
    parser.add_argument("--model", default=MODEL, help="model spec; beir gets the same folder")
    parser.add_argument("--backends", default=None,
                        help="comma-separated encoding backends (default: every one this CPU runs natively)")
    parser.add_argument("--gate-datasets", default="scifact,trec-dl-2019",
                        help="datasets of the quality gate (nDCG@10 within ±0.002 of torch-fp32)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each timed job (median reported)")
    parser.add_argument("--settle", type=float, default=180.0,
                        help=f"wait up to this many seconds before each timed job for load <= {IDLE_LOAD}")
    parser.add_argument("--output", type=Path, default=REPO / "results" / "bench")
    parser.add_argument("--profile", metavar="BACKEND", default=None,
                        help="instead: profile one cold evaluation on BACKEND, write eval_profile.md")
    parser.add_argument("--worker", choices=("beir", "cold", "cached", "gate", "profile"), help=argparse.SUPPRESS)
    parser.add_argument("--backend-of-worker", default="", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = argv
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")

    if args.worker == "profile":
        print(json.dumps(_profile_worker(args.backend_of_worker, args.model, args.dataset, args.batch_size,
                                         args.workdir)))
        return 0
    if args.worker:
        job = Job(args.worker, args.dataset, args.backend_of_worker or None)
        print(json.dumps(_worker(job, args.model, args.batch_size, args.workdir)))
        return 0

    # not at module top: each timed worker imports this module before its import clock starts
    from synrank.io import atomic_write_json, atomic_write_text

    args.output.mkdir(parents=True, exist_ok=True)
    if args.profile:
        report = profile(args)
        stem = "eval_profile" + ("" if args.dataset == "scifact" else f"-{_display(args.dataset)}")
        atomic_write_json(args.output / f"{stem}.json", report)
        text = render_profile(report)
        atomic_write_text(args.output / f"{stem}.md", text)
        print(text)
        return 0
    report = benchmark(args, run_job)
    atomic_write_json(args.output / "eval.json", report)
    text = render_markdown(report)
    atomic_write_text(args.output / "eval.md", text)
    print(text)
    return 1 if any("error" in r for r in report["runs"]) else 0


if __name__ == "__main__":
    sys.exit(main())
