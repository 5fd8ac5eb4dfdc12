"""Fixtures of the reliability catalog: a small valid BEIR folder to break, and a TREC run for it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.reliability.harness import REPO

HEADER = "query-id\tcorpus-id\tscore"
DOCS = [{"_id": "d1", "title": "Alpha", "text": "alpha text about cats"},
        {"_id": "d2", "title": "", "text": "beta text about dogs"},
        {"_id": "d3", "title": "Gamma", "text": "gamma text about birds"}]
QUERIES = [{"_id": "q1", "text": "what is alpha"}, {"_id": "q2", "text": "what is beta"},
           {"_id": "q3", "text": "what is gamma"}]
QRELS = [("q1", "d1", 2), ("q1", "d3", 0), ("q2", "d2", 1), ("q3", "d3", 0)]
RUN = "q1 Q0 d1 1 2.0 t\nq1 Q0 d2 2 1.0 t\nq2 Q0 d2 1 3.0 t\nq3 Q0 d1 1 1.0 t\n"


def jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def qrels_text(rows=QRELS) -> str:
    return HEADER + "\n" + "".join(f"{q}\t{d}\t{g}\n" for q, d, g in rows)


def write_toy(root: Path) -> Path:
    """Write the valid BEIR-layout folder ``root`` (3 documents, 3 queries; q3 is judged but has no
    relevant document)."""
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(jsonl(DOCS), encoding="utf-8")
    (root / "queries.jsonl").write_text(jsonl(QUERIES), encoding="utf-8")
    (root / "qrels" / "test.tsv").write_text(qrels_text(), encoding="utf-8")
    return root


@pytest.fixture
def toy(tmp_path) -> Path:
    """A valid BEIR-layout folder ``toy`` (:func:`write_toy`)."""
    return write_toy(tmp_path / "toy")


@pytest.fixture
def run_file(tmp_path) -> Path:
    path = tmp_path / "run.trec"
    path.write_text(RUN, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_groups(tmp_path_factory) -> Path:
    from tests.training.conftest import make_groups, write_groups

    return write_groups(tmp_path_factory.mktemp("rel-groups") / "groups.jsonl", make_groups(24))


@pytest.fixture
def train_config(tmp_path, tiny_model, tiny_groups):
    """``train_config(name, **overrides) -> Path`` of a JSON training config for the tiny model."""
    from tests.training.conftest import tiny_config

    def make(name: str = "cfg", **overrides) -> Path:
        cfg = tiny_config(overrides.pop("base", tiny_model), overrides.pop("groups", tiny_groups), **overrides)
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(cfg), encoding="utf-8")
        return path

    return make


#: one passage per grade, different enough from each other to pass the generator's validation
VARIED_PASSAGES = {
    "3": "Sea otters stay warm because their dense underfur traps a layer of air against the skin, and they groom "
         "constantly so that this insulation keeps working in cold rivers and coastal water through the year.",
    "2": "Many marine mammals rely on thick blubber for insulation, although some species depend on fur instead; "
         "researchers compare metabolic rates to understand how animals survive frigid conditions at sea.",
    "1": "River ecosystems host fish, birds and mammals whose populations change with temperature, pollution and "
         "flow, so conservation groups monitor habitats along entire watersheds during every season.",
    "0": "The recipe calls for flour, butter, sugar and eggs; bake the mixture at moderate heat until golden, then "
         "let the cake cool completely before slicing it and serving it with fresh berries.",
}


class FakeLLMServer:
    """An OpenAI-compatible ``/v1/chat/completions`` endpoint on a local ``http.server`` thread.

    ``mode``: ``"ok"`` (a plain passage), ``"json"`` (an all-grades JSON object whose passages are too alike
    to pass validation), ``"varied"`` (an all-grades JSON object that passes it), ``"garbage"`` (text
    that is not the requested JSON), ``"500"``, ``"401"``, ``"slow"`` (sleeps ``delay`` s, then ok).
    Every request's Authorization header is kept in ``auth_headers``, its path and query in ``paths``.
    """

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        server = self
        self.mode = "ok"
        self.delay = 1.0
        self.auth_headers: list[str | None] = []
        self.paths: list[str] = []
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                import time

                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.requests += 1
                server.auth_headers.append(self.headers.get("Authorization"))
                server.paths.append(self.path)
                mode = server.mode
                if mode in ("500", "401"):
                    self.send_response(int(mode))
                    self.end_headers()
                    self.wfile.write(b"server says no")
                    return
                if mode == "slow":
                    time.sleep(server.delay)
                content = {
                    "varied": json.dumps(VARIED_PASSAGES),
                    "garbage": "Sure! Here are the passages you asked for, without any JSON.",
                    "json": json.dumps({g: f"Otters keep warm with dense fur, passage for grade {g}, "
                                           "written with enough words to pass the length checks of "
                                           "the validator in synrank." for g in "3210"}),
                }.get(mode, "Otters keep warm in cold rivers thanks to very dense fur that traps air.")
                body = json.dumps({"choices": [{"message": {"content": content}, "finish_reason": "stop"}],
                                   "usage": {"completion_tokens": 20}}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out first

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def llm_server():
    server = FakeLLMServer()
    yield server
    server.close()


@pytest.fixture
def query_file(tmp_path) -> Path:
    path = tmp_path / "queries.tsv"
    path.write_text("1\thow do sea otters keep warm in cold rivers\n"
                    "2\twhat makes the zorbian mountain goat climb so well\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def _guard_once():
    from synrank.data.leakage import evaluation_guard

    return evaluation_guard()


@pytest.fixture(autouse=True)
def _cached_evaluation_guard(_guard_once, monkeypatch):
    """The real leakage guard, built once per session (it reads every evaluation set: ~1 s per build)."""
    monkeypatch.setattr("synrank.data.leakage.evaluation_guard", lambda search_path=None: _guard_once)


@pytest.fixture
def held_lock(tmp_path):
    """Another process holding ``folder_lock`` on ``tmp_path / 'shared'`` until the test ends."""
    folder = tmp_path / "shared"
    code = textwrap.dedent(f"""
        import sys, time
        from synrank.io import folder_lock
        with folder_lock({str(folder)!r}):
            print("locked", flush=True)
            time.sleep(120)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout.readline().strip() == "locked"
    yield folder
    proc.kill()
    proc.wait()
