"""docs/architecture.md cannot drift silently: the paths it names exist, the names it points to are defined
there, and its module map lists every module of synrank/, benchmarks/ and scripts/."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "architecture.md"
ROOTS = ("synrank", "benchmarks", "scripts")
#: a path the doc names: in backticks anywhere, or as a bare word inside the data-flow picture
_PREFIX = r"(?:synrank|benchmarks|scripts|tests|docs)/"
_BACKTICKED = re.compile(r"`(" + _PREFIX + r"[^`\s]*)`")
_IN_PICTURE = re.compile(r"(?<![\w/.])(" + _PREFIX + r"[\w./<>-]*[\w/>])")
_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def named_paths(text: str) -> list[str]:
    """Every ``path`` or ``path:name`` the text names, in order (placeholders like ``<suite>`` kept)."""
    pictures = _FENCE.findall(text)
    prose = _FENCE.sub("", text)
    return _BACKTICKED.findall(prose) + [p for block in pictures for p in _IN_PICTURE.findall(block)]


def defined_names(path: Path) -> set[str]:
    """Top-level names of a Python file (functions, classes, assignments), and ``Class.member`` for members."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
            if isinstance(node, ast.ClassDef):
                names |= {f"{node.name}.{n.name}" for n in node.body
                          if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def problems(text: str, repo: Path) -> list[str]:
    """What the text names that is not there: a missing path (a ``<placeholder>`` matches any one name), a
    ``path:name`` whose file does not define ``name``."""
    out = []
    for ref in named_paths(text):
        rel, _, name = ref.partition(":")
        pattern = re.sub(r"<[^>/]*>", "*", rel.rstrip("/"))
        found = sorted(repo.glob(pattern)) if "*" in pattern else [repo / pattern] if (repo / pattern).exists() else []
        if not found or (rel.endswith("/") and not any(f.is_dir() for f in found)):
            out.append(f"{ref}: no such path")
        elif name and not (found[0].suffix == ".py" and name in defined_names(found[0])):
            out.append(f"{ref}: {name!r} is not defined in {rel}")
    return out


def modules(repo: Path) -> list[str]:
    return sorted(str(p.relative_to(repo)) for root in ROOTS for p in (repo / root).rglob("*.py")
                  if "__pycache__" not in p.parts)


def test_every_path_the_architecture_page_names_exists():
    assert problems(DOC.read_text(encoding="utf-8"), REPO) == []


def test_the_module_map_names_every_module():
    named = {ref.partition(":")[0] for ref in named_paths(DOC.read_text(encoding="utf-8"))}
    assert [m for m in modules(REPO) if m not in named] == []


def test_the_checks_find_a_stale_path_and_a_stale_name(tmp_path):
    (tmp_path / "synrank" / "data").mkdir(parents=True)
    (tmp_path / "synrank" / "data" / "folders.py").write_text("X = 1\n\ndef f():\n    pass\n\nclass C:\n    def m(self):"
                                                             "\n        pass\n", encoding="utf-8")
    (tmp_path / "benchmarks" / "expected").mkdir(parents=True)
    (tmp_path / "benchmarks" / "expected" / "smoke.yaml").write_text("", encoding="utf-8")
    text = ("`synrank/data/folders.py:f`, `synrank/data/folders.py:C.m`, `synrank/data/folders.py:X`, "
            "`synrank/data/`, `benchmarks/expected/<suite>.yaml`, `synrank/data/registry.py`, "
            "`synrank/data/folders.py:gone`, `synrank/data/folders.py/`, `results/<suite>/`\n"
            "```\n  x (synrank/data/folders.py) → benchmarks/run.py\n```\n")
    assert problems(text, tmp_path) == [
        "synrank/data/registry.py: no such path",
        "synrank/data/folders.py:gone: 'gone' is not defined in synrank/data/folders.py",
        "synrank/data/folders.py/: no such path",
        "benchmarks/run.py: no such path",
    ]

