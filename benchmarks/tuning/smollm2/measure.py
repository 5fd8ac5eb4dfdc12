"""Measurements behind the SmolLM2 decision (issue 12, "a transformer with headroom"); see README.md here.

Run from the repository root, one measurement per call, each appended to ``measurements.jsonl`` beside
this file with its command line::

    nice -n 19 python -m benchmarks.tuning.smollm2.measure throughput --model runs/smollm2/k6 --precision bf16
    nice -n 19 python -m benchmarks.tuning.smollm2.measure step --model runs/smollm2/k6
    nice -n 19 python -m benchmarks.tuning.smollm2.measure tokens --model runs/smollm2/k6
    python -m benchmarks.tuning.smollm2.measure estimate          # the table, from measurements.jsonl

- ``throughput``: texts/s of ``SentenceTransformer.encode`` (what the ``torch-*`` backends run) on scifact
  documents of at least ``--length`` tokens (so every text is exactly ``--length`` tokens after
  truncation), batches of ``--batch`` (32), ``--threads`` torch threads, fp32 or bf16 autocast, one
  warm-up batch, then batches until ``--seconds`` have passed.
- Every record has wall time, CPU time (all threads of the process) and the load average: on a shared
  machine the wall-clock rate says more about the neighbours than the model, so the estimates use the
  "2-core equivalent" rate, texts × threads / CPU seconds (what the process would do with its threads
  on otherwise idle cores, if they scaled perfectly; spinning threads make it conservative).
- ``step``: seconds per training step as the trainer takes it (16 queries × 4 passages of the committed
  synthetic set, one forward of all 80 texts, InfoNCE over in-batch passages, backward, AdamW), bf16
  autocast: a check of the "fwd + bwd ≈ 3 × forward" rule. One warm-up step, then ``--steps`` timed.
- ``tokens``: how many texts the cpu suite's five evaluation cells (and the scifact-train dev evaluation)
  encode, and their mean length in this model's tokens after truncation at ``--length``; the same for
  125 steps of 16 synthetic groups.
- ``estimate``: training (125 steps) and evaluation time per model from the records above, by tokens:
  encoding time = tokens / (2-core-equivalent throughput × length), which assumes time linear in tokens
  below ``--length`` (attention's quadratic part is small at 128 tokens; padding inside batches is ignored).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch

from synrank.errors import SynrankError
from synrank.hardware import cpu_has_native_bf16
from synrank.io import append_jsonl, read_jsonl_tolerant
from synrank.paths import resolve_model_alias

HERE = Path(__file__).resolve().parent
RECORDS = HERE / "measurements.jsonl"
REPO = HERE.parent.parent.parent
SYNTHETIC = REPO / "data" / "synthetic" / "msmarco-smollm2-anchored"
#: the cpu suite's evaluation cells: (dataset, split, what is encoded)
CPU_CELLS = (("trec-dl-2019", "test"), ("trec-dl-2020", "test"), ("scifact", "test"), ("cranfield", "test"),
             ("arguana", "test"))
DEV = ("scifact", "train")
STEPS, QUERIES, PASSAGES = 125, 16, 4     # the MiniLM rows: max_steps, batch_size, group_size


def _load(model: str):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(resolve_model_alias(model), device="cpu")  # minilm: the reference


def _autocast(precision: str):
    if precision == "bf16":
        if not cpu_has_native_bf16():
            raise SynrankError("bf16 autocast needs a CPU with native bfloat16; this one would emulate it")
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return nullcontext()


def _long_texts(model, length: int, n: int) -> list[str]:
    # lazy: each measurement runs in its own process and loads only what it measures
    from synrank.data import load_dataset
    from synrank.retrieval.encoders import document_text  # lazy, as above

    corpus = load_dataset("scifact", split="test").corpus
    texts = [document_text(corpus[k]) for k in sorted(corpus)]
    counts = model.tokenizer(texts, add_special_tokens=True)["input_ids"]
    long = [t for t, ids in zip(texts, counts, strict=True) if len(ids) >= length]
    if len(long) < n:
        raise SynrankError(f"only {len(long)} scifact documents have >= {length} tokens; need {n}")
    return long[:n]


def _rates(done: int, wall: float, cpu: float, threads: int) -> dict[str, Any]:
    """Texts per second as measured (wall) and as ``threads`` uncontended cores would give them: the
    machine is shared, so CPU seconds (all threads of this process) are the steadier measure."""
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "texts_per_s": round(done / wall, 2),
            "texts_per_s_cpu": round(done * threads / cpu, 2), "loadavg": [round(x, 2) for x in os.getloadavg()]}


def throughput(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    model = _load(args.model)
    model.max_seq_length = args.length
    texts = _long_texts(model, args.length, 1024)
    batches = [texts[i:i + args.batch] for i in range(0, len(texts), args.batch)]
    with torch.inference_mode(), _autocast(args.precision):
        model.encode(batches[0], batch_size=args.batch, show_progress_bar=False)  # warm-up
        cpu0, start, done = time.process_time(), time.perf_counter(), 0
        for batch in batches[1:]:
            model.encode(batch, batch_size=args.batch, show_progress_bar=False)
            done += len(batch)
            if time.perf_counter() - start >= args.seconds:
                break
    return {"texts": done, "batch": args.batch,
            **_rates(done, time.perf_counter() - start, time.process_time() - cpu0, args.threads)}


def _groups(n: int) -> list[tuple[str, list[str]]]:
    # lazy: each measurement runs in its own process and loads only what it measures
    from synrank.data.groups import read_groups

    groups = [g for g in read_groups(SYNTHETIC) if len(g.passages) >= PASSAGES][:n]
    return [(g.query, [p.text for p in g.passages[:PASSAGES]]) for g in groups]


def step(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = _load(args.model)
    model.max_seq_length = args.length
    model.train()
    groups = _groups(QUERIES * (args.steps + 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5)

    def one(batch: list[tuple[str, list[str]]]) -> None:
        queries = [q for q, _ in batch]
        passages = [p for _, ps in batch for p in ps]
        with _autocast("bf16"):
            emb = [model(model.preprocess(texts))["sentence_embedding"] for texts in (queries, passages)]
            scores = emb[0] @ emb[1].T / 0.05
            target = torch.arange(len(queries)) * PASSAGES
            loss = torch.nn.functional.cross_entropy(scores.float(), target)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    one(groups[:QUERIES])  # warm-up
    cpu0, start = time.process_time(), time.perf_counter()
    for i in range(1, args.steps + 1):
        one(groups[i * QUERIES:(i + 1) * QUERIES])
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    rates = _rates(args.steps, wall, cpu, args.threads)
    return {"steps": args.steps, "s_per_step": round(wall / args.steps, 2),
            "s_per_step_cpu": round(cpu / args.threads / args.steps, 2),
            **{k: v for k, v in rates.items() if not k.startswith("texts")}}


def _mean_tokens(tokenizer, texts: list[str], length: int) -> float:
    ids = tokenizer(texts, add_special_tokens=True)["input_ids"]
    return sum(min(len(x), length) for x in ids) / max(1, len(ids))


def tokens(args: argparse.Namespace) -> dict[str, Any]:
    # lazy: each measurement runs in its own process and loads only what it measures
    from synrank.data import load_dataset
    from synrank.retrieval.encoders import document_text  # lazy, as above

    tok = _load(args.model).tokenizer
    out: dict[str, Any] = {"cells": {}}
    for name, split in (*CPU_CELLS, DEV):
        ds = load_dataset(name, split=split)
        queries = [ds.queries[q] for q in sorted(ds.qrels)]
        docs = [document_text(d) for d in ds.corpus.values()]
        out["cells"][f"{name}/{split}"] = {
            "queries": len(queries), "query_tokens": round(_mean_tokens(tok, queries, args.length), 1),
            "docs": len(docs), "doc_tokens": round(_mean_tokens(tok, docs, args.length), 1)}
    groups = _groups(QUERIES * STEPS)
    out["training"] = {"queries": len(groups), "query_tokens": round(_mean_tokens(tok, [q for q, _ in groups], args.length), 1),
                       "passages": sum(len(ps) for _, ps in groups),
                       "passage_tokens": round(_mean_tokens(tok, [p for _, ps in groups for p in ps], args.length), 1)}
    return out


def _cell_tokens(cell: dict[str, Any]) -> float:
    return cell["queries"] * cell["query_tokens"] + cell["docs"] * cell["doc_tokens"]


def _suite_minilm(row: str = "minilm-synthetic-infonce") -> tuple[float, float]:
    """(train seconds, eval seconds) of the cpu suite's MiniLM row as recorded in results/cpu/costs.csv."""
    with (REPO / "results" / "cpu" / "costs.csv").open(encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            if r["model"] == row:
                return float(r["train_seconds"]), float(r["eval_seconds"])
    raise SynrankError(f"results/cpu/costs.csv has no row {row!r}")


def estimate(records: list[dict[str, Any]], length: int = 128) -> str:
    """Two markdown tables from the latest record of each kind: (1) by tokens, training (125 steps) and
    evaluation minutes on 2 cores at the measured 2-core-equivalent rates; (2) calibrated, the cpu suite's
    recorded MiniLM times scaled by the measured MiniLM / model ratios (same script, same hour)."""
    latest: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in records:
        latest[(r["kind"], r["model"], r.get("precision", ""))] = r
    tok = next((r for (k, _, _), r in reversed(latest.items()) if k == "tokens"), None)
    if tok is None:
        raise SynrankError(f"{RECORDS}: no 'tokens' record yet; run the tokens measurement first")
    cells = tok["result"]["cells"]
    eval_tokens = sum(_cell_tokens(cells[f"{n}/{s}"]) for n, s in CPU_CELLS)
    dev_tokens = _cell_tokens(cells[f"{DEV[0]}/{DEV[1]}"])
    tr = tok["result"]["training"]
    train_tokens = tr["queries"] * tr["query_tokens"] + tr["passages"] * tr["passage_tokens"]

    def fmt(x: float | None, spec: str = ".1f") -> str:
        return "—" if x is None else format(x, spec)

    def step_s(model: str) -> float | None:
        st = latest.get(("step", model, "bf16"))
        return st["result"]["s_per_step_cpu"] if st else None

    lines = [f"| model | precision | texts/s @ {length}, wall (load) | texts/s, 2-core equiv. | "
             "train 125 steps, min (3× fwd) | s/step, 2-core equiv. | train, min (steps) | "
             "eval 5 cells, min | dev eval, min | train + eval, min |", "|---|---|---|---|---|---|---|---|---|---|"]
    for (kind, model, precision), r in latest.items():
        if kind != "throughput":
            continue
        res = r["result"]
        tokens_per_s = res["texts_per_s_cpu"] * length
        s_step = step_s(model) if precision == "bf16" else None
        train_fwd = 3 * train_tokens / tokens_per_s / 60
        train_steps = None if s_step is None else s_step * STEPS / 60
        ev, dev = eval_tokens / tokens_per_s / 60, dev_tokens / tokens_per_s / 60
        total = (train_steps if train_steps is not None else train_fwd) + ev
        lines.append(f"| {model} | {precision} | {res['texts_per_s']:.1f} ({res['loadavg'][0]:.1f}) | "
                     f"{res['texts_per_s_cpu']:.1f} | {train_fwd:.1f} | {fmt(s_step, '.2f')} | {fmt(train_steps)} | "
                     f"{ev:.1f} | {dev:.1f} | {total:.1f} |")
    lines += ["", f"Tokens after truncation at {length}: {eval_tokens:,.0f} in the 5 evaluation cells, "
              f"{dev_tokens:,.0f} in the dev evaluation, {train_tokens:,.0f} in 125 training steps "
              f"({tr['queries']:,} queries + {tr['passages']:,} passages)."]
    ref_bf16, ref_fp32 = latest.get(("throughput", "minilm", "bf16")), latest.get(("throughput", "minilm", "fp32"))
    if ref_bf16 is not None and ref_fp32 is not None:
        suite_train, suite_eval = _suite_minilm()
        ref_step = step_s("minilm")
        lines += ["", f"Calibrated on the cpu suite's minilm-synthetic-infonce (results/cpu/costs.csv: training "
                  f"{suite_train:.0f} s in bf16, evaluation {suite_eval:.0f} s for the 5 cells with torch-fp32 at 128 "
                  "tokens) × MiniLM / model as measured here: training by the bf16 step-time ratio (else the bf16 "
                  "throughput ratio), evaluation by the fp32 throughput ratio:", "",
                  "| model | bf16 ratio | fp32 ratio | train, min | eval 5 cells, min (torch-fp32) | train + eval, min |",
                  "|---|---|---|---|---|---|"]
        models = sorted({m for (k, m, _p) in latest if k == "throughput" and m != "minilm"})
        for model in models:
            bf16, fp32 = latest.get(("throughput", model, "bf16")), latest.get(("throughput", model, "fp32"))
            if bf16 is None or fp32 is None:
                continue
            r16 = ref_bf16["result"]["texts_per_s_cpu"] / bf16["result"]["texts_per_s_cpu"]
            r32 = ref_fp32["result"]["texts_per_s_cpu"] / fp32["result"]["texts_per_s_cpu"]
            s_step = step_s(model)
            train = suite_train * (s_step / ref_step if s_step is not None and ref_step is not None else r16) / 60
            ev = suite_eval * r32 / 60
            lines.append(f"| {model} | {r16:.2f} | {r32:.2f} | {train:.1f} | {ev:.1f} | {train + ev:.1f} |")
    return "\n".join(lines)


def _per_query(folder: Path, measure: str) -> dict[str, float]:
    path = folder / "per_query.tsv"
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        return {r["query_id"]: float(r[measure]) for r in rows}
    except (OSError, KeyError, ValueError) as exc:
        raise SynrankError(f"{path}: cannot read {measure} per query ({type(exc).__name__}: {exc}); "
                           "give a folder `synrank evaluate --output` wrote") from exc


def compare(before: Path, after: Path, measure: str = "nDCG@10", min_gain: float = 0.05,
            alpha: float = 0.01) -> dict[str, Any]:
    """The trial's dev test (README.md): mean gain of ``after`` over ``before`` on the same queries and a
    paired randomization test (10,000 sign flips, seed 0); passes when gain >= min_gain and p < alpha."""
    # lazy: each measurement runs in its own process and loads only what it measures
    from synrank.evaluation.significance import align_scores, randomization_test

    try:
        _ids, a, b = align_scores(_per_query(after, measure), _per_query(before, measure))
    except ValueError as exc:  # different query sets: not the same dev split
        raise SynrankError(f"{after} vs {before}: {exc}") from exc
    test = randomization_test(a, b, n_permutations=10_000, seed=0)
    gain = float(test.mean_difference)
    return {"measure": measure, "queries": test.n, "before": round(float(b.mean()), 4),
            "after": round(float(a.mean()), 4), "gain": round(gain, 4), "p": test.p_value,
            "rule": f"gain >= {min_gain} and p < {alpha}", "pass": bool(gain >= min_gain and test.p_value < alpha)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.tuning.smollm2.measure", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="kind", required=True)
    for name in ("throughput", "step", "tokens"):
        s = sub.add_parser(name)
        s.add_argument("--model", required=True, help="model folder (scripts/make_smollm2_encoder.py) or alias")
        s.add_argument("--length", type=int, default=128)
        s.add_argument("--threads", type=int, default=2)
    sub.choices["throughput"].add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    sub.choices["throughput"].add_argument("--seconds", type=float, default=50.0)
    sub.choices["throughput"].add_argument("--batch", type=int, default=32)
    sub.choices["step"].add_argument("--steps", type=int, default=3)
    sub.add_parser("estimate").add_argument("--length", type=int, default=128)
    c = sub.add_parser("compare", help="the trial's dev test: after vs before (per_query.tsv folders)")
    c.add_argument("--before", type=Path, required=True)
    c.add_argument("--after", type=Path, required=True)
    args = p.parse_args(argv)
    if args.kind == "compare":
        result = compare(args.before, args.after)
        append_jsonl(RECORDS, {"kind": "compare", "model": str(args.after), "before": str(args.before),
                               "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "result": result})
        print(json.dumps(result))
        return 0
    if args.kind == "estimate":
        records, _torn = read_jsonl_tolerant(RECORDS)
        print(estimate(records, args.length))
        return 0
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    result = {"throughput": throughput, "step": step, "tokens": tokens}[args.kind](args)
    record = {"kind": args.kind, "model": args.model, "precision": getattr(args, "precision", "bf16" if args.kind == "step" else ""),
              "length": args.length, "threads": args.threads,
              "command": "python -m benchmarks.tuning.smollm2.measure " + shlex.join(argv if argv is not None else sys.argv[1:]),
              "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "result": result}
    append_jsonl(RECORDS, record)
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
