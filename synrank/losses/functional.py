"""Functional forms of synrank's list-wise and contrastive retrieval losses.

Every loss takes

* ``scores``: ``Tensor[B, N]``, the similarity of each of the batch's ``B`` queries with each of the
  ``N`` passages in the batch (in SyCL's setup ``N = B * G``: every query's own group of ``G`` graded
  passages, plus every other query's passages as in-batch negatives; under DDP all ranks' queries and
  passages, see :mod:`synrank.losses.distributed`);
* ``grades``: ``Tensor[B, N]``, the relevance grade of each passage *for that query*, already expanded
  block-diagonally by :func:`expand_grades` (a query's own passages carry their grade, every other
  query's passages grade 0),

and returns one scalar. All statistics are computed in float64 (the cost is negligible next to the
encoder; see ``benchmarks/bench_losses.py``), so the result is float64 whatever the input dtype;
gradients flow back to ``scores`` in its own dtype.

Invalid input raises :class:`LossInputError` (a :class:`~synrank.errors.TrainingError` and a
:class:`ValueError`), naming the argument and what to do.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from synrank.errors import TrainingError

#: Added to the eigenvalues of the small B x B matrix before the square root, exactly as SyCL's
#: reference ``WS2Loss`` does (it keeps the gradient of sqrt finite at zero eigenvalues).
WS2_EPS = 1e-15


class LossInputError(TrainingError, ValueError):
    """A loss received tensors it cannot use (wrong shape, too few rows, no positives, ...)."""


def _check_pair(scores: Tensor, grades: Tensor, name: str, min_rows: int = 1) -> None:
    if not isinstance(scores, Tensor) or not isinstance(grades, Tensor):
        raise LossInputError(f"{name}: scores and grades must be torch tensors, got "
                             f"{type(scores).__name__} and {type(grades).__name__}")
    if scores.dim() != 2:
        raise LossInputError(f"{name}: scores must be 2-D [queries, passages], got shape {tuple(scores.shape)}",
                             hint="build them as query_emb @ passage_emb.T")
    if grades.shape != scores.shape:
        raise LossInputError(f"{name}: grades shape {tuple(grades.shape)} differs from scores shape "
                             f"{tuple(scores.shape)}",
                             hint="expand per-group grades [B, G] with synrank.losses.functional.expand_grades")
    if not scores.is_floating_point():
        raise LossInputError(f"{name}: scores must be floating point, got {scores.dtype}")
    if scores.shape[1] == 0:
        raise LossInputError(f"{name}: scores have no passage column")
    if not bool(torch.isfinite(scores.detach()).all()):
        raise LossInputError(f"{name}: scores contain NaN or infinity",
                             hint="the model's weights or embeddings diverged; lower the learning rate, "
                                  "enable gradient clipping, or resume from an earlier checkpoint")
    if scores.shape[0] < min_rows:
        raise LossInputError(
            f"{name}: needs at least {min_rows} queries per batch, got {scores.shape[0]}",
            hint="the loss fits a Gaussian across the batch's queries, whose covariance is undefined for "
                 "one query; use a (global) batch size of at least 2 and drop a last batch of size 1")


def _check_temperature(temperature: float, name: str) -> None:
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise LossInputError(f"{name}: temperature must be a finite number > 0, got {temperature!r}")


# ---------------------------------------------------------------------------------------------------
# batch assembly
# ---------------------------------------------------------------------------------------------------

def expand_grades(grades: Tensor, n_total_cols: int | None = None, offset: int = 0) -> Tensor:
    """Expand per-group grades ``[B, G]`` to the block-diagonal ``[B, N]`` layout of the score matrix.

    Row ``i``'s own passages occupy columns ``offset + i*G ... offset + (i+1)*G - 1``; every other
    column (other queries' passages, used as in-batch negatives) gets grade 0, exactly like the
    reference's ``torch.block_diag(*torch.chunk(label, B))``. ``n_total_cols`` defaults to ``B*G``
    (the gathered, full-batch case, ``offset=0``). With local queries scored against gathered passages,
    pass ``n_total_cols = world_size*B*G`` and ``offset = rank*B*G``.
    """
    if grades.dim() != 2:
        raise LossInputError(f"expand_grades: grades must be 2-D [queries, group_size], got shape "
                             f"{tuple(grades.shape)}")
    b, g = grades.shape
    n = b * g if n_total_cols is None else int(n_total_cols)
    if offset < 0 or offset + b * g > n:
        raise LossInputError(f"expand_grades: {b} groups of {g} passages at column offset {offset} do not "
                             f"fit in {n} columns")
    out = grades.new_zeros((b, n))
    cols = offset + torch.arange(b, device=grades.device).unsqueeze(1) * g + torch.arange(g, device=grades.device)
    out.scatter_(1, cols, grades)
    return out


def group_mask(n_queries: int, group_size: int, n_total_cols: int | None = None, offset: int = 0,
               device: torch.device | str | None = None) -> Tensor:
    """Boolean ``[B, N]`` mask of each query's own passages (same layout as :func:`expand_grades`)."""
    ones = torch.ones((n_queries, group_size), dtype=torch.bool, device=device)
    return expand_grades(ones, n_total_cols, offset)


def in_batch_scores(query_emb: Tensor, passage_emb: Tensor) -> Tensor:
    """Dot-product scores ``[B, N]`` of ``B`` query embeddings against ``N`` passage embeddings.

    No normalisation, as in the reference (MiniLM's own Normalize module makes them cosines).
    """
    return query_emb @ passage_emb.transpose(0, 1)


# ---------------------------------------------------------------------------------------------------
# 2-Wasserstein (Fréchet) distance between Gaussians fitted across the batch  (SyCL's loss)
# ---------------------------------------------------------------------------------------------------

def frechet_distance(x: Tensor, y: Tensor, eps: float = WS2_EPS) -> Tensor:
    """Squared 2-Wasserstein distance between Gaussians fitted to the rows of ``x`` and of ``y``.

    ``x``, ``y``: ``[B, N]``, each row one sample in ``R^N``. With row means ``mu`` and unbiased
    covariances ``S = (X - mu)^T (X - mu) / (B - 1)``::

        W2^2 = ||mu_x - mu_y||^2 + Tr(S_x) + Tr(S_y) - 2 Tr((S_x S_y)^{1/2})

    ``Tr((S_x S_y)^{1/2})`` is computed without any ``N x N`` matrix ("FastFID", Mathiasen & Hvilshøj
    2020, arXiv:2009.14075): with ``C = (X - mu) / sqrt(B-1)`` (``[B, N]``), ``S_x S_y = C_x^T (C_x C_y^T)
    C_y`` has the same non-zero eigenvalues as the ``B x B`` matrix ``M = A A^T``, ``A = C_x C_y^T``, and
    the trace of the square root is ``sum_i sqrt(lambda_i(M) + eps)``. The eigenvalues of ``M = A A^T``
    are the squared singular values of ``A``; we take them from ``torch.linalg.svdvals(A)``, which is the
    same quantity as the reference's ``eigvals(M)`` but keeps full float64 precision near zero (the
    reference adds ``eps`` and takes ``|sqrt(.)|`` to survive tiny negative or complex eigenvalues that
    squared singular values never produce) and has a bounded gradient ``sigma/sqrt(sigma^2+eps)``.

    ``eps`` (default 1e-15, the reference's) biases the value by ``-2 * sum_i (sqrt(lambda_i + eps) -
    sqrt(lambda_i))``, at most ``2 * B * sqrt(eps) ~ 6.3e-8 * B``; pass ``eps=0`` for the exact distance
    (for measuring: its gradient is then only a subgradient, as ``M`` always has a zero eigenvalue).
    Computed in float64; returns a 0-d float64 tensor.
    """
    if x.shape != y.shape or x.dim() != 2:
        raise LossInputError(f"frechet_distance: x and y must both be [B, N], got {tuple(x.shape)} and "
                             f"{tuple(y.shape)}")
    b = x.shape[0]
    if b < 2:
        raise LossInputError(f"frechet_distance: needs at least 2 rows (samples), got {b}",
                             hint="the covariance of a single sample is undefined")
    x = x.double()
    y = y.double()
    mu_x = x.mean(dim=0)
    mu_y = y.mean(dim=0)
    scale = 1.0 / math.sqrt(b - 1)
    c_x = (x - mu_x) * scale
    c_y = (y - mu_y) * scale
    mean_term = (mu_x - mu_y).pow(2).sum()
    trace_term = c_x.pow(2).sum() + c_y.pow(2).sum()  # Tr(S_x) + Tr(S_y)
    sigma = torch.linalg.svdvals(c_x @ c_y.transpose(0, 1))  # sqrt of the eigenvalues of M = A A^T
    # eps = 0: sum of singular values (its gradient U V^T stays finite where sigma = 0)
    tr_sqrt = torch.sqrt(sigma.pow(2) + eps).sum() if eps > 0 else sigma.sum()
    return mean_term + trace_term - 2.0 * tr_sqrt


def wasserstein2(scores: Tensor, grades: Tensor, temperature: float = 1.0, eps: float = WS2_EPS) -> Tensor:
    """SyCL's list-wise loss: squared 2-Wasserstein distance between predicted and target rows.

    ``pred = softmax(scores / temperature)`` and ``target = softmax(grades)`` row-wise (grades raw,
    no temperature; other queries' passages grade 0 after :func:`expand_grades`), then
    :func:`frechet_distance` ``(pred, target)``: a Gaussian is fitted across the batch's ``B`` rows of
    each, and their closed-form squared W2 ("Fréchet distance", the FID formula) is one scalar for the
    micro-batch. Needs ``B >= 2`` (raises :class:`LossInputError` otherwise; the reference silently
    uses a zero covariance for one row, which makes the loss a plain squared mean difference).

    Differences from the reference, all at rounding level: the softmaxes are taken in float64 (the
    reference takes the prediction's softmax in the scores' dtype and converts to float64 after), and
    the eigenvalues come from ``svdvals`` (see :func:`frechet_distance`); the tests check agreement with
    a transcription of the reference formula to ``rtol 1e-6``. See
    :class:`synrank.losses.WassersteinLoss` for the citation.
    """
    _check_pair(scores, grades, "wasserstein2", min_rows=2)
    _check_temperature(temperature, "wasserstein2")
    pred = torch.softmax(scores.double() / temperature, dim=1)
    target = torch.softmax(grades.double(), dim=1)
    return frechet_distance(pred, target, eps=eps)


# ---------------------------------------------------------------------------------------------------
# per-query 1-D Wasserstein (ablation)
# ---------------------------------------------------------------------------------------------------

def per_query_wasserstein(scores: Tensor, grades: Tensor, temperature: float = 1.0,
                          mask: Tensor | None = None) -> Tensor:
    """Mean over queries of the 1-D Wasserstein-1 distance between predicted and target distributions.

    Ablation of :func:`wasserstein2` that compares each query's own two distributions instead of
    Gaussians fitted across the batch. Per row: ``p = softmax(scores/temperature)``, ``t =
    softmax(grades)`` (over the columns where ``mask`` is true; all columns by default, i.e. the very
    distributions :func:`wasserstein2` compares). The passages are placed on the real line at their
    grade, so both become distributions over grade levels (the mass of a level is the summed probability
    of its passages) and::

        W1(p, t) = sum_k (l_{k+1} - l_k) * |P(grade <= l_k) - T(grade <= l_k)|

    over the sorted distinct grade values ``l_1 < ... < l_K`` present in the batch. Putting passages at
    their grade (instead of at list positions) makes the loss invariant to the order of passages inside
    a group, including among equal grades, and makes moving mass from grade 3 to grade 0 cost three
    times as much as to grade 2 (an ordinal "earth mover's distance"). A batch with a single distinct
    grade gives 0 (no ordering information). Returns a 0-d float64 tensor.
    """
    _check_pair(scores, grades, "per_query_wasserstein")
    _check_temperature(temperature, "per_query_wasserstein")
    s = scores.double() / temperature
    g = grades.double()
    if mask is not None:
        if mask.shape != scores.shape or mask.dtype != torch.bool:
            raise LossInputError(f"per_query_wasserstein: mask must be a bool tensor of shape "
                                 f"{tuple(scores.shape)}, got {mask.dtype} {tuple(mask.shape)}")
        if not bool(mask.any(dim=1).all()):
            raise LossInputError("per_query_wasserstein: a row of mask selects no passage")
        s = s.masked_fill(~mask, float("-inf"))
        g = g.masked_fill(~mask, float("-inf"))
    p = torch.softmax(s, dim=1)
    t = torch.softmax(g, dim=1)
    levels = torch.unique(grades.double() if mask is None else grades.double()[mask])  # sorted
    if levels.numel() < 2:
        return (p * 0.0).sum()
    below = (grades.double().unsqueeze(-1) <= levels[:-1]).to(p.dtype)  # [B, N, K-1]
    cdf_p = torch.einsum("bn,bnk->bk", p, below)
    cdf_t = torch.einsum("bn,bnk->bk", t, below)
    gaps = levels[1:] - levels[:-1]
    return ((cdf_p - cdf_t).abs() * gaps).sum(dim=1).mean()


# ---------------------------------------------------------------------------------------------------
# InfoNCE with several positives per row
# ---------------------------------------------------------------------------------------------------

def info_nce(scores: Tensor, grades: Tensor, threshold: float = 2, temperature: float = 0.05) -> Tensor:
    """InfoNCE with binary labels: positive = grade >= ``threshold``, everything else a negative.

    Negatives are the query's own low-grade ("hard") passages and all other queries' passages
    (in-batch negatives, grade 0 after :func:`expand_grades`). With ``s = scores / temperature``, ``P_i``
    the positives and ``N_i`` the negatives of row ``i``::

        loss_i = mean_{j in P_i} [ -s_ij + log( exp(s_ij) + sum_{n in N_i} exp(s_in) ) ]
        loss   = mean over rows with at least one positive

    Several positives: each positive is contrasted with the negatives only, never with the other
    positives, and the row averages over its positives. This is exactly the expectation of the usual
    one-positive InfoNCE (DPR, Karpukhin et al. 2020; Tevatron) when one of the query's positives is
    drawn uniformly per step, so a query's weight does not grow with its number of positives and two
    relevant passages are never pushed apart. (The alternative ``-log sum_{j in P} softmax_j``, MIL-NCE,
    is satisfied by putting all mass on one positive.) Rows without a positive are skipped; a batch
    with none raises :class:`LossInputError`. Returns a 0-d float64 tensor.
    """
    _check_pair(scores, grades, "info_nce")
    _check_temperature(temperature, "info_nce")
    s = scores.double() / temperature
    pos = grades >= threshold
    has_pos = pos.any(dim=1)
    if not bool(has_pos.any()):
        raise LossInputError(f"info_nce: no passage in the batch has grade >= threshold {threshold}",
                             hint="lower the threshold or check the grades of the training groups")
    neg_inf = torch.tensor(float("-inf"), dtype=s.dtype, device=s.device)
    neg_lse = torch.logsumexp(torch.where(pos, neg_inf, s), dim=1, keepdim=True)  # [B, 1]
    # a row with no negative has neg_lse = -inf: keep the arithmetic finite, its loss is 0 anyway
    has_neg = torch.isfinite(neg_lse)
    neg_lse = torch.where(has_neg, neg_lse, torch.zeros_like(neg_lse))
    denom = torch.where(has_neg, torch.logaddexp(s, neg_lse), s)  # log(exp(s_ij) + sum_neg exp)
    per_pos = torch.where(pos, denom - s, torch.zeros_like(s))
    n_pos = pos.sum(dim=1)
    row_loss = per_pos.sum(dim=1) / n_pos.clamp_min(1)
    return row_loss[has_pos].mean()


# ---------------------------------------------------------------------------------------------------
# KL divergence (ListNet-style)
# ---------------------------------------------------------------------------------------------------

def kl_divergence(scores: Tensor, grades: Tensor, temperature: float = 1.0) -> Tensor:
    """ListNet-style list-wise loss: ``mean_i KL(softmax(grades_i) || softmax(scores_i / temperature))``.

    Target and prediction are the same row distributions :func:`wasserstein2` uses (raw grades, other
    queries' passages grade 0); the KL differs from ListNet's top-one cross-entropy (Cao et al. 2007)
    only by the target's entropy, a constant, so the gradients are identical. Averaged over rows
    ("batchmean"). Returns a 0-d float64 tensor.
    """
    _check_pair(scores, grades, "kl_divergence")
    _check_temperature(temperature, "kl_divergence")
    log_p = torch.log_softmax(scores.double() / temperature, dim=1)
    log_t = torch.log_softmax(grades.double(), dim=1)
    return (log_t.exp() * (log_t - log_p)).sum(dim=1).mean()


__all__ = [
    "WS2_EPS", "LossInputError", "expand_grades", "group_mask", "in_batch_scores", "frechet_distance",
    "wasserstein2", "per_query_wasserstein", "info_nce", "kl_divergence",
]
