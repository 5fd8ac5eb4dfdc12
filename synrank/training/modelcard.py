"""The model card (``README.md``) of a trained model folder, ready for the Hugging Face Hub.

YAML front matter as the Hub reads it (``library_name: sentence-transformers``, ``pipeline_tag``, ``tags``,
``base_model`` when the base is a known Hub model, ``model-index`` with the evaluation scores when they are
known) and a Markdown body: what the model is, how it was trained (base model, loss, data with checksums,
the config), its scores, how to load it, and its provenance. Everything comes from the folder's own
records (``training_config.json``, ``trainer_state.json``, the sentence-transformers config files), so
the card can be rewritten at any time; :func:`write_model_card` keeps the scores of an earlier card unless
new ones are given (the trainer writes the card without scores; the benchmark runner may add them).

``README.md`` is not part of a model's fingerprint (:func:`synrank.retrieval.encoders.folder_fingerprint`
skips it), so writing or updating the card never changes a cache key.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from synrank import __version__
from synrank.errors import RecordError
from synrank.evaluation.mteb_format import metric_name
from synrank.io import atomic_write_text
from synrank.records import TRAINING_FILE, TrainingRecord

logger = logging.getLogger(__name__)

CARD_FILE = "README.md"
#: synrank's model aliases and the Hub models they are copies of
HUB_BASE_MODELS = {"minilm": "sentence-transformers/all-MiniLM-L6-v2",
                   "all-MiniLM-L6-v2": "sentence-transformers/all-MiniLM-L6-v2",
                   "sentence-transformers/all-MiniLM-L6-v2": "sentence-transformers/all-MiniLM-L6-v2"}
LOSS_NAMES = {"ws2": "list-wise Wasserstein (SyCL)", "per_query_ws": "per-query Wasserstein",
              "kl": "list-wise KL divergence", "info_nce": "InfoNCE (contrastive)"}
_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.S)

Scores = Mapping[str, Mapping[str, float]]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}


def read_front_matter(path: str | Path) -> dict[str, Any]:
    """The YAML front matter of a Markdown file ({} when there is none)."""
    try:
        text = Path(path).read_text("utf-8")
    except OSError:
        return {}
    match = _FRONT_MATTER.match(text)
    data = yaml.safe_load(match.group(1)) if match else None
    return data if isinstance(data, dict) else {}


def scores_from_card(path: str | Path) -> dict[str, dict[str, float]]:
    """``{dataset: {measure: value}}`` from a card's ``model-index`` (the inverse of :func:`model_index`)."""
    out: dict[str, dict[str, float]] = {}
    for entry in read_front_matter(path).get("model-index") or []:
        for res in entry.get("results") or []:
            dataset = (res.get("dataset") or {}).get("name")
            for metric in res.get("metrics") or []:
                if dataset and metric.get("name") is not None and metric.get("value") is not None:
                    out.setdefault(dataset, {})[str(metric["name"])] = float(metric["value"])
    return out


