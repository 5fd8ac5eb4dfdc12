"""Error types. Every error names what is wrong, where (file, line or field) and what to do."""

from __future__ import annotations

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


class LockedError(SynrankError):
    """Another process holds the lock on an output folder."""


def describe_os_error(exc: OSError) -> str:
    """One line for an OSError that reached a command's top level (disk full, permission, a path below
    a regular file): the error, the file it names and what to check. Commands print it instead of a
    traceback; library code should raise located errors instead."""
    where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
    return (f"{type(exc).__name__}: {where}{exc.strerror or exc} (check that the path exists, is writable "
            "and the disk has space; -v shows the traceback)")
