"""synrank.config: strict loading of YAML/TOML/JSON into dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from synrank.config import from_dict, load_config_file
from synrank.errors import ConfigError


@dataclass
class Inner:
    k: int = 1


@dataclass
class Outer:
    name: str
    rate: float = 0.1
    mode: Literal["a", "b"] = "a"
    limit: int | None = None
    inner: Inner = field(default_factory=Inner)
    tags: list[str] = field(default_factory=list)
    extra: dict[str, float] = field(default_factory=dict)

    def validate(self) -> None:
        if self.rate <= 0:
            raise ValueError("rate must be > 0")


def test_round_trip_with_coercions():
    obj = from_dict(Outer, {"name": "x", "rate": 2, "limit": None, "inner": {"k": 3}, "tags": ["a"],
                            "extra": {"w": 1}})
    assert obj == Outer("x", 2.0, "a", None, Inner(3), ["a"], {"w": 1.0})
    assert isinstance(obj.rate, float)


@pytest.mark.parametrize(("data", "match"), [
    ({"name": "x", "bogus": 1}, r"unknown key\(s\) bogus \(allowed: extra, inner, "),
    ({"name": "x", "inner": {"kk": 1}}, r"unknown key\(s\) inner.kk"),
    ({}, "missing required key 'name'"),
    ({"name": 3}, "field 'name': expected a string, got 3"),
    ({"name": "x", "rate": "0.1"}, "field 'rate': expected a number, got '0.1'"),
    ({"name": "x", "rate": float("nan")}, "field 'rate': expected a number, got NaN"),
    ({"name": "x", "limit": 1.5}, "field 'limit': expected an integer, got 1.5"),
    ({"name": "x", "limit": True}, "field 'limit': expected an integer, got True"),
    ({"name": "x", "mode": "c"}, r"field 'mode': 'c' is not one of \['a', 'b'\]"),
    ({"name": "x", "tags": "a"}, "field 'tags': expected a list"),
    ({"name": "x", "tags": [1]}, r"field 'tags\[0\]': expected a string"),
    ({"name": "x", "extra": {"w": "1"}}, "field 'extra.w': expected a number"),
    ({"name": "x", "rate": -1}, "rate must be > 0"),
])
def test_rejections_name_the_field(data, match):
    with pytest.raises(ConfigError, match=match) as info:
        from_dict(Outer, data, source="cfg.yaml")
    assert str(info.value).startswith("cfg.yaml: ")


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("c.yaml", "name: x\nrate: 1e-3\n", {"name": "x", "rate": 0.001}),
    ("c.toml", 'name = "x"\nrate = 1e-3\n', {"name": "x", "rate": 0.001}),
    ("c.json", '{"name": "x", "rate": 1e-3}', {"name": "x", "rate": 0.001}),
    ("c.yml", "", {}),
    ("c.yaml", "base: &b {k: 1}\nother:\n  <<: *b\n  j: 2\n", {"base": {"k": 1}, "other": {"k": 1, "j": 2}}),
])
def test_formats(tmp_path, name, text, expected):
    path = tmp_path / name
    path.write_text(text)
    assert load_config_file(path) == expected


@pytest.mark.parametrize(("name", "text", "match"), [
    ("c.yaml", "a: 1\nb: [1\n", r"c.yaml:\d+: cannot parse config"),
    ("c.yaml", "a: 1\nb: 2\na: 3\n", r"c.yaml:3: duplicate key 'a'"),
    ("c.json", '{"a": {"b": 1, "b": 2}}', r"c.json: duplicate key 'b'"),
    ("c.toml", "a = 1\na = 2\n", "cannot parse config"),
    ("c.yaml", "[1, 2]\n", "top level must be a mapping, got list"),
    ("c.cfg", "a=1\n", "unknown config format '.cfg'"),
])
def test_file_errors(tmp_path, name, text, match):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config_file(path)
