"""Dataset registry: resolve a dataset name to a BEIR-layout folder and describe it.

Search order for a name (see :func:`synrank.paths.dataset_search_path`): every folder in
``$SYNRANK_DATA`` (``os.pathsep``-separated), ``shared/datasets`` beside the repository,
``<cache>/datasets``, then the small datasets shipped inside the package (``synrank/data/shipped``).
Every layout file may be gzip-compressed (``corpus.jsonl.gz`` ...). A path to an existing folder is
accepted as is. A name found nowhere that the dataset catalog (:mod:`synrank.data.catalog`) lists is
downloaded into ``<cache>/datasets`` (:mod:`synrank.data.download`) unless downloading is disabled
(``SYNRANK_OFFLINE=1``); the error for a missing dataset lists every folder searched and the
``synrank download NAME`` command that gets it.

The folders themselves (layout, per-dataset metadata in :data:`KNOWN_DATASETS`, :class:`DatasetInfo`,
the search without downloads) are :mod:`synrank.data.folders`; their names are importable from here too.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from synrank.data.catalog import catalog_entry
from synrank.data.folders import (
    CORPUS_FILE,
    GZIP_SUFFIX,
    KNOWN_DATASETS,
    QRELS_DIR,
    QUERIES_FILE,
    RERANK_RUN_FILE,
    DatasetInfo,
    count_lines,
    find_local,
    info_for_folder,
    is_dataset_folder,
    iter_dataset_folders,
    layout_file,
    link_problem,
    list_datasets,
    logical_name,
    missing_folder_message,
    quick_counts,
)
from synrank.errors import DatasetError
from synrank.paths import dataset_search_path

__all__ = [
    "CORPUS_FILE", "GZIP_SUFFIX", "KNOWN_DATASETS", "QRELS_DIR", "QUERIES_FILE", "RERANK_RUN_FILE", "DatasetInfo",
    "count_lines", "dataset_info", "find_local", "info_for_folder", "is_dataset_folder", "iter_dataset_folders",
    "layout_file", "link_problem", "list_datasets", "logical_name", "missing_folder_message", "quick_counts",
    "resolve_dataset",
]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _looks_like_path(text: str) -> bool:
    """True for anything but a bare name: separators, ``.``/``~`` prefixes."""
    return os.sep in text or (os.altsep or os.sep) in text or text.startswith((".", "~"))


def resolve_dataset(name_or_path: str | os.PathLike, *, download: bool | None = None) -> Path:
    """Return the folder of a dataset given by name or path.

    A name is looked up in the dataset search path; ``group/forum`` (e.g. ``cqadupstack/android``)
    names one forum of a catalog dataset with forums. A name found nowhere that the dataset catalog
    (:mod:`synrank.data.catalog`) can fetch is downloaded into ``<cache>/datasets`` when ``download`` is
    None (default) and downloading is allowed (``$SYNRANK_OFFLINE`` unset); ``download=False`` never
    downloads. The error for a missing dataset lists every folder searched and the command that gets it.
    """
    text = str(name_or_path)
    forum = None if isinstance(name_or_path, os.PathLike) else _forum_reference(text)
    if forum is None and (isinstance(name_or_path, os.PathLike) or _looks_like_path(text)):
        path = Path(name_or_path).expanduser()
        if not path.is_dir():
            raise DatasetError(missing_folder_message(path), path,
                               hint="give an existing folder or a dataset name; see `synrank datasets`")
        if not is_dataset_folder(path):
            raise DatasetError(f"not a BEIR-layout folder (no {CORPUS_FILE}, {QUERIES_FILE} or {QRELS_DIR}/)",
                               path)
        return path
    if forum is None and not _NAME_RE.match(text):
        raise DatasetError(f"invalid dataset name {text!r}", hint="use a folder name such as 'scifact' or a path")
    search = dataset_search_path()
    found = find_local(text, search)
    if found is not None:
        return found
    if forum is None:
        if is_dataset_folder(Path(text)):  # a bare relative path to a folder in the working directory
            return Path(text)
        problem = link_problem(Path(text))
        if problem:
            raise DatasetError(f"dataset folder is {problem}", text, hint="fix or remove the link")
    return _fetch_missing(text, forum, search, download)


def _forum_reference(text: str) -> tuple[str, str] | None:
    """``("cqadupstack", "android")`` for ``"cqadupstack/android"`` when the catalog lists that forum."""
    group, sep, forum = text.partition("/")
    if not sep or not _NAME_RE.match(group) or not _NAME_RE.match(forum):
        return None
    entry = catalog_entry(group)
    return (group, forum) if entry is not None and forum in entry.forums else None


def _fetch_missing(name: str, forum: tuple[str, str] | None, search: list[Path], download: bool | None) -> Path:
    """Download a dataset found nowhere, or raise the error that says where it looked and what to do."""
    # start-up time: the downloader loads http.client and ssl, which only a missing dataset needs
    from synrank.data.download import OfflineError, download_dataset, offline_reason

    looked = ", ".join(str(Path(p) / name) for p in search)
    entry = catalog_entry(forum[0] if forum else name)
    if entry is None:
        raise DatasetError(
            f"dataset {name!r} not found; looked in: {looked}",
            hint="put a BEIR-layout folder in one of these places, add its parent to $SYNRANK_DATA, or pass a "
                 "path; it is not in the dataset catalog (`synrank datasets --all` lists what synrank can "
                 "download)")
    if entry.forums and forum is None:
        raise DatasetError(f"dataset {name!r} is {len(entry.forums)} forums, each its own dataset: name one, e.g. "
                           f"'{name}/{entry.forums[0]}'",
                           hint="a benchmark suite listing it evaluates every forum and averages them, as BEIR does")
    if not entry.sources:
        raise DatasetError(f"dataset {name!r} not found; looked in: {looked}",
                           hint=entry.manual)
    command = f"synrank download {entry.name}"
    offline = offline_reason()
    why = "this command does not download" if download is False else offline
    if why:
        where = " on a machine with internet, then copy the folder into one of these places" if offline else ""
        raise DatasetError(f"dataset {name!r} not found; looked in: {looked}; not downloaded ({why})",
                           hint=f"get it with `{command}`{where}")
    try:
        folder = download_dataset(entry.name)
    except OfflineError as exc:
        raise DatasetError(f"dataset {name!r} not found; looked in: {looked}; and it cannot be downloaded "
                           f"from here ({exc})",
                           hint=f"run `{command}` where there is internet (it resumes) and copy the folder "
                                "into one of these places") from exc
    return folder / forum[1] if forum else folder


def dataset_info(name_or_path: str | os.PathLike, *, download: bool | None = None) -> DatasetInfo:
    """Resolve a dataset (see :func:`resolve_dataset`; ``download`` as there) and describe it."""
    path = resolve_dataset(name_or_path, download=download)
    name = None
    if not (isinstance(name_or_path, os.PathLike) or _looks_like_path(str(name_or_path))):
        name = str(name_or_path)
    return info_for_folder(path, name)
