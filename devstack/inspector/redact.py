"""Defensive redaction of secrets before anything reaches the inspector page.

The functions already redact what they log; the inspector does it again, because a secret
shown in a browser tab (or a screenshot of it) is a leak, whatever wrote the log line.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable
from typing import Any

REDACTED = "[redacted]"

# Keys whose values are credentials wherever they appear: JSON keys, header names, query
# parameters. The debug token travels in the x-tagging-debug header or the tagging_debug
# cookie. test_event_code and debug_mode are not secrets and stay visible.
SENSITIVE_KEY = re.compile(
    r"(?i)^(authorization|proxy-authorization|cookie|set-cookie|access[-_]?token|api[-_]?secret|"
    r"api[-_]?key|x-api-key|secret|client[-_]?secret|password|.*[-_]token|token|"
    r"x-tagging-debug|tagging_debug)$"
)


def is_sensitive(key: str) -> bool:
    """True when a key, header name or query parameter name carries a credential."""
    return bool(SENSITIVE_KEY.match(key.strip()))


def redact_query(query: str, secrets: Iterable[str] = ()) -> str:
    """A query string with the values of sensitive parameters replaced."""
    if not query:
        return query
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    if not any(is_sensitive(k) and v for k, v in pairs) and not _contains(query, secrets):
        return query
    cleaned = [(k, REDACTED if is_sensitive(k) and v and v != REDACTED else _scrub(v, secrets)) for k, v in pairs]
    return urllib.parse.urlencode(cleaned, safe="[]")


def redact_url(url: str, secrets: Iterable[str] = ()) -> str:
    """A URL with the values of sensitive query parameters replaced."""
    parts = urllib.parse.urlsplit(url)
    if not parts.query:
        return _scrub(url, secrets)
    return urllib.parse.urlunsplit(parts._replace(query=redact_query(parts.query, secrets)))


def redact(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A deep copy of ``value`` with credentials replaced by ``[redacted]``.

    Sensitive keys lose their values; URLs and query strings lose sensitive parameters;
    any string containing one of ``secrets`` (e.g. the configured debug token) is scrubbed.
    """
    secrets = tuple(s for s in secrets if s)
    return _redact(value, secrets)


def _redact(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if isinstance(key, str) and is_sensitive(key) and item not in (None, "", REDACTED):
                out[key] = REDACTED
            elif key in ("url",) and isinstance(item, str):
                out[key] = redact_url(item, secrets)
            elif key in ("query",) and isinstance(item, str):
                out[key] = redact_query(item, secrets)
            else:
                out[key] = _redact(item, secrets)
        return out
    if isinstance(value, (list, tuple)):
        return [_redact(item, secrets) for item in value]
    if isinstance(value, str):
        return _scrub(value, secrets)
    return value


def _contains(text: str, secrets: Iterable[str]) -> bool:
    return any(s and s in text for s in secrets)


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    return text
