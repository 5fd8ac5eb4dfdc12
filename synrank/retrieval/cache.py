"""On-disk embedding cache: ``<cache>/embeddings/<model fingerprint>/<key>.npy``.

A block of embeddings (one corpus chunk, or one query set) is stored under a key derived from the model
fingerprint (weights + config + max length + title separator, see :mod:`synrank.retrieval.encoders`),
the role (``query``/``doc``) and a digest of the exact texts in order. Any change in any of those gives a
new key, so a stale entry can never be returned; the same model evaluated again on the same data is
served from disk.

Format: plain ``.npy`` (float32, loaded with ``allow_pickle=False``: never pickle) plus a small JSON
sidecar with shape, role and provenance. Writes are atomic (temp + rename) under a folder lock, so two
processes filling the cache at once cannot corrupt it; a truncated or mismatching file is treated as a
miss and rewritten.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from synrank.errors import LockedError
from synrank.io import atomic_write_bytes, atomic_write_json, folder_lock
from synrank.paths import cache_dir

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1


def texts_digest(texts: Sequence[str]) -> str:
    """sha256 over the texts in order (length-prefixed, so boundaries cannot be confused)."""
    h = hashlib.sha256()
    for t in texts:
        b = t.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


class EmbeddingCache:
    """Read/write blocks of embeddings for one model fingerprint."""

    def __init__(self, fingerprint: str, root: str | Path | None = None):
        if not fingerprint:
            raise ValueError("an embedding cache needs a model fingerprint")
        self.fingerprint = fingerprint
        self.root = Path(root) if root is not None else cache_dir() / "embeddings"
        self.folder = self.root / fingerprint[:32]
        self.hits = 0
        self.misses = 0

    def key(self, role: str, texts: Sequence[str], max_length: int | None = None) -> str:
        payload = f"v{FORMAT_VERSION}|{self.fingerprint}|{role}|max_length={max_length}|{texts_digest(texts)}"
        return hashlib.sha256(payload.encode()).hexdigest()[:40]

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.folder / f"{key}.npy", self.folder / f"{key}.json"

    def get(self, role: str, texts: Sequence[str], max_length: int | None = None) -> np.ndarray | None:
        npy, meta = self._paths(self.key(role, texts, max_length))
        if not npy.exists() or not meta.exists():
            self.misses += 1
            return None
        try:
            info = json.loads(meta.read_text("utf-8"))
            arr = np.load(npy, allow_pickle=False)
        except (OSError, ValueError, json.JSONDecodeError) as exc:
            logger.warning("embedding cache entry %s unreadable (%s); recomputing", npy, exc)
            self.misses += 1
            return None
        if arr.shape[0] != len(texts) or list(arr.shape) != info.get("shape"):
            logger.warning("embedding cache entry %s has shape %s, expected %d rows; recomputing",
                           npy, arr.shape, len(texts))
            self.misses += 1
            return None
        self.hits += 1
        return arr

    def put(self, role: str, texts: Sequence[str], embeddings: np.ndarray,
            max_length: int | None = None, model_name: str | None = None) -> Path | None:
        """Store ``embeddings`` (float32). Returns the file, or None when another process holds the lock."""
        key = self.key(role, texts, max_length)
        npy, meta = self._paths(key)
        arr = np.ascontiguousarray(embeddings, dtype=np.float32)
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        try:
            with folder_lock(self.folder, timeout=60, what="embedding cache"):
                atomic_write_bytes(npy, buf.getvalue())
                atomic_write_json(meta, {
                    "format": FORMAT_VERSION, "role": role, "shape": list(arr.shape), "dtype": "float32",
                    "max_length": max_length, "model": model_name, "fingerprint": self.fingerprint,
                    "n_texts": len(texts), "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                })
        except LockedError:
            logger.warning("embedding cache %s is locked by another process; not caching this block", self.folder)
            return None
        return npy
