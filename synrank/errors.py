"""Error types. Every error names what is wrong, where (file, line or field) and what to do."""

from __future__ import annotations

from pathlib import Path


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


class LockedError(SynrankError):
    """Another process holds the lock on an output folder."""


def describe_os_error(exc: OSError) -> str:
    """One line for an OSError that reached a command's top level (disk full, permission, a path below
    a regular file): the error, the file it names and what to check. Commands print it instead of a
    traceback; library code should raise located errors instead."""
    where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
    return (f"{type(exc).__name__}: {where}{exc.strerror or exc} (check that the path exists, is writable "
            "and the disk has space; -v shows the traceback)")
