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


@dataclass(frozen=True)
class SamplingParams:
    """Decoding parameters shared by all backends (each maps them onto its own API)."""

    max_new_tokens: int = 100
    temperature: float = 0.5
    top_p: float = 1.0
    top_k: int = 50  # 0 = off; not sent to OpenAI-compatible servers (no standard field)
    repetition_penalty: float = 1.1

    def validate(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be >= 1")
        if self.temperature < 0:
            raise ValueError("temperature must be >= 0")
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")
        if self.top_k < 0:
            raise ValueError("top_k must be >= 0")
        if self.repetition_penalty <= 0:
            raise ValueError("repetition_penalty must be > 0")

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
