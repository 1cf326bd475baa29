"""Vendor requests as data: origin override, redaction, and the response the classifiers see.

The sending itself is :mod:`shared.delivery.client` (async, pooled)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

REDACTED = "[REDACTED]"
# Query parameters and headers that carry credentials in some vendor's API.
SECRET_QUERY_PARAMS = frozenset({"access_token", "api_secret", "token", "key", "api_key", "appsecret_proof"})
SECRET_HEADERS = frozenset({"access-token", "authorization", "x-api-key", "api-key", "x-access-token"})
_EXCERPT = 500


def with_origin(url: str, base: str) -> str:
    """``url`` sent to ``base``'s origin instead (``VENDOR_API_BASE``), path and query kept.

    A path in ``base`` is prepended: ``http://127.0.0.1:9000/meta`` + ``/v24.0/1/events`` →
    ``http://127.0.0.1:9000/meta/v24.0/1/events``.
    """
    if not base:
        return url
    target = urlsplit(url)
    origin = urlsplit(base)
    path = origin.path.rstrip("/") + target.path
    return urlunsplit((origin.scheme, origin.netloc, path, target.query, target.fragment))


def redact_url(url: str, secrets: Iterable[str] = ()) -> str:
    parts = urlsplit(url)
    if not parts.query:
        return _redact_text(url, secrets)
    query = [
        (key, REDACTED if key.lower() in SECRET_QUERY_PARAMS and value else _redact_text(value, secrets))
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query, safe="[]"), parts.fragment))


def redact_request(request: dict[str, Any], secrets: Iterable[str] = ()) -> dict[str, Any]:
    """A copy of ``{method, url, headers, json}`` safe to log: credentials replaced."""
    secrets = [s for s in secrets if s and len(s) >= 4]
    headers = {
        key: (REDACTED if key.lower() in SECRET_HEADERS and value else _redact_text(value, secrets))
        for key, value in (request.get("headers") or {}).items()
    }
    return {
        "method": request.get("method"),
        "url": redact_url(request.get("url", ""), secrets),
        "headers": headers,
        "json": _redact_json(request.get("json"), secrets),
    }


_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


def secret_forms(secret: str) -> list[str]:
    """Every spelling of ``secret`` a log line may hold: as is, JSON-escaped, URL-encoded
    (``%2F`` and ``%2f``, ``/`` kept or not) and form-encoded (spaces as ``+``); longest first,
    so a longer form is replaced before a shorter one inside it."""
    forms = {
        secret,
        json.dumps(secret)[1:-1],
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        quote_plus(secret, safe="/"),
    }
    forms |= {_PERCENT_ESCAPE.sub(lambda m: m.group(0).lower(), form) for form in list(forms)}
    return sorted(forms, key=len, reverse=True)


def _redact_text(value: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if not secret or len(secret) < 4:
            continue
        for form in secret_forms(secret):
            if form in value:
                value = value.replace(form, REDACTED)
    return value


def redact_text(value: str, secrets: Iterable[str]) -> str:
    """``value`` with every secret replaced, in any of its encodings (:func:`secret_forms`)."""
    return _redact_text(value, [s for s in secrets if s])


def _redact_json(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, dict):
        return {
            k: (REDACTED if k.lower() in SECRET_QUERY_PARAMS and v else _redact_json(v, secrets))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact_json(v, secrets) for v in value]
    if isinstance(value, str):
        return _redact_text(value, secrets)
    return value


@dataclass
class Response:
    """What the classification needs of a vendor's answer."""

    status: int
    text: str
    headers: dict[str, str]

    def json(self) -> Any:
        try:
            return json.loads(self.text)
        except (ValueError, TypeError):
            return None

    def excerpt(self) -> str:
        return self.text[:_EXCERPT]
