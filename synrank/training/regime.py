"""Loss-regime check: which way would the loss move each kind of passage, before any step is taken?

A list-wise loss asks for a score distribution (e.g. ``softmax(grades)``), and whether meeting it
pushes a passage up or down depends on where the model already is and on the temperature. At T = 0.1
on cosine scores, ws2 asks all-MiniLM-L6-v2 for margins of about 0.3/0.2/0.1 between grades while the
model already has larger ones, so its descent direction pushes grade-3 passages *down* and in-batch
negatives *up* (issue 12). This module measures that on a few batches of the real training data:

- **descent** per passage type (each grade of a query's own passages, and other queries' passages =
  in-batch negatives): ``−∂loss/∂score``, summed over the batches (``descent_sum``) and averaged per
  passage (``descent_mean``). Positive = gradient descent raises those scores.
- **margin** per grade: mean score of that grade minus mean score of the in-batch negatives of the same
  rows (or of the lowest grade when there are no in-batch negatives).

It flags a *violation* when, per passage, a higher grade would be pushed less than (i.e. below) a lower
grade, or a grade >= 1 less than the in-batch negatives. For a binary loss (one with a relevance
``threshold``, e.g. InfoNCE) only its own two levels are compared: the passages at or above the threshold
must be pushed more than those below it and than the in-batch negatives. Scores come from the model in eval mode without
gradients; the batches are drawn from a separate sampler with the run's seed, so the run itself is
untouched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import torch

from synrank.losses.functional import expand_grades, group_mask, in_batch_scores
from synrank.training.config import TrainConfig
from synrank.training.sampling import GroupSampler

logger = logging.getLogger(__name__)

NEGATIVES = "in-batch negatives"
#: A violation must exceed this fraction of the largest |mean descent| (float noise is not a finding).
TOLERANCE = 1e-3


@dataclass
class RegimeReport:
    """What :func:`check_loss_regime` measured (JSON-able through :meth:`to_dict`)."""

    loss: str
    temperature: float | None
    n_batches: int
    descent_sum: dict[str, float] = field(default_factory=dict)
    descent_mean: dict[str, float] = field(default_factory=dict)
    margin: dict[str, float] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def warning(self) -> str | None:
        """One line naming the loss and temperature, or None when every type moves the right way."""
        if self.ok:
            return None
        return (f"loss regime: {self.loss} at temperature {self.temperature} pushes the wrong way before "
                f"training ({'; '.join(self.violations)}); descent per passage "
                + ", ".join(f"{k} {v:+.3g}" for k, v in self.descent_mean.items())
                + " (try a higher temperature: see synrank check-loss)")

    def to_dict(self) -> dict[str, Any]:
        return {"loss": self.loss, "temperature": self.temperature, "n_batches": self.n_batches,
                "descent_sum": self.descent_sum, "descent_mean": self.descent_mean, "margin": self.margin,
                "violations": self.violations, "ok": self.ok}

    def format_table(self) -> str:
        lines = [f"{self.loss} at temperature {self.temperature} ({self.n_batches} batches): "
                 + ("OK" if self.ok else "WARNING"),
                 f"  {'passages':<20} {'descent (sum)':>14} {'per passage':>12} {'margin':>8}"]
        for name in self.descent_mean:
            margin = self.margin.get(name)
            lines.append(f"  {name:<20} {self.descent_sum[name]:>+14.4f} {self.descent_mean[name]:>+12.5f} "
                         f"{'' if margin is None else f'{margin:+.3f}':>8}")
        lines += [f"  violation: {v}" for v in self.violations]
        return "\n".join(lines)


def _type_name(grade: int) -> str:
    return f"grade {grade}"


def check_loss_regime(model: Any, items: list[Any], cfg: TrainConfig, loss_fn: Any, n_batches: int = 4,
                      device: str = "cpu") -> RegimeReport:
    """Measure the descent direction and margins of ``loss_fn`` on ``n_batches`` batches of ``items``."""
    temperature = getattr(loss_fn, "temperature", None)
    report = RegimeReport(str(getattr(loss_fn, "name", None) or cfg.loss),
                          None if temperature is None else float(temperature), 0)
    if not items:
        return report
    sampler = GroupSampler(items, cfg.batch_size, cfg.group_size, cfg.seed, cfg.short_groups)
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    margin_sums: dict[str, float] = {}
    margin_counts: dict[str, int] = {}
    was_training = model.training
    model.eval()
    try:
        for _ in range(min(n_batches, max(1, sampler.batches_per_epoch))):
            batch = sampler.next_batch()
            grades = torch.tensor(batch.grades, dtype=torch.float32, device=device)
            with torch.no_grad():
                q = model.encode(batch.queries, convert_to_tensor=True, show_progress_bar=False).float()
                p = model.encode(batch.passages, convert_to_tensor=True, show_progress_bar=False).float()
            b, g = grades.shape
            if cfg.in_batch_negatives:
                scores, full = in_batch_scores(q, p), expand_grades(grades)
                own = group_mask(b, g, device=device)
            else:
                scores = torch.einsum("bd,bgd->bg", q, p.view(b, g, -1))
                full, own = grades, torch.ones_like(grades, dtype=torch.bool)
            leaf = scores.detach().clone().requires_grad_(True)
            loss_fn(leaf, full).backward()
            descent = -leaf.grad.detach()
            kinds = {_type_name(int(v)): (full == v) & own for v in sorted(set(grades.flatten().tolist()), reverse=True)}
            if cfg.in_batch_negatives:
                kinds[NEGATIVES] = ~own
            reference = ~own if cfg.in_batch_negatives else (full == full.min()) & own
            ref_mean = (scores * reference).sum(1) / reference.sum(1).clamp(min=1)
            for name, mask in kinds.items():
                sums[name] = sums.get(name, 0.0) + float(descent[mask].sum())
                counts[name] = counts.get(name, 0) + int(mask.sum())
                if name != NEGATIVES:
                    rows = mask.any(1)
                    row_mean = (scores * mask).sum(1) / mask.sum(1).clamp(min=1)
                    margin_sums[name] = margin_sums.get(name, 0.0) + float((row_mean - ref_mean)[rows].sum())
                    margin_counts[name] = margin_counts.get(name, 0) + int(rows.sum())
            report.n_batches += 1
    finally:
        model.train(was_training)
    order = sorted((k for k in sums if k != NEGATIVES), key=lambda k: -int(k.split()[1])) + \
        ([NEGATIVES] if NEGATIVES in sums else [])
    report.descent_sum = {k: sums[k] for k in order}
    report.descent_mean = {k: sums[k] / max(1, counts[k]) for k in order}
    report.margin = {k: margin_sums[k] / max(1, margin_counts[k]) for k in order if k in margin_sums}
    threshold = getattr(loss_fn, "threshold", None)
    if threshold is None:
        report.violations = _violations(report.descent_mean)
    else:  # a binary loss: only relevant (grade >= threshold) vs not is asked of it
        levels: dict[str, list[str]] = {}
        for k in order:
            level = NEGATIVES if k == NEGATIVES else (f"grade >= {threshold:g}" if int(k.split()[1]) >= threshold
                                                       else f"grade < {threshold:g}")
            levels.setdefault(level, []).append(k)
        binary = {level: sum(sums[k] for k in keys) / max(1, sum(counts[k] for k in keys))
                  for level, keys in levels.items()}
        report.violations = _binary_violations(binary, f"grade >= {threshold:g}")
    return report


def _binary_violations(mean: dict[str, float], positive: str) -> list[str]:
    scale = max((abs(v) for v in mean.values()), default=0.0)
    if positive not in mean:
        return []
    return [f"{positive} pushed below {other}" for other, value in mean.items()
            if other != positive and mean[positive] < value - TOLERANCE * scale]


def _violations(mean: dict[str, float]) -> list[str]:
    scale = max((abs(v) for v in mean.values()), default=0.0)
    tol = TOLERANCE * scale
    grades = [k for k in mean if k != NEGATIVES]
    found = []
    for i, hi in enumerate(grades):
        for lo in grades[i + 1:]:
            if mean[hi] < mean[lo] - tol:
                found.append(f"{hi} pushed below {lo}")
        if NEGATIVES in mean and int(hi.split()[1]) >= 1 and mean[hi] < mean[NEGATIVES] - tol:
            found.append(f"{hi} pushed below {NEGATIVES}")
    return found
