"""Shared helpers for the loss tests: random batches in SyCL's layout."""

from __future__ import annotations

import torch

from synrank.losses.functional import expand_grades


def make_batch(b: int, g: int, seed: int = 0, scale: float = 1.0, dtype=torch.float64,
               levels: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores ``[b, b*g]`` ~ N(0, scale^2) and block-diagonal grades from ``levels`` integer levels."""
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randn(b, b * g, generator=gen, dtype=dtype) * scale
    grades = torch.randint(0, levels, (b, g), generator=gen)
    return scores, expand_grades(grades)
