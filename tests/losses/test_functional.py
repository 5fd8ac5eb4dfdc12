"""Batch-assembly helpers and input validation shared by all losses."""

from __future__ import annotations

import pytest
import torch

from synrank.errors import TrainingError
from synrank.losses.functional import (
    LossInputError,
    expand_grades,
    group_mask,
    in_batch_scores,
    info_nce,
    kl_divergence,
    per_query_wasserstein,
    wasserstein2,
)

ALL = [wasserstein2, per_query_wasserstein, info_nce, kl_divergence]


def test_expand_grades_is_block_diagonal_like_the_reference():
    grades = torch.tensor([[3, 1], [2, 0], [1, 1]])
    expected = torch.block_diag(*torch.chunk(grades, 3))  # the reference's own construction
    assert torch.equal(expand_grades(grades), expected)
    assert expand_grades(grades).shape == (3, 6)


def test_expand_grades_with_offset_for_local_queries():
    grades = torch.tensor([[3, 1], [2, 0]])
    out = expand_grades(grades, n_total_cols=8, offset=4)  # rank 1 of 2
    assert out.tolist() == [[0, 0, 0, 0, 3, 1, 0, 0], [0, 0, 0, 0, 0, 0, 2, 0]]
    with pytest.raises(LossInputError, match="do not fit"):
        expand_grades(grades, n_total_cols=6, offset=4)


def test_group_mask_and_scores():
    mask = group_mask(2, 3)
    assert mask.dtype == torch.bool and mask.sum().item() == 6 and bool(mask[1, 3:].all())
    q, p = torch.randn(2, 5), torch.randn(6, 5)
    assert torch.allclose(in_batch_scores(q, p), torch.einsum("qd,pd->qp", q, p))


@pytest.mark.parametrize("fn", ALL)
def test_shape_errors_are_clear(fn):
    scores = torch.randn(3, 6)
    with pytest.raises(LossInputError, match="differs from scores shape"):
        fn(scores, torch.zeros(3, 2))
    with pytest.raises(LossInputError, match="2-D"):
        fn(scores.flatten(), torch.zeros(18))
    with pytest.raises(LossInputError, match="floating point"):
        fn(torch.ones(3, 6, dtype=torch.long), torch.ones(3, 6))
    with pytest.raises(LossInputError, match="temperature"):
        fn(scores, expand_grades(torch.full((3, 2), 3)), temperature=0.0)


def test_loss_input_error_is_a_training_error_and_value_error():
    assert issubclass(LossInputError, TrainingError) and issubclass(LossInputError, ValueError)
