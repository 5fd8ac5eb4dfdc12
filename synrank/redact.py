"""Keep credentials out of files and logs.

* :func:`redact_url` hides the ``user:password@`` part of a URL and the values of query parameters that
  carry credentials (``?key=``, ``?token=``, ``?api_key=``, ``?sig=`` ...); :func:`redact_text` does it for
  every URL inside a message. Everything synrank records (``generation.json``, group provenance, data
  cards) or prints goes through them, and :class:`RedactingFilter` rewrites log records of third-party
  libraries (httpx logs every request URL).
* :func:`env_var_name_problem` refuses an ``api_key_env`` value that is not an environment variable name
  but looks like the key itself (which would otherwise be recorded as the "name" of the variable).
"""

from __future__ import annotations

import logging
import re
import urllib.parse

MASK = "***"
#: Query parameters whose values are credentials (matched anywhere in the parameter name, any case).
_SECRET_PARAM = re.compile(r"key|token|secret|passw|pwd|auth|sig|credential|session|access", re.I)
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Loggers of HTTP libraries that print request URLs.
HTTP_LOGGERS = ("httpx", "urllib3.connectionpool")


def redact_url(url: str) -> str:
    """``url`` without credentials: ``http://***@host/v1?key=***&model=x``. Other URLs are unchanged."""
    try:
        parts = urllib.parse.urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
        query = parts.query
        if query:
            pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
            if any(_SECRET_PARAM.search(k) for k, _ in pairs):
                query = "&".join(f"{urllib.parse.quote(k, safe='')}=" + (MASK if _SECRET_PARAM.search(k) else
                                                                          urllib.parse.quote(v, safe=""))
                                 for k, v in pairs)
        if netloc == parts.netloc and query == parts.query:
            return url
        return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:  # not parseable as a URL (e.g. a bad port): hide everything after the scheme
        scheme = url.split("://", 1)[0]
        return f"{scheme}://{MASK}"


def redact_text(text: str) -> str:
    """``text`` with every URL in it passed through :func:`redact_url`."""
    if "://" not in text:
        return text
    return _URL.sub(lambda m: redact_url(m.group()), text)


class RedactingFilter(logging.Filter):
    """A logging filter that removes credentials from URLs in a record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


_FILTER = RedactingFilter()


def install_log_redaction(*handlers: logging.Handler) -> None:
    """Redact URLs in the records of the HTTP libraries' loggers, and in everything ``handlers`` emit."""
    for target in [*(logging.getLogger(name) for name in HTTP_LOGGERS), *handlers]:
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)


def env_var_name_problem(value: str) -> str | None:
    """Why ``value`` is not usable as the *name* of an environment variable holding an API key, or None.

    The value itself is never part of the answer (it may be the key).
    """
    if not isinstance(value, str) or not _ENV_NAME.fullmatch(value):
        return "is not an environment variable name (letters, digits and _ only)"
    if len(value) >= 20 and any(c.isdigit() for c in value) and not value.isupper():
        return f"looks like an API key itself ({len(value)} mixed characters), not a variable name"
    return None
