"""A tiny deterministic encoder for search/cache tests (no model download, microseconds per text)."""

from __future__ import annotations

import hashlib

import numpy as np


def text_vector(text: str, dim: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(dim).astype(np.float32)


class ToyEncoder:
    """Embeds a text as a seeded Gaussian vector (equal texts -> equal vectors, so ties are easy to make).

    Counts how many texts it encoded, so tests can see cache hits.
    """

    def __init__(self, dim: int = 8, similarity: str = "dot", fingerprint: str | None = "toy-v1",
                 scale_by_length: bool = False, integer: bool = False):
        self.dim = dim
        self.similarity = similarity
        if fingerprint is not None:
            self.fingerprint = f"{fingerprint}-{dim}-{similarity}-{scale_by_length}-{integer}"
        self.scale_by_length = scale_by_length
        # Small-integer vectors make every inner product exact in float32 and create many exact ties.
        self.integer = integer
        self.encoded = 0
        self.calls: list[tuple[str, int]] = []

    def _vec(self, text: str) -> np.ndarray:
        v = text_vector(text, self.dim)
        if self.integer:
            v = np.clip(np.round(v), -2, 2).astype(np.float32)
        return v * (1 + len(text)) if self.scale_by_length else v

    def encode_queries(self, queries: list[str], batch_size: int = 16, **kwargs) -> np.ndarray:
        self.encoded += len(queries)
        self.calls.append(("query", len(queries)))
        return np.stack([self._vec(q) for q in queries]) if queries else np.zeros((0, self.dim), np.float32)

    def encode_corpus(self, corpus: list[dict], batch_size: int = 16, **kwargs) -> np.ndarray:
        self.encoded += len(corpus)
        self.calls.append(("doc", len(corpus)))
        return np.stack([self._vec((d["title"] + " " + d["text"]).strip()) for d in corpus])
