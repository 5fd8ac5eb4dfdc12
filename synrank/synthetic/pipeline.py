"""The resumable generation pipeline: queries → strategy → backend → validation → append-only shards.

Output folder layout (``--out DIR``): the shards, reject logs and live-shard marker of
:mod:`synrank.data.shards`, and::

    generation.json          the run's identity (strategy, levels, seed, model sha256, prompt version,
                             sampling, validation); a resume with a different identity is refused
    log/runs.jsonl           per-batch cumulative counters of each session (tokens, seconds, ...)
    README.md, datacard.json the data card (:mod:`synrank.synthetic.datacard`), written at the end of a run
                             or by ``synrank generate --finalize DIR``

Crash safety: a group is written as one fsynced line only once all its grades are accepted, so a
``kill -9`` loses at most the groups in flight (the current batch); on restart a torn last line is cut
(:func:`synrank.data.shards.repair_torn_tails`) and finished or rejected query ids are skipped. Target
queries are visited in a seeded shuffle of the guarded query source, so a resumed or extended run (higher
``limit``) continues the same sequence.

One session (:meth:`Generator._loop`) repeats: plan queries into a queue of prompt jobs, generate one
batch, parse and validate every completion, write the queries whose grades are all in, and queue the
failed jobs again (a query runs out after ``max_attempts``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from synrank.config import bounded, check_ranges
from synrank.data import leakage
from synrank.data.groups import GROUPS_SCHEMA
from synrank.data.shards import ShardWriter, iter_records, iter_rejects, next_shard_index, repair_torn_tails
from synrank.errors import ConfigError, GenerationError
from synrank.io import append_jsonl, atomic_write_json, folder_lock
from synrank.synthetic.backends import Backend, Completion, GenerationRequest, SamplingParams, create_backend
from synrank.synthetic.datacard import write_datacard
from synrank.synthetic.dedup import Deduplicator
from synrank.synthetic.query_sources import guarded, load_queries
from synrank.synthetic.strategies import Ineligible, Job, Strategy, build_strategy
from synrank.synthetic.validate import ValidationConfig, check_group, check_passage, clean_passage

log = logging.getLogger(__name__)

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


@dataclass
class _QueryState:
    """One query in flight: its jobs (one per grade, or one ``"all"``), attempts so far, accepted passages."""

    qid: str
    query: str
    jobs: dict[Any, Job]
    attempts: dict[Any, int] = field(default_factory=dict)
    transport_failures: dict[Any, int] = field(default_factory=dict)
    passages: dict[int, dict[str, Any]] = field(default_factory=dict)


#: a job of a query in flight: its state and the job's key (a grade, or ``"all"``)
_JobRef = tuple[_QueryState, Any]


@dataclass
class _Work:
    """What a session has in hand: target queries not yet planned, queued jobs, queries in flight."""

    todo: Iterator[str]
    limit: int
    queue: deque[_JobRef] = field(default_factory=deque)
    active: dict[str, _QueryState] = field(default_factory=dict)
    exhausted: bool = False


@dataclass
class _BatchOutcome:
    """What checking one batch's completions found: the jobs to retry, those of them that failed at the
    transport level (and so use up no attempt), and the queries that received a completion."""

    retry: list[_JobRef] = field(default_factory=list)
    transport: set[tuple[str, Any]] = field(default_factory=set)
    touched: dict[str, _QueryState] = field(default_factory=dict)


class Generator:
    """Runs one generation session into ``cfg.out``; see the module docstring for the layout."""

    def __init__(self, cfg: GenerationConfig, backend: Backend | None = None, guard: Any = None):
        self.cfg = cfg
        self.out = Path(cfg.out)
        self._backend = backend
        self._guard = guard
        self.writer: ShardWriter | None = None

    # -- setup ---------------------------------------------------------------------------------------
    def _load(self) -> None:
        """The target queries and the source pool through the evaluation guard, the strategy, the backend."""
        cfg = self.cfg
        if self._guard is None:
            self._guard = leakage.evaluation_guard()
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
        """What a resumed session must match (:data:`IDENTITY_KEYS`)."""
        cfg = self.cfg
        return {"queries": self.queries_desc, "strategy": cfg.strategy, "levels": sorted(cfg.levels, reverse=True),
                "seed": cfg.seed, "prompt_version": self.strategy.describe()["prompt_version"],
                "backend": self.backend_info["backend"], "model": self.backend_info.get("model"),
                "model_sha256": self.backend_info.get("model_sha256"), "sampling": cfg.sampling.to_dict(),
                "validation": cfg.validation.to_dict(), "max_attempts": cfg.max_attempts,
                "strategy_config": self.strategy.describe()}

    def _check_identity(self) -> None:
        """Refuse a folder made with other settings; record this session's in ``generation.json``."""
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
        """What earlier sessions left: torn tails cut, finished queries counted and their passages fed to the
        dedup, closed (failed or ineligible) queries noted, the next free shard number."""
        self.done: set[str] = set()
        self.dedup = Deduplicator()
        repair_torn_tails(self.out)
        self.n_written = 0
        for rec in iter_records(self.out):
            if rec["query_id"] not in self.done:
                self.n_written += 1
            self.done.add(rec["query_id"])
            for p in rec["passages"]:
                self.dedup.add(p["text"])
        self.closed: set[str] = {r["query_id"] for r in iter_rejects(self.out) if r.get("final")}
        self.shard_index = next_shard_index(self.out)

    # -- bookkeeping ---------------------------------------------------------------------------------
    def _write_group(self, st: _QueryState) -> None:
        texts = [st.query] + [p["source_query"] for p in st.passages.values() if p.get("source_query")]
        self._guard.assert_clean(texts, f"{self.out} (query {st.qid})")
        passages = [st.passages[g] for g in sorted(st.passages, reverse=True)]
        rec = {"schema": GROUPS_SCHEMA, "query_id": st.qid, "query": st.query, "passages": passages,
               "strategy": self.cfg.strategy,
               "provenance": {**self.backend_info, "prompt_version": self.identity_cache["prompt_version"],
                              "sampling": self.cfg.sampling.to_dict(), "seed": self.cfg.seed,
                              "selection": self.selection, "generated_at": _now(), "session": self.session}}
        self.writer.append_group(rec)
        self.n_written += 1
        self.done.add(st.qid)
        for p in passages:
            self.dedup.add(p["text"])

    def _reject(self, **rec: Any) -> None:
        self.writer.append_reject({"time": _now(), "session": self.session, **rec})

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
                if self.writer is not None:
                    self.writer.close()
                if self._backend is not None:
                    self._backend.close()

    def _loop(self) -> dict[str, Any]:
        """One session, batch by batch, until the limit is written or the target queries run out."""
        work = self._start_session()
        t0 = time.perf_counter()
        bar = self._progress_bar(work.limit)
        try:
            while self._fill_queue(work):
                reqs, comps = self._generate([work.queue.popleft()
                                              for _ in range(min(self.batch_size, len(work.queue)))])
                outcome = self._check_completions(reqs, comps, work.active)
                self._stop_if_backend_failed(comps)
                self._complete_groups(outcome, work.active, bar)
                self._requeue(outcome, work)
                self._end_batch(t0, bar)
        finally:
            if bar is not None:
                bar.close()
        return self._end_session(t0)

    def _start_session(self) -> _Work:
        """A new session id, its shard writer (from the next free shard on), zeroed counters, and the
        target queries in their seeded order, minus those already written or closed."""
        cfg = self.cfg
        self.session = uuid.uuid4().hex[:12]
        self.selection = {"evaluation_guard": "targets and pool sources filtered by synrank.data.leakage",
                          "max_attempts": cfg.max_attempts, "validation": cfg.validation.to_dict(),
                          "dedup": "exact normalized-text duplicates across the dataset rejected"}
        self.writer = ShardWriter(self.out, self.shard_index, cfg.shard_size, self.session)
        self.stats = {"groups": 0, "prompts": 0, "gen_tokens": 0, "gen_seconds": 0.0, "wall_seconds": 0.0,
                      "rejected_passages": 0, "failed_queries": 0, "ineligible_queries": 0,
                      "accepted_passages": 0}
        order = sorted(self.targets)
        random.Random(cfg.seed).shuffle(order)
        todo = iter(q for q in order if q not in self.done and q not in self.closed)
        return _Work(todo=todo, limit=cfg.limit if cfg.limit is not None else len(order))

    def _progress_bar(self, limit: int) -> Any:
        """A tqdm bar over queries written (None without ``progress``)."""
        if not self.cfg.progress:
            return None
        return tqdm(total=limit, initial=min(self.n_written, limit), unit="query", desc="generate", smoothing=0.05)

    def _fill_queue(self, work: _Work) -> bool:
        """Plan target queries until a batch of jobs is queued, ``limit`` queries are written or in flight,
        or the queries run out; False when no job is left."""
        while (not work.exhausted and len(work.queue) < self.batch_size
               and self.n_written + len(work.active) < work.limit):
            qid = next(work.todo, None)
            if qid is None:
                work.exhausted = True
                break
            self._plan(qid, work)
        return bool(work.queue)

    def _plan(self, qid: str, work: _Work) -> None:
        """Queue the strategy's jobs for one query; a query the strategy cannot serve is closed as ineligible."""
        query = self.targets[qid]
        try:
            jobs = self.strategy.plan(qid, query)
        except Ineligible as exc:
            self.stats["ineligible_queries"] += 1
            self._reject(kind="ineligible", final=True, query_id=qid, query=query, reason=str(exc))
            self.closed.add(qid)
            return
        st = _QueryState(qid, query, {(j.grade if j.grade is not None else "all"): j for j in jobs})
        work.active[qid] = st
        for key in st.jobs:
            st.attempts[key] = 0
            work.queue.append((st, key))

    def _generate(self, batch: list[_JobRef]) -> tuple[list[GenerationRequest], list[Completion]]:
        """One backend call for the batch's jobs, each seeded by (seed, query, job, attempt)."""
        cfg = self.cfg
        reqs = [GenerationRequest(st.jobs[k].messages, _seed(cfg.seed, st.qid, k, st.attempts[k]), (st, k))
                for st, k in batch]
        tb = time.perf_counter()
        comps = self._backend.generate(reqs, cfg.sampling)
        self.stats["gen_seconds"] += time.perf_counter() - tb
        self.stats["prompts"] += len(reqs)
        if len(comps) != len(reqs):
            raise GenerationError(f"backend {cfg.backend} returned {len(comps)} completions for "
                                  f"{len(reqs)} requests")
        return reqs, comps

    def _check_completions(self, reqs: list[GenerationRequest], comps: list[Completion],
                           active: dict[str, _QueryState]) -> _BatchOutcome:
        """Parse and validate every completion: accepted passages join their query's state; a failed
        completion is logged as a reject and its job marked for a retry."""
        outcome = _BatchOutcome()
        for req, comp in zip(reqs, comps, strict=True):
            st, key = req.key
            if st.qid not in active:
                continue  # the query already failed on another grade
            self.stats["gen_tokens"] += comp.n_tokens
            job = st.jobs[key]
            reason, parsed = self._parse(job, comp)
            if reason is None:
                reason = self._accept_passages(st, key, job, req, comp, parsed)
            if reason is not None:
                self._reject_completion(st, key, job, req, comp, parsed, reason)
                outcome.retry.append((st, key))
                if comp.error is not None:
                    outcome.transport.add((st.qid, key))
            outcome.touched[st.qid] = st
        return outcome

    def _parse(self, job: Job, comp: Completion) -> tuple[str | None, dict[int, str]]:
        """``(reason, passages by grade)``: the backend's error or the strategy's parse error, else None."""
        reason, parsed = comp.error, {}
        if reason is None:
            try:
                parsed = self.strategy.parse(job, comp.text)
            except ValueError as exc:
                reason = str(exc)
        return reason, parsed

    def _accept_passages(self, st: _QueryState, key: Any, job: Job, req: GenerationRequest, comp: Completion,
                         parsed: dict[int, str]) -> str | None:
        """Clean and check each parsed passage and keep it in ``st``; the reason of the first that fails."""
        for g, raw in parsed.items():
            text = clean_passage(raw, comp.finish_reason == "length")
            why = check_passage(text, st.query, self.cfg.validation)
            if why is None and self.dedup.seen(text):
                why = "exact duplicate of a passage already in the dataset"
            if why is not None:
                return f"grade {g}: {why}"
            st.passages[g] = {"text": text, "grade": g, "source_query_id": job.source_query_id,
                              "source_query": job.source_query, "source_rule": job.source_rule,
                              "seed": req.seed, "attempt": st.attempts[key],
                              "n_tokens": comp.n_tokens, "finish_reason": comp.finish_reason,
                              **({"batch_seed": comp.extra["batch_seed"]}
                                 if "batch_seed" in comp.extra else {})}
        return None

    def _reject_completion(self, st: _QueryState, key: Any, job: Job, req: GenerationRequest, comp: Completion,
                           parsed: dict[int, str], reason: str) -> None:
        """Drop what the completion contributed to ``st`` and log it as a rejected passage."""
        for g in parsed:
            st.passages.pop(g, None)
        self.stats["rejected_passages"] += 1
        self._reject(kind="passage", final=False, query_id=st.qid, query=st.query,
                     grade=job.grade, source_query=job.source_query, attempt=st.attempts[key],
                     seed=req.seed, reason=reason, text=comp.text[:2000])

    def _stop_if_backend_failed(self, comps: list[Completion]) -> None:
        """Stop the run when every request of a batch failed at the transport level."""
        # A backend that fails at the transport level (HTTP errors, timeouts) says nothing about
        # the query: such failures never use up a query's attempts, so a resume retries them, and a
        # batch in which every request failed stops the run instead of silently closing queries.
        if comps and all(c.error is not None for c in comps):
            raise GenerationError(
                f"backend {self.cfg.backend}: all {len(comps)} requests of a batch failed ({comps[0].error})",
                hint="no query was marked done; fix the backend and re-run the same command to resume")

    def _complete_groups(self, outcome: _BatchOutcome, active: dict[str, _QueryState], bar: Any) -> None:
        """Group-level checks once every grade of a query is in: write the group, or reject the grades
        that near-duplicate a higher one and mark their jobs for a retry."""
        for st in outcome.touched.values():
            if st.qid not in active or len(st.passages) < len(self.strategy.grades):
                continue
            bad = check_group({g: p["text"] for g, p in st.passages.items()}, self.cfg.validation)
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
                if (st, key) not in outcome.retry:
                    outcome.retry.append((st, key))

    def _requeue(self, outcome: _BatchOutcome, work: _Work) -> None:
        """Put the jobs to retry at the front of the queue: a transport failure as it was, any other after
        counting an attempt; a job out of attempts closes its query. Jobs of closed queries leave the queue."""
        cfg = self.cfg
        for st, key in reversed(outcome.retry):
            if st.qid not in work.active:
                continue
            if (st.qid, key) in outcome.transport:
                st.transport_failures[key] = st.transport_failures.get(key, 0) + 1
                if st.transport_failures[key] > 3 * cfg.max_attempts:
                    raise GenerationError(
                        f"backend {cfg.backend}: query {st.qid} failed {st.transport_failures[key]} "
                        "times at the transport level", hint="fix the backend and re-run to resume")
                work.queue.appendleft((st, key))
                continue
            st.attempts[key] += 1
            if st.attempts[key] >= cfg.max_attempts:
                self.stats["failed_queries"] += 1
                self._reject(kind="query", final=True, query_id=st.qid, query=st.query,
                             reason=f"grade {key}: still rejected after {cfg.max_attempts} attempts")
                self.closed.add(st.qid)
                del work.active[st.qid]
                continue
            work.queue.appendleft((st, key))
        work.queue = deque(item for item in work.queue if item[0].qid in work.active)

    def _end_batch(self, t0: float, bar: Any) -> None:
        """Append the session's cumulative counters to ``log/runs.jsonl``; show throughput on the bar."""
        self.stats["wall_seconds"] = time.perf_counter() - t0
        self._log_stats()
        if bar is not None:
            tps = self.stats["gen_tokens"] / max(self.stats["gen_seconds"], 1e-9)
            bar.set_postfix(tok_s=f"{tps:.0f}", rejects=self.stats["rejected_passages"], refresh=False)

    def _end_session(self, t0: float) -> dict[str, Any]:
        """Final counters, the live-shard marker removed, the data card refreshed; this session's counters."""
        self.stats["wall_seconds"] = time.perf_counter() - t0
        self._log_stats()
        self.writer.close()
        write_datacard(self.out)
        log.info("generated %d groups this session (%d in total) into %s", self.stats["groups"], self.n_written,
                 self.out)
        return {**self.stats, "total_groups": self.n_written}


def generate(cfg: GenerationConfig, backend: Backend | None = None, guard: Any = None) -> dict[str, Any]:
    """Run (or resume) generation into ``cfg.out``; returns this session's counters."""
    check_ranges(cfg)  # every numeric setting, sampling included, within its documented range
    return Generator(cfg, backend, guard).run()
