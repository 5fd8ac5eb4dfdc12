"""The one string a document is encoded as, shared by every encoder (the adapters in
:mod:`synrank.retrieval.encoders` and the plug-in wrapper in :mod:`synrank.retrieval.plugins`).

BEIR's rule: ``(title + " " + text).strip()``, as its SentenceBERT model joins them.
"""

from __future__ import annotations

from typing import Any

# Joining title and text as BEIR's SentenceBERT model does: (title + " " + text).strip().
TITLE_SEP = " "


def document_text(doc: Any, sep: str = TITLE_SEP) -> str:
    """The string a document is encoded as: ``(title + sep + text).strip()`` (BEIR's rule).

    Accepts a dict with ``text`` (and optional ``title``), a :class:`synrank.data.beir.Document`-like
    object with ``title``/``text`` attributes, or a plain string.
    """
    if isinstance(doc, str):
        return doc.strip()
    if isinstance(doc, dict):
        title, text = doc.get("title"), doc.get("text", "")
    else:
        title, text = getattr(doc, "title", None), getattr(doc, "text", "")
    if title is None:
        return (text or "").strip()
    return (title + sep + (text or "")).strip()
