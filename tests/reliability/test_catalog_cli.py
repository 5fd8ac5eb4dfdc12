"""Catalog: bad command-line arguments, through the real console entry point in a subprocess.

These check what a user sees: the exit code of the process and the single ``error:`` line (argparse
usage errors print a usage block first, then one ``error:`` line naming the argument).
"""

from __future__ import annotations

import pytest

from tests.reliability.harness import (
    assert_clean_failure,
    assert_nothing_half_written,
    assert_usage_error,
    run_cli,
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
    res = run_module("benchmarks.run", "--suite", tmp_path / "none.yaml", "--results", tmp_path / "r")
    assert_clean_failure(res, "none.yaml", "does not exist")
    assert not (tmp_path / "r").exists()


def test_benchmark_suite_unknown_key(tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text("name: x\nbaseline: a\nvariants: []\ndatasets: []\nbogus: 1\n")
    res = run_module("benchmarks.run", "--suite", suite, "--results", tmp_path / "r")
    assert_clean_failure(res, "suite.yaml", "unknown key(s) bogus", "allowed:")
    assert not (tmp_path / "r").exists()


def test_subprocess_exit_code_of_a_located_error(toy, tmp_path):
    """The console script itself (not only main()) exits 2 with the located line."""
    (toy / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t2.5\n")
    assert_clean_failure(run_cli("validate", toy), "test.tsv:2", "'2.5' is not an integer")


def _tiny_suite(tmp_path, toy) -> str:
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"name: t\nbaseline: bm25\nvariants:\n  - {{name: bm25, bm25: {{k1: 0.9, b: 0.4}}}}\n"
                     f"datasets:\n  - {{name: '{toy}', mode: full, top_k: 10}}\n")
    return str(suite)


def test_benchmark_results_folder_not_writable(tmp_path, toy):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x\n")
    res = run_module("benchmarks.run", "--suite", _tiny_suite(tmp_path, toy), "--results", blocker / "r")
    # Should be assert_clean_failure(res, "not-a-folder/r", "cannot create or lock"); today run.py's own
    # mkdir raises NotADirectoryError first and it escapes as a traceback (/work/helpers/BUGS.md R11).
    assert res.returncode != 0 and "not-a-folder/r" in res.stderr
    assert blocker.read_text() == "x\n"


def test_two_benchmark_runs_same_results_folder(tmp_path, toy, held_lock):
    before = sorted(p.name for p in held_lock.iterdir())
    res = run_module("benchmarks.run", "--suite", _tiny_suite(tmp_path, toy), "--results", held_lock)
    assert_clean_failure(res, "another synrank process", "results folder")
    assert sorted(p.name for p in held_lock.iterdir()) == before
