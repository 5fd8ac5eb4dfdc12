"""The loss-regime check of every training run of a suite, as one table.

``python -m benchmarks.regime_table --results results/cpu`` reads each ``train/<variant>/model/
training_config.json`` (:class:`synrank.records.TrainingRecord`; the trainer measures the regime before
step 1, :mod:`synrank.training.regime`) and writes ``regime.md`` beside the leaderboard: per variant the
loss, its temperature, the descent per passage type (positive = training raises those scores), the margin
of each grade over the in-batch negatives, and OK or the violations. Runs without a recorded check
(untrained bases, records older than the check) are listed as such, never skipped silently.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from synrank.io import atomic_write_text
from synrank.records import TRAINING_FILE, TrainingRecord

OUTPUT = "regime.md"


def _types(regimes: list[dict]) -> list[str]:
    names: list[str] = []
    for r in regimes:
        names += [k for k in r.get("descent_mean", {}) if k not in names]
    grades = sorted((n for n in names if n.startswith("grade ")), key=lambda n: -int(n.split()[1]))
    return grades + [n for n in names if not n.startswith("grade ")]


def regime_rows(results: Path) -> list[tuple[str, dict | None]]:
    """(variant, recorded regime or None) for every training folder of a suite, sorted by name."""
    rows: list[tuple[str, dict | None]] = []
    for folder in sorted(p for p in (results / "train").glob("*") if p.is_dir()):
        path = folder / "model" / TRAINING_FILE
        record = TrainingRecord.read(path) if path.is_file() else None
        rows.append((folder.name, None if record is None else record.loss_regime))
    return rows


def render(rows: list[tuple[str, dict | None]], suite: str) -> str:
    regimes = [r for _, r in rows if r]
    types = _types(regimes)
    head = ["variant", "loss", "T"] + [f"descent {t}" for t in types] \
        + [f"margin {t}" for t in types if t.startswith("grade ")] + ["check"]
    lines = [f"# Loss regime per training run ({suite})", "",
             "Measured by the trainer on 4 batches of the run's own data before step 1 "
             "(`synrank/training/regime.py`). *descent*: −∂loss/∂score per passage, averaged per type "
             "(positive: gradient descent raises those scores). *margin*: mean score of the grade minus "
             "the in-batch negatives of the same rows. A violation is a higher grade pushed below a lower "
             "one or a grade ≥ 1 pushed below the in-batch negatives.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, regime in rows:
        if not regime:
            lines.append(f"| {name} | — | — |" + " |" * (len(head) - 4) + " no check recorded (untrained, or an "
                         "older record) |")
            continue
        descent = [regime["descent_mean"].get(t) for t in types]
        margin = [regime.get("margin", {}).get(t) for t in types if t.startswith("grade ")]
        cells = [f"{v:+.3g}" if v is not None else "" for v in descent] + \
                [f"{v:+.3f}" if v is not None else "" for v in margin]
        check = "OK" if regime.get("ok") else "WARNING: " + "; ".join(regime.get("violations", []))
        t = regime.get("temperature")
        lines.append(f"| {name} | {regime.get('loss')} | {'—' if t is None else f'{t:g}'} | "
                     + " | ".join(cells) + f" | {check} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.regime_table", description=__doc__.split("\n")[0])
    p.add_argument("--results", type=Path, required=True, help="a suite's results folder, e.g. results/cpu")
    args = p.parse_args(argv)
    if not (args.results / "train").is_dir():
        print(f"{args.results}: no train/ folder (not a suite's results folder, or nothing trained yet)",
              file=sys.stderr)
        return 2
    text = render(regime_rows(args.results), args.results.name)
    atomic_write_text(args.results / OUTPUT, text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
