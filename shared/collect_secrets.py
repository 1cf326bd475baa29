"""Collect's secrets (``MP_API_SECRETS``, ``DEBUG_TOKEN``, ``MP_SIGNING_SECRETS``,
``EDGE_AUTH_SECRETS``), kept current without a redeploy and without a request ever waiting.

Two sources, both answering :meth:`current` with one consistent :class:`Keys` snapshot:

:class:`StaticKeys` (local runs, tests)
    The values of :class:`shared.collect_app.CollectConfig`, i.e. environment variables.

:class:`RefreshingKeys` (the cloud: ``SECRETS_BACKEND=secretmanager``, Terraform sets one
``SECRET_<NAME>`` per secret, infra/modules/ingest_function)
    Read through :func:`shared.secrets.get` (its TTL cache, its stale rule) once at start-up,
    before the function serves, then again on a background thread once the snapshot is
    ``SECRETS_CACHE_SECONDS`` (300 s) old. A request only reads the current snapshot, so
    Secret Manager is never on the request path. A value rotated with
    ``gcloud secrets versions add`` is in use within that time. When a read fails
    (permission, outage), the last value read stays in use, a warning is logged, and the
    read is tried again after ``RETRY_SECONDS``; a secret never read yet is reported in
    :attr:`Keys.unread`, so collect can answer 503 (retry) instead of a wrong 403.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from shared import jsonlog, secrets, settings
from shared.ga4 import signature

if TYPE_CHECKING:
    from shared.collect_app import CollectConfig

NAMES = ("MP_API_SECRETS", "DEBUG_TOKEN", "MP_SIGNING_SECRETS", "EDGE_AUTH_SECRETS")
# Read only when the cookie keeper is on (shared/first_party/cookie_keeper.py): its store key salt.
KEEPER_SALT = "COOKIE_KEEPER_SALT"
MIN_SALT_CHARS = 16
RETRY_SECONDS = 30.0


def _split(value: str) -> tuple[str, ...]:
    """A comma-separated secret value (two entries during a rotation), as ``env_list`` reads it."""
    return tuple(item.strip() for item in value.split(",") if item.strip())


@dataclass(frozen=True)
class Keys:
    """One snapshot of collect's secrets, encoded for constant-time comparison."""

    mp_api_secrets: tuple[bytes, ...] = ()
    debug_token: bytes = b""
    edge_auth_secrets: tuple[bytes, ...] = ()
    verifier: signature.Verifier = field(default_factory=lambda: signature.Verifier(()))
    cookie_keeper_salt: bytes = b""
    # Secrets that could not be read even once (Secret Manager unreachable since start-up).
    unread: frozenset[str] = frozenset()

    @classmethod
    def build(
        cls, values: Mapping[str, str], verifier: signature.Verifier, unread: frozenset[str] = frozenset()
    ) -> Keys:
        """Keys from raw values by name (``NAMES``); ``verifier`` is rotated to the signing secrets."""
        verifier.rotate(_split(values.get("MP_SIGNING_SECRETS", "")))
        return cls(
            mp_api_secrets=tuple(s.encode("utf-8") for s in _split(values.get("MP_API_SECRETS", ""))),
            debug_token=values.get("DEBUG_TOKEN", "").strip().encode("utf-8"),
            edge_auth_secrets=tuple(s.encode("utf-8") for s in _split(values.get("EDGE_AUTH_SECRETS", ""))),
            verifier=verifier,
            cookie_keeper_salt=values.get(KEEPER_SALT, "").strip().encode("utf-8"),
            unread=unread,
        )


class KeySource(Protocol):
    def current(self) -> Keys: ...


class StaticKeys:
    """Fixed keys (from the environment through ``CollectConfig``)."""

    def __init__(self, keys: Keys) -> None:
        self._keys = keys

    @classmethod
    def from_values(
        cls,
        mp_api_secrets: Sequence[str] = (),
        debug_token: str = "",
        mp_signing_secrets: Sequence[str] = (),
        edge_auth_secrets: Sequence[str] = (),
        cookie_keeper_salt: str = "",
    ) -> StaticKeys:
        values = {
            "MP_API_SECRETS": ",".join(mp_api_secrets),
            "DEBUG_TOKEN": debug_token,
            "MP_SIGNING_SECRETS": ",".join(mp_signing_secrets),
            "EDGE_AUTH_SECRETS": ",".join(edge_auth_secrets),
            KEEPER_SALT: cookie_keeper_salt,
        }
        return cls(Keys.build(values, signature.Verifier(())))

    def current(self) -> Keys:
        return self._keys


class RefreshingKeys:
    """Keys read through ``shared.secrets`` and refreshed off the request path (module docstring)."""

    def __init__(
        self,
        read: Callable[[str], str] = secrets.get,
        ttl: float | None = None,
        retry: float = RETRY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        names: tuple[str, ...] = NAMES,
    ) -> None:
        self._read = read
        self._ttl = (
            ttl if ttl is not None else settings.env_float("SECRETS_CACHE_SECONDS", secrets.DEFAULT_CACHE_SECONDS)
        )
        self._retry = min(retry, self._ttl) if self._ttl > 0 else retry
        self._clock = clock
        self._names = names
        self._values: dict[str, str] = {}
        self._verifier = signature.Verifier(())
        self._keys = Keys(unread=frozenset(names))
        self._due = float("-inf")
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def refresh(self) -> Keys:
        """Read every secret now (in parallel) and publish a new snapshot; never raises."""

        def read(name: str) -> tuple[str, str | None]:
            try:
                return name, self._read(name)
            except secrets.SecretUnavailable as exc:
                # The reference and the error type only, never a value.
                jsonlog.warning("collect secret unavailable", secret=name, error=str(exc)[:300])
                return name, None

        with ThreadPoolExecutor(max_workers=len(self._names)) as pool:
            results = list(pool.map(read, self._names))
        failed = False
        for name, value in results:
            if value is None:
                failed = True  # keep the last value read, if any
            else:
                self._values[name] = value
        unread = frozenset(name for name in self._names if name not in self._values)
        self._keys = Keys.build(self._values, self._verifier, unread)
        self._due = self._clock() + (self._retry if failed else self._ttl)
        return self._keys

    def current(self) -> Keys:
        """The current snapshot; starts a background refresh when it is due (never waits)."""
        if self._clock() >= self._due:
            self._refresh_in_background()
        return self._keys

    def _refresh_in_background(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self.refresh, name="collect-secrets", daemon=True)
            self._thread.start()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a background refresh in flight (tests)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)


def from_env(config: CollectConfig) -> KeySource:
    """The key source for this process: Secret Manager when ``SECRETS_BACKEND=secretmanager``
    (read once here, before serving), else the environment values of ``config``."""
    keeper = config.cookie_keeper.enabled
    if secrets.backend() == "secretmanager":
        source = RefreshingKeys(names=NAMES + (KEEPER_SALT,) if keeper else NAMES)
        source.refresh()
        return source
    salt = config.cookie_keeper_salt
    if keeper and len(salt) < MIN_SALT_CHARS:
        # A short or missing salt makes the store keys guessable from client ids.
        raise ValueError(f"COOKIE_KEEPER is on: {KEEPER_SALT} must hold at least {MIN_SALT_CHARS} characters")
    return StaticKeys.from_values(
        config.mp_api_secrets, config.debug_token, config.mp_signing_secrets, config.edge_auth_secrets, salt
    )
