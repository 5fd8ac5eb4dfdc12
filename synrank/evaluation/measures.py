"""Measure names (as ir_measures writes them: ``nDCG@10``, ``MAP``, ``Recall@100``, ``MRR@10``,
``P@10``) and their translation to trec_eval / pytrec_eval measures.

Definitions (all computed by pytrec_eval, i.e. trec_eval's C code):

- ``nDCG@k`` / ``nDCG``: trec_eval ``ndcg_cut.k`` / ``ndcg`` with **linear** gains (gain = the raw
  qrels grade, discount log2(rank + 1)), ideal ranking from *all* judged documents, including ones
  the run never retrieved. The relevance threshold does not apply: every grade counts at face value.
- ``MAP`` / ``MAP@k``: ``map`` / ``map_cut.k`` (binary).
- ``Recall@k``: ``recall.k`` (binary; denominator = all relevant judged documents).
- ``P@k``: ``P.k`` (binary; denominator k even when fewer documents were retrieved).
- ``MRR@k`` / ``MRR``: ``recip_rank`` on the run cut at k / on the whole run (binary).
- ``RPrec``: ``Rprec`` (binary).

"Binary" measures count a document as relevant when its grade is >= the dataset's relevance
threshold (trec_eval's ``-l``; TREC DL uses 2, most BEIR sets 1).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_MEASURES: tuple[str, ...] = (
    "nDCG@1", "nDCG@3", "nDCG@5", "nDCG@10", "nDCG@100",
    "MAP", "Recall@10", "Recall@100", "Recall@1000", "MRR@10", "P@10",
)

# canonical family -> (pytrec_eval name without cutoff, pytrec_eval name with cutoff, cutoff allowed?)
_FAMILIES: dict[str, tuple[str | None, str | None]] = {
    "nDCG": ("ndcg", "ndcg_cut"),
    "MAP": ("map", "map_cut"),
    "Recall": (None, "recall"),
    "P": (None, "P"),
    "MRR": ("recip_rank", "recip_rank"),
    "RPrec": ("Rprec", None),
}

_ALIASES = {
    "ndcg": "nDCG", "map": "MAP", "ap": "MAP", "recall": "Recall", "r": "Recall", "p": "P",
    "precision": "P", "mrr": "MRR", "rr": "MRR", "recip_rank": "MRR", "rprec": "RPrec", "r-prec": "RPrec",
}

_PATTERN = re.compile(r"^\s*([A-Za-z_\-]+)\s*(?:@\s*(\d+))?\s*$")


@dataclass(frozen=True, order=True)
class Measure:
    """One evaluation measure: a family (``nDCG``, ``MAP``, ...) and an optional rank cutoff."""

    family: str
    cutoff: int | None = None

    @property
    def name(self) -> str:
        """Canonical name, e.g. ``nDCG@10``."""
        return self.family if self.cutoff is None else f"{self.family}@{self.cutoff}"

    @property
    def binary(self) -> bool:
        """Whether the measure uses the relevance threshold (everything except nDCG)."""
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

    def __str__(self) -> str:
        return self.name


def parse_measure(text: str | Measure) -> Measure:
    """Parse ``nDCG@10``, ``ndcg@10``, ``AP``, ``R@100``, ``RR@10``... into a :class:`Measure`."""
    if isinstance(text, Measure):
        return text
    match = _PATTERN.match(str(text))
    family = _ALIASES.get(match.group(1).lower()) if match else None
    if match is None or family is None:
        known = ", ".join(sorted(_FAMILIES))
        raise ValueError(f"unknown measure {text!r}: use one of {known}, optionally with @k (e.g. nDCG@10)")
    cutoff = None if match.group(2) is None else int(match.group(2))
    plain, cut = _FAMILIES[family]
    if cutoff is not None and cutoff < 1:
        raise ValueError(f"measure {text!r}: the cutoff must be a positive integer")
    if cutoff is None and plain is None:
        raise ValueError(f"measure {text!r} needs a cutoff, e.g. {family}@10")
    if cutoff is not None and cut is None:
        raise ValueError(f"measure {text!r} takes no cutoff; use {family}")
    return Measure(family, cutoff)


def parse_measures(measures: str | Iterable[str | Measure]) -> tuple[Measure, ...]:
    """Parse a comma-separated string or a sequence of names; order kept, duplicates rejected."""
    items = [m for m in measures.split(",") if m.strip()] if isinstance(measures, str) else list(measures)
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
