"""``vllm``: offline batched generation with vLLM's ``LLM`` class (GPU; extra ``generate``).

vLLM is imported only when this backend is created; without it a :class:`GenerationError` says how to
install it. Each request gets its own ``SamplingParams(seed=...)`` so results are reproducible per request.
"""

from __future__ import annotations

from typing import Any

from synrank.errors import GenerationError
from synrank.synthetic.backends.base import Backend, Completion, GenerationRequest, SamplingParams


class VLLMBackend(Backend):
    name = "vllm"
    preferred_batch_size = 512

    def __init__(self, model: str | None = None, tensor_parallel_size: int = 1, dtype: str = "auto",
                 max_model_len: int | None = 4096, gpu_memory_utilization: float = 0.9):
        try:
            import vllm
        except ImportError as exc:
            raise GenerationError("the vllm backend needs vLLM, which is not installed",
                                  hint="pip install 'synrank[generate]' on a machine with a supported GPU, "
                                       "or serve the model elsewhere and use --backend openai") from exc
        if not model:
            raise GenerationError("the vllm backend needs --model (a hub name or local folder)")
        self._vllm = vllm
        self.model = model
        self.options = {"tensor_parallel_size": int(tensor_parallel_size), "dtype": dtype,
                        "max_model_len": max_model_len, "gpu_memory_utilization": gpu_memory_utilization}
        self.llm = vllm.LLM(model=model, **self.options)

    def generate(self, requests: list[GenerationRequest], sampling: SamplingParams) -> list[Completion]:
        params = [self._vllm.SamplingParams(max_tokens=sampling.max_new_tokens, temperature=sampling.temperature,
                                            top_p=sampling.top_p, top_k=sampling.top_k or -1,
                                            repetition_penalty=sampling.repetition_penalty, seed=r.seed)
                  for r in requests]
        outputs = self.llm.chat([r.messages for r in requests], sampling_params=params, use_tqdm=False)
        result = []
        for out in outputs:
            o = out.outputs[0]
            result.append(Completion(o.text, len(o.token_ids), o.finish_reason))
        return result

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model, "model_sha256": None,
                "options": {**self.options, "vllm": getattr(self._vllm, "__version__", "?")}}
