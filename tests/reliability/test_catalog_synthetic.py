"""Catalog: synthetic generation against bad replies, failing servers and bad arguments.

The LLM server is a real local ``http.server`` thread (:class:`tests.reliability.conftest.FakeLLMServer`)
spoken to by the ``openai`` backend over HTTP.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
from pathlib import Path

import pytest

from synrank.data.shards import iter_rejects  # noqa: E402
from tests.reliability.harness import (
    assert_clean_failure,
    assert_nothing_half_written,
    assert_usage_error,
    listing,
    run_cli_inprocess,
)


def _generate(queries: Path, out: Path, *extra: str, server=None, strategy: str = "direct-json"):
    args = ["generate", "--queries", queries, "--output", out, "--strategy", strategy, "--no-progress",
            "--max-attempts", "2"]
    if server is not None:
        args += ["--backend", "openai", "--model", "fake-model",
                 "--backend-option", f"base_url={server.url}", "--backend-option", "timeout=0.3",
                 "--backend-option", "max_retries=1", "--backend-option", "backoff=0.01"]
    return run_cli_inprocess(*args, *extra)


def _groups(out: Path) -> list[dict]:
    recs = []
    for shard in sorted(out.glob("shard-*.jsonl")):
        text = shard.read_text()
        assert not text or text.endswith("\n"), f"{shard} ends in a partial line"
        recs += [json.loads(line) for line in text.splitlines() if line.strip()]
    return recs


def _reasons(out: Path) -> list[str]:
    from synrank.data.shards import iter_rejects

    return [r.get("reason", "") for r in iter_rejects(out)] if out.exists() else []


@pytest.mark.parametrize(("mode", "reason"), [
    ("garbage", "no JSON object in the reply"),
    ("500", "HTTP 500"),
    ("slow", "timeout after 0.3s"),
], ids=["unparseable-llm-reply", "llm-server-http-500", "llm-server-timeout"])
def test_failing_llm_replies_never_become_groups(llm_server, query_file, tmp_path, mode, reason):
    """Every bad reply is rejected with its reason recorded; no group and no partial line is written.

    A server that fails *every* request stops the run with one error (see the outage test below).
    """
    llm_server.mode = mode
    out = tmp_path / "gen"
    res = _generate(query_file, out, server=llm_server)
    assert "Traceback" not in res.stderr, res.stderr
    assert _groups(out) == []
    reasons = _reasons(out)
    errors = res.error_lines
    assert any(reason in r for r in reasons) or (res.returncode != 0 and len(errors) == 1
                                                  and reason in errors[0]), (reasons, res.stderr)
    assert not [p for p in listing(out) if ".tmp" in p]


def test_llm_server_outage_stops_the_run_and_resume_retries_its_queries(llm_server, query_file, tmp_path):
    """A server that fails every request is one clear error, and the queries it hit are not closed:
    once the server answers again, re-running the same command generates them (found bugs R4/R5)."""
    out = tmp_path / "gen"
    llm_server.mode = "500"
    res = _generate(query_file, out, server=llm_server, strategy="direct")
    assert_clean_failure(res, "all", "re-run the same command to resume")
    assert _groups(out) == []
    before = llm_server.requests
    llm_server.mode = "ok"  # the server answers again (its short passages are then rejected on content)
    res = _generate(query_file, out, server=llm_server, strategy="direct")
    assert res.returncode == 0, res.stderr
    assert llm_server.requests > before, "the resume did not retry the queries the outage hit"
    retried = {r["query_id"] for r in iter_rejects(out) if "too short" in r.get("reason", "")}
    assert retried == {"1", "2"}


def test_llm_server_401_is_one_error(llm_server, query_file, tmp_path):
    llm_server.mode = "401"
    out = tmp_path / "gen"
    res = _generate(query_file, out, server=llm_server)
    assert_clean_failure(res, "answered HTTP 401", "check the API key variable")
    assert _groups(out) == []
    assert not (out / "log" / "active.json").exists(), "stale marker of the failed session (R6)"


def test_api_key_is_never_logged(llm_server, query_file, tmp_path, monkeypatch, caplog):
    secret = "sk-synrank-test-5ecret-0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    caplog.set_level(logging.DEBUG)
    out = tmp_path / "gen"
    llm_server.mode = "500"  # exercises the retry/debug log paths too
    res500 = _generate(query_file, out / "a", "-v", server=llm_server)
    llm_server.mode = "json"
    res = run_cli_inprocess("-v", "generate", "--queries", query_file, "--output", out / "b", "--strategy",
                            "direct-json", "--no-progress", "--backend", "openai", "--model", "fake-model",
                            "--backend-option", f"base_url={llm_server.url}")
    assert res.returncode == 0, res.stderr
    assert f"Bearer {secret}" in llm_server.auth_headers, "the key was not sent: the test proves nothing"
    assert secret not in caplog.text
    for r in (res500, res):
        assert secret not in r.stderr and secret not in r.stdout
    for path in out.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"API key written to {path}"


def test_resume_with_different_settings_is_refused(query_file, tmp_path):
    out = tmp_path / "gen"
    first = _generate(query_file, out, "--backend", "echo", "--limit", "1", strategy="direct")
    assert first.returncode == 0, first.stderr
    before = {p: (out / p).read_bytes() for p in listing(out) if (out / p).is_file() and "shard" in p}
    res = _generate(query_file, out, "--backend", "echo", "--limit", "2", "--temperature", "0.9", strategy="direct")
    assert_clean_failure(res, "generation.json", "different settings (sampling)", "original settings")
    assert {p: (out / p).read_bytes() for p in before} == before


def test_unknown_backend_option(query_file, tmp_path):
    out = tmp_path / "gen"
    res = _generate(query_file, out, "--backend", "echo", "--backend-option", "colour=blue", strategy="direct")
    assert_clean_failure(res, "bad option for backend 'echo'", "colour")
    assert not list(out.glob("shard-*"))


def test_negative_limit(query_file, tmp_path):
    out = tmp_path / "gen"
    assert_clean_failure(_generate(query_file, out, "--backend", "echo", "--limit", "-1"),
                         "field 'limit': -1 is out of range (allowed: 0 <= limit <= 1000000000, or null)")
    assert_nothing_half_written(out)


def test_bad_levels_argument(query_file, tmp_path):
    assert_usage_error(_generate(query_file, tmp_path / "gen", "--levels", "3,x"), "--levels", "'3,x'")


def test_malformed_query_file(tmp_path):
    queries = tmp_path / "queries.tsv"
    queries.write_text("1\tfirst query about otters\nsecond line has no tab\n")
    out = tmp_path / "gen"
    res = _generate(queries, out, "--backend", "echo", strategy="direct")
    assert_clean_failure(res, "queries.tsv:2", "id<TAB>text")
    assert not list(out.glob("shard-*")) if out.exists() else True


def test_torn_synthetic_shard_is_repaired_on_resume(query_file, tmp_path, caplog):
    """A generator killed mid-line leaves a torn shard: the trainer's reader skips that incomplete group
    with a warning, and a resume cuts the line and completes the query."""
    from synrank.data.groups import read_groups

    out = tmp_path / "gen"
    assert _generate(query_file, out, "--backend", "echo", "--limit", "1", strategy="direct").returncode == 0
    shard = next(out.glob("shard-*.jsonl"))
    with open(shard, "a") as fh:
        fh.write('{"schema": "synrank.groups/v1", "query_id": "2", "qu')
    assert [g.query_id for g in read_groups(out)] == ["1"]
    assert "ignoring a torn last line" in caplog.text
    assert _generate(query_file, out, "--backend", "echo", "--limit", "2", strategy="direct").returncode == 0
    assert sorted(g.query_id for g in read_groups(out)) == ["1", "2"]


# ------------------------------------------------------------------------------- round two (issue 15)
def test_credentials_in_base_url_never_reach_disk_or_logs(llm_server, query_file, tmp_path, monkeypatch, caplog):
    """A key in ``base_url`` (``http://user:KEY@host``, ``?key=TOKEN``) used to be saved verbatim in
    generation.json and every group's provenance. It is still sent (Basic auth, the query parameter), and
    recorded and logged masked; a grep of every file the run writes, its logs and output finds neither."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    password, token = "pw-5ecret-0123456789abcdef", "tok-5ecret-9876543210fedcba"
    base = llm_server.url.replace("http://", f"http://alice:{password}@") + f"?key={token}&api-version=2024"
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="httpx")  # other tests' CLI calls may have quietened it
    out = tmp_path / "gen"
    llm_server.mode = "varied"
    res = run_cli_inprocess("-v", "generate", "--queries", query_file, "--out", out, "--strategy", "direct-json",
                            "--no-progress", "--backend", "openai", "--model", "fake-model",
                            "--backend-option", f"base_url={base}")
    assert res.returncode == 0, res.stderr
    assert f"Basic {base64.b64encode(f'alice:{password}'.encode()).decode()}" in llm_server.auth_headers, \
        "the password was not sent: the test proves nothing"
    assert any(f"key={token}" in p and p.startswith("/v1/chat/completions") for p in llm_server.paths), \
        llm_server.paths
    assert "/v1/chat/completions?key=***&api-version=2024" in caplog.text, "httpx did not log the URL: no proof"
    written = [p for p in out.rglob("*") if p.is_file()]
    assert _groups(out) and any(p.name == "generation.json" for p in written), "no group written: no proof"
    for secret in (password, token):
        assert secret not in caplog.text and secret not in res.stderr and secret not in res.stdout
        for path in written:
            data = path.read_bytes()
            if path.suffix == ".gz":
                data = gzip.decompress(data)
            assert secret.encode() not in data, f"a credential was written to {path}"
    masked = llm_server.url.replace("http://", "http://***@") + "?key=***&api-version=2024"
    assert json.loads((out / "generation.json").read_text())["backend_info"]["base_url"] == masked
    assert {g["provenance"]["base_url"] for g in _groups(out)} == {masked}


