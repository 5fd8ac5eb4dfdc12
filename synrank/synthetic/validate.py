"""Clean and check generated passages; every rejection carries a human-readable reason."""

from __future__ import annotations

import re
from dataclasses import dataclass

from synrank.synthetic.query_sources import words

_LABEL = re.compile(r"^\s*(?:\*\*)?(?:passage|answer|paragraph|response|text)\s*(?:\d+)?\s*[:\-]\s*(?:\*\*)?\s*",
                    re.I)
_TASK_TALK = re.compile(
    r"\b(?:the query|this query|the question|this question|relevance level|relevant to the|grade [0-3]|"
    r"level [0-3]|perfectly relevant|highly relevant|60-word|word paragraph)\b", re.I)
_SENTENCE_END = re.compile(r"[.!?](?:[\"')\]]*)(?=\s|$)")


@dataclass(frozen=True)
class ValidationConfig:
    min_words: int = 25
    max_words: int = 250
    min_unique_ratio: float = 0.35   # distinct words / words: below this the text is looping
    max_query_overlap: float = 0.9    # share of passage words that are query words: above = a copy
    max_pair_jaccard: float = 0.8     # two passages of one group this similar count as identical

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def clean_passage(text: str, truncated: bool) -> str:
    """Strip labels/quotes/whitespace; if the model was cut off, keep whole sentences only."""
    t = " ".join(text.split())
    t = _LABEL.sub("", t)
    if len(t) > 1 and t[0] == t[-1] and t[0] in "\"'":
        t = t[1:-1].strip()
    if truncated:
        ends = [m.end() for m in _SENTENCE_END.finditer(t)]
        if ends and len(words(t[: ends[-1]])) >= 0.5 * len(words(t)):
            t = t[: ends[-1]]
    return t.strip()


def check_passage(text: str, query: str, cfg: ValidationConfig) -> str | None:
    """None if acceptable, else the reason it is rejected."""
    w = words(text)
    if not w:
        return "empty"
    if len(w) < cfg.min_words:
        return f"too short ({len(w)} words < {cfg.min_words})"
    if len(w) > cfg.max_words:
        return f"too long ({len(w)} words > {cfg.max_words})"
    if len(set(w)) / len(w) < cfg.min_unique_ratio:
        return f"repetitive ({len(set(w))} distinct of {len(w)} words)"
    qw = set(words(query))
    if qw and sum(x in qw for x in w) / len(w) > cfg.max_query_overlap:
        return "a copy of the query"
    m = _TASK_TALK.search(text)
    if m:
        return f"talks about the task ({m.group(0)!r})"
    return None


def jaccard(a: str, b: str) -> float:
    sa, sb = set(words(a)), set(words(b))
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def check_group(passages: dict[int, str], cfg: ValidationConfig) -> dict[int, str]:
    """Grades whose passage (near-)duplicates a higher grade's passage, with the reason."""
    bad: dict[int, str] = {}
    grades = sorted(passages, reverse=True)
    for i, g in enumerate(grades):
        for h in grades[:i]:
            if h in bad:
                continue
            j = jaccard(passages[g], passages[h])
            if j >= cfg.max_pair_jaccard:
                bad[g] = f"near-identical to the grade-{h} passage (word Jaccard {j:.2f})"
                break
    return bad
