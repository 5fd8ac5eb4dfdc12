"""Tiny, fast training data: a word-level StaticEmbedding model and graded groups (fixtures: tests/conftest.py).

The model is a real sentence-transformers folder (so the trainer's "any sentence-transformers base"
path is what the tests exercise); its vocabulary is the ~100 words the groups use, dimension 16.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

TOPICS = [
    ["aspirin", "heart", "risk", "adults"], ["vitamin", "bone", "density", "women"],
    ["insulin", "glucose", "diabetes", "children"], ["statin", "cholesterol", "liver", "enzyme"],
    ["virus", "vaccine", "immune", "response"], ["sleep", "memory", "learning", "students"],
    ["smoking", "lung", "cancer", "incidence"], ["exercise", "muscle", "protein", "synthesis"],
    ["coffee", "caffeine", "blood", "pressure"], ["salt", "kidney", "sodium", "intake"],
    ["stress", "cortisol", "anxiety", "workers"], ["obesity", "fat", "weight", "diet"],
]
FILLER = ["the", "a", "study", "shows", "of", "in", "and", "with", "trial", "patients", "effect", "data",
          "results", "found", "no", "strong", "weak", "link", "between", "group", "analysis", "report"]


def make_groups(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    records = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        other = TOPICS[(i + 5) % len(TOPICS)]
        query = " ".join(topic[:3]) + f" {rng.choice(FILLER)}"
        passages = []
        for grade, k in ((3, 4), (2, 3), (1, 1), (0, 0)):
            words = topic[:k] + other[: 4 - k] + rng.sample(FILLER, 6)
            rng.shuffle(words)
            passages.append({"text": " ".join(words), "grade": grade})
        rng.shuffle(passages)
        records.append({"schema": "synrank.groups/v1", "query_id": f"q{i}", "query": query,
                        "passages": passages})
    return records


def write_groups(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def build_tiny_model(folder: Path, dim: int = 16, seed: int = 0) -> Path:
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.normalizers import Lowercase
    from tokenizers.pre_tokenizers import Whitespace

    words = sorted({w for t in TOPICS for w in t} | set(FILLER))
    vocab = {"[UNK]": 0, **{w: i + 1 for i, w in enumerate(words)}}
    tok = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = Lowercase()
    tok.pre_tokenizer = Whitespace()
    gen = torch.Generator().manual_seed(seed)
    weights = torch.randn(len(vocab), dim, generator=gen) * 0.5
    model = SentenceTransformer(modules=[StaticEmbedding(tok, embedding_weights=weights)], device="cpu",
                                similarity_fn_name="dot")
    model.save(str(folder), create_model_card=False)
    return folder


def tiny_config(model: Path, groups: Path, **overrides) -> dict:
    cfg = {
        "name": "tiny",
        "model": {"base": str(model), "kind": "sentence-transformers", "pooling": "keep", "similarity": "dot"},
        "data": [{"kind": "groups", "path": str(groups)}],
        "loss": "ws2",
        "group_size": 4,
        "batch_size": 8,
        "max_steps": 12,
        "learning_rate": 0.05,
        "warmup_fraction": 0.2,
        "save_every": 4,
        "seed": 7,
        "threads": 1,
    }
    cfg.update(overrides)
    return cfg
