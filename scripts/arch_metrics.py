"""Architecture metrics of the code base (issue 17): largest files and functions, project-internal imports
inside function bodies, and import cycles between modules.

    python scripts/arch_metrics.py [--top 10] [--json FILE]

Counts Python files under ``synrank/``, ``benchmarks/`` and ``scripts/`` (tests excluded). An import inside
a function counts as *internal* when it names ``synrank`` or ``benchmarks``; it is *explained* when a
comment on its line, or a comment line right above it, says why (the rule allows that for an optional or
heavy dependency, start-up time, a measurement that must not include it); a linter directive
(``# noqa: F401``) is not a reason. Cycles are strongly connected components of the module graph built
from every internal import, wherever it stands (a function-level import still makes a dependency, it
only hides it). ``tests/test_imports.py`` checks the same numbers.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

ROOTS = ("synrank", "benchmarks", "scripts")
INTERNAL = ("synrank", "benchmarks")

# A linter directive in a comment: not a reason.
_DIRECTIVE = re.compile(r"noqa(:\s*[A-Z]+[0-9]+(\s*,\s*[A-Z]+[0-9]+)*)?|type:\s*ignore(\[[^\]]*\])?|pragma:\s*no\s+cover",
                        re.IGNORECASE)


def python_files(repo: Path) -> list[Path]:
    return sorted(p for root in ROOTS for p in (repo / root).rglob("*.py") if "__pycache__" not in p.parts)


def module_name(repo: Path, path: Path) -> str:
    parts = list(path.relative_to(repo).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def reason(line: str) -> str:
    """The words of a line's comment, linter directives removed ('' when there is none)."""
    if "#" not in line:
        return ""
    return _DIRECTIVE.sub("", line.split("#", 1)[1]).strip(" \t;,()")


def explained(lines: list[str], lineno: int) -> bool:
    """True when the import on line ``lineno`` (1-based) says why it waits: a reason in a comment on its
    line, or on a comment line right above it."""
    above = lines[lineno - 2].strip() if lineno >= 2 else ""
    return bool(reason(lines[lineno - 1]) or (above.startswith("#") and reason(above)))


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:  # relative import
        base = module.split(".")
        base = base if is_package else base[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join([*base, node.module] if node.module else base)
    else:
        target = node.module or ""
    return [target] + [f"{target}.{alias.name}" for alias in node.names]


def _resolve(name: str, modules: set[str]) -> str | None:
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def measure(repo: Path) -> dict:
    files = python_files(repo)
    modules = {module_name(repo, p): p for p in files}
    names = set(modules)
    graph: dict[str, set[str]] = {m: set() for m in modules}
    file_lines, function_lines, in_function = [], [], []
    for module, path in modules.items():
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        rel = str(path.relative_to(repo))
        file_lines.append((len(lines), rel))
        tree = ast.parse(text, filename=rel)
        inner_imports: set[int] = set()
        for fn in _functions(tree):
            function_lines.append((fn.end_lineno - fn.lineno + 1, f"{rel}:{fn.lineno} {fn.name}"))
            for node in ast.walk(fn):
                if isinstance(node, ast.Import | ast.ImportFrom) and node.lineno not in inner_imports:
                    inner_imports.add(node.lineno)
                    targets = _imported(node, module, path.name == "__init__.py")
                    if any(t.split(".")[0] in INTERNAL for t in targets):
                        in_function.append({"where": f"{rel}:{node.lineno}",
                                            "explained": explained(lines, node.lineno)})
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in _imported(node, module, path.name == "__init__.py"):
                    hit = _resolve(target, names)
                    if hit and hit != module and not module.startswith(hit + "."):
                        graph[module].add(hit)
    cycles = [sorted(c) for c in _strongly_connected(graph) if len(c) > 1]
    return {
        "files": len(files),
        "lines": sum(n for n, _ in file_lines),
        "largest_files": sorted(file_lines, reverse=True),
        "largest_functions": sorted(function_lines, reverse=True),
        "internal_imports_in_functions": in_function,
        "cycles": sorted(cycles),
        "imports": {m: sorted(deps) for m, deps in sorted(graph.items())},
    }


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    out.append(component)
    return out


def render(report: dict, top: int) -> str:
    unexplained = [i for i in report["internal_imports_in_functions"] if not i["explained"]]
    rows = [f"{report['files']} files, {report['lines']} lines ({', '.join(r + '/' for r in ROOTS)})", "",
            f"largest files (top {top}):"]
    rows += [f"  {n:5d}  {where}" for n, where in report["largest_files"][:top]]
    rows += ["", f"largest functions (top {top}):"]
    rows += [f"  {n:5d}  {where}" for n, where in report["largest_functions"][:top]]
    rows += ["", f"project-internal imports inside functions: {len(report['internal_imports_in_functions'])} "
             f"({len(unexplained)} without a comment saying why)"]
    rows += ["", f"import cycles: {len(report['cycles'])}"]
    rows += [f"  {' <-> '.join(c)}" for c in report["cycles"]]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--json", type=Path, help="also write the full report as JSON here")
    args = parser.parse_args(argv)
    report = measure(args.repo)
    print(render(report, args.top))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
