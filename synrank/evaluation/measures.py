"""Measure names and their translation to trec_eval / pytrec_eval measures.

Canonical names are ir_measures-like: ``nDCG@10``, ``MAP``, ``Recall@100``, ``MRR@10``, ``P@10``,
``RPrec``, with an optional per-measure relevance level: ``MAP(rel=2)``, ``Recall(rel=2)@100``.
Accepted as input besides them:

- ir_measures' own spellings: ``AP``, ``AP(rel=2)``, ``AP@100``, ``R@100``, ``RR@10``, ``RR(rel=2)``,
  ``Rprec``;
- trec_eval's measure names: ``ndcg_cut_10`` (or ``ndcg_cut.10``), ``ndcg``, ``map``, ``map_cut_100``,
  ``recall_100``, ``P_10``, ``recip_rank``, ``Rprec``.

Definitions (all computed by pytrec_eval, i.e. trec_eval's C code, on the run's own scores):

- ``nDCG@k`` / ``nDCG``: trec_eval ``ndcg_cut.k`` / ``ndcg`` with **linear** gains (gain = the raw
  qrels grade, discount log2(rank + 1)), ideal ranking from *all* judged documents, including ones
  the run never retrieved. The relevance level does not apply: every grade counts at face value.
- ``MAP`` / ``MAP@k``: ``map`` / ``map_cut.k`` (binary).
- ``Recall@k``: ``recall.k`` (binary; denominator = all relevant judged documents).
- ``P@k``: ``P.k`` (binary; denominator k even when fewer documents were retrieved).
- ``MRR@k`` / ``MRR``: ``recip_rank`` on the run cut at depth k in trec_eval's order (score
  descending, ties by doc id descending), i.e. ``trec_eval -M k -m recip_rank``; on the whole run.
- ``RPrec``: ``Rprec`` (binary).

"Binary" measures count a document as relevant when its grade is >= the relevance level: the
measure's own ``(rel=N)`` when given, else the dataset's threshold (trec_eval's ``-l``; TREC DL uses 2,
most BEIR sets 1).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from synrank.data.values import GRADE_MAX

DEFAULT_MEASURES: tuple[str, ...] = (
    "nDCG@1", "nDCG@3", "nDCG@5", "nDCG@10", "nDCG@100",
    "MAP", "Recall@10", "Recall@100", "Recall@1000", "MRR@10", "P@10",
)

# canonical family -> (pytrec_eval name without cutoff, pytrec_eval name with cutoff)
_FAMILIES: dict[str, tuple[str | None, str | None]] = {
    "nDCG": ("ndcg", "ndcg_cut"),
    "MAP": ("map", "map_cut"),
    "Recall": (None, "recall"),
    "P": (None, "P"),
    "MRR": ("recip_rank", "recip_rank"),
    "RPrec": ("Rprec", None),
}

# lower-cased spellings (ours, ir_measures', trec_eval's) -> canonical family
_ALIASES = {
    "ndcg": "nDCG", "ndcg_cut": "nDCG", "map": "MAP", "ap": "MAP", "map_cut": "MAP",
    "recall": "Recall", "r": "Recall", "p": "P", "precision": "P", "mrr": "MRR", "rr": "MRR",
    "recip_rank": "MRR", "rprec": "RPrec", "r-prec": "RPrec",
}

# name, optional (rel=N), optional @k -- e.g. "AP(rel=2)@100", "nDCG@10", "MRR"
_PATTERN = re.compile(r"^\s*([A-Za-z][A-Za-z_\-]*?)\s*(?:\(\s*rel\s*=\s*(-?\d+)\s*\))?\s*(?:@\s*(\d+))?\s*$")
# trec_eval's names with a cutoff: "ndcg_cut_10", "ndcg_cut.10", "P_10", "recall.100"
_TREC_PATTERN = re.compile(r"^\s*(ndcg_cut|map_cut|recall|P)[_.](\d+)\s*$", re.IGNORECASE)


@dataclass(frozen=True, order=True)
class Measure:
    """One evaluation measure: a family (``nDCG``, ``MAP``, ...), an optional rank cutoff and an
    optional relevance level of its own (binary measures only)."""

    family: str
    cutoff: int | None = None
    rel: int | None = None

    @property
    def name(self) -> str:
        """Canonical name, e.g. ``nDCG@10``, ``MAP(rel=2)``, ``Recall(rel=2)@100``."""
        rel = "" if self.rel is None else f"(rel={self.rel})"
        return f"{self.family}{rel}" + ("" if self.cutoff is None else f"@{self.cutoff}")

    @property
    def binary(self) -> bool:
        """Whether the measure uses a relevance level (everything except nDCG)."""
        return self.family != "nDCG"

    @property
    def run_cutoff(self) -> int | None:
        """Depth to which the run is cut before pytrec_eval sees it (MRR@k: recip_rank has no cutoff)."""
        return self.cutoff if self.family == "MRR" else None

    @property
    def trec_measure(self) -> str:
        """pytrec_eval measure family this maps to (``ndcg_cut``, ``recip_rank``, ...)."""
        plain, cut = _FAMILIES[self.family]
        if self.cutoff is None or self.family == "MRR":
            assert plain is not None
            return plain
        assert cut is not None
        return cut

    @property
    def trec_key(self) -> str:
        """Key of this measure in pytrec_eval's per-query output (``ndcg_cut_10``, ``recip_rank``)."""
        measure = self.trec_measure
        if self.cutoff is None or self.family == "MRR":
            return measure
        return f"{measure}_{self.cutoff}"

    def relevance_level(self, default: int) -> int:
        """The relevance level this measure is computed at, given the dataset's ``default``."""
        return default if self.rel is None else self.rel

    def __str__(self) -> str:
        return self.name


