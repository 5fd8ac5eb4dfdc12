"""Common base of synrank's loss modules: the ``forward(scores, grades)`` contract and config export."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn


class RankingLoss(nn.Module):
    """A loss over a batch's score matrix and its block-diagonally expanded grades.

    Subclasses set ``name`` (the registry key) and ``_config_keys`` (constructor arguments exported by
    :meth:`get_config_dict`, which also records the loss name so a config can rebuild it with
    :func:`synrank.losses.build_loss`).
    """

    name: str = ""
    _config_keys: tuple[str, ...] = ()

    def forward(self, scores: Tensor, grades: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config_dict(self) -> dict[str, Any]:
        return {"loss": self.name, **{key: getattr(self, key) for key in self._config_keys}}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={getattr(self, k)!r}" for k in self._config_keys)
