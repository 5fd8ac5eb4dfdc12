"""Run a tuning grid on a development split: train each variant, score it, write a results table.

A grid file (YAML) names the question, the dev split and the runs; see
``benchmarks/tuning/ws2_lists/grid.yaml``. Run from the repository root::

    OMP_NUM_THREADS=2 python -m benchmarks.tuning.run benchmarks/tuning/ws2_lists/grid.yaml

Each run is one of

* ``model: SPEC`` — evaluate a model as it is (e.g. the untrained base);
* ``config: FILE`` plus optional ``overrides`` (top-level training-config keys) — train it into
  ``runs/tuning/<grid>/<run>`` (resumed if interrupted), then evaluate;
* the same plus ``reuse: FOLDER`` — evaluate an already trained model instead, after checking that its
  ``training_config.json`` has the same config hash (so a cpu-suite checkpoint is not trained twice);
  if the folder has the records but not the weights (a fresh checkout), the run is trained afresh.

Results go to ``results.csv`` and ``results.md`` beside the grid file, rewritten atomically after every
run; a run already in ``results.csv`` with the same config hash is skipped unless ``--overwrite``.
Tuning must never look at a test split: the grid's ``dev`` names a training split of a dataset that no
variant trains on.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import time
from pathlib import Path
from typing import Any

from benchmarks.training_runs import find_trained_model
from synrank.config import load_config_file
from synrank.errors import ConfigError
from synrank.evaluation.pipeline import evaluate_model
from synrank.io import atomic_write_text
from synrank.provenance import config_hash
from synrank.records import TRAINING_FILE, TrainingRecord
from synrank.training.config import load_train_config
from synrank.training.trainer import comparable_config, train

log = logging.getLogger("benchmarks.tuning")

COLUMNS = ("run", "loss", "similarity", "temperature", "in_batch_negatives", "learning_rate", "steps",
           "dev_nDCG@10", "dev_Recall@100", "train_s", "eval_s", "source", "config_hash")
MEASURES = ("nDCG@10", "Recall@100")


def _train(run: dict[str, Any], grid_name: str, root: Path) -> tuple[Path, dict[str, Any], str, float]:
    cfg = load_train_config(root / run["config"], overrides=run.get("overrides") or None)
    cfg.validate()
    chash = config_hash(comparable_config(cfg))
    if run.get("reuse"):
        folder = root / run["reuse"]
        stored = _stored_hash(folder)
        if stored is None:
            raise ConfigError(f"run {run['name']!r}: reuse folder holds no trained model",
                              folder / TRAINING_FILE,
                              hint="train it first (e.g. python -m benchmarks.run --suite cpu), or drop 'reuse'")
        if stored != chash:
            raise ConfigError(f"run {run['name']!r}: reuse folder was trained with config hash {stored}, "
                              f"the grid's config has {chash}", folder / TRAINING_FILE,
                              hint="drop 'reuse' to train this run afresh")
        model_dir = find_trained_model(folder)
        if model_dir is not None:
            return model_dir, cfg.to_dict(), chash, 0.0
        # Trained weights are not committed (only the records are), so a fresh checkout has the config
        # but not the model: train the same config here instead.
        log.warning("%s: reuse folder %s has the config but not the weights; training it afresh",
                    run["name"], folder)
    out = root / "runs" / "tuning" / grid_name / run["name"]
    start = time.perf_counter()
    train(cfg, output=out, resume=(out / TRAINING_FILE).exists())
    return out, cfg.to_dict(), chash, time.perf_counter() - start


def _stored_hash(folder: Path) -> str | None:
    record = TrainingRecord.read(folder / TRAINING_FILE)
    return record.config_hash if record is not None else None


def _row(run: dict[str, Any], cfg: dict[str, Any] | None, chash: str, result: Any, train_s: float,
         eval_s: float, source: str) -> dict[str, Any]:
    cfg = cfg or {}
    model = cfg.get("model") or {}
    # An untrained model (0 steps) has no loss or learning rate, whatever its config's defaults say.
    training = cfg if cfg.get("max_steps", 0) != 0 else {}
    return {
        "run": run["name"], "loss": training.get("loss", "—"), "similarity": model.get("similarity", "—"),
        "temperature": (training.get("loss_kwargs") or {}).get("temperature", "—"),
        "in_batch_negatives": training.get("in_batch_negatives", "—"),
        "learning_rate": training.get("learning_rate", "—"), "steps": cfg.get("max_steps", 0), "dev_nDCG@10": round(result.aggregate["nDCG@10"], 4),
        "dev_Recall@100": round(result.aggregate["Recall@100"], 4), "train_s": round(train_s),
        "eval_s": round(eval_s), "source": source, "config_hash": chash,
    }


def _write(folder: Path, grid: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(folder / "results.csv", buf.getvalue())
    dev = grid["dev"]
    lines = [f"# {grid['name']}: results on {dev['dataset']} {dev['split']} (dev)", "",
             "| " + " | ".join(COLUMNS[:-1]) + " |", "|" + "---|" * (len(COLUMNS) - 1)]
    lines += ["| " + " | ".join(str(r[c]) for c in COLUMNS[:-1]) + " |" for r in rows]
    atomic_write_text(folder / "results.md", "\n".join(lines) + "\n")


def _read_done(path: Path) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    with path.open(encoding="utf-8", newline="") as fh:
        return {r["run"]: r for r in csv.DictReader(fh)}


def run_grid(grid_path: Path, root: Path, overwrite: bool = False, only: set[str] | None = None) -> list[dict]:
    grid = load_config_file(grid_path)
    for key in ("name", "dev", "runs"):
        if key not in grid:
            raise ConfigError(f"tuning grid has no {key!r}", grid_path)
    dev = grid["dev"]
    if str(dev.get("split", "")).lower() == "test":
        raise ConfigError("a tuning grid must not use a test split", grid_path, hint="use a train or dev split")
    names = [r["name"] for r in grid["runs"]]
    if len(set(names)) != len(names):
        raise ConfigError("tuning grid repeats a run name", grid_path)
    folder = grid_path.parent
    results = {n: r for n, r in _read_done(folder / "results.csv").items() if n in names}

    def ordered() -> list[dict[str, Any]]:
        return [results[n] for n in names if n in results]

    for run in grid["runs"]:
        if only and run["name"] not in only:
            continue
        chash = _config_hash(run, root)
        prev = results.get(run["name"])
        if prev and prev.get("config_hash") == chash and not overwrite:
            log.info("%s: done (dev nDCG@10 %s)", run["name"], prev["dev_nDCG@10"])
            continue
        log.info("%s: starting", run["name"])
        if "model" in run:
            spec, cfg, train_s, source = str(run["model"]), None, 0.0, str(run["model"])
        else:
            folder_, cfg, chash, train_s = _train(run, grid["name"], root)
            spec = str(folder_)
            source = str(folder_.relative_to(root)) if folder_.is_relative_to(root) else str(folder_)
        start = time.perf_counter()
        result = evaluate_model(spec, dev["dataset"], split=dev["split"], mode="full", measures=MEASURES,
                                name=run["name"], show_progress=False)
        results[run["name"]] = _row(run, cfg, chash, result, train_s, time.perf_counter() - start, source)
        log.info("%s: dev nDCG@10 %.4f", run["name"], result.aggregate["nDCG@10"])
        _write(folder, grid, ordered())
    _write(folder, grid, ordered())
    return ordered()


def _config_hash(run: dict[str, Any], root: Path) -> str:
    if "model" in run:
        return config_hash({"model": run["model"]})
    return config_hash(comparable_config(load_train_config(root / run["config"],
                                                           overrides=run.get("overrides") or None)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.tuning.run", description=__doc__.split("\n")[0])
    p.add_argument("grid", type=Path, help="grid file, e.g. benchmarks/tuning/ws2_lists/grid.yaml")
    p.add_argument("--overwrite", action="store_true", help="redo runs already in results.csv")
    p.add_argument("--only", default="", help="comma-separated run names to (re)do; others are kept")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    only = {s for s in args.only.split(",") if s} or None
    run_grid(args.grid, Path.cwd(), overwrite=args.overwrite, only=only)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
