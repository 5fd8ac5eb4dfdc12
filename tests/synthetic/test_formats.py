import pytest

from synrank.data.shards import pack
from synrank.synthetic.formats import load_hf_dataset
from synrank.synthetic.pipeline import GenerationConfig, generate


def test_groups_load_as_hf_dataset(tmp_path, query_file, guard, monkeypatch):
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hfcache"))
    out = tmp_path / "out"
    generate(GenerationConfig(queries=str(query_file), out=out, backend="echo", limit=5, progress=False,
                              backend_options={"fail_rate": 0.2}), guard=guard)
    pack(out)
    ds = load_hf_dataset(out)
    assert ds.num_rows == 5
    row = ds[0]
    assert [p["grade"] for p in row["passages"]] == [3, 2, 1, 0]
    assert row["schema"] == "synrank.groups/v1" and row["provenance"]["backend"] == "echo"
