"""WassersteinLoss / wasserstein2 against independent float64 references (scipy sqrtm, the formula)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch

from synrank.losses import WassersteinLoss, build_loss
from synrank.losses.functional import (
    WS2_EPS,
    LossInputError,
    expand_grades,
    frechet_distance,
    wasserstein2,
)
from tests.losses.batches import make_batch


def _softmax(a: np.ndarray) -> np.ndarray:
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def scipy_w2(x: np.ndarray, y: np.ndarray) -> float:
    """Textbook Fréchet distance: N x N covariances and scipy's matrix square root."""
    mu_x, mu_y = x.mean(axis=0), y.mean(axis=0)
    s_x = np.cov(x, rowvar=False, ddof=1)
    s_y = np.cov(y, rowvar=False, ddof=1)
    with warnings.catch_warnings():  # S_x S_y is singular whenever N >= B: expected
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        root = scipy.linalg.sqrtm(s_x @ s_y)
    return float(np.sum((mu_x - mu_y) ** 2) + np.trace(s_x + s_y - 2.0 * np.real(root)))


def reference_formula(x: np.ndarray, y: np.ndarray, eps: float = WS2_EPS) -> float:
    """SyCL's computation as described in the issue: [N, B] layout, B x B matrix M, eigvals + eps."""
    xt, yt = x.T, y.T  # [N, B]
    b = xt.shape[1]
    e_x = xt - xt.mean(axis=1, keepdims=True)
    e_y = yt - yt.mean(axis=1, keepdims=True)
    fact = 1.0 / (b - 1)
    c_x, c_y = e_x * math.sqrt(fact), e_y * math.sqrt(fact)
    m = (c_x.T @ c_y) @ (c_y.T @ c_x)
    tr_sqrt = np.abs(np.sqrt(np.linalg.eigvals(m).astype(complex) + eps)).sum()
    trace = np.trace(e_x @ e_x.T * fact + e_y @ e_y.T * fact)
    return float(trace - 2 * tr_sqrt + np.sum((xt.mean(axis=1) - yt.mean(axis=1)) ** 2))


SHAPES = [(2, 2), (3, 4), (8, 4), (16, 4), (8, 8), (5, 3)]


@pytest.mark.parametrize("b,g", SHAPES)
@pytest.mark.parametrize("temperature", [1.0, 0.3])
def test_matches_scipy_sqrtm(b, g, temperature):
    scores, grades = make_batch(b, g, seed=b * 100 + g, scale=2.0)
    ours = wasserstein2(scores, grades, temperature=temperature, eps=0.0).item()
    pred = _softmax(scores.numpy() / temperature)
    target = _softmax(grades.numpy().astype(np.float64))
    ref = scipy_w2(pred, target)
    assert ours == pytest.approx(ref, rel=1e-6, abs=1e-12)
    # default eps: within its documented bias 2 * B * sqrt(eps)
    biased = wasserstein2(scores, grades, temperature=temperature).item()
    assert abs(biased - ref) <= 2 * b * math.sqrt(WS2_EPS) + 1e-12


@pytest.mark.parametrize("b,g", SHAPES)
def test_matches_reference_formula_with_eps(b, g):
    scores, grades = make_batch(b, g, seed=7 + b + g)
    pred = _softmax(scores.numpy())
    target = _softmax(grades.numpy().astype(np.float64))
    ours = wasserstein2(scores, grades).item()
    assert ours == pytest.approx(reference_formula(pred, target), rel=1e-6, abs=1e-10)


def test_random_gaussian_samples_against_scipy():
    """Not just softmax rows: arbitrary samples with N < B and N > B."""
    gen = np.random.default_rng(3)
    for b, n in [(10, 4), (4, 10), (6, 6)]:
        x, y = gen.normal(size=(b, n)), gen.normal(size=(b, n)) * 2 + 1
        ours = frechet_distance(torch.from_numpy(x), torch.from_numpy(y), eps=0.0).item()
        assert ours == pytest.approx(scipy_w2(x, y), rel=1e-6)


def test_identical_distributions_give_zero():
    scores, grades = make_batch(8, 4, seed=1)
    x = torch.softmax(scores, dim=1)
    assert frechet_distance(x, x.clone(), eps=0.0).item() == pytest.approx(0.0, abs=1e-12)
    assert abs(frechet_distance(x, x.clone()).item()) < 2 * 8 * math.sqrt(WS2_EPS)
    # scores equal to the grades (T = 1): prediction equals target
    assert abs(wasserstein2(grades.double(), grades).item()) < 1e-6


def test_pure_mean_shift_gives_squared_distance():
    gen = np.random.default_rng(5)
    x = gen.normal(size=(12, 6))
    shift = gen.normal(size=6)
    got = frechet_distance(torch.from_numpy(x), torch.from_numpy(x + shift), eps=0.0).item()
    assert got == pytest.approx(float(np.sum(shift**2)), rel=1e-9)


def test_gradcheck_float64():
    scores, grades = make_batch(4, 3, seed=11)
    scores.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda s: wasserstein2(s, grades), (scores,), eps=1e-6, atol=1e-7)
    assert torch.autograd.gradcheck(lambda s: wasserstein2(s, grades, temperature=0.5, eps=0.0),
                                    (scores,), eps=1e-6, atol=1e-7)


def test_in_group_permutation_invariance():
    b, g = 6, 4
    gen = torch.Generator().manual_seed(2)
    scores = torch.randn(b, b * g, generator=gen, dtype=torch.float64)
    group_grades = torch.randint(0, 4, (b, g), generator=gen)
    group_grades[:, :2] = 3  # ties inside groups
    perm = torch.cat([i * g + torch.randperm(g, generator=gen) for i in range(b)])
    grades = expand_grades(group_grades)
    base = wasserstein2(scores, grades)
    permuted = wasserstein2(scores[:, perm], grades[:, perm])
    assert permuted.item() == pytest.approx(base.item(), rel=1e-9, abs=1e-12)


