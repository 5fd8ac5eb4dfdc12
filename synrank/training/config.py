"""The training configuration schema (one YAML/TOML/JSON file per variant).

Loaded strictly with :func:`synrank.config.from_dict`: unknown keys, missing keys and wrong types are
:class:`~synrank.errors.ConfigError` naming the file and field. Relative paths inside a config file
are resolved against the file's folder, except ``output`` which is resolved against the current
directory (so ``synrank train --config benchmarks/configs/train/x.yaml`` writes under the caller's
working tree, the usual CLI convention).

Batch semantics: ``batch_size`` is the number of *queries* (groups) in one micro-batch over all
processes together; under ``torchrun`` each of the ``W`` ranks encodes ``batch_size / W`` of them and
all embeddings are gathered, so every rank scores the full ``[B, B*G]`` matrix exactly as a single
process would. ``grad_accumulation`` micro-batches make one optimizer step; a loss value is computed
per micro-batch (the Wasserstein loss fits its Gaussians over the rows of one micro-batch).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from synrank.config import bounded, from_dict, load_config_file, to_dict
from synrank.data.values import GRADE_MAX
from synrank.errors import ConfigError, show
from synrank.paths import check_safe_name

SourceKind = Literal["groups", "supervised", "self_supervised"]


@dataclass
class ModelConfig:
    """The encoder to start from.

    ``kind: sentence-transformers`` loads ``base`` (a local folder, an alias such as ``minilm`` /
    ``all-MiniLM-L6-v2``, or a hub name when online) with ``SentenceTransformer``. ``kind: static``
    builds a ``StaticEmbedding`` (mean of trainable token vectors) whose tokenizer and initial token
    vectors are taken from ``base``'s word-embedding matrix.
    """

    base: str = "minilm"
    kind: Literal["sentence-transformers", "static"] = "sentence-transformers"
    pooling: Literal["mean", "cls", "max", "keep"] = "mean"
    similarity: Literal["dot", "cosine", "keep"] = "dot"
    max_seq_length: int = bounded(128, 1, 65536)

    def validate(self) -> None:
        if self.kind == "static" and self.pooling not in ("mean", "keep"):
            raise ValueError("model.pooling: a static encoder always mean-pools its token vectors; use 'mean'")


@dataclass
class SourceConfig:
    """One training data source; several are concatenated (the ``synthetic+real`` union).

    - ``groups``: graded groups in the ``synrank.groups/v1`` JSONL format at ``path``.
    - ``supervised``: a BEIR dataset's train qrels (``dataset``, ``split``); positives get
      ``positive_grade``, ``n_negatives`` BM25 hard negatives from its corpus get ``negative_grade``.
    - ``self_supervised``: Contriever-style independent cropping of the documents of ``dataset``'s
      corpus, or of the passages of the graded-groups dataset at ``path`` (no evaluation corpus then):
      two random spans of one document are the query and its positive (grade ``positive_grade``); no
      queries and no labels are read.
    """

    kind: SourceKind
    path: str | None = None
    dataset: str | None = None
    split: str = "train"
    max_groups: int | None = bounded(None, 1, 10**9)
    positive_grade: int = bounded(3, 0, GRADE_MAX)
    negative_grade: int = bounded(1, 0, GRADE_MAX)
    n_negatives: int = bounded(3, 0, 1000)
    bm25_depth: int = bounded(30, 0, 10_000)
    crop_min_ratio: float = bounded(0.1, 0, 1, lo_open=True)
    crop_max_ratio: float = bounded(0.5, 0, 1, lo_open=True)
    crop_min_words: int = bounded(4, 1, 10_000)
    exclude_evaluation_documents: bool = True

    def validate(self) -> None:
        if self.kind == "groups" and not self.path:
            raise ValueError("data source of kind 'groups' needs 'path'")
        if self.kind == "supervised" and not self.dataset:
            raise ValueError("data source of kind 'supervised' needs 'dataset'")
        if self.kind == "self_supervised" and bool(self.dataset) == bool(self.path):
            raise ValueError("data source of kind 'self_supervised' needs exactly one of 'dataset' (a corpus) or "
                             "'path' (a graded-groups dataset whose passages are used as unlabeled text)")
        if self.crop_min_ratio > self.crop_max_ratio:
            raise ValueError("need 0 < crop_min_ratio <= crop_max_ratio <= 1")
        if self.bm25_depth < self.n_negatives:
            raise ValueError("need 0 <= n_negatives <= bm25_depth")


@dataclass
class TrainConfig:
    """A training run: model, data, loss, optimisation, checkpointing.

    - ``loss`` / ``loss_kwargs``: a name of the registry :data:`synrank.losses.LOSSES` and its options
      (e.g. ``{temperature: 0.05}``), checked at load against the loss's constructor (names, types,
      and the loss's own range checks); built with :func:`synrank.losses.build_loss`.
    - ``group_size`` (G): passages per query in a batch; ``short_groups``: what to do with groups that
      have fewer passages (see :mod:`synrank.training.sampling`).
    - ``binary_groups``: when set to a grade ``t``, each group is 1 passage with grade >= t plus
      ``group_size - 1`` passages below t, drawn at random (SyCL's binary InfoNCE data: trove
      ``BinaryDataset`` with ``min_score``/``max_score`` t); default: graded groups, one passage per grade.
    - ``max_steps`` (optimizer steps) wins over ``epochs`` when set; ``0`` exports the untrained base.
    - ``warmup_fraction``: linear warm-up over this fraction of the steps, then linear decay to 0.
    - ``precision``: ``fp32``; ``bf16`` = bfloat16 autocast (CPU or GPU; weights and optimizer stay
      fp32, scores and losses are computed in fp32/fp64); ``auto`` = bf16 on GPU, fp32 on CPU. ``bf16`` on
      a CPU without native bfloat16 (AVX2 only: emulated, tens of times slower) is refused before training.
    - ``save_every``: checkpoint every N optimizer steps (and always at the end); null = only at the end.
    - ``on_evaluation_query``: ``drop`` (logged, counted) or ``error`` for training queries that are
      evaluation queries.
    - ``threads``: ``torch.set_num_threads``; ``device``: default CUDA (per local rank) when available.
    - ``deterministic``: GPU bit-reproducibility (``CUBLAS_WORKSPACE_CONFIG=:4096:8``,
      ``torch.use_deterministic_algorithms(True)``, cuDNN autotuning off); slower, and an operation
      without a deterministic CUDA kernel stops the run. CPU runs are deterministic without it.
    """

    name: str
    model: ModelConfig = field(default_factory=ModelConfig)
    data: list[SourceConfig] = field(default_factory=list)
    loss: str = "ws2"  # a name in the registry synrank.losses.LOSSES (checked by validate)
    loss_kwargs: dict[str, Any] = field(default_factory=dict)
    group_size: int = bounded(4, 1, 4096)
    binary_groups: int | None = bounded(None, 1, 1000)
    short_groups: Literal["resample", "drop"] = "resample"
    in_batch_negatives: bool = True
    batch_size: int = bounded(16, 1, 65536)
    grad_accumulation: int = bounded(1, 1, 65536)
    max_steps: int | None = bounded(None, 0, 10**9)
    epochs: float = bounded(1.0, 0, 10**6, lo_open=True)
    learning_rate: float = bounded(2e-5, 0, None, lo_open=True)
    weight_decay: float = bounded(0.01, 0, 100)
    warmup_fraction: float = bounded(0.1, 0, 1, hi_open=True)
    max_grad_norm: float | None = bounded(1.0, 0, None, lo_open=True)
    precision: Literal["fp32", "bf16", "auto"] = "fp32"
    seed: int = bounded(42, 0, 2**32 - 1)
    save_every: int | None = bounded(500, 1, 10**9)
    log_every: int = bounded(10, 1, 10**9)
    output: str = "runs/{name}"
    on_evaluation_query: Literal["drop", "error"] = "drop"
    device: str | None = None
    threads: int | None = bounded(None, 1, 1024)
    deterministic: bool = False

    def validate(self) -> None:
        """Cross-field rules and the loss options; each numeric field's own range (``bounded``) is checked
        by :func:`synrank.config.check_ranges` before this runs."""
        check_safe_name(self.name, "name")
        self._check_loss()
        if self.binary_groups is not None and self.group_size < 2:
            raise ValueError("binary_groups needs group_size >= 2 (1 positive + negatives)")
        if any(s.kind == "self_supervised" for s in self.data) and self.group_size != 1:
            raise ValueError("self_supervised cropping gives one positive per query: set group_size: 1")
        needs_data = self.max_steps != 0
        if needs_data and not self.data:
            raise ValueError("data: at least one source is needed unless max_steps is 0 (the untrained base)")

    def _check_loss(self) -> None:
        """``loss`` must be registered, and ``loss_kwargs`` must fit its constructor
        (:func:`synrank.losses.loss_options`): every key one of its parameters, every value of the parameter's
        annotated type (checked as a config field: a ``float`` is a finite number, not a boolean); then the
        loss is built once, so that its own range checks (a temperature <= 0) are config errors at load time
        rather than a traceback after the data is loaded."""
        # torch (~1 s) is imported when a config is validated, not when this module is (start-up time)
        from synrank.losses import LOSSES, build_loss, loss_options

        if self.loss not in LOSSES:
            raise ValueError(f"field 'loss': {show(self.loss)} is not one of {list(LOSSES)}")
        for key, value in self.loss_kwargs.items():  # whatever the annotation (Any included)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"loss_kwargs.{key}: expected a finite number, got {value}")
        options = loss_options(self.loss)
        given = {k: v for k, v in self.loss_kwargs.items() if k in options}
        schema = dataclasses.make_dataclass(f"{self.loss}_options", [(k, options[k].annotation) for k in given])
        try:
            from_dict(schema, given, prefix="loss_kwargs.")
            build_loss(self.loss, **self.loss_kwargs)
        except ConfigError as exc:
            message = exc.message if exc.message.startswith("field ") else f"loss_kwargs: {exc.message}"
            raise ValueError(message + (f" ({exc.hint})" if exc.hint else "")) from exc
        except TypeError as exc:  # a constructor refusing a value its annotation allows
            raise ValueError(f"loss_kwargs: loss {self.loss!r}: {exc}") from exc

    def output_dir(self) -> Path:
        return Path(self.output.format(name=self.name))

    def to_dict(self) -> dict[str, Any]:
        d = to_dict(self)
        # Keys added after configs were first hashed appear only when set, so that every config written
        # before them keeps its config hash (training_config.json, benchmark cells, --resume checks).
        if not self.deterministic:
            d.pop("deterministic")
        if self.binary_groups is None:
            d.pop("binary_groups")
        return d


def _resolve_paths(raw: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """Make ``data[].path`` and a path-like ``model.base`` relative to the config file's folder."""
    raw = dict(raw)
    data = raw.get("data")
    if isinstance(data, list):
        fixed = []
        for src in data:
            if isinstance(src, dict) and isinstance(src.get("path"), str) and not Path(src["path"]).is_absolute():
                src = {**src, "path": str((base_dir / src["path"]).resolve())}
            fixed.append(src)
        raw["data"] = fixed
    model = raw.get("model")
    if isinstance(model, dict) and isinstance(model.get("base"), str):
        base = model["base"]
        if base.startswith((".", "/")) and not Path(base).is_absolute():
            raw["model"] = {**model, "base": str((base_dir / base).resolve())}
    return raw


def load_train_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read and validate a training config file; ``overrides`` replace top-level keys first."""
    path = Path(path)
    raw = load_config_file(path)
    raw = _resolve_paths(raw, path.resolve().parent)
    if overrides:
        raw.update(overrides)
    return from_dict(TrainConfig, raw, source=path)


def config_from_dict(raw: dict[str, Any], source: str | Path | None = None) -> TrainConfig:
    return from_dict(TrainConfig, raw, source=source)
