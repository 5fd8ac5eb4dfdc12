"""What identifies a benchmark cell and a training run: the identities their cache keys hash.

* a **model identity** (:func:`model_identity`): BM25's parameters, a model folder's content hash, a
  plug-in class's source hash, or a hub name; a trained variant's is :func:`trained_model_identity`
  (its training key and its weights' hash);
* a **dataset identity** (:func:`dataset_identity`): name, split, mode (``auto`` decided here, by the
  rule every evaluation follows, :func:`synrank.data.folders.evaluation_mode`), the seeded query
  subsample; computed once per dataset of a suite run;
* a **cell key** (:class:`CellKey`): model + dataset identity, depth, input length and the encoding
  backend (``auto`` decided here, :func:`encoding_identity`, and nowhere else); computed once per cell;
* a **training spec** (:class:`TrainingSpec`): a training variant's validated config, its source file,
  its key (:func:`training_config_identity`: the config with local paths replaced by content) and the
  variant it starts from; computed once per variant by :class:`TrainingSpecs` and passed on.

Identities name content, never locations, so one config gives one key on any machine.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from benchmarks.suites import DatasetSpec, SuiteConfig, VariantSpec
from synrank.config import from_dict
from synrank.data import dataset_info
from synrank.data.catalog import catalog_entry
from synrank.data.folders import evaluation_mode
from synrank.data.groups import group_files
from synrank.errors import ConfigError, SynrankError
from synrank.io import sha256_file
from synrank.paths import resolve_model_alias
from synrank.provenance import config_hash
from synrank.training.config import TrainConfig, _resolve_paths, load_train_config

#: Part of every cell key: bump it when the meaning of a cell's results changes, so that every cell is
#: recomputed. (The layout of cell.json has its own schema, :class:`benchmarks.records.CellMarker`.)
CELL_KEY_SCHEMA = "synrank.benchmark-cell/v2"  # v2: trec_eval tie semantics
#: Part of every training key, likewise (train.json's layout: :class:`benchmarks.records.TrainMarker`).
TRAIN_KEY_SCHEMA = "synrank.benchmark-train/v2"


# ---------------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------------

def resolve_model_spec(spec: str, base_dir: Path | None = None) -> str:
    """Make a model folder given as a relative path absolute (looked up against ``base_dir``, then the
    working directory); aliases, hub names and ``module:Class`` specs are returned unchanged."""
    p = Path(spec).expanduser()
    if p.is_absolute():
        return str(p)
    for root in ([base_dir] if base_dir is not None else []) + [Path.cwd()]:
        if (root / p).is_dir():
            return str((root / p).resolve())
    return spec


def model_fingerprint(spec: str) -> dict[str, Any]:
    """What identifies a model's outputs: a folder's content hash, else the spec itself."""
    # start-up time: synrank.retrieval imports torch (1.5 s); the runner's --help and --preflight need none of it
    from synrank.retrieval.encoders import folder_fingerprint, folder_is_transformer

    resolved = resolve_model_alias(spec)
    if Path(resolved).is_dir():
        return {"spec": spec, "kind": "folder", "sha256": folder_fingerprint(resolved),
                "transformer": folder_is_transformer(Path(resolved))}
    if ":" in spec and not Path(spec).exists():
        module = spec.split(":", 1)[0]
        info: dict[str, Any] = {"spec": spec, "kind": "class"}
        try:
            found = importlib.util.find_spec(module)
            if found is not None and found.origin and Path(found.origin).is_file():
                info["module_sha256"] = sha256_file(found.origin)
        except (ImportError, ValueError):
            pass
        return info
    return {"spec": spec, "kind": "hub"}


def model_identity(suite: SuiteConfig, variant: VariantSpec) -> tuple[str | None, dict[str, Any]]:
    """The model spec (None for BM25) and identity of a ``bm25`` or ``model`` row."""
    if variant.kind == "bm25":
        assert variant.bm25 is not None
        return None, {"kind": "bm25", **dataclasses.asdict(variant.bm25)}
    assert variant.model is not None
    spec = resolve_model_spec(variant.model, Path(suite.source) if suite.source else None)
    return spec, model_fingerprint(spec)


def trained_model_identity(train_key: str, checkpoint: str, model_sha256: str, transformer: bool) -> dict[str, Any]:
    """A trained variant's model as its evaluation cells see it: its training key and its weights' hash."""
    return {"kind": "folder", "train_config_hash": train_key, "spec": checkpoint, "sha256": model_sha256,
            "transformer": transformer}


def encoding_identity(variant: VariantSpec, suite: SuiteConfig, model: dict[str, Any]) -> str | None:
    """The encoding backend a model row runs on, with ``auto`` decided for this model and CPU (the one
    place it is decided; the cell then runs with what its key says). None for BM25; ``auto`` for a
    plug-in class or hub model (decided when it runs and recorded in its metrics.json)."""
    if variant.kind == "bm25":
        return None
    # start-up time: synrank.retrieval imports torch (1.5 s)
    from synrank.retrieval.backends import Backend, default_backend

    requested = variant.encoding or suite.encoding
    if requested != "auto":
        return Backend.parse(requested).name
    transformer = model.get("transformer")
    if transformer is None:
        return "auto"
    return default_backend().name if transformer else "torch-fp32"


# ---------------------------------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------------------------------

def dataset_forums(ds: DatasetSpec) -> list[str]:
    """The forums of a catalog dataset evaluated forum by forum and averaged (CQADupStack), else []."""
    if "/" in ds.name or Path(ds.name).is_dir():
        return []
    entry = catalog_entry(ds.name)
    return list(entry.forums) if entry is not None else []


def dataset_identity(ds: DatasetSpec) -> dict[str, Any]:
    """Name, split, mode (``auto``: re-rank the shipped first-stage run when there is one), depth and
    subsample of a suite's dataset; the forums of one evaluated forum by forum."""
    forums = dataset_forums(ds)
    if forums:
        if ds.max_queries is not None or ds.mode == "rerank":
            raise SynrankError(f"dataset {ds.name!r} is evaluated forum by forum: max_queries and mode "
                               "'rerank' do not apply to it")
        return {"name": ds.name, "split": ds.split or "test", "mode": "full", "max_queries": None,
                "sample_seed": None, "top_k": ds.top_k, "forums": forums}
    info = dataset_info(ds.name)
    split = ds.split or info.default_split
    return {"name": info.name, "split": split, "mode": evaluation_mode(ds.mode, info), "max_queries": ds.max_queries,
            "sample_seed": ds.sample_seed if ds.max_queries else None, "top_k": ds.top_k}


