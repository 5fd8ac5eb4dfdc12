"""Micro-benchmark of synrank's losses, alone and as a fraction of one MiniLM training step.

Run from the repository root::

    nice -n 5 python -m benchmarks.bench_losses            # writes results/bench/losses.{json,md}
    python -m benchmarks.bench_losses --quick --no-model   # a few seconds, loss timings only

What is timed:

* each registered loss (``synrank.losses.LOSSES``), forward + backward on float32 scores
  ``[B, B*G]`` with block-diagonal grades, for B in {8, 16, 64} and G in {4, 8}; median of
  ``--repeats`` runs after warm-up;
* one MiniLM (all-MiniLM-L6-v2, ``synrank.paths.minilm_path()``) training step at B=16, G=4:
  encode 16 queries + 64 passages, every sequence padded/truncated to 128 tokens (an upper bound on
  a real step, where queries are short), in-batch dot-product scores, the ws2 loss, backward and an
  AdamW update; in float32 and under ``torch.autocast("cpu", dtype=torch.bfloat16)``.

The report gives each loss's time at B=16, G=4 as a percentage of each step (goal: ws2 <= 5%).

Threads: every measurement uses the same ``--threads`` (default 1). On a shared machine with more
runnable processes than cores, multi-threaded OpenMP kernels on tensors this small spend most of their
time at barriers waiting for a descheduled sibling thread (we saw ws2 at B=16 go from 0.5 ms with one
thread to ~50 ms with two), which measures the machine's load rather than the loss. Pass
``--threads 2`` (or more) on a dedicated machine. CPU only: on a GPU the step is far shorter and a
small ``svdvals`` launches a cuSOLVER call, so re-measure there before quoting a GPU share.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from synrank.io import atomic_write_json, atomic_write_text
from synrank.losses import LOSSES, build_loss
from synrank.losses.functional import expand_grades, in_batch_scores
from synrank.paths import minilm_path
from synrank.provenance import environment

log = logging.getLogger("benchmarks.bench_losses")

BATCH_SIZES = (8, 16, 64)
GROUP_SIZES = (4, 8)
STEP_B, STEP_G, STEP_LEN = 16, 4, 128
GOAL_PERCENT = 5.0
DEFAULT_OUT = Path("results/bench/losses")


def _time(fn: Callable[[], None], repeats: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def _summary(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000.0 for s in seconds)
    return {
        "median_ms": round(statistics.median(ms), 4),
        "min_ms": round(ms[0], 4),
        "max_ms": round(ms[-1], 4),
        "repeats": len(ms),
    }


def bench_losses(repeats: int, warmup: int, batch_sizes=None, group_sizes=None) -> list[dict[str, Any]]:
    """Forward + backward time of every registered loss on random float32 scores."""
    batch_sizes = BATCH_SIZES if batch_sizes is None else batch_sizes
    group_sizes = GROUP_SIZES if group_sizes is None else group_sizes
    rows = []
    gen = torch.Generator().manual_seed(0)
    for name in LOSSES:
        loss_fn = build_loss(name)
        for b in batch_sizes:
            for g in group_sizes:
                scores = torch.randn(b, b * g, generator=gen)
                group = torch.randint(0, 4, (b, g), generator=gen)
                group[:, 0] = 3
                grades = expand_grades(group)

                def run(scores=scores, grades=grades, loss_fn=loss_fn) -> None:
                    s = scores.clone().requires_grad_(True)
                    loss_fn(s, grades).backward()

                rows.append({"loss": name, "B": b, "G": g, "N": b * g,
                             **_summary(_time(run, repeats, warmup))})
                log.info("%s B=%d G=%d: %.3f ms", name, b, g, rows[-1]["median_ms"])
    return rows


def _step_texts(n: int, prefix: str) -> list[str]:
    # long enough to fill 128 word pieces; distinct per item
    return [f"{prefix} {i} " + " ".join(f"token{j % 97} relevance passage" for j in range(60)) for i in range(n)]


def bench_minilm_step(repeats: int, warmup: int, loss_name: str = "ws2") -> dict[str, Any]:
    """One training step of all-MiniLM-L6-v2 at B=16, G=4, len 128, in fp32 and bf16 autocast."""
    from sentence_transformers import SentenceTransformer  # seconds to import; --no-model runs skip it

    path = minilm_path()
    model = SentenceTransformer(str(path), device="cpu")
    model.train()
    tokenizer = model.tokenizer
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)  # tiny lr: the weights barely move
    loss_fn = build_loss(loss_name)

    def features(texts: list[str]) -> dict[str, torch.Tensor]:
        return dict(tokenizer(texts, padding="max_length", truncation=True, max_length=STEP_LEN,
                              return_tensors="pt"))

    q_feat = features(_step_texts(STEP_B, "query"))
    p_feat = features(_step_texts(STEP_B * STEP_G, "passage"))
    group = torch.randint(0, 4, (STEP_B, STEP_G), generator=torch.Generator().manual_seed(1))
    grades = expand_grades(group)
    results: dict[str, Any] = {"model": str(path), "B": STEP_B, "G": STEP_G, "seq_len": STEP_LEN,
                               "n_sequences": STEP_B * (1 + STEP_G), "loss": loss_name,
                               "includes": "forward(queries+passages), scores, loss, backward, AdamW step"}
    for label, autocast in (("fp32", False), ("bf16_autocast", True)):
        def step(autocast=autocast) -> None:
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                q = model(dict(q_feat))["sentence_embedding"]
                p = model(dict(p_feat))["sentence_embedding"]
                scores = in_batch_scores(q, p)
            loss = loss_fn(scores.float(), grades)
            loss.backward()
            optimizer.step()

        results[label] = _summary(_time(step, repeats, warmup))
        log.info("MiniLM step %s: %.1f ms", label, results[label]["median_ms"])
    return results


def render_markdown(report: dict[str, Any]) -> str:
    env = report["environment"]
    hw = env["hardware"]
    lines = [
        "# Loss micro-benchmark",
        "",
        f"Made by `python -m benchmarks.bench_losses` at {env['created_utc']} (commit "
        f"`{env.get('git_commit')}`), torch {env['versions'].get('torch')}, {hw.get('cpu_count')} CPUs, "
        f"{report['config']['torch_threads']} torch thread(s), {hw.get('platform')}. The machine was "
        "shared with other jobs: absolute times are noisy (the median of the repeats is shown; the JSON "
        "also has min and max), ratios less so.",
        "",
        "## Forward + backward per loss (float32 scores [B, B*G], median ms)",
        "",
    ]
    rows = report["losses"]
    shapes = sorted({(r["B"], r["G"]) for r in rows})
    lines.append("| loss | " + " | ".join(f"B={b} G={g}" for b, g in shapes) + " |")
    lines.append("|---|" + "---:|" * len(shapes))
    for name in dict.fromkeys(r["loss"] for r in rows):
        cells = {(r["B"], r["G"]): r["median_ms"] for r in rows if r["loss"] == name}
        lines.append(f"| {name} | " + " | ".join(f"{cells[s]:.3f}" for s in shapes) + " |")
    step = report.get("minilm_step")
    if step:
        lines += [
            "",
            f"## Share of one MiniLM training step (B={step['B']}, G={step['G']}, {step['n_sequences']} "
            f"sequences of {step['seq_len']} tokens; {step['includes']})",
            "",
            "| step precision | step median ms | " + " | ".join(
                f"{n} % of step" for n in report["fraction_percent"]) + " |",
            "|---|---:|" + "---:|" * len(report["fraction_percent"]),
        ]
        for label in ("fp32", "bf16_autocast"):
            pct = " | ".join(f"{report['fraction_percent'][n][label]:.3f}" for n in report["fraction_percent"])
            lines.append(f"| {label} | {step[label]['median_ms']:.1f} | {pct} |")
        verdict = "met" if report["goal_met"] else "NOT met"
        lines += ["", f"Goal ws2 <= {GOAL_PERCENT:g}% of a step: **{verdict}** "
                      f"(max {report['ws2_max_percent']:.3f}%)."]
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output stem: writes <out>.json and <out>.md (default results/bench/losses)")
    parser.add_argument("--repeats", type=int, default=30, help="timed runs per loss and shape")
    parser.add_argument("--step-repeats", type=int, default=3, help="timed MiniLM steps per precision")
    parser.add_argument("--quick", action="store_true", help="3 repeats, 1 step: a smoke run")
    parser.add_argument("--no-model", action="store_true", help="skip the MiniLM step")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for every measurement (default 1: see the module docstring)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    torch.set_num_threads(args.threads)
    repeats, step_repeats = (3, 1) if args.quick else (args.repeats, args.step_repeats)

    report: dict[str, Any] = {
        "benchmark": "losses",
        "config": {"repeats": repeats, "warmup": 3, "step_repeats": step_repeats, "step_warmup": 1,
                   "batch_sizes": list(BATCH_SIZES), "group_sizes": list(GROUP_SIZES),
                   "scores_dtype": "float32", "goal_percent_of_step": GOAL_PERCENT,
                   "torch_threads": args.threads},
        "losses": bench_losses(repeats, warmup=3),
    }
    if not args.no_model:
        step = bench_minilm_step(step_repeats, warmup=1)
        report["minilm_step"] = step
        at_step = {r["loss"]: r["median_ms"] for r in report["losses"] if (r["B"], r["G"]) == (STEP_B, STEP_G)}
        report["fraction_percent"] = {
            name: {label: round(100.0 * ms / step[label]["median_ms"], 4) for label in ("fp32", "bf16_autocast")}
            for name, ms in at_step.items()
        }
        report["ws2_max_percent"] = max(report["fraction_percent"]["ws2"].values())
        report["goal_met"] = report["ws2_max_percent"] <= GOAL_PERCENT
    report["environment"] = environment()

    args.out.parent.mkdir(parents=True, exist_ok=True)
    json_path, md_path = args.out.with_suffix(".json"), args.out.with_suffix(".md")
    atomic_write_json(json_path, report)
    atomic_write_text(md_path, render_markdown(report))
    print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