def model_index(name: str, scores: Scores, splits: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The Hub's ``model-index`` for retrieval scores: one result per dataset, metrics named as MTEB does
    (``ndcg_at_10``) with synrank's name (``nDCG@10``) as the display name."""
    results = []
    for dataset in sorted(scores):
        metrics = [{"type": metric_name(m, 1000) or re.sub(r"\W+", "_", m.lower()), "name": m,
                    "value": round(float(v), 6)} for m, v in scores[dataset].items()]
        ds: dict[str, Any] = {"type": dataset, "name": dataset}
        if splits and splits.get(dataset):
            ds["split"] = splits[dataset]
        results.append({"task": {"type": "retrieval", "name": "Retrieval"}, "dataset": ds, "metrics": metrics})
    return [{"name": name, "results": results}] if results else []


def _similarity(folder: Path) -> str | None:
    return _read_json(folder / "config_sentence_transformers.json").get("similarity_fn_name")


def _training_record(folder: Path) -> TrainingRecord | None:
    """The folder's ``training_config.json``; None when there is none (a model not trained here) or it
    cannot be read (the card is then written without what it holds)."""
    try:
        return TrainingRecord.read(folder / TRAINING_FILE)
    except RecordError as exc:
        logger.warning("%s; the model card leaves the training record out", exc)
        return None


def _data_lines(record: TrainingRecord | None) -> list[str]:
    lines = []
    config_sources = (record.config.get("data") or []) if record else []
    for i, rep in enumerate(record.data if record else []):
        src = config_sources[i] if i < len(config_sources) else {}
        what = rep.get("name") or src.get("path") or src.get("dataset")
        n_files = len(rep.get("checksums") or {})
        dropped = rep.get("n_dropped_evaluation_queries") or 0
        line = f"- `{rep.get('kind')}`: {what} — {rep.get('n_items', 0):,} training groups"
        if n_files:
            line += f" from {n_files} file(s) (sha256 in `training_config.json`)"
        if dropped:
            line += f"; {dropped} evaluation queries removed"
        lines.append(line)
    return lines or ["- none: the base model without training (0 steps)"]


def build_model_card(folder: str | Path, scores: Scores | None = None, *, name: str | None = None,
                     splits: Mapping[str, str] | None = None, scores_note: str | None = None) -> str:
    """The card's text for ``folder`` (see the module docstring). ``scores``: ``{dataset: {measure: value}}``;
    ``splits``: the split each dataset was evaluated on; ``scores_note``: where the scores come from."""
    folder = Path(folder)
    record = _training_record(folder)
    state = _read_json(folder / "trainer_state.json")
    cfg = record.config if record else {}
    model_cfg = cfg.get("model") or {}
    name = name or (record.name if record else None) or cfg.get("name") or folder.name
    base = model_cfg.get("base")
    hub_base = HUB_BASE_MODELS.get(str(base)) if base else None
    loss = cfg.get("loss")
    steps = state.get("global_step", cfg.get("max_steps"))

    tags = ["sentence-transformers", "sentence-similarity", "feature-extraction", "dense-retrieval", "synrank"]
    if loss:
        tags.append(f"loss:{loss}")
    if any((d or {}).get("kind") == "groups" for d in cfg.get("data") or []):
        tags.append("synthetic-data")
    meta: dict[str, Any] = {"library_name": "sentence-transformers", "pipeline_tag": "sentence-similarity",
                            "tags": tags}
    if hub_base:
        meta["base_model"] = hub_base
    index = model_index(name, scores or {}, splits)
    if index:
        meta["model-index"] = index
    config_hash = record.config_hash if record else None
    meta["synrank"] = {"version": __version__, "config_hash": config_hash, "loss": loss,
                       "steps": steps, "similarity": _similarity(folder)}
    if index and scores_note:
        meta["synrank"]["scores_source"] = scores_note

    body = [f"# {name}", "",
            "A dense retriever (bi-encoder) trained with synrank (synthetic graded-relevance data and list-wise "
            "losses, after SyCL, [arXiv:2503.23239](https://arxiv.org/abs/2503.23239))"
            f"{' from ' + (hub_base or str(base)) if base else ''}"
            f"{', loss ' + LOSS_NAMES.get(loss, loss) if loss and steps else ''}. "
            "It loads with sentence-transformers.", "",
            "## Usage", "", "```python", "from sentence_transformers import SentenceTransformer", "",
            'model = SentenceTransformer("PATH_OR_REPO_ID")',
            'embeddings = model.encode(["what causes heart disease", "Aspirin lowers the risk of ..."])',
            "```", "",
            "Or evaluate it: `synrank evaluate --model PATH_OR_REPO_ID --dataset scifact`.", "",
            "## Training", "",
            f"- **base model**: {hub_base or base or 'unknown'} ({model_cfg.get('kind', 'unknown kind')}, "
            f"similarity {_similarity(folder) or model_cfg.get('similarity', 'unknown')}, "
            f"max sequence length {model_cfg.get('max_seq_length', 'the base model’s')})",
            f"- **loss**: `{loss}` {json.dumps(cfg.get('loss_kwargs') or {})}",
            f"- **steps**: {steps}; batch {cfg.get('batch_size')} queries × group size {cfg.get('group_size')}, "
            f"learning rate {cfg.get('learning_rate')}, seed {cfg.get('seed')}, precision {cfg.get('precision')}",
            "- **training data**:", *("  " + ln for ln in _data_lines(record)), ""]
    if scores:
        measures = list(dict.fromkeys(m for ds in scores.values() for m in ds))
        body += ["## Evaluation", ""]
        if scores_note:
            body += [scores_note, ""]
        body += ["| dataset | " + " | ".join(measures) + " |", "|---|" + "---|" * len(measures)]
        for ds in sorted(scores):
            body.append(f"| {ds}{' (' + splits[ds] + ')' if splits and splits.get(ds) else ''} | "
                        + " | ".join(f"{scores[ds][m]:.4f}" if m in scores[ds] else "" for m in measures) + " |")
        body.append("")
    env = record.environment if record else {}
    body += ["## Config", "", "```yaml", yaml.safe_dump(cfg, sort_keys=False).rstrip() or "{}", "```", "",
             "## Provenance", "",
             f"synrank {__version__}; config hash `{config_hash}`; git commit "
             f"`{env.get('git_commit')}`; trained {env.get('created_utc')} on "
             f"{(env.get('hardware') or {}).get('cpu_model') or 'unknown hardware'}. "
             "The full record is in `training_config.json` and `trainer_state.json`.", ""]
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    return f"---\n{front}---\n\n" + "\n".join(body)


def write_model_card(folder: str | Path, scores: Scores | None = None, *, name: str | None = None,
                     splits: Mapping[str, str] | None = None, scores_note: str | None = None) -> Path:
    """Write ``<folder>/README.md`` atomically. Without ``scores`` the scores of an existing card are kept;
    with them they replace the old ones (``{}`` clears them)."""
    folder = Path(folder)
    card = folder / CARD_FILE
    if scores is None:
        scores = scores_from_card(card)
        if scores_note is None:
            scores_note = (read_front_matter(card).get("synrank") or {}).get("scores_source")
        if splits is None:
            splits = {ds["name"]: ds["split"] for entry in read_front_matter(card).get("model-index") or []
                      for res in entry.get("results") or [] for ds in [res.get("dataset") or {}]
                      if ds.get("name") and ds.get("split")}
    atomic_write_text(card, build_model_card(folder, scores, name=name, splits=splits, scores_note=scores_note))
    return card
