"""ListNet-style KL divergence between the grade distribution and the score distribution."""

from __future__ import annotations

from torch import Tensor

from synrank.losses.base import RankingLoss
from synrank.losses.functional import _check_temperature, kl_divergence


class KLDivergenceLoss(RankingLoss):
    r"""KL divergence from ``softmax(grades)`` to ``softmax(scores / T)``, averaged over rows (``kl``).

    Also known as: ListNet (top-one probability) loss, list-wise softmax cross-entropy (up to the
    target's constant entropy), distillation KL.

    Inputs ``scores``/``grades`` ``[B, N]`` as for every synrank loss; the target is the same row
    distribution :class:`WassersteinLoss` uses (raw grades, in-batch negatives grade 0):

    .. math::
        \mathcal{L} = \frac1B\sum_i \sum_n Q_{in}\,(\log Q_{in} - \log P_{in}),\quad
        Q_i = \operatorname{softmax}(g_i),\ P_i = \operatorname{softmax}(s_i/T)

    Output: float64 scalar.

    Citation: Cao, Qin, Liu, Tsai & Li (2007), "Learning to Rank: From Pairwise Approach to Listwise
    Approach" (ListNet), ICML.
    """

    name = "kl"
    _config_keys = ("temperature",)

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        _check_temperature(temperature, "KLDivergenceLoss")
        self.temperature = float(temperature)

    def forward(self, scores: Tensor, grades: Tensor) -> Tensor:
        return kl_divergence(scores, grades, temperature=self.temperature)
