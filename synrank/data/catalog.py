"""The dataset catalog: every dataset synrank knows how to get, read from one data file.

``synrank/data/catalog.yaml`` (packaged; ``$SYNRANK_CATALOG`` names another file, e.g. one listing
private mirrors) is validated strictly into :class:`Catalog`: unknown keys, wrong types and
inconsistent entries are errors naming the file and field. Each entry gives where to fetch the dataset
(sources in order of preference; within a source, mirrors of the same bytes), what the files must
hash to, sizes, licence and the evaluation metadata (relevance threshold, ``ignore_identical_ids``,
default split). :mod:`synrank.data.download` fetches entries; the registry uses the catalog to say
what a missing dataset's download command is.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

from synrank.config import from_dict, load_config_file
from synrank.errors import ConfigError

CATALOG_FILE = Path(__file__).resolve().parent / "catalog.yaml"
CATALOG_SCHEMA = "synrank.catalog/v1"
_HEX = {"md5": 32, "sha256": 64, "git_blob": 40}
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9.-]*$")


@dataclass
class RemoteFile:
    """One file to download: the same bytes at ``url`` and every mirror."""

    url: str
    #: Where it goes: for a ``zip`` source the archive's file name; for ``files`` the path inside the
    #: dataset folder (or the input name a ``build`` step reads).
    path: str
    mirrors: list[str] = field(default_factory=list)
    bytes: int | None = None
    md5: str | None = None
    sha256: str | None = None
    #: git object id (sha1 of ``blob <size>\0<content>``) of a file taken from a GitHub commit
    git_blob: str | None = None
    format: Literal["copy", "tsv-queries", "trec-qrels", "input"] = "copy"

    def validate(self) -> None:
        for key, size in _HEX.items():
            value = getattr(self, key)
            if value is not None and not re.fullmatch(f"[0-9a-f]{{{size}}}", value):
                raise ValueError(f"{self.path}: {key} must be {size} lowercase hex digits, got {value!r}")
        if self.bytes is not None and self.bytes < 0:
            raise ValueError(f"{self.path}: bytes must be >= 0")
        for url in (self.url, *self.mirrors):
            if not url.startswith(("https://", "http://")):
                raise ValueError(f"{self.path}: url {url!r} must start with https:// or http://")
        if Path(self.path).is_absolute() or ".." in Path(self.path).parts or not self.path:
            raise ValueError(f"path {self.path!r} must be a relative path inside the dataset folder")

    @property
    def urls(self) -> list[str]:
        return [self.url, *self.mirrors]

    @property
    def expected(self) -> dict[str, str]:
        """The checksums this file must have (possibly none)."""
        return {k: getattr(self, k) for k in _HEX if getattr(self, k)}


@dataclass
class Source:
    """One way of getting a dataset; the downloader tries an entry's sources in order."""

    kind: Literal["zip", "files", "ir_datasets"]
    files: list[RemoteFile] = field(default_factory=list)
    #: ``huggingface``: skipped when ``HF_HUB_OFFLINE`` is set.
    host: str = ""
    #: kind ir_datasets: ``docs`` / ``queries`` ids and one qrels id per split (for a dataset with
    #: forums: one id per forum).
    ir_datasets: dict[str, str] = field(default_factory=dict)
    #: Link the corpus of this other catalog dataset instead of fetching one.
    corpus_from: str | None = None
    #: Keep only the queries that have judgements (TREC topic files list unjudged topics too).
    judged_only: bool = False
    #: kind files: build the folder from the ``input`` files with this recipe.
    build: Literal["", "rankgpt-pool"] = ""
    #: kind ir_datasets: a dataset-specific field mapping (see synrank.data.convert).
    transform: Literal["", "cranfield"] = ""
    cite: str = ""
    note: str = ""

    def validate(self) -> None:
        if self.kind in ("zip", "files") and not self.files:
            raise ValueError(f"a {self.kind} source needs files")
        if self.kind == "zip" and len(self.files) != 1:
            raise ValueError("a zip source has exactly one file (the archive)")
        if self.kind == "ir_datasets" and not self.ir_datasets:
            raise ValueError("an ir_datasets source needs ir_datasets ids")
        if self.kind != "ir_datasets" and self.ir_datasets:
            raise ValueError(f"ir_datasets ids given for a {self.kind} source")
        if self.build and self.kind != "files":
            raise ValueError("build applies to files sources only")
        if self.transform and self.kind != "ir_datasets":
            raise ValueError("transform applies to ir_datasets sources only")
        if self.kind == "files":
            inputs = [f for f in self.files if f.format == "input"]
            if inputs and not self.build:
                raise ValueError("files with format 'input' need a build step")

    @property
    def download_bytes(self) -> int | None:
        """Bytes this source downloads itself (None when a size is unknown; ir_datasets: unknown)."""
        if self.kind == "ir_datasets" or any(f.bytes is None for f in self.files):
            return None
        return sum(f.bytes or 0 for f in self.files)


