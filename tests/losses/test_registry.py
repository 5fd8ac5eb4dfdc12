"""LOSSES registry and build_loss: names, options, config round trip, clear errors."""

from __future__ import annotations

import pytest
import torch

from synrank.errors import ConfigError
from synrank.losses import LOSSES, RankingLoss, build_loss
from tests.losses.batches import make_batch


def test_registry_names_match_the_interface():
    assert set(LOSSES) == {"ws2", "per_query_ws", "infonce", "kl"}
    for name, cls in LOSSES.items():
        assert cls.name == name and issubclass(cls, RankingLoss)
        doc = cls.__doc__ or ""
        assert "Citation" in doc and "known as" in doc, name


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_config_round_trip_and_forward(name):
    loss = build_loss(name)
    config = loss.get_config_dict()
    assert config["loss"] == name
    rebuilt = build_loss(config["loss"], **config)
    assert rebuilt.get_config_dict() == config
    scores, grades = make_batch(4, 3, seed=1, dtype=torch.float32)
    value = rebuilt(scores, grades)
    assert value.dim() == 0 and torch.isfinite(value)


def test_unknown_name_and_option_are_config_errors():
    with pytest.raises(ConfigError, match="unknown loss 'ws3'.*infonce, kl, per_query_ws, ws2"):
        build_loss("ws3")
    with pytest.raises(ConfigError, match="no option temp.*valid options: temperature, eps"):
        build_loss("ws2", temp=1.0)
    with pytest.raises(ConfigError, match="temperature must be a finite number > 0"):
        build_loss("kl", temperature=-1.0)
    with pytest.raises(ConfigError, match="conflicts"):
        build_loss("kl", loss="ws2")
