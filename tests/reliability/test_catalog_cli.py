"""Catalog: bad command-line arguments, through the real console entry point in a subprocess.

These check what a user sees: the exit code of the process and the single ``error:`` line (argparse
usage errors print a usage block first, then one ``error:`` line naming the argument).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.reliability.harness import (
    assert_clean_failure,
    assert_nothing_half_written,
    assert_usage_error,
    listing,
    run_cli,
    run_cli_inprocess,
    run_module,
)


def test_no_command_prints_help_and_fails():
    res = run_cli()
    assert res.returncode == 2 and "usage: synrank" in res.stdout + res.stderr


@pytest.mark.parametrize(("args", "expect"), [
    (["frobnicate"], ["invalid choice: 'frobnicate'"]),
    (["evaluate", "--run", "x.trec"], ["--dataset"]),
    (["evaluate", "--run", "x.trec", "--model", "m", "--dataset", "d"], ["not allowed with argument"]),
    (["evaluate", "--run", "x.trec", "--dataset", "d", "--top-k", "0"], ["--top-k", "must be >= 1"]),
    (["train"], ["--config"]),
    (["train", "--config", "c.yaml", "--max-steps", "ten"], ["--max-steps", "invalid int value: 'ten'"]),
], ids=["unknown-command", "missing-required", "mutually-exclusive", "out-of-range-int", "train-no-config",
        "not-an-int"])
def test_usage_errors(args, expect):
    assert_usage_error(run_cli(*args), *expect)


def test_unknown_measure(toy, run_file, tmp_path):
    out = tmp_path / "out"
    res = run_cli("evaluate", "--run", run_file, "--dataset", toy, "--measures", "nDCG@10,Bogus@3", "--output", out)
    assert_clean_failure(res, "--measures", "unknown measure 'Bogus@3'", "nDCG@10")
    assert_nothing_half_written(out)


def test_model_option_with_run_file(toy, run_file):
    assert_clean_failure(run_cli("evaluate", "--run", run_file, "--dataset", toy, "--mode", "full"),
                         "--mode only apply with --model")


def test_dataset_name_unknown(run_file):
    res = run_cli("evaluate", "--run", run_file, "--dataset", "no-such-dataset-xyz")
    assert_clean_failure(res, "no-such-dataset-xyz")


def test_benchmark_suite_missing(tmp_path):
    res = run_module("benchmarks.run", "--suite", tmp_path / "none.yaml", "--output", tmp_path / "r")
    assert_clean_failure(res, "none.yaml", "does not exist")
    assert not (tmp_path / "r").exists()


def test_benchmark_suite_unknown_key(tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text("name: x\nbaseline: a\nvariants: []\ndatasets: []\nbogus: 1\n")
    res = run_module("benchmarks.run", "--suite", suite, "--output", tmp_path / "r")
    assert_clean_failure(res, "suite.yaml", "unknown key(s) bogus", "allowed:")
    assert not (tmp_path / "r").exists()


def test_subprocess_exit_code_of_a_located_error(toy, tmp_path):
    """The console script itself (not only main()) prints the located line: exit 1 from validate (its check
    failed), exit 2 from evaluate (its input is bad)."""
    (toy / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t2.5\n")
    assert_clean_failure(run_cli("validate", toy), "test.tsv:2", "'2.5' is not an integer", code=1)
    run = tmp_path / "run.trec"
    run.write_text("q1 Q0 d1 1 1.0 t\n")
    assert_clean_failure(run_cli("evaluate", "--run", run, "--dataset", toy), "test.tsv:2", "'2.5' is not an integer")


def _tiny_suite(tmp_path, toy) -> str:
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"name: t\nbaseline: bm25\nvariants:\n  - {{name: bm25, bm25: {{k1: 0.9, b: 0.4}}}}\n"
                     f"datasets:\n  - {{name: '{toy}', mode: full, top_k: 10}}\n")
    return str(suite)


def test_benchmark_results_folder_not_writable(tmp_path, toy):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x\n")
    res = run_module("benchmarks.run", "--suite", _tiny_suite(tmp_path, toy), "--output", blocker / "r")
    # R11: run.py's own mkdir raised NotADirectoryError, which escaped as a traceback (exit 1)
    assert_clean_failure(res, "not-a-folder/r", "cannot create or lock this results folder", "Not a directory",
                         "choose a writable folder")
    assert blocker.read_text() == "x\n"


def test_benchmark_os_error_is_one_line(tmp_path, toy, monkeypatch, capsys):
    """The runner's last safety net (as in synrank.cli): a stray OSError is one line naming the file."""
    import benchmarks.run as runner

    def fail(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "r" / "cells"))

    monkeypatch.setattr(runner, "run_suite", fail)
    rc = runner.main(["--suite", _tiny_suite(tmp_path, toy), "--output", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("benchmarks.run: error: ")]
    assert len(lines) == 1 and "r/cells: Permission denied" in lines[0], err


def test_two_benchmark_runs_same_results_folder(tmp_path, toy, held_lock):
    before = sorted(p.name for p in held_lock.iterdir())
    res = run_module("benchmarks.run", "--suite", _tiny_suite(tmp_path, toy), "--output", held_lock)
    assert_clean_failure(res, "another synrank process", "results folder")
    assert sorted(p.name for p in held_lock.iterdir()) == before


# Writes that bypass synrank.io and why they are safe: each goes into a temporary folder that is renamed.
_DIRECT_WRITES_ALLOWED = {
    "synrank/training/checkpoint.py": "files of a .tmp-step-* folder, fsynced and renamed as a whole",
    "synrank/data/download.py": "a resumable .part download, renamed to its final name once complete and verified",
}


def test_artifacts_are_written_atomically():
    """Audit (R7): no ``Path.write_text/write_bytes`` or ``open(..., 'w'/'a'/'x')`` in synrank/ or
    benchmarks/ outside synrank/io.py and the allowed temporary-folder writers; a direct write killed
    half-way leaves a truncated file under its final name."""
    import ast

    from tests.reliability.harness import REPO

    found = []
    for root in ("synrank", "benchmarks"):
        for path in sorted((REPO / root).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel == "synrank/io.py" or rel in _DIRECT_WRITES_ALLOWED:
                continue
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                fn = node.func
                name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
                if name in ("write_text", "write_bytes"):
                    found.append(f"{rel}:{node.lineno}: {name}")
                elif name in ("open", "fdopen"):
                    mode = node.args[1] if len(node.args) > 1 else next(
                        (k.value for k in node.keywords if k.arg == "mode"), None)
                    if isinstance(mode, ast.Constant) and any(c in str(mode.value) for c in "wax+"):
                        found.append(f"{rel}:{node.lineno}: open(..., {mode.value!r})")
    assert not found, "direct writes (use synrank.io.atomic_write_*):\n" + "\n".join(found)


# ------------------------------------------------------------------------------- round two (issue 15)
def _bm25_results(tmp_path, toy) -> tuple[str, Path, Path]:
    suite, results = _tiny_suite(tmp_path, toy), tmp_path / "r"
    first = run_module("benchmarks.run", "--suite", suite, "--results", results)
    assert first.returncode == 0, first.stderr
    return suite, results, results / "cells" / "bm25" / "toy"


def _status(res) -> str:
    return next(line for line in res.stdout.splitlines() if line.startswith("bm25 × toy: "))


@pytest.mark.parametrize("damage", ["metrics-not-json", "metrics-edited", "per-query-row-missing",
                                    "run-file-edited", "metrics-missing"])
def test_cached_cell_is_verified_not_trusted(tmp_path, toy, damage):
    """A metrics.json edited into invalid JSON used to be reported as ``cached`` and never repaired. A cell
    is reused only when its files parse and match the sha256 its marker records; otherwise it is
    recomputed with a warning, and the next run reuses the repaired cell."""
    suite, results, cell = _bm25_results(tmp_path, toy)
    marker = json.loads((cell / "cell.json").read_text())
    assert set(marker["files"]) == {"metrics.json", "per_query.tsv", "run.trec.gz"}
    good = {name: (cell / name).read_bytes() for name in marker["files"]}
    if damage == "metrics-not-json":
        (cell / "metrics.json").write_text('{"aggregate": {"nDCG@10": 0.9')
        reason = "metrics.json does not match its sha256"
    elif damage == "metrics-edited":
        (cell / "metrics.json").write_text(good["metrics.json"].decode().replace('"nDCG@10": 0.', '"nDCG@10": 1.'))
        reason = "metrics.json does not match its sha256"
    elif damage == "per-query-row-missing":
        (cell / "per_query.tsv").write_bytes(good["per_query.tsv"].rsplit(b"\n", 2)[0] + b"\n")
        reason = "per_query.tsv does not match its sha256"
    elif damage == "run-file-edited":
        (cell / "run.trec.gz").write_bytes(b"not gzip")
        reason = "run.trec.gz does not match its sha256"
    else:
        (cell / "metrics.json").unlink()
        reason = "metrics.json is missing"
    dry = run_module("benchmarks.run", "--suite", suite, "--results", results, "--dry-run")
    assert dry.returncode == 0 and _status(dry).startswith(f"bm25 × toy: to compute ({reason}"), dry.stdout
    again = run_module("benchmarks.run", "--suite", suite, "--results", results)
    assert again.returncode == 0, again.stderr
    assert _status(again).startswith("bm25 × toy: computed"), again.stdout
    assert f"finished cell cannot be reused: {reason}" in again.stderr
    repaired = json.loads((cell / "metrics.json").read_text())  # recomputed: same scores, a new timestamp
    assert repaired["aggregate"] == json.loads(good["metrics.json"])["aggregate"]
    assert all((cell / name).read_bytes() == good[name] for name in ("per_query.tsv", "run.trec.gz"))
    third = run_module("benchmarks.run", "--suite", suite, "--results", results)
    assert _status(third) == "bm25 × toy: cached"


def test_markers_without_hashes_from_older_runs_are_still_reused(tmp_path, toy):
    """Committed results carry markers written before the hashes: reused when the files parse and agree
    with the marker (the committed cpu results: ``--dry-run`` shows 100 cells cached, none to compute)."""
    suite, results, cell = _bm25_results(tmp_path, toy)
    marker = json.loads((cell / "cell.json").read_text())
    del marker["files"]
    (cell / "cell.json").write_text(json.dumps(marker))
    (cell / "run.trec.gz").unlink()  # committed results leave the rankings out
    dry = run_module("benchmarks.run", "--suite", suite, "--results", results, "--dry-run")
    assert _status(dry) == "bm25 × toy: cached" and "1 cell(s) cached, 0 to compute" in dry.stdout
    assert sorted(p.name for p in cell.iterdir() if p.name != ".lock") == ["cell.json", "metrics.json", "per_query.tsv"]
    (cell / "per_query.tsv").write_text((cell / "per_query.tsv").read_text().rsplit("\n", 2)[0] + "\n")
    dry = run_module("benchmarks.run", "--suite", suite, "--results", results, "--dry-run")
    assert _status(dry).startswith("bm25 × toy: to compute (per_query.tsv holds [2] queries per measure, "
                                   "cell.json says 3)"), dry.stdout
    (cell / "metrics.json").write_text('{"aggregate": {"nDCG@10": 0.9')
    dry = run_module("benchmarks.run", "--suite", suite, "--results", results, "--dry-run")
    assert _status(dry).startswith("bm25 × toy: to compute (metrics.json does not parse"), dry.stdout


def test_evaluate_output_replaces_another_cell_whole(toy, run_file, tmp_path):
    """``evaluate`` into a folder that held another dataset's cell left that dataset's run.trec.gz beside
    the new metrics. The folder now holds one evaluation: the run file of the model evaluation goes."""
    out = tmp_path / "out"
    model = run_cli_inprocess("evaluate", "--model", "tests.reliability.fake_encoder:Hash64", "--dataset", toy,
                              "--output", out, "--no-cache")
    assert model.returncode == 0, model.stderr
    assert {"run.trec.gz", "per_query.tsv", "metrics.json"} <= listing(out)
    other = tmp_path / "other"
    shutil.copytree(toy, other)
    res = run_cli_inprocess("evaluate", "--run", run_file, "--dataset", other, "--output", out)
    assert res.returncode == 0, res.stderr
    assert listing(out) == {".lock", "per_query.tsv", "metrics.json"}
    assert json.loads((out / "metrics.json").read_text())["dataset"]["name"] == "other"
    # a run that lies in the output folder itself is what is being scored: kept
    model = run_cli_inprocess("evaluate", "--model", "tests.reliability.fake_encoder:Hash64", "--dataset", toy,
                              "--output", out, "--no-cache")
    res = run_cli_inprocess("evaluate", "--run", out / "run.trec.gz", "--dataset", toy, "--output", out)
    assert res.returncode == 0, res.stderr
    assert listing(out) == {".lock", "run.trec.gz", "per_query.tsv", "metrics.json"}
