"""all-MiniLM-L6-v2 as MTEB publishes it: nDCG@10 0.5017 on ArguAna and 0.6451 on SciFact (MTEB
leaderboard; BEIR's pytrec_eval on raw scores gives 0.5019 on ArguAna). synrank at the model's own maximum
length (256) must read the same within 0.0005 in fp32, and within the quality gate (0.002) with its
default backend. Slow: full retrieval
over 8,674 and 5,183 documents."""

from __future__ import annotations

import pytest

from synrank.data.beir import load_dataset
from synrank.evaluation.pipeline import evaluate_model

# full retrieval in fp32 takes ~7 min on 2 idle cores for ArguAna; the default 900 s is too tight on a busy machine
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]


# fp32 backends reproduce the published number; the default backend (bf16 where the CPU has it) is held to
# the quality gate's +-0.002 (measured 2026-12-02: SciFact 0.64566 with openvino-bf16 vs 0.64508 in fp32).
@pytest.mark.parametrize("backend, tolerance", [("torch-fp32", 5e-4), ("openvino-fp32", 5e-4), ("auto", 2e-3)])
@pytest.mark.parametrize("dataset, published", [("scifact", 0.6451), ("arguana", 0.5018)])
def test_minilm_matches_published_ndcg10(shared_datasets, dataset, published, backend, tolerance):
    cell = evaluate_model("all-MiniLM-L6-v2", load_dataset(shared_datasets / dataset), mode="full",
                          measures=("nDCG@10",), show_progress=False, cache=False, backend=backend)
    assert cell.config["max_length"] == 256
    assert cell.aggregate["nDCG@10"] == pytest.approx(published, abs=tolerance), cell.config["encoding"]
