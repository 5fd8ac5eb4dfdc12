"""ListNet-style KL divergence against scipy.stats.entropy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special
import scipy.stats
import torch

from synrank.losses import KLDivergenceLoss, build_loss
from synrank.losses.functional import expand_grades, kl_divergence
from tests.losses.batches import make_batch


def reference(scores: np.ndarray, grades: np.ndarray, temperature: float = 1.0) -> float:
    p = scipy.special.softmax(scores / temperature, axis=1)
    t = scipy.special.softmax(grades.astype(np.float64), axis=1)
    return float(np.mean([scipy.stats.entropy(t[i], p[i]) for i in range(len(t))]))


@pytest.mark.parametrize("b,g,temperature", [(1, 4, 1.0), (2, 4, 1.0), (8, 4, 0.5), (5, 8, 2.0)])
def test_matches_scipy(b, g, temperature):
    scores, grades = make_batch(b, g, seed=b + 2 * g, scale=2.0)
    ours = kl_divergence(scores, grades, temperature).item()
    assert ours == pytest.approx(reference(scores.numpy(), grades.numpy(), temperature), rel=1e-10)


def test_zero_when_prediction_equals_target():
    _, grades = make_batch(4, 4, seed=1)
    assert kl_divergence(grades.double(), grades).item() == pytest.approx(0.0, abs=1e-12)


def test_gradcheck_float64():
    scores, grades = make_batch(4, 3, seed=41)
    scores.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda s: kl_divergence(s, grades, 0.7), (scores,), eps=1e-6, atol=1e-7)


def test_in_group_permutation_invariance():
    b, g = 5, 4
    scores, grades = make_batch(b, g, seed=6)
    gen = torch.Generator().manual_seed(1)
    perm = torch.cat([i * g + torch.randperm(g, generator=gen) for i in range(b)])
    assert kl_divergence(scores[:, perm], grades[:, perm]).item() == pytest.approx(
        kl_divergence(scores, grades).item(), rel=1e-12)


def test_all_grades_equal_and_extreme_logits():
    scores, _ = make_batch(4, 4, seed=3, dtype=torch.float32)
    grades = expand_grades(torch.full((4, 4), 1))
    extreme = (torch.sign(scores) * 1e4).requires_grad_(True)
    for s in (scores, extreme):
        loss = kl_divergence(s, grades)
        assert torch.isfinite(loss)
    kl_divergence(extreme, grades).backward()
    assert torch.isfinite(extreme.grad).all()


def test_registry():
    loss = build_loss("kl", temperature=0.5)
    assert isinstance(loss, KLDivergenceLoss)
    assert loss.get_config_dict() == {"loss": "kl", "temperature": 0.5}
