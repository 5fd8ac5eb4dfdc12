"""Dataset folders on this machine: the BEIR layout on disk, what one folder holds, and finding a
folder by name in the dataset search path (no downloads: see :mod:`synrank.data.registry` for names
that are fetched when missing).

A dataset folder holds ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``; every layout file
may be gzip-compressed (``corpus.jsonl.gz`` ...). The search path is
:func:`synrank.paths.dataset_search_path`.

Per-dataset metadata (default split, relevance threshold of binary measures, whether a query's own
id must be removed from its ranking, a shipped rerank run, known tolerated quirks) comes from the
built-in table :data:`KNOWN_DATASETS`; folders not in it get conservative defaults.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from synrank.errors import ConfigError, DatasetError
from synrank.io import open_binary
from synrank.paths import dataset_search_path

CORPUS_FILE = "corpus.jsonl"
QUERIES_FILE = "queries.jsonl"
QRELS_DIR = "qrels"
RERANK_RUN_FILE = "bm25_top100.trec"
#: How a model is evaluated on a dataset: ``full`` ranks the whole corpus, ``rerank`` re-ranks the
#: candidates of a first-stage run, ``auto`` is one of the two (:func:`evaluation_mode`).
EVALUATION_MODES = ("auto", "full", "rerank")
#: Every file of the layout may also be stored gzip-compressed under its name + this suffix
#: (``corpus.jsonl.gz``, ``qrels/test.tsv.gz``, ...); the plain file wins when both exist.
GZIP_SUFFIX = ".gz"


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
        """``corpus.jsonl`` or, when only that exists, ``corpus.jsonl.gz``."""
        return layout_file(self.path, CORPUS_FILE)

    @property
    def queries_path(self) -> Path:
        return layout_file(self.path, QUERIES_FILE)

    def qrels_path(self, split: str) -> Path:
        return layout_file(self.path / QRELS_DIR, f"{split}.tsv")

    @property
    def evaluation_splits(self) -> tuple[str, ...]:
        """Splits holding evaluation judgements: everything but ``train*`` (none for a training pool)."""
        if self.training_pool:
            return ()
        return tuple(s for s in self.splits if not s.startswith("train"))


def evaluation_mode(mode: str, info: DatasetInfo, candidates: Path | None = None) -> str:
    """The mode an evaluation of ``info``'s dataset runs in: ``auto`` is ``rerank`` when there is a
    first-stage run (``candidates``, else the one the folder ships, :attr:`DatasetInfo.rerank_run`) and
    ``full`` otherwise; ``rerank`` without a run is refused. The one place this rule is written: the
    evaluation pipeline and the benchmark's cell keys both ask it."""
    if mode not in EVALUATION_MODES:
        raise ConfigError(f"mode must be one of {EVALUATION_MODES}, got {mode!r}", hint="auto, full or rerank")
    run = candidates if candidates is not None else info.rerank_run
    if mode == "auto":
        return "rerank" if run is not None else "full"
    if mode == "rerank" and run is None:
        raise ConfigError(f"dataset {info.name!r} ships no first-stage run to re-rank (no {RERANK_RUN_FILE}"
                          f"[{GZIP_SUFFIX}] in its folder)", info.path,
                          hint="use mode 'full' or 'auto', or give `synrank evaluate` a candidate run")
    return mode


