"""Encoding backends: where a sentence-transformers model's transformer runs, and at what precision.

A backend replaces only the transformer's forward pass. Tokenisation (the model's own tokenizer and
maximum length) and the modules after the transformer (pooling, Normalize) are the model's own, so a
backend changes nothing but the arithmetic of the forward pass:

============== ==========================================================================================
name            forward pass
============== ==========================================================================================
torch-fp32      PyTorch, float32 (sentence-transformers' own ``encode``; the reference)
torch-bf16      PyTorch under bfloat16 autocast (needs a CPU with native bf16: AVX-512 BF16 or AMX)
openvino-fp32   OpenVINO, float32 (model converted from PyTorch in memory with ``openvino.convert_model``)
openvino-bf16   OpenVINO with bfloat16 inference precision (needs native bf16)
onnx-fp32       ONNX Runtime, float32 (model exported with ``torch.onnx.export``; needs the ``onnx`` package)
onnx-int8       ONNX Runtime after dynamic int8 quantisation of the weights (needs VNNI/AMX int8)
============== ==========================================================================================

Batching: the torch backends use sentence-transformers' ``encode`` (batches of texts sorted by character
count). The openvino and onnx backends tokenise every text once and batch by token count, longest first,
which pads far less where characters are a poor proxy for tokens (TREC DL passages: 1.46 padded tokens
per real token by characters, 1.02 by tokens; SciFact 1.05 vs 1.004). Each text's features are exactly
those the model's ``preprocess`` gives it (checked on every call against a mixed batch, else batching by
characters), so only a batch's padded width changes, and with it float rounding (max abs difference
1.6e-7 on 640 DL19 passages, openvino-fp32).

``auto`` picks the default: the fastest backend whose nDCG@10 stayed within ±0.002 of ``torch-fp32`` on
the quality gate (``benchmarks/bench_eval.py``, ``results/bench/eval.md``) and that this CPU runs natively.
A backend the CPU cannot run natively is refused with one line (as the trainer refuses bf16 on AVX2),
never silently replaced. Models other than a transformer followed by pooling (e.g. a StaticEmbedding
encoder, whose "forward pass" is a table look-up) only run on ``torch-fp32``; ``auto`` picks it for them.

Every backend checks itself once per model: a few probe texts are encoded by it and by ``torch-fp32``
and the embeddings must agree (cosine >= :data:`MIN_PROBE_COSINE`), so a broken export can never
produce a result.
"""

from __future__ import annotations

import copy
import importlib.util
import logging
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import torch

from synrank.errors import ModelError
from synrank.hardware import cpu_description, cpu_has_int8_dot, cpu_has_native_bf16

logger = logging.getLogger(__name__)

BACKENDS = ("torch-fp32", "torch-bf16", "openvino-fp32", "openvino-bf16", "onnx-fp32", "onnx-int8")
#: Lowest cosine between a backend's and torch-fp32's embedding of a probe text that is accepted.
MIN_PROBE_COSINE = {"fp32": 0.9999, "bf16": 0.999, "int8": 0.98}
_PROBES = ("what causes the northern lights", "Aurora borealis: charged particles from the sun collide "
           "with gases in the upper atmosphere and emit light, mostly green from oxygen.",
           "a short one", "Tax forms for small businesses in 2019 and the deadlines for filing them.")


_TOKEN_FEATURES = ("input_ids", "token_type_ids", "attention_mask")
#: Texts from each end of the length order whose padded features are checked against ``preprocess``.
_SPLIT_CHECK = 8


@dataclass(frozen=True)
class Backend:
    """A validated backend name, e.g. ``Backend.parse("openvino-bf16")``."""

    engine: str     # torch | openvino | onnx
    precision: str  # fp32 | bf16 | int8

    @property
    def name(self) -> str:
        return f"{self.engine}-{self.precision}"

    @staticmethod
    def parse(text: str) -> Backend:
        name = str(text).strip().lower()
        if name not in BACKENDS:
            raise ModelError(f"unknown encoding backend {text!r}; use auto or one of {', '.join(BACKENDS)}")
        engine, precision = name.split("-")
        return Backend(engine, precision)

    def check_cpu(self) -> None:
        """Refuse, in one line, a precision this CPU would only emulate."""
        if self.precision == "bf16" and not cpu_has_native_bf16():
            raise ModelError(f"encoding backend {self.name} needs a CPU with native bfloat16 (AVX-512 BF16 or "
                             f"AMX); this one reports {cpu_description()} and would emulate it, many times slower",
                             hint=f"use --backend {self.engine}-fp32 or auto")
        if self.precision == "int8" and not cpu_has_int8_dot():
            raise ModelError(f"encoding backend {self.name} needs int8 dot-product instructions (VNNI or AMX); "
                             "without them int8 is no faster than fp32", hint="use --backend auto")


