"""What every result record shares: a schema version, one writer, one validating reader, upgrades.

A record is a dataclass (keyword-only fields) with three class attributes:

* ``SCHEMA``, e.g. ``synrank.metrics/v2``: written as the file's ``schema`` field. Bump the version
  when the layout changes, and register the old layout in ``UPGRADES``.
* ``FILE``: the file's usual name (for messages).
* ``UPGRADES``: ``{older schema (None: files written before there was one): function}``; the function
  turns such a file's mapping (``schema`` removed) into the current layout, so readers only ever see
  the current record. Old files are read, never rewritten.

:meth:`Record.to_disk` writes the record atomically as JSON; :meth:`Record.from_disk` reads one back
and checks every field (types, required keys, no unknown keys) with :func:`synrank.config.from_dict`.
Whatever is wrong comes out as one :class:`~synrank.errors.RecordError` line naming the file, the line
where the JSON parser knows it, and the field: a cut or edited file, a file of another kind, a file
from a newer synrank.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from synrank.config import from_dict
from synrank.errors import ConfigError, RecordError, os_error_hint, show
from synrank.io import atomic_write_json

R = TypeVar("R", bound="Record")
Upgrade = Callable[[dict[str, Any]], dict[str, Any]]


def optional(default: Any = None) -> Any:
    """A field left out of the file while it holds None (read back as None)."""
    return dataclasses.field(default=default, metadata={"omit_if_none": True})


def schema_version(schema: str) -> tuple[str, int] | None:
    """``synrank.metrics/v2`` -> ``("synrank.metrics", 2)``; None when ``schema`` has no ``/v<N>``."""
    family, sep, version = schema.rpartition("/v")
    return (family, int(version)) if sep and version.isdigit() else None


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: dataclasses become mappings (their ``optional`` None fields left out)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not (getattr(value, f.name) is None and f.metadata.get("omit_if_none"))}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def read_text(path: Path, what: str) -> str:
    """The UTF-8 text of a result file; a missing, unreadable or non-UTF-8 file is one :class:`RecordError`."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RecordError(f"{what} does not exist", path) from None
    except OSError as exc:
        raise RecordError(f"cannot read ({exc.strerror or exc})", path, hint=os_error_hint(exc)) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError(f"invalid UTF-8 at byte {exc.start}", path, raw[: exc.start].count(b"\n") + 1) from None


def mapping(value: Any) -> dict[str, Any]:
    """``value`` when it is a mapping, else an empty one (upgrades read old files defensively: the
    validation after them names what is missing)."""
    return value if isinstance(value, dict) else {}


@dataclasses.dataclass(kw_only=True)
class Record:
    SCHEMA: ClassVar[str] = ""
    FILE: ClassVar[str] = ""
    UPGRADES: ClassVar[dict[str | None, Upgrade]] = {}

    def to_dict(self) -> dict[str, Any]:
        return {"schema": self.SCHEMA, **plain(self)}

    def to_disk(self, path: str | Path) -> Path:
        """Write the record atomically as JSON (the one writer of its file)."""
        path = Path(path)
        atomic_write_json(path, self.to_dict())
        return path

    @classmethod
    def from_dict(cls: type[R], data: Any, source: str | Path | None = None) -> R:
        """The record in ``data`` (a file's parsed JSON), upgraded from an older schema if need be."""
        if not isinstance(data, dict):
            raise RecordError(f"expected a JSON object, got {type(data).__name__}", source)
        schema = data.get("schema")
        body = {k: v for k, v in data.items() if k != "schema"}
        upgraded = ""
        if schema != cls.SCHEMA:
            upgrade = cls.UPGRADES.get(schema) if schema is None or isinstance(schema, str) else None
            if upgrade is None:
                raise RecordError(cls._schema_problem(schema), source)
            body = upgrade(body)
            upgraded = f" (a {schema or 'schema-less'} file read as {cls.SCHEMA})"
        try:
            return from_dict(cls, body, source=source)
        except ConfigError as exc:
            raise RecordError(exc.message + upgraded, exc.path, exc.line, hint=exc.hint) from None

    @classmethod
    def from_disk(cls: type[R], path: str | Path) -> R:
        """Read and validate the record at ``path`` (the one reader of its file)."""
        path = Path(path)
        text = read_text(path, cls.FILE or "file")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RecordError(f"not valid JSON: {exc.msg} (column {exc.colno})", path, exc.lineno,
                              hint="the file was cut short or edited by hand") from None
        except RecursionError:
            raise RecordError("not valid JSON: nested too deeply", path) from None
        return cls.from_dict(data, source=path)

    @classmethod
    def read(cls: type[R], path: str | Path) -> R | None:
        """:meth:`from_disk`, or None when there is no file at ``path``."""
        return cls.from_disk(path) if Path(path).exists() else None

    @classmethod
    def _schema_problem(cls, schema: Any) -> str:
        readable = [cls.SCHEMA, *(s for s in cls.UPGRADES if s)]
        if schema is None:
            return f"no 'schema' field: not a {cls.FILE} (expected schema {cls.SCHEMA})"
        if not isinstance(schema, str):
            return f"'schema' is {show(schema)}, not a string"
        theirs, mine = schema_version(schema), schema_version(cls.SCHEMA)
        if theirs is not None and mine is not None and theirs[0] == mine[0] and theirs[1] > mine[1]:
            return (f"schema {schema} is newer than this synrank reads (up to {cls.SCHEMA}); "
                    "update synrank to read this file")
        return f"schema {show(schema)} is not a {cls.FILE} schema (this synrank reads {', '.join(readable)})"
