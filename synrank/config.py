"""Strict config loading: YAML/TOML/JSON files into dataclasses; unknown keys and wrong types are errors."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from synrank.errors import ConfigError

T = TypeVar("T")


class _DuplicateKey(ValueError):
    def __init__(self, key: Any, line: int | None):
        self.key, self.line = key, line
        super().__init__(f"duplicate key {key!r}")


def _yaml_loader():
    """A SafeLoader that refuses duplicate keys and reads ``1e-5`` as a float.

    PyYAML implements YAML 1.1, where ``1e-5`` (no dot) is a *string*: a learning rate written that
    way would fail the type check with a puzzling message. And a repeated key silently keeps the last
    value, so ``learning_rate`` set twice would be half-ignored.
    """
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def construct_mapping(loader, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # ``<<: *anchor``; explicit keys may override it
                continue
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                raise _DuplicateKey(key, key_node.start_mark.line + 1)
            seen[key] = key_node.start_mark.line + 1
        return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
        list("-+0123456789"))
    return Loader


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(k, None)
        out[k] = v
    return out


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML, TOML or JSON mapping; errors name the file (and line where the parser knows it).

    Duplicate keys are errors in every format (YAML and JSON parsers would keep the last one).
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError("config file does not exist", path)
    text = path.read_text(encoding="utf-8-sig")
    suffix = path.suffix.lower()
    try:
        if suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader subclass
        elif suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text, object_pairs_hook=_json_pairs)
        else:
            raise ConfigError(f"unknown config format {suffix!r}", path, hint="use .yaml, .toml or .json")
    except ConfigError:
        raise
    except _DuplicateKey as exc:
        raise ConfigError(f"duplicate key {exc.key!r}", path, exc.line,
                          hint="each key may appear once; delete one of them") from exc
    except Exception as exc:  # parser errors differ per format; keep their location text
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        line = line + 1 if line is not None else getattr(exc, "lineno", None)
        raise ConfigError(f"cannot parse config: {exc}", path, line) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"top level must be a mapping, got {type(data).__name__}", path)
    return data


def _check_type(value: Any, tp: Any, field: str, source: str | None) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arg in args:
            try:
                return _check_type(value, arg, field, source)
            except ConfigError as exc:
                errors.append(exc)
        raise ConfigError(f"field {field!r}: {value!r} is not {_type_name(tp)}", source)
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"field {field!r}: expected null, got {value!r}", source)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"field {field!r}: expected a mapping, got {type(value).__name__}", source)
        return from_dict(tp, value, source=source, prefix=f"{field}.")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"field {field!r}: expected a list, got {type(value).__name__}", source)
        inner = args[0] if args else Any
        items = [_check_type(v, inner, f"{field}[{i}]", source) for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"field {field!r}: expected a mapping, got {type(value).__name__}", source)
        vt = args[1] if len(args) == 2 else Any
        return {str(k): _check_type(v, vt, f"{field}.{k}", source) for k, v in value.items()}
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"field {field!r}: {value!r} is not one of {list(args)}", source)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"field {field!r}: expected a number, got {value!r}", source)
        if value != value:  # NaN passes every later range check (all comparisons are False)
            raise ConfigError(f"field {field!r}: expected a number, got NaN", source)
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"field {field!r}: expected an integer, got {value!r}", source)
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"field {field!r}: expected true/false, got {value!r}", source)
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"field {field!r}: expected a string, got {value!r}", source)
        return value
    return value


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def from_dict(cls: type[T], data: dict[str, Any], source: str | Path | None = None, prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, rejecting unknown keys, missing required keys and bad types."""
    source = None if source is None else str(source)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(prefix + k for k in unknown)}", source,
                          hint=f"allowed: {', '.join(sorted(fields))}")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _check_type(data[name], hints[name], prefix + name, source)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing required key {prefix + name!r}", source)
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        try:
            validate()
        except ValueError as exc:
            raise ConfigError(str(exc), source) from exc
    return obj


def to_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)
