"""Vendor secrets (access tokens, API secrets): the one place they are read.

Names are the vendor's setting names, e.g. ``META_ACCESS_TOKEN``. Two backends, chosen by
``SECRETS_BACKEND``:

``env`` (default; local runs and tests)
    The value of the environment variable of the same name (``META_ACCESS_TOKEN``). Unset or
    empty means "no credentials": the vendor runs dry.

``secretmanager`` (the cloud: Terraform sets it on every vendor function, with one
``SECRET_<NAME>`` per secret of the vendor, see infra/modules/vendor_function)
    Google Secret Manager, read at runtime. The secret version to read is, in order:

    1. ``SECRET_<NAME>``: a full version resource name,
       ``projects/<project>/secrets/<secret>/versions/<version|latest>``
       (e.g. ``SECRET_META_ACCESS_TOKEN=projects/my-proj/secrets/META_ACCESS_TOKEN/versions/latest``);
    2. otherwise, if ``<NAME>`` itself is set as an environment variable, that value
       (lets an operator pin a value without a secret);
    3. otherwise the secret is not configured: the vendor runs dry.

    Values are cached in process for ``SECRETS_CACHE_SECONDS`` (default 300), so a value
    added or rotated with ``gcloud secrets versions add`` reaches running instances within
    that time without a redeploy, and Secret Manager is called about once per instance per
    5 minutes, not once per event.

    A secret that exists but holds no enabled version (Secret Manager answers NOT_FOUND or
    FAILED_PRECONDITION) is "not configured": ``""``, the vendor runs dry, and it is asked
    again after the cache time. So a deploy never waits for secret values.
    Any other failure (permission, network, quota) raises :class:`SecretUnavailable`; the
    delivery runtime turns that into a retry (the event is not lost and not sent dry). When a
    refresh fails but a value was read less than ``SECRETS_STALE_SECONDS`` (default 3600) ago,
    that value is served instead: a Secret Manager hiccup does not stop deliveries.
    ``SECRET_MANAGER_ENDPOINT=host:port`` points the client at a local insecure gRPC server
    (tests only).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from google.cloud.secretmanager_v1 import SecretManagerServiceClient

DEFAULT_CACHE_SECONDS = 300.0
DEFAULT_STALE_SECONDS = 3600.0


class SecretUnavailable(RuntimeError):
    """A configured secret could not be read (permission, network, missing version)."""


@dataclass
class _Cached:
    value: str
    fetched: float


class SecretCache:
    """A thread-safe TTL cache in front of a fetch function.

    A value older than ``ttl`` is fetched again. If that fetch raises
    :class:`SecretUnavailable`, the old value is served while it is younger than
    ``ttl + stale``; after that the error propagates.
    """

    def __init__(
        self,
        fetch: Callable[[str], str],
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
        stale: float = 0.0,
    ):
        self._fetch = fetch
        self._ttl = ttl
        self._stale = stale
        self._clock = clock
        self._values: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    def get(self, reference: str) -> str:
        now = self._clock()
        with self._lock:
            cached = self._values.get(reference)
        if cached is not None and now - cached.fetched < self._ttl:
            return cached.value
        try:
            value = self._fetch(reference)
        except SecretUnavailable:
            if cached is not None and cached.value and now - cached.fetched < self._ttl + self._stale:
                return cached.value
            raise
        with self._lock:
            self._values[reference] = _Cached(value, now)
        return value

    def is_fresh(self, reference: str) -> bool:
        """Whether :meth:`get` would answer from memory, without a fetch."""
        with self._lock:
            cached = self._values.get(reference)
        return cached is not None and self._clock() - cached.fetched < self._ttl

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


_client: SecretManagerServiceClient | None = None
_client_lock = threading.Lock()
_cache: SecretCache | None = None


def _secret_manager_client() -> SecretManagerServiceClient:
    """One client per process (gRPC channel reuse)."""
    global _client
    with _client_lock:
        if _client is None:
            from google.cloud import secretmanager_v1

            endpoint = os.environ.get("SECRET_MANAGER_ENDPOINT", "")
            if endpoint:
                import grpc
                from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
                    SecretManagerServiceGrpcTransport,
                )

                transport = SecretManagerServiceGrpcTransport(channel=grpc.insecure_channel(endpoint))
                _client = secretmanager_v1.SecretManagerServiceClient(transport=transport)
            else:
                _client = secretmanager_v1.SecretManagerServiceClient()
        return _client


def _fetch_from_secret_manager(reference: str) -> str:
    from google.api_core import exceptions

    try:
        # No client-side retry loop: a failed read makes the delivery retry through Pub/Sub.
        response = _secret_manager_client().access_secret_version(name=reference, retry=None, timeout=5)
    except (exceptions.NotFound, exceptions.FailedPrecondition):
        # No version yet (or every version disabled/destroyed): not configured, run dry.
        return ""
    except Exception as exc:  # other google.api_core and transport errors: all mean "not now"
        raise SecretUnavailable(f"{reference.rsplit('/versions/', 1)[0]}: {type(exc).__name__}") from None
    return response.payload.data.decode("utf-8").strip()


def _shared_cache() -> SecretCache:
    global _cache
    with _client_lock:
        if _cache is None:
            ttl = float(os.environ.get("SECRETS_CACHE_SECONDS") or DEFAULT_CACHE_SECONDS)
            stale = float(os.environ.get("SECRETS_STALE_SECONDS") or DEFAULT_STALE_SECONDS)
            _cache = SecretCache(_fetch_from_secret_manager, ttl, stale=stale)
        return _cache


def reset() -> None:
    """Forget the client and cached values (tests; a changed environment)."""
    global _client, _cache
    with _client_lock:
        _client = None
        _cache = None


def backend() -> str:
    """The configured backend: ``env`` (default) or ``secretmanager``."""
    return (os.environ.get("SECRETS_BACKEND") or "env").strip().lower()


def would_fetch(names: Iterable[str]) -> bool:
    """Whether reading any of ``names`` now would call Secret Manager (a blocking network
    read, up to 5 s): async callers then read them in a worker thread, not on the loop."""
    if backend() != "secretmanager":
        return False
    cache = _shared_cache()
    for name in names:
        reference = os.environ.get(f"SECRET_{name}", "").strip()
        if reference and not cache.is_fresh(reference):
            return True
    return False


def get(name: str) -> str:
    """The secret ``name`` (e.g. ``META_ACCESS_TOKEN``), or ``""`` when it is not configured."""
    if backend() == "secretmanager":
        reference = os.environ.get(f"SECRET_{name}", "").strip()
        if reference:
            return _shared_cache().get(reference)
    return os.environ.get(name, "").strip()
