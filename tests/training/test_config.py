"""The training config schema and the shipped variant configs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synrank.errors import ConfigError
from synrank.losses import LOSSES, RankingLoss, build_loss, register_loss
from synrank.training.config import config_from_dict, load_train_config

REPO = Path(__file__).resolve().parents[2]
VARIANTS = sorted((REPO / "benchmarks" / "configs" / "train").glob("*.yaml"))


def write(tmp_path, text: str) -> Path:
    p = tmp_path / "cfg.yaml"
    p.write_text(text)
    return p


def test_minimal_config_and_relative_paths(tmp_path):
    cfg = load_train_config(write(tmp_path, "name: x\ndata:\n  - {kind: groups, path: data/g.jsonl}\n"))
    assert cfg.loss == "ws2" and cfg.model.similarity == "dot" and cfg.model.pooling == "mean"
    assert cfg.data[0].path == str((tmp_path / "data" / "g.jsonl").resolve())
    assert cfg.output_dir() == Path("runs/x")


@pytest.mark.parametrize("text, field", [
    ("name: x\nlearning_rat: 0.1\n", "learning_rat"),
    ("name: x\nmodel: {bas: minilm}\nmax_steps: 0\n", "model.bas"),
    ("name: x\ndata: [{kind: groups, path: a, colour: red}]\n", "colour"),
    ("name: x\nbatch_size: '16'\ndata: [{kind: groups, path: a}]\n", "batch_size"),
    ("name: x\nloss: ws3\ndata: [{kind: groups, path: a}]\n", "loss"),
])
def test_bad_keys_and_types_name_the_field(tmp_path, text, field):
    with pytest.raises(ConfigError, match=field) as err:
        load_train_config(write(tmp_path, text))
    assert "cfg.yaml" in str(err.value)


@pytest.mark.parametrize("text, msg", [
    ("name: x\n", "at least one source"),
    ("name: x\ngroup_size: 4\ndata: [{kind: self_supervised, dataset: scifact}]\n", "group_size: 1"),
    ("name: x\ndata: [{kind: groups}]\n", "needs 'path'"),
    ("name: x\nwarmup_fraction: 1.0\ndata: [{kind: groups, path: a}]\n", "warmup_fraction"),
])
def test_semantic_checks(tmp_path, text, msg):
    with pytest.raises(ConfigError, match=msg):
        load_train_config(write(tmp_path, text))


def test_overrides_replace_top_level_keys(tmp_path):
    cfg = load_train_config(write(tmp_path, "name: x\ndata: [{kind: groups, path: a}]\n"), {"max_steps": 3})
    assert cfg.max_steps == 3


def test_variant_set_is_complete():
    names = {p.stem for p in VARIANTS}
    for base in ("minilm", "static"):
        for variant in ("base", "self-supervised", "supervised", "synthetic-infonce", "synthetic-ws2",
                        "synthetic+real-ws2", "synthetic-per-query-ws", "synthetic-kl"):
            assert f"{base}-{variant}" in names


@pytest.mark.parametrize("path", VARIANTS, ids=[p.stem for p in VARIANTS])
def test_shipped_variant_configs_load(path):
    cfg = load_train_config(path)
    assert cfg.name == path.stem
    base = path.stem.split("-", 1)[0]
    assert cfg.model.kind == ("static" if base == "static" else "sentence-transformers")
    if base == "smollm2":  # the issue-12 trial: a folder scripts/make_smollm2_encoder.py writes
        layers = path.stem.split("-")[1]
        assert Path(cfg.model.base) == REPO / "runs" / "smollm2" / layers and layers[0] == "k"
    else:
        assert cfg.model.base == "minilm"  # every suite variant starts from the same encoder


def test_deterministic_is_hashed_only_when_set():
    """R8: ``deterministic`` (default false) stays out of to_dict() so that every config hash computed
    before the key existed is unchanged; the pinned hash was computed with the config schema before it."""
    from synrank.config import from_dict
    from synrank.provenance import config_hash
    from synrank.training.config import TrainConfig
    from synrank.training.trainer import comparable_config

    raw = {"name": "pinned", "data": [{"kind": "groups", "path": "/data/groups.jsonl"}], "max_steps": 10}
    plain = from_dict(TrainConfig, raw)
    assert not plain.deterministic and "deterministic" not in plain.to_dict()
    assert config_hash(comparable_config(plain)) == "b0a29c98c6723442"
    det = from_dict(TrainConfig, {**raw, "deterministic": True})
    assert det.to_dict()["deterministic"] is True
    assert config_hash(comparable_config(det)) != config_hash(comparable_config(plain))
    assert from_dict(TrainConfig, det.to_dict()) == det


# ------------------------------------------------------------------------------- the loss registry (issue 17)
def test_every_registered_loss_is_accepted_and_nothing_else(tmp_path):
    for name in LOSSES:
        assert load_train_config(write(tmp_path, f"name: x\nmax_steps: 0\nloss: {name}\n")).loss == name
    with pytest.raises(ConfigError, match=r"cfg.yaml: field 'loss': 'ws3' is not one of \['ws2', "):
        load_train_config(write(tmp_path, "name: x\nmax_steps: 0\nloss: ws3\n"))


class _MarginLoss(RankingLoss):
    """A loss defined outside synrank (as a user's plug-in would be)."""

    name = "test_margin"
    _config_keys = ("margin", "squared")

    def __init__(self, margin: float = 1.0, squared: bool = False) -> None:
        super().__init__()
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        self.margin, self.squared = margin, squared

    def forward(self, scores, grades):  # pragma: no cover - never trained here
        raise NotImplementedError


@pytest.fixture
def margin_loss():
    register_loss(_MarginLoss)
    yield _MarginLoss
    del LOSSES[_MarginLoss.name]


def test_a_loss_added_to_the_registry_is_accepted_without_touching_another_list(tmp_path, margin_loss):
    cfg = load_train_config(write(tmp_path, "name: x\nmax_steps: 0\nloss: test_margin\n"
                                            "loss_kwargs: {margin: 0.5, squared: true}\n"))
    assert cfg.loss == "test_margin" and isinstance(build_loss(cfg.loss, **cfg.loss_kwargs), margin_loss)
    for kwargs, expect in [("{margin: yes}", "field 'loss_kwargs.margin': expected a number, got True"),
                           ("{squared: 1}", "field 'loss_kwargs.squared': expected true/false, got 1"),
                           ("{margin: -1}", "loss_kwargs: loss 'test_margin': margin must be >= 0, got -1"),
                           ("{temperature: 1}", "loss_kwargs: loss 'test_margin' has no option temperature "
                                                "(valid options: margin, squared)")]:
        with pytest.raises(ConfigError) as err:
            load_train_config(write(tmp_path, f"name: x\nmax_steps: 0\nloss: test_margin\nloss_kwargs: {kwargs}\n"))
        assert str(err.value) == f"{tmp_path / 'cfg.yaml'}: {expect}"


def test_register_loss_refuses_a_clash_and_a_non_loss(margin_loss):
    assert register_loss(margin_loss) is margin_loss  # the same class again: nothing changes
    clash = type("OtherMargin", (_MarginLoss,), {})
    with pytest.raises(ValueError, match="already registered"):
        register_loss(clash)
    with pytest.raises(TypeError):
        register_loss(dict)


# The rules of each built-in loss's options, written out here as an independent reference: a number
# is an int or float (not a boolean), finite; a temperature is a number > 0.
_OPTION_RULES = {"ws2": {"temperature": "positive", "eps": "number"}, "per_query_ws": {"temperature": "positive"},
                 "infonce": {"threshold": "number", "temperature": "positive"}, "kl": {"temperature": "positive"}}
_VALUES = st.one_of(st.floats(), st.integers(-10**6, 10**6), st.booleans(), st.none(), st.text(max_size=4),
                    st.lists(st.integers(), max_size=2))


def _bad_keys(loss: str, kwargs: dict) -> set[str]:
    rules = _OPTION_RULES[loss]
    bad = set()
    for key, value in kwargs.items():
        number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if key not in rules or not number or (rules[key] == "positive" and not value > 0):
            bad.add(key)
    return bad


@settings(max_examples=150, deadline=None)
@given(loss=st.sampled_from(sorted(_OPTION_RULES)),
       kwargs=st.dictionaries(st.sampled_from(["temperature", "eps", "threshold", "temp"]), _VALUES, max_size=3))
def test_loss_kwargs_are_checked_at_load_against_the_loss(loss, kwargs):
    """Accepted exactly when every option is one of the loss's with a valid value; otherwise one line naming
    the config file, ``loss_kwargs`` and an offending key."""
    assert set(_OPTION_RULES) == set(LOSSES)
    source = "variants/cfg.yaml"
    bad = _bad_keys(loss, kwargs)
    try:
        cfg = config_from_dict({"name": "x", "max_steps": 0, "loss": loss, "loss_kwargs": kwargs}, source=source)
    except ConfigError as exc:
        message = str(exc)
        assert bad, f"refused valid options {kwargs}: {message}"
        assert message.startswith(f"{source}: ") and "\n" not in message and "loss_kwargs" in message, message
        assert any(key in message for key in bad), message
        return
    assert not bad, f"accepted {kwargs} (bad: {sorted(bad)})"
    assert cfg.loss_kwargs == kwargs
