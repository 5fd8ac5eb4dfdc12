"""Catalog: bad configuration files, through ``synrank train --config`` (strict loading, before any work).

Every case must fail with exit 2 and one line naming the config file and the field, and must not
create the output folder at all (the config is checked before anything is written).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
import typing
from types import SimpleNamespace

import pytest
import yaml

from benchmarks.suites import BM25Spec, DatasetSpec, Requirements, SignificanceSpec, SuiteConfig, VariantSpec
from synrank.config import load_config_file
from synrank.synthetic.backends.base import SamplingParams
from synrank.synthetic.pipeline import GenerationConfig
from synrank.training.config import ModelConfig, SourceConfig, TrainConfig
from synrank.training.trainer import step_memory_lower_bound
from tests.reliability.harness import (
    REPO,
    assert_clean_failure,
    assert_nothing_half_written,
    run_cli_inprocess,
    run_module,
)
from tests.reliability.test_fuzz_readers import documented_ranges


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
    path = tmp_path / "cfg.yaml"
    path.write_text("learning_rate: 1e-5\nsteps: 2E3\nname: 1e5x\nint: 7\n")
    assert load_config_file(path) == {"learning_rate": 1e-5, "steps": 2000.0, "name": "1e5x", "int": 7}


# ------------------------------------------------------------------------------- round two (issue 15)
BOUNDS_CASES = [
    ("seed-negative", {"seed": -1}, "field 'seed': -1 is out of range (allowed: 0 <= seed <= 4294967295)"),
    ("seed-huge", {"seed": 99999999999999999999}, "field 'seed': 99999999999999999999 is out of range"),
    ("threads-negative", {"threads": -4}, "field 'threads': -4 is out of range (allowed: 1 <= threads <= 1024, or null)"),
    ("epochs-inf", {"epochs": "INF"}, "field 'epochs': expected a finite number, got inf"),
    ("group-size-huge", {"group_size": 1000000}, "field 'group_size': 1000000 is out of range"),
    ("max-seq-length-zero", {"model__max_seq_length": 0}, "field 'model.max_seq_length': 0 is out of range"),
    ("learning-rate-overflow", {"learning_rate": "HUGE"}, "field 'learning_rate': expected a finite number"),
    ("float-field-given-a-long-integer", {"max_grad_norm": 99999999999999999999},
     "field 'max_grad_norm': 99999999999999999999 has more digits than a floating-point number holds (it would be "
     "read as 1e+20) (write 1e+20)"),
    ("temperature-zero", {"loss_kwargs": {"temperature": 0}},
     "loss_kwargs: loss 'ws2': WassersteinLoss: temperature must be a finite number > 0, got 0"),
    ("loss-option-unknown", {"loss_kwargs": {"temprature": 0.1}}, "loss_kwargs: loss 'ws2' has no option temprature"),
    ("source-grade-huge", {"data": [{"kind": "supervised", "dataset": "scifact", "positive_grade": 5000}]},
     "field 'data[0].positive_grade': 5000 is out of range"),
]


@pytest.mark.parametrize(("changes", "expect"), [c[1:] for c in BOUNDS_CASES], ids=[c[0] for c in BOUNDS_CASES])
def test_numbers_out_of_their_documented_range(train_config, tmp_path, changes, expect):
    """``seed: -1``, ``seed: 99999999999999999999``, ``threads: -4``, ``epochs: .inf`` ended in tracebacks
    and left training_config.json behind; ``group_size: 1000000`` was accepted and grew to 16 GB."""
    path = _json_with(train_config, **changes)
    text = path.read_text().replace('"INF"', "Infinity").replace('"HUGE"', "1" + "0" * 400)
    path.write_text(text)
    out = tmp_path / "out"
    line = assert_clean_failure(run_cli_inprocess("train", "--config", path, "--output", out), str(path), expect)
    assert len(line) < 300
    assert not out.exists(), "output folder created although the config was rejected"


def test_yaml_inf_is_refused_like_json_infinity(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("name: x\nepochs: .inf\nmax_steps: 0\n", encoding="utf-8")
    assert_clean_failure(run_cli_inprocess("train", "--config", path, "--output", tmp_path / "o"),
                         "cfg.yaml: field 'epochs': expected a finite number, got inf")
    assert not (tmp_path / "o").exists()


def test_every_numeric_config_field_has_a_documented_range():
    """Every int/float field of every config schema carries a range (``bounded``), and the table in
    docs/reliability.md states exactly that range."""
    documented = documented_ranges()
    schemas = {TrainConfig: "", ModelConfig: "model.", SourceConfig: "data[].", SuiteConfig: "suite.",
               VariantSpec: "variants[].", DatasetSpec: "datasets[].", BM25Spec: "variants[].bm25.",
               SignificanceSpec: "significance.", Requirements: "requires.", SamplingParams: "generate.",
               GenerationConfig: "generate."}
    seen = set()
    for cls, prefix in schemas.items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            kinds = {hints[f.name], *typing.get_args(hints[f.name])}
            if not kinds & {int, float} or f.name in ("levels", "seeds"):  # lists, checked by their own rules
                continue
            rng = f.metadata.get("range")
            assert rng is not None, f"{cls.__name__}.{f.name} has no range"
            key = prefix + f.name
            seen.add(key)
            assert documented.get(key) == rng.describe(f.name), f"{key}: documented {documented.get(key)!r}, " \
                                                                 f"checked {rng.describe(f.name)!r}"
    assert set(documented) == seen, f"documented but not a field: {sorted(set(documented) - seen)}"


@pytest.mark.parametrize("name", ["..", ".", "", "/", "/tmp/x", "a/b", "../escape", "with space", "-rf", "x" * 101])
def test_training_name_that_would_escape_its_folder(train_config, tmp_path, monkeypatch, name):
    """``name: ..`` used to write the model into the working directory (``runs/{name}``)."""
    monkeypatch.chdir(tmp_path)
    path = train_config(name="cfg")
    cfg = json.loads(path.read_text())
    cfg["name"] = name
    path.write_text(json.dumps(cfg))
    before = sorted(p.name for p in tmp_path.iterdir())
    assert_clean_failure(run_cli_inprocess("train", "--config", path), "cfg.json: name", "is not a safe folder name",
                         "letters, digits and . _ + -")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize(("where", "expect"), [
    ("dataset", "dataset '..': results folder name '..' is not a safe folder name"),
    ("dataset-slash", "dataset '/': results folder name '' is not a safe folder name"),
    ("label", "dataset label '..' is not a safe folder name"),
    ("variant", "variant name '..' is not a safe folder name"),
])
def test_suite_names_that_would_share_or_escape_a_folder(tmp_path, where, expect):
    """``..`` as a suite dataset name put two variants' cells in one folder (cells/<variant>/..): the
    leaderboard showed one's numbers under the other's name, exit 0. Refused at load, nothing written."""
    dataset = {"dataset": "..", "dataset-slash": "/"}.get(where, "scifact")
    label = "\n    label: '..'" if where == "label" else ""
    variant = ".." if where == "variant" else "bm25"
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"name: t\nbaseline: '{variant}'\nvariants:\n  - name: '{variant}'\n    bm25: {{k1: 0.9}}\n"
                     f"datasets:\n  - name: '{dataset}'{label}\n", encoding="utf-8")
    results = tmp_path / "r"
    assert_clean_failure(run_module("benchmarks.run", "--suite", suite, "--results", results), "suite.yaml", expect)
    assert not results.exists()


def _alias_bomb(levels: int) -> str:
    lines = ["# bomb!", 'name: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    prev = "a"
    for i in range(levels):
        cur = "bcdefghijklmnop"[i]
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
        prev = cur
    return "\n".join(lines) + "\n"


def test_yaml_alias_bomb_is_refused_quickly_in_bounded_memory(tmp_path):
    """A 353-byte config gave a 39 MB error line; a 678-byte one a MemoryError after 49 s at 3.6 GB. Now:
    one short line, in a fresh process, within seconds and without growing memory."""
    path = tmp_path / "bomb.yaml"
    path.write_text(_alias_bomb(8), encoding="utf-8")
    assert path.stat().st_size == 353  # the size of the issue's bomb: 9^9 values
    big = tmp_path / "bigger.yaml"
    big.write_text(_alias_bomb(15).replace('"lol"', '"lollollollollollollollol"'), encoding="utf-8")
    code = ("import sys\nfrom synrank.config import load_config_file\n"
            "for p in sys.argv[1:]:\n    try:\n        load_config_file(p)\n    except Exception as e:\n"
            "        print(type(e).__name__, e)\n"
            "print(next(ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM')))\n")
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code, str(path), str(big)], cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=True)
    seconds = time.monotonic() - start
    *errors, maxrss_kb = proc.stdout.splitlines()
    assert len(errors) == 2 and all(e.startswith("ConfigError ") and "YAML aliases" in e for e in errors), proc.stdout
    assert all(len(e) < 300 for e in errors)
    assert seconds < 10 and int(maxrss_kb) < 100_000, (seconds, maxrss_kb)  # peak RSS of the loading process
    res = run_cli_inprocess("train", "--config", path, "--output", tmp_path / "o")
    assert_clean_failure(res, "bomb.yaml: cannot load config: the config expands to more than 100,000 values "
                              "through YAML aliases")
    recursive = tmp_path / "loop.yaml"
    recursive.write_text("name: &a [x, *a]\n", encoding="utf-8")
    assert_clean_failure(run_cli_inprocess("train", "--config", recursive), "loop.yaml: cannot load config",
                         "refers to itself")


def test_yaml_aliases_within_the_bound_still_work(tmp_path):

    path = tmp_path / "ok.yaml"
    path.write_text("base: &b {k1: 0.9, b: 0.4}\nfirst: *b\nsecond: {<<: *b, b: 0.5}\n", encoding="utf-8")
    assert load_config_file(path) == {"base": {"k1": 0.9, "b": 0.4}, "first": {"k1": 0.9, "b": 0.4},
                                      "second": {"k1": 0.9, "b": 0.5}}


def test_huge_values_are_shown_abbreviated(tmp_path):
    """Error messages never embed an unbounded value."""
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"name": ["x" * 1000] * 1000, "seed": 1}), encoding="utf-8")
    line = assert_clean_failure(run_cli_inprocess("train", "--config", path), "field 'name': expected a string")
    assert len(line) < 300


def test_memory_preflight_refuses_a_batch_that_cannot_fit(train_config, tmp_path, monkeypatch):
    """group_size x batch_size x max_seq_length is estimated (a lower bound) before training: a batch that
    cannot fit in the machine's memory is one line, and no training_config.json is written."""

    monkeypatch.setattr("synrank.training.trainer.psutil.virtual_memory", lambda: SimpleNamespace(total=8 * 2**30))
    path = _json_with(train_config, group_size=4000, batch_size=8, model__max_seq_length=65536)
    out = tmp_path / "out"
    assert_clean_failure(run_cli_inprocess("train", "--config", path, "--output", out), "TrainingError",
                         "one training step needs at least 31.3 GB but this machine has 8.0 GB of memory",
                         "batch_size 8 x (group_size 4000 + 1 query)", "lower batch_size, group_size or "
                         "model.max_seq_length")
    assert_nothing_half_written(out)
    assert not (out / "training_config.json").exists()


def test_memory_lower_bound_formula():
    """16 bytes per token (ids, mask) plus one fp32 hidden vector per layer for a transformer."""
    cfg = TrainConfig(name="x", batch_size=16, group_size=4, max_steps=0)
    transformer = [SimpleNamespace(auto_model=SimpleNamespace(config=SimpleNamespace(hidden_size=384,
                                                                                      num_hidden_layers=6)))]
    need, texts, tokens = step_memory_lower_bound(cfg, transformer)
    assert (texts, tokens) == (16 * 5, 16 * 5 * 128)
    assert need == tokens * (16 + 4 * 384 * 6)
    assert step_memory_lower_bound(cfg, [SimpleNamespace()])[0] == tokens * 16
    assert step_memory_lower_bound(cfg, transformer, world_size=2)[1] == 8 * 5
