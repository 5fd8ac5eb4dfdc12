"""Dense retrieval (encoder protocol, exact faiss search, re-ranking, embedding cache) and a BM25 baseline."""

from synrank.retrieval.bm25 import BM25Index
from synrank.retrieval.cache import EmbeddingCache
from synrank.retrieval.documents import document_text
from synrank.retrieval.encoders import (
    Encoder,
    SentenceTransformerEncoder,
    encoder_fingerprint,
    encoder_similarity,
    load_encoder,
)
from synrank.retrieval.search import exact_search, rerank

__all__ = [
    "BM25Index", "EmbeddingCache", "Encoder", "SentenceTransformerEncoder", "document_text",
    "encoder_fingerprint", "encoder_similarity", "exact_search", "load_encoder", "rerank",
]
