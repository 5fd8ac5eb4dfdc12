"""Crash-safe file writing and folder locks.

Every artifact is written to a temporary file in the same folder, flushed and fsync'ed, then renamed
over the target, so a crash never leaves a half-written file under the final name. Append-only JSONL
logs write whole lines and fsync them; a reader ignores a torn last line (see :func:`read_jsonl_tolerant`).
Input JSON-lines files (plain or gzip) are read with :func:`iter_jsonl_records`, which locates every error.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import shutil
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from filelock import FileLock, Timeout

from synrank.errors import DatasetError, LocatedError, LockedError, SynrankError, os_error_hint

PathLike = str | os.PathLike


def fsync_dir(path: PathLike) -> None:
    """fsync a folder so a rename or new entry inside it survives a crash (best effort)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def fsync_tree(root: PathLike) -> None:
    """fsync every file and folder below ``root`` (before it is renamed into place)."""
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(dirpath)


def _read_umask() -> int:
    # os.umask can only be read by setting it; do that once at import, before any worker threads exist.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def apply_umask(root: PathLike) -> None:
    """Give ``root`` and everything below it the permissions plain ``open()``/``mkdir()`` would (0666/0777
    minus the umask). For folders written by other libraries before they are renamed into place:
    safetensors writes ``model.safetensors`` 0600 through its own temporary file, whatever the umask."""
    for dirpath, _dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o777 & ~_UMASK)
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, 0o666 & ~_UMASK)


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing; rename it over ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        # mkstemp creates 0600; give the artifact the permissions a plain open() would (0666 & ~umask)
        os.fchmod(fd, 0o666 & ~_UMASK)
    except OSError as exc:
        raise SynrankError(f"{path}: cannot write here ({exc.strerror}); choose a writable output folder") from exc
    binary = "b" in mode
    try:
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
            raise SynrankError(f"{path}: write failed ({exc.strerror or exc}); nothing was written") from exc
        raise


def atomic_write_text(path: PathLike, text: str) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(text)


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    with atomic_open(path, "wb", encoding=None) as fh:
        fh.write(data)


def atomic_write_json(path: PathLike, obj: Any, indent: int = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=False, ensure_ascii=False, default=str) + "\n")


def atomic_write_gzip_text(path: PathLike, text: str) -> None:
    """Gzip ``text`` reproducibly (mtime 0, no file name) and write it atomically."""
    with atomic_open(path, "wb", encoding=None) as fh, gzip.GzipFile(fileobj=fh, mode="wb", mtime=0, filename="") as gz:
        gz.write(text.encode("utf-8"))


