"""The backend interface: chat prompts in, completions out, with every parameter recorded.

A backend turns a batch of :class:`GenerationRequest` into :class:`Completion` objects, one per request
in the same order. A failure of the whole backend (server unreachable, model missing) raises
:class:`~synrank.errors.GenerationError`; a failure of one request (e.g. it timed out after all retries)
is reported in that completion's ``error`` so the pipeline can retry it with a fresh seed.
"""

from __future__ import annotations

import abc
import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

from synrank.config import bounded, check_ranges


@dataclass(frozen=True)
class SamplingParams:
    """Decoding parameters shared by all backends (each maps them onto its own API)."""

    max_new_tokens: int = bounded(100, 1, 32768)
    temperature: float = bounded(0.5, 0, 100)
    top_p: float = bounded(1.0, 0, 1, lo_open=True)
    top_k: int = bounded(50, 0, 100_000)  # 0 = off; not sent to OpenAI-compatible servers (no standard field)
    repetition_penalty: float = bounded(1.1, 0, 100, lo_open=True)

    def validate(self) -> None:
        """Every field within its documented range (a :class:`~synrank.errors.ConfigError` naming it)."""
        check_ranges(self, prefix="sampling.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GenerationRequest:
    messages: list[dict[str, str]]
    seed: int
    key: Any = None  # opaque to the backend; the pipeline uses it to route the completion back


@dataclass
class Completion:
    text: str
    n_tokens: int = 0
    finish_reason: str | None = None  # "stop" | "length" | None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the batch seed of a batched backend


class Backend(abc.ABC):
    """Base class of generation backends."""

    #: registry name, recorded in provenance
    name: str = "base"

    @abc.abstractmethod
    def generate(self, requests: list[GenerationRequest], sampling: SamplingParams) -> list[Completion]:
        """One completion per request, in order."""

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]:
        """Provenance: backend name, model identifier, model file sha256 (if a file), fixed options."""

    #: how many requests the pipeline should hand over at once
    preferred_batch_size: int = 8

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (threads, clients, model memory)."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def batch_seed(requests: list[GenerationRequest]) -> int:
    """A reproducible seed for a batched backend that can seed only the whole batch (transformers)."""
    h = hashlib.sha256(",".join(str(r.seed) for r in requests).encode()).digest()
    return int.from_bytes(h[:4], "little")
