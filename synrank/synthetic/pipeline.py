"""The resumable generation pipeline: queries → strategy → backend → validation → append-only shards.

Output folder layout (``--out DIR``)::

    generation.json          the run's identity (strategy, levels, seed, model sha256, prompt version,
                             sampling, validation); a resume with a different identity is refused
    shard-00000.jsonl        accepted groups (synrank.groups/v1), appended and fsynced one per line;
                             each session starts a new shard and rotates every ``shard_size`` groups
    shard-0000N.jsonl.gz     shards compacted by :func:`pack` (read the same way)
    rejects-0000N.jsonl      rejected passages/queries with their reasons, one file per session (never read
                             as groups); ``.jsonl.gz`` once packed. (``rejects.jsonl[.gz]``: older layout, read too)
    log/runs.jsonl           per-batch cumulative counters of each session (tokens, seconds, ...)
    datacard.json / .md      written at the end of a run, or by ``synrank generate --finalize DIR``

Crash safety: a group is written as one fsynced line only once all its grades are accepted, so a
``kill -9`` loses at most the groups in flight (the current batch); on restart a torn last line is cut
(:func:`synrank.io.repair_jsonl_tail`) and finished or rejected query ids are skipped. Target queries are
visited in a seeded shuffle of the guarded query source, so a resumed or extended run (higher
``limit``) continues the same sequence.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import logging
import os
import random
import re
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from synrank.config import bounded, check_ranges
from synrank.data.groups import GROUPS_SCHEMA
from synrank.errors import ConfigError, GenerationError
from synrank.io import append_jsonl, atomic_write_gzip_text, atomic_write_json, folder_lock, repair_jsonl_tail
from synrank.synthetic.backends import Backend, GenerationRequest, SamplingParams, create_backend
from synrank.synthetic.dedup import Deduplicator
from synrank.synthetic.query_sources import guarded, load_queries
from synrank.synthetic.strategies import Ineligible, Job, Strategy, build_strategy
from synrank.synthetic.validate import ValidationConfig, check_group, check_passage, clean_passage

log = logging.getLogger(__name__)

SHARD_RE = re.compile(r"^shard-(\d{5})\.jsonl(\.gz)?$")
REJECTS_RE = re.compile(r"^rejects(?:-(\d{5}))?\.jsonl(\.gz)?$")
IDENTITY_KEYS = ("queries", "strategy", "levels", "seed", "prompt_version", "backend", "model_sha256", "model",
                 "sampling", "validation", "max_attempts", "strategy_config")


@dataclass
class GenerationConfig:
    queries: str
    out: Path
    backend: str = "local"
    model: str | None = None
    strategy: str = "anchored"
    levels: tuple[int, ...] = (3, 2, 1, 0)
    limit: int | None = bounded(None, 0, 10**9)
    seed: int = bounded(0, 0, 2**32 - 1)
    pool: str | None = None
    max_attempts: int = bounded(3, 1, 100)
    batch_size: int | None = bounded(None, 1, 65536)
    shard_size: int = bounded(500, 1, 10**7)
    sampling: SamplingParams = field(default_factory=SamplingParams)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    backend_options: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    progress: bool = True


# ----------------------------------------------------------------------------------------------------
# reading an output folder
def shard_files(out: Path) -> list[Path]:
    return sorted((p for p in out.iterdir() if SHARD_RE.match(p.name)), key=lambda p: p.name)


def _iter_lines(path: Path):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.endswith("\n") and line.strip():
                yield json.loads(line)


def iter_records(out: Path):
    """Every accepted record in ``out`` once (a shard present as .jsonl and .jsonl.gz counts once)."""
    seen_shards: set[str] = set()
    for path in shard_files(out):
        stem = SHARD_RE.match(path.name).group(1)
        if stem in seen_shards:
            continue
        seen_shards.add(stem)
        plain = out / f"shard-{stem}.jsonl"
        yield from _iter_lines(plain if plain.exists() else path)


def reject_files(out: Path) -> list[Path]:
    """Reject logs, one per stem: the plain file when both plain and packed exist."""
    files = sorted(p for p in out.iterdir() if REJECTS_RE.match(p.name))
    plain = {p.name for p in files if p.suffix == ".jsonl"}
    return [p for p in files if not (p.suffix == ".gz" and p.name[:-3] in plain)]


def iter_rejects(out: Path):
    for path in reject_files(out):
        yield from _iter_lines(path)


def _seed(*parts: Any) -> int:
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:4], "little")


def _comparable(key: str, value: Any) -> Any:
    """Identity value as compared on resume: a query source is its name, not the folder it was found in
    (``"msmarco-dev-queries (../shared/datasets/msmarco-dev-queries/queries.jsonl)"`` → ``"msmarco-dev-queries"``),
    and a query file its file name (older folders recorded it as an absolute path), so a checkout elsewhere
    still resumes."""
    if key == "queries" and isinstance(value, str):
        name = value.split(" (", 1)[0]
        return Path(name).name if name.endswith((".tsv", ".jsonl", ".json")) else name
    return value


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ----------------------------------------------------------------------------------------------------
@dataclass
class _QueryState:
    qid: str
    query: str
    jobs: dict[Any, Job]
    attempts: dict[Any, int] = field(default_factory=dict)
    transport_failures: dict[Any, int] = field(default_factory=dict)
    passages: dict[int, dict[str, Any]] = field(default_factory=dict)


class Generator:
    """Runs one generation session into ``cfg.out``; see the module docstring for the layout."""

    def __init__(self, cfg: GenerationConfig, backend: Backend | None = None, guard: Any = None):
        self.cfg = cfg
        self.out = Path(cfg.out)
        self._backend = backend
        self._guard = guard
        self._marked_active = False

    # -- setup ---------------------------------------------------------------------------------------
    def _load(self) -> None:
        cfg = self.cfg
        if self._guard is None:
            from synrank.data.leakage import evaluation_guard

            self._guard = evaluation_guard()
        raw, self.queries_desc = load_queries(cfg.queries)
        self.targets, self.n_excluded = guarded(raw, self._guard)
        if cfg.pool and cfg.pool != cfg.queries:
            pool_raw, _ = load_queries(cfg.pool)
            pool, _ = guarded(pool_raw, self._guard)
        else:
            pool = self.targets
        try:
            self.strategy: Strategy = build_strategy(
                cfg.strategy, tuple(cfg.levels), pool=pool, seed=cfg.seed,
                **({"exclude": self._guard.is_evaluation_query} if cfg.strategy == "anchored" else {}))
        except ValueError as exc:
            raise ConfigError(str(exc), hint="see `synrank generate --help`") from exc
        if self._backend is None:
            self._backend = create_backend(cfg.backend, cfg.model, **cfg.backend_options)
        self.backend_info = self._backend.describe()
        self.batch_size = int(cfg.batch_size or self._backend.preferred_batch_size)

    def identity(self) -> dict[str, Any]:
        cfg = self.cfg
        return {"queries": self.queries_desc, "strategy": cfg.strategy, "levels": sorted(cfg.levels, reverse=True),
                "seed": cfg.seed, "prompt_version": self.strategy.describe()["prompt_version"],
                "backend": self.backend_info["backend"], "model": self.backend_info.get("model"),
                "model_sha256": self.backend_info.get("model_sha256"), "sampling": cfg.sampling.to_dict(),
                "validation": cfg.validation.to_dict(), "max_attempts": cfg.max_attempts,
                "strategy_config": self.strategy.describe()}

    def _check_identity(self) -> None:
        path = self.out / "generation.json"
        ident = json.loads(json.dumps(self.identity(), default=str))
        if path.exists():
            old = json.loads(path.read_text())
            diff = [k for k in IDENTITY_KEYS
                    if _comparable(k, old.get("identity", {}).get(k)) != _comparable(k, ident.get(k))]
            if diff:
                raise ConfigError(
                    f"this folder was generated with different settings ({', '.join(diff)})", path,
                    hint="resume with the original settings, or choose a new --out folder")
            doc = old
        else:
            doc = {"schema": "synrank.generation/v1", "created": _now(), "identity": ident}
        doc.update({"description": self.cfg.description or doc.get("description", ""),
                    "limit": self.cfg.limit, "updated": _now(), "backend_info": self.backend_info,
                    "queries_excluded_by_evaluation_guard": self.n_excluded, "queries_available": len(self.targets)})
        atomic_write_json(path, doc)

    def _scan_existing(self) -> None:
        self.done: set[str] = set()
        self.dedup = Deduplicator()
        for path in shard_files(self.out):
            if path.suffix == ".jsonl":
                cut = repair_jsonl_tail(path)
                if cut:
                    log.warning("%s: removed a torn last line (%d bytes) left by an interrupted run", path, cut)
        for path in reject_files(self.out):
            if path.suffix == ".jsonl":
                repair_jsonl_tail(path)
        self.n_written = 0
        for rec in iter_records(self.out):
            if rec["query_id"] not in self.done:
                self.n_written += 1
            self.done.add(rec["query_id"])
            for p in rec["passages"]:
                self.dedup.add(p["text"])
        self.closed: set[str] = {r["query_id"] for r in iter_rejects(self.out) if r.get("final")}
        nums = [int(SHARD_RE.match(p.name).group(1)) for p in shard_files(self.out)]
        self.shard_index = max(nums) + 1 if nums else 0

    # -- bookkeeping ---------------------------------------------------------------------------------
    def _shard_path(self) -> Path:
        return self.out / f"shard-{self.shard_index:05d}.jsonl"

    def _write_group(self, st: _QueryState) -> None:
        texts = [st.query] + [p["source_query"] for p in st.passages.values() if p.get("source_query")]
        self._guard.assert_clean(texts, f"{self.out} (query {st.qid})")
        passages = [st.passages[g] for g in sorted(st.passages, reverse=True)]
        rec = {"schema": GROUPS_SCHEMA, "query_id": st.qid, "query": st.query, "passages": passages,
               "strategy": self.cfg.strategy,
               "provenance": {**self.backend_info, "prompt_version": self.identity_cache["prompt_version"],
                              "sampling": self.cfg.sampling.to_dict(), "seed": self.cfg.seed,
                              "selection": self.selection, "generated_at": _now(), "session": self.session}}
        if self.shard_groups >= self.cfg.shard_size:
            self.shard_index += 1
            self.shard_groups = 0
            self._mark_active()
        append_jsonl(self._shard_path(), rec)
        self.shard_groups += 1
        self.n_written += 1
        self.done.add(st.qid)
        for p in passages:
            self.dedup.add(p["text"])

    def _reject(self, **rec: Any) -> None:
        append_jsonl(self.out / f"rejects-{self.first_shard:05d}.jsonl",
                     {"time": _now(), "session": self.session, **rec})

    def _mark_active(self) -> None:
        self._marked_active = True
        atomic_write_json(self.out / "log" / "active.json",
                          {"shard": self._shard_path().name, "pid": os.getpid(), "session": self.session})

    def _clear_active(self) -> None:
        """Remove this session's marker (after success or failure); only a kill -9 can leave it behind."""
        if self._marked_active:
            # best effort: a failure here must not hide the error that ended the run
            with contextlib.suppress(OSError):
                (self.out / "log" / "active.json").unlink(missing_ok=True)
            self._marked_active = False

    def _log_stats(self) -> None:
        append_jsonl(self.out / "log" / "runs.jsonl", {"session": self.session, "time": _now(), **self.stats})

    # -- main loop -----------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        self.out.mkdir(parents=True, exist_ok=True)
        with folder_lock(self.out, what="synthetic output folder"):
            try:
                self._load()
                self.identity_cache = self.identity()
                self._check_identity()
                self._scan_existing()
                return self._loop()
            finally:
                self._clear_active()
                if self._backend is not None:
                    self._backend.close()

    def _loop(self) -> dict[str, Any]:
        cfg = self.cfg
        self.session = uuid.uuid4().hex[:12]
        self.selection = {"evaluation_guard": "targets and pool sources filtered by synrank.data.leakage",
                          "max_attempts": cfg.max_attempts, "validation": cfg.validation.to_dict(),
                          "dedup": "exact normalized-text duplicates across the dataset rejected"}
        self.shard_groups = 0
        self.first_shard = self.shard_index  # names this session's rejects file
        self._mark_active()
        self.stats = {"groups": 0, "prompts": 0, "gen_tokens": 0, "gen_seconds": 0.0, "wall_seconds": 0.0,
                      "rejected_passages": 0, "failed_queries": 0, "ineligible_queries": 0,
                      "accepted_passages": 0}
        order = sorted(self.targets)
        random.Random(cfg.seed).shuffle(order)
        todo = iter(q for q in order if q not in self.done and q not in self.closed)
        limit = cfg.limit if cfg.limit is not None else len(order)
        queue: deque[tuple[_QueryState, Any]] = deque()
        active: dict[str, _QueryState] = {}
        t0 = time.perf_counter()
        bar = None
        if cfg.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=limit, initial=min(self.n_written, limit), unit="query", desc="generate", smoothing=0.05)
        exhausted = False
        try:
            while True:
                while not exhausted and len(queue) < self.batch_size and self.n_written + len(active) < limit:
                    qid = next(todo, None)
                    if qid is None:
                        exhausted = True
                        break
                    query = self.targets[qid]
                    try:
                        jobs = self.strategy.plan(qid, query)
                    except Ineligible as exc:
                        self.stats["ineligible_queries"] += 1
                        self._reject(kind="ineligible", final=True, query_id=qid, query=query, reason=str(exc))
                        self.closed.add(qid)
                        continue
                    st = _QueryState(qid, query, {(j.grade if j.grade is not None else "all"): j for j in jobs})
                    active[qid] = st
                    for key in st.jobs:
                        st.attempts[key] = 0
                        queue.append((st, key))
                if not queue:
                    break
                batch = [queue.popleft() for _ in range(min(self.batch_size, len(queue)))]
                reqs = [GenerationRequest(st.jobs[k].messages, _seed(cfg.seed, st.qid, k, st.attempts[k]), (st, k))
                        for st, k in batch]
                tb = time.perf_counter()
                comps = self._backend.generate(reqs, cfg.sampling)
                self.stats["gen_seconds"] += time.perf_counter() - tb
                self.stats["prompts"] += len(reqs)
                if len(comps) != len(reqs):
                    raise GenerationError(f"backend {cfg.backend} returned {len(comps)} completions for "
                                          f"{len(reqs)} requests")
                retry: list[tuple[_QueryState, Any]] = []
                transport: set[tuple[str, Any]] = set()
                touched: dict[str, _QueryState] = {}
                for req, comp in zip(reqs, comps, strict=True):
                    st, key = req.key
                    if st.qid not in active:
                        continue  # the query already failed on another grade
                    self.stats["gen_tokens"] += comp.n_tokens
                    job = st.jobs[key]
                    reason, parsed = comp.error, {}
                    if reason is None:
                        try:
                            parsed = self.strategy.parse(job, comp.text)
                        except ValueError as exc:
                            reason = str(exc)
                    if reason is None:
                        for g, raw in parsed.items():
                            text = clean_passage(raw, comp.finish_reason == "length")
                            why = check_passage(text, st.query, cfg.validation)
                            if why is None and self.dedup.seen(text):
                                why = "exact duplicate of a passage already in the dataset"
                            if why is not None:
                                reason = f"grade {g}: {why}"
                                break
                            st.passages[g] = {"text": text, "grade": g, "source_query_id": job.source_query_id,
                                              "source_query": job.source_query, "source_rule": job.source_rule,
                                              "seed": req.seed, "attempt": st.attempts[key],
                                              "n_tokens": comp.n_tokens, "finish_reason": comp.finish_reason,
                                              **({"batch_seed": comp.extra["batch_seed"]}
                                                 if "batch_seed" in comp.extra else {})}
                    if reason is not None:
                        for g in parsed:
                            st.passages.pop(g, None)
                        self.stats["rejected_passages"] += 1
                        self._reject(kind="passage", final=False, query_id=st.qid, query=st.query,
                                     grade=job.grade, source_query=job.source_query, attempt=st.attempts[key],
                                     seed=req.seed, reason=reason, text=comp.text[:2000])
                        retry.append((st, key))
                        if comp.error is not None:
                            transport.add((st.qid, key))
                    touched[st.qid] = st
                # A backend that fails at the transport level (HTTP errors, timeouts) says nothing about
                # the query: such failures never use up a query's attempts, so a resume retries them, and a
                # batch in which every request failed stops the run instead of silently closing queries.
                if comps and all(c.error is not None for c in comps):
                    raise GenerationError(
                        f"backend {cfg.backend}: all {len(comps)} requests of a batch failed ({comps[0].error})",
                        hint="no query was marked done; fix the backend and re-run the same command to resume")
                # group-level checks once every grade of a query is in
                for st in touched.values():
                    if st.qid not in active or len(st.passages) < len(self.strategy.grades):
                        continue
                    bad = check_group({g: p["text"] for g, p in st.passages.items()}, cfg.validation)
                    if not bad:
                        self._write_group(st)
                        self.stats["groups"] += 1
                        self.stats["accepted_passages"] += len(st.passages)
                        del active[st.qid]
                        if bar is not None:
                            bar.update(1)
                        continue
                    for g, why in bad.items():
                        key = g if g in st.jobs else "all"
                        p = st.passages.pop(g)
                        if key == "all":
                            st.passages.clear()
                        self.stats["rejected_passages"] += 1
                        self._reject(kind="passage", final=False, query_id=st.qid, query=st.query, grade=g,
                                     source_query=p["source_query"], attempt=st.attempts[key], seed=p["seed"],
                                     reason=why, text=p["text"])
                        if (st, key) not in retry:
                            retry.append((st, key))
                for st, key in reversed(retry):
                    if st.qid not in active:
                        continue
                    if (st.qid, key) in transport:
                        st.transport_failures[key] = st.transport_failures.get(key, 0) + 1
                        if st.transport_failures[key] > 3 * cfg.max_attempts:
                            raise GenerationError(
                                f"backend {cfg.backend}: query {st.qid} failed {st.transport_failures[key]} "
                                "times at the transport level", hint="fix the backend and re-run to resume")
                        queue.appendleft((st, key))
                        continue
                    st.attempts[key] += 1
                    if st.attempts[key] >= cfg.max_attempts:
                        self.stats["failed_queries"] += 1
                        self._reject(kind="query", final=True, query_id=st.qid, query=st.query,
                                     reason=f"grade {key}: still rejected after {cfg.max_attempts} attempts")
                        self.closed.add(st.qid)
                        del active[st.qid]
                        continue
                    queue.appendleft((st, key))
                queue = deque(item for item in queue if item[0].qid in active)
                self.stats["wall_seconds"] = time.perf_counter() - t0
                self._log_stats()
                if bar is not None:
                    tps = self.stats["gen_tokens"] / max(self.stats["gen_seconds"], 1e-9)
                    bar.set_postfix(tok_s=f"{tps:.0f}", rejects=self.stats["rejected_passages"], refresh=False)
        finally:
            if bar is not None:
                bar.close()
        self.stats["wall_seconds"] = time.perf_counter() - t0
        self._log_stats()
        self._clear_active()
        from synrank.synthetic.datacard import write_datacard

        write_datacard(self.out)
        log.info("generated %d groups this session (%d in total) into %s", self.stats["groups"], self.n_written,
                 self.out)
        return {**self.stats, "total_groups": self.n_written}


