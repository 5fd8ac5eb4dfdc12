"""Dataset registry: resolve a dataset name to a BEIR-layout folder and describe it.

Search order for a name (see :func:`synrank.paths.dataset_search_path`): every folder in
``$SYNRANK_DATA`` (``os.pathsep``-separated), ``shared/datasets`` beside the repository, then
``<cache>/datasets``. A path to an existing folder is accepted as is. A name found nowhere is
downloaded from BEIR's public mirror into ``<cache>/datasets`` when the machine is online (set
``SYNRANK_OFFLINE=1`` to forbid it); offline, the error lists every folder that was searched.

Per-dataset metadata (default split, relevance threshold of binary measures, whether a query's own
id must be removed from its ranking, a shipped rerank run, known tolerated quirks) comes from the
built-in table :data:`KNOWN_DATASETS`; folders not in it get conservative defaults.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from synrank.errors import DatasetError
from synrank.paths import cache_dir, dataset_search_path

logger = logging.getLogger(__name__)

CORPUS_FILE = "corpus.jsonl"
QUERIES_FILE = "queries.jsonl"
QRELS_DIR = "qrels"
RERANK_RUN_FILE = "bm25_top100.trec"

BEIR_URL = "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/{name}.zip"
#: Seconds to wait for BEIR's server to connect or to send more data; past that the machine is
#: considered offline (or the download stalled).
NETWORK_TIMEOUT = 15.0

#: Datasets BEIR publishes as ``{name}.zip`` in BEIR layout (Thakur et al., 2021; the table of the
#: beir-cellar/beir README). Only these names are ever downloaded; anything else must be found
#: locally. CQADupStack is left out: its archive nests one BEIR folder per forum.
BEIR_DOWNLOADABLE = frozenset({
    "msmarco", "trec-covid", "nfcorpus", "nq", "hotpotqa", "fiqa", "arguana", "webis-touche2020",
    "quora", "dbpedia-entity", "scidocs", "fever", "climate-fever", "scifact",
})

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class DatasetInfo:
    """What synrank knows about one dataset folder.

    The first nine fields are the cross-area interface (``API.md``); the rest describe quirks that
    the loader tolerates for that dataset only (each is warned about, with counts, when met).
    """

    name: str
    path: Path
    default_split: str
    splits: tuple[str, ...]
    #: Minimal grade counted as relevant by binary measures (MAP, Recall, MRR, P): TREC DL 2, else 1.
    relevance_threshold: int = 1
    #: Remove a query's own id from its ranking before scoring (BEIR/MTEB do so for ArguAna, Quora).
    ignore_identical_ids: bool = False
    #: A first-stage run shipped with the folder, for rerank evaluation.
    rerank_run: Path | None = None
    has_corpus: bool = False
    #: Judged documents may be missing from the corpus (pooled corpora): warned with counts, kept.
    qrels_outside_corpus: bool = False
    # ---- additions beyond the agreed interface (all defaulted) ----
    has_queries: bool = True
    #: Splits whose files hold negative grades on purpose (e.g. cranfield's raw Cleverdon codes).
    negative_grade_splits: tuple[str, ...] = ()
    #: Documents with empty title and text are known and kept (warned with counts).
    allow_empty_documents: bool = False
    #: The queries are a training/generation pool, not an evaluation set (excluded by the leakage guard).
    training_pool: bool = False
    #: True when the metadata came from :data:`KNOWN_DATASETS`.
    known: bool = False
    #: One line on what the folder is and any caveat.
    note: str = ""

    @property
    def corpus_path(self) -> Path:
        return self.path / CORPUS_FILE

    @property
    def queries_path(self) -> Path:
        return self.path / QUERIES_FILE

    def qrels_path(self, split: str) -> Path:
        return self.path / QRELS_DIR / f"{split}.tsv"

    @property
    def evaluation_splits(self) -> tuple[str, ...]:
        """Splits holding evaluation judgements: everything but ``train*`` (none for a training pool)."""
        if self.training_pool:
            return ()
        return tuple(s for s in self.splits if not s.startswith("train"))


#: Built-in metadata, keyed by folder name. Keys are DatasetInfo fields.
KNOWN_DATASETS: dict[str, dict] = {
    "trec-dl-2019": dict(
        default_split="test", relevance_threshold=2, qrels_outside_corpus=True,
        note="TREC DL 2019 passage; corpus = BM25 top-100 pool (rerank numbers comparable, full-collection not)"),
    "trec-dl-2020": dict(
        default_split="test", relevance_threshold=2, qrels_outside_corpus=True,
        note="TREC DL 2020 passage; corpus = BM25 top-100 pool (rerank numbers comparable, full-collection not)"),
    "arguana": dict(
        default_split="test", ignore_identical_ids=True, qrels_outside_corpus=True,
        note="5 qrels targets are missing from BEIR's own corpus (beir-cellar/beir #101, #172)"),
    "quora": dict(default_split="test", ignore_identical_ids=True),
    "cranfield": dict(
        default_split="test", ignore_identical_ids=False, negative_grade_splits=("test_raw_codes",),
        allow_empty_documents=True,
        note="query ids overlap doc ids (never ignore identical ids); test_raw_codes holds raw Cleverdon "
             "codes (lower = more relevant, -1 = source paper): never evaluate with it as gains"),
    "scifact": dict(default_split="test"),
    "nfcorpus": dict(default_split="test"),
    "fiqa": dict(default_split="test"),
    "scidocs": dict(default_split="test"),
    "trec-covid": dict(default_split="test"),
    "webis-touche2020": dict(default_split="test"),
    "nq": dict(default_split="test"),
    "hotpotqa": dict(default_split="test"),
    "dbpedia-entity": dict(default_split="test"),
    "fever": dict(default_split="test"),
    "climate-fever": dict(default_split="test"),
    "msmarco": dict(default_split="dev", note="BEIR evaluates MS MARCO on its dev split"),
    "msmarco-dev-small": dict(
        default_split="dev", training_pool=True,
        note="MS MARCO dev small: a query source for synthetic data (no corpus)"),
    "msmarco-dev-queries": dict(
        default_split="", training_pool=True,
        note="56k MS MARCO dev queries: the synthetic-generation pool (no corpus, no qrels)"),
}


def is_dataset_folder(path: Path) -> bool:
    """A folder in BEIR layout has at least a corpus, a queries file or a qrels folder."""
    return path.is_dir() and any(
        (path / p).exists() for p in (CORPUS_FILE, QUERIES_FILE, QRELS_DIR))


def _splits(path: Path) -> tuple[str, ...]:
    qrels = path / QRELS_DIR
    if not qrels.is_dir():
        return ()
    return tuple(sorted(p.name[:-4] for p in qrels.iterdir()
                        if p.name.endswith(".tsv") and not p.name.startswith(".") and p.is_file()))


def info_for_folder(path: str | Path, name: str | None = None) -> DatasetInfo:
    """Describe a dataset folder; metadata from :data:`KNOWN_DATASETS` when its name is known."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetError("dataset folder does not exist", path)
    name = name or path.name
    splits = _splits(path)
    meta = dict(KNOWN_DATASETS.get(name, {}))
    known = name in KNOWN_DATASETS
    default = meta.pop("default_split", None)
    if default is None or (default and default not in splits):
        # Unknown folder (or a known one shipped without its usual split): test, else the only split.
        if "test" in splits:
            default = "test"
        elif len(splits) == 1:
            default = splits[0]
        else:
            default = ""
    run = path / RERANK_RUN_FILE
    return DatasetInfo(
        name=name, path=path, default_split=default, splits=splits,
        rerank_run=run if run.is_file() else None,
        has_corpus=(path / CORPUS_FILE).is_file(),
        has_queries=(path / QUERIES_FILE).is_file(),
        known=known, **meta)


