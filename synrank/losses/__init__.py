"""Retrieval losses: SyCL's Wasserstein list-wise loss, a per-query ablation, InfoNCE and KL.

Every loss is an ``nn.Module`` with ``forward(scores [B, N], grades [B, N]) -> scalar`` and
``get_config_dict()``; ``functional`` holds the same losses as functions, ``distributed`` the DDP
gather. Build one by name with :func:`build_loss`.

The registry :data:`LOSSES` is the one list of losses: each class is registered under its own ``name``
(:func:`register_loss`), and a training config accepts exactly these names, checking ``loss_kwargs``
against the registered class's constructor (:func:`loss_options`: parameter names and annotated types;
the constructor's own checks give the ranges).
"""

from __future__ import annotations

import inspect
import typing
from typing import Any

from synrank.errors import ConfigError
from synrank.losses.base import RankingLoss
from synrank.losses.info_nce import InfoNCELoss
from synrank.losses.kl_divergence import KLDivergenceLoss
from synrank.losses.per_query_wasserstein import PerQueryWassersteinLoss
from synrank.losses.wasserstein import WassersteinLoss

#: every loss by its ``name``; filled by :func:`register_loss`
LOSSES: dict[str, type[RankingLoss]] = {}


def register_loss(cls: type[RankingLoss]) -> type[RankingLoss]:
    """Add a :class:`RankingLoss` subclass to :data:`LOSSES` under its ``name`` (usable as a class decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, RankingLoss)) or not cls.name:
        raise TypeError(f"register_loss: {cls!r} is not a RankingLoss subclass with a name")
    if LOSSES.get(cls.name, cls) is not cls:
        raise ValueError(f"register_loss: a loss named {cls.name!r} is already registered ({LOSSES[cls.name]!r})")
    LOSSES[cls.name] = cls
    return cls


for _cls in (WassersteinLoss, PerQueryWassersteinLoss, InfoNCELoss, KLDivergenceLoss):
    register_loss(_cls)
del _cls


def loss_options(name: str) -> dict[str, inspect.Parameter]:
    """The options of the loss registered as ``name``: its constructor's parameters by name, each with its
    annotation resolved to a type (``Any`` where there is none)."""
    cls = _registered(name)
    try:
        hints = typing.get_type_hints(cls.__init__)
    except (NameError, TypeError):  # an annotation that does not resolve: checked by the constructor alone
        hints = {}
    return {p.name: p.replace(annotation=hints.get(p.name, Any))
            for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"}


def _registered(name: str) -> type[RankingLoss]:
    if name not in LOSSES:
        raise ConfigError(f"unknown loss {name!r}", hint=f"choose one of {', '.join(sorted(LOSSES))}")
    return LOSSES[name]


def build_loss(name: str, **kwargs: Any) -> RankingLoss:
    """Instantiate the loss registered as ``name`` with ``kwargs`` (e.g. ``temperature=0.05``).

    Unknown names or arguments raise :class:`~synrank.errors.ConfigError` naming the valid choices.
    A ``loss`` key (as written by ``get_config_dict()``) is accepted if it equals ``name``.
    """
    cls = _registered(name)
    kwargs = dict(kwargs)
    other = kwargs.pop("loss", name)
    if other != name:
        raise ConfigError(f"build_loss: name {name!r} conflicts with loss={other!r}")
    params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise ConfigError(f"loss {name!r} has no option {', '.join(unknown)}",
                          hint=f"valid options: {', '.join(params) or 'none'}")
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise ConfigError(f"loss {name!r}: {exc}") from exc


__all__ = ["LOSSES", "build_loss", "loss_options", "register_loss", "RankingLoss", "WassersteinLoss",
           "PerQueryWassersteinLoss", "InfoNCELoss", "KLDivergenceLoss"]
