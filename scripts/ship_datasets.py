"""Make the gzip copies of datasets that ship inside the package (``synrank/data/shipped/<name>/``).

Usage (from the repository root, with the reference copies in ``../shared/datasets``)::

    python scripts/ship_datasets.py cranfield trec-dl-2019 scifact

Each layout file (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``, ``bm25_top100.trec``) is
written as ``<file>.gz`` with gzip level 9, a zero timestamp and no embedded file name, so a rebuild
from the same input gives byte-identical archives. The folder's ``MANIFEST.md`` records, per file, the
compressed and decompressed sizes and sha256 (the decompressed sha256 equals the source file's: the
readers hash decompressed bytes, so a shipped dataset has the same checksums, and the same benchmark
scores, as the plain copy), then the source folder's own manifest verbatim (sources, licence,
transformations, verification).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPO.parent / "shared" / "datasets"
DEFAULT_DEST = REPO / "synrank" / "data" / "shipped"
LAYOUT = ("corpus.jsonl", "queries.jsonl", "bm25_top100.trec")


def deterministic_gzip(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


def layout_files(folder: Path) -> list[Path]:
    """The layout files of a plain BEIR folder, relative to it, in a fixed order."""
    files = [Path(n) for n in LAYOUT if (folder / n).is_file()]
    qrels = folder / "qrels"
    if qrels.is_dir():
        files += sorted(Path("qrels") / p.name for p in qrels.iterdir() if p.name.endswith(".tsv"))
    return files


def ship(name: str, source: Path, dest: Path) -> Path:
    src = source / name
    if not src.is_dir():
        raise SystemExit(f"{src}: no such dataset folder")
    out = dest / name
    rows = []
    for rel in layout_files(src):
        raw = (src / rel).read_bytes()
        packed = deterministic_gzip(raw)
        target = out / rel.parent / (rel.name + ".gz")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(packed)
        tmp.replace(target)
        rows.append((f"{rel.as_posix()}.gz", len(packed), hashlib.sha256(packed).hexdigest(),
                     len(raw), raw.count(b"\n"), hashlib.sha256(raw).hexdigest()))
    original = (src / "MANIFEST.md").read_text(encoding="utf-8") if (src / "MANIFEST.md").is_file() else ""
    lines = [
        f"# {name} (shipped copy, gzip)",
        "",
        f"A gzip-compressed copy of the `{name}` dataset folder, shipped inside the package so that the smoke",
        "suite and the default tests run from the repository alone. Same content as the plain folder: the",
        "readers decompress on the fly and hash the decompressed bytes, so checksums, cache keys and scores",
        "are those of the plain copy. The dataset search path looks here last (after `$SYNRANK_DATA`,",
        "`shared/datasets` beside the repository and the download cache).",
        "",
        "How it was made: `python scripts/ship_datasets.py " + name + "` from the reference copy in",
        "`shared/datasets/" + name + "` (gzip level 9, zero timestamp, no file name: rebuilds are byte-identical).",
        "Sources, licence, counts and transformations of the data itself: the original manifest below.",
        "",
        "| file | bytes (gz) | sha256 (gz) | bytes | lines | sha256 (decompressed = source file) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for fname, gz_bytes, gz_sha, n_bytes, n_lines, sha in rows:
        lines.append(f"| {fname} | {gz_bytes} | `{gz_sha}` | {n_bytes} | {n_lines} | `{sha}` |")
    lines += ["", "## Original manifest (verbatim)", ""]
    body = "\n".join(lines) + "\n"
    if original:
        # shift the original's headings one level down so they nest under this section
        body += "\n".join(("#" + ln) if ln.startswith("#") else ln for ln in original.splitlines()) + "\n"
    else:
        body += "(the source folder has no MANIFEST.md)\n"
    (out / "MANIFEST.md").write_text(body, encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="+")
    p.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    p.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    args = p.parse_args(argv)
    for name in args.names:
        print(ship(name, args.source, args.dest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
