"""Lenient parsing of the gtag wire format: query strings and batched body lines.

gtag.js sends ``application/x-www-form-urlencoded``-style pairs in the URL and, for batches,
one event per body line. Real traffic has flags without ``=``, empty values and duplicate
keys, so parsing never fails on shape: it returns what it can and the caller validates.
"""

from __future__ import annotations

from urllib.parse import unquote_plus


def parse_pairs(raw: str) -> dict[str, str]:
    """Decode ``a=1&b&c=`` into ``{"a": "1", "b": "", "c": ""}``; the last duplicate wins."""
    params: dict[str, str] = {}
    if not raw:
        return params
    for part in raw.split("&"):
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = unquote_plus(key)
        if not key:
            continue
        params[key] = unquote_plus(value) if sep else ""
    return params


def split_lines(body: str) -> list[str]:
    """One event per non-blank line; tolerates ``\\r\\n``, ``\\n`` and trailing newlines."""
    return [line.strip() for line in body.splitlines() if line.strip()]
