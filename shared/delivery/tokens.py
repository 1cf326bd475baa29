"""Access tokens a vendor mints at run time instead of keeping a long-lived one.

Two kinds, declared on the :class:`~shared.delivery.vendor.Vendor` as ``auth``:

:class:`OAuthRefreshToken`
    The OAuth 2.0 refresh-token grant (RFC 6749 §6): client id, client secret and refresh
    token are the vendor's secrets (``<VENDOR>_CLIENT_ID``, ``_CLIENT_SECRET``,
    ``_REFRESH_TOKEN``); the access token is cached in the instance until
    ``REFRESH_MARGIN_SECONDS`` before it expires, and refreshed **once** however many
    deliveries need it at that moment (an ``asyncio.Lock`` per event loop). A static
    ``<VENDOR>_ACCESS_TOKEN``, when set, is used as is (no refresh). A refused grant
    (``invalid_grant``: revoked, expired, or the wrong client) is a configuration problem:
    the delivery is retried with reason ``vendor_misconfigured``, logged at ERROR (the
    monitoring alert), and the next delivery asks the token endpoint again, so a fixed
    secret takes effect without a redeploy (secrets are re-read every
    ``SECRETS_CACHE_SECONDS``).

:class:`GoogleToken`
    The function's own service account, through ``google-auth``'s default credentials (the
    metadata server on Cloud Run; ``GOOGLE_APPLICATION_CREDENTIALS`` or gcloud's application
    default credentials locally). No key file, no secret: the owner grants that service
    account access in the vendor's UI (docs/vendors/googleads.md).

The runtime calls :meth:`headers` just before each vendor request and :meth:`invalidate`
when the vendor answers 401, so a token revoked early is replaced on the next attempt.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Mapping

from shared import jsonlog, settings as env_settings
from shared.delivery import client, http
from shared.delivery.outcome import Outcome

# The reason every configuration error is logged under (docs/contracts.md); the monitoring
# alert on vendor_misconfigured fires on it.
VENDOR_MISCONFIGURED = "vendor_misconfigured"
DEFAULT_REFRESH_MARGIN_SECONDS = 300.0
# OAuth error codes that mean "the credentials are wrong", not "try again later" (RFC 6749 §5.2).
_CONFIG_ERRORS = frozenset({"invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope",
                            "unsupported_grant_type", "invalid_request"})


class TokenError(Exception):
    """No access token now. ``misconfigured``: the grant or client was refused (alert)."""

    def __init__(self, reason: str, detail: str = "", misconfigured: bool = False, status: int | None = None):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.misconfigured = misconfigured
        self.status = status


def failed_attempt(error: TokenError):
    """The delivery's outcome when no token could be had: always a retry (nothing is lost)."""
    from shared.delivery.vendor import Attempt

    if error.misconfigured:
        return Attempt(Outcome.RETRYING, reason=VENDOR_MISCONFIGURED, status=error.status,
                       detail=f"token: {error.reason}: {error.detail}"[:500], alert=True)
    return Attempt(Outcome.RETRYING, reason="token_unavailable", status=error.status,
                   detail=f"{error.reason}: {error.detail}"[:500])


@dataclass
class _Token:
    value: str
    expires_at: float  # time.monotonic()


def _margin() -> float:
    return env_settings.env_float("TOKEN_REFRESH_MARGIN_SECONDS", DEFAULT_REFRESH_MARGIN_SECONDS)


class _PerLoopLocks:
    """One ``asyncio.Lock`` per (event loop, key): a lock belongs to the loop that uses it."""

    def __init__(self) -> None:
        self._locks: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]]" = (
            weakref.WeakKeyDictionary())

    def get(self, key: str) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        return self._locks.setdefault(loop, {}).setdefault(key, asyncio.Lock())


