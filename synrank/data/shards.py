"""How a folder of graded groups is stored: append-only shards, compacted shards, reject logs.

``synrank generate`` writes such a folder (:mod:`synrank.synthetic.pipeline`) and the trainer reads it
(:func:`synrank.data.groups.iter_groups`); this module is the one place that knows its files::

    shard-00000.jsonl        accepted groups (synrank.groups/v1), appended and fsynced one per line;
                             each session starts a new shard and rotates every ``shard_size`` groups
    shard-0000N.jsonl.gz     shards compacted by :func:`pack` (read the same way)
    rejects-0000N.jsonl      rejected passages/queries with their reasons, one file per session (never read
                             as groups); ``.jsonl.gz`` once packed. (``rejects.jsonl[.gz]``: older layout, read too)
    log/active.json          the shard a running session appends to (:func:`pack` leaves it and later ones alone)

A file present both plain and compacted (``pack`` stopped between writing ``x.jsonl.gz`` and removing
``x.jsonl``) is read once, from the plain file (:func:`one_copy_each`).

A killed writer can leave the last line of a plain shard or reject log torn. Two readers treat that
differently, on purpose:

- :func:`iter_records` / :func:`iter_rejects`, the generator's own view: complete lines only (a line
  without its newline is skipped, whether or not it parses), exactly what a resumed session keeps after
  :func:`repair_torn_tails` has cut the torn line.
- :func:`iter_group_file`, the trainer's view of one group file: every line that parses, each problem a
  located error, except that the torn last line of an append-only ``shard-N.jsonl`` (its writer died, or
  is still writing) is skipped with a warning.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from synrank.errors import GenerationError, LockedError
from synrank.io import (
    append_jsonl,
    atomic_write_gzip_text,
    atomic_write_json,
    folder_lock,
    iter_jsonl_records,
    repair_jsonl_tail,
)

log = logging.getLogger(__name__)

#: a shard as the generator names it (five digits), plain or compacted
SHARD_RE = re.compile(r"^shard-(\d{5})\.jsonl(\.gz)?$")
#: a reject log: one per session (numbered by the session's first shard), or the older single file
REJECTS_RE = re.compile(r"^rejects(?:-(\d{5}))?\.jsonl(\.gz)?$")
#: a plain shard as the trainer's reader recognises it (any number of digits): its last line may be torn
_APPEND_ONLY_SHARD = re.compile(r"^shard-\d+\.jsonl$")
#: names the shard a running session appends to
ACTIVE_MARKER = Path("log") / "active.json"


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.jsonl"


def rejects_name(index: int) -> str:
    return f"rejects-{index:05d}.jsonl"


def shard_index(name: str) -> int:
    """``shard-00042.jsonl[.gz]`` → 42."""
    return int(SHARD_RE.match(name).group(1))


# ----------------------------------------------------------------------------------------------------
# listing
def one_copy_each(files: list[Path]) -> list[Path]:
    """``files`` without every ``x.jsonl.gz`` whose plain ``x.jsonl`` is listed too (an interrupted pack)."""
    names = {f.name for f in files}
    return [f for f in files if not (f.name.endswith(".jsonl.gz") and f.name[:-3] in names)]


def shard_files(out: Path) -> list[Path]:
    """Every shard file in ``out`` by name, both copies of a half-packed shard included."""
    return sorted((p for p in out.iterdir() if SHARD_RE.match(p.name)), key=lambda p: p.name)


def reject_files(out: Path) -> list[Path]:
    """Reject logs, one per stem: the plain file when both plain and packed exist."""
    return one_copy_each(sorted(p for p in out.iterdir() if REJECTS_RE.match(p.name)))


def next_shard_index(out: Path) -> int:
    """The index a new session starts its first shard at (after every shard already there)."""
    nums = [shard_index(p.name) for p in shard_files(out)]
    return max(nums) + 1 if nums else 0


# ----------------------------------------------------------------------------------------------------
# reading
def _complete_lines(path: Path) -> Iterator[Any]:
    """The records of the lines of ``path`` that end with their newline (a torn last line is skipped)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.endswith("\n") and line.strip():
                yield json.loads(line)


def iter_records(out: Path) -> Iterator[Any]:
    """Every accepted record in ``out`` once (a shard present as .jsonl and .jsonl.gz counts once)."""
    for path in one_copy_each(shard_files(out)):
        yield from _complete_lines(path)


def iter_rejects(out: Path) -> Iterator[Any]:
    for path in reject_files(out):
        yield from _complete_lines(path)


def iter_group_file(file: Path) -> Iterator[tuple[int, Any]]:
    """``(line number, record)`` of one group file as the trainer reads it (:func:`synrank.io.iter_jsonl_records`:
    every problem located), the torn last line of an append-only shard skipped with a warning."""
    on_torn = _warn_torn_line(file) if _APPEND_ONLY_SHARD.match(file.name) else None
    return iter_jsonl_records(file, on_torn_tail=on_torn)


