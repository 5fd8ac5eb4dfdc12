"""Run the ``synrank`` CLI on a bad input and check the three promises of the reliability catalog.

1. one clear error line (``synrank <command>: error: <file>[:<line>]: <what> (<what to do>)``), no traceback;
2. a non-zero exit code;
3. nothing half-written: the output folder holds no new file under a final name and no temporary leftovers.

:func:`run_cli` runs the real console entry point in a subprocess (what a user sees, including import
errors and exit codes); :func:`run_cli_inprocess` calls :func:`synrank.cli.main` directly, which is ~1 s
faster per case on a loaded 2-core machine and is what most catalog entries use.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ERROR_MARK = ": error: "
#: ``synrank <command>: error: ...`` or ``benchmarks.run: error: ...``
_ERROR_LINE = re.compile(r"^(synrank|benchmarks\.\w+)( [\w-]+)?: error: ")


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if _ERROR_LINE.match(ln)]


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


def run_cli(*args: str | os.PathLike, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 120.0) -> CliResult:
    """``python -m synrank.cli ARGS`` in a subprocess."""
    proc = subprocess.run([sys.executable, "-m", "synrank.cli", *map(str, args)], cwd=cwd or REPO,
                          env=_env(env), capture_output=True, text=True, timeout=timeout, check=False)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def run_module(module: str, *args: str | os.PathLike, cwd: Path | None = None,
               env: dict[str, str] | None = None, timeout: float = 300.0) -> CliResult:
    """``python -m MODULE ARGS`` in a subprocess (e.g. ``benchmarks.run``)."""
    proc = subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=cwd or REPO, env=_env(env),
                          capture_output=True, text=True, timeout=timeout, check=False)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def run_cli_inprocess(*args: str | os.PathLike) -> CliResult:
    """:func:`synrank.cli.main` with stdout/stderr captured; ``SystemExit`` (argparse) becomes the code."""
    from synrank.cli import main

    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    handlers = root.handlers[:]
    # commands change logger levels (quiet third-party loggers, `validate` silences synrank.data):
    # restore them so one in-process run does not change what the next test sees
    levels = {name: lg.level for name, lg in logging.root.manager.loggerDict.items()
              if isinstance(lg, logging.Logger)}
    root_level = root.level
    handler = logging.StreamHandler(err)
    root.addHandler(handler)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main([str(a) for a in args])
            except SystemExit as exc:  # argparse usage errors
                rc = exc.code if isinstance(exc.code, int) else 1
    finally:
        root.removeHandler(handler)
        root.handlers[:] = handlers
        root.setLevel(root_level)
        for name, lg in logging.root.manager.loggerDict.items():
            if isinstance(lg, logging.Logger):
                lg.setLevel(levels.get(name, logging.NOTSET))
    return CliResult(int(rc), out.getvalue(), err.getvalue())


def assert_clean_failure(res: CliResult, *expect: str, code: int = 2) -> str:
    """Non-zero exit (``code``), exactly one error line, no traceback; the line contains every ``expect``.

    Returns the error line so a test can check more.
    """
    assert res.returncode == code, f"exit {res.returncode}, expected {code}\nstdout:{res.stdout}\nstderr:{res.stderr}"
    assert "Traceback" not in res.stderr, res.stderr
    lines = res.error_lines
    assert len(lines) == 1, f"expected one error line, got {len(lines)}:\n{res.stderr}"
    line = lines[0]
    for part in expect:
        assert part in line, f"{part!r} not in error line:\n{line}"
    return line


def assert_usage_error(res: CliResult, *expect: str) -> None:
    """An argparse error: exit 2, a usage line and one ``error:`` line naming the argument."""
    assert res.returncode == 2, res
    assert "Traceback" not in res.stderr
    errs = [ln for ln in res.stderr.splitlines() if "error:" in ln]
    assert len(errs) == 1, res.stderr
    for part in expect:
        assert part in errs[0], errs[0]


def listing(folder: Path) -> set[str]:
    """Every file and folder below ``folder`` (relative paths); empty when it does not exist."""
    folder = Path(folder)
    if not folder.exists():
        return set()
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def assert_nothing_half_written(folder: Path, before: set[str] | None = None,
                                allowed: tuple[str, ...] = (".lock",)) -> None:
    """No new entry in ``folder`` apart from ``allowed`` names (locks), and no temp files anywhere."""
    now = listing(folder)
    new = now - (before or set())
    leftovers = [p for p in now if ".tmp" in Path(p).name or Path(p).name.startswith(".final-tmp")]
    assert not leftovers, f"temporary files left behind in {folder}: {sorted(leftovers)}"
    unexpected = sorted(p for p in new if Path(p).name not in allowed)
    assert not unexpected, f"files written in {folder} despite the error: {unexpected}"