def generate(cfg: GenerationConfig, backend: Backend | None = None, guard: Any = None) -> dict[str, Any]:
    """Run (or resume) generation into ``cfg.out``; returns this session's counters."""
    check_ranges(cfg)  # every numeric setting, sampling included, within its documented range
    return Generator(cfg, backend, guard).run()


# ----------------------------------------------------------------------------------------------------
def _active_index(out: Path) -> int | None:
    """Index of the shard a live generator is appending to (None when no generator holds the folder)."""
    from synrank.errors import LockedError

    try:
        with folder_lock(out):
            return None
    except LockedError:
        try:
            info = json.loads((out / "log" / "active.json").read_text())
            return int(SHARD_RE.match(info["shard"]).group(1))
        except (OSError, ValueError, KeyError, AttributeError):
            return -1  # locked but unknown: compact nothing


def pack(out: str | Path) -> dict[str, int]:
    """Compact closed shards and reject logs to ``.jsonl.gz`` (atomic; the plain file is removed after).

    Safe while a generator runs: only files of sessions/shards below the live shard index are touched.
    """
    out = Path(out)
    active = _active_index(out)
    packed = 0
    for path in shard_files(out):
        if path.suffix != ".jsonl":
            continue
        idx = int(SHARD_RE.match(path.name).group(1))
        if active is not None and idx >= active:
            continue
        if active is None:
            repair_jsonl_tail(path)
        if path.with_name(path.name + ".gz").exists():
            path.with_name(path.name + ".gz").unlink()  # an interrupted earlier pack: redo from the plain file
        _compact(path)
        packed += 1
    for path in sorted(out.iterdir()):
        m = REJECTS_RE.match(path.name)
        if not m or path.suffix != ".jsonl":
            continue
        idx = int(m.group(1)) if m.group(1) else -1  # legacy rejects.jsonl: only when no generator runs
        if active is not None and (idx >= active or idx < 0):
            continue
        _compact(path, append=True)
    return {"packed_shards": packed}


def _compact(path: Path, append: bool = False) -> None:
    """``x.jsonl`` → ``x.jsonl.gz`` (appending to an existing .gz's lines when ``append``), then delete ``x.jsonl``."""
    text = path.read_text(encoding="utf-8")
    text = text[: text.rfind("\n") + 1]
    gz = path.with_name(path.name + ".gz")
    if append and gz.exists():
        with gzip.open(gz, "rt", encoding="utf-8") as fh:
            old = fh.read()
        text = old + text
    atomic_write_gzip_text(gz, text)
    with gzip.open(gz, "rt", encoding="utf-8") as fh:
        if fh.read() != text:
            raise GenerationError("compressed file does not read back identically", gz)
    path.unlink()
