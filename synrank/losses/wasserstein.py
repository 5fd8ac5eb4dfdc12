"""SyCL's list-wise loss: squared 2-Wasserstein (Fréchet) distance between batch Gaussians."""

from __future__ import annotations

from torch import Tensor

from synrank.losses.base import RankingLoss
from synrank.losses.functional import WS2_EPS, _check_temperature, wasserstein2


class WassersteinLoss(RankingLoss):
    r"""Squared 2-Wasserstein distance between predicted and target relevance distributions (``ws2``).

    Also known as: the Fréchet distance between Gaussians, an "FID-style" loss; SyCL's ``WS2Loss``.

    Inputs: ``scores`` ``[B, N]`` dot products of the batch's queries with all ``N`` passages of the
    batch (``N = B*G``: each query's own ``G`` graded passages plus every other query's passages as
    in-batch negatives; under DDP the gathered global batch, see :mod:`synrank.losses.distributed`);
    ``grades`` ``[B, N]`` expanded block-diagonally (:func:`~synrank.losses.functional.expand_grades`:
    other queries' passages grade 0). Output: one float64 scalar per micro-batch.

    Formula, for ``P = softmax(scores / T)`` and ``Q = softmax(grades)`` row-wise (``T = 1`` by default;
    the target has no temperature), with ``mu`` the mean over the ``B`` rows and ``S`` the unbiased
    (``1/(B-1)``) covariance across rows, each row one sample in ``R^N``:

    .. math::
        \mathcal{L} = \lVert \mu_P - \mu_Q \rVert^2
                      + \operatorname{Tr}\bigl(\Sigma_P + \Sigma_Q - 2(\Sigma_P\Sigma_Q)^{1/2}\bigr)

    computed in float64, with ``Tr((S_P S_Q)^{1/2})`` taken from the ``B x B`` matrix
    ``(C_P C_Q^T)(C_P C_Q^T)^T`` ("FastFID" identity, Mathiasen & Hvilshøj 2020) plus ``eps = 1e-15``
    under each square root, as the reference does. ``B = 1`` raises
    :class:`~synrank.losses.functional.LossInputError` (covariance undefined). Under DDP multiply the
    loss by :func:`synrank.losses.distributed.loss_scale` (the world size), because DDP averages
    gradients across ranks while every rank computes the loss of the whole gathered batch.

    Caveat: ``mu`` and ``S`` do not change when the rows of ``scores`` are permuted, so with in-batch
    negatives a model that gives query ``i`` the scores meant for query ``j``'s group costs exactly what
    the right assignment costs; only the batch's *distribution* of score rows is matched
    (``tests/losses/test_wasserstein.py::test_blind_to_which_query_owns_which_passages``). Without
    in-batch negatives (``[B, G]`` lists) and with the same grade list in every row, ``S_Q = 0`` and the
    loss reduces to the per-row squared error ``||mu_P - q||^2 + Tr(S_P)``. The per-query losses
    (``per_query_ws``, ``kl``) have no such blind spot. ``benchmarks/tuning/ws2_lists`` measures both
    settings.

    Citation: Esfandiarpoor et al. (2025), "Beyond Contrastive
    Learning: Synthetic Data Enables List-wise Training with Multiple Levels of Relevance",
    arXiv:2503.23239 (the SyCL reference ``train.py``); Fréchet distance between Gaussians: Dowson &
    Landau (1982), Heusel et al. (2017, FID).
    """

    name = "ws2"
    _config_keys = ("temperature", "eps")

    def __init__(self, temperature: float = 1.0, eps: float = WS2_EPS) -> None:
        super().__init__()
        _check_temperature(temperature, "WassersteinLoss")
        self.temperature = float(temperature)
        self.eps = float(eps)

    def forward(self, scores: Tensor, grades: Tensor) -> Tensor:
        return wasserstein2(scores, grades, temperature=self.temperature, eps=self.eps)
