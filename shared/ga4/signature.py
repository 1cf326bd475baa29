"""Signed server-to-server requests: ``X-Signature: t=<unix>,v1=<hex HMAC-SHA256>``.

The signed message is ``f"{t}.{body}"`` (the timestamp, a dot, the raw body bytes), keyed
with one of the active secrets (``MP_SIGNING_SECRETS``, two during a rotation). A signature
is accepted within ±300 s of the collector's clock and only once: a replay inside the window
is refused. The replay memory is per instance (bounded, expiring with the window); a replay
sent to another instance within 300 s is not caught — the timestamp still bounds it.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable

HEADER = "x-signature"
TOLERANCE_SECONDS = 300
# Signatures remembered for replay refusal; at 600 signed requests/s over 300 s this would
# need 180,000 entries, far above what one instance serves.
MAX_REMEMBERED = 50_000


class SignatureError(Exception):
    """Why a signature was refused (a reason code; ``str()`` is the human detail)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The header value for ``body`` signed at ``timestamp`` (for senders and tests)."""
    digest = hmac.new(secret, str(timestamp).encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header[:1024].split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t" and value.isascii() and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif key == "v1" and len(value) == 64:
            signatures.append(value.lower())
    if timestamp is None or not signatures:
        raise SignatureError("signature_malformed", "X-Signature must be t=<unix seconds>,v1=<hex HMAC-SHA256>")
    return timestamp, signatures[:2]


class Verifier:
    """Checks ``X-Signature`` against the active secrets and refuses replays."""

    def __init__(
        self, secrets: tuple[str, ...], tolerance: int = TOLERANCE_SECONDS, clock: Callable[[], float] = time.time
    ) -> None:
        self._secrets = tuple(secret.encode("utf-8") for secret in secrets if secret)
        self._tolerance = tolerance
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    @property
    def enabled(self) -> bool:
        """Whether any signing secret is configured (without one, every signature is refused)."""
        return bool(self._secrets)

    def rotate(self, secrets: tuple[str, ...]) -> None:
        """Use ``secrets`` from now on, keeping the memory of used signatures (a rotation
        read at runtime must not reopen the replay window)."""
        self._secrets = tuple(secret.encode("utf-8") for secret in secrets if secret)

    def verify(self, header: str, body: bytes) -> None:
        """Return when valid; raise :class:`SignatureError` otherwise."""
        if not self._secrets:
            raise SignatureError("signature_not_configured", "this collector has no MP_SIGNING_SECRETS")
        timestamp, offered = _parse(header)
        now = self._clock()
        if abs(now - timestamp) > self._tolerance:
            raise SignatureError(
                "signature_expired", f"the signature's timestamp is more than {self._tolerance} s from now"
            )
        message = str(timestamp).encode("ascii") + b"." + body
        valid = None
        for secret in self._secrets:
            expected = hmac.new(secret, message, hashlib.sha256).hexdigest()
            for candidate in offered:
                if hmac.compare_digest(expected, candidate):
                    valid = candidate
        if valid is None:
            raise SignatureError("signature_invalid", "X-Signature does not match the body with any active secret")
        self._forget(now)
        if valid in self._seen:
            raise SignatureError("signature_replayed", "this signature was already used")
        if len(self._seen) >= MAX_REMEMBERED:
            self._seen.popitem(last=False)
        self._seen[valid] = timestamp + self._tolerance

    def _forget(self, now: float) -> None:
        while self._seen:
            signature, expires = next(iter(self._seen.items()))
            if expires >= now:
                break
            del self._seen[signature]