# ---------------------------------------------------------------------------------------------------
# Cells
# ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CellKey:
    """One cell's key: ``config`` is what is hashed (``hash``); ``folder`` is where the cell lives."""

    config: dict[str, Any]
    hash: str
    folder: Path

    @property
    def dataset(self) -> dict[str, Any]:
        """The dataset identity (:func:`dataset_identity`)."""
        return self.config["dataset"]

    @property
    def top_k(self) -> int:
        return self.config["top_k"]

    @property
    def encoding(self) -> str | None:
        return self.config["encoding"]


def cell_key(suite: SuiteConfig, variant: VariantSpec, ds: DatasetSpec, dataset: dict[str, Any],
             results: Path, model: dict[str, Any]) -> CellKey:
    """The key of cell (``variant``, ``ds``) given the dataset's identity and the model's."""
    config = {"schema": CELL_KEY_SCHEMA, "model": model, "dataset": dataset,
              "top_k": ds.top_k or suite.top_k, "max_length": variant.max_length,
              "encoding": encoding_identity(variant, suite, model)}
    return CellKey(config, config_hash(config), results / "cells" / variant.name / ds.key)


# ---------------------------------------------------------------------------------------------------
# Training runs
# ---------------------------------------------------------------------------------------------------

def train_config_dict(suite: SuiteConfig, variant: VariantSpec) -> tuple[dict[str, Any], Path]:
    """The variant's training config, validated, with overrides applied and data paths absolute.

    Returns the config as a dict and the file it came from (the suite file for an inline config)."""
    assert variant.train is not None
    overrides = dict(variant.train_overrides) or None
    if isinstance(variant.train, dict):
        base_dir = Path(suite.source) if suite.source else Path.cwd()
        raw = _resolve_paths({"name": variant.name, **variant.train}, base_dir)
        raw.update(overrides or {})
        source = base_dir / f"{suite.name}.yaml"
        cfg = from_dict(TrainConfig, raw, source=f"{source} (variant {variant.name!r}, inline train config)")
        return cfg.to_dict(), source
    path = suite.resolve(variant.train)
    cfg = load_train_config(path, overrides=overrides)
    return cfg.to_dict(), path


