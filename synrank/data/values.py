"""The one place that decides which ids, grades, scores and texts synrank accepts.

Every reader (:mod:`synrank.data.beir` for corpus, queries and qrels, :mod:`synrank.data.trec` for runs,
:mod:`synrank.data.groups` for training groups) and ``synrank validate`` (which runs those readers) use
these checks, so whatever ``validate`` accepts every later command can handle:

* **Ids** (document, query): non-empty, no whitespace of any kind and no control character. A TREC run
  line is split on whitespace, so an id holding a space cannot be written to ``run.trec.gz`` (``evaluate
  --model`` would fail after the whole retrieval) and trec_eval's C strings end at a NUL.
* **Grades**: ASCII integers (``+``/``-`` sign allowed) in ``[GRADE_MIN, GRADE_MAX]``, negative only
  where a dataset keeps raw codes. pytrec_eval (trec_eval's C code) keeps arrays indexed by grade: its
  memory and time grow with the largest grade (measured: 10^8 takes 0.8 GB and 1 s per evaluation;
  ``nDCG`` without a cutoff is quadratic, 10^5 takes 5 s per query), from 2^31 - 1 on it scores every
  query 0.0 without an error, and above 2^63 - 1 it fails. Grades are relevance levels, so a range of
  +-1000 loses nothing and keeps evaluation cheap.
* **Scores** (TREC runs): ASCII decimal numbers (``12``, ``-0.5``, ``1.5e-3``), finite. Python's
  ``float()`` also reads ``1_000``, ``١٢`` (Arabic-Indic digits) and surrounding Unicode spaces, which
  trec_eval (C ``atof``) reads differently or not at all (``1_000`` is 1 to it).
* **Texts** (documents, queries, passages): *blank* when every character is whitespace or invisible
  (control, format such as U+200B ZERO WIDTH SPACE, or separator characters): treated exactly as
  empty everywhere.
"""

from __future__ import annotations

import math
import re
import unicodedata

from synrank.errors import show

#: Relevance grades synrank accepts (negative ones only in splits of raw codes). See the module docstring.
GRADE_MIN, GRADE_MAX = -1000, 1000

_INT_RE = re.compile(r"[+-]?[0-9]+")
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NON_FINITE = frozenset({"nan", "inf", "infinity"})
# \s in a str pattern is exactly str.isspace(); \x00-\x1f and \x7f-\x9f are the control characters (Cc)
_BAD_ID_CHAR = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")
_INVISIBLE = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})


def id_problem(value: str) -> str | None:
    """Why ``value`` cannot be a document or query id, or None when it can."""
    if is_blank(value):
        return "is empty"
    bad = _BAD_ID_CHAR.search(value)
    if bad is not None:
        ch = bad.group()
        kind = "whitespace" if ch.isspace() else "a control character"
        return f"contains {kind} (U+{ord(ch):04X}), which a TREC run line cannot hold"
    return None


def is_int_text(text: str) -> bool:
    """An ASCII integer as trec_eval reads one (optional sign, digits 0-9 only)."""
    return _INT_RE.fullmatch(text) is not None


def grade_problem(grade: int, allow_negative: bool = False) -> str | None:
    """Why ``grade`` is not an acceptable relevance grade, or None."""
    if grade < 0 and not allow_negative:
        return f"negative grade {grade}"
    if not GRADE_MIN <= grade <= GRADE_MAX:
        return f"grade {grade} is out of range ({GRADE_MIN} to {GRADE_MAX})"
    return None


def parse_score(text: str) -> tuple[float | None, str | None]:
    """``(score, None)`` for an ASCII decimal number, else ``(None, why)``."""
    if text.lstrip("+-").lower() in _NON_FINITE:
        return None, f"score {show(text)} is not finite"
    if _FLOAT_RE.fullmatch(text) is None:
        return None, f"score {show(text)} is not a number"
    score = float(text)
    if not math.isfinite(score):  # 1e999
        return None, f"score {show(text)} is not finite"
    return score, None


def is_blank(text: str) -> bool:
    """True when ``text`` has no visible character (empty, whitespace, zero-width or control only)."""
    return all(ch.isspace() or unicodedata.category(ch) in _INVISIBLE for ch in text)
