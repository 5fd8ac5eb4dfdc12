"""Catalog: bad configuration files, through ``synrank train --config`` (strict loading, before any work).

Every case must fail with exit 2 and one line naming the config file and the field, and must not
create the output folder at all (the config is checked before anything is written).
"""

from __future__ import annotations

import json

import pytest
import yaml

from tests.reliability.harness import assert_clean_failure, assert_nothing_half_written, run_cli_inprocess


def _json_with(train_config, **changes):
    path = train_config()
    cfg = json.loads(path.read_text())
    for dotted, value in changes.items():
        node = cfg
        *parents, last = dotted.split("__")
        for p in parents:
            node = node[p]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value
    path.write_text(json.dumps(cfg))
    return path


_DELETE = object()

CASES = [
    ("unknown-key", {"lerning_rate": 0.1}, ["unknown key(s) lerning_rate", "allowed:", "learning_rate"]),
    ("unknown-nested-key", {"model__poolin": "mean"}, ["unknown key(s) model.poolin"]),
    ("wrong-type-int", {"batch_size": "16"}, ["field 'batch_size'", "expected an integer", "'16'"]),
    ("wrong-type-bool-as-int", {"group_size": True}, ["field 'group_size'", "expected an integer"]),
    ("wrong-type-list", {"data": {"kind": "groups"}}, ["field 'data'", "expected a list"]),
    ("bad-choice", {"loss": "ws3"}, ["field 'loss'", "'ws3' is not one of"]),
    ("out-of-range", {"group_size": 0}, ["field 'group_size': 0 is out of range (allowed: 1 <= group_size <= 4096)"]),
    ("missing-required-key", {"name": _DELETE}, ["missing required key 'name'"]),
    ("source-missing-path", {"data": [{"kind": "groups"}]}, ["'groups' needs 'path'"]),
]


@pytest.mark.parametrize(("changes", "expect"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_train_config(train_config, tmp_path, changes, expect):
    path = _json_with(train_config, **changes)
    out = tmp_path / "out"
    line = assert_clean_failure(run_cli_inprocess("train", "--config", path, "--output", out), *expect)
    assert str(path) in line
    assert not out.exists(), "output folder created although the config was rejected"


def test_unparseable_yaml_names_the_line(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("name: x\nloss: ws2\nbatch_size: [1, 2\nseed: 3\n", encoding="utf-8")
    out = tmp_path / "out"
    line = assert_clean_failure(run_cli_inprocess("train", "--config", path, "--output", out), "cannot parse config")
    assert f"{path}:" in line and line.split(f"{path}:")[1][:1].isdigit(), line
    assert_nothing_half_written(out)


@pytest.mark.parametrize(("name", "text", "expect"), [
    ("cfg.ini", "[x]\n", "unknown config format '.ini'"),
    ("cfg.yaml", "- a\n- b\n", "top level must be a mapping"),
    ("cfg.toml", "name = \n", "cannot parse config"),
], ids=["unknown-format", "top-level-list", "broken-toml"])
def test_config_file_format(tmp_path, name, text, expect):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert_clean_failure(run_cli_inprocess("train", "--config", path), expect, str(path))


def test_config_file_missing(tmp_path):
    assert_clean_failure(run_cli_inprocess("train", "--config", tmp_path / "none.yaml"),
                         "none.yaml", "does not exist")


def test_override_is_checked_too(train_config, tmp_path):
    """``--max-steps -5`` goes through the same validation as the file."""
    out = tmp_path / "out"
    res = run_cli_inprocess("train", "--config", train_config(), "--max-steps", "-5", "--output", out)
    assert_clean_failure(res, "field 'max_steps': -5 is out of range (allowed: 0 <= max_steps <= 1000000000, or null)")
    assert not out.exists()


def test_duplicate_key_yaml_names_the_line(train_config, tmp_path):
    """YAML parsers keep the last of two equal keys; a half-ignored setting is an error here."""
    cfg = json.loads(train_config().read_text())
    path = tmp_path / "cfg.yaml"
    text = yaml.safe_dump(cfg, sort_keys=False)
    path.write_text(text + "learning_rate: 0.5\n", encoding="utf-8")
    out = tmp_path / "out"
    line = assert_clean_failure(run_cli_inprocess("train", "--config", path, "--output", out),
                                "duplicate key 'learning_rate'", "delete one of them")
    assert f"{path}:{len(text.splitlines()) + 1}:" in line
    assert not out.exists()


def test_duplicate_key_json(tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text('{"name": "a", "seed": 1, "seed": 2}')
    assert_clean_failure(run_cli_inprocess("train", "--config", path), "duplicate key 'seed'")


def test_nan_in_config_is_rejected(train_config, tmp_path):
    """``.nan`` passes every ``x <= 0`` range check; the loader refuses it."""
    cfg = json.loads(train_config().read_text())
    cfg["learning_rate"] = "NAN_PLACEHOLDER"
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg).replace("NAN_PLACEHOLDER", ".nan"))
    assert_clean_failure(run_cli_inprocess("train", "--config", path, "--output", tmp_path / "o"),
                         "field 'learning_rate': expected a number, got NaN")


def test_yaml_exponent_without_dot_is_a_number(tmp_path):
    """YAML 1.1 reads ``1e-5`` as a string; synrank's loader reads it as the number the user meant."""
    from synrank.config import load_config_file

    path = tmp_path / "cfg.yaml"
    path.write_text("learning_rate: 1e-5\nsteps: 2E3\nname: 1e5x\nint: 7\n")
    assert load_config_file(path) == {"learning_rate": 1e-5, "steps": 2000.0, "name": "1e5x", "int": 7}
