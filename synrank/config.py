"""Strict config loading: YAML/TOML/JSON files into dataclasses; unknown keys and wrong types are errors.

Numbers are checked twice: every float must be finite, and every numeric field declared with
:func:`bounded` carries its documented range (``Range``), checked when the config is loaded (a value
out of range is a :class:`~synrank.errors.ConfigError` naming the file and field, before anything is
written). YAML aliases are bounded (:data:`MAX_CONFIG_NODES` values after expansion: a 353-byte
"billion laughs" document is refused at once), and error messages show values abbreviated
(:func:`synrank.errors.show`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from synrank.errors import ConfigError, os_error_hint, show

T = TypeVar("T")

#: Most values (scalars, lists, mappings) a config may hold once its YAML aliases are expanded.
MAX_CONFIG_NODES = 100_000
#: Longest parser message quoted in a "cannot parse config" error.
_MAX_PARSER_MESSAGE = 300


@dataclass(frozen=True)
class Range:
    """The documented range of a numeric config field: ``lo <= value <= hi`` (``<`` where open)."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def contains(self, value: float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return False
        return self.hi is None or (value < self.hi if self.hi_open else value <= self.hi)

    def describe(self, name: str) -> str:
        """``0 <= seed <= 4294967295``, ``learning_rate > 0`` ..."""
        def num(v: float) -> str:
            return str(v) if isinstance(v, int) else f"{v:g}"

        if self.lo is not None and self.hi is None:
            return f"{name} {'>' if self.lo_open else '>='} {num(self.lo)}"
        left = "" if self.lo is None else f"{num(self.lo)} {'<' if self.lo_open else '<='} "
        right = "" if self.hi is None else f" {'<' if self.hi_open else '<='} {num(self.hi)}"
        return f"{left}{name}{right}"


def bounded(default: Any, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
            hi_open: bool = False) -> Any:
    """A dataclass field with a documented range, checked by :func:`from_dict` and :func:`check_ranges`."""
    return dataclasses.field(default=default, metadata={"range": Range(lo, hi, lo_open, hi_open)})


def field_range(cls: type, name: str) -> Range | None:
    """The declared range of field ``name`` of dataclass ``cls`` (None when it has none)."""
    return next((f.metadata.get("range") for f in dataclasses.fields(cls) if f.name == name), None)


def check_ranges(obj: Any, source: str | Path | None = None, prefix: str = "") -> None:
    """Raise a :class:`ConfigError` for the first numeric field of ``obj`` (and of the dataclasses it
    holds) outside its declared range; ``None`` values of optional fields are not checked."""
    source = None if source is None else str(source)
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        rng = f.metadata.get("range")
        if rng is not None and value is not None and not isinstance(value, bool) \
                and isinstance(value, (int, float)) and not rng.contains(value):
            optional = type(None) in typing.get_args(typing.get_type_hints(type(obj))[f.name])
            raise ConfigError(f"field {prefix + f.name!r}: {show(value)} is out of range (allowed: "
                              f"{rng.describe(f.name)}{', or null' if optional else ''})", source)
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            if dataclasses.is_dataclass(item) and not isinstance(item, type):
                where = f"{prefix}{f.name}[{i}]." if isinstance(value, list) else f"{prefix}{f.name}."
                check_ranges(item, source, where)


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
    # start-up time: every command loads this module (the dataset catalog); PyYAML only to read YAML
    import yaml

    class Loader(yaml.SafeLoader):
        def get_single_data(self):
            node = self.get_single_node()
            if node is None:
                return None
            _check_expansion(node)
            return self.construct_document(node)

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


class _TooLarge(ValueError):
    pass


