"""Per-query 1-D Wasserstein ablation against scipy.stats.wasserstein_distance."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch

from synrank.losses import PerQueryWassersteinLoss, build_loss
from synrank.losses.functional import expand_grades, group_mask, per_query_wasserstein
from tests.losses.batches import make_batch


def _softmax(a: np.ndarray) -> np.ndarray:
    e = np.exp(a - a.max())
    return e / e.sum()


def reference(scores: np.ndarray, grades: np.ndarray, temperature: float = 1.0, mask=None) -> float:
    """Row by row: passages placed at their grade, scipy's 1-D W1 between the two weightings."""
    out = []
    for i in range(scores.shape[0]):
        keep = np.ones(scores.shape[1], bool) if mask is None else mask[i]
        g = grades[i, keep].astype(np.float64)
        p = _softmax(scores[i, keep] / temperature)
        t = _softmax(g)
        out.append(scipy.stats.wasserstein_distance(g, g, u_weights=p, v_weights=t))
    return float(np.mean(out))


@pytest.mark.parametrize("b,g,temperature", [(2, 4, 1.0), (8, 4, 1.0), (5, 8, 0.5), (16, 4, 2.0)])
def test_matches_scipy(b, g, temperature):
    scores, grades = make_batch(b, g, seed=b + g, scale=2.0)
    ours = per_query_wasserstein(scores, grades, temperature=temperature).item()
    assert ours == pytest.approx(reference(scores.numpy(), grades.numpy(), temperature), rel=1e-9)


def test_own_group_mask_matches_scipy():
    b, g = 6, 4
    scores, grades = make_batch(b, g, seed=3)
    mask = group_mask(b, g)
    ours = per_query_wasserstein(scores, grades, mask=mask).item()
    assert ours == pytest.approx(reference(scores.numpy(), grades.numpy(), mask=mask.numpy()), rel=1e-9)
    assert PerQueryWassersteinLoss()(scores, grades, mask=mask).item() == pytest.approx(ours)


def test_ground_distance_is_the_grade_gap():
    # one row, two passages graded 0 and 3: all predicted mass on the grade-0 passage, target ~ on grade 3
    scores = torch.tensor([[50.0, -50.0]], dtype=torch.float64)
    grades = torch.tensor([[0, 3]])
    t3 = float(torch.softmax(torch.tensor([0.0, 3.0], dtype=torch.float64), 0)[1])
    assert per_query_wasserstein(scores, grades).item() == pytest.approx(3 * t3, rel=1e-9)


def test_gradcheck_float64():
    scores, grades = make_batch(4, 3, seed=21)
    scores.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda s: per_query_wasserstein(s, grades, 0.7), (scores,), eps=1e-6,
                                    atol=1e-7)


def test_in_group_permutation_invariance_with_ties():
    b, g = 5, 6
    gen = torch.Generator().manual_seed(8)
    scores = torch.randn(b, b * g, generator=gen, dtype=torch.float64)
    group = torch.tensor([3, 3, 2, 1, 0, 0]).repeat(b, 1)
    perm = torch.cat([i * g + torch.randperm(g, generator=gen) for i in range(b)])
    grades = expand_grades(group)
    for mask in (None, group_mask(b, g)):
        base = per_query_wasserstein(scores, grades, mask=mask).item()
        pm = None if mask is None else mask[:, perm]
        assert per_query_wasserstein(scores[:, perm], grades[:, perm], mask=pm).item() == pytest.approx(
            base, rel=1e-12)


def test_batch_of_one_is_supported():
    scores, grades = make_batch(1, 4, seed=2)
    ours = per_query_wasserstein(scores, grades).item()
    assert ours == pytest.approx(reference(scores.numpy(), grades.numpy()), rel=1e-9)


def test_all_grades_equal_gives_zero_and_finite_gradient():
    scores, _ = make_batch(4, 4, seed=5)
    scores.requires_grad_(True)
    loss = per_query_wasserstein(scores, torch.full((4, 16), 2))
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(scores.grad).all()


def test_extreme_logits_stay_finite():
    scores, grades = make_batch(8, 4, seed=9, dtype=torch.float32)
    scores = (torch.sign(scores) * 1e4).requires_grad_(True)
    loss = per_query_wasserstein(scores, grades)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(scores.grad).all()


def test_registry():
    loss = build_loss("per_query_ws", temperature=2.0)
    assert loss.get_config_dict() == {"loss": "per_query_ws", "temperature": 2.0}
    assert "ABLATION" in PerQueryWassersteinLoss.__doc__
