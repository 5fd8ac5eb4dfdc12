"""The data card of a synthetic output folder: what is in it, how it was made, at what cost.

Computed from the folder alone (records, rejects, ``log/runs.jsonl``, ``generation.json``), so it can be
refreshed at any time (``synrank generate --finalize DIR``) and is identical however many sessions made
the data. Written atomically as ``datacard.json`` (for programs) and ``README.md`` (for people and the
Hugging Face Hub).

``README.md`` starts with YAML front matter that makes the folder a Hugging Face dataset:
``datasets.load_dataset(folder)`` loads the groups as the ``train`` split of the default config (the
``configs`` entry lists the group files, so ``generation.json``, the logs and the card are never read as
data), and the rejected passages stay apart in a second config, ``load_dataset(folder, "rejects")``.
Neither file is read by synrank's own loader (:func:`synrank.data.groups.group_files`), and neither is
among the files whose checksums key training caches. (Folders made before this card existed had a
``datacard.md``; refreshing the card moves its content into ``README.md``.)
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from synrank.data.groups import group_files
from synrank.data.shards import iter_records, iter_rejects, reject_files
from synrank.errors import DatasetError
from synrank.io import atomic_write_json, atomic_write_text, read_jsonl_tolerant
from synrank.provenance import portable_path
from synrank.synthetic.query_sources import words

CARD_FILE = "README.md"
LEGACY_CARD_FILE = "datacard.md"


def _length_stats(lengths: list[int]) -> dict[str, float]:
    if not lengths:
        return {"n": 0}
    a = np.asarray(lengths, dtype=np.float64)
    return {"n": int(a.size), "mean": round(float(a.mean()), 1), "std": round(float(a.std()), 1),
            "min": int(a.min()), "p10": round(float(np.percentile(a, 10)), 1),
            "median": round(float(np.median(a)), 1), "p90": round(float(np.percentile(a, 90)), 1), "max": int(a.max())}


def _sessions(out: Path) -> list[dict[str, Any]]:
    rows, _ = read_jsonl_tolerant(out / "log" / "runs.jsonl")
    last: dict[str, dict[str, Any]] = {}
    for r in rows:
        last[r["session"]] = r  # counters are cumulative per session
    return list(last.values())


def build_datacard(out: str | Path) -> dict[str, Any]:
    out = Path(out)
    gen = json.loads((out / "generation.json").read_text()) if (out / "generation.json").exists() else {}
    lengths: dict[int, list[int]] = defaultdict(list)
    rules: dict[int, Counter] = defaultdict(Counter)
    n_groups = 0
    strategies: Counter = Counter()
    finish: Counter = Counter()
    for rec in iter_records(out):
        n_groups += 1
        strategies[rec.get("strategy")] += 1
        for p in rec["passages"]:
            lengths[p["grade"]].append(len(words(p["text"])))
            rules[p["grade"]][str(p.get("source_rule", "")).split(":")[0]] += 1
            finish[p.get("finish_reason")] += 1
    kinds: Counter = Counter()
    reasons: Counter = Counter()
    for r in iter_rejects(out):
        kinds[r.get("kind")] += 1
        reasons[r.get("reason", "").split(" (")[0].split(": ", 1)[-1]] += 1
    sessions = _sessions(out)
    tot = {k: sum(s.get(k, 0) for s in sessions) for k in
           ("groups", "prompts", "gen_tokens", "gen_seconds", "wall_seconds", "rejected_passages",
            "accepted_passages")}
    n_passages = sum(len(v) for v in lengths.values())
    attempts = n_passages + kinds.get("passage", 0)
    ident = gen.get("identity", {})
    scfg = ident.get("strategy_config") or {}
    selection = [f"evaluation queries removed from targets and source pool by synrank.data.leakage "
                 f"({gen.get('queries_excluded_by_evaluation_guard')} of the target queries removed)",
                 f"passages failing validation retried on a fresh seed, up to {ident.get('max_attempts')} attempts; "
                 f"queries still failing dropped ({kinds.get('query', 0)})",
                 "exact duplicates (normalized text) of a passage already in the dataset rejected"]
    if ident.get("strategy") == "anchored":
        selection.append(
            f"anchored: queries without a grade-2 source (trailing qualifier, >= {scfg.get('min_content_words_grade2')} "
            f"content words left, or a narrower pool query) or without a BM25 sibling in the relative-score band "
            f"{scfg.get('sibling_band_bm25_relative')} skipped ({kinds.get('ineligible', 0)})")
    card = {
        "schema": "synrank.datacard/v1",
        "folder": out.name,
        "description": gen.get("description", ""),
        "groups": n_groups,
        "passages": n_passages,
        "passages_per_grade": {str(g): len(lengths[g]) for g in sorted(lengths, reverse=True)},
        "words_per_grade": {str(g): _length_stats(lengths[g]) for g in sorted(lengths, reverse=True)},
        "source_rules_per_grade": {str(g): dict(rules[g].most_common()) for g in sorted(rules, reverse=True)},
        "finish_reasons": {str(k): v for k, v in finish.items()},
        "selection_filters": selection,
        "strategy": ident.get("strategy") or (strategies.most_common(1)[0][0] if strategies else None),
        "model": ident.get("model"), "model_sha256": ident.get("model_sha256"), "backend": ident.get("backend"),
        "prompt_version": ident.get("prompt_version"), "sampling": ident.get("sampling"),
        "seed": ident.get("seed"), "queries": _portable_source(ident.get("queries")),
        "queries_excluded_by_evaluation_guard": gen.get("queries_excluded_by_evaluation_guard"),
        "rejects": {"passages": kinds.get("passage", 0), "queries_failed": kinds.get("query", 0),
                    "queries_ineligible": kinds.get("ineligible", 0),
                    "passage_reject_rate": round(kinds.get("passage", 0) / attempts, 4) if attempts else None,
                    "top_reasons": dict(reasons.most_common(8))},
        "cost": {"sessions": len(sessions), "generation_seconds": round(tot["gen_seconds"], 1),
                 "wall_seconds": round(tot["wall_seconds"], 1), "generated_tokens": tot["gen_tokens"],
                 "prompts": tot["prompts"],
                 "tokens_per_second": round(tot["gen_tokens"] / tot["gen_seconds"], 1) if tot["gen_seconds"] else None,
                 "seconds_per_group": round(tot["wall_seconds"] / tot["groups"], 2) if tot["groups"] else None,
                 "hardware": (gen.get("backend_info") or {}).get("options", {}).get("threads")},
    }
    return card


def render_markdown(card: dict[str, Any]) -> str:
    lines = [f"# Data card: {card['folder']}", ""]
    if card.get("description"):
        lines += [card["description"], ""]
    lines += [
        f"- **groups**: {card['groups']:,} queries, {card['passages']:,} passages "
        f"({', '.join(f'grade {g}: {n:,}' for g, n in card['passages_per_grade'].items())})",
        f"- **strategy**: `{card['strategy']}`; **prompt version**: `{card['prompt_version']}`",
        f"- **model**: `{card['model']}` via `{card['backend']}` (sha256 `{card['model_sha256']}`)",
        f"- **sampling**: `{json.dumps(card['sampling'])}`; base seed {card['seed']}",
        f"- **queries**: `{card['queries']}`; evaluation queries excluded: {card['queries_excluded_by_evaluation_guard']}",
        f"- **rejects**: {card['rejects']['passages']:,} passages (rate {card['rejects']['passage_reject_rate']}), "
        f"{card['rejects']['queries_failed']:,} queries failed after all attempts, "
        f"{card['rejects']['queries_ineligible']:,} queries ineligible for the strategy",
        f"- **cost**: {card['cost']['wall_seconds'] / 3600:.2f} h wall over {card['cost']['sessions']} session(s), "
        f"{card['cost']['generated_tokens']:,} tokens generated at {card['cost']['tokens_per_second']} tok/s, "
        f"{card['cost']['seconds_per_group']} s per group",
        "", "## Passage length (words) per grade", "",
        "| grade | n | mean | std | min | p10 | median | p90 | max |", "|---|---|---|---|---|---|---|---|---|"]
    for g, s in card["words_per_grade"].items():
        if s.get("n"):
            lines.append(f"| {g} | {s['n']} | {s['mean']} | {s['std']} | {s['min']} | {s['p10']} | {s['median']} | "
                         f"{s['p90']} | {s['max']} |")
    lines += ["", "## Selection filters (recorded because they shape the data)", ""]
    lines += [f"- {x}" for x in card.get("selection_filters", [])]
    lines += ["", "## Source rules per grade", ""]
    for g, r in card["source_rules_per_grade"].items():
        lines.append(f"- grade {g}: " + ", ".join(f"{k} {v}" for k, v in r.items()))
    lines += ["", "## Most common reject reasons", ""]
    lines += [f"- {n}× {why}" for why, n in card["rejects"]["top_reasons"].items()] or ["- none"]
    return "\n".join(lines) + "\n"


def _portable_source(desc: Any) -> Any:
    """A query source as recorded (``"name (/abs/queries.jsonl)"`` or a file path) without machine paths."""
    if not isinstance(desc, str):
        return desc
    name, sep, rest = desc.partition(" (")
    if sep and rest.endswith(")") and Path(rest[:-1]).is_absolute():
        return f"{name} ({portable_path(rest[:-1])})"
    return portable_path(desc) if Path(desc).is_absolute() else desc


def _size_category(n: int) -> str:
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
              (10_000_000, "1M<n<10M")]
    return next((label for bound, label in bounds if n < bound), "10M<n<100M")


def hub_front_matter(out: str | Path, card: dict[str, Any]) -> dict[str, Any]:
    """The README's YAML: what the Hub shows and the ``configs`` that ``datasets.load_dataset`` follows."""
    out = Path(out)
    try:
        groups = [f.name for f in group_files(out)]
    except DatasetError:  # nothing accepted yet (e.g. every query failed): a card without data configs
        groups = []
    configs: list[dict[str, Any]] = []
    if groups:
        configs.append({"config_name": "default", "default": True,
                        "data_files": [{"split": "train", "path": groups}]})
    rejects = [f.name for f in reject_files(out)]
    if rejects:
        configs.append({"config_name": "rejects", "data_files": [{"split": "train", "path": rejects}]})
    return {
        "pretty_name": card["folder"],
        "tags": ["synthetic", "graded-relevance", "information-retrieval", "synrank",
                 *([f"strategy:{card['strategy']}"] if card.get("strategy") else [])],
        "task_categories": ["text-retrieval"],
        "size_categories": [_size_category(card["groups"])],
        "configs": configs,
    }


