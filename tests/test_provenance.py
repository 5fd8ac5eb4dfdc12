"""synrank.provenance: stable config hashes, timings, cheap environment capture."""

from __future__ import annotations

import subprocess
import sys

from synrank.provenance import Timings, canonical_json, config_hash, environment, package_versions
from tests.reliability.harness import REPO


def test_config_hash_ignores_key_order_and_sees_values():
    a = {"model": {"base": "minilm", "dim": 384}, "lr": 1e-5, "tags": [1, 2]}
    b = {"tags": [1, 2], "lr": 1e-5, "model": {"dim": 384, "base": "minilm"}}
    assert config_hash(a) == config_hash(b) and len(config_hash(a)) == 16
    assert config_hash({**a, "lr": 2e-5}) != config_hash(a)
    assert config_hash({**a, "tags": [2, 1]}) != config_hash(a)  # list order matters
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'


def test_timings_accumulate():
    t = Timings()
    with t.measure("x"):
        pass
    with t.measure("x"):
        pass
    assert set(t) == {"x"} and t["x"] >= 0


def test_environment_records_versions():
    env = environment()
    assert env["versions"]["python"] and "numpy" in package_versions()
    assert {"platform", "cpu_count", "cpu_model"} <= set(env["hardware"])


def test_hardware_names_the_vector_extensions_once_torch_is_loaded():
    import torch

    # An AVX2-only CPU runs bf16 tens of times slower than one with AVX-512: results must say which ran.
    assert environment()["hardware"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()


def test_hardware_does_not_import_torch():
    """`synrank evaluate --run` must not pay the seconds of importing torch just to describe the machine."""
    code = "import sys; from synrank.provenance import environment; environment(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
