"""Helpers for the download tests: toy BEIR archives and catalogs that point at a local server."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import yaml

HEADER = "query-id\tcorpus-id\tscore\n"


def toy_files(n_docs: int = 3, pad: int = 0) -> dict[str, str]:
    """A valid BEIR folder's files; ``pad`` makes the corpus larger (bytes per document)."""
    docs = "".join(json.dumps({"_id": f"d{i}", "title": f"T{i}", "text": f"text {i} " + "x" * pad}) + "\n"
                   for i in range(1, n_docs + 1))
    queries = "".join(json.dumps({"_id": f"q{i}", "text": f"query {i}"}) + "\n" for i in (1, 2))
    qrels = HEADER + "q1\td1\t2\nq1\td2\t0\nq2\td2\t1\n"
    return {"corpus.jsonl": docs, "queries.jsonl": queries, "qrels/test.tsv": qrels}


def make_zip(members: dict[str, str | bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def beir_zip(name: str, files: dict[str, str] | None = None, forums: list[str] | None = None) -> bytes:
    files = files or toy_files()
    if forums:
        return make_zip({f"{name}/{forum}/{k}": v for forum in forums for k, v in files.items()})
    return make_zip({f"{name}/{k}": v for k, v in files.items()})


def digests(data: bytes) -> dict[str, Any]:
    return {"bytes": len(data), "md5": hashlib.md5(data).hexdigest(),  # noqa: S324 - as publishers list
            "sha256": hashlib.sha256(data).hexdigest()}


def gz(text: str) -> bytes:
    return gzip.compress(text.encode(), mtime=0)


def entry(sources: list[dict], **kw: Any) -> dict[str, Any]:
    base = {"title": "toy", "collection": "beir", "homepage": "https://example.org", "licence": "test data",
            "splits": ["test"], "sources": sources}
    base.update(kw)
    return base


def zip_source(url: str, data: bytes, path: str = "toy.zip", mirrors: list[str] | None = None,
               **checks: Any) -> dict[str, Any]:
    f = {"url": url, "path": path, **digests(data)}
    f.update(checks)
    if mirrors:
        f["mirrors"] = mirrors
    return {"kind": "zip", "files": [f]}


def write_catalog(path: Path, datasets: dict[str, dict]) -> Path:
    path.write_text(yaml.safe_dump({"schema": "synrank.catalog/v1", "datasets": datasets}, sort_keys=False))
    return path
