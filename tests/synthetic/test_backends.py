"""Each backend against a real server or model where one runs here."""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from synrank.errors import GenerationError
from synrank.synthetic.backends import GenerationRequest, SamplingParams, create_backend
from synrank.synthetic.prompts import anchored_messages


class _Handler(BaseHTTPRequestHandler):
    """A minimal OpenAI-compatible /v1/chat/completions endpoint with scripted failures."""

    server: _Server

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_POST(self):
        srv = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with srv.lock:
            srv.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
            action = srv.script.pop(0) if srv.script else "ok"
        if self.path != "/v1/chat/completions":
            self.send_response(404)
            self.end_headers()
            return
        if action == "sleep":
            time.sleep(1.5)
        if isinstance(action, int):
            self.send_response(action)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"error": "scripted"}')
            return
        user = body["messages"][-1]["content"]
        text = f"reply to [{user.splitlines()[0]}] seed={body.get('seed')} t={body['temperature']}"
        payload = {"id": "x", "object": "chat.completion", "model": body["model"],
                   "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17}}
        data = json.dumps(payload).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.script: list = []


@pytest.fixture
def server():
    srv = _Server()
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _reqs(n):
    return [GenerationRequest(anchored_messages(f"question {i}"), seed=100 + i) for i in range(n)]


def _backend(server, **kw):
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    return create_backend("openai", "tiny-model", base_url=url, **kw)


def test_openai_concurrent_requests_in_order_with_seed_and_key(server, monkeypatch):
    monkeypatch.setenv("SYNRANK_TEST_KEY", "sk-secret-123")
    with _backend(server, concurrency=4, api_key_env="SYNRANK_TEST_KEY") as b:
        out = b.generate(_reqs(10), SamplingParams(temperature=0.5, max_new_tokens=20))
        info = b.describe()
    assert [c.text.split("]")[0] for c in out] == [f"reply to [Question: question {i}" for i in range(10)]
    assert all(c.n_tokens == 7 and c.finish_reason == "stop" and c.error is None for c in out)
    assert "seed=103" in out[3].text
    bodies = [r["body"] for r in server.requests]
    assert all(b_["max_tokens"] == 20 and b_["model"] == "tiny-model" for b_ in bodies)
    assert {r["auth"] for r in server.requests} == {"Bearer sk-secret-123"}
    assert "sk-secret-123" not in json.dumps(info)


def test_openai_retries_5xx_then_succeeds(server):
    server.script = [500, 503]
    with _backend(server, concurrency=1, backoff=0.01) as b:
        out = b.generate(_reqs(1), SamplingParams())
    assert out[0].error is None and out[0].text.startswith("reply")
    assert len(server.requests) == 3


def test_openai_gives_up_after_retries_and_reports_error(server):
    server.script = [500] * 10
    with _backend(server, concurrency=1, backoff=0.01, max_retries=2) as b:
        out = b.generate(_reqs(1), SamplingParams())
    assert out[0].text == "" and "HTTP 500" in out[0].error and "3 attempts" in out[0].error
    assert len(server.requests) == 3


def test_openai_timeout_is_retried(server):
    server.script = ["sleep"]
    with _backend(server, concurrency=1, backoff=0.01, timeout=0.5) as b:
        t0 = time.perf_counter()
        out = b.generate(_reqs(1), SamplingParams())
    assert out[0].error is None and time.perf_counter() - t0 < 5
    assert len(server.requests) == 2


def test_openai_auth_failure_is_fatal(server):
    server.script = [401]
    with _backend(server, concurrency=1) as b, pytest.raises(GenerationError, match="401"):
        b.generate(_reqs(1), SamplingParams())


def test_openai_unreachable_server_reports_connection_error():
    b = create_backend("openai", "m", base_url="http://127.0.0.1:9/v1", max_retries=1, backoff=0.01, timeout=1)
    with b:
        out = b.generate(_reqs(1), SamplingParams())
    assert "connection error" in out[0].error


def test_vllm_missing_gives_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm -> ImportError even if installed
    with pytest.raises(GenerationError, match="pip install 'synrank\\[generate\\]'"):
        create_backend("vllm", "some/model")


def test_llamacpp_missing_gives_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(GenerationError, match="llama-cpp-python"):
        create_backend("llamacpp", "smollm2")


def test_unknown_backend_and_bad_option():
    with pytest.raises(GenerationError, match="unknown backend"):
        create_backend("nope")
    with pytest.raises(GenerationError, match="bad option"):
        create_backend("echo", None, not_an_option=1)


def test_echo_is_deterministic_by_seed():
    b = create_backend("echo")
    a1 = b.generate(_reqs(3), SamplingParams())
    a2 = b.generate(_reqs(3), SamplingParams())
    assert [c.text for c in a1] == [c.text for c in a2]
    assert len({c.text for c in a1}) == 3


@pytest.mark.slow
def test_transformers_gguf_smollm2_generates_text():
    """Real SmolLM2-135M through transformers + gguf on 2 queries (model load ~30 s on 2 cores)."""
    b = create_backend("transformers-gguf", "smollm2", threads=2)
    reqs = [GenerationRequest(anchored_messages(q), seed=1) for q in ("what is a roth ira", "how to boil an egg")]
    out = b.generate(reqs, SamplingParams(max_new_tokens=24, temperature=0.5))
    info = b.describe()
    assert len(out) == 2
    for c in out:
        assert c.error is None and 0 < c.n_tokens <= 24 and len(c.text.split()) >= 3
    assert info["model_sha256"] and len(info["model_sha256"]) == 64
    # same seeds, same batch -> same text (torch.manual_seed per batch)
    again = b.generate(reqs, SamplingParams(max_new_tokens=24, temperature=0.5))
    assert [c.text for c in again] == [c.text for c in out]