def default_backend(model: Any | None = None) -> Backend:
    """What ``auto`` means for ``model`` on this CPU (see the module docstring)."""
    if model is not None and not supports_backends(model):
        return Backend("torch", "fp32")
    if not _importable("openvino"):
        raise ModelError("the default encoding backend needs the openvino package, which is not installed",
                         hint="pip install openvino (a synrank dependency), or pass --backend torch-fp32")
    return Backend("openvino", "bf16" if cpu_has_native_bf16() else "fp32")


def resolve_backend(spec: str | Backend | None, model: Any | None = None) -> Backend:
    """``auto``/None → :func:`default_backend`; a name → that backend, checked against the CPU and model."""
    if spec is None or (isinstance(spec, str) and spec.strip().lower() == "auto"):
        return default_backend(model)
    backend = spec if isinstance(spec, Backend) else Backend.parse(spec)
    backend.check_cpu()
    if backend.engine != "torch" and model is not None and not supports_backends(model):
        raise ModelError(f"encoding backend {backend.name} runs transformer models only; this model's first "
                         f"module is {type(model[0]).__name__}", hint="use --backend torch-fp32 or auto")
    if backend.engine != "torch" and not _importable(backend.engine if backend.engine == "openvino"
                                                     else "onnxruntime"):
        package = "openvino" if backend.engine == "openvino" else "onnxruntime onnx"
        raise ModelError(f"encoding backend {backend.name} needs the {package} package(s), not installed",
                         hint=f"pip install {package}")
    return backend


def supports_backends(model: Any) -> bool:
    """A sentence-transformers model whose first module wraps a Hugging Face transformer."""
    try:
        first = model[0]
    except (TypeError, IndexError, KeyError):
        return False
    return hasattr(first, "auto_model")


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


class _TransformerOnly(torch.nn.Module):
    """The transformer with positional inputs, as exporters want it: ids, mask, token types → hidden states."""

    def __init__(self, model: torch.nn.Module, names: Sequence[str]):
        super().__init__()
        self.model, self.names = model, tuple(names)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.names, inputs, strict=True))).last_hidden_state


class _Tokens:
    """Many texts tokenised once by a model's ``preprocess`` without padding, stored compactly (one flat
    int32 array per feature + offsets: 12 bytes a token) so that any subset can be padded into a batch."""

    #: texts tokenised per ``preprocess`` call (bounds the transient Python lists)
    STEP = 2048

    def __init__(self, flats: dict[str, np.ndarray], lengths: np.ndarray, pad_values: dict[str, int],
                 extra: dict[str, Any]):
        self.flats, self.lengths, self.pad_values, self.extra = flats, lengths, pad_values, extra
        self.offsets = np.concatenate([[0], np.cumsum(lengths)])

    @staticmethod
    def build(model: Any, texts: list[str]) -> _Tokens | None:
        """None when this model's ``preprocess`` cannot tokenise without padding."""
        tokenizer = getattr(model, "tokenizer", None)
        pad_id = getattr(tokenizer, "pad_token_id", None)
        if pad_id is None or getattr(tokenizer, "padding_side", "right") != "right":
            return None
        pad_values = {"input_ids": int(pad_id), "token_type_ids": int(getattr(tokenizer, "pad_token_type_id", 0)),
                      "attention_mask": 0}
        parts: dict[str, list[np.ndarray]] = {}
        lengths: list[np.ndarray] = []
        extra: dict[str, Any] = {}
        for start in range(0, len(texts), _Tokens.STEP):
            chunk = texts[start:start + _Tokens.STEP]
            try:
                feats = model.preprocess(chunk, processing_kwargs={"common": {"return_tensors": None},
                                                                   "text": {"padding": False}})
            except (TypeError, ValueError):  # an older sentence-transformers, or a model that must pad
                return None
            ids = feats.get("input_ids") if isinstance(feats, Mapping) else None  # a BatchEncoding
            if not isinstance(ids, list) or len(ids) != len(chunk) or "attention_mask" not in feats:
                return None
            lengths.append(np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids)))
            for name in _TOKEN_FEATURES:
                if name in feats:
                    parts.setdefault(name, []).append(np.fromiter(
                        chain.from_iterable(feats[name]), dtype=np.int32, count=int(lengths[-1].sum())))
            extra = {k: v for k, v in feats.items() if k not in _TOKEN_FEATURES}
        flats = {name: np.concatenate(arrays) for name, arrays in parts.items()}
        return _Tokens(flats, np.concatenate(lengths), {n: pad_values[n] for n in flats}, extra)

    def batch(self, idx: np.ndarray) -> dict[str, Any]:
        """The right-padded features of texts ``idx``, as ``preprocess`` returns them for those texts."""
        lengths = self.lengths[idx]
        width = int(lengths.max())
        rows = np.repeat(np.arange(len(idx)), lengths)
        cols = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        source = np.concatenate([np.arange(self.offsets[i], self.offsets[i + 1]) for i in idx])
        out: dict[str, Any] = dict(self.extra)
        for name, flat in self.flats.items():
            padded = np.full((len(idx), width), self.pad_values[name], dtype=np.int64)
            padded[rows, cols] = flat[source]
            out[name] = torch.from_numpy(padded)
        return out


