"""``echo``: a fake, fast, deterministic backend FOR TESTS AND DRY RUNS ONLY.

It does not run a language model. Each completion is the source query taken from the prompt followed
by filler words drawn from a seeded RNG, so the pipeline (batching, validation, retries, resume, data
card) can be exercised in milliseconds. For the all-in-one prompt it returns a JSON object. Options:
``fail_rate`` (share of requests answered with an empty text, decided by the seed, to exercise
rejects and retries) and ``delay`` (seconds to sleep per batch, to let a test kill the process mid-run).
Never use its output as training data.
"""

from __future__ import annotations

import json
import random
import re
import time
from typing import Any

from synrank.synthetic.backends.base import Backend, Completion, GenerationRequest, SamplingParams

_SYLLABLES = ("ka", "lo", "mi", "ter", "san", "vo", "ri", "del", "pa", "nu", "ges", "tor", "be", "fin", "ul", "ro",
              "cha", "mon", "ew", "is", "dra", "po", "lin", "ques")


def _source_text(messages: list[dict[str, str]]) -> str:
    user = messages[-1]["content"]
    m = re.search(r"^(?:Query|Question): (.*)$", user, flags=re.M)
    return m.group(1) if m else user.splitlines()[0]


class EchoBackend(Backend):
    name = "echo"
    preferred_batch_size = 16

    def __init__(self, model: str | None = None, fail_rate: float = 0.0, delay: float = 0.0, n_words: int = 60):
        self.fail_rate = float(fail_rate)
        self.delay = float(delay)
        self.n_words = int(n_words)

    def _passage(self, source: str, rng: random.Random) -> str:
        words = [rng.choice(_SYLLABLES) + rng.choice(_SYLLABLES) + rng.choice(_SYLLABLES) for _ in range(self.n_words)]
        return f"{source}. " + " ".join(words) + "."

    def generate(self, requests: list[GenerationRequest], sampling: SamplingParams) -> list[Completion]:
        if self.delay:
            time.sleep(self.delay)
        out = []
        for req in requests:
            rng = random.Random(req.seed)
            if rng.random() < self.fail_rate:
                out.append(Completion("", 0, "stop"))
                continue
            source = _source_text(req.messages)
            if "JSON object" in req.messages[-1]["content"]:
                text = json.dumps({g: self._passage(f"{source} {g}", rng) for g in ("3", "2", "1", "0")})
            else:
                text = self._passage(source, rng)
            out.append(Completion(text, len(text.split()), "stop"))
        return out

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": "echo (fake test backend, not a language model)",
                "model_sha256": None, "options": {"fail_rate": self.fail_rate, "n_words": self.n_words}}