@dataclass
class OAuthRefreshToken:
    """The OAuth 2.0 refresh-token grant against ``token_url`` (form-encoded, RFC 6749 §6).

    ``<VENDOR>_TOKEN_URL`` overrides ``token_url``; otherwise ``VENDOR_API_BASE`` redirects
    it to a local server like every other vendor URL. ``scheme`` is the Authorization
    scheme (``Bearer``).
    """

    token_url: str
    client_id: str = "CLIENT_ID"
    client_secret: str = "CLIENT_SECRET"
    refresh_token: str = "REFRESH_TOKEN"
    static_token: str = "ACCESS_TOKEN"
    scheme: str = "Bearer"
    timeout: float = 10.0
    refreshes: int = 0  # token endpoint calls made by this process (tests, the log line)
    _cache: dict[str, _Token] = field(default_factory=dict, repr=False)
    _locks: _PerLoopLocks = field(default_factory=_PerLoopLocks, repr=False)

    def secret_names(self) -> tuple[str, ...]:
        return (self.static_token, self.client_id, self.client_secret, self.refresh_token)

    @staticmethod
    def _key(values: Mapping[str, str], *names: str) -> str:
        # Keyed by the credentials themselves (hashed): a rotated secret gets its own token.
        joined = "\x00".join(values.get(n, "") for n in names)
        return hashlib.sha256(joined.encode()).hexdigest()[:24]

    def configured(self, values: Mapping[str, str]) -> bool:
        return bool(values.get(self.static_token) or all(
            values.get(n) for n in (self.client_id, self.client_secret, self.refresh_token)))

    async def headers(self, vendor_name: str, values: Mapping[str, str]) -> dict[str, str]:
        """``{"Authorization": "Bearer <token>"}``; raises :class:`TokenError`."""
        static = values.get(self.static_token, "")
        if static:
            return {"Authorization": f"{self.scheme} {static}"}
        return {"Authorization": f"{self.scheme} {await self.token(vendor_name, values)}"}

    async def token(self, vendor_name: str, values: Mapping[str, str]) -> str:
        key = self._key(values, self.client_id, self.client_secret, self.refresh_token)
        cached = self._cache.get(key)
        if cached is not None and time.monotonic() < cached.expires_at:
            return cached.value
        async with self._locks.get(key):
            # Whoever held the lock before us may have refreshed already: one call, not N.
            cached = self._cache.get(key)
            if cached is not None and time.monotonic() < cached.expires_at:
                return cached.value
            fresh = await self._refresh(vendor_name, values)
            self._cache[key] = fresh
            return fresh.value

    def invalidate(self, values: Mapping[str, str]) -> None:
        """Forget the cached token (the vendor refused it: revoked before its expiry)."""
        self._cache.pop(self._key(values, self.client_id, self.client_secret, self.refresh_token), None)

    def url(self, values: Mapping[str, str]) -> str:
        override = values.get("TOKEN_URL", "")
        if override:
            return override
        return http.with_origin(self.token_url, os.environ.get("VENDOR_API_BASE", "").strip())

    async def _refresh(self, vendor_name: str, values: Mapping[str, str]) -> _Token:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": values.get(self.refresh_token, ""),
            "client_id": values.get(self.client_id, ""),
            "client_secret": values.get(self.client_secret, ""),
        }
        self.refreshes += 1
        started = time.monotonic()
        try:
            response = await client.send("POST", self.url(values), {"Accept": "application/json"}, form,
                                         (min(3.05, self.timeout), self.timeout), encoding="form")
        except client.TimeoutError_:
            raise TokenError("token_timeout") from None
        except client.RequestError as exc:
            raise TokenError("token_endpoint_unreachable", type(exc).__name__) from None
        body = response.json() if isinstance(response.json(), dict) else {}
        if 200 <= response.status < 300 and isinstance(body.get("access_token"), str) and body["access_token"]:
            try:
                lifetime = float(body.get("expires_in", 3600))
            except (TypeError, ValueError):
                lifetime = 3600.0
            # Refreshed this much before the vendor's expiry, never later than half its life.
            expires_at = started + max(lifetime - _margin(), lifetime / 2)
            jsonlog.log("INFO", "token", vendor=vendor_name, outcome="refreshed", expires_in=int(lifetime))
            return _Token(body["access_token"], expires_at)
        error = str(body.get("error") or f"http_{response.status}")[:60]
        description = str(body.get("error_description") or "")[:200]
        # 400/401 with an OAuth error code: the grant or client is wrong (revoked, expired,
        # rotated): nothing a retry fixes until someone updates the secret.
        misconfigured = error in _CONFIG_ERRORS or response.status in (400, 401, 403)
        if response.status == 429 or response.status >= 500:
            misconfigured = False
        jsonlog.log("ERROR" if misconfigured else "WARNING", "token", vendor=vendor_name, outcome="refused",
                    reason=error, http_status=response.status, detail=description)
        raise TokenError(error, description, misconfigured=misconfigured, status=response.status)


_GOOGLE_LOCKS = _PerLoopLocks()


@dataclass
class GoogleToken:
    """The function's own Google identity (service account) via ``google.auth.default``.

    google-auth refreshes the token itself when it is near expiry; the refresh is a blocking
    HTTP call, so it runs in a thread, once per instance at a time.
    """

    scopes: tuple[str, ...]
    refreshes: int = 0
    _credentials: Any = field(default=None, repr=False)

    def secret_names(self) -> tuple[str, ...]:
        return ()

    def configured(self, values: Mapping[str, str]) -> bool:
        return True

    def _load(self) -> Any:
        import google.auth
        from google.auth import exceptions

        try:
            credentials, _project = google.auth.default(scopes=list(self.scopes))
        except exceptions.DefaultCredentialsError as exc:
            raise TokenError("no_google_credentials", str(exc)[:200], misconfigured=True) from None
        return credentials

    def _refresh_blocking(self) -> None:
        import google.auth.transport.requests
        from google.auth import exceptions

        if self._credentials is None:
            self._credentials = self._load()
        try:
            self._credentials.refresh(google.auth.transport.requests.Request())
        except exceptions.RefreshError as exc:
            text = str(exc)
            raise TokenError("google_token_refused", text[:200],
                             misconfigured="invalid_grant" in text or "invalid_scope" in text) from None
        except exceptions.TransportError as exc:
            raise TokenError("google_token_unreachable", str(exc)[:200]) from None

    def _valid(self) -> bool:
        credentials = self._credentials
        if credentials is None or not credentials.token:
            return False
        expiry = getattr(credentials, "expiry", None)
        if expiry is None:
            return True
        import datetime

        left = (expiry - datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)).total_seconds()
        return left > min(_margin(), 300.0)

    async def headers(self, vendor_name: str, values: Mapping[str, str]) -> dict[str, str]:
        if not self._valid():
            async with _GOOGLE_LOCKS.get(vendor_name):
                if not self._valid():
                    self.refreshes += 1
                    await asyncio.to_thread(self._refresh_blocking)
                    jsonlog.log("INFO", "token", vendor=vendor_name, outcome="refreshed", kind="google")
        return {"Authorization": f"Bearer {self._credentials.token}"}

    def invalidate(self, values: Mapping[str, str]) -> None:
        if self._credentials is not None:
            self._credentials.token = None

    def reset(self) -> None:
        """Forget the loaded credentials (the next call runs google.auth.default again)."""
        self._credentials = None
