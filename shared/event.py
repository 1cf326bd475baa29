"""The normalized event's identity and its Pub/Sub message encoding.

Message data is the event as UTF-8 JSON; message attributes carry what subscriptions filter
on (event name, measurement ID, consent, debug), so routing never needs the body.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson

CONSENT_PURPOSES = ("ad_storage", "analytics_storage", "ad_user_data", "ad_personalization")

# Pub/Sub caps attribute values at 1024 bytes.
_MAX_ATTRIBUTE_BYTES = 1024
# orjson reads an integer beyond 64 bits as a float where json keeps it exact: data with a
# run of 19+ digits (the shortest such integer) is read by json instead. Found by mapping
# every digit to "0" and looking for 19 of them: two C passes, several times cheaper than
# the regular expression [0-9]{19}, which cost more than the parse itself.
_DIGITS_AS_ZERO = bytes(0x30 if 0x30 <= i <= 0x39 else 0x20 for i in range(256))
_LONG_RUN = b"0" * 19


def stable_event_id(*parts: str) -> str:
    """A deterministic id: the same hit sent twice yields the same id (dedup at vendors)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return digest[:32]


def message_attributes(event: dict[str, Any]) -> dict[str, str]:
    """The design's filterable attributes for one normalized event.

    ``event_name``, ``measurement_id``, ``debug`` (``true``/``false``), ``consent_<purpose>``
    for the four purposes (``granted``/``denied``/``not_set``), ``consent_npa``, ``consent_dma``.
    """
    consent = event.get("consent") or {}
    attributes = {
        "event_name": str(event.get("event_name", "")),
        "measurement_id": str(event.get("x-ga-measurement_id", "")),
        "debug": "true" if event.get("debug_mode") else "false",
    }
    for purpose in CONSENT_PURPOSES:
        attributes[f"consent_{purpose}"] = str(consent.get(purpose, "not_set"))
    # npa (non-personalised ads) and dma (Digital Markets Act applies) as sent by the tag.
    attributes["consent_npa"] = "true" if consent.get("npa") else "false"
    attributes["consent_dma"] = "true" if consent.get("dma") else "false"
    return {key: _clip(value) for key, value in attributes.items()}


def encode_event(event: dict[str, Any]) -> bytes:
    """Message data: compact UTF-8 JSON."""
    try:
        # orjson writes the same compact UTF-8 JSON several times faster (it runs once per event).
        return orjson.dumps(event)
    except TypeError:  # orjson.JSONEncodeError: e.g. an int beyond 64 bits, which json handles
        return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


UNREAD: Any = object()  # what fast_loads returns when json must read the data


def fast_loads(data: bytes) -> Any:
    """``data`` read by orjson (several times faster than json, and every delivery reads an
    envelope and an event) when orjson reads it exactly as ``json.loads`` would; otherwise
    :data:`UNREAD`, and the caller reads it with json: what orjson refuses (NaN, 1e400, lone
    surrogates, invalid UTF-8, UTF-16) gets json's own result or error."""
    if not isinstance(data, (bytes, bytearray)) or _LONG_RUN in data.translate(_DIGITS_AS_ZERO):
        return UNREAD
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return UNREAD


def decode_event(data: bytes) -> dict[str, Any]:
    """Inverse of :func:`encode_event`; raises ``ValueError`` on anything but a JSON object."""
    event = fast_loads(data)
    if event is UNREAD:
        event = json.loads(data.decode("utf-8"))
    if not isinstance(event, dict):
        raise ValueError("message data is not a JSON object")
    return event


def _clip(value: str) -> str:
    if len(value) <= _MAX_ATTRIBUTE_BYTES // 4:  # a character is at most 4 UTF-8 bytes: fits
        return value
    encoded = value.encode("utf-8")
    if len(encoded) <= _MAX_ATTRIBUTE_BYTES:
        return value
    return encoded[:_MAX_ATTRIBUTE_BYTES].decode("utf-8", "ignore")
