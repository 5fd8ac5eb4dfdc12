"""Reusing another suite's finished work (benchmarks.reuse): equal keys are copied, not computed (no
evaluation, no training child); other keys and damaged sources are computed; provenance is recorded;
the reusing suite's leaderboard reads the copies. And cpu-seeds' rows are cpu's rows (equal keys)."""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import benchmarks.cells as cells_mod
import benchmarks.training_runs as training_mod
from benchmarks import run as run_mod
from benchmarks.cells import verify_cell
from benchmarks.keys import CellKey, TrainingSpecs, cell_key
from benchmarks.records import CELL_MARKER, TRAIN_MARKER, CellMarker, TrainMarker
from benchmarks.reuse import ReuseSources
from benchmarks.suites import SuiteConfig, load_suite
from synrank.config import from_dict
from synrank.errors import ConfigError
from synrank.provenance import portable_path
from tests.benchmarks.test_run import tiny_dataset, tiny_static_model  # noqa: F401 (fixtures)
from tests.training.conftest import tiny_config

DS = "scifact-tiny"


def _suite(tmp: Path, name: str, dataset: Path, model: Path, groups: Path, *, rows: tuple[str, ...] = (),
           extra: list[dict] | None = None, reuse: list[str] | None = None) -> Path:
    """A tiny suite: bm25, a model row ``static`` and a training row ``trained`` (a 2-step config whose
    trainer is faked, see :func:`fake_trainer`); ``rows`` renames ``static``, ``extra`` adds rows."""
    variants = [{"name": "bm25", "bm25": {"k1": 0.9, "b": 0.4}},
                {"name": rows[0] if rows else "static", "model": str(model), "variant": "base", "base": "static"},
                {"name": "trained", "train": tiny_config(model, groups, max_steps=2, save_every=2),
                 "variant": "ws2", "base": "static"},
                *(extra or [])]
    suite = {"name": name, "baseline": "bm25", "batch_size": 32, "measures": ["nDCG@10", "Recall@100"],
             "variants": variants, "datasets": [{"name": str(dataset), "mode": "full", "top_k": 100}]}
    if reuse:
        suite["reuse"] = reuse
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