def _looks_like_path(text: str) -> bool:
    """True for anything but a bare name: separators, ``.``/``~`` prefixes."""
    return os.sep in text or (os.altsep or os.sep) in text or text.startswith((".", "~"))


def find_local(name: str, search_path: Iterable[Path] | None = None) -> Path | None:
    """First ``<folder>/<name>`` in the search path that is a dataset folder, else None."""
    for folder in (dataset_search_path() if search_path is None else search_path):
        candidate = Path(folder) / name
        if is_dataset_folder(candidate):
            return candidate
    return None


def resolve_dataset(name_or_path: str | os.PathLike, *, download: bool | None = None) -> Path:
    """Return the folder of a dataset given by name or path.

    ``download=None`` (default) downloads a BEIR dataset into the cache when it is not found locally,
    unless ``$SYNRANK_OFFLINE`` is set; ``False`` never downloads.
    """
    if isinstance(name_or_path, os.PathLike) or _looks_like_path(str(name_or_path)):
        path = Path(name_or_path).expanduser()
        if not path.is_dir():
            raise DatasetError("dataset folder does not exist", path,
                               hint="give an existing folder or a dataset name; see `synrank datasets`")
        if not is_dataset_folder(path):
            raise DatasetError(f"not a BEIR-layout folder (no {CORPUS_FILE}, {QUERIES_FILE} or {QRELS_DIR}/)",
                               path)
        return path
    name = str(name_or_path)
    if not _NAME_RE.match(name):
        raise DatasetError(f"invalid dataset name {name!r}", hint="use a folder name such as 'scifact' or a path")
    search = dataset_search_path()
    found = find_local(name, search)
    if found is not None:
        return found
    if is_dataset_folder(Path(name)):  # a bare relative path to a folder in the working directory
        return Path(name)
    looked = ", ".join(str(Path(p) / name) for p in search)
    if download is None:
        download = not os.environ.get("SYNRANK_OFFLINE")
    if name not in BEIR_DOWNLOADABLE:
        raise DatasetError(
            f"dataset {name!r} not found; looked in: {looked}",
            hint="put a BEIR-layout folder in one of these places, add its parent to $SYNRANK_DATA, "
                 "or pass a path (it is not a BEIR dataset that could be downloaded)")
    if not download:
        why = ("SYNRANK_OFFLINE is set" if os.environ.get("SYNRANK_OFFLINE")
               else "this command does not download")
        raise DatasetError(
            f"dataset {name!r} not found; looked in: {looked}; downloading is disabled ({why})",
            hint=f"put the folder in one of these places, or download {BEIR_URL.format(name=name)} "
                 "(synrank does so on first use when online and SYNRANK_OFFLINE is unset)")
    target = cache_dir() / "datasets" / name
    try:
        return download_beir(name, target)
    except OfflineError as exc:
        raise DatasetError(
            f"dataset {name!r} not found; looked in: {looked}; and it cannot be downloaded "
            f"(offline: {exc})",
            hint=f"fetch {BEIR_URL.format(name=name)} on a connected machine and unzip it into one of these folders") from exc


