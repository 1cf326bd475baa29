"""Vendor secrets (access tokens, API secrets): the one place they are read.

Names are the vendor's setting names, e.g. ``META_ACCESS_TOKEN``. Two backends, chosen by
``SECRETS_BACKEND``:

``env`` (default; local runs and tests)
    The value of the environment variable of the same name (``META_ACCESS_TOKEN``). Unset or
    empty means "no credentials": the vendor runs dry.

``secretmanager`` (the cloud; Terraform sets it)
    Google Secret Manager. The secret version to read is, in order:

    1. ``SECRET_<NAME>``: a full version resource name,
       ``projects/<project>/secrets/<secret>/versions/<version|latest>``
       (e.g. ``SECRET_META_ACCESS_TOKEN=projects/my-proj/secrets/meta-access-token/versions/latest``);
    2. otherwise, if ``<NAME>`` itself is set as an environment variable, that value
       (lets an operator pin a value without a secret);
    3. otherwise the secret is not configured: the vendor runs dry.

    Values are cached in process for ``SECRETS_CACHE_SECONDS`` (default 300), so rotating a
    secret reaches running instances within that time without a redeploy, and Secret
    Manager is called about once per instance per 5 minutes, not once per event.
    A failure to read a configured secret raises :class:`SecretUnavailable`; the delivery
    runtime turns that into a retry (the event is not lost and not sent dry).
    ``SECRET_MANAGER_ENDPOINT=host:port`` points the client at a local insecure gRPC server
    (tests only).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Callable

DEFAULT_CACHE_SECONDS = 300.0


class SecretUnavailable(RuntimeError):
    """A configured secret could not be read (permission, network, missing version)."""


@dataclass
class _Cached:
    value: str
    expires: float


class SecretCache:
    """A thread-safe TTL cache in front of a fetch function."""

    def __init__(self, fetch: Callable[[str], str], ttl: float, clock: Callable[[], float] = time.monotonic):
        self._fetch = fetch
        self._ttl = ttl
        self._clock = clock
        self._values: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    def get(self, reference: str) -> str:
        now = self._clock()
        with self._lock:
            cached = self._values.get(reference)
            if cached is not None and cached.expires > now:
                return cached.value
        value = self._fetch(reference)
        with self._lock:
            self._values[reference] = _Cached(value, now + self._ttl)
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


_client = None
_client_lock = threading.Lock()
_cache: SecretCache | None = None


def _secret_manager_client():
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
    try:
        # No client-side retry loop: a failed read makes the delivery retry through Pub/Sub.
        response = _secret_manager_client().access_secret_version(name=reference, retry=None, timeout=5)
    except Exception as exc:  # google.api_core errors, transport errors: all mean "not now"
        raise SecretUnavailable(f"{reference.rsplit('/versions/', 1)[0]}: {type(exc).__name__}") from None
    return response.payload.data.decode("utf-8").strip()


def _shared_cache() -> SecretCache:
    global _cache
    with _client_lock:
        if _cache is None:
            ttl = float(os.environ.get("SECRETS_CACHE_SECONDS") or DEFAULT_CACHE_SECONDS)
            _cache = SecretCache(_fetch_from_secret_manager, ttl)
        return _cache


def reset() -> None:
    """Forget the client and cached values (tests; a changed environment)."""
    global _client, _cache
    with _client_lock:
        _client = None
        _cache = None


def backend() -> str:
    return (os.environ.get("SECRETS_BACKEND") or "env").strip().lower()


def get(name: str) -> str:
    """The secret ``name`` (e.g. ``META_ACCESS_TOKEN``), or ``""`` when it is not configured."""
    if backend() == "secretmanager":
        reference = os.environ.get(f"SECRET_{name}", "").strip()
        if reference:
            return _shared_cache().get(reference)
    return os.environ.get(name, "").strip()
