"""InfoNCE (contrastive) loss with binary labels from grades, in-batch and hard negatives."""

from __future__ import annotations

from torch import Tensor

from synrank.losses.base import RankingLoss
from synrank.losses.functional import _check_temperature, info_nce


class InfoNCELoss(RankingLoss):
    r"""InfoNCE over binarised grades (``infonce``): positive = grade >= ``threshold`` (default 2).

    Also known as: contrastive loss with in-batch negatives, NT-Xent, MultipleNegativesRankingLoss
    (sentence-transformers, ``scale = 1/temperature``).

    Inputs ``scores``/``grades`` ``[B, N]`` as for every synrank loss. Negatives of row ``i`` are its
    own passages graded below the threshold (hard negatives) and all other queries' passages
    (in-batch negatives). With ``s = scores/T``:

    .. math::
        \mathcal{L} = \operatorname{mean}_{i:\,P_i\neq\emptyset}\ \frac{1}{|P_i|}\sum_{j\in P_i}
        -\log\frac{e^{s_{ij}}}{e^{s_{ij}} + \sum_{n\in N_i} e^{s_{in}}}

    Several positives per row: every positive is contrasted with the negatives only and the row
    averages over its positives, i.e. the expectation of one-positive InfoNCE with the positive drawn
    uniformly (see :func:`synrank.losses.functional.info_nce` for why). ``temperature`` defaults to 0.05
    (sentence-transformers' scale 20, used to train all-MiniLM-L6-v2). Output: float64 scalar.

    Citation: van den Oord, Li & Vinyals (2018), "Representation Learning with Contrastive Predictive
    Coding", arXiv:1807.03748; Karpukhin et al. (2020), "Dense Passage Retrieval", EMNLP.
    """

    name = "infonce"
    _config_keys = ("threshold", "temperature")

    def __init__(self, threshold: float = 2, temperature: float = 0.05) -> None:
        super().__init__()
        _check_temperature(temperature, "InfoNCELoss")
        self.threshold = threshold
        self.temperature = float(temperature)

    def forward(self, scores: Tensor, grades: Tensor) -> Tensor:
        return info_nce(scores, grades, threshold=self.threshold, temperature=self.temperature)
