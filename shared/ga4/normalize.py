"""gtag parameters → the normalized event (sGTM common-event-data keys).

The normalized event is the contract between collect and every vendor function: see
``shared.event`` for its identity fields and Pub/Sub attributes.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlsplit

# Wire parameter → event key, for strings copied as they are.
STRING_PARAMS = {
    "en": "event_name",
    "cid": "client_id",
    "uid": "user_id",
    "sid": "ga_session_id",
    "dl": "page_location",
    "dr": "page_referrer",
    "dt": "page_title",
    "ul": "language",
    "sr": "screen_resolution",
    "cu": "currency",
    "tid": "x-ga-measurement_id",
    "v": "x-ga-protocol_version",
    "gtm": "x-ga-gtm_version",
}

# Wire parameter → event key, for numbers (int when integral).
NUMBER_PARAMS = {
    "sct": "ga_session_number",
    "_et": "engagement_time_msec",
    "_p": "x-ga-page_id",
    "_s": "x-ga-request_count",
    "tfd": "x-ga-tfd",
}


def to_number(raw: str) -> int | float | None:
    """``"1150.00"`` → 1150.0, ``"3"`` → 3; ``None`` for empty, non-numeric, NaN or infinite."""
    text = raw.strip()
    if not text:
        return None
    try:
        if text.lstrip("+-").isdigit():
            return int(text)
        number = float(text)
    except ValueError:
        return None
    if math.isnan(number) or math.isinf(number):
        return None
    return number


def normalize_gtag(params: dict[str, str]) -> dict[str, Any]:
    """Map one event's merged wire parameters onto the normalized event's keys.

    Identity and context (``event_id``, ip, user agent, consent, timestamps) are added by the
    caller, which knows the request. Nothing is dropped: parameters without a mapping are
    kept as ``x-ga-mp2-<name>``.
    """
    event: dict[str, Any] = {}
    for key, value in params.items():
        if key in STRING_PARAMS:
            event[STRING_PARAMS[key]] = value
        elif key in NUMBER_PARAMS:
            _set_number(event, NUMBER_PARAMS[key], value)
        elif key.startswith("ep."):
            name = key[3:]
            if name in ("value", "tax", "shipping"):
                _set_number(event, name, value)
            else:
                event[name] = value
        elif key.startswith("epn."):
            _set_number(event, key[4:], value)
        else:
            event[f"x-ga-mp2-{key}"] = value
    location = event.get("page_location")
    if location:
        try:
            parts = urlsplit(location)
            event.setdefault("page_hostname", parts.hostname or "")
            event.setdefault("page_path", parts.path or "/")
        except ValueError:
            pass
    return event


def _set_number(event: dict[str, Any], key: str, raw: str) -> None:
    number = to_number(raw)
    event[key] = number
    if number is None and raw.strip():
        event[f"x-ga-raw-{key}"] = raw
