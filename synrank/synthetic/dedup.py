"""Exact-duplicate detection across a whole dataset (normalized text hash)."""

from __future__ import annotations

import hashlib

from synrank.synthetic.query_sources import words


def text_key(text: str) -> str:
    """Hash of the lower-cased word sequence: punctuation/case/spacing variants collide."""
    return hashlib.sha1(" ".join(words(text)).encode()).hexdigest()[:16]


class Deduplicator:
    """Remembers every accepted passage; ``seen(text)`` is True for a repeat."""

    def __init__(self) -> None:
        self._keys: set[str] = set()

    def __len__(self) -> int:
        return len(self._keys)

    def seen(self, text: str) -> bool:
        return text_key(text) in self._keys

    def add(self, text: str) -> None:
        self._keys.add(text_key(text))
