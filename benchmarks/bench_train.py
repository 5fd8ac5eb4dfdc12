"""Training throughput: synrank's trainer vs sentence-transformers' own trainer, same model and batch.

    python benchmarks/bench_train.py [--steps 12] [--repeats 2] [--models minilm,static]
                                     [--precisions fp32,bf16] [--data scifact,synthetic] [--output results/bench]

Both sides train the *same* encoder (built by :func:`synrank.training.encoders.build_model`: MiniLM-L6
with mean pooling and dot product, or the static encoder initialised from MiniLM's token embeddings)
on the *same* examples: ``B = 16`` queries per step, each with ``G = 4`` passages (``--data``: ``scifact``,
its positive and 3 BM25 hard negatives from scifact train, mostly longer than 128 tokens; ``synthetic``,
a grade-3 passage and 3 lower-grade ones of the shipped synthetic groups, 76 tokens on average, so
padding matters), texts truncated to 128 tokens, AdamW lr 2e-5, CPU.

- ours: ``synrank.training.train`` with InfoNCE (in-batch + hard negatives);
- theirs: ``SentenceTransformerTrainer`` + ``MultipleNegativesRankingLoss`` on columns
  ``(anchor, positive, negative_1..3)`` — the same 16 + 64 texts encoded per step.

Each measurement runs in a fresh worker process (so its peak RSS is its own), sides interleaved
(ours, theirs, ours, theirs …) to spread the drift of a shared machine's load over both; the first
two steps of each run are excluded (allocator and thread-pool warm-up). Reported: samples/s (training
queries per second: median over repeats of the median step time), speed ratio ours/theirs, peak RSS.
Writes ``<output>/train.json`` and ``<output>/train.md`` atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from synrank.config import from_dict
from synrank.data.groups import TrainingGroup, read_groups
from synrank.hardware import cpu_has_native_bf16
from synrank.io import atomic_write_json, atomic_write_text
from synrank.provenance import environment
from synrank.training.config import ModelConfig, SourceConfig, TrainConfig
from synrank.training.encoders import build_model
from synrank.training.sources import evaluation_query_guard, load_supervised_source

REPO = Path(__file__).resolve().parent.parent
B, G, MAX_LEN, LR = 16, 4, 128, 2e-5


SYNTHETIC = REPO / "data" / "synthetic" / "msmarco-smollm2-anchored"


def build_examples(n: int, path: Path, source: str = "scifact") -> None:
    """``n`` queries with 1 positive + 3 negatives each, as synrank groups JSONL: scifact train (BM25
    negatives) or the synthetic groups (a grade-3 passage, then the first three below grade 3)."""
    if source == "synthetic":
        groups = read_groups(SYNTHETIC)
    else:
        src = SourceConfig(kind="supervised", dataset="scifact", n_negatives=3, bm25_depth=30)
        groups, _ = load_supervised_source(src, "drop", evaluation_query_guard())
    out = []
    for g in groups:
        pos = [p for p in g.passages if p.grade == 3][:1]
        neg = [p for p in g.passages if p.grade < 3][:3]
        if len(pos) == 1 and len(neg) == 3:
            out.append(TrainingGroup(g.query_id, g.query, pos + neg).to_record())
        if len(out) == n:
            break
    if len(out) < n:
        raise SystemExit(f"only {len(out)} complete examples, need {n}")
    # atomic: a kill mid-write must not leave a truncated input file that the next run trains on
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in out))


def _model_cfg(name: str) -> dict:
    kind = "static" if name == "static" else "sentence-transformers"
    return {"base": "minilm", "kind": kind, "pooling": "mean", "similarity": "dot", "max_seq_length": MAX_LEN}


def worker_ours(model: str, precision: str, data: Path, steps: int) -> dict:
    # not at module top: both workers import this module, and each loads only its own side (peak RSS)
    from synrank.training.trainer import train

    cfg = from_dict(TrainConfig, {
        "name": f"bench-{model}-{precision}", "model": _model_cfg(model),
        "data": [{"kind": "groups", "path": str(data)}], "loss": "infonce", "group_size": G, "batch_size": B,
        "max_steps": steps, "learning_rate": LR, "warmup_fraction": 0.05, "precision": precision,
        "save_every": None, "on_evaluation_query": "error"})
    with tempfile.TemporaryDirectory() as tmp:
        train(cfg, output=Path(tmp) / "out")
        rows = (Path(tmp) / "out" / "loss_curve.csv").read_text().splitlines()[1:]
    elapsed = [float(r.split(",")[-1]) for r in rows]
    return {"step_s": [b - a for a, b in zip(elapsed, elapsed[1:], strict=False)][1:]}


def worker_theirs(model: str, precision: str, data: Path, steps: int) -> dict:
    # not at module top: both workers import this module, and each loads only its own side (peak RSS)
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers import TrainerCallback

    st_model = build_model(from_dict(ModelConfig, _model_cfg(model)), "cpu")
    cols: dict[str, list[str]] = {"anchor": [], "positive": [], "negative_1": [], "negative_2": [], "negative_3": []}
    for line in data.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        cols["anchor"].append(rec["query"])
        texts = [p["text"] for p in rec["passages"]]
        cols["positive"].append(texts[0])
        for i in range(3):
            cols[f"negative_{i + 1}"].append(texts[1 + i])
    dataset = Dataset.from_dict(cols)
    stamps: list[float] = []

    class Stamp(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            stamps.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as tmp:
        args = SentenceTransformerTrainingArguments(
            output_dir=tmp, per_device_train_batch_size=B, max_steps=steps, learning_rate=LR, warmup_ratio=0.05,
            bf16=precision == "bf16", use_cpu=True, save_strategy="no", report_to="none", logging_steps=10_000,
            disable_tqdm=True, dataloader_drop_last=True, seed=42, dataloader_num_workers=0)
        trainer = SentenceTransformerTrainer(model=st_model, args=args, train_dataset=dataset,
                                             loss=MultipleNegativesRankingLoss(st_model), callbacks=[Stamp()])
        trainer.train()
    return {"step_s": [b - a for a, b in zip(stamps, stamps[1:], strict=False)][1:]}


def _worker_main(args: argparse.Namespace) -> None:
    fn = worker_ours if args.worker == "ours" else worker_theirs
    out = fn(args.model, args.precision, Path(args.examples), args.steps)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("RESULT " + json.dumps(out), flush=True)


def _run_worker(impl: str, model: str, precision: str, data: Path, steps: int) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, __file__, "--worker", impl, "--model", model, "--precision", precision,
                           "--examples", str(data), "--steps", str(steps)], env=env, capture_output=True, text=True,
                          check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"worker {impl}/{model}/{precision} failed:\n{proc.stderr[-3000:]}")


def _measure(model: str, precision: str, source: str, data: Path, args: argparse.Namespace) -> dict:
    """One table row: ``args.repeats`` interleaved runs of each trainer on the same examples."""
    runs: dict[str, list[dict]] = {"ours": [], "theirs": []}
    for _ in range(args.repeats):
        for impl in ("ours", "theirs"):
            runs[impl].append(_run_worker(impl, model, precision, data, args.steps))
    row = {"model": model, "precision": precision, "data": source, "batch_size": B, "group_size": G,
           "max_seq_length": MAX_LEN, "steps_per_run": args.steps, "repeats": args.repeats}
    for impl, results in runs.items():
        step = statistics.median(statistics.median(r["step_s"]) for r in results)
        row[f"{impl}_step_s"] = round(step, 4)
        row[f"{impl}_steps_per_s"] = round(1 / step, 3)
        row[f"{impl}_samples_per_s"] = round(B / step, 2)
        row[f"{impl}_peak_rss_mb"] = round(max(r["peak_rss_mb"] for r in results), 1)
        row[f"{impl}_all_step_s"] = [[round(s, 4) for s in r["step_s"]] for r in results]
    row["speed_ratio"] = round(row["ours_samples_per_s"] / row["theirs_samples_per_s"], 3)
    print(f"{model:7s} {precision} {source:9s}: ours {row['ours_samples_per_s']:8.2f} samples/s, "
          f"sentence-transformers {row['theirs_samples_per_s']:8.2f} samples/s, "
          f"ratio {row['speed_ratio']:.2f}x", flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--models", default="minilm,static")
    ap.add_argument("--precisions", default=None,
                    help="comma-separated; default fp32,bf16 where the CPU has native bf16, else fp32 "
                         "(the trainer refuses emulated bf16)")
    ap.add_argument("--data", default="scifact",
                    help="comma-separated example sources: scifact (long passages), synthetic (short, varied)")
    ap.add_argument("--output", default=str(REPO / "results" / "bench"))
    ap.add_argument("--append", action="store_true",
                    help="keep the rows of other (model, precision) pairs already in <output>/train.json")
    ap.add_argument("--worker", choices=["ours", "theirs"], help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--precision", help=argparse.SUPPRESS)
    ap.add_argument("--examples", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        _worker_main(args)
        return 0

    if args.precisions is None:
        args.precisions = "fp32,bf16" if cpu_has_native_bf16() else "fp32"

    t_start = time.perf_counter()
    load_start = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for source in args.data.split(","):
            data = Path(tmp) / f"examples-{source}.jsonl"
            build_examples(B * args.steps, data, source)
            for model in args.models.split(","):
                for precision in args.precisions.split(","):
                    rows.append(_measure(model, precision, source, data, args))
    out = Path(args.output)
    command = " ".join(["python", "benchmarks/bench_train.py", *(argv or sys.argv[1:])])
    commands, wall = [command], round(time.perf_counter() - t_start, 1)
    if args.append and (out / "train.json").exists():
        prev = json.loads((out / "train.json").read_text(encoding="utf-8"))
        mine = {(r["model"], r["precision"], r.get("data", "scifact")) for r in rows}
        rows = [r for r in prev["rows"] if (r["model"], r["precision"], r.get("data", "scifact")) not in mine] + rows
        commands = prev.get("commands", [prev.get("command")]) + commands
        wall = round(prev.get("wall_s", 0) + wall, 1)
    result = {"benchmark": "training throughput, synrank vs SentenceTransformerTrainer+MNRL",
              "rows": rows, "goal_ratio": 1.2, "wall_s": wall, "commands": commands,
              "load_average_start_end": [round(load_start[0], 2), round(os.getloadavg()[0], 2)],
              "environment": environment()}
    atomic_write_json(out / "train.json", result)
    lines = ["# Training throughput: synrank vs sentence-transformers' trainer", "",
             f"B={B} queries/step, G={G} passages/query (1 positive + 3 negatives: BM25 negatives of scifact train, "
             "or lower-grade passages of the synthetic groups), "
             f"max length {MAX_LEN} tokens, CPU ({result['environment']['hardware'].get('cpu_count')} cores, "
             "shared machine). samples/s = training queries per second (median step time over "
             "timed steps (all but the first two of each run), median over interleaved repeats, fresh process each; "
             "per-row steps and repeats in train.json).", "",
             "| encoder | precision | data | synrank samples/s | ST trainer samples/s | ratio | synrank steps/s | "
             "peak RSS synrank / ST (MiB) |", "|---|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['precision']} | {r.get('data', 'scifact')} | {r['ours_samples_per_s']:.2f} | {r['theirs_samples_per_s']:.2f} "
                     f"| {r['speed_ratio']:.2f}x | {r['ours_steps_per_s']:.3f} | {r['ours_peak_rss_mb']:.0f} / "
                     f"{r['theirs_peak_rss_mb']:.0f} |")
    lines += ["", "Goal (issue 13): ratio ≥ 1.2. Commands: " + "; ".join(f"`{c}`" for c in commands)
              + f"; wall time {result['wall_s']} s.", ""]
    atomic_write_text(out / "train.md", "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
