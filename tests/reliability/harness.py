"""Run the ``synrank`` CLI on a bad input and check the three promises of the reliability catalog.

1. one clear error line (``synrank <command>: error: <file>[:<line>]: <what> (<what to do>)``), no traceback;
2. a non-zero exit code;
3. nothing half-written: the output folder holds no new file under a final name and no temporary leftovers.

:func:`run_cli` runs the real console entry point in a subprocess (what a user sees, including import
errors and exit codes); :func:`run_cli_inprocess` calls :func:`synrank.cli.main` directly, which is ~1 s
faster per case on a loaded 2-core machine and is what most catalog entries use.

The kill -9 tests (``test_kill9.py``, ``tests/training/test_resume.py``, ``tests/synthetic/test_pipeline.py``)
share :class:`KillableRun` (a child process a test SIGKILLs mid-way), :func:`kill_at_random_point`, and the
comparisons of a resumed run with an uninterrupted one: :func:`weights_sha256` and :func:`loss_rows`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import multiprocessing as mp
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

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


# ------------------------------------------------------------------------------------------ kill -9
class KillableRun:
    """A command in a child process that a test SIGKILLs mid-way.

    ``KillableRun([...])`` runs ``python ARGS`` (a fresh interpreter, the repository on ``PYTHONPATH``,
    hub offline); :meth:`fork` runs a Python function in a forked child instead (no second torch import).
    stderr goes to a temporary file, not a pipe: a chatty child can never block on a full pipe, and
    :meth:`stderr_tail` still explains a child that ended too early. With ``process_group`` the child
    leads a new process group and :meth:`kill` kills the whole group (a job scheduler's kill: the
    runner and the trainer it started).
    """

    def __init__(self, args: Sequence[str | os.PathLike], env: dict[str, str] | None = None,
                 process_group: bool = False):
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in kill()/close()
        full_env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", **(env or {})}
        self._popen: subprocess.Popen | None = subprocess.Popen(
            [sys.executable, *map(str, args)], cwd=REPO, env=full_env, stdout=subprocess.DEVNULL,
            stderr=self._stderr, start_new_session=process_group)
        self._process: mp.process.BaseProcess | None = None
        self.process_group = process_group
        self.pid = self._popen.pid

    @classmethod
    def cli(cls, *args: str | os.PathLike, env: dict[str, str] | None = None,
            process_group: bool = False) -> KillableRun:
        """``python -m synrank.cli ARGS``."""
        return cls(["-m", "synrank.cli", *args], env=env, process_group=process_group)

    @classmethod
    def fork(cls, target: Callable[..., object], *args: object) -> KillableRun:
        """``target(*args)`` in a forked child (its stderr is the test's)."""
        run = cls.__new__(cls)
        run._stderr, run._popen, run.process_group = None, None, False
        run._process = mp.get_context("fork").Process(target=target, args=args)
        run._process.start()
        run.pid = run._process.pid
        return run

    @property
    def returncode(self) -> int | None:
        if self._popen is not None:
            return self._popen.poll()
        return self._process.exitcode

    def alive(self) -> bool:
        return self.returncode is None

    def stderr_tail(self, n: int = 3000) -> str:
        if self._stderr is None:
            return "(forked child: see the test's captured stderr)"
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-n:]

    def wait_for(self, condition: Callable[[], object], timeout: float, what: str = "the kill point",
                 poll: float = 0.01) -> None:
        """Poll ``condition`` every ``poll`` s until true; fail if the child ends first or after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not condition():
            if not self.alive():
                pytest.fail(f"process ended (exit {self.returncode}) before {what}:\n{self.stderr_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"{what} not reached within {timeout:.0f} s")
            time.sleep(poll)

    def kill(self) -> None:
        """SIGKILL the child (or its process group) and reap it; it must not have finished by itself."""
        assert self.alive(), "process finished before it could be killed; the test proves nothing"
        if self.process_group:
            os.killpg(self.pid, signal.SIGKILL)
        else:
            os.kill(self.pid, signal.SIGKILL)
        self.wait()
        assert self.returncode == -signal.SIGKILL, f"exit {self.returncode}, not killed by SIGKILL"
        self.close()

    def wait(self) -> None:
        if self._popen is not None:
            self._popen.wait()
        else:
            self._process.join()

    def close(self) -> None:
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


def kill_at_random_point(run: KillableRun, progress: Callable[[], int], rng: random.Random,
                         min_progress: int, max_progress: int, jitter: float, timeout: float = 300) -> int:
    """Wait until ``progress()`` reaches a random value in [min, max], sleep a random ``<= jitter`` s,
    SIGKILL. Returns the progress seen at the kill (the test asserts the process did not finish first)."""
    target = rng.randint(min_progress, max_progress)
    run.wait_for(lambda: progress() >= target, timeout, what=f"progress {target}")
    time.sleep(rng.uniform(0, jitter))
    run.kill()
    return progress()


def weights_sha256(folder: Path) -> str:
    """sha256 over every tensor of the saved model (names, dtypes, shapes and bytes, in name order)."""
    from safetensors.torch import load_file

    tensors = load_file(Path(folder) / "model.safetensors")
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def loss_rows(folder: Path) -> list[str]:
    """``loss_curve.csv`` (header included) without the ``elapsed_s`` column, which differs between runs."""
    lines = (Path(folder) / "loss_curve.csv").read_text().splitlines()
    header = lines[0].split(",")
    keep = [i for i, h in enumerate(header) if h != "elapsed_s"]
    return [",".join(row.split(",")[i] for i in keep) for row in lines]
