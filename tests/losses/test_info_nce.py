"""InfoNCE with several positives per row against a hand-written float64 formula."""

from __future__ import annotations

import math

import pytest
import torch

from synrank.losses import InfoNCELoss, build_loss
from synrank.losses.functional import LossInputError, expand_grades, info_nce
from tests.losses.batches import make_batch


def reference(scores, grades, threshold=2, temperature=0.05) -> float:
    """Plain Python loops: each positive against the row's negatives only, averaged per row."""
    rows = []
    for s_row, g_row in zip(scores.tolist(), grades.tolist(), strict=True):
        s = [v / temperature for v in s_row]
        pos = [j for j, gr in enumerate(g_row) if gr >= threshold]
        neg = [j for j, gr in enumerate(g_row) if gr < threshold]
        if not pos:
            continue
        terms = []
        for j in pos:
            m = max([s[j]] + [s[n] for n in neg])
            denom = math.exp(s[j] - m) + sum(math.exp(s[n] - m) for n in neg)
            terms.append(-(s[j] - m) + math.log(denom))
        rows.append(sum(terms) / len(terms))
    return sum(rows) / len(rows)


@pytest.mark.parametrize("b,g,threshold,temperature", [(2, 4, 2, 0.05), (8, 4, 2, 1.0), (5, 8, 3, 0.1),
                                                       (16, 4, 1, 0.05)])
def test_matches_hand_written_formula(b, g, threshold, temperature):
    scores, grades = make_batch(b, g, seed=b * g, scale=0.5)
    ours = info_nce(scores, grades, threshold=threshold, temperature=temperature).item()
    assert ours == pytest.approx(reference(scores, grades, threshold, temperature), rel=1e-10)


def test_single_positive_equals_cross_entropy():
    """One positive per row: the usual in-batch InfoNCE, i.e. cross-entropy on the score matrix."""
    b, g = 6, 4
    scores, _ = make_batch(b, g, seed=3)
    group = torch.zeros((b, g), dtype=torch.long)
    group[:, 0] = 3
    target = torch.arange(b) * g
    expected = torch.nn.functional.cross_entropy(scores / 0.05, target)
    assert info_nce(scores, expand_grades(group)).item() == pytest.approx(expected.item(), rel=1e-10)


def test_rows_without_positive_are_skipped_and_all_missing_is_an_error():
    scores, _ = make_batch(3, 2, seed=4)
    grades = expand_grades(torch.tensor([[3, 0], [1, 0], [2, 2]]))
    assert info_nce(scores, grades).item() == pytest.approx(reference(scores, grades), rel=1e-10)
    with pytest.raises(LossInputError, match="no passage in the batch has grade >= threshold 2"):
        info_nce(scores, expand_grades(torch.tensor([[1, 0], [1, 0], [0, 0]])))


def test_gradcheck_float64():
    scores, grades = make_batch(4, 3, seed=31)
    grades[0, :3] = torch.tensor([3, 2, 0])  # a row with two positives
    scores.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda s: info_nce(s, grades, temperature=0.5), (scores,), eps=1e-6,
                                    atol=1e-7)


def test_in_group_permutation_invariance():
    b, g = 5, 4
    scores, grades = make_batch(b, g, seed=6)
    gen = torch.Generator().manual_seed(1)
    perm = torch.cat([i * g + torch.randperm(g, generator=gen) for i in range(b)])
    assert info_nce(scores[:, perm], grades[:, perm]).item() == pytest.approx(
        info_nce(scores, grades).item(), rel=1e-12)


def test_batch_of_one_and_all_positive_row():
    # B = 1 with hard negatives works; a row with only positives has no negative: loss 0, finite grad
    scores = torch.tensor([[0.3, 0.1, -0.2]], dtype=torch.float64, requires_grad=True)
    loss = info_nce(scores, torch.tensor([[3, 0, 1]]))
    assert loss.item() == pytest.approx(reference(scores.detach(), torch.tensor([[3, 0, 1]])), rel=1e-10)
    only_pos = info_nce(scores, torch.tensor([[3, 3, 2]]))
    only_pos.backward()
    assert only_pos.item() == 0.0 and torch.isfinite(scores.grad).all()


def test_all_grades_equal():
    scores, _ = make_batch(4, 4, seed=7)
    # every own passage positive, other queries' passages (grade 0) negatives
    grades = expand_grades(torch.full((4, 4), 3))
    assert info_nce(scores, grades).item() == pytest.approx(reference(scores, grades), rel=1e-10)


def test_extreme_logits_stay_finite():
    scores, grades = make_batch(8, 4, seed=9, dtype=torch.float32)
    scores = (torch.sign(scores) * 1e4).requires_grad_(True)
    loss = info_nce(scores, grades)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(scores.grad).all()


def test_registry():
    loss = build_loss("infonce", threshold=3, temperature=0.1)
    assert isinstance(loss, InfoNCELoss)
    assert loss.get_config_dict() == {"loss": "infonce", "threshold": 3, "temperature": 0.1}
