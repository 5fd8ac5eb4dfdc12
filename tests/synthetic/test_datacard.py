"""The synthetic dataset folder as a Hugging Face dataset: README.md with YAML ``configs`` (synrank.synthetic.datacard)."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
import yaml

from synrank.data.groups import group_files, iter_groups
from synrank.data.shards import iter_rejects, pack
from synrank.io import sha256_file
from synrank.synthetic.datacard import build_datacard, hub_front_matter, write_datacard
from synrank.synthetic.pipeline import GenerationConfig, generate
from synrank.training.modelcard import read_front_matter

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "data" / "synthetic" / "msmarco-smollm2-anchored"


@pytest.fixture(autouse=True)
def _datasets_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _load(folder: Path, config: str | None = None):
    import datasets

    return datasets.load_dataset(str(folder), config, cache_dir=str(folder.parent / "hf-cache"))


def test_generated_folder_loads_as_the_intended_splits(tmp_path, query_file, guard):
    out = tmp_path / "gen"
    generate(GenerationConfig(queries=str(query_file), out=out, backend="echo", strategy="anchored", limit=10,
                              progress=False, backend_options={"fail_rate": 0.3}), guard=guard)
    pack(out)
    write_datacard(out)
    ds = _load(out)
    assert list(ds) == ["train"]  # one split; generation.json, logs, datacard.json and README.md are not data
    ours = list(iter_groups(out))
    assert ds["train"]["query_id"] == [g.query_id for g in ours]
    assert [[p["grade"] for p in row] for row in ds["train"]["passages"]] == [g.grades for g in ours]
    rejects = _load(out, "rejects")["train"]
    assert rejects.num_rows == len(list(iter_rejects(out))) > 0
    assert set(rejects["kind"]) <= {"passage", "query", "ineligible"}


def test_card_keeps_the_checksums_training_caches_use(tmp_path, query_file, guard):
    """Training cache keys hash group_files(); the card and its refreshes never enter them."""
    out = tmp_path / "gen"
    generate(GenerationConfig(queries=str(query_file), out=out, backend="echo", strategy="direct", limit=6,
                              progress=False), guard=guard)
    before = {f.name: sha256_file(f) for f in group_files(out)}
    write_datacard(out)
    write_datacard(out)
    assert {f.name: sha256_file(f) for f in group_files(out)} == before
    assert "README.md" not in before and (out / "README.md").exists()
    # a live folder (plain shards, no rejects) lists its plain shards and has no rejects config
    front = read_front_matter(out / "README.md")
    assert [c["config_name"] for c in front["configs"]] == ["default"]
    assert front["configs"][0]["data_files"][0]["path"] == sorted(before)


def test_legacy_datacard_md_moves_into_readme(tmp_path):
    folder = tmp_path / "old"
    shutil.copytree(COMMITTED, folder, ignore=shutil.ignore_patterns("README.md"))
    (folder / "datacard.md").write_text("# Data card: old\n")
    write_datacard(folder)
    assert not (folder / "datacard.md").exists()
    assert "# Data card: old" in (folder / "README.md").read_text()


def test_committed_folder_card_is_current_and_loads(tmp_path):
    """data/synthetic/msmarco-smollm2-anchored: its README is what the code writes today, and
    datasets.load_dataset(folder) gives synrank's 2,000 groups as train, the rejects apart."""
    committed = (COMMITTED / "README.md").read_text()
    assert read_front_matter(COMMITTED / "README.md") == hub_front_matter(COMMITTED, build_datacard(COMMITTED))
    assert not (COMMITTED / "datacard.md").exists()
    assert "/work/" not in committed and "/home/" not in committed
    folder = tmp_path / "msmarco-smollm2-anchored"
    shutil.copytree(COMMITTED, folder)  # the datasets cache must not be written beside the committed data
    ds = _load(folder)
    assert ds["train"].num_rows == 2000
    assert ds["train"]["query_id"] == [g.query_id for g in iter_groups(COMMITTED)]
    n_rejects = 0
    for f in folder.glob("rejects*.jsonl.gz"):
        with gzip.open(f, "rt") as fh:
            n_rejects += sum(1 for _ in fh)
    assert _load(folder, "rejects")["train"].num_rows == n_rejects
    assert yaml.safe_load(committed.split("---\n")[1])["size_categories"] == ["1K<n<10K"]
    assert json.loads((COMMITTED / "datacard.json").read_text())["groups"] == 2000


def test_card_of_a_folder_without_groups(tmp_path):
    """Every query failed: the card is still written, with the rejects config only."""
    out = tmp_path / "empty"
    out.mkdir()
    with gzip.open(out / "rejects-00000.jsonl.gz", "wt") as fh:
        fh.write(json.dumps({"kind": "query", "query_id": "1", "reason": "connection error", "final": False}) + "\n")
    write_datacard(out)
    front = read_front_matter(out / "README.md")
    assert [c["config_name"] for c in front["configs"]] == ["rejects"]
