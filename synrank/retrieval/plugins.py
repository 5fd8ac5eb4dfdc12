"""Plug-in models that follow the sentence-transformers / MTEB convention: one ``encode(texts, **kwargs)``.

:class:`EncodeOnlyEncoder` gives such an object the two methods synrank's search calls
(``encode_queries`` / ``encode_corpus``, see :mod:`synrank.retrieval.encoders`). Documents are encoded as
``(title + " " + text).strip()`` (BEIR's rule, :func:`synrank.retrieval.documents.document_text`). Keyword
arguments are passed only where the model's ``encode`` can take them:

- ``batch_size`` (and ``show_progress_bar``, ``convert_to_numpy=True``, ``convert_to_tensor=False``) when
  ``encode`` names the parameter or takes ``**kwargs``;
- the role of the texts only when ``encode`` names the parameter: ``prompt_type`` (MTEB: ``"query"`` /
  ``"document"``), ``task`` (sentence-transformers' routed models: ``"query"`` / ``"document"``),
  ``is_query`` (``True`` / ``False``), and ``prompt_name`` (``"query"`` / ``"document"``) when the object
  also has a ``prompts`` dict holding that name, as a sentence-transformers model with configured prompts does.

Similarity and caching follow the object: its ``similarity`` (or ``similarity_fn_name``) attribute, ``"dot"``
when it has none, and its ``fingerprint`` attribute (no embedding cache without one).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np

from synrank.errors import ModelError
from synrank.retrieval.documents import document_text

#: keyword -> (value for queries, value for documents); passed only when ``encode`` names the parameter
ROLE_KEYWORDS: dict[str, tuple[Any, Any]] = {
    "prompt_type": ("query", "document"),
    "task": ("query", "document"),
    "is_query": (True, False),
}
#: keyword -> value; passed when ``encode`` names the parameter or takes ``**kwargs``
SETTING_KEYWORDS = ("batch_size", "show_progress_bar")
#: keyword -> value; passed only when named (they ask for numpy output from sentence-transformers-like models)
OUTPUT_KEYWORDS: dict[str, Any] = {"convert_to_numpy": True, "convert_to_tensor": False}


def has_encode_only(obj: Any) -> bool:
    """True for an object with a callable ``encode`` (and no ``encode_queries``/``encode_corpus`` pair)."""
    return callable(getattr(obj, "encode", None))


def _signature(fn: Any) -> tuple[set[str], bool]:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin or C extension: pass nothing optional
        return set(), False
    named = {name for name, p in params.items()
             if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)}
    return named, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


class EncodeOnlyEncoder:
    """Wrap an object with ``encode(texts, **kwargs)`` as a synrank encoder (see the module docstring)."""

    def __init__(self, model: Any, name: str | None = None, sep: str = " "):
        if not has_encode_only(model):
            raise ModelError(f"{type(model).__name__} has no encode method")
        self.model = model
        self.sep = sep
        self.name = name or f"{type(model).__module__}:{type(model).__qualname__}"
        self._named, self._var_kw = _signature(model.encode)
        for attr in ("similarity", "similarity_fn_name", "fingerprint", "max_length"):
            if hasattr(model, attr) and not callable(getattr(model, attr)):
                setattr(self, attr, getattr(model, attr))
        prompts = getattr(model, "prompts", None)
        self._prompts = set(prompts) if isinstance(prompts, dict) else set()

    def encode_kwargs(self, role: str, batch_size: int, **settings: Any) -> dict[str, Any]:
        """The keyword arguments ``encode`` gets for ``role`` (``"query"`` or ``"document"``)."""
        index = 0 if role == "query" else 1
        kwargs: dict[str, Any] = {}
        for key, value in {"batch_size": batch_size, **settings}.items():
            if key in SETTING_KEYWORDS and (key in self._named or self._var_kw):
                kwargs[key] = value
        kwargs.update({k: v for k, v in OUTPUT_KEYWORDS.items() if k in self._named})
        kwargs.update({k: v[index] for k, v in ROLE_KEYWORDS.items() if k in self._named})
        if "prompt_name" in self._named and role in self._prompts:
            kwargs["prompt_name"] = role
        return kwargs

    def _encode(self, role: str, texts: list[str], batch_size: int, **settings: Any) -> np.ndarray:
        out = self.model.encode(texts, **self.encode_kwargs(role, batch_size, **settings))
        if hasattr(out, "detach"):  # a torch tensor
            out = out.detach().to("cpu").float().numpy()
        return np.asarray(out, dtype=np.float32)

    def encode_queries(self, queries: list[str], batch_size: int = 64, **kwargs: Any) -> np.ndarray:
        return self._encode("query", list(queries), batch_size, **kwargs)

    def encode_corpus(self, corpus: Sequence[Any], batch_size: int = 64, **kwargs: Any) -> np.ndarray:
        return self._encode("document", [document_text(d, self.sep) for d in corpus], batch_size, **kwargs)

    def __repr__(self) -> str:
        return f"EncodeOnlyEncoder({self.name!r})"