def _warn_torn_line(file: Path) -> Callable[[int, str], None]:
    def warn(lineno: int, line: str) -> None:
        # An append-only generation shard whose writer died (or is writing) mid-line: that group was
        # never complete. Skip it, as the generator does when it resumes.
        log.warning("%s:%d: ignoring a torn last line (%d bytes): generation was interrupted or is still "
                    "running; re-run `synrank generate` to resume", file, lineno, len(line))
    return warn


# ----------------------------------------------------------------------------------------------------
# writing
def repair_torn_tails(out: Path) -> None:
    """Cut the torn last line a killed session left in a plain shard (with a warning) or reject log."""
    for path in shard_files(out):
        if path.suffix == ".jsonl":
            cut = repair_jsonl_tail(path)
            if cut:
                log.warning("%s: removed a torn last line (%d bytes) left by an interrupted run", path, cut)
    for path in reject_files(out):
        if path.suffix == ".jsonl":
            repair_jsonl_tail(path)


class ShardWriter:
    """One session's appends to ``out``: groups to ``shard-N.jsonl`` from ``first_index`` on, a new shard
    every ``shard_size`` groups; rejects to ``rejects-<first_index>.jsonl``. Every record is one fsynced
    line (:func:`synrank.io.append_jsonl`). While the session runs, ``log/active.json`` names the shard it
    appends to, so that :func:`pack` leaves that shard alone; :meth:`close` removes the marker."""

    def __init__(self, out: Path, first_index: int, shard_size: int, session: str):
        self.out = out
        self.first_index = first_index
        self.index = first_index
        self.shard_size = shard_size
        self.session = session
        self.groups_in_shard = 0
        self._marked = False
        self._mark_active()

    @property
    def path(self) -> Path:
        return self.out / shard_name(self.index)

    def append_group(self, rec: dict[str, Any]) -> None:
        if self.groups_in_shard >= self.shard_size:
            self.index += 1
            self.groups_in_shard = 0
            self._mark_active()
        append_jsonl(self.path, rec)
        self.groups_in_shard += 1

    def append_reject(self, rec: dict[str, Any]) -> None:
        append_jsonl(self.out / rejects_name(self.first_index), rec)

    def _mark_active(self) -> None:
        self._marked = True
        atomic_write_json(self.out / ACTIVE_MARKER, {"shard": self.path.name, "pid": os.getpid(),
                                                     "session": self.session})

    def close(self) -> None:
        """Remove this session's marker (after success or failure); only a kill -9 can leave it behind."""
        if self._marked:
            # best effort: a failure here must not hide the error that ended the run
            with contextlib.suppress(OSError):
                (self.out / ACTIVE_MARKER).unlink(missing_ok=True)
            self._marked = False


# ----------------------------------------------------------------------------------------------------
# compaction
def _active_index(out: Path) -> int | None:
    """Index of the shard a live generator is appending to (None when no generator holds the folder)."""
    try:
        with folder_lock(out):
            return None
    except LockedError:
        try:
            info = json.loads((out / ACTIVE_MARKER).read_text())
            return int(SHARD_RE.match(info["shard"]).group(1))
        except (OSError, ValueError, KeyError, AttributeError):
            return -1  # locked but unknown: compact nothing


def pack(out: str | Path) -> dict[str, int]:
    """Compact closed shards and reject logs to ``.jsonl.gz`` (atomic; the plain file is removed after).

    Safe while a generator runs: only files of sessions/shards below the live shard index are touched.
    """
    out = Path(out)
    active = _active_index(out)
    packed = 0
    for path in shard_files(out):
        if path.suffix != ".jsonl":
            continue
        idx = shard_index(path.name)
        if active is not None and idx >= active:
            continue
        if active is None:
            repair_jsonl_tail(path)
        if path.with_name(path.name + ".gz").exists():
            path.with_name(path.name + ".gz").unlink()  # an interrupted earlier pack: redo from the plain file
        _compact(path)
        packed += 1
    for path in sorted(out.iterdir()):
        m = REJECTS_RE.match(path.name)
        if not m or path.suffix != ".jsonl":
            continue
        idx = int(m.group(1)) if m.group(1) else -1  # legacy rejects.jsonl: only when no generator runs
        if active is not None and (idx >= active or idx < 0):
            continue
        _compact(path, append=True)
    return {"packed_shards": packed}


def _compact(path: Path, append: bool = False) -> None:
    """``x.jsonl`` → ``x.jsonl.gz`` (appending to an existing .gz's lines when ``append``), then delete ``x.jsonl``."""
    text = path.read_text(encoding="utf-8")
    text = text[: text.rfind("\n") + 1]
    gz = path.with_name(path.name + ".gz")
    if append and gz.exists():
        with gzip.open(gz, "rt", encoding="utf-8") as fh:
            old = fh.read()
        text = old + text
    atomic_write_gzip_text(gz, text)
    with gzip.open(gz, "rt", encoding="utf-8") as fh:
        if fh.read() != text:
            raise GenerationError("compressed file does not read back identically", gz)
    path.unlink()
