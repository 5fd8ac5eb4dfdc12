"""Crash-safe checkpoints: write into a temporary folder, fsync, rename.

Layout of an output folder::

    <output>/                       the final model (``SentenceTransformer(<output>)`` loads it)
        training_config.json        config, config hash, versions, seeds, data checksums
        trainer_state.json          step, epoch, sampler state, final loss, completed flag
        loss_curve.csv / .png
        checkpoints/step-00000500/  model/ (a loadable SentenceTransformer folder)
                                    trainer.pt (optimizer, scheduler, RNG states: tensors and plain
                                                containers only, read with torch.load(weights_only=True))
                                    trainer_state.json (step, sampler state, loss history)

A checkpoint folder appears under its final name only after every file in it was fsync'ed (the rename
is atomic), so a ``kill -9`` at any moment leaves either the previous checkpoints or the new one, never
a half-written one. Leftover ``.tmp-*`` folders of killed runs are removed on the next start.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import random
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from synrank.errors import TrainingError
from synrank.io import apply_umask, atomic_write_json, fsync_dir, fsync_tree

logger = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
_STEP_RE = re.compile(r"^step-(\d+)$")


def rng_state() -> dict[str, Any]:
    """Python, numpy (global) and torch RNG states as tensors / plain containers (weights_only-safe)."""
    version, internal, gauss = random.getstate()
    np_state = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
        "numpy": {"name": np_state[0], "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss"]))
    nps = state["numpy"]
    np.random.set_state((nps["name"], nps["keys"].numpy().astype(np.uint32), nps["pos"], nps["has_gauss"],
                         nps["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_root(output: Path) -> Path:
    return Path(output) / CHECKPOINT_DIR


def list_checkpoints(output: Path) -> list[tuple[int, Path]]:
    root = checkpoint_root(output)
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = _STEP_RE.match(p.name)
        if m and p.is_dir() and (p / "trainer_state.json").exists() and (p / "trainer.pt").exists():
            found.append((int(m.group(1)), p))
    return sorted(found)


def latest_checkpoint(output: Path) -> Path | None:
    found = list_checkpoints(output)
    return found[-1][1] if found else None


def clean_temporary(output: Path) -> None:
    root = checkpoint_root(output)
    if root.is_dir():
        for p in root.glob(".tmp-*"):
            shutil.rmtree(p, ignore_errors=True)
    for p in Path(output).glob(".final-tmp-*"):
        shutil.rmtree(p, ignore_errors=True)


def save_checkpoint(output: Path, step: int, model, tensors: dict[str, Any], state: dict[str, Any],
                    keep: int = 2) -> Path:
    """Write ``checkpoints/step-<step>`` atomically and keep only the newest ``keep`` checkpoints."""
    root = checkpoint_root(output)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:08d}"
    tmp = root / f".tmp-step-{step:08d}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    model.save(str(tmp / "model"), create_model_card=False)
    torch.save(tensors, tmp / "trainer.pt")
    (tmp / "trainer_state.json").write_text(json.dumps(state, indent=1) + "\n", encoding="utf-8")
    apply_umask(tmp)
    fsync_tree(tmp)
    if final.exists():  # a re-run after a crash that happened right after this rename
        shutil.rmtree(final)
    os.replace(tmp, final)
    fsync_tree(root)
    for _step, path in list_checkpoints(output)[:-keep] if keep > 0 else []:
        shutil.rmtree(path, ignore_errors=True)
    return final


def load_checkpoint(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(tensors, state)`` of a checkpoint folder; tensors are read with ``weights_only=True``."""
    try:
        tensors = torch.load(path / "trainer.pt", map_location="cpu", weights_only=True)
        state = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
    except pickle.UnpicklingError as exc:  # weights_only=True refused a non-tensor object: it never ran
        found = re.search(r"GLOBAL (\S+) was not an allowed global", str(exc))
        what = f" ({found.group(1)})" if found else ""
        raise TrainingError(f"cannot read checkpoint (trainer.pt contains non-tensor objects{what}; refused)",
                            path, hint="delete this checkpoint folder to resume from the previous one; "
                            "resume only from checkpoints synrank wrote") from exc
    except (OSError, ValueError, RuntimeError, EOFError, zipfile.BadZipFile) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, EOFError):
            reason = "a file ends early: it was truncated"
        raise TrainingError(f"cannot read checkpoint ({reason})", path,
                            hint="delete this checkpoint folder to resume from the previous one") from exc
    return tensors, state


def export_final(output: Path, model) -> None:
    """Save the final model into ``output`` itself: into a temp folder, then move entry by entry.

    Each entry is replaced atomically; if the process dies half-way, ``trainer_state.json`` (written
    after this) still says the run is not complete, and ``--resume`` redoes the export from the last
    checkpoint.
    """
    output = Path(output)
    tmp = output / f".final-tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save(str(tmp), create_model_card=False)
    apply_umask(tmp)
    fsync_tree(tmp)
    for entry in sorted(tmp.iterdir()):
        target = output / entry.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(entry, target)
    tmp.rmdir()
    # the entries were fsynced inside tmp; fsync the folder that now holds them
    fsync_dir(output)


def write_state(output: Path, state: dict[str, Any]) -> None:
    atomic_write_json(Path(output) / "trainer_state.json", state)
