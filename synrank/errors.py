"""Error types. Every error names what is wrong, where (file, line or field) and what to do."""

from __future__ import annotations

import errno
import os
import reprlib
from pathlib import Path

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxtuple, _REPR.maxdict, _REPR.maxset = 2, 4, 4, 4, 4
_REPR.maxstring, _REPR.maxother, _REPR.maxlong = 50, 50, 40


def show(value: object, limit: int = 60) -> str:
    """A short ``repr`` of a value taken from user input, for error messages: nested containers, long
    strings and huge numbers are abbreviated, so a message stays one short line whatever the input (a YAML
    alias bomb, a megabyte-long id) and never takes long to build."""
    try:
        text = _REPR.repr(value)
    except ValueError:  # an int beyond sys.get_int_max_str_digits()
        text = f"<{type(value).__name__} too large to show>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class SynrankError(Exception):
    """Base class: the CLI turns these into a one-line message and a non-zero exit code."""

    exit_code = 2


class LocatedError(SynrankError):
    """An error tied to a place in a file: ``path:line: message``."""

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None,
                 hint: str | None = None):
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        self.hint = hint
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path if self.line is None else f"{self.path}:{self.line}"
            where += ": "
        text = f"{where}{self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class DatasetError(LocatedError):
    """A dataset folder or file is missing or malformed."""


class ConfigError(LocatedError):
    """A configuration file or value is invalid (unknown key, wrong type, out of range)."""


class ModelError(LocatedError):
    """A model or checkpoint cannot be found or loaded."""


class GenerationError(LocatedError):
    """Synthetic-data generation failed (backend unreachable, unparseable reply, ...)."""


class TrainingError(LocatedError):
    """Training cannot continue (NaN loss, incompatible checkpoint, ...)."""


class HubError(LocatedError):
    """The Hugging Face Hub cannot be used (offline, no token, the Hub refused the upload)."""


class RecordError(LocatedError):
    """A result file (``metrics.json``, ``cell.json``, ``manifest.json`` ...) is damaged, is not the file
    it should be, or was written by a newer synrank (:mod:`synrank.records`)."""


class LockedError(SynrankError):
    """Another process holds the lock on an output folder."""


def describe_os_error(exc: OSError) -> str:
    """One line for an OSError that reached a command's top level (disk full, permission, a path below
    a regular file): the error, the file it names and what to check. Commands print it instead of a
    traceback; library code should raise located errors instead."""
    filename = getattr(exc, "filename", None)
    where = f"{filename}: " if filename else ""
    return f"{type(exc).__name__}: {where}{exc.strerror or exc} ({os_error_hint(exc)}; -v shows the traceback)"


def os_error_hint(exc: OSError) -> str:
    """What to check for ``exc``, worded for what failed: a permission error on a file that exists but
    cannot be read says so (not "check that it is writable")."""
    filename = getattr(exc, "filename", None)
    if isinstance(exc, PermissionError) and filename:
        path = Path(filename)
        if path.exists():
            if not os.access(path, os.R_OK):
                return "it is not readable: check its permissions"
            if not os.access(path, os.W_OK):
                return "it is not writable: check its permissions, or write somewhere else"
            return "check its permissions and those of the folders above it"
        parent = path.parent
        if parent.is_dir() and not os.access(parent, os.W_OK | os.X_OK):
            return f"its folder {parent} is not writable: choose another output location"
        return "check the permissions of the folders on its path"
    if isinstance(exc, FileNotFoundError):
        return "check that the path exists"
    if isinstance(exc, NotADirectoryError):
        return "a part of the path is a regular file, not a folder"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "free disk space or raise the quota"
    return "check that the path exists, its permissions, and that the disk has space"
