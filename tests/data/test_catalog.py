"""The dataset catalog: complete for every suite, consistent with the registry's metadata, strict."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.suites import SUITES_DIR, load_suite
from synrank.config import load_config_file
from synrank.data.catalog import CATALOG_FILE, format_bytes, load_catalog
from synrank.data.registry import KNOWN_DATASETS, info_for_folder, quick_counts
from synrank.errors import ConfigError
from synrank.paths import SHIPPED_DATASETS
from tests.data.dlhelpers import write_catalog

BEIR_PUBLIC = ["msmarco", "trec-covid", "nfcorpus", "nq", "hotpotqa", "fiqa", "arguana", "webis-touche2020",
               "cqadupstack", "quora", "dbpedia-entity", "scidocs", "fever", "climate-fever", "scifact"]
BEIR_RESTRICTED = ["bioasq", "signal1m", "trec-news", "robust04"]
CQADUPSTACK_FORUMS = ["android", "english", "gaming", "gis", "mathematica", "physics", "programmers", "stats",
                      "tex", "unix", "webmasters", "wordpress"]


def _train_datasets(suite, variant) -> list[str]:
    """Datasets the variant's training config reads (inline mapping or file)."""
    train = variant.train
    if isinstance(train, str):
        train = load_config_file(suite.resolve(train))
    return [src["dataset"] for src in (train or {}).get("data") or [] if isinstance(src, dict) and "dataset" in src]


def suite_dataset_names() -> dict[str, set[str]]:
    """Every dataset name any shipped suite uses: evaluation sets, requirements, training sources."""
    out: dict[str, set[str]] = {}
    for path in sorted(SUITES_DIR.glob("*.yaml")):
        suite = load_suite(path)
        names = {d.name for d in suite.datasets} | set(suite.requires.datasets)
        for v in suite.variants:
            if v.kind == "train":
                names |= set(_train_datasets(suite, v))
        out[suite.name] = names
    return out


def test_every_dataset_a_suite_names_is_in_the_catalog():
    catalog = load_catalog()
    used = suite_dataset_names()
    assert set(used) >= {"smoke", "cpu", "paper"}
    assert {"msmarco", "msmarco-trec-dl-2020", "cqadupstack", "scifact"} <= used["paper"]
    for suite, names in used.items():
        missing = sorted(names - set(catalog.datasets))
        assert not missing, f"suite {suite} names datasets the catalog lacks: {missing}"
        for name in names:
            assert catalog.get(name).fetchable or catalog.get(name).shipped, (suite, name)


def test_the_paper_collections_are_all_there():
    catalog = load_catalog()
    beir = sorted(e.name for e in catalog if e.collection == "beir")
    assert beir == sorted(BEIR_PUBLIC)
    assert sorted(e.name for e in catalog if e.collection == "beir-restricted") == sorted(BEIR_RESTRICTED)
    for name in BEIR_PUBLIC:
        zips = [s for s in catalog.get(name).sources if s.kind == "zip"]
        assert zips and zips[0].files[0].url == \
            f"https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/{name}.zip"
        assert re.fullmatch("[0-9a-f]{32}", zips[0].files[0].md5 or ""), name  # BEIR publishes md5s
        assert zips[0].files[0].bytes, name
        assert {s.kind for s in catalog.get(name).sources} >= {"zip", "ir_datasets"}
    for name in BEIR_RESTRICTED:
        assert not catalog.get(name).fetchable and catalog.get(name).manual
    cqa = catalog.get("cqadupstack")
    assert cqa.forums == CQADUPSTACK_FORUMS
    assert set(next(s for s in cqa.sources if s.kind == "ir_datasets").ir_datasets) == set(CQADUPSTACK_FORUMS)
    dl20 = catalog.get("msmarco-trec-dl-2020")
    assert all(s.corpus_from == "msmarco" for s in dl20.sources) and dl20.relevance_threshold == 2
    assert catalog.get("msmarco").counts["test_queries"] == 43  # BEIR's msmarco test split = TREC DL 2019
    assert catalog.get("msmarco-dev-small").counts["dev_queries"] == 6980
    assert catalog.get("cranfield").sources[0].ir_datasets["docs"] == "cranfield"
    for e in catalog:
        assert e.licence and e.homepage.startswith("http"), e.name


