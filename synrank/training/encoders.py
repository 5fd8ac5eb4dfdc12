"""Build the encoder a run starts from, as a ``SentenceTransformer``.

- ``kind: sentence-transformers``: any sentence-transformers model (local folder, alias such as
  ``minilm``, hub name when online). ``pooling`` replaces the model's ``Pooling`` module when it differs
  (``keep`` leaves it). ``similarity: dot`` removes trailing ``Normalize`` modules and scores by the raw
  dot product (the paper's setting; note that all-MiniLM-L6-v2 ships a ``Normalize`` module, so its
  trained variants are *not* cosine models any more); ``cosine`` appends a ``Normalize`` if missing;
  ``keep`` leaves the model as shipped. The choice is saved in the checkpoint
  (``config_sentence_transformers.json``: ``similarity_fn_name``), so evaluation scores the same way.
- ``kind: static``: ``StaticEmbedding`` (a trainable token-vector table averaged over a text's tokens,
  no attention) with ``base``'s tokenizer and its input word-embedding matrix as initial vectors. For
  all-MiniLM-L6-v2: 30,522 × 384. Texts are truncated to ``max_seq_length`` tokens (the tokenizer's
  truncation setting, saved with it).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from synrank.errors import ModelError
from synrank.paths import resolve_model_alias
from synrank.retrieval.encoders import check_model_folder
from synrank.training.config import ModelConfig

logger = logging.getLogger(__name__)


def _load(base: str, device: str | None):
    from sentence_transformers import SentenceTransformer

    path = resolve_model_alias(base)
    if Path(path).expanduser().is_dir():
        check_model_folder(path)
    try:
        return SentenceTransformer(path, device=device)
    except Exception as exc:  # ST raises OSError/ValueError/HF errors; give one actionable message
        raise ModelError(f"cannot load sentence-transformers model {base!r} ({type(exc).__name__}: {exc})",
                         path, hint="give a local model folder, a known alias (minilm), or a hub name when online"
                         ) from exc


def _module_types():
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, StaticEmbedding

    return Normalize, Pooling, StaticEmbedding


def _word_embeddings(model) -> torch.Tensor:
    first = model[0]
    auto = getattr(first, "auto_model", None) or getattr(first, "model", None)
    if auto is not None and hasattr(auto, "get_input_embeddings"):
        return auto.get_input_embeddings().weight.detach().to(torch.float32).cpu().clone()
    emb = getattr(first, "embedding", None)
    if emb is not None and hasattr(emb, "weight"):
        return emb.weight.detach().to(torch.float32).cpu().clone()
    raise ModelError(f"cannot find a token-embedding matrix in {type(first).__name__}",
                     hint="kind: static needs a transformer or static-embedding base")


def _fast_tokenizer(model):
    from tokenizers import Tokenizer

    tok = getattr(model[0], "tokenizer", None)
    if isinstance(tok, Tokenizer):
        return Tokenizer.from_str(tok.to_str())
    backend = getattr(tok, "_tokenizer", None) or getattr(tok, "backend_tokenizer", None)
    if isinstance(backend, Tokenizer):
        return Tokenizer.from_str(backend.to_str())  # a copy: truncation settings must not leak back
    raise ModelError("kind: static needs a fast (Rust) tokenizer in the base model")


def build_static(base: str, max_seq_length: int, similarity: str, device: str | None = None):
    """A ``StaticEmbedding`` model initialised from ``base``'s tokenizer and word embeddings."""
    from sentence_transformers import SentenceTransformer

    normalize_cls, _, static_cls = _module_types()
    src = _load(base, "cpu")
    weights = _word_embeddings(src)
    tokenizer = _fast_tokenizer(src)
    tokenizer.enable_truncation(max_length=max_seq_length)
    static = static_cls(tokenizer, embedding_weights=weights, base_model=base)
    modules: list[Any] = [static]
    if similarity == "cosine":
        modules.append(normalize_cls())
    sim = "cosine" if similarity == "cosine" else "dot"
    model = SentenceTransformer(modules=modules, device=device or "cpu", similarity_fn_name=sim)
    logger.info("static encoder from %s: vocab %d x dim %d, truncation %d tokens", base, weights.shape[0],
                weights.shape[1], max_seq_length)
    return model


def configure(model, cfg: ModelConfig):
    """Apply pooling, similarity and max length to a loaded sentence-transformers model (in place)."""
    normalize_cls, pooling_cls, static_cls = _module_types()
    mods = list(model)
    if cfg.pooling != "keep":
        for i, m in enumerate(mods):
            if isinstance(m, pooling_cls):
                current = m.get_config_dict().get("pooling_mode")
                if current != cfg.pooling:
                    mods[i] = pooling_cls(m.get_embedding_dimension() if hasattr(m, "get_embedding_dimension")
                                          else m.get_sentence_embedding_dimension(), pooling_mode=cfg.pooling)
                break
        else:
            if not isinstance(mods[0], static_cls):
                raise ModelError(f"model has no Pooling module to set pooling={cfg.pooling!r}",
                                 hint="use pooling: keep")
    if cfg.similarity == "dot":
        while mods and isinstance(mods[-1], normalize_cls):
            mods.pop()
    elif cfg.similarity == "cosine" and not any(isinstance(m, normalize_cls) for m in mods):
        mods.append(normalize_cls())
    if mods != list(model):
        model = type(model)(modules=mods, device=str(model.device),
                            similarity_fn_name=model.similarity_fn_name)
    if cfg.similarity in ("dot", "cosine"):
        model.similarity_fn_name = cfg.similarity
    if not isinstance(mods[0], static_cls):
        model.max_seq_length = cfg.max_seq_length
    return model


def build_model(cfg: ModelConfig, device: str | None = None):
    """The starting encoder for a run (see module docstring)."""
    if cfg.kind == "static":
        return build_static(cfg.base, cfg.max_seq_length, cfg.similarity, device)
    return configure(_load(cfg.base, device), cfg)


def inference_max_seq_length(cfg: ModelConfig) -> int | None:
    """The maximum length the exported model is saved with: the base model's own (``max_seq_length`` of
    its ``sentence_bert_config.json``), so a trained model is evaluated and used as its base would be;
    ``model.max_seq_length`` only truncates training inputs. None when it cannot be known (a hub name
    not on disk) or does not apply (a static encoder's truncation is part of its tokenizer)."""
    if cfg.kind == "static":
        return None
    folder = Path(resolve_model_alias(cfg.base)).expanduser()
    # sentence-transformers < 6 keeps it in sentence_bert_config.json, 6.x as the tokenizer's model_max_length
    for name, key in (("sentence_bert_config.json", "max_seq_length"), ("tokenizer_config.json", "model_max_length")):
        try:
            value = json.loads((folder / name).read_text("utf-8")).get(key)
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(value, int) and 0 < value <= 1_000_000:
            return value
    return None


def load_checkpoint_model(path: str, device: str | None = None):
    """Load a saved encoder folder (checkpoint or final output)."""
    return _load(path, device)
