"""Generation backends behind one interface; :func:`create_backend` builds one by name.

=====================  ==========================================================================
``vllm``               offline batched GPU generation with vLLM (extra ``generate``)
``openai``             any OpenAI-compatible chat-completions server (httpx; retries, timeouts)
``local``              CPU, GGUF file: llama.cpp if installed, else transformers + gguf
``llamacpp``           CPU, GGUF file through llama-cpp-python (extra ``llamacpp``)
``transformers-gguf``  CPU, GGUF file de-quantized into transformers, batched
``echo``               FAKE deterministic test backend (no model; never use its output)
=====================  ==========================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from synrank.errors import GenerationError
from synrank.synthetic.backends.base import Backend, Completion, GenerationRequest, SamplingParams
from synrank.synthetic.backends.echo import EchoBackend
from synrank.synthetic.backends.vllm import VLLMBackend


# echo and vllm are light modules (vllm imports its library when a backend is built) and are built by
# their classes; the others' modules are imported when chosen.
def _openai(model: str | None, **kw: Any) -> Backend:
    from synrank.synthetic.backends.openai import OpenAIBackend  # start-up time: httpx (~0.15 s)

    return OpenAIBackend(model, **kw)


def _local(model: str | None, **kw: Any) -> Backend:
    # start-up time: local.py loads synrank.provenance (psutil) and the prompts (its torch, transformers and
    # llama.cpp wait in it until a model loads)
    from synrank.synthetic.backends.local import local_backend

    return local_backend(model, **kw)


def _llamacpp(model: str | None, **kw: Any) -> Backend:
    from synrank.synthetic.backends.local import LlamaCppBackend  # start-up time, as for local

    return LlamaCppBackend(model, **kw)


def _tgguf(model: str | None, **kw: Any) -> Backend:
    from synrank.synthetic.backends.local import TransformersGGUFBackend  # start-up time, as for local

    return TransformersGGUFBackend(model, **kw)


BACKENDS: dict[str, Callable[..., Backend]] = {
    "vllm": VLLMBackend, "openai": _openai, "local": _local, "llamacpp": _llamacpp,
    "transformers-gguf": _tgguf, "echo": EchoBackend,
}


def create_backend(name: str, model: str | None = None, **options: Any) -> Backend:
    """Build backend ``name``; unknown names and bad options are :class:`GenerationError`."""
    if name not in BACKENDS:
        raise GenerationError(f"unknown backend {name!r}", hint=f"choose one of {', '.join(BACKENDS)}")
    try:
        return BACKENDS[name](model, **options)
    except TypeError as exc:
        raise GenerationError(f"bad option for backend {name!r}: {exc}") from exc


__all__ = ["BACKENDS", "Backend", "Completion", "GenerationRequest", "SamplingParams", "create_backend"]
