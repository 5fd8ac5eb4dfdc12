"""Download catalog datasets: resumable, verified, atomic and locked, with a progress bar.

:func:`download_dataset` fetches one catalog entry (:mod:`synrank.data.catalog`) into a datasets folder
(default ``<cache>/datasets``), trying the entry's sources in order:

- **Resumable.** Each file is downloaded to ``<root>/.downloads/<name>/<file>.part``; an interrupted
  download (dropped connection, server error mid-stream, ``kill -9``) continues from the bytes already
  there with an HTTP ``Range`` request (a server that ignores it sends the whole file again). Within a
  call, a dropped transfer is retried :data:`RETRIES` times.
- **Verified.** A finished file must match every checksum the catalog gives (md5, sha256, git blob id);
  a mismatch deletes it and moves on to the next mirror or source. The sha256 and md5 seen for every
  file are recorded in the dataset folder's ``DOWNLOAD.json``.
- **Atomic.** The dataset is built in a temporary folder beside the target and renamed into place as a
  whole; a crash leaves no half-built dataset under its name (only the resumable ``.part`` files).
- **Locked.** A lock file per dataset name in the datasets folder: a second process downloading the same
  dataset waits for the first and then finds the dataset in place.
- **Offline.** ``offline=True`` (``--offline``) or ``$SYNRANK_OFFLINE`` forbids every download; sources
  hosted on Hugging Face are skipped when ``$HF_HUB_OFFLINE`` is set.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from tqdm.auto import tqdm

from synrank import __version__
from synrank.data.catalog import Catalog, Entry, RemoteFile, Source, format_bytes, load_catalog
from synrank.data.convert import (
    build_rankgpt_pool,
    from_ir_datasets,
    trec_qrels_to_beir,
    tsv_queries_to_jsonl,
    unpack_beir_zip,
)
from synrank.data.folders import (
    CORPUS_FILE,
    GZIP_SUFFIX,
    find_local,
    info_for_folder,
    is_dataset_folder,
    layout_file,
    quick_counts,
)
from synrank.errors import DatasetError, SynrankError
from synrank.io import atomic_write_json, fsync_dir
from synrank.paths import cache_dir, dataset_search_path

logger = logging.getLogger(__name__)

#: Seconds to wait for a server to connect or to send more data.
NETWORK_TIMEOUT = 15.0
#: Attempts per URL when a transfer drops (each resumes where the last one stopped).
RETRIES = 3
#: First pause between attempts (doubled each time).
RETRY_PAUSE = 1.0
DOWNLOADS_DIR = ".downloads"
RECORD_FILE = "DOWNLOAD.json"
_CHUNK = 1 << 16
_TRUE = ("1", "true", "yes", "on")


class OfflineError(SynrankError):
    """Downloading is disabled here, or no server could be reached."""


class _Dropped(Exception):
    """A transfer stopped early; retrying resumes it."""


def offline_reason(offline: bool | None = None) -> str | None:
    """Why downloads are disabled (None when allowed): ``offline=True`` or ``$SYNRANK_OFFLINE``."""
    if offline:
        return "--offline was given"
    if os.environ.get("SYNRANK_OFFLINE", "").strip().lower() not in ("", "0", "false", "no", "off"):
        return "SYNRANK_OFFLINE is set"
    return None


def hf_offline() -> bool:
    """True when ``$HF_HUB_OFFLINE`` asks not to contact the Hugging Face Hub."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def default_root() -> Path:
    return cache_dir() / "datasets"


# ----------------------------------------------------------------------------- one file

@dataclass
class Fetched:
    path: Path
    url: str
    bytes: int
    sha256: str
    md5: str
    resumed_from: int = 0


def file_digests(path: Path) -> dict[str, str]:
    """sha256, md5 and git blob id of a file (one pass)."""
    sha, md5 = hashlib.sha256(), hashlib.md5()  # noqa: S324 - md5 is what publishers list
    blob = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())  # noqa: S324 - git's object id
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            sha.update(chunk)
            md5.update(chunk)
            blob.update(chunk)
    return {"sha256": sha.hexdigest(), "md5": md5.hexdigest(), "git_blob": blob.hexdigest()}


def _open(url: str, start: int, timeout: float):
    headers = {"User-Agent": f"synrank/{__version__}"}
    if start:
        headers["Range"] = f"bytes={start}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)  # noqa: S310