class BackendRunner:
    """Encode texts with one sentence-transformers model on one backend (see the module docstring)."""

    def __init__(self, model: Any, backend: Backend, threads: int | None = None):
        self.model, self.backend = model, backend
        self.threads = threads or torch.get_num_threads()
        self._compiled: Any = None
        self._input_names: tuple[str, ...] = ()
        self._checked = False

    # -- one batch through the transformer ---------------------------------------------------------
    def _features(self, texts: list[str]) -> dict[str, Any]:
        return self.model.preprocess(texts)

    def _prepare(self, feats: dict[str, Any]) -> None:
        names = tuple(n for n in ("input_ids", "attention_mask", "token_type_ids") if n in feats)
        self._input_names = names
        example = tuple(feats[n] for n in names)
        source = self.model[0].auto_model
        # tracing needs eval mode; a model in training mode is copied so that its own mode is left alone
        # (an evaluation model is already in eval mode: no copy, ~90 MB less peak memory for MiniLM)
        module = _TransformerOnly(copy.deepcopy(source).eval() if source.training else source, names)
        if self.backend.engine == "openvino":
            # openvino loads only when its backend runs (its import is part of a timed evaluation)
            import openvino as ov

            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracing notes (TracerWarning) that say nothing to a user
                converted = ov.convert_model(module, example_input=example)
            config = {"INFERENCE_PRECISION_HINT": "bf16" if self.backend.precision == "bf16" else "f32",
                      "INFERENCE_NUM_THREADS": self.threads}
            self._compiled = ov.Core().compile_model(converted, "CPU", config)
        else:
            self._compiled = _onnx_session(module, example, names, self.backend.precision, self.threads)

    def _hidden(self, feats: dict[str, Any]) -> torch.Tensor:
        arrays = [feats[n].numpy() for n in self._input_names]
        if self.backend.engine == "openvino":
            out = self._compiled(arrays)[0]  # converted from torch: inputs by position
        else:
            out = self._compiled.run(None, dict(zip(self._input_names, arrays, strict=True)))[0]
        return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))

    def _embed_features(self, feats: dict[str, Any]) -> np.ndarray:
        if self.backend.engine == "torch":
            raise AssertionError("torch backends go through sentence-transformers' encode")
        if self._compiled is None:
            self._prepare(feats)
        features = {"token_embeddings": self._hidden(feats), "attention_mask": feats["attention_mask"]}
        with torch.no_grad():
            for module in list(self.model)[1:]:
                features = module(features)
        return features["sentence_embedding"].float().numpy()

    # -- batching by token count -----------------------------------------------------------------
    def _batches(self, texts: list[str], batch_size: int) -> Iterator[tuple[np.ndarray, dict[str, Any]]]:
        """``(indices, features)`` per batch, longest first by token count so that a batch pads little.

        Each text is tokenised once (:class:`_Tokens`) and batches are padded from those tokens. A mixed
        batch of the longest and shortest texts is checked against the model's own ``preprocess`` of the
        same texts; a model whose tokenisation cannot be split that way is batched by character count
        and tokenised per batch, as sentence-transformers' ``encode`` does.
        """
        tokens = _Tokens.build(self.model, texts) if texts else None
        if tokens is not None:
            order = np.argsort(-tokens.lengths, kind="stable")
            probe = np.unique(np.concatenate([order[:_SPLIT_CHECK], order[-_SPLIT_CHECK:]]))
            if _same_features(tokens.batch(probe), self._features([texts[i] for i in probe])):
                for start in range(0, len(texts), batch_size):
                    idx = order[start:start + batch_size]
                    yield idx, tokens.batch(idx)
                return
            logger.info("this model's preprocess cannot be split into tokenise + pad: batching by characters")
        order = np.argsort([-len(t) for t in texts], kind="stable")
        for start in range(0, len(texts), batch_size):
            idx = order[start:start + batch_size]
            yield idx, self._features([texts[i] for i in idx])

    # -- public -----------------------------------------------------------------------------------
    def encode(self, texts: Sequence[str], batch_size: int = 64, prompt: str = "") -> np.ndarray:
        """Embeddings ``[n, dim]`` float32 in input order; texts are batched longest first (by tokens)."""
        texts = [prompt + t for t in texts]
        if self.backend.engine == "torch":
            return self._torch_encode(texts, batch_size)
        if not self._checked:
            self.check()
        out: np.ndarray | None = None
        for idx, feats in self._batches(texts, batch_size):
            emb = self._embed_features(feats)
            if out is None:
                out = np.empty((len(texts), emb.shape[1]), dtype=np.float32)
            out[idx] = emb
        return out if out is not None else np.zeros((0, 0), np.float32)

    def _torch_encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        bf16 = self.backend.precision == "bf16"
        context = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()
        with context:
            emb = self.model.encode(texts, batch_size=batch_size, show_progress_bar=False,
                                    convert_to_tensor=True)
        return emb.float().cpu().numpy()

    def check(self) -> None:
        """Encode the probe texts on this backend and on torch-fp32; refuse the backend if they disagree."""
        self._checked = True
        ours = self.encode(list(_PROBES), batch_size=len(_PROBES))
        reference = self.model.encode(list(_PROBES), batch_size=len(_PROBES), show_progress_bar=False,
                                      convert_to_numpy=True)
        cos = (ours * reference).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(reference, axis=1))
        worst = float(cos.min())
        if not worst >= MIN_PROBE_COSINE[self.backend.precision]:
            raise ModelError(f"encoding backend {self.backend.name} disagrees with torch-fp32 on probe texts "
                             f"(lowest cosine {worst:.6f} < {MIN_PROBE_COSINE[self.backend.precision]})",
                             hint="use --backend torch-fp32 and report this model")
        logger.info("encoding backend %s: probe cosine vs torch-fp32 >= %.6f", self.backend.name, worst)