@dataclass
class Entry:
    """One catalog dataset."""

    title: str
    collection: Literal["beir", "beir-restricted", "trec-dl", "msmarco", "classic"]
    homepage: str
    licence: str
    splits: list[str]
    default_split: str = "test"
    relevance_threshold: int = 1
    ignore_identical_ids: bool = False
    #: A dataset made of several BEIR folders evaluated separately and averaged (CQADupStack's forums).
    forums: list[str] = field(default_factory=list)
    #: A copy ships inside the package (synrank/data/shipped/<name>).
    shipped: bool = False
    #: A query pool for synthetic data, not an evaluation set.
    training_pool: bool = False
    #: docs, queries (all of queries.jsonl), <split>_queries (judged), <split>_qrels
    counts: dict[str, int] = field(default_factory=dict)
    sources: list[Source] = field(default_factory=list)
    #: How to obtain it by hand when no source can be fetched automatically.
    manual: str = ""
    note: str = ""
    #: Set by :func:`load_catalog`.
    name: str = ""

    def validate(self) -> None:
        if self.relevance_threshold < 1:
            raise ValueError("relevance_threshold must be >= 1")
        if self.default_split and self.default_split not in self.splits:
            raise ValueError(f"default_split {self.default_split!r} is not one of splits {self.splits}")
        if not self.sources and not self.manual and not self.shipped:
            raise ValueError("give sources, or say how to get it by hand (manual), or ship it")
        if len(set(self.forums)) != len(self.forums):
            raise ValueError("forums are listed twice")

    @property
    def fetchable(self) -> bool:
        return bool(self.sources)

    @property
    def download_bytes(self) -> int | None:
        """Size of the first source's own downloads (a ``corpus_from`` dataset is counted separately)."""
        return self.sources[0].download_bytes if self.sources else None


@dataclass
class Catalog:
    schema: str
    datasets: dict[str, Entry]
    references: dict[str, str] = field(default_factory=dict)
    source: str = ""

    def validate(self) -> None:
        if self.schema != CATALOG_SCHEMA:
            raise ValueError(f"schema must be {CATALOG_SCHEMA!r}, got {self.schema!r}")
        for name, entry in self.datasets.items():
            if not _NAME_RE.match(name):
                raise ValueError(f"dataset name {name!r}: use lowercase letters, digits, '.' and '-'")
            for src in entry.sources:
                if src.corpus_from is not None and src.corpus_from not in self.datasets:
                    raise ValueError(f"{name}: corpus_from {src.corpus_from!r} is not a catalog dataset")
                if src.corpus_from == name:
                    raise ValueError(f"{name}: corpus_from names the dataset itself")
                if entry.forums and src.kind == "ir_datasets" and set(src.ir_datasets) != set(entry.forums):
                    raise ValueError(f"{name}: an ir_datasets source needs one id per forum")

    def get(self, name: str) -> Entry | None:
        return self.datasets.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self.datasets

    def __iter__(self):
        return iter(self.datasets.values())

    def __len__(self) -> int:
        return len(self.datasets)


def catalog_path() -> Path:
    """``$SYNRANK_CATALOG`` when set, else the packaged ``catalog.yaml``."""
    env = os.environ.get("SYNRANK_CATALOG")
    return Path(env).expanduser() if env else CATALOG_FILE


@lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int) -> Catalog:
    raw = load_config_file(path)
    catalog = from_dict(Catalog, raw, source=path)
    for name, entry in catalog.datasets.items():
        entry.name = name
    catalog.source = path
    return catalog


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Read and validate the catalog (cached per file and modification time)."""
    p = Path(path) if path is not None else catalog_path()
    try:
        mtime = p.stat().st_mtime_ns
    except OSError as exc:
        raise ConfigError(f"catalog file cannot be read ({exc.strerror or exc})", p,
                          hint="unset $SYNRANK_CATALOG to use the packaged catalog") from exc
    return _load(str(p), mtime)


def catalog_entry(name: str) -> Entry | None:
    """The catalog entry of ``name`` (None when the catalog does not list it)."""
    return load_catalog().get(name)


def format_bytes(n: int | None) -> str:
    """``1082258632`` -> ``1.08 GB``; None -> ``?``."""
    if n is None:
        return "?"
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit}" if unit == "GB" else f"{n / size:.1f} {unit}"
    return f"{n} B"