def _transfer(url: str, part: Path, expected_size: int | None, desc: str, progress: bool,
              timeout: float) -> int:
    """Append the rest of ``url`` to ``part`` (resuming with a Range request); returns the start offset.

    Raises :class:`_Dropped` when the transfer stops before the announced size."""
    have = part.stat().st_size if part.exists() else 0
    if expected_size is not None and have > expected_size:
        part.unlink()
        have = 0
    try:
        response = _open(url, have, timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have and have == expected_size:
            return have  # the file was already complete
        raise
    with response:
        total: int | None = expected_size
        if have and response.status == 206:
            match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != have:
                raise _Dropped(f"server answered Range {have}- with {response.headers.get('Content-Range')!r}")
            if match.group(2) != "*":
                total = int(match.group(2))
            mode = "ab"
        else:
            if have:
                logger.info("%s: the server does not resume (HTTP %s); downloading from the start", url,
                            response.status)
            have = 0
            mode = "wb"
            length = response.headers.get("Content-Length")
            if length and length.isdigit():
                total = int(length)
        received = have
        with open(part, mode) as out, tqdm(total=total, initial=have, unit="B", unit_scale=True,
                                           desc=desc, disable=not progress, leave=False) as bar:
            try:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            except http.client.IncompleteRead as exc:
                out.write(exc.partial)
                received += len(exc.partial)
                raise _Dropped(f"connection closed after {received:,} of {total or '?'} bytes") from None
            except (ConnectionError, TimeoutError) as exc:
                raise _Dropped(f"transfer failed after {received:,} bytes ({exc})") from None
            finally:
                out.flush()
                os.fsync(out.fileno())
        if total is not None and received < total:
            raise _Dropped(f"connection closed after {received:,} of {total:,} bytes")
    return have


def fetch_file(remote: RemoteFile, dest: Path, *, progress: bool = True, timeout: float = NETWORK_TIMEOUT,
               retries: int = RETRIES) -> Fetched:
    """Download ``remote`` to ``dest`` (resuming ``dest.part``), verify it, rename it into place.

    Tries the URL and then each mirror; raises :class:`OfflineError` when no server could be reached,
    :class:`DatasetError` when a server answered but no URL gave the expected bytes.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    problems: list[str] = []
    unreachable = 0
    for url in remote.urls:
        start = 0
        try:
            for attempt in range(1, retries + 1):
                try:
                    start = _transfer(url, part, remote.bytes, dest.name, progress, timeout)
                    break
                except _Dropped as exc:
                    if attempt == retries:
                        raise
                    pause = RETRY_PAUSE * 2 ** (attempt - 1)
                    logger.warning("%s: %s; resuming in %.0f s (attempt %d of %d)", url, exc, pause,
                                   attempt + 1, retries)
                    time.sleep(pause)
                except urllib.error.HTTPError as exc:
                    if exc.code < 500 and exc.code not in (408, 429) or attempt == retries:
                        raise
                    time.sleep(RETRY_PAUSE * 2 ** (attempt - 1))
        except urllib.error.HTTPError as exc:
            problems.append(f"{url}: HTTP {exc.code} {exc.reason}")
            continue
        except _Dropped as exc:
            problems.append(f"{url}: {exc} ({retries} attempts; run the command again to resume)")
            continue
        except (urllib.error.URLError, OSError) as exc:
            unreachable += 1
            problems.append(f"{url}: {getattr(exc, 'reason', None) or exc}")
            continue
        digests = file_digests(part)
        wrong = [f"{k} {v} expected, got {digests[k]}" for k, v in remote.expected.items() if digests[k] != v]
        if wrong:
            part.unlink()
            problems.append(f"{url}: checksum mismatch: {'; '.join(wrong)} (the download was deleted)")
            continue
        os.replace(part, dest)
        fsync_dir(dest.parent)
        size = dest.stat().st_size
        return Fetched(dest, url, size, digests["sha256"], digests["md5"], start)
    message = f"{remote.path}: " + "; ".join(problems)
    if unreachable == len(remote.urls):
        raise OfflineError(f"cannot reach any server for {message}")
    raise DatasetError(message)


# ----------------------------------------------------------------------------- one dataset

def locate(entry: Entry, search_path: list[Path] | None = None, *, complete: bool = False) -> Path | None:
    """Where ``entry`` is in the search path: the folder a name resolves to (a dataset with forums: the
    first folder holding all its forums). ``complete=True`` skips copies that lack the corpus the
    catalog entry has (e.g. a queries-and-qrels-only folder)."""
    if not entry.forums and not complete:
        return find_local(entry.name, search_path)
    for folder in (dataset_search_path() if search_path is None else search_path):
        candidate = Path(folder) / entry.name
        if _complete(candidate, entry) and (not complete or has_corpus(candidate, entry)):
            return candidate
    return None


def has_corpus(path: Path, entry: Entry) -> bool:
    """True when ``path`` has every corpus the entry has (none expected for a query pool)."""
    if entry.training_pool or not entry.counts.get("docs", 1):
        return True
    folders = [path / f for f in entry.forums] if entry.forums else [path]
    return all(layout_file(f, CORPUS_FILE).is_file() for f in folders)


def _complete(path: Path, entry: Entry) -> bool:
    if entry.forums:
        return path.is_dir() and all(is_dataset_folder(path / f) for f in entry.forums)
    return is_dataset_folder(path)


@contextlib.contextmanager
def _dataset_lock(root: Path, name: str) -> Iterator[None]:
    lock = FileLock(str(root / f".{name}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        logger.info("another process is downloading %s (lock %s); waiting for it", name, lock.lock_file)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def download_dataset(name: str, *, root: str | Path | None = None, offline: bool | None = None,
                     progress: bool = True, catalog: Catalog | None = None, ir_module: Any = None) -> Path:
    """Fetch catalog dataset ``name`` into ``root`` (default ``<cache>/datasets``); return its folder.

    Returns at once when ``root/name`` is already complete. ``ir_module`` replaces the ``ir_datasets``
    package (tests).
    """
    cat = catalog or load_catalog()
    entry = cat.get(name)
    if entry is None:
        raise DatasetError(f"{name!r} is not in the dataset catalog ({cat.source})",
                           hint="`synrank datasets --all` lists the datasets synrank can download")
    root = Path(root) if root is not None else default_root()
    target = root / name
    if _complete(target, entry) and has_corpus(target, entry):
        return target
    if not entry.sources:
        raise DatasetError(f"dataset {name!r}: {entry.manual}")
    why = offline_reason(offline)
    if why:
        raise OfflineError(f"dataset {name!r}: downloading is disabled ({why})")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"cannot create the datasets folder ({exc.strerror or exc})", root) from exc
    with _dataset_lock(root, name):
        if _complete(target, entry) and has_corpus(target, entry):  # finished by another process meanwhile
            return target
        if os.path.lexists(target):
            raise DatasetError(f"{target.name} exists but is not a complete copy of the dataset", target,
                               hint="move it away (or delete it) and run the download again")
        own = re.compile(re.escape(f".{name}.") + r"[A-Za-z0-9_]+\.tmp")
        for stale in root.iterdir():  # a build killed half-way (its name's lock is ours now)
            if own.fullmatch(stale.name):
                shutil.rmtree(stale, ignore_errors=True)
        problems: list[str] = []
        offline_only = True
        for i, src in enumerate(entry.sources, 1):
            label = f"source {i} ({src.kind}{', ' + src.host if src.host else ''})"
            if src.host == "huggingface" and hf_offline():
                problems.append(f"{label}: skipped (HF_HUB_OFFLINE is set)")
                continue
            try:
                return _build(entry, src, i, root, target, progress=progress, offline=offline, catalog=cat,
                              ir_module=ir_module)
            except OfflineError as exc:
                problems.append(f"{label}: {exc}")
            except SynrankError as exc:
                offline_only = False
                problems.append(f"{label}: {exc}")
        text = f"could not download dataset {name!r}: " + " | ".join(problems)
        if offline_only:
            raise OfflineError(text)
        raise DatasetError(text)


def _build(entry: Entry, src: Source, index: int, root: Path, target: Path, *, progress: bool,
           offline: bool | None, catalog: Catalog, ir_module: Any) -> Path:
    name = entry.name
    downloads = root / DOWNLOADS_DIR / name
    work = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=root))
    record: dict[str, Any] = {"schema": "synrank.download/v1", "name": name, "source": index, "kind": src.kind,
                              "cite": src.cite, "started_utc": _now(), "files": []}
    try:
        corpus_dir = None
        if src.corpus_from:
            corpus_dir = _dependency(src.corpus_from, root, progress=progress, offline=offline, catalog=catalog,
                                     ir_module=ir_module)
        if src.kind == "zip":
            remote = src.files[0]
            got = fetch_file(remote, downloads / remote.path, progress=progress)
            record["files"].append(_file_record(remote, got))
            folder = unpack_beir_zip(got.path, name, work, entry.forums)
        elif src.kind == "files":
            folder = work / "build"
            folder.mkdir()
            fetched = {}
            for remote in src.files:
                fetched[remote.path] = got = fetch_file(remote, downloads / remote.path.replace("/", "__"),
                                                        progress=progress)
                record["files"].append(_file_record(remote, got))
            _assemble(src, fetched, folder)
        else:
            folder = work / "build"
            folder.mkdir()
            if entry.forums:
                for forum in entry.forums:
                    fid = src.ir_datasets[forum]
                    from_ir_datasets({"docs": fid, "test": fid}, folder / forum, module=ir_module)
            else:
                from_ir_datasets(src.ir_datasets, folder, module=ir_module, transform=src.transform,
                                 with_docs=corpus_dir is None)
            record["ir_datasets"] = dict(src.ir_datasets)
        if corpus_dir is not None:
            corpus = layout_file(corpus_dir, CORPUS_FILE).resolve()
            link = folder / (CORPUS_FILE + (GZIP_SUFFIX if corpus.name.endswith(GZIP_SUFFIX) else ""))
            os.symlink(corpus, link)
            record["corpus_from"] = {"dataset": src.corpus_from, "file": str(corpus)}
        if not _complete(folder, entry):
            raise DatasetError(f"source {index} gave no BEIR-layout folder for {name!r}", work)
        record["count_check"] = _check_counts(entry, folder)
        record["finished_utc"] = _now()
        atomic_write_json(folder / RECORD_FILE, record)
        os.replace(folder, target)
        fsync_dir(root)
        shutil.rmtree(downloads, ignore_errors=True)
        logger.info("dataset %s is in %s", name, target)
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _assemble(src: Source, fetched: dict[str, Fetched], folder: Path) -> None:
    """Place or convert the fetched files of a ``files`` source into ``folder``."""
    if src.build == "rankgpt-pool":
        needed = ("run.json", "topics.tsv", "qrels.txt")
        missing = [n for n in needed if n not in fetched]
        if missing:
            raise DatasetError(f"the rankgpt-pool build needs input files {', '.join(missing)}")
        build_rankgpt_pool(*(fetched[n].path for n in needed), folder)
    judged: set[str] = set()
    for remote in src.files:
        if remote.format == "trec-qrels":
            (folder / remote.path).parent.mkdir(parents=True, exist_ok=True)
            judged |= trec_qrels_to_beir(fetched[remote.path].path, folder / remote.path)
    for remote in src.files:
        dest = folder / remote.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        if remote.format == "tsv-queries":
            tsv_queries_to_jsonl(fetched[remote.path].path, dest, judged if src.judged_only else None)
        elif remote.format == "copy":
            os.replace(fetched[remote.path].path, dest)


def _dependency(name: str, root: Path, **kwargs: Any) -> Path:
    """A dataset another one links to: found in the search path, else downloaded into ``root``."""
    catalog: Catalog = kwargs["catalog"]
    entry = catalog.get(name)
    assert entry is not None  # the catalog's validation guarantees it
    found = locate(entry, complete=True)
    if found is not None:
        return found
    logger.info("fetching %s first (its corpus is linked)", name)
    return download_dataset(name, root=root, **kwargs)


def _file_record(remote: RemoteFile, got: Fetched) -> dict[str, Any]:
    return {"path": remote.path, "url": got.url, "bytes": got.bytes, "sha256": got.sha256, "md5": got.md5,
            "expected": remote.expected, "resumed_from_byte": got.resumed_from}


def _check_counts(entry: Entry, folder: Path) -> dict[str, Any]:
    """Compare the catalog's counts with the folder (a warning, not an error: checksums verify the files)."""
    if entry.forums or not entry.counts:
        return {}
    counts = quick_counts(info_for_folder(folder, entry.name))
    seen: dict[str, int | None] = {"docs": counts["docs"], "queries": counts["queries"]}
    for split, c in counts["splits"].items():
        seen[f"{split}_queries"] = c["judged_queries"]
        seen[f"{split}_qrels"] = c["qrels"]
    differ = {k: {"catalog": v, "found": seen.get(k)} for k, v in entry.counts.items()
              if k in seen and seen[k] is not None and seen[k] != v}
    for k, v in differ.items():
        logger.warning("%s: %s is %s, the catalog says %s", entry.name, k, v["found"], v["catalog"])
    return {"differences": differ}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def describe_size(entry: Entry, catalog: Catalog | None = None) -> str:
    """``1.08 GB``, ``222.7 kB + msmarco 1.08 GB``, ``?`` (unknown) or ``-`` (not downloadable)."""
    if not entry.sources:
        return "-"
    text = format_bytes(entry.download_bytes)
    dep = entry.sources[0].corpus_from
    if dep:
        cat = catalog or load_catalog()
        dep_entry = cat.get(dep)
        if dep_entry is not None and locate(dep_entry) is None:
            text += f" + {dep} {format_bytes(dep_entry.download_bytes)}"
    return text
