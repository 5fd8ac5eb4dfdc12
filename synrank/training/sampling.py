"""Group sampling: which G passages of each query go into a batch, and in which order queries come.

Rules (fixed group size ``G``; every draw is seeded, see "Determinism" below):

1. **One passage per grade where available.** The group's distinct grades are visited from the
   highest down; one passage is drawn uniformly at random from each grade's passages.
2. **Long groups** — more distinct grades than ``G``: the highest grade is always kept (every query
   keeps its best passage, so InfoNCE always has a positive) and ``G - 1`` of the remaining grades are
   chosen uniformly at random. More passages than ``G`` but at most ``G`` grades: after one per grade,
   the free slots are filled by drawing uniformly *without replacement* from the unused passages
   (any grade).
3. **Short groups** — fewer passages than ``G``:
   - ``resample`` (default): the group keeps all its passages and is padded to ``G`` by drawing *with
     replacement* from its passages below the top grade (so padding never inflates the positive
     mass; a duplicated passage carries its own grade, so the target stays consistent); if every
     passage has the top grade, from those.
   - ``drop``: the group is removed before training (the count is logged and recorded in
     ``training_config.json``).
4. The chosen passages are ordered by grade, descending (ties in draw order). All losses are
   invariant to the order inside a group; a fixed order makes batches easy to inspect.

Determinism: the query order of epoch ``e`` is a permutation drawn from ``default_rng([seed, e])``; the
passages of item ``i`` in epoch ``e`` are drawn from ``default_rng([seed, e, i])``. A batch is therefore a
pure function of ``(seed, epoch, cursor)``, which is all the sampler state a checkpoint needs, and
every rank of a distributed run computes the same global batch and takes its own slice.
The last incomplete batch of an epoch is dropped (fixed shapes; the Wasserstein loss needs B ≥ 2).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from synrank.data.groups import Passage, TrainingGroup
from synrank.errors import TrainingError

logger = logging.getLogger(__name__)

ShortPolicy = Literal["resample", "drop"]


def select_passages(group: TrainingGroup, group_size: int, rng: np.random.Generator,
                    short_groups: ShortPolicy = "resample") -> list[Passage]:
    """Pick exactly ``group_size`` passages of ``group`` by the module's rules (see module docstring)."""
    passages = group.passages
    if not passages:
        raise TrainingError(f"group {group.query_id!r} has no passages")
    by_grade: dict[int, list[int]] = {}
    for i, p in enumerate(passages):
        by_grade.setdefault(p.grade, []).append(i)
    grades = sorted(by_grade, reverse=True)
    if len(grades) > group_size:
        rest = grades[1:]
        keep = sorted(rng.choice(len(rest), size=group_size - 1, replace=False).tolist())
        grades = [grades[0]] + [rest[k] for k in keep]
    chosen = [by_grade[g][int(rng.integers(len(by_grade[g])))] for g in grades]
    if len(chosen) < group_size:
        used = set(chosen)
        unused = [i for i in range(len(passages)) if i not in used]
        n_free = group_size - len(chosen)
        if len(unused) >= n_free:
            chosen += [unused[k] for k in rng.choice(len(unused), size=n_free, replace=False).tolist()]
        else:
            if short_groups == "drop":
                raise TrainingError(f"group {group.query_id!r} has {len(passages)} passages, fewer than "
                                    f"group_size={group_size}", hint="drop short groups before sampling")
            chosen += unused
            top = max(by_grade)
            pool = [i for i, p in enumerate(passages) if p.grade < top] or by_grade[top]
            chosen += [pool[k] for k in rng.integers(len(pool), size=group_size - len(chosen)).tolist()]
    picked = [passages[i] for i in chosen]
    order = sorted(range(len(picked)), key=lambda k: -picked[k].grade)  # stable: ties keep draw order
    return [picked[k] for k in order]


def select_binary(group: TrainingGroup, group_size: int, rng: np.random.Generator, threshold: int) -> list[Passage]:
    """SyCL's binary groups (trove ``BinaryDataset``, the reference's InfoNCE data): one positive drawn
    uniformly from the passages with grade >= ``threshold``, then ``group_size - 1`` negatives drawn
    uniformly from those below it, without replacement (with replacement when there are too few).
    Positive first. A group without a positive or without a negative is a :class:`TrainingError`."""
    positives = [p for p in group.passages if p.grade >= threshold]
    negatives = [p for p in group.passages if p.grade < threshold]
    if not positives or (group_size > 1 and not negatives):
        raise TrainingError(f"group {group.query_id!r} has no passage {'at or above' if not positives else 'below'} "
                            f"grade {threshold}: a binary group needs both",
                            hint="use graded groups, or data with positives and negatives for every query")
    chosen = [positives[int(rng.integers(len(positives)))]]
    n_neg = group_size - 1
    replace = len(negatives) < n_neg
    if n_neg:
        chosen += [negatives[k] for k in rng.choice(len(negatives), size=n_neg, replace=replace).tolist()]
    return chosen