def training_config_identity(cfg: dict[str, Any]) -> dict[str, Any]:
    """What a training run's key hashes: its config with every local path replaced by content.

    A data source given by ``path`` is keyed by its file names and their sha256 (so a synthetic dataset
    that grows or is regenerated at the same path retrains, and the same data in another checkout does
    not); a base model given as a folder is keyed by :func:`folder_fingerprint`. Absolute paths never
    enter the hash, so one config gives one hash on any machine.
    """
    ident = dict(cfg)
    sources = []
    for src in ident.get("data") or []:
        if isinstance(src, dict) and isinstance(src.get("path"), str) and Path(src["path"]).exists():
            files = group_files(src["path"])
            src = {**src, "path": Path(src["path"]).name,
                   "content": {f.name: sha256_file(f) for f in files}}
        sources.append(src)
    if sources:
        ident["data"] = sources
    model = ident.get("model")
    if isinstance(model, dict) and isinstance(model.get("base"), str) and Path(model["base"]).is_absolute() \
            and Path(model["base"]).is_dir():
        # start-up time: synrank.retrieval imports torch (1.5 s)
        from synrank.retrieval.encoders import folder_fingerprint

        ident["model"] = {**model, "base": {"folder_sha256": folder_fingerprint(model["base"])}}
    return ident


@dataclass
class TrainingSpec:
    """A training variant as the runner uses it: parsed, validated and keyed once (:class:`TrainingSpecs`)."""

    variant: VariantSpec
    #: the validated config with overrides applied, data paths absolute, no ``output``
    config: dict[str, Any]
    #: the file the config came from (the suite file for an inline config)
    source: Path
    #: the training cache key (train.json's ``config_hash``)
    key: str
    #: the training variant whose trained model this one starts from (``model.base: "@<variant>"``)
    base: TrainingSpec | None = field(default=None, repr=False)
    #: environment of the training child (the suite's ``env``)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.variant.name

    @cached_property
    def transformer(self) -> bool:
        """Whether the trained model is a transformer (not a static encoder, nor trained from one)."""
        model = self.config.get("model") or {}
        if model.get("kind") == "static":
            return False
        if self.base is not None:
            return self.base.transformer
        # start-up time: synrank.retrieval imports torch (1.5 s)
        from synrank.retrieval.encoders import folder_is_transformer

        folder = Path(resolve_model_alias(str(model.get("base", ""))))
        found = folder_is_transformer(folder) if folder.is_dir() else None
        return True if found is None else found  # a hub name: sentence-transformers models are transformers


class TrainingSpecs:
    """Each training variant's :class:`TrainingSpec` of one suite, built on first use and kept: the
    preflight, the cache check, the training run and the cell keys all use the same one."""

    def __init__(self, suite: SuiteConfig):
        self.suite = suite
        self._specs: dict[str, TrainingSpec | SynrankError] = {}
        self._building: list[str] = []

    def __call__(self, variant: VariantSpec) -> TrainingSpec:
        """The spec of ``variant``; a config that does not validate raises (the same error every time)."""
        found = self._specs.get(variant.name)
        if found is None:
            try:
                found = self._build(variant)
            except SynrankError as exc:
                found = exc
            self._specs[variant.name] = found
        if isinstance(found, SynrankError):
            raise found
        return found

    def _build(self, variant: VariantSpec) -> TrainingSpec:
        if variant.name in self._building:
            chain = " -> ".join([*self._building, variant.name])
            raise ConfigError(f"model.base names a variant that starts from this one ({chain})",
                              Path(self.suite.source or ".") / f"{self.suite.name}.yaml")
        self._building.append(variant.name)
        try:
            cfg, source = train_config_dict(self.suite, variant)
            cfg.pop("output", None)
            ident = training_config_identity(cfg)
            dep = base_variant(self.suite, cfg, source)
            base = self(dep) if dep is not None else None
            if base is not None:
                ident["model"] = {**ident["model"], "base": {"after": base.name, "train_key": base.key}}
            key = config_hash({"schema": TRAIN_KEY_SCHEMA, "train": ident})
            return TrainingSpec(variant, cfg, source, key, base, dict(self.suite.env))
        finally:
            self._building.pop()


def training_spec(suite: SuiteConfig, variant: VariantSpec) -> TrainingSpec:
    """The spec of one training variant (a fresh :class:`TrainingSpecs`; the runner keeps one per run)."""
    return TrainingSpecs(suite)(variant)


def base_variant(suite: SuiteConfig, cfg: dict[str, Any], source: Path) -> VariantSpec | None:
    """The training variant named by a ``model.base`` of the form ``@<variant>``, else None."""
    base = (cfg.get("model") or {}).get("base")
    if not (isinstance(base, str) and base.startswith("@")):
        return None
    try:
        dep = suite.variant(base[1:])
    except KeyError:
        raise ConfigError(f"model.base {base!r} names no variant of suite {suite.name!r}", source,
                          hint="use @<name of a training variant listed in the suite>") from None
    if dep.kind != "train":
        raise ConfigError(f"model.base {base!r}: variant {dep.name!r} is not a training variant", source)
    return dep
