"""Generation strategies: how a target query becomes prompts, and how replies become graded passages.

* ``direct`` — paper-faithful: one prompt per grade with the grade's definition
  (:func:`~synrank.synthetic.prompts.per_level_messages`). The default for strong models.
* ``direct-json`` — one prompt returning all grades as a JSON object.
* ``anchored`` — query-anchored: every passage is an *answer* to a source query, and the grade comes
  from how that source relates to the target query (a small model can answer a question but cannot
  follow grade definitions; see docs/synthetic.md):

  ====== =====================================================================================
  grade  source query
  ====== =====================================================================================
  3      the target query itself
  2      a broader/partial version of it: a trailing qualifier phrase cut ("... in texas"), else its
         most common content word dropped; at least 2 content words must remain. For shorter queries:
         a narrower real pool query (all target content words plus 1-3 more, best BM25), whose answer
         covers the target partially and with extra material
  1      a sibling: the best BM25 match among the other pool queries whose score relative to the
         target's self-score lies in a band (not a paraphrase, not unrelated), that shares a content
         word but does not contain all of the target's content words
  0      an unrelated pool query sharing exactly one surface content word (outside the target's BM25
         top 100); a random pool query when no such query exists
  ====== =====================================================================================

  Queries for which no grade-2 or grade-1 source exists are not eligible; the pipeline counts them.
  Siblings are found with BM25 (:class:`synrank.retrieval.bm25.BM25Index`, no stemming), never with the
  evaluation encoder, so the data is not selected by the model it is later judged with.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from synrank.synthetic import prompts
from synrank.synthetic.query_sources import content_words, words

log = logging.getLogger(__name__)

GRADES = (3, 2, 1, 0)


@dataclass
class Job:
    """One prompt to send. ``grade`` is None for the all-in-one prompt (it yields every grade)."""

    query_id: str
    grade: int | None
    messages: list[dict[str, str]]
    source_query_id: str | None = None
    source_query: str | None = None
    source_rule: str | None = None


class Ineligible(Exception):
    """The strategy cannot build a group for this query (e.g. no sibling exists)."""


class Strategy:
    name = "base"

    def __init__(self, grades: tuple[int, ...] = GRADES):
        bad = [g for g in grades if g not in GRADES]
        if bad or not grades or len(set(grades)) != len(grades):
            raise ValueError(f"levels must be distinct values among {GRADES}, got {grades}")
        self.grades = tuple(sorted(grades, reverse=True))

    def plan(self, qid: str, query: str) -> list[Job]:
        raise NotImplementedError

    def parse(self, job: Job, text: str) -> dict[int, str]:
        """Grade → raw passage text; raises ValueError with a reason when the reply is unusable."""
        assert job.grade is not None
        return {job.grade: text}

    def describe(self) -> dict[str, Any]:
        return {"strategy": self.name, "levels": list(self.grades), "prompt_version": prompts.PROMPT_VERSION}


class DirectStrategy(Strategy):
    name = "direct"

    def plan(self, qid: str, query: str) -> list[Job]:
        return [Job(qid, g, prompts.per_level_messages(query, g), qid, query, "level-definition") for g in self.grades]


_JSON_OBJ = re.compile(r"\{.*\}", re.S)


class DirectJSONStrategy(Strategy):
    name = "direct-json"

    def plan(self, qid: str, query: str) -> list[Job]:
        return [Job(qid, None, prompts.all_in_one_messages(query, self.grades), qid, query, "level-definition")]

    def parse(self, job: Job, text: str) -> dict[int, str]:
        m = _JSON_OBJ.search(text)
        if not m:
            raise ValueError("no JSON object in the reply")
        try:
            obj = json.loads(m.group(0))
        except json.JSONDecodeError as exc:
            raise ValueError(f"unparseable JSON ({exc.msg})") from exc
        if not isinstance(obj, dict):
            raise ValueError("JSON reply is not an object")
        out = {}
        for g in self.grades:
            val = obj.get(str(g))
            if not isinstance(val, str):
                raise ValueError(f"JSON reply has no string for grade {g}")
            out[g] = val
        return out


#: prepositions/conjunctions that start a trailing qualifier ("... in texas", "... for dogs", "... while pregnant")
_QUALIFIER_WORDS = ("in for with on at during after before near without from by per under over between "
                    "while when if vs versus including within inside outside into across")
QUALIFIERS = frozenset(_QUALIFIER_WORDS.split())


class QueryPool:
    """The real queries that anchored sources are drawn from, with BM25 and a content-word index."""

    def __init__(self, queries: dict[str, str]):
        # bm25s takes ~1 s to import, and only the anchored strategy needs it
        from synrank.retrieval.bm25 import BM25Index

        self.queries = queries
        self.ids = list(queries)
        self.content = {qid: set(content_words(t)) for qid, t in queries.items()}
        df: Counter[str] = Counter()
        self.by_word: dict[str, list[str]] = defaultdict(list)
        for qid, cw in self.content.items():
            df.update(cw)
            for w in cw:
                self.by_word[w].append(qid)
        n = len(queries)
        self.idf = {w: math.log(1 + (n - c + 0.5) / (c + 0.5)) for w, c in df.items()}
        self.bm25 = BM25Index(queries, stemmer=None)
        self.normalized = {" ".join(words(t)) for t in queries.values()}

    def config(self) -> dict[str, Any]:
        return {"pool_size": len(self.queries), "bm25": self.bm25.config}


class AnchoredStrategy(Strategy):
    name = "anchored"

    def __init__(self, pool: QueryPool, grades: tuple[int, ...] = GRADES, sibling_band: tuple[float, float] = (0.25, 0.8),
                 seed: int = 0, top_k: int = 100, exclude: Any = None):
        super().__init__(grades)
        #: callable(text) -> bool: source texts that must not be used (evaluation queries)
        self.exclude = exclude or (lambda text: False)
        self.pool = pool
        self.sibling_band = sibling_band
        self.seed = seed
        self.top_k = top_k

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "sibling_band_bm25_relative": list(self.sibling_band),
                "negative_exclude_bm25_top_k": self.top_k, "min_content_words_grade2": 2,
                "qualifiers": sorted(QUALIFIERS), **self.pool.config()}

    # -- source selection --------------------------------------------------------------------------
    def narrowed(self, query: str) -> tuple[str, str] | None:
        """A broader/partial version of ``query`` (the grade-2 source) and the rule used."""
        toks = query.split()
        low = [" ".join(words(t)) for t in toks]
        for i in range(len(toks) - 1, 0, -1):
            if low[i] in QUALIFIERS:
                head, tail = " ".join(toks[:i]), " ".join(toks[i + 1:])
                if len(set(content_words(head))) >= 2 and content_words(tail):
                    return head.rstrip(" ,;:-"), "cut-qualifier"
        cw = list(dict.fromkeys(content_words(query)))
        if len(cw) >= 3:
            drop = min(cw, key=lambda w: (self.pool.idf.get(w, 99.0), w))
            kept = [t for t, lw in zip(toks, low, strict=True) if lw != drop]
            return " ".join(kept), f"drop-common-word:{drop}"
        return None

    def narrower_pool_query(self, qid: str, query: str, top: dict[str, float]) -> str | None:
        """For short queries: the best-BM25 pool query containing all of the target's content words plus
        1-3 more (its answer covers the target partially, with extra material: grade 2's definition)."""
        target_cw = set(content_words(query))
        norm = " ".join(words(query))
        for cid in top:
            cw = self.pool.content[cid]
            if cid != qid and target_cw < cw and len(cw - target_cw) <= 3 and \
                    " ".join(words(self.pool.queries[cid])) != norm:
                return cid
        return None

    def _top(self, qid: str, query: str) -> dict[str, float]:
        return self.pool.bm25.search({qid: query}, top_k=self.top_k)[qid]

    def sibling(self, qid: str, query: str, top: dict[str, float], avoid: set[str]) -> str | None:
        target_cw = set(content_words(query))
        self_score = float(self.pool.bm25.scores(query).max()) if qid not in self.pool.queries else \
            float(self.pool.bm25.scores(query)[self.pool.bm25._pos[qid]])
        if self_score <= 0:
            return None
        lo, hi = self.sibling_band
        for cid, score in top.items():
            if cid == qid:
                continue
            text = self.pool.queries[cid]
            norm = " ".join(words(text))
            if norm in avoid:
                continue
            cw = self.pool.content[cid]
            if not (cw & target_cw) or target_cw <= cw:
                continue
            if lo <= score / self_score <= hi:
                return cid
        return None

    def negative(self, qid: str, query: str, top: dict[str, float], rng: random.Random) -> tuple[str, str]:
        target_cw = sorted(set(content_words(query)))
        rng.shuffle(target_cw)
        for w in target_cw:
            cands = [c for c in self.pool.by_word.get(w, ()) if c != qid and c not in top
                     and len(self.pool.content[c] & set(target_cw)) == 1]
            if cands:
                return rng.choice(cands), f"shared-word:{w}"
        while True:
            c = rng.choice(self.pool.ids)
            if c != qid and c not in top:
                return c, "random"

    def plan(self, qid: str, query: str) -> list[Job]:
        rng = random.Random(f"{self.seed}:{qid}")
        top = self._top(qid, query)
        sources: dict[int, tuple[str | None, str, str]] = {3: (qid, query, "self")}
        avoid = {" ".join(words(query))}
        if 2 in self.grades:
            nar = self.narrowed(query)
            if nar is not None and self.exclude(nar[0]):
                nar = None
            if nar is not None:
                sources[2] = (None, nar[0], nar[1])
                avoid.add(" ".join(words(nar[0])))
            else:
                sup = self.narrower_pool_query(qid, query, top)
                if sup is None:
                    raise Ineligible("no grade-2 source (no trailing qualifier, < 3 content words, "
                                     "no narrower pool query)")
                sources[2] = (sup, self.pool.queries[sup], "narrower-pool-query")
                avoid.add(" ".join(words(self.pool.queries[sup])))
        if 1 in self.grades:
            sib = self.sibling(qid, query, top, avoid)
            if sib is None:
                raise Ineligible(f"no BM25 sibling in the band {self.sibling_band}")
            sources[1] = (sib, self.pool.queries[sib], "bm25-sibling")
        if 0 in self.grades:
            neg, rule = self.negative(qid, query, top, rng)
            sources[0] = (neg, self.pool.queries[neg], rule)
        return [Job(qid, g, prompts.anchored_messages(sources[g][1]), sources[g][0], sources[g][1], sources[g][2])
                for g in self.grades]


STRATEGIES = ("direct", "direct-json", "anchored")


def build_strategy(name: str, grades: tuple[int, ...], pool: dict[str, str] | None = None, seed: int = 0,
                   **options: Any) -> Strategy:
    if name == "direct":
        return DirectStrategy(grades)
    if name == "direct-json":
        return DirectJSONStrategy(grades)
    if name == "anchored":
        if not pool:
            raise ValueError("the anchored strategy needs a query pool")
        return AnchoredStrategy(QueryPool(pool), grades, seed=seed, **options)
    raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
