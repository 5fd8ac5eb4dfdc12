"""Apply a tuning grid's pre-registered decision rule and check the committed configs against it.

``python -m benchmarks.tuning.decide benchmarks/tuning/equal_effort/results.csv`` prints, for each
encoder and loss, the selected run and its dev score; ``--check`` also reads the cpu-suite config of
each (encoder, loss) pair (``benchmarks/configs/train/<encoder>-synthetic-<loss>.yaml``) and prints OK or
FAIL per config, exiting 1 on any FAIL, so a config can never drift from the grid that chose it.

The rule (``benchmarks/tuning/equal_effort/README.md``, fixed before the runs): per encoder and loss,
the run with the highest dev nDCG@10; a difference below 0.0005 is a tie, broken towards the larger
temperature (nearer the reference's 1.0), then towards cosine.

Run names follow ``<encoder>-<loss>[-<similarity>]-t<temperature>`` (``static-ws2-cosine-t0.3``,
``minilm-kl-t1.0``); untrained references (``<encoder>-base[-<similarity>]``) are reported beside.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from synrank.config import load_config_file

#: Differences in dev nDCG@10 below this are ties (README's rule 1).
TIE = 0.0005
LOSSES = ("ws2-lists", "per-query-ws", "ws2", "kl", "infonce")  # longest first: "ws2-lists" before "ws2"
_RUN = re.compile(r"^(?P<encoder>[a-z0-9]+)-(?P<loss>" + "|".join(LOSSES)
                  + r")(?:-(?P<similarity>cosine|dot))?-t(?P<temperature>[0-9.]+)$")
_BASE = re.compile(r"^(?P<encoder>[a-z0-9]+)-base(?:-(?P<similarity>cosine|dot))?$")


@dataclass(frozen=True)
class Run:
    name: str
    encoder: str
    loss: str
    similarity: str
    temperature: float
    score: float


def read_runs(path: Path) -> tuple[list[Run], dict[str, float]]:
    """The grid's trained runs and, per encoder, the best untrained reference score."""
    runs: list[Run] = []
    bases: dict[str, float] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            name, score = row["run"], row["dev_nDCG@10"]
            try:
                value = float(score)
            except ValueError:
                raise SystemExit(f"{path}:{line}: dev_nDCG@10 {score!r} is not a number") from None
            if (m := _RUN.match(name)) is not None:
                runs.append(Run(name, m["encoder"], m["loss"], m["similarity"] or row["similarity"] or "cosine",
                                float(m["temperature"]), value))
            elif (b := _BASE.match(name)) is not None:
                bases[b["encoder"]] = max(bases.get(b["encoder"], value), value)
            else:
                raise SystemExit(f"{path}:{line}: run name {name!r} does not follow "
                                 "<encoder>-<loss>[-<similarity>]-t<temperature> or <encoder>-base[-<similarity>]")
    return runs, bases


def select(runs: list[Run]) -> Run:
    """The rule: best score; within ``TIE`` of it, the larger temperature, then cosine."""
    best = max(r.score for r in runs)
    tied = [r for r in runs if best - r.score < TIE]
    return max(tied, key=lambda r: (r.temperature, r.similarity == "cosine", r.score))


def by_loss(runs: list[Run]) -> dict[tuple[str, str], list[Run]]:
    """The runs of each (encoder, loss), sorted by key."""
    groups: dict[tuple[str, str], list[Run]] = {}
    for r in runs:
        groups.setdefault((r.encoder, r.loss), []).append(r)
    return dict(sorted(groups.items()))


def decide(runs: list[Run]) -> dict[tuple[str, str], Run]:
    return {key: select(group) for key, group in by_loss(runs).items()}


def check_config(configs: Path, choice: Run) -> str | None:
    """None when the committed config trains at the selected setting, else what differs."""
    path = configs / f"{choice.encoder}-synthetic-{choice.loss}.yaml"
    if not path.is_file():
        return f"{path}: missing"
    cfg = load_config_file(path)
    temperature = (cfg.get("loss_kwargs") or {}).get("temperature")
    similarity = (cfg.get("model") or {}).get("similarity")
    problems = []
    if temperature is None or abs(float(temperature) - choice.temperature) > 1e-12:
        problems.append(f"temperature {temperature} (selected {choice.temperature})")
    if similarity != choice.similarity:
        problems.append(f"similarity {similarity} (selected {choice.similarity})")
    return f"{path}: " + "; ".join(problems) if problems else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.tuning.decide", description=__doc__.split("\n")[0])
    p.add_argument("results", type=Path, help="a grid's results.csv")
    p.add_argument("--check", action="store_true", help="compare each selection with its cpu-suite config")
    p.add_argument("--configs", type=Path, default=Path("benchmarks/configs/train"))
    p.add_argument("--expect-runs", type=int, default=3,
                   help="runs each (encoder, loss) must have before it is decided (default 3)")
    args = p.parse_args(argv)
    runs, bases = read_runs(args.results)
    failed = False
    print("| encoder | loss | runs | selected | similarity | T | dev nDCG@10 | untrained | check |")
    print("|---|---|---:|---|---|---:|---:|---:|---|")
    for (encoder, loss), group in by_loss(runs).items():
        choice, n = select(group), len(group)
        if n < args.expect_runs:
            status = f"UNDECIDED ({n} of {args.expect_runs} runs)"
        elif args.check:
            problem = check_config(args.configs, choice)
            status = "OK" if problem is None else f"FAIL: {problem}"
            failed |= problem is not None
        else:
            status = ""
        base = bases.get(encoder)
        print(f"| {encoder} | {loss} | {n} | {choice.name} | {choice.similarity} | {choice.temperature:g} "
              f"| {choice.score:.4f} | {'—' if base is None else f'{base:.4f}'} | {status} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
