"""``synrank push`` against a stub of the Hugging Face Hub's HTTP API on 127.0.0.1 (no network).

The stub answers the calls ``huggingface_hub`` makes for a small upload (create the repository, validate
the card's YAML, pre-upload, commit) and keeps what it received. Not covered here, since no real Hub is
reachable: LFS/Xet transfers of large files (the stub asks for every file inline), the Hub's own YAML
validation, and what "private" means on the Hub.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from tests.reliability.harness import assert_clean_failure, run_cli

TOKEN = "hf_stub_token_that_must_not_be_stored_0123456789"


class FakeHub:
    """The Hub API subset an upload uses, recording requests and the files committed."""

    def __init__(self, refuse: int | None = None):
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.created: list[dict] = []
        self.files: dict[str, bytes] = {}
        self.commits: list[dict] = []
        self.refuse = refuse
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _reply(self, code: int, obj: dict) -> None:
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802
                hub.requests.append(("GET", self.path, dict(self.headers)))
                self._reply(404, {"error": "not in the stub"})

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hub.requests.append(("POST", self.path, dict(self.headers)))
                base = f"http://127.0.0.1:{hub.port}"
                if hub.refuse:
                    self._reply(hub.refuse, {"error": "Invalid credentials in Authorization header"})
                elif self.path == "/api/repos/create":
                    req = json.loads(body)
                    hub.created.append(req)
                    prefix = "" if req.get("type", "model") == "model" else f"{req['type']}s/"
                    owner = req.get("organization") or "me"
                    self._reply(200, {"url": f"{base}/{prefix}{owner}/{req['name']}"})
                elif self.path == "/api/validate-yaml":
                    content = json.loads(body)["content"]
                    try:
                        yaml.safe_load(content.split("---\n")[1])
                        self._reply(200, {})
                    except Exception as exc:  # the Hub answers 400 with the errors
                        self._reply(400, {"errors": [{"message": str(exc)}]})
                elif "/preupload/" in self.path:
                    files = json.loads(body)["files"]
                    self._reply(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                                for f in files]})
                elif "/commit/" in self.path:
                    lines = [json.loads(ln) for ln in body.decode().splitlines() if ln.strip()]
                    hub.commits.append({"path": self.path, "header": lines[0]["value"]})
                    for ln in lines[1:]:
                        if ln["key"] == "file":
                            hub.files[ln["value"]["path"]] = base64.b64decode(ln["value"]["content"])
                    repo = self.path.split("/commit/")[0].removeprefix("/api/")
                    self._reply(200, {"commitUrl": f"{base}/{repo}/commit/{'a' * 40}", "commitOid": "a" * 40})
                else:
                    self._reply(404, {"error": f"no stub for {self.path}"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hub():
    server = FakeHub()
    yield server
    server.close()


def _env(tmp_path: Path, endpoint: str, **extra: str) -> dict[str, str]:
    return {"HF_ENDPOINT": endpoint, "HF_TOKEN": TOKEN, "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0",
            "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_DISABLE_TELEMETRY": "1", **extra}


def _no_token_anywhere(*roots: Path) -> None:
    for root in roots:
        for p in root.rglob("*"):
            if p.is_file():
                assert TOKEN.encode() not in p.read_bytes(), f"token written to {p}"


@pytest.fixture
def model_folder(tiny_model, tmp_path) -> Path:
    folder = tmp_path / "my-model"
    shutil.copytree(tiny_model, folder)
    (folder / "checkpoints" / "step-1").mkdir(parents=True)
    (folder / "checkpoints" / "step-1" / "optimizer.pt").write_bytes(b"x")
    (folder / ".lock").write_text("")
    return folder


def test_push_model_folder(hub, model_folder, tmp_path):
    res = run_cli("push", model_folder, "--repo-id", "me/tiny", "--private", env=_env(tmp_path, hub.url))
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"pushed {len(hub.files)} files") and f"{hub.url}/me/tiny" in res.stdout
    [req] = hub.created
    assert req["name"] == "tiny" and req.get("organization") == "me" and req.get("type", "model") == "model"
    assert req.get("visibility") == "private" or req.get("private") is True
    local = {p.relative_to(model_folder).as_posix(): p.read_bytes() for p in model_folder.rglob("*")
             if p.is_file() and "checkpoints" not in p.parts and p.name != ".lock"}
    assert hub.files == local  # the card was written before the upload, and went up with the weights
    assert "README.md" in hub.files and b"library_name: sentence-transformers" in hub.files["README.md"]
    posts = [r for r in hub.requests if r[0] == "POST"]
    assert posts and all(h.get("authorization") == f"Bearer {TOKEN}" or h.get("Authorization") == f"Bearer {TOKEN}"
                         for _, _, h in posts)
    _no_token_anywhere(model_folder, tmp_path / "hf-home")


def test_push_dataset_folder(hub, tmp_path):
    src = Path(__file__).resolve().parents[1] / "data" / "synthetic" / "msmarco-smollm2-anchored"
    folder = tmp_path / "ds"
    shutil.copytree(src, folder)
    res = run_cli("push", folder, "--repo-id", "org/graded", env=_env(tmp_path, hub.url))
    assert res.returncode == 0, res.stderr
    assert hub.created[0]["type"] == "dataset"
    assert hub.created[0].get("visibility") in (None, "public") and not hub.created[0].get("private")
    assert hub.commits[0]["path"].startswith("/api/datasets/org/graded/commit/")
    front = yaml.safe_load(hub.files["README.md"].decode().split("---\n")[1])
    shards = sorted(p.name for p in folder.glob("shard-*.jsonl.gz"))
    assert front["configs"][0]["data_files"][0]["path"] == shards
    assert set(shards) <= set(hub.files) and hub.files["shard-00000.jsonl.gz"] == (folder / shards[0]).read_bytes()
    _no_token_anywhere(folder)
    # a current card is not rewritten (hand edits survive); a stale one is
    readme = folder / "README.md"
    readme.write_text(readme.read_text().replace("# Data card:", "License: see LICENSE.\n\n# Data card:"))
    assert run_cli("push", folder, "--repo-id", "org/graded", env=_env(tmp_path, hub.url)).returncode == 0
    assert b"License: see LICENSE." in hub.files["README.md"]
    (folder / "shard-00017.jsonl.gz").rename(folder / "shard-00018.jsonl.gz")
    assert run_cli("push", folder, "--repo-id", "org/graded", env=_env(tmp_path, hub.url)).returncode == 0
    assert b"shard-00018.jsonl.gz" in hub.files["README.md"] and b"License" not in hub.files["README.md"]


@pytest.mark.parametrize("variable", ["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"])
def test_refuses_when_offline_is_set(hub, model_folder, tmp_path, variable):
    res = run_cli("push", model_folder, "--repo-id", "me/tiny", env=_env(tmp_path, hub.url, **{variable: "1"}))
    assert_clean_failure(res, "HubError", f"offline: {variable}=1 is set", "nothing is uploaded")
    assert hub.requests == []


def test_refuses_without_network(model_folder, tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = run_cli("push", model_folder, "--repo-id", "me/tiny", env=_env(tmp_path, f"http://127.0.0.1:{port}"))
    assert_clean_failure(res, "HubError", f"cannot reach http://127.0.0.1:{port}", "offline?")


def test_refuses_without_token(hub, model_folder, tmp_path):
    env = _env(tmp_path, hub.url)
    env["HF_TOKEN"] = ""
    res = run_cli("push", model_folder, "--repo-id", "me/tiny", env=env)
    assert_clean_failure(res, "no Hugging Face token", "HF_TOKEN")
    assert hub.requests == []


def test_hub_refusal_is_one_line(model_folder, tmp_path):
    server = FakeHub(refuse=401)
    try:
        res = run_cli("push", model_folder, "--repo-id", "me/tiny", env=_env(tmp_path, server.url))
    finally:
        server.close()
    assert_clean_failure(res, "the Hub refused the upload to me/tiny", "check HF_TOKEN")
    assert TOKEN not in res.stderr + res.stdout


def test_bad_folder_and_repo_id(tmp_path, hub):
    (tmp_path / "empty").mkdir()
    assert_clean_failure(run_cli("push", tmp_path / "empty", "--repo-id", "me/x", env=_env(tmp_path, hub.url)),
                         "neither a model folder")
    assert_clean_failure(run_cli("push", tmp_path / "empty", "--repo-id", "x", env=_env(tmp_path, hub.url)),
                         "must be NAMESPACE/NAME")