@pytest.mark.parametrize("value", ["AbCdEf0123456789XyZ987654321qRsT", "sk-proj-5ecret-0123456789"])
def test_api_key_placed_in_api_key_env_is_refused(query_file, tmp_path, value):
    """``api_key_env`` names the variable holding the key; a value that looks like the key itself used to
    be recorded in generation.json as that name. Refused with a hint, without printing the value."""
    out = tmp_path / "gen"
    res = run_cli_inprocess("generate", "--queries", query_file, "--out", out, "--strategy", "direct",
                            "--no-progress", "--backend", "openai", "--model", "m",
                            "--backend-option", f"api_key_env={value}")
    line = assert_clean_failure(res, "GenerationError: api_key_env", "takes the NAME of the environment variable")
    assert value not in res.stderr + res.stdout and value[:8] not in line
    assert_nothing_half_written(out)


@pytest.mark.parametrize(("content", "expect"), [
    ("1\tfine query\nq 2\tanother query\n", "queries.tsv:2: query id 'q 2' contains whitespace (U+0020)"),
    ("1\tfine query\n2\t\u200b\n", "queries.tsv:2: empty query text for '2'"),
])
def test_generation_refuses_queries_training_would_refuse(tmp_path, content, expect):
    """Validation is one layer: a query id or text the trainer's group reader refuses is refused where the
    queries are read, before any group is generated from it."""
    queries = tmp_path / "queries.tsv"
    queries.write_text(content, encoding="utf-8")
    out = tmp_path / "gen"
    assert_clean_failure(_generate(queries, out, "--backend", "echo", strategy="direct"), expect)
    assert_nothing_half_written(out)


def test_sycl_import_applies_the_group_rules(tmp_path):
    source = tmp_path / "sycl.jsonl"
    source.write_text(json.dumps({"query_id": "7", "query": "q", "passages": [{"text": "t", "score": 5000}]}) + "\n")
    out = tmp_path / "imported"
    res = run_cli_inprocess("synthetic-import", source, "--out", out, "--no-guard")
    assert_clean_failure(res, "sycl.jsonl:1: passages[0].grade 5000 is out of range (-1000 to 1000)")
    assert not out.exists() or not any(out.iterdir())
