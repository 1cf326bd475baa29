"""Honouring a vendor's "slow down": one back-off per vendor per instance.

When a vendor answers 429 (or any retryable answer with ``Retry-After``, or a rate-limit
answer of its own that its ``classify`` marks with ``retry_after``), the message is nacked so
Pub/Sub redelivers it later, and the instance stops calling that vendor until the time the
vendor gave: every delivery that arrives meanwhile is nacked at once without a call
(reason ``rate_limited``). One shared deadline per vendor object, so a burst of N concurrent
deliveries produces at most the few calls already in flight, not N calls each backing off
on its own.

Without a time from the vendor the pause is ``RATE_LIMIT_DEFAULT_SECONDS`` (10); no pause is
longer than ``RATE_LIMIT_MAX_SECONDS`` (600), so a vendor's typo cannot stop an instance for a
day. Pub/Sub's own retry backoff (subscription ``minimum_backoff``) spaces the redeliveries.
"""

from __future__ import annotations

import email.utils
import threading
import time
from dataclasses import dataclass, field

from shared import settings as env_settings

DEFAULT_SECONDS = 10.0
MAX_SECONDS = 600.0


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date → seconds from now."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass
class Backoff:
    """The vendor's pause, shared by every delivery of this instance (thread- and task-safe)."""

    until: float = 0.0  # time.monotonic()
    pauses: int = 0     # how many times a vendor answer started or extended a pause
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def remaining(self, now: float | None = None) -> float:
        """Seconds left in the pause (0 when calls may go out)."""
        return max(0.0, self.until - (time.monotonic() if now is None else now))

    def pause(self, seconds: float | None, now: float | None = None) -> float:
        """Stop calls for ``seconds`` (the default when the vendor gave none); return the pause."""
        if seconds is None:
            seconds = env_settings.env_float("RATE_LIMIT_DEFAULT_SECONDS", DEFAULT_SECONDS)
        seconds = min(max(0.0, seconds), env_settings.env_float("RATE_LIMIT_MAX_SECONDS", MAX_SECONDS))
        now = time.monotonic() if now is None else now
        with self._lock:
            if now + seconds > self.until:
                self.until = now + seconds
                self.pauses += 1
        return seconds

    def clear(self) -> None:
        with self._lock:
            self.until = 0.0