class OfflineError(Exception):
    """BEIR's server cannot be reached."""


def _open_url(url: str, timeout: float):
    request = urllib.request.Request(url, headers={"User-Agent": "synrank"})
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - https URL from a constant


def download_beir(name: str, target: Path, url_template: str | None = None) -> Path:
    """Download ``{name}.zip`` from BEIR and unpack it atomically into ``target``.

    The archive is written to a temporary file, unpacked into a temporary folder beside ``target``
    and renamed into place, so an interrupted download never leaves a half-written dataset.
    """
    from filelock import FileLock
    from tqdm.auto import tqdm

    url = (url_template or BEIR_URL).format(name=name)
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / f".{name}.download.lock")):
        if is_dataset_folder(target):  # another process finished it while we waited
            return target
        if target.exists():
            raise DatasetError("cache entry exists but is not a BEIR-layout folder", target,
                               hint="remove it and retry")
        try:
            response = _open_url(url, NETWORK_TIMEOUT)
        except urllib.error.HTTPError as exc:
            raise DatasetError(f"BEIR has no dataset {name!r} (HTTP {exc.code} for {url})") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise OfflineError(f"{url}: {getattr(exc, 'reason', exc)}") from exc
        logger.info("downloading %s into %s", url, target)
        tmp_dir = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=target.parent))
        try:
            archive = tmp_dir / f"{name}.zip"
            total = int(response.headers.get("Content-Length") or 0) or None
            with response, open(archive, "wb") as out, tqdm(
                    total=total, unit="B", unit_scale=True, desc=f"{name}.zip") as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
            unpacked = tmp_dir / "unpacked"
            try:
                with zipfile.ZipFile(archive) as zf:
                    zf.extractall(unpacked)  # zipfile drops absolute paths and '..' components
            except zipfile.BadZipFile as exc:
                raise DatasetError("downloaded archive is not a valid zip file", url) from exc
            root = unpacked / name if (unpacked / name).is_dir() else unpacked
            if not is_dataset_folder(root):
                raise DatasetError(f"downloaded archive has no BEIR-layout folder {name}/", url)
            os.replace(root, target)
        except OSError as exc:  # includes socket timeouts
            raise OfflineError(f"{url}: download failed: {exc}") from exc
        finally:
            shutil.rmtree(tmp_dir, ignore_errors=True)
    return target


