"""The loss curve of a run as CSV and PNG (both written atomically)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from synrank.io import atomic_write_bytes, atomic_write_text

CURVE_FIELDS = ("step", "epoch", "loss", "lr", "grad_norm", "elapsed_s")


def write_loss_csv(path: Path, history: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CURVE_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow(row)
    atomic_write_text(path, buf.getvalue())


def write_loss_png(path: Path, history: list[dict[str, Any]], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_lr) = plt.subplots(2, 1, figsize=(7, 5), sharex=True,
                                         gridspec_kw={"height_ratios": [3, 1]})
    if history:
        steps = [r["step"] for r in history]
        losses = [r["loss"] for r in history]
        ax_loss.plot(steps, losses, lw=0.6, alpha=0.4, label="loss (per step)")
        window = max(1, len(losses) // 50)
        if window > 1:
            smooth, acc = [], 0.0
            for i, v in enumerate(losses):
                acc += v
                if i >= window:
                    acc -= losses[i - window]
                smooth.append(acc / min(i + 1, window))
            ax_loss.plot(steps, smooth, lw=1.5, label=f"moving mean ({window} steps)")
        ax_loss.legend(loc="upper right", fontsize=8)
        ax_lr.plot(steps, [r["lr"] for r in history], lw=1.0, color="tab:green")
    else:
        ax_loss.text(0.5, 0.5, "no training steps (untrained base)", ha="center", va="center",
                     transform=ax_loss.transAxes)
    ax_loss.set_ylabel("loss")
    ax_loss.set_title(title, fontsize=10)
    ax_lr.set_ylabel("lr")
    ax_lr.set_xlabel("optimizer step")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
