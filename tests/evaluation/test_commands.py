"""``synrank evaluate``: --run end to end on shipped data, --model argument wiring, errors."""

from __future__ import annotations

import argparse
import json
import re
import sys
import types
from pathlib import Path

import pytest

from synrank.cli import build_parser, main
from synrank.data import load_dataset
from synrank.data.trec import write_run
from synrank.io import sha256_file
from tests.conftest import need_datasets


def run_cli(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_evaluate_shipped_bm25_run_with_artifacts(shared_datasets, tmp_path, capsys):
    run_path = shared_datasets / "trec-dl-2019" / "bm25_top100.trec"
    out_dir = tmp_path / "out"
    code, out, err = run_cli(["evaluate", "--run", str(run_path), "--dataset", "trec-dl-2019",
                              "--output", str(out_dir)], capsys)
    assert code == 0, err
    assert "43 judged queries" in out and "relevance threshold 2" in out
    assert any(line.split() == ["nDCG@10", "0.5058"] for line in out.splitlines())

    metrics = json.loads((out_dir / "metrics.json").read_text())
    dataset = load_dataset("trec-dl-2019", corpus=False)
    assert metrics["dataset"]["sha256"] == dataset.sha256()
    assert metrics["config"]["dataset_sha256"] == dataset.sha256()
    assert metrics["run"]["sha256"] == sha256_file(run_path)
    assert metrics["config"]["relevance_threshold"] == 2
    assert len(metrics["config_hash"]) == 16
    assert "pytrec-eval-terrier" in metrics["versions"] and "cpu_count" in metrics["hardware"]
    assert round(metrics["aggregate"]["nDCG@10"], 4) == 0.5058
    assert metrics["n_queries"] == 43

    lines = (out_dir / "per_query.tsv").read_text().splitlines()
    assert lines[0].split("\t")[:2] == ["query_id", "nDCG@1"]
    assert len(lines) == 44
    per_query = [float(line.split("\t")[4]) for line in lines[1:]]
    assert sum(per_query) / 43 == pytest.approx(metrics["aggregate"]["nDCG@10"], abs=1e-12)
    assert not [p for p in out_dir.iterdir() if p.name.endswith(".tmp")]

    # same inputs -> same config hash
    code, _, _ = run_cli(["evaluate", "--run", str(run_path), "--dataset", "trec-dl-2019",
                          "--output", str(tmp_path / "again")], capsys)
    assert json.loads((tmp_path / "again" / "metrics.json").read_text())["config_hash"] == metrics["config_hash"]


def test_measures_option_and_json(shared_datasets, capsys):
    need_datasets(shared_datasets, "trec-dl-2020")
    run_path = shared_datasets / "trec-dl-2020" / "bm25_top100.trec"
    code, out, err = run_cli(["evaluate", "--run", str(run_path), "--dataset", "trec-dl-2020",
                              "--measures", "ndcg@10,MAP@100", "--json"], capsys)
    assert code == 0, err
    scores = json.loads(out)
    assert list(scores) == ["nDCG@10", "MAP@100"]
    assert round(scores["nDCG@10"], 4) == 0.4796


def test_run_on_the_wrong_dataset_is_an_error(shared_datasets, capsys):
    need_datasets(shared_datasets, "trec-dl-2020")
    run_path = shared_datasets / "trec-dl-2019" / "bm25_top100.trec"
    code, _, err = run_cli(["evaluate", "--run", str(run_path), "--dataset", "trec-dl-2020"], capsys)
    assert code == 2
    assert "none of the 43 queries in the run is judged in trec-dl-2020/test" in err


def test_malformed_run_names_file_and_line(shared_datasets, tmp_path, capsys):
    bad = tmp_path / "bad.trec"
    bad.write_text("264014 Q0 5611210 1 15.7 bm25\n264014 Q0 6641238 2 x bm25\n")
    code, _, err = run_cli(["evaluate", "--run", str(bad), "--dataset", "trec-dl-2019"], capsys)
    assert code == 2
    assert f"{bad}:2: score 'x' is not a number" in err


def test_gz_run_and_partial_run(shared_datasets, tmp_path, capsys, caplog):
    run_path = tmp_path / "one.trec.gz"
    write_run({"264014": {"5611210": 1.0}, "not-judged": {"x": 1.0}}, run_path)
    code, out, err = run_cli(["evaluate", "--run", str(run_path), "--dataset", "trec-dl-2019", "--json"], capsys)
    assert code == 0, err
    assert "1 of 2 queries in the run have no judgments" in caplog.text
    assert json.loads(out)["nDCG@10"] < 0.05  # 42 of 43 judged queries score 0


@pytest.mark.parametrize("extra", [["--mode", "full"], ["--top-k", "10"], ["--no-cache"], ["--name", "x"],
                                   ["--batch-size", "8"], ["--max-length", "64"], ["--candidates", "c.trec"],
                                   ["--backend", "torch-fp32"]])
def test_model_options_rejected_with_run(shared_datasets, extra, capsys):
    run_path = shared_datasets / "trec-dl-2019" / "bm25_top100.trec"
    code, _, err = run_cli(["evaluate", "--run", str(run_path), "--dataset", "trec-dl-2019", *extra], capsys)
    assert code == 2 and "only apply with --model" in err


def test_usage_errors(capsys):
    with pytest.raises(SystemExit) as info:
        main(["evaluate", "--run", "a", "--model", "b", "--dataset", "x"])
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        main(["evaluate", "--dataset", "x"])
    with pytest.raises(SystemExit):
        main(["evaluate", "--model", "m", "--dataset", "x", "--top-k", "0"])
    capsys.readouterr()
    code, _, err = run_cli(["evaluate", "--run", "r.trec", "--dataset", "trec-dl-2019", "--measures", "BLEU"],
                           capsys)
    assert code == 2 and "unknown measure" in err


def test_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["evaluate", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--run", "--model", "--dataset", "--split", "--output", "--mode", "--top-k", "--batch-size",
                   "--max-length", "--no-cache", "--name", "--backend"):
        assert option in out


def test_backend_help_names_every_backend():
    """The --backend help lists the names by hand (importing the backends module would load torch at every
    command's start-up); it must name exactly the backends the module accepts."""
    from synrank.retrieval.backends import BACKENDS

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    option = next(a for a in commands.choices["evaluate"]._actions if "--backend" in a.option_strings)
    assert set(re.findall(r"\b(?:torch|openvino|onnx)-(?:fp32|bf16|int8)\b", option.help)) == set(BACKENDS)


@pytest.fixture
def fake_pipeline(monkeypatch):
    """Stand-in for synrank.evaluation.pipeline that records how it was called."""
    calls = []

    def evaluate_model(model, dataset, **kwargs):
        calls.append((model, dataset, kwargs))
        return types.SimpleNamespace(aggregate={"nDCG@10": 0.6451}, per_query={}, n_queries=300, config={},
                                     config_hash="0" * 16, timings={}, output_dir=kwargs.get("output_dir"))

    module = types.ModuleType("synrank.evaluation.pipeline")
    module.evaluate_model = evaluate_model
    monkeypatch.setitem(sys.modules, "synrank.evaluation.pipeline", module)
    return calls


def test_model_mode_wiring(fake_pipeline, tmp_path, capsys):
    code, out, _ = run_cli(["evaluate", "--model", "all-MiniLM-L6-v2", "--dataset", "scifact", "--split", "test",
                            "--output", str(tmp_path), "--mode", "full", "--top-k", "100", "--batch-size", "16",
                            "--max-length", "256", "--no-cache", "--name", "minilm", "--backend", "openvino-fp32"],
                           capsys)
    assert code == 0
    assert fake_pipeline == [("all-MiniLM-L6-v2", "scifact",
                              {"split": "test", "output_dir": Path(tmp_path), "mode": "full", "top_k": 100,
                               "batch_size": 16, "max_length": 256, "cache": False, "name": "minilm",
                               "backend": "openvino-fp32"})]
    assert "minilm on scifact/test: 300 judged queries" in out and "0.6451" in out


def test_model_mode_defaults_leave_pipeline_defaults(fake_pipeline, capsys):
    code, _, _ = run_cli(["evaluate", "--model", "m", "--dataset", "scifact"], capsys)
    assert code == 0
    assert fake_pipeline == [("m", "scifact", {"split": None, "output_dir": None, "mode": "auto"})]
    fake_pipeline.clear()
    code, _, _ = run_cli(["evaluate", "--model", "m", "--dataset", "trec-dl-2019", "--measures", "ndcg@10,AP",
                          "--mode", "rerank", "--candidates", "c.trec"], capsys)
    assert code == 0
    assert fake_pipeline == [("m", "trec-dl-2019", {"split": None, "output_dir": None, "mode": "rerank",
                                                     "measures": ("nDCG@10", "MAP"), "candidates": Path("c.trec")})]