@contextlib.contextmanager
def staged_folder(path: PathLike) -> Iterator[Path]:
    """Build a folder under a temporary sibling name; it replaces ``path`` when the block ends.

    Yields the empty staging folder. On success its files are fsync'ed and it is renamed to ``path``
    (a folder already there is first moved aside, then removed); on any exception it is removed and
    ``path`` is left as it was. A crash leaves at worst a ``.<name>.staged-*`` or ``.<name>.old-*``
    sibling and no ``path``, never a half-built folder under the final name.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.staged-", dir=path.parent))
    except OSError as exc:
        raise SynrankError(f"{path}: cannot write here ({exc.strerror}); choose a writable output folder") from exc
    try:
        yield tmp
        apply_umask(tmp)  # mkdtemp creates 0700
        fsync_tree(tmp)
        old = None
        if path.exists() or path.is_symlink():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)


def replace_artifacts(folder: PathLike, writers: dict[str, Callable[[Path], Any]], *,
                      artifact_names: Iterable[str], keep: Iterable[PathLike] = ()) -> None:
    """Write one set of artifacts into ``folder``, replacing whatever set an earlier run left there.

    ``writers`` maps file names to functions writing that file (atomically) at the path given; the
    *last* one is the completion marker. It is removed first and written last, and every name of
    ``artifact_names`` this set does not write is removed, so the folder never shows a complete marker
    beside files of another run (e.g. the ``run.trec.gz`` of another dataset). Files in ``keep`` (the input
    being evaluated, when it lies in ``folder``) are never removed. The caller holds the folder's lock.
    """
    folder = Path(folder)
    names = list(writers)
    kept = {Path(p).resolve() for p in keep}
    stale = [n for n in artifact_names if n not in writers and (folder / n).resolve() not in kept]
    for name in [names[-1], *stale]:
        try:
            (folder / name).unlink(missing_ok=True)
        except OSError as exc:
            raise SynrankError(f"{folder / name}: cannot remove the previous run's file ({exc.strerror or exc}); "
                               "choose a writable output folder") from exc
    for name in names:
        writers[name](folder / name)


def append_jsonl(path: PathLike, records: list[dict] | dict) -> None:
    """Append whole JSON lines and fsync, so at most the line being written can be lost.

    If the write fails (disk full, quota, I/O error) the file is cut back to its previous length, so a
    partial line never sits in the middle of the log where the next append would glue onto it.
    """
    if isinstance(records, dict):
        records = [records]
    data = "".join(json.dumps(r, ensure_ascii=False, sort_keys=False) + "\n" for r in records).encode("utf-8")
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "ab")  # noqa: SIM115 - closed below; the size is needed for the rollback
    except OSError as exc:
        raise SynrankError(f"{path}: cannot write here ({exc.strerror or exc}); choose a writable output "
                           "folder") from exc
    with fh:
        start = fh.seek(0, os.SEEK_END)
        try:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        except OSError as exc:
            with contextlib.suppress(OSError):
                fh.truncate(start)
                os.fsync(fh.fileno())
            raise SynrankError(f"{path}: append failed ({exc.strerror or exc}); the file was left as it was "
                               "before this write (free space and re-run to resume)") from exc


def read_jsonl_tolerant(path: PathLike) -> tuple[list[dict], int]:
    """Read an append-only JSONL log written by :func:`append_jsonl`.

    A torn final line (no trailing newline: the process died mid-write) is ignored and reported as
    the second return value; a malformed line anywhere else is an error.
    """
    path = Path(path)
    records: list[dict] = []
    if not path.exists():
        return records, 0
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    torn = 0
    if lines and lines[-1] != b"":
        torn = 1
    lines = lines[:-1]
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise LocatedError(f"malformed JSON line ({exc.msg})", path, lineno,
                               hint="this line was not written by synrank; remove or fix it") from exc
    return records, torn


def iter_jsonl_records(path: PathLike, *, objects: bool = True,
                       on_torn_tail: Callable[[int, str], None] | None = None) -> Iterator[tuple[int, Any]]:
    """Yield ``(line number, record)`` for every non-blank line of a JSON-lines file.

    A ``.gz`` file is decompressed and a UTF-8 byte-order mark is ignored. Every problem is a
    :class:`DatasetError` naming the file, the line and what is wrong: malformed JSON, a record that is not
    a JSON object (with ``objects``), invalid UTF-8, a damaged gzip stream, an unreadable file.

    A last line without its newline that does not parse was cut off (an interrupted write or copy): an
    error saying so, unless ``on_torn_tail`` is given; then it is called with ``(line number, text)`` and
    the line is skipped (an append-only log whose writer died, or is still writing, mid-line).
    """
    path = Path(path)
    for lineno, line in _text_lines(path):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            torn = not line.endswith("\n")
            if torn and on_torn_tail is not None:
                on_torn_tail(lineno, line)
                continue
            hint = ("the last line is cut off: the file was truncated (an interrupted write or copy); "
                    "restore the complete file or delete the line" if torn else "fix or remove this line")
            raise DatasetError(f"malformed JSON line ({exc.msg})", path, lineno, hint=hint) from exc
        except RecursionError:
            raise DatasetError("malformed JSON line (nested too deeply)", path, lineno,
                               hint="fix or remove this line") from None
        if objects and not isinstance(rec, dict):
            raise DatasetError(f"expected a JSON object, found {_json_type(rec)}", path, lineno,
                               hint="each line must be one JSON object: {...}")
        yield lineno, rec


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of a plain or gzip UTF-8 file; a damaged file is a located DatasetError."""
    lineno = 0
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            # bytes, decoded line by line: a text stream decodes ahead in blocks and would blame an
            # earlier line for invalid UTF-8
            for lineno, raw in enumerate(fh, start=1):  # noqa: B007 - lineno is reported on errors
                yield lineno, raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DatasetError(f"damaged gzip file ({exc})", path, lineno + 1,
                           hint="the file is truncated or not gzip: restore it from its source") from exc
    except UnicodeDecodeError as exc:
        raise DatasetError(f"invalid UTF-8 at byte {exc.start} ({exc.reason})", path, lineno,
                           hint="JSON-lines files must be UTF-8 encoded") from exc
    except OSError as exc:
        raise DatasetError(f"cannot read file ({exc.strerror or exc})", path, lineno + 1 if lineno else None,
                           hint=os_error_hint(exc)) from exc


def repair_jsonl_tail(path: PathLike) -> int:
    """Truncate a torn final line left by a killed writer. Returns the number of bytes removed."""
    path = Path(path)
    if not path.exists():
        return 0
    raw = path.read_bytes()
    if not raw or raw.endswith(b"\n"):
        return 0
    keep = raw.rfind(b"\n") + 1
    with open(path, "r+b") as fh:
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
    return len(raw) - keep


def sha256_file(path: PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def open_binary(path: PathLike) -> IO[bytes]:
    """Open a file for reading bytes; a ``.gz`` file (by suffix) is decompressed on the fly."""
    path = Path(path)
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")  # noqa: SIM115 - caller closes


def sha256_content(path: PathLike, chunk: int = 1 << 20) -> str:
    """sha256 of a file's content: of the decompressed bytes for a ``.gz`` file, so that a compressed copy
    has the checksum of the plain file (what dataset checksums and cache keys record)."""
    h = hashlib.sha256()
    with open_binary(path) as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def folder_lock(folder: PathLike, timeout: float = 0.0, what: str = "folder") -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (a ``.lock`` file inside it) for the duration.

    Two runs writing the same results or cache folder at once would interleave files; the second
    one gets a :class:`LockedError` instead.
    """
    folder = Path(folder)
    lock = FileLock(str(folder / ".lock"))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock.acquire(timeout=timeout)
    except Timeout as exc:
        raise LockedError(
            f"{folder}: another synrank process is writing this {what} (lock {folder / '.lock'}); "
            "wait for it to finish or use another output folder"
        ) from exc
    except OSError as exc:
        raise SynrankError(f"{folder}: cannot create or lock this {what} ({exc.strerror or exc}); choose a "
                           "writable folder (a path below a regular file, or a read-only location?)") from exc
    try:
        yield
    finally:
        lock.release()