#: Built-in metadata, keyed by folder name. Keys are DatasetInfo fields.
KNOWN_DATASETS: dict[str, dict] = {
    "trec-dl-2019": dict(
        default_split="test", relevance_threshold=2, qrels_outside_corpus=True,
        note="TREC DL 2019 passage; corpus = BM25 top-100 pool (rerank numbers comparable, full-collection not)"),
    "trec-dl-2020": dict(
        default_split="test", relevance_threshold=2, qrels_outside_corpus=True,
        note="TREC DL 2020 passage; corpus = BM25 top-100 pool (rerank numbers comparable, full-collection not)"),
    "msmarco-trec-dl-2020": dict(
        default_split="test", relevance_threshold=2,
        note="TREC DL 2020 passage over the full MS MARCO collection (corpus linked from msmarco)"),
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


def layout_file(folder: Path, name: str) -> Path:
    """The file of the layout called ``name`` in ``folder``: ``name`` itself when it exists (or is a
    link), else ``name.gz`` when that exists, else ``folder/name`` (absent; errors then name it)."""
    plain = folder / name
    if os.path.lexists(plain):
        return plain
    packed = folder / (name + GZIP_SUFFIX)
    return packed if os.path.lexists(packed) else plain


def logical_name(path: Path) -> str:
    """A layout file's name without the gzip suffix (``test.tsv.gz`` -> ``test.tsv``): what checksums
    and cache keys record, so a compressed copy of a dataset has the identity of the plain one."""
    return path.name[: -len(GZIP_SUFFIX)] if path.name.endswith(GZIP_SUFFIX) else path.name


def is_dataset_folder(path: Path) -> bool:
    """A folder in BEIR layout has at least a corpus, a queries file (plain or gzip) or a qrels folder."""
    return path.is_dir() and (
        (path / QRELS_DIR).exists()
        or any(layout_file(path, p).exists() for p in (CORPUS_FILE, QUERIES_FILE)))


def _splits(path: Path) -> tuple[str, ...]:
    qrels = path / QRELS_DIR
    if not qrels.is_dir():
        return ()
    names = set()
    for p in qrels.iterdir():
        split = logical_name(p)
        if split.endswith(".tsv") and not p.name.startswith(".") and p.is_file():
            names.add(split[:-4])
    return tuple(sorted(names))


def info_for_folder(path: str | Path, name: str | None = None) -> DatasetInfo:
    """Describe a dataset folder; metadata from :data:`KNOWN_DATASETS` when its name is known."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(missing_folder_message(path), path)
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
    run = layout_file(path, RERANK_RUN_FILE)
    return DatasetInfo(
        name=name, path=path, default_split=default, splits=splits,
        rerank_run=run if run.is_file() else None,
        has_corpus=layout_file(path, CORPUS_FILE).is_file(),
        has_queries=layout_file(path, QUERIES_FILE).is_file(),
        known=known, **meta)


def find_local(name: str, search_path: Iterable[Path] | None = None) -> Path | None:
    """First ``<folder>/<name>`` in the search path that is a dataset folder, else None."""
    for folder in (dataset_search_path() if search_path is None else search_path):
        candidate = Path(folder) / name
        problem = link_problem(candidate)
        if problem:
            raise DatasetError(f"dataset folder is {problem}", candidate,
                               hint="fix or remove the link (it shadows the later folders of the search path)")
        if is_dataset_folder(candidate):
            return candidate
    return None


def link_problem(path: Path) -> str | None:
    """What is wrong with ``path`` as a symbolic link (a loop, or a target that does not exist); None
    when it is not a link or its target exists."""
    if not path.is_symlink():
        return None
    try:
        path.resolve(strict=True)
        return None
    except RuntimeError:  # Python < 3.13 reports a loop so
        loop = True
    except OSError as exc:
        loop = exc.errno == errno.ELOOP
    kind = "a symbolic link loop" if loop else "a broken symbolic link"
    return f"{kind} ({path} -> {os.readlink(path)})"


def missing_folder_message(path: Path) -> str:
    """Why ``path`` is not a folder: a link loop, a dangling link, a file, or absent."""
    problem = link_problem(path)
    if problem:
        return f"dataset folder is {problem}"
    if path.exists():
        return "dataset path is not a folder"
    return "dataset folder does not exist"


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
    """Number of non-empty lines, counted on raw (decompressed, for ``.gz``) bytes; no parsing."""
    n = 0
    last = b"\n"
    with open_binary(path) as f:
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
        with open_binary(info.qrels_path(split)) as f:
            next(f, None)  # header
            for raw in f:
                qid, _, rest = raw.partition(b"\t")
                if rest:
                    judged.add(qid)
                    rows += 1
        counts["splits"][split] = {"judged_queries": len(judged), "qrels": rows}
    return counts
