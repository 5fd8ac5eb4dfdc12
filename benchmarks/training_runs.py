"""A suite's training runs: ``results/<suite>/train/<variant>/``, each trained in a child process.

The folder holds ``train_config.json`` (the config the child reads), ``train.started.json`` (the key of
the run under way: a rerun with the same key resumes from the trainer's last checkpoint), the trained
model in ``model/`` (with the trainer's ``training_config.json``) and, written last, the completion
marker ``train.json`` (:class:`benchmarks.records.TrainMarker`: key, checkpoint, the weights' sha256).
A finished run with today's key is reused; without its weights (committed results keep the records,
not the 90 MB checkpoints) only a cell that must still be computed needs the model, and then it is
trained again (:func:`finished_training`).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.keys import TrainingSpec, trained_model_identity
from benchmarks.records import (
    TRAIN_MARKER,
    TRAIN_STARTED,
    TrainingStarted,
    TrainMarker,
    read_or_warn,
    utc_now,
)
from synrank.errors import TrainingError
from synrank.io import atomic_write_json
from synrank.provenance import environment, portable_path

logger = logging.getLogger(__name__)

#: What the trainer writes beside a model that is a record of the run, not part of the model (committed
#: results keep these and leave the weights out; :func:`synrank.retrieval.encoders.folder_fingerprint`
#: skips them).
MODEL_RECORD_FILES = ("training_config.json", "trainer_state.json", "loss_curve.csv", "loss_curve.png", "README.md")


@dataclass
class TrainOutcome:
    model: str
    status: str  # "computed" | "cached" | "resumed" | "reused" (copied from another suite: benchmarks.reuse)
    seconds: float
    config_hash: str
    checkpoint: Path
    model_sha256: str  # folder_fingerprint of the checkpoint, as recorded in the marker
    #: the source run's folder when reused (``results/cpu/train/<row>``)
    source: str | None = None

    def model_identity(self, results: Path, spec: TrainingSpec) -> dict[str, Any]:
        """The trained model's identity for its evaluation cells' keys."""
        return trained_model_identity(self.config_hash, str(self.checkpoint.relative_to(results)),
                                      self.model_sha256, spec.transformer)


def training_folder(results: Path, spec: TrainingSpec) -> Path:
    return results / "train" / spec.name


def find_trained_model(output: Path) -> Path | None:
    """The sentence-transformers folder the trainer left in ``output`` (``modules.json`` marks it), if any."""
    for cand in (output, output / "final", output / "model"):
        if (cand / "modules.json").exists():
            return cand
    return None


def finished_training(spec: TrainingSpec, results: Path) -> dict[str, Any] | None:
    """The model identity of a finished training run with today's key, from its marker alone (its
    weights need not be here), else None."""
    marker = read_or_warn(TrainMarker, training_folder(results, spec) / TRAIN_MARKER, "training it again")
    if marker is None or marker.config_hash != spec.key or not marker.model_sha256:
        return None
    return trained_model_identity(spec.key, marker.checkpoint, marker.model_sha256, spec.transformer)


#: Copies a finished run of this spec (and, when given, with these weights' sha256) from another suite's
#: results, weights included; None when there is none (:meth:`benchmarks.reuse.ReuseSources.adopt_training`).
AdoptTraining = Callable[[TrainingSpec, str | None], TrainOutcome | None]


def run_training(spec: TrainingSpec, results: Path, *, overwrite: bool = False,
                 adopt: AdoptTraining | None = None) -> TrainOutcome:
    """Train ``spec``'s variant (or reuse a finished run with the same key; resume an interrupted one).
    ``adopt``: before training, copy an equal finished run with its weights from another suite's results."""
    # start-up time: synrank.retrieval imports torch (1.5 s)
    from synrank.retrieval.encoders import folder_fingerprint

    folder = training_folder(results, spec)
    marker_path = folder / TRAIN_MARKER
    output = folder / "model"
    marker = read_or_warn(TrainMarker, marker_path, "training it again")
    if marker is not None and marker.config_hash == spec.key and not overwrite:
        model_dir = find_trained_model(output)
        if model_dir is not None:
            if not marker.model_sha256:  # a marker from before the fingerprint was recorded
                marker = dataclasses.replace(marker, model_sha256=folder_fingerprint(model_dir))
                marker.to_disk(marker_path)
            assert marker.model_sha256 is not None
            return TrainOutcome(spec.name, "cached", 0.0, spec.key, model_dir, marker.model_sha256)
        adopted = adopt(spec, marker.model_sha256) if adopt is not None and marker.model_sha256 else None
        if adopted is not None:  # the same weights, from another suite's results
            return adopted
        logger.warning("%s: marker present but the trained model is missing; training again", folder)
    elif adopt is not None and not overwrite and (adopted := adopt(spec, None)) is not None:
        return adopted
    marker_path.unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    started_before = read_or_warn(TrainingStarted, folder / TRAIN_STARTED, "starting afresh")
    resume = (not overwrite and started_before is not None and started_before.config_hash == spec.key
              and output.exists())
    if not resume and output.exists():
        shutil.rmtree(output)
    child_cfg = dict(spec.config)
    if spec.base is not None:  # start from the base variant's trained model (trained again if its weights are gone)
        base_model = run_training(spec.base, results, adopt=adopt).checkpoint
        child_cfg["model"] = {**spec.config["model"], "base": str(base_model)}
    config_file = folder / "train_config.json"
    atomic_write_json(config_file, {**child_cfg, "output": str(output)})
    TrainingStarted(config_hash=spec.key, source=portable_path(spec.source)).to_disk(folder / TRAIN_STARTED)
    cmd = [sys.executable, "-m", "synrank.cli", "train", "--config", str(config_file), "--output", str(output)]
    if resume:
        cmd.append("--resume")
    logger.info("training %s (%s)%s", spec.name, spec.source, " — resuming" if resume else "")
    env = {**os.environ, **spec.env}
    start = time.perf_counter()
    returncode = run_child(cmd, env)
    seconds = round(time.perf_counter() - start, 3)
    if returncode != 0:
        raise TrainingError(f"training {spec.name!r} failed (exit {returncode})", spec.source,
                            hint=f"command: {' '.join(cmd)}; rerunning the suite resumes from the last checkpoint")
    model_dir = _trained_model_dir(output)
    model_sha256 = folder_fingerprint(model_dir)
    TrainMarker(model=spec.name, config_source=portable_path(spec.source), config=spec.config, config_hash=spec.key,
                checkpoint=str(model_dir.relative_to(results)), model_sha256=model_sha256, resumed=resume,
                timings={"train": seconds}, finished_utc=utc_now(), **environment()).to_disk(marker_path)
    return TrainOutcome(spec.name, "resumed" if resume else "computed", seconds, spec.key, model_dir, model_sha256)


def _trained_model_dir(output: Path) -> Path:
    found = find_trained_model(output)
    if found is not None:
        return found
    raise TrainingError("training finished but left no sentence-transformers folder (modules.json)", output,
                        hint="see the trainer's log above; delete the folder and rerun with --overwrite")


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def run_child(cmd: list[str], env: dict[str, str]) -> int:
    """Run a training child and never leave it behind: it is stopped when the runner is interrupted
    (Ctrl-C, an exception) and, on Linux, SIGTERMed by the kernel when the runner dies in any way
    (SIGTERM, SIGKILL). An orphaned trainer would go on using the CPU and hold its output folder while
    a rerun of the suite tries to resume the same training."""
    preexec = _die_with_parent if sys.platform.startswith("linux") else None
    proc = subprocess.Popen(cmd, env=env, preexec_fn=preexec)  # noqa: PLW1509 - only a prctl call
    try:
        return proc.wait()
    except BaseException:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise
