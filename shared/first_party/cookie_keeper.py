"""Cookie keeper: restore identifier cookies a browser lost, from a server-side copy.

Why: Safari's tracking prevention caps cookies written by JavaScript at 7 days (24 h after
a click-id landing) and cookies set by a collector on a third-party IP at 7 days, so
``_ga``, ``_fbp``, ``_gcl_aw``... disappear between visits while the HttpOnly ``FPID``
(set by collect itself, shared.first_party.cookies) survives. The keeper stores the
configured cookies under the visitor's ``FPID`` and, when a later request lacks one of
them, sends it back with ``Set-Cookie`` (Stape's Cookie Keeper; the algorithm of the
open-source reStore tag, stape-io/cookie-restore-tag ``template.js``, Apache-2.0).

Rules (docs/first-party.md "Cookie keeper"):

- Master id: the client id inside the request's ``FPID`` cookie. No ``FPID`` (a first hit)
  or ``analytics_storage`` denied (collect then neither reads nor sets ``FPID``) → nothing
  is looked up, stored or restored.
- Store key: ``sha256(salt ‖ master id)`` hex, so the store holds no client id; the salt is
  a secret (``COOKIE_KEEPER_SALT``). Each record holds ``cookies`` and ``expire_at`` (for a
  Firestore TTL policy).
- A cookie present in the request is never overwritten; an absent one that is stored is
  restored with the same value, ``Secure; SameSite=Lax; Path=/; Domain=<eTLD+1>``, not
  HttpOnly (the page's tags must read it), ``Max-Age`` per cookie.
- Consent: ``ad_storage`` denied → no ad cookie restored or stored (stored ones are dropped
  from the record); ``analytics_storage`` denied → nothing at all (no master id).
- Modes: ``off`` (default), ``restore_only`` (reads, never writes), ``keep`` (restore + store).
- Every value is checked (length, cookie-safe characters) before it is stored or restored:
  both the Cookie header and the store are treated as hostile.

This module is the pure decision (:func:`decide`) plus the store I/O (:class:`CookieStore`,
:class:`FirestoreStore`) and :class:`CookieKeeper`, which bounds that I/O in time and turns
every failure into a logged skip: the keeper can never fail or slow a hit beyond its timeout.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from shared import jsonlog, settings
from shared.first_party import cookies as first_party_cookies
from shared.ga4 import fpid

MODES = ("off", "restore_only", "keep")
ANALYTICS = "analytics"
AD = "ad"
DAY = first_party_cookies.DAY
# Browsers reduce larger Max-Age values to 400 days (RFC 6265bis); records live as long.
MAX_DAYS = first_party_cookies.MAX_AGE_DAYS_LIMIT
# A record is rewritten when unchanged only once its TTL has run down by this much, so a
# visitor's every hit does not cost a Firestore write.
REFRESH_SECONDS = DAY
MAX_STREAM_COOKIES = 8  # _ga_<stream> cookies kept per visitor: a site has one or two streams
_VALUE = re.compile(r"[A-Za-z0-9._~=+/-]{1,500}")  # as shared.first_party.cookies writes values
_STREAM_ID = re.compile(r"[A-Za-z0-9]{1,20}")  # _ga_<measurement id without "G-">


@dataclass(frozen=True)
class KeptCookie:
    """One cookie the keeper may store and restore: its consent purpose and lifetime.

    ``stream``: ``name`` is a prefix followed by a stream id (``_ga_<id>``).
    """

    name: str
    purpose: str
    days: int
    stream: bool = False

    def matches(self, cookie_name: str) -> bool:
        """Whether ``cookie_name`` is this cookie (or, for a stream prefix, one of its streams)."""
        if not self.stream:
            return cookie_name == self.name
        return cookie_name.startswith(self.name) and bool(_STREAM_ID.fullmatch(cookie_name[len(self.name) :]))


def _vendor_days(name: str) -> int:
    # The vendor cookies' lifetimes are collect's own (shared.first_party.cookies.SPECS, each
    # from the vendor's cookie page; docs/first-party.md), so re-issue and restore agree.
    return next(spec.days for spec in first_party_cookies.SPECS if spec.name == name)


# The default list, versioned with the code. Stape's commonly cited Cookie Keeper list
# (``_ga``, ``_ga_<stream>``, ``_gcl_aw``, ``_gcl_au``, ``_fbp``, ``_fbc``, ``_ttp``,
# ``_scid``, ``_epik``) is unconfirmed as Stape's own (../shared/reference §2.2); we keep it
# because each is a first-party id cookie written by JavaScript, i.e. capped by Safari.
DEFAULT_COOKIES: tuple[KeptCookie, ...] = (
    # Google Analytics 4: "_ga 2 years", "_ga_<container-id> 2 years"
    # https://support.google.com/analytics/answer/11397207 ; browsers cap at 400 days.
    KeptCookie("_ga", ANALYTICS, MAX_DAYS),
    KeptCookie("_ga_", ANALYTICS, MAX_DAYS, stream=True),
    # Google Ads conversion linker, 90 days: https://support.google.com/google-ads/answer/7521212
    KeptCookie("_gcl_aw", AD, _vendor_days("_gcl_aw")),
    KeptCookie("_gcl_au", AD, _vendor_days("_gcl_au")),
    # Meta, 90 days: https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/fbp-and-fbc/
    KeptCookie("_fbp", AD, _vendor_days("_fbp")),
    KeptCookie("_fbc", AD, _vendor_days("_fbc")),
    # TikTok (_ttp), Snapchat (_scid), Pinterest (_epik): lifetimes as re-issued by collect.
    KeptCookie("_ttp", AD, _vendor_days("_ttp")),
    KeptCookie("_scid", AD, _vendor_days("_scid")),
    KeptCookie("_epik", AD, _vendor_days("_epik")),
)
DEFAULT_NAMES = tuple(cookie.name + ("*" if cookie.stream else "") for cookie in DEFAULT_COOKIES)


def _parse_cookies(names: tuple[str, ...]) -> tuple[KeptCookie, ...]:
    """``COOKIE_KEEPER_COOKIES`` entries (a subset of ``DEFAULT_NAMES``) → the kept cookies."""
    if not names:
        return DEFAULT_COOKIES
    by_name = dict(zip(DEFAULT_NAMES, DEFAULT_COOKIES, strict=True))
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise ValueError(f"COOKIE_KEEPER_COOKIES: unknown {', '.join(unknown)}; known: {', '.join(DEFAULT_NAMES)}")
    return tuple(by_name[name] for name in dict.fromkeys(names))


@dataclass(frozen=True)
class KeeperConfig:
    """The keeper's settings (docs/first-party.md "Cookie keeper"); ``off`` unless configured."""

    mode: str = "off"
    cookies: tuple[KeptCookie, ...] = DEFAULT_COOKIES
    ttl_days: int = MAX_DAYS
    collection: str = "cookie_keeper"
    database: str = "(default)"
    timeout_seconds: float = 0.3

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"COOKIE_KEEPER must be one of {', '.join(MODES)}, got {self.mode[:40]!r}")
        object.__setattr__(self, "ttl_days", first_party_cookies.clamp_days(self.ttl_days, "COOKIE_KEEPER_TTL_DAYS"))
        if not 0 < self.timeout_seconds <= 5:
            raise ValueError("COOKIE_KEEPER_TIMEOUT_MS must be between 1 and 5000")

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    @classmethod
    def from_env(cls) -> KeeperConfig:
        """The configuration from ``COOKIE_KEEPER*`` environment variables."""
        return cls(
            mode=settings.env_str("COOKIE_KEEPER", "off").strip().lower() or "off",
            cookies=_parse_cookies(settings.env_list("COOKIE_KEEPER_COOKIES")),
            ttl_days=settings.env_int("COOKIE_KEEPER_TTL_DAYS", MAX_DAYS),
            collection=settings.env_str("COOKIE_KEEPER_COLLECTION", "cookie_keeper").strip() or "cookie_keeper",
            database=settings.env_str("COOKIE_KEEPER_DATABASE", "(default)").strip() or "(default)",
            timeout_seconds=settings.env_int("COOKIE_KEEPER_TIMEOUT_MS", 300) / 1000,
        )

    def kept(self, cookie_name: str) -> KeptCookie | None:
        """The configured cookie ``cookie_name`` is, or ``None``."""
        for cookie in self.cookies:
            if cookie.matches(cookie_name):
                return cookie
        return None


@dataclass(frozen=True)
class Record:
    """A stored record: cookie values by name, and when the TTL policy may delete it (unix s)."""

    cookies: Mapping[str, str]
    expire_at: float | None = None


@dataclass(frozen=True)
class Restore:
    """One cookie to send back: ``Set-Cookie: name=value; Max-Age=max_age; ...``."""

    name: str
    value: str
    max_age: int


@dataclass(frozen=True)
class Plan:
    """What one request does: cookies to restore, and the record to write.

    ``write``: the record's new cookies (``{}`` → delete the record); ``None`` → no write.
    """

    restore: tuple[Restore, ...] = ()
    write: dict[str, str] | None = None

    @property
    def restored(self) -> dict[str, str]:
        return {item.name: item.value for item in self.restore}


NOTHING = Plan()


def valid_value(value: Any) -> bool:
    """A value we store or restore: a string of 1..500 cookie-safe characters."""
    return isinstance(value, str) and _VALUE.fullmatch(value) is not None


def master_id(jar: Mapping[str, str]) -> str | None:
    """The visitor's master id: the client id in the server-set ``FPID`` cookie, if any."""
    return fpid.id_from_cookie(jar.get(fpid.COOKIE_NAME))


def document_id(salt: bytes, master: str) -> str:
    """The store key: ``sha256(salt ‖ master id)`` in hex (no client id in the store)."""
    return hashlib.sha256(salt + master.encode("utf-8")).hexdigest()


def _allowed(config: KeeperConfig, values: Mapping[str, Any], ad_denied: bool) -> dict[str, str]:
    """The configured, consented, valid entries of ``values`` (stream cookies bounded)."""
    kept: dict[str, str] = {}
    streams = 0
    for name, value in values.items():
        cookie = config.kept(name) if isinstance(name, str) else None
        if cookie is None or (ad_denied and cookie.purpose == AD) or not valid_value(value):
            continue
        if cookie.stream:
            streams += 1
            if streams > MAX_STREAM_COOKIES:
                continue
        kept[name] = value
    return kept


def decide(
    config: KeeperConfig,
    jar: Mapping[str, str],
    record: Record | None,
    *,
    ad_denied: bool,
    analytics_denied: bool,
    now: float,
) -> Plan:
    """The keeper's decision for one request (pure; ``record`` is the stored one, if any).

    Restores each stored, configured, consented, valid cookie absent from ``jar``; in
    ``keep`` mode also returns the record to write: the stored values (consented, valid)
    updated with the request's own, written only when they changed or the record's TTL has
    run down by ``REFRESH_SECONDS``.
    """
    if not config.enabled or analytics_denied or master_id(jar) is None:
        return NOTHING
    stored = _allowed(config, record.cookies, ad_denied) if record is not None else {}
    restore = tuple(
        Restore(name, value, _days(config, name) * DAY) for name, value in stored.items() if name not in jar
    )
    if config.mode != "keep":
        return Plan(restore)
    present = _allowed(config, {name: value for name, value in jar.items() if name != fpid.COOKIE_NAME}, ad_denied)
    merged = _allowed(config, {**stored, **present}, ad_denied)
    if record is None:
        return Plan(restore, merged or None)
    if merged != dict(record.cookies):
        return Plan(restore, merged)  # {} when nothing is left: delete
    expire_at = record.expire_at or 0.0
    if merged and expire_at < now + config.ttl_days * DAY - REFRESH_SECONDS:
        return Plan(restore, merged)
    return Plan(restore)


def _days(config: KeeperConfig, name: str) -> int:
    cookie = config.kept(name)
    return cookie.days if cookie is not None else 1


def restore_headers(plan: Plan, domain: str | None, skip: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """``Set-Cookie`` values of the plan's restores (not HttpOnly), except the names in ``skip``."""
    return [
        first_party_cookies.set_cookie(item.name, item.value, item.max_age, domain)
        for item in plan.restore
        if item.name not in skip
    ]


# -- the store ---------------------------------------------------------------------------------


class CookieStore(Protocol):
    """Where records live, by key (:func:`document_id`)."""

    async def get(self, key: str) -> Record | None: ...

    async def put(self, key: str, cookies: Mapping[str, str], expire_at: float) -> None: ...

    async def delete(self, key: str) -> None: ...


class FirestoreStore:
    """Records as Firestore documents ``<collection>/<key>``: ``{cookies: {...}, expire_at: timestamp}``.

    ``expire_at`` is the field of the collection's TTL policy (infra/cookie_keeper.tf), so
    Firestore deletes a visitor's record ``COOKIE_KEEPER_TTL_DAYS`` after its last write.
    The client is created on first use (``FIRESTORE_EMULATOR_HOST`` points it at the emulator).
    """

    def __init__(self, collection: str, database: str = "(default)", project: str | None = None) -> None:
        self.collection = collection
        self.database = database
        self.project = project
        self._client: Any = None

    def _collection(self) -> Any:
        if self._client is None:
            from google.cloud import firestore  # noqa: PLC0415 - only when the keeper is on

            self._client = firestore.AsyncClient(project=self.project or settings.project_id(), database=self.database)
        return self._client.collection(self.collection)

    async def get(self, key: str) -> Record | None:
        snapshot = await self._collection().document(key).get()
        if not snapshot.exists:
            return None
        data = snapshot.to_dict() or {}
        cookies = data.get("cookies")
        expire_at = data.get("expire_at")
        return Record(
            cookies if isinstance(cookies, dict) else {},
            expire_at.timestamp() if isinstance(expire_at, datetime.datetime) else None,
        )

    async def put(self, key: str, cookies: Mapping[str, str], expire_at: float) -> None:
        when = datetime.datetime.fromtimestamp(expire_at, tz=datetime.UTC)
        await self._collection().document(key).set({"cookies": dict(cookies), "expire_at": when})

    async def delete(self, key: str) -> None:
        await self._collection().document(key).delete()


def _consume(task: asyncio.Future[Any]) -> None:
    """Collect the outcome of a read nobody waits for any more (no "never retrieved" noise)."""
    if not task.cancelled():
        task.exception()


@dataclass
class CookieKeeper:
    """The keeper of one collect process: decisions plus bounded, never-failing store I/O."""

    config: KeeperConfig
    store: CookieStore

    @classmethod
    def from_config(cls, config: KeeperConfig) -> CookieKeeper:
        return cls(config, FirestoreStore(config.collection, config.database))

    async def lookup(self, key: str) -> tuple[Record | None, bool]:
        """The stored record (``None``: none), and whether the lookup worked; bounded in time."""
        read = asyncio.ensure_future(self.store.get(key))
        try:
            async with asyncio.timeout(self.config.timeout_seconds):
                return await asyncio.shield(read), True
        except TimeoutError:
            # The hit goes on without it, but the read is not cancelled: on a new instance it is
            # the one opening the store's connection, which then serves the next hits warm.
            read.add_done_callback(_consume)
            self._skip("lookup", "timeout")
        except Exception as exc:  # noqa: BLE001 - a store failure must never fail the hit
            self._skip("lookup", type(exc).__name__)
        return None, False

    async def save(self, key: str, plan: Plan, now: float | None = None) -> bool:
        """Write (or delete) the plan's record; bounded in time; ``False`` (logged) on failure."""
        if plan.write is None:
            return True
        now = time.time() if now is None else now
        try:
            async with asyncio.timeout(self.config.timeout_seconds):
                if plan.write:
                    await self.store.put(key, plan.write, now + self.config.ttl_days * DAY)
                else:
                    await self.store.delete(key)
            return True
        except TimeoutError:
            self._skip("store", "timeout")
        except Exception as exc:  # noqa: BLE001 - a store failure must never fail the hit
            self._skip("store", type(exc).__name__)
        return False

    def _skip(self, step: str, reason: str) -> None:
        # The step and the error type only: never a key, a cookie or a client id.
        jsonlog.warning("cookie keeper skipped", step=step, reason=reason[:100])


__all__ = [
    "AD",
    "ANALYTICS",
    "DEFAULT_COOKIES",
    "DEFAULT_NAMES",
    "CookieKeeper",
    "CookieStore",
    "FirestoreStore",
    "KeeperConfig",
    "KeptCookie",
    "MODES",
    "Plan",
    "Record",
    "Restore",
    "decide",
    "document_id",
    "master_id",
    "restore_headers",
    "valid_value",
]
