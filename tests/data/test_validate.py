"""``validate_folder`` and the ``synrank validate`` / ``synrank datasets`` commands."""

from __future__ import annotations

import json
import time

import pytest

from synrank.cli import main
from synrank.data import resolve_dataset, validate_folder
from synrank.errors import DatasetError
from tests.conftest import have_reference_data, need_datasets, present_datasets

from .conftest import jsonl

# Counts stated in each folder's MANIFEST.md (documents, queries, {split: (judgements, judged queries)}).
MANIFEST_COUNTS = {
    "scifact": (5183, 1109, {"test": (339, 300), "train": (919, 809)}),
    "arguana": (8674, 1406, {"test": (1406, 1406)}),
    "cranfield": (1400, 225, {"test": (1837, 225), "test_raw_codes": (1837, 225)}),
    "trec-dl-2019": (4297, 43, {"test": (9260, 43)}),
    "trec-dl-2020": (5396, 54, {"test": (11386, 54)}),
    "trec-covid": (None, 50, {"test": (66334, 50)}),
    "msmarco-dev-small": (None, 6980, {"dev": (7437, 6980)}),
    "msmarco-dev-queries": (None, 56390, {}),
}


@pytest.mark.parametrize("name", sorted(MANIFEST_COUNTS))
def test_shared_folders_are_valid_with_manifest_counts(shared_datasets, name):
    need_datasets(shared_datasets, name)
    report = validate_folder(shared_datasets / name)
    docs, queries, splits = MANIFEST_COUNTS[name]
    assert report.documents == docs and report.queries == queries
    assert {s: (v.judgements, v.judged_queries) for s, v in report.splits.items()} == splits


def test_all_shared_folders_validate(shared_datasets):
    names = sorted(p.name for p in shared_datasets.iterdir() if p.is_dir())
    assert len(names) >= (13 if have_reference_data() else 3)
    for name in names:
        validate_folder(shared_datasets / name)


def test_known_quirks_are_reported_with_counts(shared_datasets):
    cran = validate_folder(shared_datasets / "cranfield")
    assert cran.splits["test"].grades == {0: 225, 1: 363, 2: 734, 3: 387, 4: 128}  # MANIFEST
    assert len(cran.warnings) == 2
    assert "2 document(s) have an empty title and text" in cran.warnings[0]
    assert "225 judgement(s) have a negative grade" in cran.warnings[1]
    dl19 = validate_folder(shared_datasets / "trec-dl-2019")
    # MANIFEST: 7,003 judged passages (2,730 with grade > 0) are not in the pool.
    assert dl19.warnings == [w for w in dl19.warnings if "7003 judgement(s) (2730 with grade > 0)" in w]
    assert len(dl19.warnings) == 1
    assert validate_folder(shared_datasets / "scifact").warnings == []
    need_datasets(shared_datasets, "arguana")
    arguana = validate_folder(shared_datasets / "arguana")
    assert any("5 judgement(s) (5 with grade > 0)" in w for w in arguana.warnings)  # beir issues #101/#172


def test_rerank_run_is_checked(make_dataset):
    root = make_dataset("trec-dl-2019")
    (root / "bm25_top100.trec").write_text("q1 Q0 d1 1 12.5 bm25\nq1 Q0 d9 2 11.0 bm25\n")
    with pytest.raises(DatasetError, match="1 unknown document"):
        validate_folder(root)
    (root / "bm25_top100.trec").write_text("q1 Q0 d1 1 12.5 bm25\nq1 Q0 d2 2 high bm25\n")
    with pytest.raises(DatasetError, match="score 'high' is not a number") as err:
        validate_folder(root)
    assert err.value.line == 2
    (root / "bm25_top100.trec").write_text("q1 Q0 d1 1 12.5 bm25\n")
    assert validate_folder(root).info.rerank_run == root / "bm25_top100.trec"


def test_cli_validate_ok(shared_datasets, capsys):
    need_datasets(shared_datasets, "trec-dl-2020")
    assert main(["validate", str(shared_datasets / "trec-dl-2020")]) == 0
    out = capsys.readouterr().out
    assert "trec-dl-2020" in out and "valid" in out and "11,386 judgements, 54 judged queries" in out
    assert "8522 judgement(s)" in out


def test_cli_validate_reports_located_error(make_dataset, capsys):
    root = make_dataset(queries=jsonl([{"_id": "q1", "text": "a"}]) + '{"_id": "q2"}\n')
    assert main(["validate", str(root)]) == 1  # the check failed (exit 2 is for usage errors)
    err = capsys.readouterr().err
    assert f"{root / 'queries.jsonl'}:2: missing 'text'" in err
    assert len(err.strip().splitlines()) == 1


def test_cli_datasets_lists_with_counts(shared_datasets, capsys, monkeypatch, make_dataset):
    extra = make_dataset("mine").parent
    monkeypatch.setenv("SYNRANK_DATA", str(extra))
    start = time.perf_counter()
    assert main(["datasets"]) == 0
    elapsed = time.perf_counter() - start
    out = capsys.readouterr().out
    assert str(resolve_dataset("scifact").parent) in out and str(extra) in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "5,183" in lines["scifact"] and "test* 300, train 809" in lines["scifact"]
    assert "rerank: bm25_top100.trec" in lines["trec-dl-2019"]
    assert "default metadata" in lines["mine"]
    assert elapsed < 5.0
    assert main(["datasets", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    by_name = {d["name"]: d for d in data}
    assert by_name["scifact"]["splits"] == {"test": {"judged_queries": 300, "qrels": 339},
                                            "train": {"judged_queries": 809, "qrels": 919}}
    if present_datasets(shared_datasets, "quora"):
        assert by_name["quora"]["ignore_identical_ids"] is True


def test_cli_validate_accepts_a_dataset_name(shared_datasets, capsys):
    assert main(["validate", "scifact"]) == 0
    assert f"scifact ({resolve_dataset('scifact')}): valid" in capsys.readouterr().out