def _unknown(text: object) -> ValueError:
    known = ", ".join(sorted(_FAMILIES))
    return ValueError(f"unknown measure {text!r}: use one of {known} (or ir_measures / trec_eval names), "
                      "optionally with (rel=N) and @k, e.g. nDCG@10, AP(rel=2), R@100, RR@10, ndcg_cut_10")


def parse_measure(text: str | Measure) -> Measure:
    """Parse ``nDCG@10``, ``AP(rel=2)``, ``R@100``, ``RR@10``, ``ndcg_cut_10``... into a :class:`Measure`."""
    if isinstance(text, Measure):
        return text
    raw = str(text)
    trec = _TREC_PATTERN.match(raw)
    if trec is not None:
        family, cutoff_text, rel_text = _ALIASES[trec.group(1).lower()], trec.group(2), None
    else:
        match = _PATTERN.match(raw)
        family = _ALIASES.get(match.group(1).lower()) if match else None
        if match is None or family is None:
            raise _unknown(text)
        rel_text, cutoff_text = match.group(2), match.group(3)
        if match.group(1).lower() in ("ndcg_cut", "map_cut") and cutoff_text is None:
            raise ValueError(f"measure {text!r} needs a cutoff, e.g. {match.group(1)}_10")
    cutoff = None if cutoff_text is None else int(cutoff_text)
    rel = None if rel_text is None else int(rel_text)
    plain, cut = _FAMILIES[family]
    if cutoff is not None and cutoff < 1:
        raise ValueError(f"measure {text!r}: the cutoff must be a positive integer")
    if cutoff is None and plain is None:
        raise ValueError(f"measure {text!r} needs a cutoff, e.g. {family}@10")
    if cutoff is not None and cut is None:
        raise ValueError(f"measure {text!r} takes no cutoff; use {family}")
    if rel is not None and family == "nDCG":
        raise ValueError(f"measure {text!r}: nDCG uses the graded gains and takes no relevance level")
    if rel is not None and not 1 <= rel <= GRADE_MAX:
        # grades are read within GRADE_MIN..GRADE_MAX; a larger level would only ever count nothing
        # (and pytrec_eval's C int cannot hold a level from 2^31 on)
        raise ValueError(f"measure {text!r}: the relevance level must be an integer in 1..{GRADE_MAX}")
    return Measure(family, cutoff, rel)


def parse_measures(measures: str | Iterable[str | Measure]) -> tuple[Measure, ...]:
    """Parse a comma-separated string or a sequence of names; order kept, duplicates rejected.

    A comma inside ``(...)`` does not split (no current parameter needs one, but a name is never cut).
    """
    if isinstance(measures, str):
        items = [m for m in re.split(r",(?![^()]*\))", measures) if m.strip()]
    else:
        items = list(measures)
    parsed = tuple(parse_measure(m) for m in items)
    if not parsed:
        raise ValueError("no measures given")
    names = [m.name for m in parsed]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"measure(s) listed twice: {', '.join(duplicates)}")
    return parsed


def pytrec_eval_measures(measures: Iterable[Measure]) -> set[str]:
    """The measure strings for ``pytrec_eval.RelevanceEvaluator``; cutoffs of one family are joined
    (``ndcg_cut.1,3,10``) because pytrec_eval keeps one parameter list per family."""
    cutoffs: dict[str, set[int]] = {}
    plain: set[str] = set()
    for m in measures:
        if m.cutoff is None or m.family == "MRR":
            plain.add(m.trec_measure)
        else:
            cutoffs.setdefault(m.trec_measure, set()).add(m.cutoff)
    out = set(plain)
    for family, values in cutoffs.items():
        out.add(f"{family}." + ",".join(str(v) for v in sorted(values)))
    return out
