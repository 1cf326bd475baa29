"""Decoding the Pub/Sub push envelope into the normalized event."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from shared.event import UNREAD, decode_event, fast_loads


class EnvelopeError(ValueError):
    """The push body is not a Pub/Sub push envelope carrying a normalized event."""


@dataclass
class PushMessage:
    event: dict[str, Any]
    attributes: dict[str, str] = field(default_factory=dict)
    message_id: str = ""
    subscription: str = ""
    # Pub/Sub sets deliveryAttempt on subscriptions with a dead-letter policy; the emulator
    # never does, and then it is None and the runtime counts attempts itself.
    delivery_attempt: int | None = None


def decode_push(body: bytes) -> PushMessage:
    """Parse ``{"message": {"data": base64, "attributes": {...}, "messageId": ...}, ...}``."""
    envelope = fast_loads(body)
    try:
        if envelope is UNREAD:
            envelope = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EnvelopeError(f"body is not JSON: {exc}") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("message"), dict):
        raise EnvelopeError("body has no 'message' object")
    message = envelope["message"]
    data = message.get("data")
    if not isinstance(data, str) or not data:
        raise EnvelopeError("message has no base64 'data'")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise EnvelopeError("message data is not valid base64") from None
    try:
        event = decode_event(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise EnvelopeError(f"message data is not a JSON event: {exc}") from None
    attributes = message.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise EnvelopeError("message attributes are not an object")
    attempt = envelope.get("deliveryAttempt")
    try:
        attempt = max(1, int(attempt)) if attempt is not None else None
    except (TypeError, ValueError):
        attempt = None
    return PushMessage(
        event=event,
        attributes={str(k): str(v) for k, v in attributes.items()},
        message_id=str(message.get("messageId") or message.get("message_id") or ""),
        subscription=str(envelope.get("subscription", "")),
        delivery_attempt=attempt,
    )
