"""Quality report of a graded synthetic dataset: does the grade show up in the text?

Two independent views of query–passage relatedness, each summarised the same way:

* **encoder view** — cosine similarity between the target query and each passage under a reference
  encoder (default all-MiniLM-L6-v2);
* **BM25 view** — BM25 score of the target query over *all* generated passages pooled into one index
  (:class:`synrank.retrieval.bm25.BM25Index`, Porter stemming when PyStemmer is installed, otherwise none).

Per view: mean per grade; Spearman correlation between grade and score over all passages (scipy; the
headline number), and its per-query mean; the fraction of queries whose passages come out in strictly
decreasing score order of grade ("fully ordered"); and ``P(g>h)``, the share of queries in which the
grade-``g`` passage outscores the grade-``h`` one. Plus per-grade length in words, lexical overlap
(share of the query's content words found in the passage), and a sample table.
Writes ``report.md``, ``report.json`` and ``report.png`` atomically.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from synrank.data.groups import TrainingGroup, parse_group, read_groups
from synrank.data.shards import iter_records
from synrank.errors import DatasetError
from synrank.io import atomic_write_bytes, atomic_write_json, atomic_write_text
from synrank.paths import resolve_model_alias
from synrank.provenance import portable_path
from synrank.retrieval.bm25 import BM25Index
from synrank.synthetic.query_sources import content_words, words

log = logging.getLogger(__name__)


def lexical_overlap(query: str, passage: str) -> float:
    """Share of the query's distinct content words that occur in the passage (0 when it has none)."""
    q = set(content_words(query))
    if not q:
        return 0.0
    return len(q & set(words(passage))) / len(q)


def view_stats(groups: list[TrainingGroup], scores: list[np.ndarray]) -> dict[str, Any]:
    """Summaries of one relatedness view; ``scores[i][j]`` belongs to ``groups[i].passages[j]``."""
    all_g = np.concatenate([np.asarray(g.grades, dtype=np.float64) for g in groups])
    all_s = np.concatenate(scores).astype(np.float64)
    rho = stats.spearmanr(all_g, all_s).statistic if len(set(all_g.tolist())) > 1 else float("nan")
    per_grade: dict[int, list[float]] = defaultdict(list)
    ordered, per_q_rho = [], []
    pair_wins: dict[str, list[float]] = defaultdict(list)
    for g, s in zip(groups, scores, strict=True):
        by_grade: dict[int, float] = {}
        for grade, val in zip(g.grades, s, strict=True):
            per_grade[grade].append(float(val))
            by_grade[grade] = max(by_grade.get(grade, -np.inf), float(val))  # one passage per grade expected
        levels = sorted(by_grade, reverse=True)
        if len(levels) > 1:
            ordered.append(all(by_grade[a] > by_grade[b] for a, b in zip(levels, levels[1:], strict=False)))
            if len(set(s.tolist())) > 1 and len(set(g.grades)) > 1:
                per_q_rho.append(stats.spearmanr(g.grades, s).statistic)
        for i, a in enumerate(levels):
            for b in levels[i + 1:]:
                if a - b == 1 or (a, b) == (3, 0):
                    pair_wins[f"{a}>{b}"].append(float(by_grade[a] > by_grade[b]))
    return {
        "mean_per_grade": {str(k): float(np.mean(v)) for k, v in sorted(per_grade.items(), reverse=True)},
        "spearman": float(rho),
        "spearman_per_query_mean": float(np.mean(per_q_rho)) if per_q_rho else float("nan"),
        "ordered_fraction": float(np.mean(ordered)) if ordered else float("nan"),
        "pairwise": {k: float(np.mean(v)) for k, v in pair_wins.items()},
        "n_queries": len(groups),
    }


def encoder_scores(groups: list[TrainingGroup], encoder: str, batch_size: int = 64) -> list[np.ndarray]:
    from sentence_transformers import SentenceTransformer  # a heavy import (torch, transformers): here only

    model = SentenceTransformer(resolve_model_alias(encoder), device="cpu")
    q = model.encode([g.query for g in groups], batch_size=batch_size, normalize_embeddings=True,
                     convert_to_numpy=True, show_progress_bar=False)
    texts = [p.text for g in groups for p in g.passages]
    p = model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                     show_progress_bar=False)
    out, k = [], 0
    for i, g in enumerate(groups):
        n = len(g.passages)
        out.append(p[k:k + n] @ q[i])
        k += n
    return out


def bm25_scores(groups: list[TrainingGroup]) -> tuple[list[np.ndarray], dict[str, Any]]:
    stemmer = "porter" if importlib.util.find_spec("Stemmer") else None
    corpus = {f"{i}:{j}": p.text for i, g in enumerate(groups) for j, p in enumerate(g.passages)}
    index = BM25Index(corpus, stemmer=stemmer)
    pos = {d: k for k, d in enumerate(index.doc_ids)}
    out = []
    for i, g in enumerate(groups):
        s = index.scores(g.query)
        out.append(np.array([s[pos[f"{i}:{j}"]] for j in range(len(g.passages))], dtype=np.float64))
    return out, index.config