def _same_features(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two feature dicts of one batch are identical (same keys, equal tensors and values)."""
    if a.keys() != b.keys():
        return False
    for key, value in a.items():
        other = b[key]
        if isinstance(value, torch.Tensor) or isinstance(other, torch.Tensor):
            if not (isinstance(value, torch.Tensor) and isinstance(other, torch.Tensor)
                    and value.shape == other.shape and value.dtype == other.dtype and torch.equal(value, other)):
                return False
        elif value != other:
            return False
    return True


def _onnx_session(module: torch.nn.Module, example: tuple[torch.Tensor, ...], names: tuple[str, ...],
                  precision: str, threads: int) -> Any:
    """Export ``module`` to ONNX in a temporary folder (int8: quantise its weights) and open a session."""
    import onnxruntime as ort  # optional (the onnx extra); loaded only by the onnx backends

    axes = {n: {0: "batch", 1: "length"} for n in (*names, "hidden")}
    with tempfile.TemporaryDirectory(prefix="synrank-onnx-") as tmp:
        path = Path(tmp) / "model.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracing notes (TracerWarning, opset remarks)
            torch.onnx.export(module, example, str(path), input_names=list(names), output_names=["hidden"],
                              dynamic_axes=axes, opset_version=17, dynamo=False)
        if precision == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic  # optional, as above

            quantized = Path(tmp) / "model-int8.onnx"
            quantize_dynamic(str(path), str(quantized), weight_type=QuantType.QInt8)
            path = quantized
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        return ort.InferenceSession(path.read_bytes(), options, providers=["CPUExecutionProvider"])
