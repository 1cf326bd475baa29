"""Lenient parsing of the gtag wire format: query strings, batched body lines, cookies.

gtag.js sends ``application/x-www-form-urlencoded``-style pairs in the URL and, for batches,
one event per body line. Real traffic has flags without ``=``, empty values and duplicate
keys, so parsing never fails on shape: it returns what it can and the caller validates.
"""

from __future__ import annotations

from urllib.parse import unquote, unquote_plus

from shared.ga4.limits import USER_PROPERTY_VALUE_CHARS as SHORTEST_VALUE_LIMIT
from shared.ga4.limits import value_limit


def _decode(text: str) -> str:
    # Most keys and many values need no decoding; skipping unquote_plus saves real CPU per hit.
    if "%" in text or "+" in text:
        return unquote_plus(text)
    return text


def parse_pairs(raw: str) -> dict[str, str]:
    """Decode ``a=1&b&c=`` into ``{"a": "1", "b": "", "c": ""}``; the last duplicate wins.
    Values longer than GA4 keeps are truncated as GA4 truncates them (``limits.value_limit``)."""
    params: dict[str, str] = {}
    if not raw:
        return params
    for part in raw.split("&"):
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = _decode(key)
        if not key:
            continue
        value = _decode(value) if sep else ""
        if len(value) > SHORTEST_VALUE_LIMIT:
            # GA4 keeps only so many characters of each value (shared/ga4/limits.py).
            value = value[: value_limit(key)]
        params[key] = value
    return params


def split_lines(body: str) -> list[str]:
    """One event per non-blank line; tolerates ``\\r\\n``, ``\\n`` and trailing newlines."""
    return [stripped for line in body.splitlines() if (stripped := line.strip())]


def parse_cookies(header: str) -> dict[str, str]:
    """``a=1; b=2`` → ``{"a": "1", "b": "2"}``; malformed pieces are skipped, never fatal."""
    cookies: dict[str, str] = {}
    for piece in header.split(";"):
        name, sep, value = piece.partition("=")
        name = name.strip()
        if sep and name:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            cookies[name] = unquote(value) if "%" in value else value
    return cookies
