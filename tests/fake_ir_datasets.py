"""A stand-in for the ``ir_datasets`` package with the part of its API synrank uses.

``ir_datasets.load(id)`` returns a dataset with ``docs_iter()``, ``queries_iter()``, ``qrels_iter()``
and ``has_docs()/has_queries()/has_qrels()``; records are named tuples (``doc_id``, ``text`` and, for
BEIR datasets, ``title``; cranfield docs also have ``author`` and ``bib``; queries ``query_id``,
``text``; qrels ``query_id``, ``doc_id``, ``relevance``, ``iteration``), as in ir_datasets 0.6. The real
package downloads its files on first use, so tests build their data here instead (no network).
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass, field

BeirTitleDoc = namedtuple("BeirTitleDoc", "doc_id text title")
GenericDoc = namedtuple("GenericDoc", "doc_id text")
CranfieldDoc = namedtuple("CranfieldDoc", "doc_id title text author bib")
GenericQuery = namedtuple("GenericQuery", "query_id text")
TrecQrel = namedtuple("TrecQrel", "query_id doc_id relevance iteration")


@dataclass
class FakeDataset:
    docs: list = field(default_factory=list)
    queries: list = field(default_factory=list)
    qrels: list = field(default_factory=list)

    def has_docs(self) -> bool:
        return bool(self.docs)

    def has_queries(self) -> bool:
        return bool(self.queries)

    def has_qrels(self) -> bool:
        return bool(self.qrels)

    def docs_iter(self):
        if not self.docs:
            raise AttributeError("this dataset has no docs")
        return iter(self.docs)

    def queries_iter(self):
        return iter(self.queries)

    def qrels_iter(self):
        return iter(self.qrels)


class FakeIrDatasets:
    """``module`` argument of :func:`synrank.data.convert.from_ir_datasets`."""

    def __init__(self, datasets: dict[str, FakeDataset]):
        self.datasets = datasets
        self.loaded: list[str] = []

    def load(self, dataset_id: str) -> FakeDataset:
        self.loaded.append(dataset_id)
        if dataset_id not in self.datasets:
            raise KeyError(f"{dataset_id} not found")
        return self.datasets[dataset_id]