def _check_expansion(root: Any) -> None:
    """Count the values of a composed YAML document as if every alias were expanded; refuse more than
    :data:`MAX_CONFIG_NODES` (or a recursive alias) before anything is constructed. Aliases share one node
    object, so the count is memoised per node and costs one pass over the document as written."""
    import yaml  # loaded already: only called while reading a YAML file

    sizes: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(root, False)]
    open_nodes: set[int] = set()
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[key] = 1
            continue
        children = ([c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode)
                    else list(node.value))
        if children_done:
            open_nodes.discard(key)
            sizes[key] = min(MAX_CONFIG_NODES + 1, 1 + sum(sizes[id(c)] for c in children))
            if sizes[key] > MAX_CONFIG_NODES:
                break
            continue
        if key in open_nodes:
            raise _TooLarge("a YAML alias refers to itself (a recursive structure)")
        open_nodes.add(key)
        stack.append((node, True))
        for child in children:
            if id(child) in open_nodes:
                raise _TooLarge("a YAML alias refers to itself (a recursive structure)")
            if id(child) not in sizes:
                stack.append((child, False))
    if sizes.get(id(root), 0) > MAX_CONFIG_NODES or any(v > MAX_CONFIG_NODES for v in sizes.values()):
        raise _TooLarge(f"the config expands to more than {MAX_CONFIG_NODES:,} values through YAML aliases "
                        "(an alias bomb?)")


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
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(f"invalid UTF-8 at byte {exc.start} ({exc.reason})", path, line,
                          hint="config files must be UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file ({exc.strerror or exc})", path, hint=os_error_hint(exc)) from exc
    suffix = path.suffix.lower()
    try:
        if suffix in (".yaml", ".yml"):
            # start-up time: every command loads this module (the dataset catalog); PyYAML only to read YAML
            import yaml

            data = yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader subclass
        elif suffix == ".toml":
            import tomllib  # standard library from Python 3.11 only (synrank supports 3.10)

            data = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text, object_pairs_hook=_json_pairs)
        else:
            raise ConfigError(f"unknown config format {suffix!r}", path, hint="use .yaml, .toml or .json")
    except ConfigError:
        raise
    except _DuplicateKey as exc:
        raise ConfigError(f"duplicate key {show(exc.key)}", path, exc.line,
                          hint="each key may appear once; delete one of them") from exc
    except _TooLarge as exc:
        raise ConfigError(f"cannot load config: {exc}", path,
                          hint="write the values out, or use fewer nested aliases") from None
    except RecursionError:
        raise ConfigError("cannot parse config: nested too deeply", path) from None
    except Exception as exc:  # parser errors differ per format; keep their location text
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        line = line + 1 if line is not None else getattr(exc, "lineno", None)
        message = " ".join(str(exc).split())
        if len(message) > _MAX_PARSER_MESSAGE:
            message = message[: _MAX_PARSER_MESSAGE - 3] + "..."
        raise ConfigError(f"cannot parse config: {message}", path, line) from exc
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
        alternatives = [a for a in args if a is not type(None)]
        if value is not None and len(alternatives) == 1:  # Optional[X]: X's own message is the precise one
            return _check_type(value, alternatives[0], field, source)
        errors = []
        for arg in args:
            try:
                return _check_type(value, arg, field, source)
            except ConfigError as exc:
                errors.append(exc)
        raise ConfigError(f"field {field!r}: {show(value)} is not {_type_name(tp)}", source)
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"field {field!r}: expected null, got {show(value)}", source)
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
        return {str(k): _check_type(v, vt, f"{field}.{_key(k)}", source) for k, v in value.items()}
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"field {field!r}: {show(value)} is not one of {list(args)}", source)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"field {field!r}: expected a number, got {show(value)}", source)
        if value != value:  # NaN passes every later range check (all comparisons are False)
            raise ConfigError(f"field {field!r}: expected a number, got NaN", source)
        try:
            number = float(value)
        except OverflowError:  # an int too large for a float
            number = math.inf
        if not math.isfinite(number):
            raise ConfigError(f"field {field!r}: expected a finite number, got {show(value)}", source)
        if number != value:  # an integer a float cannot hold exactly: reading it would change it silently
            raise ConfigError(f"field {field!r}: {show(value)} has more digits than a floating-point number "
                              f"holds (it would be read as {number!r})", source, hint=f"write {number!r}")
        return number
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"field {field!r}: expected an integer, got {show(value)}", source)
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"field {field!r}: expected true/false, got {show(value)}", source)
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"field {field!r}: expected a string, got {show(value)}", source)
        return value
    return value


def _key(key: Any) -> str:
    """A mapping key as it appears in a field path (abbreviated when long)."""
    return key if isinstance(key, str) and len(key) <= 40 else show(key, 40)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def from_dict(cls: type[T], data: dict[str, Any], source: str | Path | None = None, prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, rejecting unknown keys, missing required keys and bad types."""
    source = None if source is None else str(source)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(str(k) for k in data if k not in fields)
    if unknown:
        shown = ", ".join(prefix + _key(k) for k in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise ConfigError(f"unknown key(s) {shown}{more}", source, hint=f"allowed: {', '.join(sorted(fields))}")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _check_type(data[name], hints[name], prefix + name, source)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing required key {prefix + name!r}", source)
    obj = cls(**kwargs)
    check_ranges(obj, source, prefix)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        try:
            validate()
        except ValueError as exc:
            raise ConfigError(str(exc), source) from exc
    return obj


def to_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)
