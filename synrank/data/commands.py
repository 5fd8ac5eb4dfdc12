"""``synrank datasets``, ``synrank download NAME`` and ``synrank validate DIR``."""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import sys
import zlib
from pathlib import Path

from synrank.cliargs import EXIT_CHECK_FAILED
from synrank.data.catalog import format_bytes, load_catalog
from synrank.data.folders import info_for_folder, is_dataset_folder, link_problem, quick_counts
from synrank.data.registry import resolve_dataset
from synrank.data.validate import validate_folder
from synrank.errors import DatasetError, SynrankError
from synrank.paths import dataset_search_path

#: What reading a dataset folder for a listing can raise besides a located error.
_UNREADABLE = (OSError, EOFError, zlib.error, gzip.BadGzipFile, UnicodeDecodeError)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "datasets", help="list the datasets found, where, with counts",
        description="List the BEIR-layout folders in the dataset search path ($SYNRANK_DATA, "
                    "shared/datasets beside the repository, <cache>/datasets) with line counts "
                    "(documents, queries, judged queries per split). Fast: files are counted, not parsed; "
                    "use synrank validate to check a folder.")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--all", action="store_true",
                   help="list the whole dataset catalog: present or not, where, size to download, licence")
    p.set_defaults(func=cmd_datasets)

    p = subparsers.add_parser(
        "download", help="download datasets of the catalog into the cache",
        description="Fetch catalog datasets (`synrank datasets --all` lists them) into <cache>/datasets "
                    "(or --to DIR): resumable (rerun after an interruption to continue), verified against the "
                    "catalog's checksums, built in a temporary folder and renamed into place, locked against "
                    "a second download of the same dataset. A dataset already in the search path is not "
                    "downloaded again.")
    p.add_argument("names", nargs="+", metavar="NAME", help="catalog dataset names")
    p.add_argument("--to", type=Path, metavar="DIR", help="datasets folder to download into (default: "
                                                          "<cache>/datasets; add it to $SYNRANK_DATA if elsewhere)")
    p.add_argument("--offline", action="store_true",
                   help="never use the network (only report what is present); also $SYNRANK_OFFLINE=1")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_download)

    p = subparsers.add_parser(
        "validate", help="check a BEIR-layout folder and print a summary",
        description="Run every data check (JSON lines, ids, duplicates, empty texts, qrels header, "
                    "columns, grades, unknown ids, rerank run) on DIR. Exit 0 when valid; otherwise "
                    "print the first problem as FILE:LINE: message and exit 1 (2 when DIR cannot be found).")
    p.add_argument("dir", help="dataset folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv), or the name "
                               "of a dataset in the search path")
    p.add_argument("--name", help="use the built-in metadata of this dataset name (default: the folder name)")
    p.set_defaults(func=cmd_validate)


