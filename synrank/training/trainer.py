"""The bi-encoder training loop: grouped batches → encoder → gathered scores → loss → AdamW.

One micro-batch: ``B`` queries with ``G`` graded passages each (:class:`~synrank.training.sampling.GroupSampler`).
Each process encodes its slice (``B / world_size`` queries), the embeddings of all processes are gathered
with :func:`synrank.losses.distributed.gather_batch` (gradient to the local slice), every process scores
the full ``[B, B*G]`` matrix (in-batch negatives: other queries' passages get grade 0) and computes the
same loss, multiplied by :func:`~synrank.losses.distributed.loss_scale` because DDP averages gradients.
The result equals single-process training on the full batch (``tests/training/test_distributed.py``).

Determinism and resume: the sampler state is ``(epoch, cursor)`` and every draw is seeded from
``(seed, epoch, item)``; the optimizer, scheduler and the Python/numpy/torch RNG states (per rank) are
checkpointed; so on CPU a run killed and resumed from a checkpoint ends with bit-identical weights to
an uninterrupted run (``tests/training/test_resume.py`` kills one with SIGKILL).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from synrank.config import check_ranges
from synrank.errors import SynrankError, TrainingError
from synrank.hardware import cpu_has_native_bf16
from synrank.io import folder_lock
from synrank.losses import RankingLoss, build_loss
from synrank.losses.distributed import gather_batch, gather_with_grad, loss_scale
from synrank.provenance import config_hash, environment, peak_rss_mb, portable_path
from synrank.records import TRAINING_FILE, TrainingRecord
from synrank.training import checkpoint as ckpt
from synrank.training.bucketing import DEFAULT_CHUNK_SIZE, encode_bucketed
from synrank.training.config import TrainConfig
from synrank.training.distributed import (
    DistInfo,
    all_gather_objects,
    barrier,
    broadcast_object,
    init_distributed,
    shutdown,
)
from synrank.training.encoders import build_model, inference_max_seq_length, load_checkpoint_model
from synrank.training.modelcard import CARD_FILE, write_model_card
from synrank.training.plots import write_loss_csv, write_loss_png
from synrank.training.regime import check_loss_regime
from synrank.training.sampling import Batch, GroupSampler
from synrank.training.sources import load_training_items

logger = logging.getLogger(__name__)

_NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")


@dataclass
class TrainResult:
    output_dir: Path
    steps: int
    final_loss: float | None
    runtime_s: float
    samples_per_s: float
    resumed_from: int | None


@dataclass
class _Run:
    """What one run trains with, filled in step by step by :meth:`Trainer._run`."""

    items: list[Any]
    reports: list[Any]
    sampler: GroupSampler | None
    steps: int
    model: Any = None
    dual: nn.Module | None = None
    loss_fn: RankingLoss | None = None
    optimizer: torch.optim.Optimizer | None = None
    scheduler: Any = None
    scale: float = 1.0
    start_step: int = 0
    resumed_from: int | None = None
    elapsed_before: float = 0.0  # training seconds of the sessions before a resume


class DualEncoder(nn.Module):
    """Encodes queries and passages in one ``forward`` (so DDP sees one forward per backward); the passages
    in length-sorted chunks (:mod:`synrank.training.bucketing`)."""

    def __init__(self, model: nn.Module, chunk_size: int = DEFAULT_CHUNK_SIZE):
        super().__init__()
        self.model = model
        self.chunk_size = chunk_size
        tokenizer = getattr(next(iter(model.children()), None), "tokenizer", None)
        self.padding_side = getattr(tokenizer, "padding_side", "right") or "right"

    def forward(self, q_features: dict[str, Any], p_features: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        q = self.model(q_features)["sentence_embedding"]
        p = encode_bucketed(self.model, p_features, self.chunk_size, self.padding_side)
        return q, p


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _features(model, texts: list[str], device: str) -> dict[str, Any]:
    feats = model.preprocess(texts)
    return {k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v) for k, v in feats.items()}


def _check_precision(cfg: TrainConfig, device: str) -> None:
    """Fail before any work when bf16 is asked of hardware that would run it far slower than fp32."""
    if cfg.precision != "bf16":
        return
    if device.startswith("cuda"):
        if not torch.cuda.is_bf16_supported():
            raise TrainingError("precision bf16 requested but this GPU has no bfloat16 support",
                                hint="use precision: fp32")
    elif not cpu_has_native_bf16():
        # Measured on an AVX2-only EPYC: a 512x512 bf16 matmul took 60x as long as fp32, and a MiniLM
        # training step 135 s instead of 9 s.
        raise TrainingError(
            f"precision bf16 requested but this CPU has no native bfloat16 (torch reports "
            f"{torch.backends.cpu.get_cpu_capability()}); emulated bf16 autocast is tens of times slower than fp32",
            hint="use precision: fp32 (or auto, which is fp32 on CPU); the result differs slightly from a bf16 run")


def step_memory_lower_bound(cfg: TrainConfig, model, world_size: int = 1) -> tuple[int, int, int]:
    """``(bytes, texts, tokens)``: a lower bound on the memory one micro-batch of this process needs.

    Each of the ``batch_size / world_size`` queries brings ``group_size`` passages; every text may be
    ``max_seq_length`` tokens long. Per token this counts only what no forward/backward pass can avoid:
    the int64 input ids and attention mask (16 bytes) and, for a transformer, one fp32 activation of
    ``hidden_size`` per layer kept for the backward pass. Real use is several times higher (attention
    matrices, intermediate layers, the tokenizer's own copies), so a config refused by this bound could
    never have run.
    """
    texts = max(1, cfg.batch_size // max(1, world_size)) * (cfg.group_size + 1)
    tokens = texts * cfg.model.max_seq_length
    per_token = 16
    first = next(iter(model), None) if hasattr(model, "__iter__") else None
    config = getattr(getattr(first, "auto_model", None), "config", None)
    hidden, layers = getattr(config, "hidden_size", 0), getattr(config, "num_hidden_layers", 0)
    if isinstance(hidden, int) and isinstance(layers, int):
        per_token += 4 * hidden * layers
    return tokens * per_token, texts, tokens


def _check_memory(cfg: TrainConfig, model, world_size: int, output: Path) -> None:
    """Refuse, before anything is written, a batch shape that cannot fit in this machine's memory."""
    need, texts, tokens = step_memory_lower_bound(cfg, model, world_size)
    total = psutil.virtual_memory().total
    if need > total:
        raise TrainingError(
            f"one training step needs at least {need / 2**30:.1f} GB but this machine has {total / 2**30:.1f} GB "
            f"of memory ({texts:,} texts per micro-batch = batch_size {cfg.batch_size} x (group_size "
            f"{cfg.group_size} + 1 query), up to {cfg.model.max_seq_length} tokens each: {tokens:,} tokens)",
            output, hint="lower batch_size, group_size or model.max_seq_length; grad_accumulation keeps the "
                         "effective batch size")


def _autocast(cfg: TrainConfig, device: str):
    dev_type = "cuda" if device.startswith("cuda") else "cpu"
    if cfg.precision == "bf16" or (cfg.precision == "auto" and dev_type == "cuda"):
        return torch.autocast(device_type=dev_type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if any(k in name for k in _NO_DECAY) else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; the fused kernel where torch has one for every parameter's device (CPU since torch 2.4,
    CUDA): on CPU it is ~8x faster than the per-tensor loop for the 11.7M-parameter static table."""
    groups = _param_groups(model, cfg.weight_decay)
    fused = all(p.device.type in ("cpu", "cuda") and p.dtype == torch.float32
                for g in groups for p in g["params"])
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, fused=fused or None)


def total_steps(cfg: TrainConfig, batches_per_epoch: int) -> int:
    if cfg.max_steps is not None:
        return cfg.max_steps
    return max(1, math.ceil(cfg.epochs * batches_per_epoch / cfg.grad_accumulation))


CUBLAS_DETERMINISTIC_WORKSPACE = ":4096:8"


def prepare_deterministic_env(cfg: TrainConfig) -> None:
    """For ``deterministic: true``: set ``CUBLAS_WORKSPACE_CONFIG`` (cuBLAS reads it when CUDA creates its
    handle, so this runs before the trainer touches CUDA); a value the user set is kept."""
    if not cfg.deterministic or "CUBLAS_WORKSPACE_CONFIG" in os.environ:
        return
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        logger.warning("deterministic: CUDA was initialised before the trainer started; set "
                       "CUBLAS_WORKSPACE_CONFIG=%s in the environment to make cuBLAS deterministic",
                       CUBLAS_DETERMINISTIC_WORKSPACE)
    os.environ["CUBLAS_WORKSPACE_CONFIG"] = CUBLAS_DETERMINISTIC_WORKSPACE


@contextlib.contextmanager
def deterministic_algorithms(enabled: bool, output: Path | None = None):
    """``torch.use_deterministic_algorithms(True)`` and cuDNN without autotuning while the block runs
    (the previous global settings are restored after: a library call must not change them for good).
    An operation without a deterministic CUDA kernel becomes a :class:`TrainingError`."""
    if not enabled:
        yield
        return
    cudnn = torch.backends.cudnn
    before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
              cudnn.benchmark, cudnn.deterministic)
    torch.use_deterministic_algorithms(True)
    cudnn.benchmark, cudnn.deterministic = False, True
    try:
        yield
    except RuntimeError as exc:
        if "deterministic" not in str(exc):
            raise
        first = str(exc).strip().split(". ")[0].splitlines()[0]
        raise TrainingError(f"deterministic: true, but an operation has no deterministic kernel ({first})", output,
                            hint="set deterministic: false (GPU results then vary in the last bits) or use "
                            "another model/loss") from exc
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        cudnn.benchmark, cudnn.deterministic = before[2], before[3]


def recorded_config(cfg: TrainConfig) -> dict[str, Any]:
    """The config as ``training_config.json`` records it: local paths (output, data, a base model folder)
    made portable (:func:`synrank.provenance.portable_path`). The config hash is computed from the config
    itself (:func:`comparable_config`), not from this record."""
    d = cfg.to_dict()
    if d.get("output"):
        d["output"] = portable_path(d["output"])
    d["data"] = [{**src, "path": portable_path(src["path"])} if isinstance(src, dict) and src.get("path") else src
                 for src in d.get("data") or []]
    model = d.get("model")
    if isinstance(model, dict) and isinstance(model.get("base"), str) and Path(model["base"]).expanduser().exists():
        d["model"] = {**model, "base": portable_path(model["base"])}
    return d


def comparable_config(cfg: TrainConfig) -> dict[str, Any]:
    """The config fields that must match to resume (everything but where the output goes / device)."""
    d = cfg.to_dict()
    for key in ("output", "device", "threads", "save_every", "log_every"):
        d.pop(key, None)
    return d


def _score_matrix(q_emb: torch.Tensor, p_emb: torch.Tensor, grades: torch.Tensor,
                  cfg: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores and grades of the whole (gathered) batch: ``[B, B*G]`` with in-batch negatives (other queries'
    passages at grade 0), else each query against its own ``G`` passages, ``[B, G]``."""
    if cfg.in_batch_negatives:
        return gather_batch(q_emb, p_emb, grades)
    q_all = gather_with_grad(q_emb)
    p_all = gather_with_grad(p_emb).view(q_all.shape[0], cfg.group_size, -1)
    return torch.einsum("bd,bgd->bg", q_all, p_all), gather_with_grad(grades)


class Trainer:
    """Runs one :class:`TrainConfig` to an output folder (see :func:`train`)."""

    def __init__(self, cfg: TrainConfig, output: Path, resume: bool = False, dist_info: DistInfo | None = None,
                 keep_checkpoints: int = 2):
        self.cfg = cfg
        self.output = Path(output)
        self.resume = resume
        prepare_deterministic_env(cfg)  # before init_distributed, which may initialise CUDA
        self.dist = dist_info or init_distributed(cfg.device)
        self.keep = keep_checkpoints
        self.history: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ setup
    def _check_output(self) -> Path | None:
        out = self.output
        state_file = out / "trainer_state.json"
        latest = ckpt.latest_checkpoint(out)
        existing = state_file.exists() or latest is not None
        if existing and not self.resume:
            raise TrainingError("output folder already holds a training run", out,
                                hint="pass --resume to continue it, or choose another --output")
        if self.resume and (out / TRAINING_FILE).exists():
            prev = TrainingRecord.from_disk(out / TRAINING_FILE)
            if prev.config_hash != config_hash(comparable_config(self.cfg)):
                raise TrainingError("--resume with a config that differs from the one this run started with",
                                    out / "training_config.json",
                                    hint="resume with the same config (and --max-steps), or use a new --output")
            self._warn_if_not_bit_identical(prev)
        return latest

    def _warn_if_not_bit_identical(self, prev: TrainingRecord) -> None:
        """``threads`` and ``device`` are not part of the config hash (a run may move to another machine),
        but they change the order of float reductions: say so instead of resuming silently."""
        was_threads = prev.environment.get("hardware", {}).get("torch_threads")
        now_threads = torch.get_num_threads()
        changes = []
        if was_threads is not None and was_threads != now_threads:
            changes.append(f"threads={now_threads}, started with {was_threads}")
        if prev.device != self.dist.device:
            changes.append(f"device={self.dist.device}, started with {prev.device}")
        if changes:
            logger.warning("%s: resumed with %s: the result will not be bit-identical to an uninterrupted run",
                           self.output / "training_config.json", "; ".join(changes))

    def _provenance(self, reports, n_items: int, steps: int, sampler: GroupSampler | None) -> TrainingRecord:
        return TrainingRecord(
            name=self.cfg.name,
            config=recorded_config(self.cfg),
            config_hash=config_hash(comparable_config(self.cfg)),
            seeds={"seed": self.cfg.seed, "python/numpy/torch": self.cfg.seed,
                   "torch_per_rank": "seed + rank", "sampler": "default_rng([seed, epoch(, item)])"},
            data=[r.to_dict() for r in reports],
            n_training_items=n_items,
            total_steps=steps,
            batches_per_epoch=sampler.batches_per_epoch if sampler else 0,
            effective_batch_size=self.cfg.batch_size * self.cfg.grad_accumulation,
            saved_max_seq_length=inference_max_seq_length(self.cfg.model),
            passage_encoding={"length_sorted_chunks": DEFAULT_CHUNK_SIZE,
                              "applies_to": "encoders with an attention mask (not static)"},
            world_size=self.dist.world_size,
            backend=self.dist.backend,
            device=self.dist.device,
            deterministic={"use_deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
                           "cudnn_benchmark": torch.backends.cudnn.benchmark,
                           "CUBLAS_WORKSPACE_CONFIG": os.environ.get("CUBLAS_WORKSPACE_CONFIG")}
            if self.cfg.deterministic else None,
            environment=environment(),
        )

    def _start_record(self, run: _Run) -> TrainingRecord:
        """``training_config.json`` as the run starts (rank 0 writes it): provenance and the loss regime."""
        record = self._provenance(run.reports, len(run.items), run.steps, run.sampler)
        record.loss_regime = self._check_loss_regime(run)
        if self.dist.is_main:
            record.to_disk(self.output / TRAINING_FILE)
        return record

    def _end_record(self, record: TrainingRecord, runtime: float, samples: int, resumed_from: int | None) -> None:
        """``training_config.json`` completed with the run's cost (rank 0)."""
        done = replace(record, runtime_s=round(runtime, 3), peak_rss_mb=round(peak_rss_mb(), 1),
                       samples_per_s=round(samples / runtime, 3) if runtime > 0 else None,
                       resumed_from_step=resumed_from)
        done.to_disk(self.output / TRAINING_FILE)

    def _completed_state(self) -> dict[str, Any] | None:
        state_file = self.output / "trainer_state.json"
        if not state_file.exists():
            return None
        state = json.loads(state_file.read_text(encoding="utf-8"))
        return state if state.get("completed") else None

    # ------------------------------------------------------------------ main loop
    def run(self) -> TrainResult:
        """Train. Under torchrun every rank calls this; rank 0 holds the output-folder lock and checks
        the folder, and its verdict is broadcast so that an error stops every rank instead of leaving
        the others waiting in a collective."""
        cfg, info = self.cfg, self.dist
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        with contextlib.ExitStack() as stack:
            stack.enter_context(deterministic_algorithms(cfg.deterministic, self.output))
            try:
                error: SynrankError | None = None
                latest = done = None
                if info.is_main:
                    try:
                        stack.enter_context(folder_lock(self.output, what="training output"))
                        found = self._check_output()
                        latest = None if found is None else str(found)
                        done = self._completed_state() if self.resume else None
                    except SynrankError as exc:
                        error = exc
                message, latest, done = broadcast_object(info, (None if error is None else str(error), latest, done))
                if error is not None:
                    raise error
                if message is not None:
                    raise TrainingError(f"rank 0 stopped: {message}", self.output)
                if done is not None:
                    logger.info("%s: run already completed (%d steps); nothing to resume", self.output,
                                done.get("global_step", 0))
                    if info.is_main and not (self.output / CARD_FILE).exists():
                        write_model_card(self.output)  # a run completed by an older synrank, or killed just here
                    return TrainResult(self.output, int(done.get("global_step", 0)), done.get("final_loss"),
                                       0.0, 0.0, None)
                return self._run(latest)
            finally:
                shutdown(info)

    def _run(self, latest: str | None) -> TrainResult:
        """One run, every rank: data, model, optimizer (restored from ``latest`` when resuming), the
        starting record, the training loop, and the exported model with its record and card."""
        self._prepare()
        run = self._load_data()
        self._build_model(run, latest)
        self._build_optimization(run)
        if latest is not None:
            self._restore(run, Path(latest))
        record = self._start_record(run)
        step, last_loss, samples, runtime = self._train_loop(run)
        self._finish(run, record, step, last_loss, samples, runtime)
        return TrainResult(self.output, step, last_loss, runtime, samples / runtime if runtime > 0 else 0.0,
                           run.resumed_from)

    def _prepare(self) -> None:
        """Remove a killed run's temporary checkpoint, seed every RNG, refuse bf16 where it would crawl."""
        if self.dist.is_main:
            ckpt.clean_temporary(self.output)
        seed_everything(self.cfg.seed)
        if self.cfg.max_steps != 0:
            _check_precision(self.cfg, self.dist.device)

    def _load_data(self) -> _Run:
        """The training items of every source, their sampler and the number of optimizer steps."""
        cfg, info = self.cfg, self.dist
        if cfg.max_steps == 0 and not cfg.data:
            items, reports = [], []
        else:
            items, reports = load_training_items(cfg)
        sampler = GroupSampler(items, cfg.batch_size, cfg.group_size, cfg.seed, cfg.short_groups) if items else None
        steps = total_steps(cfg, sampler.batches_per_epoch) if sampler else 0
        if cfg.batch_size % info.world_size:
            raise TrainingError(f"batch_size {cfg.batch_size} is not divisible by the {info.world_size} processes",
                                hint="batch_size counts queries over all processes together")
        return _Run(items, reports, sampler, steps)

    def _build_model(self, run: _Run, latest: str | None) -> None:
        """The encoder (the base model, or the checkpoint's when resuming) checked against this machine's
        memory, its per-rank dropout seed, and the dual encoder DDP wraps under torchrun."""
        cfg, info = self.cfg, self.dist
        if latest is not None:
            model = load_checkpoint_model(str(Path(latest) / "model"), info.device)
        else:
            model = build_model(cfg.model, info.device)
        model.to(info.device)
        if run.steps:
            _check_memory(cfg, model, info.world_size, self.output)
        torch.manual_seed(cfg.seed + info.rank)  # dropout streams differ per rank
        dual: nn.Module = DualEncoder(model)
        if info.distributed:
            dual = DistributedDataParallel(dual, device_ids=[info.local_rank] if info.device.startswith("cuda") else None)
        run.model, run.dual = model, dual

    def _build_optimization(self, run: _Run) -> None:
        """The loss, AdamW, and the linear warm-up/decay schedule over ``run.steps``."""
        cfg = self.cfg
        run.loss_fn = build_loss(cfg.loss, **cfg.loss_kwargs)
        run.optimizer = build_optimizer(run.model, cfg)
        warmup = int(round(cfg.warmup_fraction * run.steps))
        run.scheduler = get_linear_schedule_with_warmup(run.optimizer, num_warmup_steps=warmup,
                                                        num_training_steps=max(run.steps, 1))
        run.scale = loss_scale()

    def _restore(self, run: _Run, latest: Path) -> None:
        """Optimizer, schedule, sampler position, this rank's RNG states and the loss history from the
        checkpoint ``latest``: the run continues exactly where it stopped."""
        info = self.dist
        tensors, state = ckpt.load_checkpoint(latest)
        run.optimizer.load_state_dict(tensors["optimizer"])
        run.scheduler.load_state_dict(tensors["scheduler"])
        if run.sampler is not None:
            run.sampler.load_state_dict(state["sampler"])
        rngs = tensors["rng"]
        if len(rngs) != info.world_size:
            logger.warning("checkpoint was written by %d processes, now %d: RNG streams are re-seeded, "
                           "so the result will differ from an uninterrupted run", len(rngs), info.world_size)
        else:
            ckpt.set_rng_state(rngs[info.rank])
        self.history = state.get("history", [])
        run.start_step = run.resumed_from = int(state["global_step"])
        logger.info("resuming %s from step %d", self.output, run.start_step)

    def _check_loss_regime(self, run: _Run) -> dict[str, Any] | None:
        """Before a fresh run's first step (rank 0): which way the loss pushes each grade (logged)."""
        cfg, info = self.cfg, self.dist
        if not (info.is_main and run.steps > 0 and run.start_step == 0):
            return None
        # its own loss object: the check must not advance any state of the one that trains
        regime = check_loss_regime(run.model, run.items, cfg, build_loss(cfg.loss, **cfg.loss_kwargs),
                                   device=info.device)
        if regime.warning():
            logger.warning("%s: %s", cfg.name, regime.warning())
        else:
            logger.info("%s: loss regime OK (%s)", cfg.name, ", ".join(
                f"{k} {v:+.3g}" for k, v in regime.descent_mean.items()))
        return regime.to_dict()

    def _train_loop(self, run: _Run) -> tuple[int, float | None, int, float]:
        """Optimizer steps from ``run.start_step`` to ``run.steps``, each logged in the history, with a
        checkpoint every ``save_every`` steps and after the last; ``(step, last loss, samples, seconds)``."""
        cfg, info = self.cfg, self.dist
        run.elapsed_before = self.history[-1]["elapsed_s"] if self.history else 0.0
        t0 = time.perf_counter()
        samples = 0
        run.dual.train()
        bar = tqdm(total=run.steps, initial=run.start_step, disable=not info.is_main or run.steps == 0,
                   desc=f"train {cfg.name}", dynamic_ncols=True, unit="step")
        step = run.start_step
        last_loss: float | None = self.history[-1]["loss"] if self.history else None
        try:
            while step < run.steps:
                assert run.sampler is not None
                step_loss, grad_norm, lr = self._train_step(run, step)
                samples += cfg.batch_size * cfg.grad_accumulation
                step += 1
                last_loss = step_loss
                self.history.append({"step": step, "epoch": round(run.sampler.epoch + run.sampler.cursor /
                                                                  max(1, run.sampler.batches_per_epoch), 4),
                                     "loss": step_loss, "lr": lr, "grad_norm": grad_norm,
                                     "elapsed_s": round(run.elapsed_before + time.perf_counter() - t0, 3)})
                bar.update(1)
                if step % cfg.log_every == 0 or step == run.steps:
                    bar.set_postfix(loss=f"{step_loss:.4f}", lr=f"{lr:.2e}")
                if (cfg.save_every and step % cfg.save_every == 0) or step == run.steps:
                    self._save(step, run.model, run.optimizer, run.scheduler, run.sampler)
        finally:
            bar.close()
        return step, last_loss, samples, time.perf_counter() - t0

    def _train_step(self, run: _Run, step: int) -> tuple[float, float, float]:
        """One optimizer step over ``grad_accumulation`` micro-batches (DDP syncs gradients on the last);
        ``(mean loss, gradient norm, learning rate used)``."""
        cfg, info = self.cfg, self.dist
        run.optimizer.zero_grad(set_to_none=True)
        step_loss = 0.0
        for micro in range(cfg.grad_accumulation):
            batch: Batch = run.sampler.next_batch().shard(info.rank, info.world_size)
            sync = micro == cfg.grad_accumulation - 1 or not info.distributed
            ctx = contextlib.nullcontext() if sync else run.dual.no_sync()
            with ctx:
                loss = self._micro_batch_loss(run, batch, step, micro)
                (loss * (run.scale / cfg.grad_accumulation)).backward()
            step_loss += loss.item() / cfg.grad_accumulation
        grad_norm = self._gradient_norm(run.model, step)
        lr = run.scheduler.get_last_lr()[0]
        run.optimizer.step()
        run.scheduler.step()
        return step_loss, grad_norm, lr

    def _micro_batch_loss(self, run: _Run, batch: Batch, step: int, micro: int) -> torch.Tensor:
        """Encode one micro-batch, score it against the gathered batch, and compute the loss; a
        non-finite score or loss stops the run, naming the step and the items."""
        cfg, info = self.cfg, self.dist
        grades = torch.tensor(batch.grades, dtype=torch.float32, device=info.device)
        with _autocast(cfg, info.device):
            q_emb, p_emb = run.dual(_features(run.model, batch.queries, info.device),
                                    _features(run.model, batch.passages, info.device))
        scores, full_grades = _score_matrix(q_emb.float(), p_emb.float(), grades, cfg)
        if not bool(torch.isfinite(scores.detach()).all()):
            raise TrainingError(
                f"loss is nan at step {step + 1}: the model's scores are not finite "
                f"(micro-batch {micro + 1}, items {batch.item_indices[:4]}...)", self.output,
                hint="lower learning_rate, use precision: fp32, or resume from an earlier checkpoint")
        loss = run.loss_fn(scores, full_grades)
        if not torch.isfinite(loss):
            raise TrainingError(
                f"loss is {loss.item()} at step {step + 1} (micro-batch {micro + 1}, "
                f"items {batch.item_indices[:4]}...)", self.output,
                hint="lower learning_rate, use precision: fp32, or inspect these training groups")
        return loss

    def _gradient_norm(self, model: nn.Module, step: int) -> float:
        """The gradient's total norm, clipped to ``max_grad_norm`` when set; a non-finite norm stops the run."""
        cfg = self.cfg
        if cfg.max_grad_norm is not None:
            grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm))
        else:
            grad_norm = float(torch.linalg.vector_norm(torch.stack(
                [p.grad.detach().norm() for p in model.parameters() if p.grad is not None])))
        if not math.isfinite(grad_norm):
            raise TrainingError(f"gradient norm is {grad_norm} at step {step + 1}", self.output,
                                hint="lower learning_rate or use precision: fp32")
        return grad_norm

    def _finish(self, run: _Run, record: TrainingRecord, step: int, last_loss: float | None, samples: int,
                runtime: float) -> None:
        """Rank 0 exports the model, the loss curve, the completed record, the final trainer state and the
        model card; every rank waits for it."""
        cfg, info = self.cfg, self.dist
        if info.is_main:
            if run.steps == 0 or self.history:
                self._export(run.model)
            write_loss_csv(self.output / "loss_curve.csv", self.history)
            write_loss_png(self.output / "loss_curve.png", self.history,
                           f"{cfg.name}: {cfg.loss}, B={cfg.batch_size}, G={cfg.group_size}")
            self._end_record(record, runtime, samples, run.resumed_from)
            ckpt.write_state(self.output, {
                "completed": True, "global_step": step, "total_steps": run.steps,
                "sampler": run.sampler.state_dict() if run.sampler else None, "final_loss": last_loss,
                "train_runtime_s": round(run.elapsed_before + runtime, 3),
                "resumed_from_step": run.resumed_from, "world_size": info.world_size})
            write_model_card(self.output)  # README.md for the Hub; not part of the model's fingerprint
        barrier(info)

    def _export(self, model) -> None:
        """Save the final model with the base model's own maximum length (training may truncate harder)."""
        saved = inference_max_seq_length(self.cfg.model)
        train_len = getattr(model, "max_seq_length", None)
        if saved is None or train_len is None or saved == train_len:
            ckpt.export_final(self.output, model)
            return
        logger.info("exporting with max_seq_length %d (the base model's; trained at %d)", saved, train_len)
        model.max_seq_length = saved
        try:
            ckpt.export_final(self.output, model)
        finally:
            model.max_seq_length = train_len

    def _save(self, step: int, model, optimizer, scheduler, sampler: GroupSampler) -> None:
        rngs = all_gather_objects(self.dist, ckpt.rng_state())
        if self.dist.is_main:
            tensors = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rngs}
            state = {"global_step": step, "sampler": sampler.state_dict(), "history": self.history,
                     "config_hash": config_hash(comparable_config(self.cfg)), "world_size": self.dist.world_size}
            ckpt.save_checkpoint(self.output, step, model, tensors, state, keep=self.keep)
            logger.debug("checkpoint at step %d", step)
        barrier(self.dist)


def train(cfg: TrainConfig, output: str | os.PathLike | None = None, resume: bool = False,
          max_steps: int | None = None) -> TrainResult:
    """Train ``cfg`` into ``output`` (default: the config's ``output``), optionally resuming."""
    if max_steps is not None:
        cfg = replace(cfg, max_steps=max_steps)
        check_ranges(cfg)
        cfg.validate()
    out = Path(output) if output is not None else cfg.output_dir()
    return Trainer(cfg, out, resume=resume).run()
