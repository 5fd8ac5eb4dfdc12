"""No evaluation query can enter synthetic training data."""

from __future__ import annotations

import json

from synrank.data.leakage import normalize_query
from synrank.data.shards import iter_records
from synrank.synthetic.pipeline import GenerationConfig, generate
from tests.conftest import present_datasets


def test_evaluation_queries_never_reach_the_output(tmp_path, shared_datasets, msmarco_queries, guard):
    eval_q = {}
    for name in present_datasets(shared_datasets, "trec-dl-2019", "trec-dl-2020", "scifact"):
        with open(shared_datasets / name / "queries.jsonl", encoding="utf-8") as fh:
            for line in list(fh)[:40]:
                rec = json.loads(line)
                if guard.is_evaluation_query(rec["text"]):
                    eval_q[f"{name}-{rec['_id']}"] = rec["text"]
    assert len(eval_q) >= 40
    # evaluation queries first in the file, and also as a case/punctuation variant
    mixed = dict(eval_q)
    mixed.update({f"v-{k}": v.upper() + "?" for k, v in list(eval_q.items())[:10]})
    mixed.update(dict(list(msmarco_queries.items())[:400]))
    qfile = tmp_path / "q.jsonl"
    qfile.write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in mixed.items()))
    out = tmp_path / "out"
    for strategy in ("anchored", "direct"):
        generate(GenerationConfig(queries=str(qfile), out=out / strategy, backend="echo", strategy=strategy,
                                  limit=400, progress=False), guard=guard)
        recs = list(iter_records(out / strategy))
        assert len(recs) >= 100
        texts = [r["query"] for r in recs] + [p["source_query"] for r in recs for p in r["passages"]]
        banned = {normalize_query(t) for t in eval_q.values()}
        assert not [t for t in texts if normalize_query(t) in banned]
        guard.assert_clean(texts, "test")
        gen = json.loads((out / strategy / "generation.json").read_text())
        assert gen["queries_excluded_by_evaluation_guard"] == len(eval_q) + 10