class Recorder:
    """Counts evaluations (per row) and training children; the fake child copies ``model`` as the result."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, model: Path):
        self.evaluated: list[str] = []
        self.trained: list[str] = []
        real = cells_mod._evaluate

        def evaluate(suite, variant, *args, **kwargs):
            self.evaluated.append(variant.name)
            return real(suite, variant, *args, **kwargs)

        def child(cmd: list[str], env: dict[str, str]) -> int:
            out = Path(cmd[cmd.index("--output") + 1])
            self.trained.append(out.parent.name)
            shutil.copytree(model, out, dirs_exist_ok=True)
            (out / "trainer_state.json").write_text(json.dumps({"global_step": 2, "completed": True}))
            return 0

        monkeypatch.setattr(cells_mod, "_evaluate", evaluate)
        monkeypatch.setattr(training_mod, "run_child", child)


def _statuses(summary) -> dict[str, str]:
    return {o.model: o.status for o in summary["outcomes"]}


def _marker(results: Path, row: str) -> dict:
    return json.loads((results / "cells" / row / DS / CELL_MARKER).read_text())


def _values(results: Path) -> dict[str, str]:
    with open(results / "leaderboard.csv", newline="") as fh:
        return {r["model"]: r["value"] for r in csv.DictReader(fh) if r["measure"] == "nDCG@10"}


@pytest.fixture(scope="module")
def finished_source(tmp_path_factory, tiny_dataset, tiny_static_model, tiny_groups) -> Path:  # noqa: F811
    """A finished source suite (``src``): every cell computed, ``trained`` trained (by the fake trainer)."""
    tmp = tmp_path_factory.mktemp("source")
    results = tmp / "src-results"
    with pytest.MonkeyPatch.context() as monkeypatch:
        rec = Recorder(monkeypatch, tiny_static_model)
        run_mod.run_suite(load_suite(_suite(tmp, "src", tiny_dataset, tiny_static_model, tiny_groups)), results)
    assert sorted(rec.evaluated) == ["bm25", "static", "trained"] and rec.trained == ["trained"]
    return results


@pytest.fixture
def source(finished_source, tmp_path) -> Path:
    """A copy of :func:`finished_source` that the test may damage."""
    return Path(shutil.copytree(finished_source, tmp_path / "src-results", ignore=shutil.ignore_patterns(".lock")))


def test_equal_keys_are_copied_not_computed(tmp_path, source, tiny_dataset, tiny_static_model, tiny_groups,  # noqa: F811
                                            monkeypatch, capsys):
    # the same rows, one of them renamed (its key does not name the row), and a BM25 row of another key
    suite = load_suite(_suite(tmp_path, "dst", tiny_dataset, tiny_static_model, tiny_groups, rows=("renamed",),
                              extra=[{"name": "bm25-k1", "bm25": {"k1": 1.5, "b": 0.4}}]))
    results = tmp_path / "dst-results"
    rec = Recorder(monkeypatch, tiny_static_model)
    capsys.readouterr()
    summary = run_mod.run_suite(suite, results, reuse_from=[source])
    assert _statuses(summary) == {"bm25": "reused", "renamed": "reused", "trained": "reused", "bm25-k1": "computed"}
    assert rec.evaluated == ["bm25-k1"] and rec.trained == []  # nothing else evaluated, no training child
    where = portable_path(source)
    out = capsys.readouterr().out
    assert f"renamed × {DS}: reused from {where}/cells/static/{DS}" in out
    assert f"train trained: reused from {where}/train/trained (record only: its cells are finished)" in out

    # provenance in the marker, key and files unchanged
    for row, src_row in (("bm25", "bm25"), ("renamed", "static"), ("trained", "trained")):
        mine, theirs = _marker(results, row), _marker(source, src_row)
        assert mine["reused_from"] == {"results": where, "row": src_row, "dataset": DS,
                                       "reused_utc": mine["reused_from"]["reused_utc"]}
        assert (mine["config"], mine["config_hash"], mine["files"]) == (theirs["config"], theirs["config_hash"],
                                                                      theirs["files"])
        assert (mine["suite"], mine["model"]) == ("dst", row)
        marker = CellMarker.from_disk(results / "cells" / row / DS / CELL_MARKER)
        assert verify_cell(results / "cells" / row / DS, marker) is None
    assert "reused_from" not in _marker(results, "bm25-k1")

    # the training run: its record copied (checkpoint moved here), not its weights
    train = TrainMarker.from_disk(results / "train" / "trained" / TRAIN_MARKER)
    theirs = TrainMarker.from_disk(source / "train" / "trained" / TRAIN_MARKER)
    assert train.reused_from is not None and (train.reused_from.results, train.reused_from.row) == (where, "trained")
    assert (train.config_hash, train.model_sha256) == (theirs.config_hash, theirs.model_sha256)
    assert not (results / "train" / "trained" / "model" / "modules.json").exists()
    assert (results / "train" / "trained" / "model" / "trainer_state.json").exists()

    # the leaderboard reads the copies; the manifest counts and names them
    values, src_values = _values(results), _values(source)
    assert (values["bm25"], values["renamed"], values["trained"]) == (src_values["bm25"], src_values["static"],
                                                                     src_values["trained"])
    manifest = json.loads((results / "manifest.json").read_text())
    assert manifest["invocations"][-1]["reused"] == 3 and manifest["invocations"][-1]["trained"] == 0
    assert {c["model"]: c["this_invocation"] for c in manifest["cells"]}["renamed"] == "reused"
    assert {c["model"]: c.get("reused_from", {}).get("row") for c in manifest["cells"]}["renamed"] == "static"
    assert "reuse" not in json.loads((source / "manifest.json").read_text())["suite"]  # its hash as before

    # a rerun finds everything here: nothing computed, copied or trained
    again = run_mod.run_suite(suite, results, reuse_from=[source])
    assert set(_statuses(again).values()) == {"cached"} and rec.evaluated == ["bm25-k1"] and rec.trained == []


def test_the_suite_field_names_suites_and_the_dry_run_says_what_is_reused(tmp_path, source, tiny_dataset,  # noqa: F811
                                                                         tiny_static_model, tiny_groups, monkeypatch,  # noqa: F811
                                                                         capsys):
    monkeypatch.setattr(run_mod, "suite_results_dir", lambda name: {"src": source}[name])
    path = _suite(tmp_path, "dst", tiny_dataset, tiny_static_model, tiny_groups, reuse=["src"],
                  extra=[{"name": "bm25-k1", "bm25": {"k1": 1.5, "b": 0.4}}])
    results = tmp_path / "dst-results"
    assert run_mod.main(["--suite", str(path), "--output", str(results), "--dry-run"]) == 0
    out = capsys.readouterr().out
    where = portable_path(source)
    assert f"static × {DS}: reused from {where}/cells/static/{DS}" in out
    assert f"trained × {DS}: reused from {where}/cells/trained/{DS}" in out
    assert f"bm25-k1 × {DS}: to compute (not computed yet)" in out
    assert f"dry run: 0 cell(s) cached, 3 reused from {where}, 1 to compute; nothing was run" in out
    assert not results.exists()
    rec = Recorder(monkeypatch, tiny_static_model)
    assert run_mod.main(["--suite", str(path), "--output", str(results)]) == 0
    assert rec.evaluated == ["bm25-k1"] and rec.trained == []
    assert f"cells: 1 computed, 0 cached, 3 reused from {where}, 0 failed; 0 model(s) trained, " \
           "1 training run(s) reused" in capsys.readouterr().out
    # --overwrite recomputes: nothing is reused
    summary = run_mod.run_suite(load_suite(path), results, overwrite=True, models=["static"])
    assert _statuses(summary) == {"static": "computed"}
    assert "reused_from" not in _marker(results, "static")


def _drop_weights(model: Path) -> None:
    for p in model.iterdir():
        if p.name not in training_mod.MODEL_RECORD_FILES:
            shutil.rmtree(p) if p.is_dir() else p.unlink()


def _damage(cell: Path, how: str) -> None:
    if how == "per_query edited":
        text = (cell / "per_query.tsv").read_text()
        (cell / "per_query.tsv").write_text(text.replace("\t0.", "\t1.", 1) if "\t0." in text else text + "\n")
    elif how == "metrics deleted":
        (cell / "metrics.json").unlink()
    else:
        (cell / CELL_MARKER).write_text("{ not json")


@pytest.mark.parametrize("how", ["per_query edited", "metrics deleted", "cell.json unreadable"])
def test_a_damaged_source_cell_is_computed_with_one_warning(tmp_path, source, tiny_dataset, tiny_static_model,  # noqa: F811
                                                            tiny_groups, monkeypatch, caplog, how):
    _damage(source / "cells" / "static" / DS, how)
    suite = load_suite(_suite(tmp_path, "dst", tiny_dataset, tiny_static_model, tiny_groups))
    rec = Recorder(monkeypatch, tiny_static_model)
    with caplog.at_level(logging.WARNING):
        summary = run_mod.run_suite(suite, tmp_path / "dst-results", reuse_from=[source])
    assert _statuses(summary) == {"bm25": "reused", "static": "computed", "trained": "reused"}
    assert rec.evaluated == ["static"] and rec.trained == []
    about = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(about) == 1 and "\n" not in about[0], about
    assert "not reused" in about[0] and f"static/{DS}" in about[0]
    assert str(portable_path(source / "cells" / "static" / DS)) in about[0] or str(source) in about[0]


@pytest.mark.parametrize("weights", ["there", "absent", "damaged"])
def test_a_cell_that_needs_the_model_gets_the_sources_weights_or_trains(tmp_path, source, tiny_dataset,  # noqa: F811
                                                                        tiny_static_model, tiny_groups, monkeypatch,  # noqa: F811
                                                                        caplog, weights):
    shutil.rmtree(source / "cells" / "trained" / DS)  # so the trained row's cell must be evaluated here
    model = source / "train" / "trained" / "model"
    if weights == "absent":  # as committed results: the records without the weights
        _drop_weights(model)
    elif weights == "damaged":
        (model / "modules.json").write_text((model / "modules.json").read_text() + " ")
    suite = load_suite(_suite(tmp_path, "dst", tiny_dataset, tiny_static_model, tiny_groups))
    results = tmp_path / "dst-results"
    rec = Recorder(monkeypatch, tiny_static_model)
    with caplog.at_level(logging.WARNING):
        summary = run_mod.run_suite(suite, results, reuse_from=[source])
    assert _statuses(summary) == {"bm25": "reused", "static": "reused", "trained": "computed"}
    assert rec.evaluated == ["trained"]
    marker = TrainMarker.from_disk(results / "train" / "trained" / TRAIN_MARKER)
    if weights == "there":
        assert rec.trained == [] and marker.reused_from is not None
        assert (results / "train" / "trained" / "model" / "modules.json").exists()
        # the copied weights are the source's: the cell's key is the one the source had
        assert _marker(results, "trained")["config"]["model"]["sha256"] == marker.model_sha256
        assert [t.status for t in summary["trainings"]] == ["reused"]
    else:
        assert rec.trained == ["trained"] and marker.reused_from is None
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert (len(warned), "do not match" in " ".join(warned)) == ((1, True) if weights == "damaged" else (0, False))


def test_a_fresh_clone_of_committed_results_trains_nothing(tmp_path, source, tiny_dataset, tiny_static_model,  # noqa: F811
                                                           tiny_groups, monkeypatch):
    """Committed results keep cells and training records, not weights: a rerun of the suite itself, and a
    suite reusing it, compute and train nothing."""
    for run in (source / "train").iterdir():
        _drop_weights(run / "model")
    for p in (source / "cells").rglob("run.trec.gz"):
        p.unlink()
    rec = Recorder(monkeypatch, tiny_static_model)
    suite_file = _suite(tmp_path, "src", tiny_dataset, tiny_static_model, tiny_groups)
    again = run_mod.run_suite(load_suite(suite_file), source)
    assert set(_statuses(again).values()) == {"cached"}
    dst = run_mod.run_suite(load_suite(_suite(tmp_path, "dst", tiny_dataset, tiny_static_model, tiny_groups)),
                            tmp_path / "dst-results", reuse_from=[source])
    assert set(_statuses(dst).values()) == {"reused"}
    assert rec.evaluated == [] and rec.trained == []


PLACES = ["bm25", "static", "trained", "other"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layout=st.lists(st.tuples(st.sampled_from(["bm25", "static", "trained"]), st.sampled_from(PLACES),
                                 st.sampled_from(["intact", "intact", "per_query edited", "metrics deleted",
                                                  "cell.json unreadable"])), max_size=4))
def test_find_cell_matches_by_key_and_skips_damaged_copies(source, layout):
    """Source folders built from the real cells, copied to any row's place and possibly damaged: a cell
    is found iff an intact copy with its key exists (its own place preferred), and found cells verify.
    Where none is found but a damaged copy is there, one warning says so."""
    keys = {row: CellMarker.from_disk(source / "cells" / row / DS / CELL_MARKER) for row in ("bm25", "static",
                                                                                           "trained")}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        placed: dict[str, tuple[str, str]] = {}  # place -> (whose cell, state); a later copy replaces one there
        for whose, place, how in layout:
            cell = src / "cells" / place / DS
            shutil.rmtree(cell, ignore_errors=True)
            shutil.copytree(source / "cells" / whose / DS, cell)
            if how != "intact":
                _damage(cell, how)
            placed[place] = (whose, how)
        warnings: list[str] = []
        handler = logging.Handler()
        handler.emit = lambda record: warnings.append(record.getMessage())  # type: ignore[method-assign]
        logger = logging.getLogger("benchmarks.reuse")
        logger.addHandler(handler)
        try:
            reuse = ReuseSources([src], Path(tmp) / "dst")
            for row, marker in keys.items():
                key = CellKey(marker.config, marker.config_hash, Path(tmp) / "dst" / "cells" / row / DS)
                intact = [p for p, (whose, how) in placed.items() if whose == row and how == "intact"]
                found = reuse.find_cell(key)
                assert (found is not None) == bool(intact)
                if found is not None:
                    assert found.marker.config_hash == key.hash and verify_cell(found.folder, found.marker) is None
                    assert found.folder.parent.name == (row if row in intact else sorted(intact)[0])
                    assert reuse.find_cell(key) is found  # looked up once
        finally:
            logger.removeHandler(handler)
        damaged_rows = {whose for whose, how in placed.values() if how in ("per_query edited", "metrics deleted")}
        unreadable_at_own_place = {p for p, (_, how) in placed.items() if how == "cell.json unreadable"}
        expect_warned = {row for row in keys
                         if not any(w == row and h == "intact" for w, h in placed.values())
                         and (row in damaged_rows or row in unreadable_at_own_place)}
        assert len(warnings) == len(expect_warned), warnings


def test_reuse_names_are_checked(tmp_path):
    base = {"name": "s", "baseline": "bm25", "variants": [{"name": "bm25", "bm25": {}}],
            "datasets": [{"name": "scifact"}]}
    with pytest.raises(ConfigError, match="this suite itself"):
        from_dict(SuiteConfig, {**base, "reuse": ["s"]}, source=tmp_path / "s.yaml")
    with pytest.raises(ConfigError, match="not a safe folder name"):
        from_dict(SuiteConfig, {**base, "reuse": ["../cpu"]}, source=tmp_path / "s.yaml")
    assert run_mod.main(["--suite", "smoke", "--reuse-from", str(tmp_path / "nope"), "--dry-run"]) == 2


def test_cpu_seeds_rows_are_cpus_rows():
    """Every cpu-seeds row is cpu's row of that name (train config, overrides, labels, baseline), so its
    seed-42 run has cpu's training key and cell keys; replicates take other seeds than the configs' own, and
    a replicate of a row that starts from @static-ssl starts from the seed-42 static-ssl."""
    cpu, seeds = load_suite("cpu"), load_suite("cpu-seeds")
    assert seeds.reuse == ["cpu"]
    for f in ("baseline", "measures", "primary_measure", "batch_size", "top_k", "encoding", "significance", "env",
              "datasets"):
        assert getattr(seeds, f) == getattr(cpu, f), f
    cpu_specs, seed_specs = TrainingSpecs(cpu), TrainingSpecs(seeds)
    model = {"kind": "folder", "train_config_hash": "k", "spec": "train/x/model", "sha256": "s", "transformer": False}
    claim = {"base", "self-supervised", "supervised", "synthetic-infonce", "synthetic-ws2", "synthetic-ws2-paper"}
    for base in ("minilm", "static", "static-ssl"):
        have = {v.label for v in seeds.variants if v.base == base}
        assert have == (claim - {"self-supervised"} if base == "static-ssl" else claim), base
    for row in seeds.variants:
        theirs = cpu.variant(row.name)
        assert dataclasses.replace(row, seeds=[]) == dataclasses.replace(theirs, seeds=[])
        ds = seeds.datasets[2]
        assert cell_key(seeds, row, ds, {"name": ds.name}, Path("r"), model).hash == \
            cell_key(cpu, theirs, ds, {"name": ds.name}, Path("r"), model).hash
        if row.kind != "train":
            continue
        mine = seed_specs(row)
        assert mine.key == cpu_specs(theirs).key, row.name
        untrained = mine.config["max_steps"] == 0
        assert (row.seeds == []) == untrained, row.name  # every trained row has replicates, the bases none
        for rep in row.replicates()[1:]:
            spec = seed_specs(rep)
            assert spec.config["seed"] in (43, 44) and spec.config["seed"] != mine.config["seed"]
            assert (spec.base is None) == (mine.base is None)
            if spec.base is not None:
                assert spec.base.name == "static-ssl" and spec.base.key == cpu_specs(cpu.variant("static-ssl")).key
