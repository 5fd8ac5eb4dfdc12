"""One command-line style across ``synrank`` and ``python -m benchmarks.run`` (synrank.cliargs).

The exit codes are checked on the real console entry point in subprocesses: 0 ok, 1 a check failed,
2 usage or input error, 130 interrupted, 141 stdout's reader went away.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synrank.cli import build_parser
from synrank.cliargs import EXIT_CODES, add_list_option
from tests.reliability.harness import REPO, _env, assert_clean_failure, run_cli, run_cli_inprocess, run_module


def _subcommand_parsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_help_has_defaults_and_no_rest_markup():
    from benchmarks.run import build_parser as run_parser

    texts = {name: p.format_help() for name, p in _subcommand_parsers().items()}
    texts["synrank"] = build_parser().format_help()
    texts["benchmarks.run"] = run_parser().format_help()
    for name, text in texts.items():
        assert "`" not in text, f"reST markup in the help of {name}:\n{text}"
        assert "-v, --verbose" in text and "-q, --quiet" in text, name
    gen = " ".join(texts["generate"].split())
    assert "groups per shard file (default: 500)" in gen
    assert "grades to generate (default: 3,2,1,0)" in gen
    assert "(default: all-MiniLM-L6-v2)" in " ".join(texts["synthetic-report"].split())
    assert "--out " not in texts["generate"] and "--output DIR" in texts["generate"]  # aliases are hidden
    for code in EXIT_CODES:
        assert f"\n  {code} " in texts["synrank"]


def test_output_is_the_name_everywhere():
    """Every command that writes somewhere takes --output; the old names are hidden aliases."""
    from benchmarks.run import build_parser as run_parser

    writers = {"evaluate", "generate", "synthetic-report", "synthetic-import", "train", "push"}
    parsers = _subcommand_parsers()
    for name in writers & set(parsers):
        flags = {f for a in parsers[name]._actions for f in a.option_strings}
        assert "--output" in flags or name == "push", name
        assert "--out" not in flags or name in ("generate", "synthetic-report", "synthetic-import"), name
    flags = {f for a in run_parser()._actions for f in a.option_strings}
    assert {"--output", "--results"} <= flags


def test_top_k_means_the_ranking_depth_only():
    parsers = _subcommand_parsers()
    gen = parsers["generate"].parse_args(["--output", "o", "--sampling-top-k", "7"])
    assert gen.sampling_top_k == 7
    help_text = parsers["generate"].format_help()
    listed = [ln.split()[0] for ln in help_text.splitlines() if ln.startswith("  -")]
    assert "--top-k" not in listed and "--sampling-top-k" in listed
    assert "ranking depth" in parsers["evaluate"].format_help()


def test_deprecated_alias_prints_one_line(tmp_path):
    res = run_cli_inprocess("synthetic-import", tmp_path / "missing.jsonl", "--out", tmp_path / "o")
    deprecations = [ln for ln in res.stderr.splitlines() if ln.endswith("is deprecated, use --output")]
    assert deprecations == ["synrank synthetic-import: --out is deprecated, use --output"]
    assert_clean_failure(res, "missing.jsonl")  # the alias did set --output: the command ran


def test_generate_sampling_top_k_alias():
    args = _subcommand_parsers()["generate"].parse_args(["--output", "o", "--top-k", "9"])
    assert args.sampling_top_k == 9


def test_benchmarks_results_alias():
    from benchmarks.run import build_parser as run_parser

    args = run_parser().parse_args(["--suite", "smoke", "--results", "r", "--models", "a,b", "c", "--models", "d"])
    assert str(args.output) == "r" and args.models == ["a", "b", "c", "d"]


# items as names and measures look (an item starting with "-" would be read as an option, as argparse does)
_item = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC0123456789@._-", min_size=1, max_size=8).filter(
    lambda s: not s.startswith("-"))


@given(items=st.lists(_item, min_size=1, max_size=6), cuts=st.lists(st.integers(0, 6), max_size=4),
       style=st.sampled_from(["comma", "space", "repeat", "mixed"]))
def test_list_option_forms_agree(items, cuts, style):
    """Comma-separated, space-separated, repeated and any mix of them give the same list, in order."""
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_list_option(parser, "--x")
    if style == "comma":
        argv = ["--x", ",".join(items)]
    elif style == "space":
        argv = ["--x", *items]
    elif style == "repeat":
        argv = [tok for item in items for tok in ("--x", item)]
    else:  # cut the list into runs; each run is one option use, its items comma-joined
        bounds = sorted({0, len(items), *(c % (len(items) + 1) for c in cuts)})
        argv = []
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            if a < b:
                argv += ["--x", ",".join(items[a:b])]
    assert parser.parse_args(argv).x == items


def test_list_options_of_the_real_commands():
    parsers = _subcommand_parsers()
    ev = parsers["evaluate"].parse_args(["--run", "r", "--dataset", "d", "--measures", "nDCG@10,MAP",
                                         "--measures", "P@10", "Recall@100"])
    assert ev.measures == ["nDCG@10", "MAP", "P@10", "Recall@100"]
    gen = parsers["generate"].parse_args(["--output", "o", "--levels", "2", "1,0",
                                          "--backend-option", "a=1,2", "--backend-option", "b=x"])
    assert gen.levels == [2, 1, 0] and gen.backend_option == ["a=1,2", "b=x"]
    assert parsers["generate"].parse_args(["--output", "o"]).levels == [3, 2, 1, 0]


@pytest.mark.parametrize("argv", [["-v", "datasets"], ["datasets", "-v"], ["datasets", "--verbose"]])
def test_verbose_before_or_after_the_subcommand(argv):
    args = build_parser().parse_args(argv)
    assert args.verbose is True and args.quiet is False


def test_quiet_after_the_subcommand_and_not_with_verbose():
    args = build_parser().parse_args(["validate", "x", "-q"])
    assert args.quiet is True and args.verbose is False
    res = run_cli_inprocess("-q", "datasets", "-v")
    assert res.returncode == 2 and "exclude each other" in res.stderr


# ------------------------------------------------------------------------------------- exit codes
def test_exit_0_ok(toy):
    res = run_cli("validate", toy)
    assert res.returncode == 0, res.stderr


def test_exit_1_check_failed(toy):
    (toy / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tnope\t1\n", encoding="utf-8")
    assert_clean_failure(run_cli("validate", toy), "unknown", code=1)


def test_exit_2_usage_and_input_errors(toy, tmp_path):
    assert run_cli("evaluate", "--bogus").returncode == 2
    assert run_cli("validate", tmp_path / "no-such-folder").returncode == 2
    assert run_module("benchmarks.run", "--suite", "smoke", "--models").returncode == 2


def test_exit_130_interrupted(toy, tmp_path):
    """SIGINT in the middle of encoding: one 'interrupted' line, exit 130, nothing written."""
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "synrank.cli", "evaluate", "--model", "tests.reliability.fake_encoder:Hash64",
         "--dataset", str(toy), "--no-cache", "--output", str(out)],
        cwd=REPO, env=_env({"SYNRANK_TEST_ENCODER_DELAY": "60"}), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        # the pipeline logs "evaluating ..." just before it starts encoding (and sleeping)
        line = ""
        deadline = time.monotonic() + 120
        while "evaluating" not in line and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                break
        assert "evaluating" in line, f"never started encoding (exit {proc.poll()})"
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "synrank evaluate: interrupted" in err and "Traceback" not in err
    assert not (out / "metrics.json").exists()


@pytest.mark.parametrize("args", [["datasets"], ["datasets", "--json"], ["--help"]])
def test_closed_stdout_pipe_is_not_an_error(args):
    """``synrank datasets | head -2``: the reader closes the pipe early; no BrokenPipeError traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "synrank.cli", *args], cwd=REPO, env=_env(None),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # closed before the first write: the write must fail with EPIPE
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    # 141 as for a Unix tool stopped by SIGPIPE; argparse's own --help printer swallows the error and exits 0
    assert proc.returncode == (0 if args == ["--help"] else 141), err
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err, err


def test_closed_pipe_in_a_shell_pipeline():
    res = subprocess.run(f"{sys.executable} -m synrank.cli datasets | head -2", shell=True, cwd=REPO,
                         env=_env(None), capture_output=True, text=True, timeout=120)
    assert len(res.stdout.splitlines()) == 2
    assert "Traceback" not in res.stderr and "BrokenPipe" not in res.stderr, res.stderr


def test_third_party_loggers_quiet_unless_verbose(toy):
    """bm25s sets its own logger to DEBUG when imported; its lines appear only with -v."""
    quiet = run_cli("evaluate", "--model", "bm25", "--dataset", toy)
    assert quiet.returncode == 0, quiet.stderr
    assert "bm25s" not in quiet.stderr and "DEBUG" not in quiet.stderr
    assert "INFO synrank.evaluation.pipeline: evaluating bm25" in quiet.stderr
    loud = run_cli("evaluate", "--model", "bm25", "--dataset", toy, "-v")
    assert "DEBUG bm25s" in loud.stderr
    silent = run_cli("evaluate", "--model", "bm25", "--dataset", toy, "-q")
    assert silent.returncode == 0 and "INFO" not in silent.stderr and "it/s" not in silent.stderr
    assert "nDCG@10" in silent.stdout