def render_readme(out: str | Path, card: dict[str, Any]) -> str:
    """``README.md``: YAML front matter (:func:`hub_front_matter`), the card, and how to load the folder."""
    front = yaml.safe_dump(hub_front_matter(out, card), sort_keys=False, allow_unicode=True)
    loading = ["", "## Loading", "",
               "Each row is one query with its graded passages (`synrank.groups/v1`: `query_id`, `query`, "
               "`passages[].text/grade`, the source of every passage, and provenance).", "",
               "```python",
               "import datasets",
               "",
               'groups = datasets.load_dataset("PATH_OR_REPO_ID")["train"]             # the graded groups',
               'rejects = datasets.load_dataset("PATH_OR_REPO_ID", "rejects")["train"]  # rejected, with reasons',
               "",
               "import synrank",
               "",
               'groups = list(synrank.data.iter_groups("PATH"))  # the same groups, as synrank trains on them',
               "```", ""]
    return f"---\n{front}---\n\n" + render_markdown(card) + "\n".join(loading)


def write_datacard(out: str | Path) -> dict[str, Any]:
    out = Path(out)
    card = build_datacard(out)
    atomic_write_json(out / "datacard.json", card)
    atomic_write_text(out / CARD_FILE, render_readme(out, card))
    (out / LEGACY_CARD_FILE).unlink(missing_ok=True)  # its content is in README.md now
    return card
