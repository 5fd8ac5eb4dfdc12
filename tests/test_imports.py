"""Imports (issue 17): no import cycle, and every project-internal import inside a function says why.

An import inside a function hides a dependency from a reader of the module's head; it is allowed for a
reason written beside it (an optional or heavy dependency kept out of start-up, a measurement that must
not include it, ...): a comment on its line, or a comment line right above it. Linter directives
(``# noqa: F401``) are not a reason. The module graph and the in-function imports come from
``scripts/arch_metrics.py`` (the issue's before/after numbers), so the test and the report agree.

:data:`ENFORCED` is the part of the tree held to the rule, as path prefixes relative to the repository;
the rest is measured but not yet checked. ``("synrank/", "benchmarks/")`` enforces everything.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from tests.reliability.harness import REPO, _env

ENFORCED: tuple[str, ...] = (
    "synrank/data/",
    "synrank/retrieval/",
    "synrank/losses/",
    "synrank/evaluation/measures.py",
    "synrank/evaluation/significance.py",
    "synrank/evaluation/mteb_format.py",
    "synrank/api.py",
    "synrank/cli.py",
    "synrank/cliargs.py",
    "synrank/config.py",
    "synrank/errors.py",
    "synrank/hardware.py",
    "synrank/hub.py",
    "synrank/io.py",
    "synrank/paths.py",
    "synrank/provenance.py",
    "synrank/redact.py",
    "benchmarks/bench_",
    "benchmarks/plots.py",
    "benchmarks/tuning/",
)

#: Must not be imported by ``synrank --help`` (every command pays for what the parser build imports).
HEAVY_AT_START = ("torch", "sentence_transformers", "transformers", "faiss", "synrank.data.download")

# A linter directive in a comment: not a reason.
_DIRECTIVE = re.compile(r"noqa(:\s*[A-Z]+[0-9]+(\s*,\s*[A-Z]+[0-9]+)*)?|type:\s*ignore(\[[^\]]*\])?|pragma:\s*no\s+cover",
                        re.IGNORECASE)


def _arch_metrics() -> ModuleType:
    spec = importlib.util.spec_from_file_location("arch_metrics", REPO / "scripts" / "arch_metrics.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _enforced(rel: str, prefixes: Sequence[str]) -> bool:
    return rel.replace("\\", "/").startswith(tuple(prefixes))


def _reason(comment_line: str) -> str:
    """The words of a line's comment, linter directives removed ('' when there is none)."""
    if "#" not in comment_line:
        return ""
    text = comment_line.split("#", 1)[1]
    return _DIRECTIVE.sub("", text).strip(" \t;,()")


def unexplained_imports(repo: Path, prefixes: Sequence[str]) -> list[str]:
    """``file:line`` of every in-function project-internal import under ``prefixes`` with no reason beside it."""
    out = []
    for item in _arch_metrics().measure(repo)["internal_imports_in_functions"]:
        rel, _, lineno = item["where"].rpartition(":")
        if not _enforced(rel, prefixes):
            continue
        lines = (repo / rel).read_text(encoding="utf-8").splitlines()
        n = int(lineno)
        above = lines[n - 2].strip() if n >= 2 else ""
        if not (_reason(lines[n - 1]) or (above.startswith("#") and _reason(above))):
            out.append(item["where"])
    return out


def cycles_through(repo: Path, prefixes: Sequence[str]) -> list[list[str]]:
    """The import cycles (strongly connected modules) that hold a module under ``prefixes``."""
    metrics = _arch_metrics()
    enforced = {metrics.module_name(repo, p) for p in metrics.python_files(repo)
                if _enforced(str(p.relative_to(repo)), prefixes)}
    return [c for c in metrics.measure(repo)["cycles"] if enforced & set(c)]


def test_no_import_cycle():
    assert cycles_through(REPO, ENFORCED) == []


def test_imports_inside_functions_say_why():
    assert unexplained_imports(REPO, ENFORCED) == []


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
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    assert unexplained_imports(tmp_path, ("synrank/",)) == ["synrank/a.py:2", "synrank/c.py:2"]
    assert unexplained_imports(tmp_path, ("synrank/d.py", "benchmarks/")) == ["benchmarks/x.py:2"]
    assert cycles_through(tmp_path, ("synrank/a.py",)) == [["synrank.a", "synrank.b"]]
    assert cycles_through(tmp_path, ("synrank/c.py", "synrank/e.py")) == []


def test_cli_start_up_loads_no_heavy_module():
    code = ("import contextlib, io, json, sys, synrank.cli\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
            "    synrank.cli.main(['--help'])\n"
            f"print(json.dumps(sorted(m for m in {HEAVY_AT_START!r} if m in sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=_env(None), capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []
