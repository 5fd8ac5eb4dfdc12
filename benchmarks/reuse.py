"""Reuse another suite's finished work whose keys are equal (a suite's ``reuse:``, ``--reuse-from DIR``).

A suite that shares rows with another (``cpu-seeds`` repeats ``cpu``'s claim rows with more seeds) need not
compute them twice. When a cell of this suite has no valid result of its own, each source results folder
is searched for a finished cell with the *equal cell key* (:class:`benchmarks.keys.CellKey`; matched by
key, never by row name). The source cell is validated as the runner validates its own cache
(:class:`~benchmarks.records.CellMarker` read by its loader, files checked by
:func:`benchmarks.cells.verify_cell`); a valid one is copied into ``cells/<row>/<dataset>/`` (staged in a
temporary folder, then renamed: :func:`synrank.io.staged_folder`) with its key unchanged and
``reused_from`` (:class:`~benchmarks.records.ReusedFrom`: which folder, which row) in its marker. A source
cell with the equal key whose files do not verify, or an unreadable marker where this row's cell would
be, is not reused and is reported in one line.

Training runs likewise: a finished run in a source with the equal training key stands for this suite's.
Its record (``train.json``, with ``checkpoint`` moved to this suite's folder and ``reused_from`` added) is
copied when every cell of the row is cached or reused, so nothing is trained and no weights are needed
(committed results keep none). When a cell does need the model, the source's weights are copied too if
they are there and match the sha256 in its marker; otherwise the variant is trained here.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from benchmarks.cells import CellOutcome, verify_cell
from benchmarks.keys import CellKey, TrainingSpec, trained_model_identity
from benchmarks.records import (
    CELL_MARKER,
    TRAIN_MARKER,
    TRAIN_STARTED,
    CellMarker,
    ReusedFrom,
    TrainMarker,
    utc_now,
)
from benchmarks.suites import DatasetSpec, SuiteConfig, VariantSpec
from benchmarks.training_runs import MODEL_RECORD_FILES, TrainOutcome, find_trained_model, training_folder
from synrank.errors import RecordError, SynrankError
from synrank.io import staged_folder
from synrank.provenance import portable_path

logger = logging.getLogger(__name__)

#: Never copied: locks, the start record of a run under way, intermediate checkpoints.
_SKIPPED = {".lock", TRAIN_STARTED, "checkpoints"}


@dataclass(frozen=True)
class SourceCell:
    """A finished cell in a source results folder."""

    results: Path
    folder: Path
    marker: CellMarker

    @property
    def where(self) -> str:
        """``results/cpu/cells/<row>/<dataset>``, as the transcript names it."""
        return portable_path(self.folder)


@dataclass(frozen=True)
class SourceTraining:
    """A finished training run in a source results folder, and its checkpoint's place below the run's folder."""

    results: Path
    folder: Path
    marker: TrainMarker
    #: ``marker.checkpoint`` relative to ``train/<row>/`` (``model``)
    below: PurePosixPath

    def checkpoint_for(self, name: str) -> str:
        """The checkpoint path (relative to the results folder) of the copy made for variant ``name``."""
        return f"train/{name}/{self.below}"

    @property
    def weights(self) -> Path:
        return self.results / self.marker.checkpoint


class ReuseSources:
    """The source results folders of one run, indexed by key on first use (each marker read once)."""

    def __init__(self, folders: list[Path], results: Path):
        here = results.resolve()
        self.folders = list(dict.fromkeys(f for f in folders if f.resolve() != here))
        for f in self.folders:
            if not f.is_dir():
                logger.warning("reuse source %s does not exist; nothing is reused from it", portable_path(f))
        self._cells: dict[str, list[SourceCell]] | None = None
        self._places: dict[tuple[str, str], list[SourceCell]] = {}
        self._unreadable: dict[tuple[str, str], list[str]] = {}
        self._trainings: dict[str, list[SourceTraining]] | None = None
        self._training_places: dict[str, list[tuple[Path, str]]] = {}
        self._found: dict[str, SourceCell | None] = {}

    def __bool__(self) -> bool:
        return bool(self.folders)

    def describe(self) -> str:
        return ", ".join(portable_path(f) for f in self.folders)

    # -- cells --------------------------------------------------------------------------------------

    def _cell_index(self) -> dict[str, list[SourceCell]]:
        if self._cells is None:
            self._cells = {}
            for root in self.folders:
                for path in sorted(root.glob(f"cells/*/*/{CELL_MARKER}")):
                    place = (path.parent.parent.name, path.parent.name)
                    try:
                        marker = CellMarker.from_disk(path)
                    except RecordError as exc:
                        self._unreadable.setdefault(place, []).append(str(exc))
                        continue
                    cell = SourceCell(root, path.parent, marker)
                    self._cells.setdefault(marker.config_hash, []).append(cell)
                    self._places.setdefault(place, []).append(cell)
        return self._cells

    def find_cell(self, key: CellKey) -> SourceCell | None:
        """The first source cell with ``key`` whose files verify (sources in order, this cell's own row and
        dataset first), else None. Why a candidate fails, or an unreadable marker where this cell would be,
        is logged once, in one line."""
        if key.hash in self._found:
            return self._found[key.hash]
        place = (key.folder.parent.name, key.folder.name)
        candidates = sorted(self._cell_index().get(key.hash, []),
                            key=lambda c: (self.folders.index(c.results),
                                           (c.folder.parent.name, c.folder.name) != place, str(c.folder)))
        problems = [f"{msg}; not reused" for msg in self._unreadable.get(place, [])]
        found = None
        for cand in candidates:
            problem = verify_cell(cand.folder, cand.marker)
            if problem is None:
                found = cand
                break
            problems.append(f"{cand.where}: equal key but not reused: {problem}")
        if found is None and problems:
            logger.warning("%s; computing %s/%s here", problems[0], *place)
        self._found[key.hash] = found
        return found

    def other_key(self, key: CellKey) -> str | None:
        """For a dry run: a source cell at this cell's own row and dataset that has another key."""
        self._cell_index()
        for cand in self._places.get((key.folder.parent.name, key.folder.name), []):
            if cand.marker.config_hash != key.hash:
                return f"{cand.where} has another key"
        return None

    def adopt_cell(self, suite: SuiteConfig, variant: VariantSpec, ds: DatasetSpec, key: CellKey) -> CellOutcome | None:
        """Copy the source cell with ``key`` into ``key.folder`` (its marker relabelled for this row, key
        and files unchanged, ``reused_from`` added); None when there is none or the copy does not verify."""
        src = self.find_cell(key)
        if src is None:
            other = self.other_key(key)
            if other is not None:
                logger.info("%s; computing %s/%s here", other, variant.name, ds.key)
            return None
        provenance = ReusedFrom(results=portable_path(src.results), row=src.folder.parent.name,
                                dataset=src.folder.name, reused_utc=utc_now())
        marker = dataclasses.replace(src.marker, suite=suite.name, model=variant.name, variant=variant.label,
                                     base=variant.base, kind=variant.kind, dataset=ds.key, reused_from=provenance)
        try:
            with staged_folder(key.folder) as tmp:
                _copy_tree(src.folder, tmp, keep=lambda rel: True)
                marker.to_disk(tmp / CELL_MARKER)
                problem = verify_cell(tmp, marker)
                if problem is not None:
                    raise _NotCopied(problem)
        except (_NotCopied, OSError, SynrankError) as exc:
            logger.warning("%s: copy not reused (%s); computing %s/%s here", src.where, exc, variant.name, ds.key)
            self._found[key.hash] = None
            return None
        return CellOutcome(variant.name, ds.key, "reused", 0.0, key.hash, key.folder, source=src.where)

    # -- training runs -------------------------------------------------------------------------------

    def _training_index(self) -> dict[str, list[SourceTraining]]:
        if self._trainings is None:
            self._trainings = {}
            for root in self.folders:
                for path in sorted(root.glob(f"train/*/{TRAIN_MARKER}")):
                    try:
                        marker = TrainMarker.from_disk(path)
                    except RecordError as exc:
                        logger.info("%s; not reused", exc)
                        continue
                    self._training_places.setdefault(path.parent.name, []).append((path.parent, marker.config_hash))
                    try:
                        below = PurePosixPath(marker.checkpoint).relative_to(f"train/{path.parent.name}")
                    except ValueError:
                        logger.info("%s: checkpoint %r lies outside its run's folder; not reused", path,
                                    marker.checkpoint)
                        continue
                    if marker.model_sha256:
                        self._trainings.setdefault(marker.config_hash, []).append(
                            SourceTraining(root, path.parent, marker, below))
        return self._trainings

    def find_training(self, spec: TrainingSpec, model_sha256: str | None = None) -> SourceTraining | None:
        """The first source run with ``spec``'s training key (and, when given, these weights' sha256)."""
        cands = [c for c in self._training_index().get(spec.key, [])
                 if model_sha256 is None or c.marker.model_sha256 == model_sha256]
        cands.sort(key=lambda c: (self.folders.index(c.results), c.folder.name != spec.name, c.folder.name))
        return cands[0] if cands else None

    def training_identity(self, src: SourceTraining, spec: TrainingSpec) -> dict[str, Any]:
        """The model identity this suite's cells of ``spec`` get when its run is ``src``'s copy."""
        assert src.marker.model_sha256 is not None
        return trained_model_identity(spec.key, src.checkpoint_for(spec.name), src.marker.model_sha256,
                                      spec.transformer)

    def adopt_training(self, spec: TrainingSpec, results: Path, *, weights: bool,
                       model_sha256: str | None = None) -> TrainOutcome | None:
        """Copy a source run with ``spec``'s key into ``train/<name>/``: its records, and with ``weights``
        its trained model as well (only from a source whose weights are there and match their sha256).
        None when no source has such a run."""
        # start-up time: synrank.retrieval imports torch (1.5 s); a dry run needs none of it
        from synrank.retrieval.encoders import folder_fingerprint

        src = self.find_training(spec, model_sha256)
        if src is None:
            if model_sha256 is None:
                self._training_index()
                for other, key in self._training_places.get(spec.name, []):
                    if key != spec.key:
                        logger.info("%s has another training key; training %s here", portable_path(other), spec.name)
            return None
        where = portable_path(src.folder)
        if weights:
            if find_trained_model(src.weights) != src.weights:
                logger.info("%s: finished with this key but its weights are not there; training %s here", where,
                            spec.name)
                return None
            try:
                fingerprint = folder_fingerprint(src.weights)
            except (OSError, SynrankError) as exc:
                fingerprint = f"unreadable ({exc})"
            if fingerprint != src.marker.model_sha256:
                logger.warning("%s: its weights do not match the sha256 in its %s; not reused, training %s here",
                               where, TRAIN_MARKER, spec.name)
                return None
        checkpoint = src.checkpoint_for(spec.name)
        marker = dataclasses.replace(
            src.marker, model=spec.name, checkpoint=checkpoint,
            reused_from=ReusedFrom(results=portable_path(src.results), row=src.folder.name, reused_utc=utc_now()))
        below = src.below.parts

        def keep(rel: PurePosixPath) -> bool:  # records always; the model's other files with ``weights``
            inside = rel.parts[:len(below)] == below
            return weights or not inside or rel.name in MODEL_RECORD_FILES

        try:
            with staged_folder(training_folder(results, spec)) as tmp:
                _copy_tree(src.folder, tmp, keep=keep)
                marker.to_disk(tmp / TRAIN_MARKER)
        except (OSError, SynrankError) as exc:
            logger.warning("%s: copy not reused (%s); training %s here", where, exc, spec.name)
            return None
        assert marker.model_sha256 is not None
        return TrainOutcome(spec.name, "reused", 0.0, spec.key, results / checkpoint, marker.model_sha256,
                            source=where)


class _NotCopied(Exception):
    pass


def _copy_tree(src: Path, dest: Path, keep: Callable[[PurePosixPath], bool]) -> None:
    """Copy the files below ``src`` into the existing folder ``dest`` whose path relative to ``src`` passes
    ``keep``; locks, run-start records, checkpoints and hidden (temporary) entries are left out."""
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIPPED and not d.startswith("."))
        rel_dir = Path(dirpath).relative_to(src)
        for name in sorted(filenames):
            rel = PurePosixPath(rel_dir.as_posix(), name) if rel_dir.parts else PurePosixPath(name)
            if name in _SKIPPED or name.startswith(".") or not keep(rel):
                continue
            (dest / rel_dir).mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(dirpath) / name, dest / rel_dir / name)
