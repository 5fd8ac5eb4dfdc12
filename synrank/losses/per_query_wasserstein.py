"""Ablation: mean per-query 1-D Wasserstein-1 distance over grade levels."""

from __future__ import annotations

from torch import Tensor

from synrank.losses.base import RankingLoss
from synrank.losses.functional import _check_temperature, per_query_wasserstein


class PerQueryWassersteinLoss(RankingLoss):
    r"""ABLATION (not SyCL's loss): each query's own 1-D Wasserstein-1 distance, averaged (``per_query_ws``).

    Also known as: ordinal earth mover's distance (EMD) loss. SyCL's :class:`WassersteinLoss` compares
    Gaussians fitted *across* the batch's queries; this ablation keeps the same predicted and target
    distributions per row (``P = softmax(scores/T)``, ``Q = softmax(grades)``, all ``N`` columns of
    the row, so in-batch negatives count as grade 0) but measures each query's own distance, on the
    real line of grade values:

    .. math::
        \mathcal{L} = \frac1B \sum_i \sum_k (l_{k+1}-l_k)\,
                      \bigl| P_i(g \le l_k) - Q_i(g \le l_k) \bigr|

    with ``l_1 < ... < l_K`` the distinct grades in the batch. Passages sit at their grade, not at a
    list position, so the loss does not depend on the order of passages within a group (not even
    among equal grades). Inputs ``scores``/``grades`` ``[B, N]`` as for every synrank loss; ``B = 1``
    is fine; a batch with a single distinct grade gives 0. Output: float64 scalar.

    Citation: 1-D Wasserstein as a CDF difference, Villani (2009) "Optimal Transport", Remark 2.19;
    EMD losses on ordered classes, Hou, Yu & Samaras (2016), arXiv:1611.05916; Wasserstein losses for
    learning, Frogner et al. (2015), NeurIPS.
    """

    name = "per_query_ws"
    _config_keys = ("temperature",)

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        _check_temperature(temperature, "PerQueryWassersteinLoss")
        self.temperature = float(temperature)

    def forward(self, scores: Tensor, grades: Tensor, mask: Tensor | None = None) -> Tensor:
        return per_query_wasserstein(scores, grades, temperature=self.temperature, mask=mask)
