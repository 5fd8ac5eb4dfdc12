"""``openai``: any OpenAI-compatible chat-completions server (vLLM serve, llama.cpp server, ollama, hosted APIs).

Requests run concurrently on a thread pool sharing one ``httpx.Client``. Connection errors, timeouts,
HTTP 429 and 5xx are retried with exponential backoff (``backoff * 2**attempt`` seconds, plus jitter);
after ``max_retries`` the request's completion carries the error and the pipeline retries it later
with a fresh seed. HTTP 401/403/404 mean the whole setup is wrong and raise
:class:`~synrank.errors.GenerationError` at once. The API key is read from the environment variable
named by ``api_key_env`` (default ``OPENAI_API_KEY``; optional for local servers) and never logged or
recorded; a value of ``api_key_env`` that looks like a key rather than a variable name is refused.
Credentials written into ``base_url`` (``http://user:password@host/v1``, ``?key=...``) are sent (as Basic
auth and query parameters) but recorded and logged masked (:mod:`synrank.redact`).
"""

from __future__ import annotations

import logging
import os
import random
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from synrank.errors import GenerationError
from synrank.redact import env_var_name_problem, install_log_redaction, redact_url
from synrank.synthetic.backends.base import Backend, Completion, GenerationRequest, SamplingParams

log = logging.getLogger(__name__)

_FATAL = {401: "unauthorized: check the API key variable", 403: "forbidden: check the API key and model access",
          404: "not found: check --base-url (it should end in /v1) and the model name"}


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(self, model: str | None = None, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 concurrency: int = 8, timeout: float = 60.0, max_retries: int = 4, backoff: float = 0.5,
                 send_seed: bool = True):
        if not model:
            raise GenerationError("the openai backend needs --model (the model name the server serves)")
        problem = env_var_name_problem(api_key_env)
        if problem is not None:
            raise GenerationError(f"api_key_env {problem}",
                                  hint="api_key_env takes the NAME of the environment variable that holds the key "
                                       "(default OPENAI_API_KEY): export OPENAI_API_KEY=... and leave api_key_env out")
        self.model = model
        url = (base_url or os.environ.get("OPENAI_BASE_URL") or "http://127.0.0.1:8000/v1").rstrip("/")
        #: the server as recorded and shown: credentials in the URL (user:password@, ?key=...) are masked
        self.base_url = redact_url(url)
        self.api_key_env = api_key_env
        key = os.environ.get(api_key_env)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        # credentials in the URL are still sent, as httpx options (Basic auth, default query parameters),
        # so that the client's base URL, which httpx logs with every request, holds none
        parts = urllib.parse.urlsplit(url)
        auth = None
        if parts.username is not None:
            auth = httpx.BasicAuth(urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or ""))
        params = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        plain = urllib.parse.urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[-1], parts.path, "", ""))
        install_log_redaction()
        self.concurrency = max(1, int(concurrency))
        self.preferred_batch_size = self.concurrency * 4
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.backoff = float(backoff)
        self.send_seed = send_seed
        self.client = httpx.Client(base_url=plain, headers=headers, auth=auth, params=params, timeout=self.timeout)
        self.pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="synrank-openai")

    def _payload(self, req: GenerationRequest, sampling: SamplingParams) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": req.messages, "max_tokens": sampling.max_new_tokens,
                                "temperature": sampling.temperature, "top_p": sampling.top_p}
        if sampling.repetition_penalty != 1.0:
            # not in the standard API; vLLM and llama.cpp servers accept it. Hosted APIs: use 1.0.
            body["repetition_penalty"] = sampling.repetition_penalty
        if self.send_seed:
            body["seed"] = req.seed
        return body

    def _one(self, req: GenerationRequest, sampling: SamplingParams) -> Completion:
        body = self._payload(req, sampling)
        last = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                delay = self.backoff * 2 ** (attempt - 1) * (1 + 0.25 * random.random())
                log.debug("openai: retry %d after %s (sleep %.2fs)", attempt, last, delay)
                time.sleep(delay)
            try:
                resp = self.client.post("/chat/completions", json=body)
            except httpx.TimeoutException:
                last = f"timeout after {self.timeout:g}s"
                continue
            except httpx.TransportError as exc:
                last = f"connection error: {type(exc).__name__}"
                continue
            if resp.status_code in _FATAL:
                raise GenerationError(f"{self.base_url}/chat/completions answered HTTP {resp.status_code}: "
                                      f"{_FATAL[resp.status_code]}")
            if resp.status_code == 429 or resp.status_code >= 500:
                last = f"HTTP {resp.status_code}"
                continue
            if resp.status_code >= 400:
                return Completion("", 0, None, error=f"HTTP {resp.status_code}: {resp.text[:200]}")
            try:
                data = resp.json()
                choice = data["choices"][0]
                text = choice["message"]["content"] or ""
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                return Completion("", 0, None, error=f"malformed response ({type(exc).__name__})")
            usage = data.get("usage") or {}
            n = int(usage.get("completion_tokens") or len(text.split()))
            return Completion(text, n, choice.get("finish_reason"))
        return Completion("", 0, None, error=f"gave up after {self.max_retries + 1} attempts: {last}")

    def generate(self, requests: list[GenerationRequest], sampling: SamplingParams) -> list[Completion]:
        return list(self.pool.map(lambda r: self._one(r, sampling), requests))

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model, "model_sha256": None, "base_url": self.base_url,
                "options": {"concurrency": self.concurrency, "timeout": self.timeout,
                            "max_retries": self.max_retries, "backoff": self.backoff, "send_seed": self.send_seed,
                            "api_key_env": self.api_key_env, "top_k": "not sent (server default)"}}

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.client.close()
