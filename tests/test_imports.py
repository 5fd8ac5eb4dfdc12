"""Imports (issue 17): the layers, no import cycle, and every project-internal import inside a function says why.

**Layers.** :data:`LAYERS` orders the packages; a module imports only from its own package and from
layers below its own, never upwards (``synrank`` never imports ``benchmarks``; ``synrank.data`` never
imports ``synrank.training``). The foundation modules of the first layer may import each other (the cycle
test keeps that a tree). ``docs/architecture.md`` shows the same table.

**In-function imports.** An import inside a function hides a dependency from a reader of the module's
head; it is allowed for a reason written beside it (an optional or heavy dependency kept out of start-up,
a measurement that must not include it, ...): a comment on its line, or a comment line right above it.
Linter directives (``# noqa: F401``) are not a reason. The module graph, the in-function imports and
whether each is explained come from ``scripts/arch_metrics.py`` (the issue's before/after numbers), so
the test and the report agree. :data:`ENFORCED` is the part of the tree held to the rule: all of it.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from types import ModuleType

from tests.reliability.harness import REPO, _env

ENFORCED: tuple[str, ...] = ("synrank/", "benchmarks/", "scripts/")

#: The layers, lowest first: a unit (a package of ``synrank``, a top-level module of it, or a whole tree)
#: imports only units of lower layers (and itself). See :func:`unit`.
LAYERS: tuple[tuple[str, ...], ...] = (
    # foundation: errors, files, paths, provenance, configs, command-line conventions
    ("synrank.errors", "synrank.config", "synrank.io", "synrank.paths", "synrank.provenance", "synrank.hardware",
     "synrank.redact", "synrank.cliargs"),
    ("synrank.data", "synrank.losses"),
    ("synrank.records", "synrank.retrieval"),
    ("synrank.evaluation", "synrank.synthetic"),
    ("synrank.training",),
    ("synrank.api", "synrank.hub", "synrank.cli"),
    ("synrank",),  # the package itself: the lazy Python API
    ("benchmarks",),
    ("scripts",),
)

#: Must not be imported by ``synrank --help`` (every command pays for what the parser build imports).
HEAVY_AT_START = ("torch", "sentence_transformers", "transformers", "faiss", "synrank.data.download")


@cache
def _arch_metrics() -> ModuleType:
    spec = importlib.util.spec_from_file_location("arch_metrics", REPO / "scripts" / "arch_metrics.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _enforced(rel: str, prefixes: Sequence[str]) -> bool:
    return rel.replace("\\", "/").startswith(tuple(prefixes))


def unexplained_imports(repo: Path, prefixes: Sequence[str]) -> list[str]:
    """``file:line`` of every in-function project-internal import under ``prefixes`` with no reason beside it."""
    return [item["where"] for item in _arch_metrics().measure(repo)["internal_imports_in_functions"]
            if not item["explained"] and _enforced(item["where"].rpartition(":")[0], prefixes)]


def unit(module: str) -> str:
    """The unit of :data:`LAYERS` a module belongs to: ``synrank.data.beir`` -> ``synrank.data``,
    ``synrank.io`` -> itself, ``synrank`` -> itself, anything under ``benchmarks`` -> ``benchmarks``."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "synrank" and len(parts) > 1 else parts[0]


def _layer(name: str) -> int | None:
    return next((i for i, layer in enumerate(LAYERS) if name in layer), None)


def layer_problems(repo: Path) -> list[str]:
    """Modules outside every layer, and imports that go to a unit of the same or a higher layer."""
    problems = []
    for module, deps in _arch_metrics().measure(repo)["imports"].items():
        mine = _layer(unit(module))
        if mine is None:
            problems.append(f"{module}: in no layer (add {unit(module)!r} to LAYERS)")
            continue
        for dep in deps:
            theirs = _layer(unit(dep))
            if unit(dep) == unit(module) or theirs is None or (theirs < mine or mine == theirs == 0):
                continue
            problems.append(f"{module} imports {dep} (layer {theirs}, not below {unit(module)}'s {mine})")
    return problems


def cycles_through(repo: Path, prefixes: Sequence[str]) -> list[list[str]]:
    """The import cycles (strongly connected modules) that hold a module under ``prefixes``."""
    metrics = _arch_metrics()
    enforced = {metrics.module_name(repo, p) for p in metrics.python_files(repo)
                if _enforced(str(p.relative_to(repo)), prefixes)}
    return [c for c in metrics.measure(repo)["cycles"] if enforced & set(c)]


def test_every_module_has_a_layer_and_imports_only_below_it():
    assert layer_problems(REPO) == []


def test_no_import_cycle():
    assert cycles_through(REPO, ENFORCED) == []


def test_imports_inside_functions_say_why():
    assert unexplained_imports(REPO, ENFORCED) == []


def _write_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")


def test_the_checks_find_a_cycle_and_an_import_without_a_reason(tmp_path):
    files = {
        "synrank/__init__.py": "",
        "synrank/a.py": "def f():\n    from synrank import b\n\n    return b\n",
        "synrank/b.py": "import synrank.a\n",
        "synrank/c.py": "def g():\n    import synrank.a  # noqa: F401\n",
        "synrank/d.py": "def h():\n    # start-up time: a loads a heavy library\n    from synrank import a\n\n    return a\n",
        "synrank/e.py": "def k():\n    import synrank.d  # optional, heavy\n",
        "benchmarks/__init__.py": "",
        "benchmarks/x.py": "def m():\n    import synrank.b\n",
    }
    _write_tree(tmp_path, files)
    assert unexplained_imports(tmp_path, ("synrank/",)) == ["synrank/a.py:2", "synrank/c.py:2"]
    assert unexplained_imports(tmp_path, ("synrank/d.py", "benchmarks/")) == ["benchmarks/x.py:2"]
    assert cycles_through(tmp_path, ("synrank/a.py",)) == [["synrank.a", "synrank.b"]]
    assert cycles_through(tmp_path, ("synrank/c.py", "synrank/e.py")) == []


def test_the_layer_check_finds_an_upward_import_and_a_module_without_a_layer(tmp_path):
    files = {
        "synrank/__init__.py": "",
        "synrank/errors.py": "",
        "synrank/io.py": "from synrank import errors\n",  # foundation modules import each other
        "synrank/data/__init__.py": "",
        "synrank/data/beir.py": "from synrank import io\n",
        "synrank/data/x.py": "def f():\n    import synrank.training.trainer  # hidden, still an import\n",
        "synrank/training/__init__.py": "",
        "synrank/training/trainer.py": "import synrank.data.beir\n",
        "synrank/newarea.py": "",
        "benchmarks/__init__.py": "",
        "benchmarks/run.py": "import synrank.training.trainer\n",
    }
    _write_tree(tmp_path, files)
    assert layer_problems(tmp_path) == [
        "synrank.data.x imports synrank.training.trainer (layer 4, not below synrank.data's 1)",
        "synrank.newarea: in no layer (add 'synrank.newarea' to LAYERS)",
    ]


def test_cli_start_up_loads_no_heavy_module():
    code = ("import contextlib, io, json, sys, synrank.cli\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
            "    synrank.cli.main(['--help'])\n"
            f"print(json.dumps(sorted(m for m in {HEAVY_AT_START!r} if m in sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=_env(None), capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []
