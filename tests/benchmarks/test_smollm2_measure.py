"""benchmarks/tuning/smollm2/measure.py: the trial's dev test and the time estimates, on made-up records."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.tuning.smollm2.measure import CPU_CELLS, DEV, compare, estimate
from synrank.errors import SynrankError


def _per_query(folder, scores):
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["query_id\tnDCG@10"] + [f"q{i}\t{s}" for i, s in enumerate(scores)]
    (folder / "per_query.tsv").write_text("\n".join(lines) + "\n")
    return folder


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0.0, 0.5), min_size=20, max_size=60), st.sampled_from([0.0, 0.02, 0.1]))
def test_compare_passes_only_a_clear_gain(tmp_path_factory, before, gain):
    root = tmp_path_factory.mktemp("cmp")
    b = _per_query(root / "before", before)
    a = _per_query(root / "after", [s + gain for s in before])
    result = compare(b, a)
    assert result["gain"] == pytest.approx(gain, abs=1e-4) and result["queries"] == len(before)
    # a constant gain over >= 20 queries: every sign flip but the identity lowers the mean, so p is tiny
    assert result["pass"] is (gain >= 0.05)


def test_compare_refuses_different_query_sets(tmp_path):
    b = _per_query(tmp_path / "b", [0.1, 0.2])
    a = _per_query(tmp_path / "a", [0.1, 0.2, 0.3])
    with pytest.raises(SynrankError, match="different queries"):
        compare(b, a)


def test_estimate_divides_tokens_by_the_two_core_rate():
    cell = {"queries": 10, "query_tokens": 10.0, "docs": 100, "doc_tokens": 100.0}  # 10,100 tokens
    tokens = {"kind": "tokens", "model": "m", "result": {
        "cells": {f"{n}/{s}": cell for n, s in (*CPU_CELLS, DEV)},
        "training": {"queries": 2000, "query_tokens": 8.0, "passages": 8000, "passage_tokens": 74.0}}}
    rate = {"kind": "throughput", "model": "m", "precision": "fp32",
            "result": {"texts_per_s": 1.0, "texts_per_s_cpu": 10.0, "loadavg": [9.0, 9.0, 9.0]}}
    table = estimate([tokens, rate], length=128).splitlines()
    row = next(line for line in table if line.startswith("| m | fp32"))
    cols = [c.strip() for c in row.strip("|").split("|")]
    per_s = 10.0 * 128
    assert float(cols[4]) == pytest.approx(round(3 * (2000 * 8 + 8000 * 74) / per_s / 60, 1))
    assert float(cols[7]) == pytest.approx(round(5 * 10_100 / per_s / 60, 1))
    assert float(cols[8]) == pytest.approx(round(10_100 / per_s / 60, 1))