def test_blind_to_which_query_owns_which_passages():
    """A property of SyCL's batch-level loss, not a bug of ours: mean and covariance across the batch's
    rows do not change when rows are permuted, so with in-batch negatives a retriever that gives every
    query the scores of *another* query's group costs exactly what the right one costs (here 0), while
    the per-query losses charge for it. Without in-batch negatives and with equal grade lists in every
    row, ws2 reduces to a per-row squared error (checked below against the float64 formula)."""
    b, g = 8, 4
    grades = expand_grades(torch.tensor([[3.0, 2.0, 1.0, 0.0]] * b, dtype=torch.float64))
    right, swapped = grades.clone(), torch.roll(grades, 1, dims=0)
    assert wasserstein2(right, grades).item() == pytest.approx(0.0, abs=1e-6)
    assert wasserstein2(swapped, grades).item() == pytest.approx(0.0, abs=1e-6)
    for name in ("per_query_ws", "kl"):
        loss = build_loss(name, temperature=1.0)
        assert loss(swapped, grades).item() > 0.5 > loss(right, grades).item()

    gen = torch.Generator().manual_seed(4)
    lists = torch.randn(b, g, generator=gen, dtype=torch.float64)
    target = torch.tensor([[3.0, 2.0, 1.0, 0.0]] * b, dtype=torch.float64)
    p, q = _softmax(lists.numpy()), _softmax(target.numpy())
    # constant target rows: ||mean(P) - q||^2 + tr(cov(P)) with the unbiased covariance
    expected = float(((p.mean(0) - q[0]) ** 2).sum() + np.trace(np.cov(p, rowvar=False)))
    assert wasserstein2(lists, target, eps=0.0).item() == pytest.approx(expected, rel=1e-9)


def test_batch_of_one_is_a_clear_error():
    scores, grades = make_batch(1, 4)
    with pytest.raises(LossInputError, match="at least 2 queries"):
        wasserstein2(scores, grades)
    with pytest.raises(ValueError):
        WassersteinLoss()(scores, grades)


def test_all_grades_equal():
    b, g = 5, 4
    scores, _ = make_batch(b, g, seed=4)
    scores.requires_grad_(True)
    grades = expand_grades(torch.full((b, g), 2))
    loss = wasserstein2(scores, grades)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(scores.grad).all()
    pred = _softmax(scores.detach().numpy())
    ref = scipy_w2(pred, _softmax(grades.numpy().astype(np.float64)))
    assert loss.item() == pytest.approx(ref, abs=2 * b * math.sqrt(WS2_EPS))
    # all zero grades: the target is uniform in every row, its covariance vanishes
    zero = expand_grades(torch.zeros((b, g), dtype=torch.long))
    loss0 = wasserstein2(scores, zero)
    assert torch.isfinite(loss0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_extreme_logits_stay_finite(dtype):
    scores, grades = make_batch(8, 4, seed=9, dtype=dtype)
    scores = (torch.sign(scores) * 1e4).requires_grad_(True)
    loss = wasserstein2(scores, grades)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(scores.grad).all()
    assert scores.grad.dtype == dtype


def test_module_registry_and_config():
    loss = build_loss("ws2", temperature=0.5)
    assert isinstance(loss, WassersteinLoss)
    assert loss.get_config_dict() == {"loss": "ws2", "temperature": 0.5, "eps": WS2_EPS}
    rebuilt = build_loss("ws2", **loss.get_config_dict())
    assert rebuilt.get_config_dict() == loss.get_config_dict()
    scores, grades = make_batch(4, 2)
    assert loss(scores, grades).item() == pytest.approx(wasserstein2(scores, grades, 0.5).item())


def test_float32_input_matches_float64():
    scores, grades = make_batch(16, 4, seed=12)
    assert wasserstein2(scores.float(), grades).item() == pytest.approx(
        wasserstein2(scores, grades).item(), rel=1e-5)


def _reference_formula_torch(scores: torch.Tensor, grades: torch.Tensor) -> torch.Tensor:
    """The issue's description in torch, with general eigvals of M + eps: value and gradient oracle."""
    pred = torch.softmax(scores, dim=1).T  # [N, B]
    target = torch.softmax(grades.double(), dim=1).T
    b = pred.shape[1]
    e_p = pred - pred.mean(dim=1, keepdim=True)
    e_t = target - target.mean(dim=1, keepdim=True)
    c_p, c_t = e_p / math.sqrt(b - 1), e_t / math.sqrt(b - 1)
    m = (c_p.T @ c_t) @ (c_t.T @ c_p)
    tr_sqrt = (torch.linalg.eigvals(m) + WS2_EPS).sqrt().abs().sum()
    mean_term = (pred.mean(dim=1) - target.mean(dim=1)).pow(2).sum()
    return mean_term + (c_p.pow(2).sum() + c_t.pow(2).sum()) - 2 * tr_sqrt


@pytest.mark.parametrize("b,g", [(4, 3), (16, 4), (32, 8)])
def test_gradient_matches_reference_formula(b, g):
    scores, grades = make_batch(b, g, seed=b + g)
    scores.requires_grad_(True)
    ours = wasserstein2(scores, grades)
    (g_ours,) = torch.autograd.grad(ours, scores)
    ref = _reference_formula_torch(scores, grades)
    (g_ref,) = torch.autograd.grad(ref, scores)
    assert ours.item() == pytest.approx(ref.item(), rel=1e-8)
    torch.testing.assert_close(g_ours, g_ref, rtol=1e-6, atol=1e-9 * g_ref.abs().max().item())