def test_catalog_agrees_with_the_registry_metadata():
    catalog = load_catalog()
    for name, meta in KNOWN_DATASETS.items():
        entry = catalog.get(name)
        assert entry is not None, f"{name} has registry metadata but no catalog entry"
        assert entry.relevance_threshold == meta.get("relevance_threshold", 1), name
        assert entry.ignore_identical_ids == meta.get("ignore_identical_ids", False), name
        assert entry.default_split == meta["default_split"], name
        assert entry.training_pool == meta.get("training_pool", False), name
    for entry in catalog:
        if entry.name not in KNOWN_DATASETS:  # defaults apply: they must be what the catalog says
            assert (entry.relevance_threshold, entry.ignore_identical_ids) == (1, False), entry.name


def test_shipped_entries_and_folders_match_with_the_catalog_counts():
    catalog = load_catalog()
    shipped = sorted(p.name for p in SHIPPED_DATASETS.iterdir() if p.is_dir())
    assert shipped == sorted(e.name for e in catalog if e.shipped) == ["cranfield", "scifact", "trec-dl-2019"]
    for name in shipped:
        entry = catalog.get(name)
        c = quick_counts(info_for_folder(SHIPPED_DATASETS / name))
        seen = {"docs": c["docs"], "queries": c["queries"]}
        for split, v in c["splits"].items():
            seen[f"{split}_queries"], seen[f"{split}_qrels"] = v["judged_queries"], v["qrels"]
        assert {k: seen[k] for k in entry.counts} == entry.counts, name
        assert (SHIPPED_DATASETS / name / "MANIFEST.md").is_file()


def test_every_url_is_https_except_the_known_http_hosts():
    http_ok = ("http://ir.dcs.gla.ac.uk/",)
    for entry in load_catalog():
        for src in entry.sources:
            for f in src.files:
                for url in f.urls:
                    assert url.startswith("https://") or url.startswith(http_ok), (entry.name, url)


@pytest.mark.parametrize("change,match", [
    (lambda d: d["datasets"]["toy"]["sources"][0]["files"][0].update(md5="abc"), "md5 must be 32 lowercase hex"),
    (lambda d: d["datasets"]["toy"].update(colour="red"), "unknown key"),
    (lambda d: d["datasets"]["toy"]["sources"][0].update(corpus_from="nope"), "corpus_from 'nope'"),
    (lambda d: d["datasets"]["toy"]["sources"][0]["files"][0].update(path="../up"), "relative path inside"),
    (lambda d: d["datasets"]["toy"]["sources"][0].update(kind="ftp"), "is not one of"),
    (lambda d: d["datasets"]["toy"].update(default_split="dev"), "default_split 'dev'"),
    (lambda d: d.update(schema="other/v9"), "schema must be"),
])
def test_bad_catalogs_are_refused_naming_file_and_field(tmp_path, change, match):
    data = {"schema": "synrank.catalog/v1", "datasets": {"toy": {
        "title": "t", "collection": "beir", "homepage": "https://x", "licence": "l", "splits": ["test"],
        "sources": [{"kind": "zip", "files": [{"url": "https://x/toy.zip", "path": "toy.zip"}]}]}}}
    change(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=match) as err:
        load_catalog(path)
    assert "bad.yaml" in str(err.value)


def test_synrank_catalog_variable_selects_another_file(tmp_path, monkeypatch):
    path = write_catalog(tmp_path / "mine.yaml", {"mine": {
        "title": "t", "collection": "classic", "homepage": "https://x", "licence": "l", "splits": ["test"],
        "manual": "ask me"}})
    monkeypatch.setenv("SYNRANK_CATALOG", str(path))
    assert list(load_catalog().datasets) == ["mine"]
    monkeypatch.delenv("SYNRANK_CATALOG")
    assert load_catalog().source == str(CATALOG_FILE)


def test_the_packaged_catalog_is_package_data():
    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '"**/*.yaml"' in text and "shipped/**/*.gz" in text


@given(st.integers(min_value=0, max_value=10**13))
def test_format_bytes_is_exact_to_its_last_printed_digit(n):
    value, unit = format_bytes(n).split()
    scale = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}[unit]
    step = {"B": 1, "kB": 0.1, "MB": 0.1, "GB": 0.01}[unit]
    assert abs(float(value) - n / scale) <= step / 2 + 1e-9
    assert (unit == "B") == (n < 1000) and (unit == "GB") == (n >= 1e9)
