"""A vendor: its declaration, and the delivery of one push message to its API."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import requests

from shared import jsonlog, settings
from shared.delivery.envelope import EnvelopeError, PushMessage, decode_push
from shared.delivery.outcome import Outcome

DEFAULT_TIMEOUT_SECONDS = 10.0


@dataclass
class VendorRequest:
    """The exact HTTP request a mapping produces (golden tests compare these)."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "url": self.url, "headers": dict(self.headers), "json": self.json}


class Skip(Exception):
    """Raised by a mapping when the vendor must not get this event; the message is the reason."""


@dataclass
class Attempt:
    """The result of one delivery attempt, as logged."""

    outcome: Outcome
    reason: str = ""
    status: int | None = None
    detail: str = ""


Mapping_ = Callable[[dict[str, Any], Mapping[str, str]], VendorRequest]


@dataclass
class Vendor:
    """A vendor function's declaration.

    ``build_request(event, settings)`` is a pure function; ``settings`` holds the values of
    ``setting_names`` read from ``<NAME>_<SETTING>`` environment variables. When a setting
    in ``required_settings`` is empty, the vendor runs dry: it logs the exact request instead
    of sending it.
    """

    name: str
    build_request: Mapping_
    setting_names: tuple[str, ...] = ()
    required_settings: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    session: requests.Session = field(default_factory=requests.Session)
    _seen: "OrderedDict[str, int]" = field(default_factory=OrderedDict, repr=False)
    _seen_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def settings(self) -> dict[str, str]:
        prefix = self.name.upper()
        return {key: os.environ.get(f"{prefix}_{key}", "") for key in self.setting_names}

    def max_delivery_attempts(self) -> int:
        return settings.env_int("MAX_DELIVERY_ATTEMPTS", 5)

    def handle_push(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """Deliver one push message; return the HTTP status for Pub/Sub and a JSON body."""
        try:
            message = decode_push(body)
        except EnvelopeError as exc:
            # Not acked: a malformed message is a poison message and belongs in the
            # dead-letter topic, where an operator can see it, not silently dropped.
            jsonlog.error("delivery", vendor=self.name, outcome="invalid_envelope", reason=str(exc))
            return 400, {"error": "invalid_envelope", "detail": str(exc)}
        attempt = self.deliver(message)
        status = 200 if attempt.outcome.ack else 503
        return status, {"outcome": attempt.outcome.value, "reason": attempt.reason}

    def deliver(self, message: PushMessage) -> Attempt:
        started = time.perf_counter()
        event = message.event
        values = self.settings()
        request: VendorRequest | None = None
        try:
            request = self.build_request(event, values)
        except Skip as skip:
            attempt = Attempt(Outcome.SKIPPED, reason=str(skip))
        except (KeyError, TypeError, ValueError) as exc:
            # The event cannot be mapped: a permanent problem for this message.
            attempt = Attempt(Outcome.REJECTED, reason="mapping_failed", detail=f"{type(exc).__name__}: {exc}")
        else:
            missing = [key for key in self.required_settings if not values.get(key)]
            if missing:
                attempt = Attempt(Outcome.DRY_RUN, reason=f"missing settings: {', '.join(missing)}")
            else:
                attempt = self._send(request)
        attempt_number = self._attempt_number(message)
        if attempt.outcome is Outcome.RETRYING and attempt_number >= self.max_delivery_attempts():
            attempt.outcome = Outcome.DEAD_LETTERED
        record: dict[str, Any] = {
            "vendor": self.name,
            "event_id": event.get("event_id"),
            "event_name": event.get("event_name"),
            "message_id": message.message_id,
            "outcome": attempt.outcome.value,
            "reason": attempt.reason,
            "http_status": attempt.status,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "attempt": attempt_number,
        }
        if attempt.detail:
            record["detail"] = attempt.detail[:500]
        if attempt.outcome is Outcome.DRY_RUN and request is not None:
            record["request"] = request.as_dict()
        severity = "INFO" if attempt.outcome.ack and attempt.outcome is not Outcome.REJECTED else "WARNING"
        jsonlog.log(severity, "delivery", **record)
        return attempt

    def _attempt_number(self, message: PushMessage) -> int:
        """Pub/Sub's deliveryAttempt; without it (the emulator), this process's own count."""
        with self._seen_lock:
            count = self._seen.pop(message.message_id, 0) + 1
            self._seen[message.message_id] = count
            while len(self._seen) > 100_000:
                self._seen.popitem(last=False)
        return message.delivery_attempt or count

    def _send(self, request: VendorRequest) -> Attempt:
        try:
            response = self.session.request(
                request.method,
                request.url,
                headers=request.headers,
                data=json.dumps(request.json, separators=(",", ":")).encode("utf-8") if request.json is not None else None,
                timeout=self.timeout,
            )
        except requests.Timeout:
            return Attempt(Outcome.RETRYING, reason="timeout")
        except requests.ConnectionError as exc:
            return Attempt(Outcome.RETRYING, reason="connection_error", detail=str(exc))
        except requests.RequestException as exc:
            return Attempt(Outcome.RETRYING, reason="request_error", detail=str(exc))
        return classify_response(response.status_code, response.text)


def classify_response(status: int, text: str) -> Attempt:
    """Vendor response → outcome: 2xx delivered; 429 and 5xx retry; other 4xx rejected."""
    if 200 <= status < 300:
        return Attempt(Outcome.DELIVERED, status=status)
    if status == 429 or status >= 500 or status == 408:
        return Attempt(Outcome.RETRYING, reason=f"http_{status}", status=status, detail=text[:500])
    return Attempt(Outcome.REJECTED, reason=f"http_{status}", status=status, detail=text[:500])