class TrainingItem(Protocol):
    """One training example before sampling: turns into (query, G passages, G grades) given an RNG."""

    def draw(self, rng: np.random.Generator, group_size: int,
             short_groups: ShortPolicy) -> tuple[str, list[str], list[int]]: ...

    def size(self) -> int: ...


@dataclass
class GroupItem:
    """A graded group (synthetic or real labelled data)."""

    group: TrainingGroup
    #: When set: binary groups (:func:`select_binary`) at this relevance threshold instead of graded ones.
    binary_threshold: int | None = None

    def draw(self, rng: np.random.Generator, group_size: int,
             short_groups: ShortPolicy) -> tuple[str, list[str], list[int]]:
        if self.binary_threshold is not None:
            chosen = select_binary(self.group, group_size, rng, self.binary_threshold)
        else:
            chosen = select_passages(self.group, group_size, rng, short_groups)
        return self.group.query, [p.text for p in chosen], [p.grade for p in chosen]

    def size(self) -> int:
        return len(self.group.passages)


def drop_short(items: Sequence[TrainingItem], group_size: int) -> tuple[list[TrainingItem], int]:
    """Remove items with fewer than ``group_size`` passages (the ``drop`` policy)."""
    kept = [it for it in items if it.size() >= group_size]
    return kept, len(items) - len(kept)


@dataclass
class Batch:
    """A global micro-batch: ``B`` queries, ``B*G`` passages (group-major) and grades ``[B][G]``."""

    queries: list[str]
    passages: list[str]
    grades: list[list[int]]
    item_indices: list[int]

    def shard(self, rank: int, world: int) -> Batch:
        """The contiguous slice of queries (and their passages) that ``rank`` of ``world`` encodes."""
        b = len(self.queries)
        if b % world:
            raise TrainingError(f"batch of {b} queries cannot be split over {world} processes",
                                hint="make batch_size a multiple of the number of processes")
        per = b // world
        g = len(self.passages) // b
        lo, hi = rank * per, (rank + 1) * per
        return Batch(self.queries[lo:hi], self.passages[lo * g:hi * g], self.grades[lo:hi],
                     self.item_indices[lo:hi])


class GroupSampler:
    """Epoch-wise shuffled, seeded batches over a list of training items, resumable by state dict."""

    def __init__(self, items: Sequence[TrainingItem], batch_size: int, group_size: int, seed: int,
                 short_groups: ShortPolicy = "resample"):
        if len(items) < batch_size:
            raise TrainingError(f"only {len(items)} training groups, fewer than batch_size={batch_size}",
                                hint="add data or lower batch_size")
        self.items = items
        self.batch_size = batch_size
        self.group_size = group_size
        self.seed = seed
        self.short_groups = short_groups
        self.epoch = 0
        self.cursor = 0  # index of the next batch within the epoch
        self._perm_epoch = -1
        self._perm: np.ndarray | None = None

    @property
    def batches_per_epoch(self) -> int:
        return len(self.items) // self.batch_size

    def _permutation(self) -> np.ndarray:
        if self._perm_epoch != self.epoch:
            self._perm = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.items))
            self._perm_epoch = self.epoch
        assert self._perm is not None
        return self._perm

    def next_batch(self) -> Batch:
        if self.cursor >= self.batches_per_epoch:
            self.epoch += 1
            self.cursor = 0
        perm = self._permutation()
        idx = perm[self.cursor * self.batch_size:(self.cursor + 1) * self.batch_size].tolist()
        self.cursor += 1
        queries, passages, grades = [], [], []
        for i in idx:
            rng = np.random.default_rng([self.seed, self.epoch, i])
            q, ps, gs = self.items[i].draw(rng, self.group_size, self.short_groups)
            if len(ps) != self.group_size or len(gs) != self.group_size:
                raise TrainingError(f"training item {i} produced {len(ps)} passages, expected {self.group_size}")
            queries.append(q)
            passages.extend(ps)
            grades.append(gs)
        return Batch(queries, passages, grades, idx)

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "cursor": self.cursor, "seed": self.seed, "n_items": len(self.items),
                "batch_size": self.batch_size, "group_size": self.group_size}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("seed", "n_items", "batch_size", "group_size"):
            mine = self.state_dict()[key]
            if state.get(key) != mine:
                raise TrainingError(f"checkpoint sampler {key}={state.get(key)!r} differs from this run's {mine!r}",
                                    hint="resume with the same config and data, or start a new output folder")
        self.epoch = int(state["epoch"])
        self.cursor = int(state["cursor"])