def dataset_info(name_or_path: str | os.PathLike) -> DatasetInfo:
    """Resolve a dataset (see :func:`resolve_dataset`) and describe it."""
    path = resolve_dataset(name_or_path)
    name = None
    if not (isinstance(name_or_path, os.PathLike) or _looks_like_path(str(name_or_path))):
        name = str(name_or_path)
    return info_for_folder(path, name)


def iter_dataset_folders(search_path: Iterable[Path] | None = None) -> list[tuple[Path, DatasetInfo, bool]]:
    """Every dataset folder in the search path as ``(search folder, info, shadowed)``; ``shadowed``
    is True when an earlier folder holds a dataset of the same name (that one wins)."""
    seen: set[str] = set()
    out: list[tuple[Path, DatasetInfo, bool]] = []
    for folder in (dataset_search_path() if search_path is None else search_path):
        folder = Path(folder)
        if not folder.is_dir():
            continue
        for child in sorted(folder.iterdir()):
            if child.name.startswith(".") or not is_dataset_folder(child):
                continue
            out.append((folder, info_for_folder(child), child.name in seen))
            seen.add(child.name)
    return out


def list_datasets(search_path: Iterable[Path] | None = None) -> list[DatasetInfo]:
    """The datasets a name would resolve to locally, in search order (shadowed copies left out)."""
    return [info for _, info, shadowed in iter_dataset_folders(search_path) if not shadowed]


# ----------------------------------------------------------------------------- quick counts

def count_lines(path: Path) -> int:
    """Number of non-empty lines, counted on raw bytes (no parsing)."""
    n = 0
    last = b"\n"
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    if last != b"\n":
        n += 1  # last line without newline
    return n


def quick_counts(info: DatasetInfo) -> dict:
    """Cheap counts for listings: documents and queries (lines), judged queries and judgements per split.

    Not a validation: see :func:`synrank.data.validate.validate_folder` for that.
    """
    counts: dict = {"docs": None, "queries": None, "splits": {}}
    if info.has_corpus:
        counts["docs"] = count_lines(info.corpus_path)
    if info.has_queries:
        counts["queries"] = count_lines(info.queries_path)
    for split in info.splits:
        judged: set[str] = set()
        rows = 0
        with open(info.qrels_path(split), "rb") as f:
            next(f, None)  # header
            for raw in f:
                qid, _, rest = raw.partition(b"\t")
                if rest:
                    judged.add(qid)
                    rows += 1
        counts["splits"][split] = {"judged_queries": len(judged), "qrels": rows}
    return counts
