"""Encoders: the one interface every retriever is evaluated through, and its adapters.

An encoder is anything with BEIR's two methods::

    encode_queries(queries: list[str], batch_size=...) -> np.ndarray   # [n, dim]
    encode_corpus(corpus: list[dict(title, text)], batch_size=...) -> np.ndarray

plus two optional attributes: ``similarity`` (``"cosine"`` or ``"dot"``; default ``"dot"``, as BEIR's
``DenseRetrievalExactSearch`` callers usually choose) and ``fingerprint`` (a string that changes whenever
the model's outputs could change; without it the embedding cache is not used for that object).

:func:`load_encoder` turns a user-facing spec into an encoder: a local sentence-transformers folder, a
short alias (``all-MiniLM-L6-v2`` → the copy shipped by the PyPI package), a hub name (online only),
``"module:Class"`` (an importable class built with no arguments), or an object that already has the methods.
An object with only ``encode(texts, **kwargs)`` (the sentence-transformers / MTEB convention) is wrapped in
:class:`synrank.retrieval.plugins.EncodeOnlyEncoder`.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from synrank.errors import ModelError
from synrank.io import atomic_write_json, sha256_file
from synrank.paths import cache_dir, resolve_model_alias
from synrank.retrieval.backends import Backend, BackendRunner, resolve_backend
from synrank.retrieval.documents import TITLE_SEP, document_text
from synrank.retrieval.plugins import EncodeOnlyEncoder, has_encode_only

logger = logging.getLogger(__name__)

SIMILARITIES = ("cosine", "dot")


@runtime_checkable
class Encoder(Protocol):
    """What :func:`synrank.retrieval.search.exact_search` needs from a model."""

    def encode_queries(self, queries: list[str], batch_size: int = ..., **kwargs: Any) -> np.ndarray: ...

    def encode_corpus(self, corpus: list[dict[str, str]], batch_size: int = ...,
                      **kwargs: Any) -> np.ndarray: ...


def encoder_similarity(encoder: Any) -> str:
    """The similarity an encoder declares (``cosine`` or ``dot``); ``dot`` when it declares none."""
    sim = getattr(encoder, "similarity", None)
    if callable(sim) or sim is None:  # e.g. a raw SentenceTransformer's similarity() method
        sim = getattr(encoder, "similarity_fn_name", None) or "dot"
    sim = str(sim).lower()
    aliases = {"cos_sim": "cosine", "cos": "cosine", "dot_score": "dot", "ip": "dot", "inner_product": "dot"}
    sim = aliases.get(sim, sim)
    if sim not in SIMILARITIES:
        raise ModelError(f"encoder {type(encoder).__name__} declares similarity {sim!r}; exact inner-product "
                         f"search supports only {SIMILARITIES}", hint="use a cosine or dot-product model")
    return sim


def encoding_name(encoder: Any) -> str | None:
    """The encoding backend an encoder runs on (``openvino-bf16``...), None for plug-in encoders."""
    backend = getattr(encoder, "backend", None)
    return getattr(backend, "name", None) if backend is not None else None


def encoder_fingerprint(encoder: Any) -> str | None:
    fp = getattr(encoder, "fingerprint", None)
    if callable(fp):
        fp = fp()
    return None if fp is None else str(fp)


# ---------------------------------------------------------------------------------------------------
# Fingerprints of model folders and in-memory models
# ---------------------------------------------------------------------------------------------------

_SKIP_FILES = {"README.md", ".gitattributes", ".lock",
               # what the trainer writes beside a model: records of the run, not inputs to encoding
               "training_config.json", "trainer_state.json", "loss_curve.csv", "loss_curve.png"}
_SKIP_DIRS = {"checkpoints"}


def folder_fingerprint(folder: str | os.PathLike) -> str:
    """sha256 over every file that can change a model's outputs (weights, configs, tokenizer).

    Per-file digests are cached in ``<cache>/fingerprints.json`` keyed by absolute path, size and
    mtime, so a 90 MB model is hashed once and then fingerprinted in microseconds.
    """
    folder = Path(folder).resolve()
    files = sorted(p for p in folder.rglob("*")
                   if p.is_file() and p.name not in _SKIP_FILES and not p.name.startswith(".")
                   and not any(part.startswith(".") or part in _SKIP_DIRS
                               for part in p.relative_to(folder).parts[:-1]))
    if not files:
        raise ModelError("model folder has no files", folder)
    memo_path = cache_dir() / "fingerprints.json"
    try:
        memo = json.loads(memo_path.read_text("utf-8")) if memo_path.exists() else {}
    except (OSError, json.JSONDecodeError):
        memo = {}
    changed = False
    total = hashlib.sha256()
    for p in files:
        st = p.stat()
        key = f"{p}|{st.st_size}|{st.st_mtime_ns}"
        digest = memo.get(key)
        if digest is None:
            digest = sha256_file(p)
            memo[key] = digest
            changed = True
        total.update(f"{p.relative_to(folder).as_posix()}\0{digest}\n".encode())
    if changed:
        try:
            atomic_write_json(memo_path, memo, indent=0)
        except Exception:  # a read-only cache only costs re-hashing next time
            logger.debug("could not write %s", memo_path, exc_info=True)
    return total.hexdigest()


def module_fingerprint(model: Any) -> str:
    """sha256 of an in-memory torch model: architecture, every tensor, and its tokenizer when it has one."""
    h = hashlib.sha256()
    h.update(repr(model).encode())
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        if t.dtype == torch.bfloat16:
            t = t.view(torch.int16)
        h.update(t.numpy().tobytes())
    tok = getattr(model, "tokenizer", None)
    backend = getattr(tok, "backend_tokenizer", tok)
    to_str = getattr(backend, "to_str", None)
    if callable(to_str):
        h.update(to_str().encode())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------------
# sentence-transformers adapter
# ---------------------------------------------------------------------------------------------------

def _has_normalize(model: Any) -> bool:
    try:
        # sentence-transformers takes seconds to import: loaded with the first model, not with this module
        from sentence_transformers.sentence_transformer.modules import Normalize
    except ImportError:  # older sentence-transformers
        from sentence_transformers.models import Normalize
    return any(isinstance(m, Normalize) for m in model.children())


class SentenceTransformerEncoder:
    """A sentence-transformers model as an :class:`Encoder`.

    ``name_or_path`` may be a local folder, an alias from :data:`synrank.paths.MODEL_ALIASES`, a hub
    name (needs network unless already in the Hugging Face cache) or a ready ``SentenceTransformer``.

    Similarity: the model's declared ``similarity_fn_name`` is respected. ``cosine`` is served by
    L2-normalising embeddings (a no-op for models ending in a Normalize module, such as
    all-MiniLM-L6-v2) so that inner product equals cosine; ``dot`` uses raw embeddings.
    Queries and documents go through ``encode_query``/``encode_document`` so a model's configured
    prompts are applied.

    ``backend``: where the transformer runs (:mod:`synrank.retrieval.backends`): ``auto`` (default: the
    fastest backend that matches fp32 scores on this CPU), ``torch-fp32``, ``torch-bf16``,
    ``openvino-fp32``, ``openvino-bf16``, ``onnx-fp32``, ``onnx-int8``. It is part of the fingerprint.
    """

    def __init__(self, name_or_path: Any, max_length: int | None = None, device: str | None = None,
                 sep: str = TITLE_SEP, show_progress_bar: bool | None = None, lazy: bool = True,
                 backend: str | Backend | None = "auto", **model_kwargs: Any):
        self.sep = sep
        self._backend_spec = backend
        self._backend: Backend | None = None
        self._runner: BackendRunner | None = None
        self.show_progress_bar = show_progress_bar
        self._folder: Path | None = None
        self._model: Any = None
        self._requested_max_length = None if max_length is None else int(max_length)
        self._fingerprint: str | None = None
        if not isinstance(name_or_path, (str, os.PathLike)):
            # sentence-transformers takes seconds to import: loaded with the first model, not with this module
            from sentence_transformers import SentenceTransformer

            if not isinstance(name_or_path, SentenceTransformer):
                raise ModelError(f"expected a model name, folder or SentenceTransformer, got {type(name_or_path).__name__}")
            card = getattr(name_or_path, "model_card_data", None)
            self.name = getattr(card, "model_name", None) or type(name_or_path).__name__
            self._set_model(name_or_path)
            return
        spec = os.fspath(name_or_path)
        resolved = resolve_model_alias(spec)
        self.name = spec
        self._load_args = (spec, resolved, device, model_kwargs)
        folder = Path(resolved).expanduser()
        if folder.is_dir():
            _check_model_folder(folder)
            self._folder = folder.resolve()
            meta = _folder_metadata(self._folder) if lazy else None
            if meta is not None:
                # Everything the search and the cache key need is in the folder's config files, so the
                # (slow) model load waits until something must actually be encoded: a fully cached
                # re-evaluation never imports torch's model code at all.
                self.similarity, max_len, self.normalizes = meta
                self.max_length = self._requested_max_length or max_len
                self._check_similarity(self.similarity)
                return
        self._set_model(_load_sentence_transformer(spec, resolved, device=device, **model_kwargs))

    def _check_similarity(self, declared: str) -> None:
        if declared not in SIMILARITIES:
            raise ModelError(f"model {self.name} declares similarity {declared!r}; exact inner-product search "
                             f"supports only {SIMILARITIES}", self._folder)

    def _set_model(self, model: Any) -> None:
        if self._requested_max_length is not None:
            try:
                model.max_seq_length = self._requested_max_length
            except AttributeError:  # e.g. StaticEmbedding: the length is part of its tokenizer
                raise ModelError(f"the maximum length of model {self.name} cannot be set (its first module is "
                                 f"{type(model[0]).__name__})", hint="leave max_length unset") from None
        declared = getattr(model, "similarity_fn_name", None) or "cosine"
        self._check_similarity(declared)
        normalizes = _has_normalize(model)
        max_length = getattr(model, "max_seq_length", None)
        if self._model is None and hasattr(self, "similarity"):  # lazily loaded: must match the files
            expected = (self.similarity, self.max_length, self.normalizes)
            if (declared, max_length, normalizes) != expected:
                raise ModelError(f"model loaded with (similarity, max_length, normalizes) = "
                                 f"{(declared, max_length, normalizes)} but its config files say {expected}",
                                 self._folder, hint="report this: the folder's config files are inconsistent")
        self._model = model
        self.similarity, self.max_length, self.normalizes = declared, max_length, normalizes

    @property
    def model(self) -> Any:
        """The ``SentenceTransformer`` (loaded on first use when built from a folder)."""
        if self._model is None:
            spec, resolved, device, kwargs = self._load_args
            self._set_model(_load_sentence_transformer(spec, resolved, device=device, **kwargs))
        return self._model

    @property
    def backend(self) -> Backend:
        """The resolved encoding backend (``auto`` decided for this model and CPU)."""
        if self._backend is None:
            transformer = folder_is_transformer(self._folder) if self._model is None and self._folder else None
            probe = self.model if transformer is None else None
            if probe is None and transformer is False:
                self._backend = resolve_backend(self._backend_spec, _NotTransformer())
            else:
                self._backend = resolve_backend(self._backend_spec, probe)
        return self._backend

    @property
    def fingerprint(self) -> str:
        """Model weights + config digest (files when loaded from a folder, tensors otherwise) and the
        settings that change outputs (max length, title separator, similarity, encoding backend)."""
        if self._fingerprint is None:
            base = folder_fingerprint(self._folder) if self._folder else module_fingerprint(self.model)
            extra = f"|max_length={self.max_length}|sep={self.sep!r}|sim={self.similarity}"
            if self.backend.name != "torch-fp32":  # fp32 keeps the fingerprints (and caches) it always had
                extra += f"|backend={self.backend.name}"
            self._fingerprint = hashlib.sha256((base + extra).encode()).hexdigest()
        return self._fingerprint

    def _prompt(self, fn_name: str) -> str:
        prompts = getattr(self.model, "prompts", None) or {}
        names = ("query",) if fn_name == "encode_query" else ("document", "passage", "corpus")
        for name in names:
            if prompts.get(name):
                return str(prompts[name])
        default = getattr(self.model, "default_prompt_name", None)
        return str(prompts.get(default) or "") if default else ""

    def _encode(self, fn_name: str, texts: list[str], batch_size: int, **kwargs: Any) -> np.ndarray:
        show = kwargs.pop("show_progress_bar", self.show_progress_bar)
        kwargs.pop("convert_to_tensor", None)
        normalize = self.similarity == "cosine" and not self.normalizes
        if self.backend.name != "torch-fp32":
            if self._runner is None:
                self._runner = BackendRunner(self.model, self.backend)
            emb = self._runner.encode(texts, batch_size=batch_size, prompt=self._prompt(fn_name))
            if normalize:
                norms = np.linalg.norm(emb, axis=1, keepdims=True)
                emb = emb / np.where(norms == 0, 1.0, norms)
            return np.asarray(emb, dtype=np.float32)
        fn = getattr(self.model, fn_name, None) or self.model.encode
        emb = fn(texts, batch_size=batch_size, show_progress_bar=show, convert_to_numpy=True,
                 normalize_embeddings=normalize, **kwargs)
        return np.asarray(emb, dtype=np.float32)

    def encode_queries(self, queries: list[str], batch_size: int = 64, **kwargs: Any) -> np.ndarray:
        return self._encode("encode_query", list(queries), batch_size, **kwargs)

    def encode_corpus(self, corpus: Sequence[Any], batch_size: int = 64, **kwargs: Any) -> np.ndarray:
        texts = [document_text(d, self.sep) for d in corpus]
        return self._encode("encode_document", texts, batch_size, **kwargs)

    def __repr__(self) -> str:
        return (f"SentenceTransformerEncoder({self.name!r}, max_length={self.max_length}, "
                f"similarity={self.similarity}, backend={self._backend.name if self._backend else self._backend_spec})")


class _NotTransformer:
    """Stands for a model whose first module is not a transformer (backend resolution only)."""

    def __getitem__(self, index: int) -> Any:
        return self


def folder_is_transformer(folder: Path) -> bool | None:
    """From a folder's modules.json: whether its first module is a sentence-transformers Transformer
    (True/False), or None when the file does not say."""
    try:
        modules = json.loads((folder / "modules.json").read_text("utf-8"))
        return str(modules[0].get("type", "")).endswith(".Transformer")
    except (OSError, ValueError, IndexError, KeyError, AttributeError, TypeError):
        return None


def _check_model_folder(path: Path) -> None:
    if not ((path / "modules.json").exists() or (path / "config.json").exists()):
        raise ModelError("not a sentence-transformers or transformers model folder "
                         "(no modules.json or config.json)", path,
                         hint="pass the folder a trainer checkpoint or save_pretrained() wrote")


def _module_needs_config(type_name: str) -> tuple[str, str] | None:
    """``(class name, config file name)`` when a sentence-transformers module cannot be built without its
    config file (a constructor argument without default is one of its config keys: Pooling, Dense, ...);
    None for modules that load without one (Normalize, Transformer, StaticEmbedding) or unknown types."""
    if not type_name.startswith("sentence_transformers."):
        return None  # a third-party module: leave the check to sentence-transformers
    try:
        # sentence-transformers takes seconds to import: loaded with the first model, not with this module
        from sentence_transformers.util import import_from_string

        cls = import_from_string(type_name)
        params = inspect.signature(cls.__init__).parameters.values()
    except Exception:  # unknown or renamed type: sentence-transformers reports it when loading
        return None
    keys = set(getattr(cls, "config_keys", None) or ())
    required = {p.name for p in params if p.default is p.empty and p.name != "self"
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    if keys & required:
        return cls.__name__, str(getattr(cls, "config_file_name", "config.json"))
    return None


def check_model_folder(path: str | os.PathLike) -> None:
    """Check a local sentence-transformers folder before loading it: every module ``modules.json`` lists
    that needs a config file has it (e.g. ``1_Pooling/config.json``).

    Without this, a lost module config surfaces as the module's constructor failing
    (``Pooling.__init__() missing 1 required positional argument``), which names neither the file nor the
    folder. Raises :class:`ModelError` naming the missing file.
    """
    folder = Path(path).expanduser()
    _check_model_folder(folder)
    modules_file = folder / "modules.json"
    if not modules_file.exists():
        return  # a plain transformers folder: sentence-transformers adds mean pooling itself
    try:
        modules = json.loads(modules_file.read_text("utf-8"))
        entries = [(str(m.get("path", "")), str(m.get("type", ""))) for m in modules]
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise ModelError(f"cannot read modules.json ({type(exc).__name__}: {exc})", modules_file,
                         hint="expected a JSON list of {idx, name, path, type}; copy it from the base model "
                         "or re-save the checkpoint") from exc
    for sub, type_name in entries:
        needed = _module_needs_config(type_name)
        if needed is None:
            continue
        cls_name, config_name = needed
        config = folder / sub / config_name
        if not config.is_file():
            raise ModelError(f"config file of the {cls_name} module is missing (modules.json lists "
                             f"{sub or '.'!r} of type {type_name})", config,
                             hint="copy it from the base model or re-save the checkpoint")


def _folder_metadata(folder: Path) -> tuple[str, int, bool] | None:
    """(similarity, max_seq_length, has Normalize) from a sentence-transformers folder's config files,
    or None when they do not state all three unambiguously (then the model is loaded eagerly)."""
    try:
        modules = json.loads((folder / "modules.json").read_text("utf-8"))
        types = [str(m.get("type", "")) for m in modules]
        first = modules[0]
        if not types[0].endswith(".Transformer"):
            return None
        sbert = json.loads((folder / first.get("path", "") / "sentence_bert_config.json").read_text("utf-8"))
        max_len = sbert.get("max_seq_length")
        st_cfg_path = folder / "config_sentence_transformers.json"
        st_cfg = json.loads(st_cfg_path.read_text("utf-8")) if st_cfg_path.exists() else {}
    except (OSError, ValueError, IndexError, KeyError, AttributeError):
        return None
    if not isinstance(max_len, int) or st_cfg.get("prompts") or st_cfg.get("default_prompt_name"):
        return None
    similarity = st_cfg.get("similarity_fn_name") or "cosine"
    return similarity, max_len, any(t.endswith(".Normalize") for t in types)


def _load_sentence_transformer(spec: str, resolved: str, device: str | None = None, **kwargs: Any) -> Any:
    # sentence-transformers takes seconds to import: loaded with the first model, not with this module
    from sentence_transformers import SentenceTransformer

    path = Path(resolved).expanduser()
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
    tried = [f"alias {spec!r} -> {resolved}"] if resolved != spec else []
    if path.exists():
        if not path.is_dir():
            raise ModelError("model path is a file; expected a sentence-transformers folder", path)
        check_model_folder(path)
        try:
            return SentenceTransformer(str(path), device=device or "cpu", local_files_only=True, **kwargs)
        except Exception as exc:
            raise ModelError(f"cannot load model folder: {type(exc).__name__}: {exc}", path) from exc
    tried.append(f"local folder {path} (not found)")
    looks_local = spec.startswith((".", "/", "~")) or os.sep in spec and spec.count("/") > 1
    if looks_local:
        raise ModelError(f"model not found; tried {'; '.join(tried)}", spec,
                         hint="check the path, or pass a hub name such as sentence-transformers/all-MiniLM-L6-v2")
    try:
        return SentenceTransformer(spec, device=device or "cpu", local_files_only=offline, **kwargs)
    except Exception as exc:
        where = "the local Hugging Face cache (HF_HUB_OFFLINE is set)" if offline else "the Hugging Face hub"
        tried.append(f"hub name {spec!r} in {where}: {type(exc).__name__}")
        raise ModelError(f"cannot load model {spec!r}; tried {'; '.join(tried)}", spec,
                         hint="pass a local model folder, a known alias (all-MiniLM-L6-v2), or go online") from exc


# ---------------------------------------------------------------------------------------------------
# load_encoder
# ---------------------------------------------------------------------------------------------------

def _import_spec(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelError(f"cannot import module {module_name!r} ({exc})", spec,
                         hint="the module must be importable from the current environment") from exc
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ModelError(f"module {module_name!r} has no attribute {attr!r}", spec)
        obj = getattr(obj, part)
    if isinstance(obj, type) or callable(obj) and not _is_encoder(obj):
        try:
            obj = obj()
        except Exception as exc:
            raise ModelError(f"cannot construct {attr} with no arguments: {type(exc).__name__}: {exc}", spec) from exc
    return obj


def _is_encoder(obj: Any) -> bool:
    return callable(getattr(obj, "encode_queries", None)) and callable(getattr(obj, "encode_corpus", None))


_IMPORT_SPEC = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


def load_encoder(spec: Any, max_length: int | None = None, **kwargs: Any) -> Any:
    """Turn a model spec into an encoder (see the module docstring for the accepted forms)."""
    if not isinstance(spec, (str, os.PathLike)):
        if _is_encoder(spec):
            encoder_similarity(spec)  # validate early
            return spec
        try:
            # sentence-transformers takes seconds to import: loaded with the first model, not with this module
            from sentence_transformers import SentenceTransformer
        except ImportError:  # pragma: no cover - sentence-transformers is a core dependency
            SentenceTransformer = ()  # type: ignore[assignment]  # noqa: N806
        if isinstance(spec, SentenceTransformer):
            return SentenceTransformerEncoder(spec, max_length=max_length, **kwargs)
        if has_encode_only(spec):
            return _checked(EncodeOnlyEncoder(spec))
        raise ModelError(f"object of type {type(spec).__name__} is not an encoder: it needs "
                         "encode_queries(list[str]) and encode_corpus(list[dict]), or encode(list[str])")
    spec_str = os.fspath(spec)
    if _IMPORT_SPEC.fullmatch(spec_str) and not Path(spec_str).exists():
        obj = _import_spec(spec_str)
        if not _is_encoder(obj):
            try:
                # sentence-transformers takes seconds to import: loaded with the first model, not with this module
                from sentence_transformers import SentenceTransformer

                if isinstance(obj, SentenceTransformer):
                    return SentenceTransformerEncoder(obj, max_length=max_length, **kwargs)
            except ImportError:  # pragma: no cover
                pass
            if has_encode_only(obj):
                return _checked(EncodeOnlyEncoder(obj, name=spec_str))
            raise ModelError(f"{spec_str} built a {type(obj).__name__}, which has neither encode_queries/"
                             "encode_corpus nor encode", spec_str)
        encoder_similarity(obj)
        return obj
    return SentenceTransformerEncoder(spec_str, max_length=max_length, **kwargs)


def _checked(encoder: Any) -> Any:
    encoder_similarity(encoder)  # validate early
    return encoder


def build_static_encoder(source: str | os.PathLike = "all-MiniLM-L6-v2", max_length: int | None = None,
                         device: str = "cpu") -> SentenceTransformerEncoder:
    """A bag-of-tokens baseline: the mean of a transformer's *input* word embeddings, no attention.

    Built from ``source``'s fast tokenizer and word-embedding matrix as a sentence-transformers
    ``StaticEmbedding`` module, so it runs through exactly the same encoder path as any other model
    (cosine similarity: the adapter L2-normalises because the module has no Normalize layer).
    Fingerprint: the tensors and tokenizer (:func:`module_fingerprint`).
    """
    # sentence-transformers takes seconds to import: loaded with the first model, not with this module
    from sentence_transformers import SentenceTransformer

    try:
        from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    except ImportError:  # older sentence-transformers
        from sentence_transformers.models import StaticEmbedding

    base = SentenceTransformerEncoder(source, device=device).model
    tokenizer = getattr(base.tokenizer, "backend_tokenizer", None)
    if tokenizer is None:
        raise ModelError(f"model {source} has no fast tokenizer; StaticEmbedding needs one", str(source))
    hf = base[0].auto_model if hasattr(base[0], "auto_model") else base.transformers_model
    weights = hf.get_input_embeddings().weight.detach().clone()
    static = StaticEmbedding(tokenizer, embedding_weights=weights)
    model = SentenceTransformer(modules=[static], device=device, similarity_fn_name="cosine")
    enc = SentenceTransformerEncoder(model, max_length=max_length)
    enc.name = f"static({source})"
    return enc