def _plot(groups: list[TrainingGroup], enc: list[np.ndarray], bm: list[np.ndarray], title: str) -> bytes:
    import matplotlib  # here, not at the top: the Agg backend must be chosen before pyplot is imported

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grades = sorted({x for g in groups for x in g.grades}, reverse=True)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, scores, name in ((axes[0], enc, "encoder cosine(query, passage)"), (axes[1], bm, "BM25(query, passage)")):
        data = [[float(s) for g, ss in zip(groups, scores, strict=True)
                 for x, s in zip(g.grades, ss, strict=True) if x == grade] for grade in grades]
        ax.boxplot(data, showmeans=True)
        ax.set_xticks(range(1, len(grades) + 1), [str(x) for x in grades])
        ax.set_xlabel("grade")
        ax.set_title(name)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _fmt(x: float, nd: int = 3) -> str:
    return "—" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{nd}f}"


def render_markdown(rep: dict[str, Any]) -> str:
    grades = list(rep["per_grade"])
    lines = [f"# Synthetic data quality report: {rep['dataset']}", "",
             f"{rep['n_queries']:,} queries, {rep['n_passages']:,} passages; reference encoder `{rep['encoder']}`.", "",
             "| grade | passages | mean words | lexical overlap | encoder cosine | BM25 |", "|---|---|---|---|---|---|"]
    for g in grades:
        r = rep["per_grade"][g]
        lines.append(f"| {g} | {r['n']} | {r['mean_words']:.1f} | {r['lexical_overlap']:.3f} | "
                     f"{_fmt(rep['encoder_view']['mean_per_grade'].get(g))} | {_fmt(rep['bm25_view']['mean_per_grade'].get(g), 2)} |")
    lines += ["", "| view | Spearman(grade, score) | per-query Spearman | fully ordered | "
              + " | ".join(f"P({k})" for k in rep["encoder_view"]["pairwise"]) + " |",
              "|---|---|---|---|" + "---|" * len(rep["encoder_view"]["pairwise"])]
    for name in ("encoder_view", "bm25_view"):
        v = rep[name]
        lines.append(f"| {name.split('_')[0]} | {_fmt(v['spearman'])} | {_fmt(v['spearman_per_query_mean'])} | "
                     f"{_fmt(v['ordered_fraction'])} | "
                     + " | ".join(_fmt(v["pairwise"].get(k)) for k in rep["encoder_view"]["pairwise"]) + " |")
    lines += ["", "![scores per grade](report.png)", "", "## Samples", ""]
    for s in rep["samples"]:
        lines += [f"**{s['query']}** (`{s['query_id']}`)", "", "| grade | source query | cosine | passage |",
                  "|---|---|---|---|"]
        for p in s["passages"]:
            text = p["text"].replace("|", "\\|")
            src = (p.get("source_query") or "").replace("|", "\\|")
            lines.append(f"| {p['grade']} | {src} | {p['cosine']:.2f} | {text} |")
        lines.append("")
    return "\n".join(lines)


def synthetic_report(path: str | Path, out_dir: str | Path | None = None, encoder: str = "all-MiniLM-L6-v2",
                     n_samples: int = 3, batch_size: int = 64, seed: int = 0) -> dict[str, Any]:
    """Compute the report for the groups in ``path`` and write it into ``out_dir`` (default: ``path``)."""
    path = Path(path)
    if path.is_dir() and (path / "generation.json").exists():
        # a generation folder, possibly still being written: complete lines only, each shard once
        groups = [parse_group(rec, path, i) for i, rec in enumerate(iter_records(path), start=1)]
    else:
        groups = read_groups(path)
    if not groups:
        raise DatasetError("no groups to report on", path)
    out = Path(out_dir) if out_dir else (path if path.is_dir() else path.parent)
    enc = encoder_scores(groups, encoder, batch_size)
    bm, bm_cfg = bm25_scores(groups)
    per_grade: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for g in groups:
        for p in g.passages:
            per_grade[p.grade]["words"].append(len(words(p.text)))
            per_grade[p.grade]["overlap"].append(lexical_overlap(g.query, p.text))
    rng = random.Random(seed)
    sample_idx = sorted(rng.sample(range(len(groups)), min(n_samples, len(groups))))
    rep: dict[str, Any] = {
        "schema": "synrank.synthetic-report/v1", "dataset": portable_path(path), "encoder": encoder,
        "n_queries": len(groups), "n_passages": sum(len(g.passages) for g in groups),
        "per_grade": {str(k): {"n": len(v["words"]), "mean_words": float(np.mean(v["words"])),
                               "lexical_overlap": float(np.mean(v["overlap"]))}
                      for k, v in sorted(per_grade.items(), reverse=True)},
        "encoder_view": view_stats(groups, enc),
        "bm25_view": {**view_stats(groups, bm), "bm25": bm_cfg},
        "samples": [{"query_id": groups[i].query_id, "query": groups[i].query,
                     "passages": [{"grade": p.grade, "source_query": p.meta.get("source_query"),
                                   "cosine": float(enc[i][j]),
                                   "text": " ".join(p.text.split()[:45]) + (" …" if len(p.text.split()) > 45 else "")}
                                  for j, p in enumerate(groups[i].passages)]} for i in sample_idx],
    }
    rep["output"] = {"markdown": str(out / "report.md"), "json": str(out / "report.json"),
                     "png": str(out / "report.png")}
    atomic_write_bytes(out / "report.png", _plot(groups, enc, bm, f"{path.name}: {len(groups)} queries"))
    atomic_write_json(out / "report.json", rep)
    atomic_write_text(out / "report.md", render_markdown(rep))
    return rep
