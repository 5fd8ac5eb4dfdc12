"""A deterministic, dependency-free encoder for crash tests of the benchmark runner.

Hashed bag-of-words vectors (numpy only: no torch or sentence-transformers import, so a subprocess
starts in about a second). ``SYNRANK_TEST_ENCODER_DELAY`` seconds of sleep per encode call stretch a
run so a test can SIGKILL it in the middle. Used as ``model: tests.reliability.fake_encoder:Hash64``.
NOT a retrieval model.
"""

from __future__ import annotations

import hashlib
import os
import re
import time

import numpy as np

_WORD = re.compile(r"\w+")


class _HashEncoder:
    dim = 64
    similarity = "cosine"

    @property
    def fingerprint(self) -> str:
        return f"test-{type(self).__name__}-{self.dim}"

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for w in _WORD.findall(text.lower()):
            h = int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "little")
            v[h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    def _encode(self, texts: list[str]) -> np.ndarray:
        delay = float(os.environ.get("SYNRANK_TEST_ENCODER_DELAY", "0") or 0)
        if delay:
            time.sleep(delay)
        return np.stack([self._vec(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def encode_queries(self, queries: list[str], batch_size: int = 32, **_: object) -> np.ndarray:
        return self._encode(list(queries))

    def encode_corpus(self, corpus: list[dict], batch_size: int = 32, **_: object) -> np.ndarray:
        return self._encode([f"{d.get('title', '')} {d.get('text', '')}" for d in corpus])


class Hash64(_HashEncoder):
    dim = 64


class Hash32(_HashEncoder):
    dim = 32


class Hash16(_HashEncoder):
    dim = 16


class NaNDocs(Hash64):
    """Broken on purpose: every third document vector is NaN (an overflowed fp16 model does this)."""

    def encode_corpus(self, corpus: list[dict], batch_size: int = 32, **_: object) -> np.ndarray:
        out = super().encode_corpus(corpus, batch_size)
        out[::3] = np.nan
        return out


class ShortBatch(Hash64):
    """Broken on purpose: returns one row fewer than texts given."""

    def encode_corpus(self, corpus: list[dict], batch_size: int = 32, **_: object) -> np.ndarray:
        return super().encode_corpus(corpus, batch_size)[:-1]


class WrongDim(Hash64):
    """Broken on purpose: queries and documents live in spaces of different size."""

    def encode_queries(self, queries: list[str], batch_size: int = 32, **_: object) -> np.ndarray:
        return super().encode_queries(queries, batch_size)[:, :32]


class EncodeOnly64:
    """The same vectors as :class:`Hash64` behind the sentence-transformers / MTEB convention: only
    ``encode(texts, **kwargs)`` (synrank wraps it in ``synrank.retrieval.plugins.EncodeOnlyEncoder``).
    ``calls`` records the keyword arguments of every call."""

    similarity = "cosine"
    fingerprint = "test-EncodeOnly64"

    def __init__(self) -> None:
        self._hash = Hash64()
        self.calls: list[dict] = []

    def encode(self, texts: list[str], **kwargs: object) -> np.ndarray:
        self.calls.append(dict(kwargs))
        return self._hash._encode(list(texts))
