"""Retrieval losses: SyCL's Wasserstein list-wise loss, a per-query ablation, InfoNCE and KL.

Every loss is an ``nn.Module`` with ``forward(scores [B, N], grades [B, N]) -> scalar`` and
``get_config_dict()``; ``functional`` holds the same losses as functions, ``distributed`` the DDP
gather. Build one by name with :func:`build_loss` (names: :data:`LOSSES`).
"""

from __future__ import annotations

import inspect
from typing import Any

from synrank.errors import ConfigError
from synrank.losses.base import RankingLoss
from synrank.losses.info_nce import InfoNCELoss
from synrank.losses.kl_divergence import KLDivergenceLoss
from synrank.losses.per_query_wasserstein import PerQueryWassersteinLoss
from synrank.losses.wasserstein import WassersteinLoss

LOSSES: dict[str, type[RankingLoss]] = {
    "ws2": WassersteinLoss,
    "per_query_ws": PerQueryWassersteinLoss,
    "infonce": InfoNCELoss,
    "kl": KLDivergenceLoss,
}


def build_loss(name: str, **kwargs: Any) -> RankingLoss:
    """Instantiate the loss registered as ``name`` with ``kwargs`` (e.g. ``temperature=0.05``).

    Unknown names or arguments raise :class:`~synrank.errors.ConfigError` naming the valid choices.
    A ``loss`` key (as written by ``get_config_dict()``) is accepted if it equals ``name``.
    """
    if name not in LOSSES:
        raise ConfigError(f"unknown loss {name!r}", hint=f"choose one of {', '.join(sorted(LOSSES))}")
    kwargs = dict(kwargs)
    other = kwargs.pop("loss", name)
    if other != name:
        raise ConfigError(f"build_loss: name {name!r} conflicts with loss={other!r}")
    cls = LOSSES[name]
    params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise ConfigError(f"loss {name!r} has no option {', '.join(unknown)}",
                          hint=f"valid options: {', '.join(params) or 'none'}")
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise ConfigError(f"loss {name!r}: {exc}") from exc


__all__ = ["LOSSES", "build_loss", "RankingLoss", "WassersteinLoss", "PerQueryWassersteinLoss",
           "InfoNCELoss", "KLDivergenceLoss"]
