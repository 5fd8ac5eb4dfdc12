"""The datasets shipped inside the package: their MANIFEST checksums hold, and their content is the
reference copy's byte for byte (so the smoke suite scores the same with either)."""

from __future__ import annotations

import gzip
import hashlib
import re
import sys
from pathlib import Path

import pytest

from synrank.data import load_dataset
from synrank.paths import SHIPPED_DATASETS
from tests.conftest import FIXTURES, SHARED_DATASETS, have_reference_data

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p.name for p in SHIPPED_DATASETS.iterdir() if p.is_dir())
_ROW = re.compile(r"^\| (\S+\.gz) \| (\d+) \| `([0-9a-f]{64})` \| (\d+) \| (\d+) \| `([0-9a-f]{64})` \|$")


def _manifest_rows(name: str) -> dict[str, tuple[int, str, int, int, str]]:
    rows = {}
    for line in (SHIPPED_DATASETS / name / "MANIFEST.md").read_text().splitlines():
        m = _ROW.match(line)
        if m:
            rows[m.group(1)] = (int(m.group(2)), m.group(3), int(m.group(4)), int(m.group(5)), m.group(6))
    return rows


@pytest.mark.parametrize("name", SHIPPED)
def test_manifest_checksums_hold(name):
    folder = SHIPPED_DATASETS / name
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.gz"))
    rows = _manifest_rows(name)
    assert sorted(rows) == files
    for rel, (gz_bytes, gz_sha, n_bytes, n_lines, sha) in rows.items():
        packed = (folder / rel).read_bytes()
        raw = gzip.decompress(packed)
        assert (len(packed), hashlib.sha256(packed).hexdigest()) == (gz_bytes, gz_sha), rel
        assert (len(raw), raw.count(b"\n"), hashlib.sha256(raw).hexdigest()) == (n_bytes, n_lines, sha), rel


@pytest.mark.parametrize("name", SHIPPED)
def test_same_content_and_checksums_as_the_reference_copy(name):
    if not have_reference_data():
        pytest.skip("no reference copy beside the repository (../shared/datasets)")
    ref = SHARED_DATASETS / name
    for rel in _manifest_rows(name):
        plain = ref / rel.removesuffix(".gz")
        assert gzip.decompress((SHIPPED_DATASETS / name / rel).read_bytes()) == plain.read_bytes(), rel
    shipped, reference = load_dataset(SHIPPED_DATASETS / name), load_dataset(ref)
    assert shipped.checksums == reference.checksums and shipped.sha256() == reference.sha256()


def test_the_ship_script_rebuilds_identical_archives(tmp_path):
    if not have_reference_data():
        pytest.skip("no reference copy beside the repository (../shared/datasets)")
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import ship_datasets
    finally:
        sys.path.pop(0)
    for name in SHIPPED:
        out = ship_datasets.ship(name, SHARED_DATASETS, tmp_path)
        for rel in _manifest_rows(name):
            assert (out / rel).read_bytes() == (SHIPPED_DATASETS / name / rel).read_bytes(), rel
        assert (out / "MANIFEST.md").read_text() == (SHIPPED_DATASETS / name / "MANIFEST.md").read_text()


def test_the_query_fixture_is_the_head_of_the_reference_pool():
    lines = gzip.decompress((FIXTURES / "msmarco-dev-queries-3000.jsonl.gz").read_bytes()).splitlines(True)
    assert len(lines) == 3000
    assert hashlib.sha256(b"".join(lines)).hexdigest() == \
        "95c5ae03b33621882b45da3c2074d55b9ef804b18a75984e97ca3c1140b3dd22"  # tests/fixtures/README.md
    ref = SHARED_DATASETS / "msmarco-dev-queries" / "queries.jsonl"
    if ref.is_file():
        with open(ref, "rb") as fh:
            assert [next(fh) for _ in range(3000)] == lines
