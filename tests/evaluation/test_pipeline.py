"""evaluate_model: one (model, dataset) cell end to end, artifacts, cache reuse, acceptance numbers."""

from __future__ import annotations

import json
import math

import pytest

from synrank.data.trec import read_run
from synrank.errors import ConfigError
from synrank.evaluation.evaluator import evaluate_run
from synrank.evaluation.pipeline import evaluate_model
from tests.retrieval.toy import ToyEncoder

# MTEB's published all-MiniLM-L6-v2 scifact nDCG@10 (64.51) and the acceptance tolerance (issue 2).
MTEB_SCIFACT_NDCG10 = 0.6451
# trec-dl-2019 MANIFEST.md: all-MiniLM-L6-v2 re-ranking of the BM25 top-100 pool.
MANIFEST_DL19_RERANK_NDCG10 = 0.6424


def ndcg_at_10(run_q: dict[str, float], qrels_q: dict[str, int]) -> float:
    """Independent float64 nDCG@10 with linear gains (trec_eval's definition)."""
    ranked = sorted(run_q.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    dcg = sum(qrels_q.get(d, 0) / math.log2(i + 2) for i, (d, _) in enumerate(ranked))
    ideal = sorted(qrels_q.values(), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


@pytest.fixture(scope="module")
def scifact_slice(shared_datasets, tmp_path_factory):
    """A real BEIR folder: 30 scifact test queries, their relevant abstracts and 120 other abstracts."""
    src = shared_datasets / "scifact"
    out = tmp_path_factory.mktemp("data") / "scifact-slice"
    (out / "qrels").mkdir(parents=True)
    qrels_lines = (src / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()
    header, rows = qrels_lines[0], [r.split("\t") for r in qrels_lines[1:]]
    qids = list(dict.fromkeys(r[0] for r in rows))[:30]
    keep_rows = [r for r in rows if r[0] in qids]
    wanted = {r[1] for r in keep_rows}
    docs = []
    with open(src / "corpus.jsonl", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if json.loads(line)["_id"] in wanted or i < 120:
                docs.append(line)
    (out / "corpus.jsonl").write_text("".join(docs), encoding="utf-8")
    with open(src / "queries.jsonl", encoding="utf-8") as fh:
        queries = [line for line in fh if json.loads(line)["_id"] in set(qids)]
    (out / "queries.jsonl").write_text("".join(queries), encoding="utf-8")
    (out / "qrels" / "test.tsv").write_text(header + "\n" + "".join("\t".join(r) + "\n" for r in keep_rows))
    return out


def test_minilm_cell_on_real_slice_writes_artifacts_and_reuses_cache(scifact_slice, minilm_path, tmp_path):
    out = tmp_path / "cell"
    cold = evaluate_model(str(minilm_path), str(scifact_slice), output_dir=out, batch_size=32,
                          show_progress=False, name="minilm slice")
    assert cold.n_queries == 30 and cold.config["mode"] == "full"
    assert cold.config["similarity"] == "cosine" and cold.config["max_length"] == 256
    assert {"load", "encode_queries", "encode_corpus", "search", "evaluate"} <= set(cold.timings)
    # artifacts
    run = read_run(out / "run.trec.gz")
    assert run == {q: {d: pytest.approx(s) for d, s in docs.items()} for q, docs in cold.run.items()}
    tsv = (out / "per_query.tsv").read_text().splitlines()
    assert tsv[0].split("\t")[0] == "query_id" and len(tsv) == 31
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("config", "config_hash", "versions", "hardware", "timings", "peak_rss_mb", "dataset"):
        assert key in metrics, key
    assert metrics["config_hash"] == cold.config_hash and metrics["dataset"]["sha256"] == cold.config["dataset_sha256"]
    assert metrics["aggregate"]["nDCG@10"] == pytest.approx(cold.aggregate["nDCG@10"])
    # independent nDCG@10 from the written run
    from synrank.data import load_dataset

    data = load_dataset(str(scifact_slice))
    ref = sum(ndcg_at_10(run.get(q, {}), data.qrels[q]) for q in data.qrels) / len(data.qrels)
    assert cold.aggregate["nDCG@10"] == pytest.approx(ref, abs=1e-9)
    assert cold.aggregate["nDCG@10"] > 0.5  # the relevant abstracts are in the slice: MiniLM finds most
    # second evaluation: everything from the embedding cache, same result
    warm = evaluate_model(str(minilm_path), str(scifact_slice), output_dir=tmp_path / "cell2", batch_size=32,
                          show_progress=False)
    assert warm.metrics["embedding_cache"]["misses"] == 0 and warm.metrics["embedding_cache"]["hits"] >= 2
    assert warm.aggregate == cold.aggregate and warm.config_hash == cold.config_hash
    assert warm.timings["encode_corpus"] < cold.timings["encode_corpus"] / 5


def test_rerank_mode_on_trec_dl_uses_only_candidates(shared_datasets, tmp_path):
    enc = ToyEncoder(dim=16)
    cell = evaluate_model(enc, "trec-dl-2019", output_dir=tmp_path, show_progress=False, cache=False)
    assert cell.config["mode"] == "rerank" and cell.config["relevance_threshold"] == 2
    assert cell.config["candidates"]["file"] == "bm25_top100.trec"
    cands = read_run(shared_datasets / "trec-dl-2019" / "bm25_top100.trec")
    assert set(cell.run) == set(cands)
    for q, docs in cell.run.items():
        assert set(docs) == set(cands[q])
    # the shipped BM25 run itself scores Pyserini's published 0.5058 through the same evaluator
    from synrank.data import load_dataset

    data = load_dataset("trec-dl-2019")
    assert evaluate_run(data.qrels, cands, ["nDCG@10"], relevance_threshold=2).aggregate["nDCG@10"] == \
        pytest.approx(0.5058, abs=5e-5)


def test_mode_errors(shared_datasets):
    with pytest.raises(ConfigError, match="no first-stage run"):
        evaluate_model(ToyEncoder(), "scifact", mode="rerank", cache=False, show_progress=False)
    with pytest.raises(ConfigError, match="mode must be"):
        evaluate_model(ToyEncoder(), "scifact", mode="dense")


@pytest.mark.slow
def test_minilm_scifact_matches_mteb(tmp_path):
    cell = evaluate_model("all-MiniLM-L6-v2", "scifact", output_dir=tmp_path, show_progress=False)
    assert cell.n_queries == 300
    assert abs(cell.aggregate["nDCG@10"] - MTEB_SCIFACT_NDCG10) <= 0.002, cell.aggregate["nDCG@10"]


@pytest.mark.slow
def test_minilm_reranks_trec_dl_2019(tmp_path):
    cell = evaluate_model("all-MiniLM-L6-v2", "trec-dl-2019", output_dir=tmp_path, show_progress=False)
    assert cell.config["mode"] == "rerank" and cell.n_queries == 43
    assert abs(cell.aggregate["nDCG@10"] - MANIFEST_DL19_RERANK_NDCG10) <= 0.002, cell.aggregate["nDCG@10"]


@pytest.mark.slow
def test_static_embedding_runs_through_the_same_path(tmp_path):
    from synrank.retrieval.encoders import build_static_encoder

    cell = evaluate_model(build_static_encoder("all-MiniLM-L6-v2"), "scifact", output_dir=tmp_path,
                          show_progress=False)
    # bag of MiniLM input embeddings: far below MiniLM, far above chance (measured 0.40 in the brief)
    assert 0.38 <= cell.aggregate["nDCG@10"] <= 0.43, cell.aggregate["nDCG@10"]


def test_bm25_cell(scifact_slice, shared_datasets):
    from synrank.retrieval.bm25 import BM25Index

    cell = evaluate_model("bm25", str(scifact_slice), show_progress=False)
    assert cell.config["similarity"] == "bm25" and cell.config["bm25"]["k1"] == 0.9
    from synrank.data import load_dataset

    data = load_dataset(str(scifact_slice))
    direct = BM25Index(data.corpus).search(data.judged_queries(), top_k=1000)
    assert cell.run == direct
    dl = evaluate_model("bm25", "trec-dl-2019", show_progress=False)
    cands = read_run(shared_datasets / "trec-dl-2019" / "bm25_top100.trec")
    assert dl.config["mode"] == "rerank" and all(set(dl.run[q]) == set(cands[q]) for q in dl.run)
