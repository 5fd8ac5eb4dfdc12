"""Graded training groups: one query, its passages and their integer relevance grades.

This is the exchange format between synthetic generation (which writes it), real labelled data
converters (which build it) and the trainer (which reads it). On disk: JSON lines, one group per
line, in a ``.jsonl`` or ``.jsonl.gz`` file or a folder of such files (``shard-*.jsonl[.gz]``)::

    {"schema": "synrank.groups/v1", "query_id": "1048585", "query": "what is paula deen's brother",
     "passages": [{"text": "...", "grade": 3, "source_query_id": "1048585", "source_query": "..."}, ...],
     "strategy": "anchored", "provenance": {...}}

Only ``query_id``, ``query`` and ``passages[].text/grade`` are required; anything else is carried along.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synrank.data.shards import iter_group_file, one_copy_each
from synrank.data.values import grade_problem, id_problem, is_blank
from synrank.errors import DatasetError, show

GROUPS_SCHEMA = "synrank.groups/v1"


@dataclass
class Passage:
    text: str
    grade: int
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainingGroup:
    query_id: str
    query: str
    passages: list[Passage]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def grades(self) -> list[int]:
        return [p.grade for p in self.passages]

    def to_record(self) -> dict[str, Any]:
        rec: dict[str, Any] = {"schema": GROUPS_SCHEMA, "query_id": self.query_id, "query": self.query,
                               "passages": [{"text": p.text, "grade": p.grade, **p.meta} for p in self.passages]}
        rec.update({k: v for k, v in self.meta.items() if k not in rec})
        return rec


def group_files(path: str | Path) -> list[Path]:
    path = Path(path)
    if path.is_dir():
        files = sorted([*path.glob("*.jsonl"), *path.glob("*.jsonl.gz")])
        # a half-packed shard (both copies of the same groups) is read once
        files = one_copy_each([f for f in files if not f.name.startswith(("rejects", "."))])
        if not files:
            raise DatasetError("no *.jsonl or *.jsonl.gz group files in folder", path)
        return files
    if not path.exists():
        raise DatasetError("training group file does not exist", path)
    return [path]


def parse_group(rec: Any, path: Path, lineno: int) -> TrainingGroup:
    """One group record; ids, grades and texts follow the rules of :mod:`synrank.data.values` (an integer
    ``query_id`` is read as its decimal string, as BEIR ids are)."""
    if not isinstance(rec, dict):
        raise DatasetError("a group must be a JSON object", path, lineno)
    for key in ("query_id", "query", "passages"):
        if key not in rec:
            raise DatasetError(f"missing {key!r}", path, lineno)
    qid = rec["query_id"]
    if isinstance(qid, bool) or not isinstance(qid, (str, int)):
        raise DatasetError(f"'query_id' must be a string, found {type(qid).__name__}", path, lineno)
    qid = str(qid)
    problem = id_problem(qid)
    if problem is not None:
        raise DatasetError(f"'query_id' {show(qid)} {problem}", path, lineno)
    if not isinstance(rec["query"], str) or is_blank(rec["query"]):
        raise DatasetError("empty query text", path, lineno)
    if not isinstance(rec["passages"], list) or not rec["passages"]:
        raise DatasetError("'passages' must be a non-empty list", path, lineno)
    passages = []
    for i, p in enumerate(rec["passages"]):
        if not isinstance(p, dict) or "text" not in p or "grade" not in p:
            raise DatasetError(f"passages[{i}] needs 'text' and 'grade'", path, lineno)
        grade = p["grade"]
        if isinstance(grade, bool) or not isinstance(grade, int) or grade < 0:
            raise DatasetError(f"passages[{i}].grade must be a non-negative integer, got {show(grade)}", path, lineno)
        problem = grade_problem(grade)
        if problem is not None:
            raise DatasetError(f"passages[{i}].{problem}", path, lineno)
        if not isinstance(p["text"], str) or is_blank(p["text"]):
            raise DatasetError(f"passages[{i}] has empty text", path, lineno)
        passages.append(Passage(p["text"], grade, {k: v for k, v in p.items() if k not in ("text", "grade")}))
    meta = {k: v for k, v in rec.items() if k not in ("query_id", "query", "passages")}
    return TrainingGroup(qid, rec["query"], passages, meta)


def iter_groups(path: str | Path, unique_ids: bool = True) -> Iterator[TrainingGroup]:
    """Yield groups from a file or folder; a malformed line is a :class:`DatasetError` naming file and line
    (a generation shard's torn last line is skipped with a warning: :func:`synrank.data.shards.iter_group_file`).

    With ``unique_ids`` (default) a ``query_id`` seen before in the same file or folder is an error: a
    repeated group would silently be trained on twice (e.g. two generation runs appended into one
    folder, or a shard copied twice).
    """
    seen: dict[str, tuple[Path, int]] = {}
    for file in group_files(path):
        for lineno, rec in iter_group_file(file):
            group = parse_group(rec, file, lineno)
            if unique_ids:
                first = seen.get(group.query_id)
                if first is not None:
                    where = f"line {first[1]}" if first[0] == file else f"{first[0]}:{first[1]}"
                    raise DatasetError(f"duplicate query_id {group.query_id!r} (first on {where})", file,
                                       lineno, hint="each query must appear in one group only; remove the "
                                       "repeated group")
                seen[group.query_id] = (file, lineno)
            yield group


def read_groups(path: str | Path, unique_ids: bool = True) -> list[TrainingGroup]:
    return list(iter_groups(path, unique_ids=unique_ids))
