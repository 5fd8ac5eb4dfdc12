"""``synrank datasets`` and ``synrank validate DIR``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from synrank.cliargs import EXIT_CHECK_FAILED
from synrank.paths import dataset_search_path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "datasets", help="list the datasets found, where, with counts",
        description="List the BEIR-layout folders in the dataset search path ($SYNRANK_DATA, "
                    "shared/datasets beside the repository, <cache>/datasets) with line counts "
                    "(documents, queries, judged queries per split). Fast: files are counted, not parsed; "
                    "use synrank validate to check a folder.")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_datasets)

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


def cmd_datasets(args: argparse.Namespace) -> int:
    from synrank.data.registry import iter_dataset_folders, quick_counts

    search = dataset_search_path()
    entries = iter_dataset_folders(search)
    if args.json:
        out = []
        for folder, info, shadowed in entries:
            out.append({"name": info.name, "path": str(info.path), "search_folder": str(folder),
                        "shadowed": shadowed, "default_split": info.default_split, "splits": list(info.splits),
                        "relevance_threshold": info.relevance_threshold,
                        "ignore_identical_ids": info.ignore_identical_ids,
                        "rerank_run": str(info.rerank_run) if info.rerank_run else None,
                        "training_pool": info.training_pool, **quick_counts(info)})
        print(json.dumps(out, indent=2))
        return 0
    print("search path (first match wins):")
    for folder in search:
        print(f"  {folder}{'' if folder.is_dir() else '  (missing)'}")
    if not entries:
        print("no datasets found")
        return 0
    header = f"{'name':<22} {'docs':>9} {'queries':>8}  {'judged queries per split':<34} {'thr':>3} {'notes'}"
    current = None
    for folder, info, shadowed in entries:
        if folder != current:
            current = folder
            print(f"\n{folder}:")
            print(header)
        c = quick_counts(info)
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
    print("\n* default split; thr = relevance threshold of binary measures")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from synrank.data.validate import validate_folder
    from synrank.errors import DatasetError

    # Warnings are collected into the report and printed once there; the logger's level is restored
    # afterwards so that an in-process caller (tests, notebooks) keeps seeing data-layer warnings.
    data_logger = logging.getLogger("synrank.data")
    previous = data_logger.level
    data_logger.setLevel(logging.ERROR)
    try:
        folder = Path(args.dir).expanduser()
        if not folder.is_dir():
            from synrank.data.registry import resolve_dataset

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