def _fmt(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def _scan(search: list[Path]) -> list[dict]:
    """Every dataset folder of the search path with its counts; a folder that cannot be read is listed
    with the reason instead of stopping the listing."""
    out: list[dict] = []
    seen: set[str] = set()
    for folder in search:
        try:
            children = sorted(folder.iterdir()) if folder.is_dir() else []
        except OSError as exc:
            out.append({"folder": folder, "name": folder.name, "path": folder,
                        "error": f"search folder cannot be listed ({exc.strerror or exc})"})
            continue
        for child in children:
            if child.name.startswith("."):
                continue
            row: dict = {"folder": folder, "name": child.name, "path": child, "shadowed": child.name in seen}
            try:
                problem = link_problem(child)
                if problem:
                    row["error"] = problem
                    out.append(row)
                    continue
                if not is_dataset_folder(child):
                    continue
                row["info"] = info = info_for_folder(child)
                row["counts"] = quick_counts(info)
            except (SynrankError, *_UNREADABLE) as exc:
                row["error"] = _reason(exc)
            out.append(row)
            seen.add(child.name)
    return out


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        return f"{where}{exc.strerror or exc}"
    if isinstance(exc, (EOFError, zlib.error, gzip.BadGzipFile)):
        return f"damaged gzip file ({exc})"
    return str(exc)


def cmd_datasets(args: argparse.Namespace) -> int:
    if args.all:
        return _catalog_listing(args.json)
    search = dataset_search_path()
    entries = _scan(search)
    if args.json:
        out = []
        for row in entries:
            base = {"name": row["name"], "path": str(row["path"]), "search_folder": str(row["folder"]),
                    "shadowed": row.get("shadowed", False)}
            if "error" in row:
                out.append({**base, "unreadable": row["error"]})
                continue
            info = row["info"]
            out.append({**base, "name": info.name, "default_split": info.default_split,
                        "splits": list(info.splits), "relevance_threshold": info.relevance_threshold,
                        "ignore_identical_ids": info.ignore_identical_ids,
                        "rerank_run": str(info.rerank_run) if info.rerank_run else None,
                        "training_pool": info.training_pool, **row["counts"]})
        print(json.dumps(out, indent=2))
        return 0
    print("search path (first match wins):")
    for folder in search:
        print(f"  {folder}{'' if folder.is_dir() else '  (missing)'}")
    if not entries:
        print("no datasets found (`synrank datasets --all` lists what synrank can download)")
        return 0
    header = f"{'name':<22} {'docs':>9} {'queries':>8}  {'judged queries per split':<34} {'thr':>3} {'notes'}"
    current = None
    for row in entries:
        folder = row["folder"]
        if folder != current:
            current = folder
            print(f"\n{folder}:")
            print(header)
        if "error" in row:
            print(f"{row['name']:<22} unreadable: {row['error']}")
            continue
        info, c, shadowed = row["info"], row["counts"], row["shadowed"]
        splits = ", ".join(f"{s}{'*' if s == info.default_split else ''} {v['judged_queries']:,}"
                           for s, v in c["splits"].items()) or "-"
        notes = []
        if shadowed:
            notes.append("shadowed by an earlier folder")
        if info.rerank_run:
            notes.append(f"rerank: {info.rerank_run.name}")
        if info.ignore_identical_ids:
            notes.append("ignore_identical_ids")
        if info.training_pool:
            notes.append("training pool")
        if not info.known:
            notes.append("default metadata")
        print(f"{info.name:<22} {_fmt(c['docs']):>9} {_fmt(c['queries']):>8}  {splits:<34} "
              f"{info.relevance_threshold:>3} {'; '.join(notes)}")
    print("\n* default split; thr = relevance threshold of binary measures; "
          "`synrank datasets --all` lists the whole catalog")
    return 0


def _catalog_listing(as_json: bool) -> int:
    # start-up time: every synrank command imports this module; the downloader loads http.client and ssl
    from synrank.data.download import describe_size, has_corpus, locate

    catalog = load_catalog()
    rows = []
    for entry in catalog:
        where = locate(entry)
        partial = where is not None and not has_corpus(where, entry)
        complete = locate(entry, complete=True) if partial else where
        rows.append((entry, where, partial, complete))
    if as_json:
        print(json.dumps([{
            "name": e.name, "title": e.title, "collection": e.collection, "present": where is not None,
            "path": str(where) if where else None, "without_corpus": partial,
            "complete_copy": str(complete) if complete else None, "fetchable": e.fetchable,
            "download_bytes": e.download_bytes, "licence": e.licence, "homepage": e.homepage,
            "relevance_threshold": e.relevance_threshold, "ignore_identical_ids": e.ignore_identical_ids,
            "default_split": e.default_split, "splits": e.splits, "forums": e.forums, "shipped": e.shipped,
            "counts": e.counts, "manual": e.manual or None,
            "sources": [{"kind": s.kind, "host": s.host or None,
                         "urls": [u for f in s.files for u in f.urls] or None,
                         "ir_datasets": s.ir_datasets or None, "corpus_from": s.corpus_from}
                        for s in e.sources],
        } for e, where, partial, complete in rows], indent=2))
        return 0
    print(f"dataset catalog: {catalog.source} ({len(catalog)} datasets)")
    print(f"\n{'name':<22} {'collection':<16} {'status':<9} {'download':<28} where / how")
    missing_bytes, unknown, to_get = 0, [], []
    for entry, where, partial, complete in rows:
        if where is not None and not partial:
            status, size = "present", "-"
            how = str(where)
        elif partial and complete is not None:
            status, size = "present", "-"
            how = f"{complete} (shadowed by {where}, which has no corpus)"
        elif entry.fetchable:
            status, size = "missing", describe_size(entry, catalog)
            how = f"synrank download {entry.name}"
            if partial:
                status = "partial"
                how = f"{where} has no corpus; {how} --to DIR, DIR first in $SYNRANK_DATA"
            to_get.append(entry.name)
            if entry.download_bytes is None:
                unknown.append(entry.name)
            else:
                missing_bytes += entry.download_bytes
        else:
            status, size = ("partial" if partial else "missing"), "not downloadable"
            how = entry.manual.partition(": ")[2] or entry.manual
            how = how if len(how) <= 70 else how[:67] + "..."
        print(f"{entry.name:<22} {entry.collection:<16} {status:<9} {size:<28} {how}")
    print(f"\nmissing and downloadable: {len(to_get)} dataset(s), {format_bytes(missing_bytes)}"
          + (f" + unknown sizes ({', '.join(unknown)})" if unknown else "")
          + "; licences: `synrank datasets --all --json` or synrank/data/catalog.yaml")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    # start-up time: every synrank command imports this module; the downloader loads http.client and ssl
    from synrank.data.download import RECORD_FILE, download_dataset, locate

    catalog = load_catalog()
    unknown = [n for n in args.names if n not in catalog]
    if unknown:
        raise DatasetError(f"not in the dataset catalog: {', '.join(unknown)}",
                           hint="`synrank datasets --all` lists the datasets synrank can download")
    for name in args.names:
        entry = catalog.get(name)
        assert entry is not None
        found = locate(entry, complete=True) if args.to is None else None
        if found is not None:
            print(f"{name}: present at {found} (nothing downloaded)")
            continue
        partial = locate(entry)
        if partial is not None and args.to is None:
            print(f"{name}: {partial} has no corpus; downloading a complete copy (put its folder before "
                  f"{partial.parent} in the search path, e.g. with --to DIR and $SYNRANK_DATA=DIR)")
        folder = download_dataset(name, root=args.to, offline=args.offline or None,
                                  progress=not args.no_progress)
        record_path = folder / RECORD_FILE
        record = json.loads(record_path.read_text()) if record_path.is_file() else {}
        size = sum(f.get("bytes", 0) for f in record.get("files", []))
        how = f"{len(record.get('files', []))} file(s), {format_bytes(size)}" if record.get("files") else \
            record.get("kind", "present")
        print(f"{name}: {folder} ({how}; record: {record_path.name})")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    # Warnings are collected into the report and printed once there; the logger's level is restored
    # afterwards so that an in-process caller (tests, notebooks) keeps seeing data-layer warnings.
    data_logger = logging.getLogger("synrank.data")
    previous = data_logger.level
    data_logger.setLevel(logging.ERROR)
    try:
        folder = Path(args.dir).expanduser()
        if not folder.is_dir():
            folder = resolve_dataset(args.dir, download=False)
        try:
            report = validate_folder(folder, name=args.name)
        except DatasetError as exc:
            # the folder was found and read: its data failing a check is exit 1, not a usage error
            print(f"synrank validate: error: {type(exc).__name__}: {exc}", file=sys.stderr)
            return EXIT_CHECK_FAILED
    finally:
        data_logger.setLevel(previous)
    print(report.to_text())
    return 0
