"""Identifier cookies set by the server, and the vendor cookies copied into the event.

Safari caps cookies written by JavaScript to 7 days (24 h after a click-id landing); a
cookie set in an HTTP response from the site's own domain lives as long as the server says
(up to the browsers' 400-day ceiling). Collect therefore:

- keeps the client id in ``FPID`` (HttpOnly), with the precedence server cookie > ``_ga``
  (``GA1.n.<rand>.<ts>`` → ``<rand>.<ts>``) > the hit's ``cid`` > a new id, so switching it
  on changes no existing visitor's ``client_id``; the page's own id differing from it is
  kept as ``x-ga-js_client_id``;
- for the vendor families listed in ``SERVER_COOKIES``, re-issues each vendor cookie with a
  fresh ``Max-Age`` on every hit, generates ``_fbp`` when absent and builds the click-id
  cookies (``_fbc``, ``_gcl_aw``, ``_scclid``, ``_epik``...) from the landing URL;
- respects consent: ``analytics_storage`` denied → ``FPID`` neither read nor set (and
  cleared if the browser has one); ``ad_storage`` denied → no vendor cookie set, and the
  managed ones the browser sends are cleared.

Every vendor cookie the browser sends (``VENDOR_COOKIES``) is copied into the event as
``cookies: {name: value}``, because vendor functions never see the browser's request.
Each vendor gates on consent itself before using them.

With no ``SERVER_COOKIES`` and no Cookie header the work per hit is what it was before:
one dict of copied cookies and the client-id precedence.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from shared import jsonlog
from shared.first_party import domain as domains
from shared.ga4 import fpid

MAX_AGE_DAYS_LIMIT = 400  # RFC 6265bis: user agents reduce larger Max-Age values to 400 days
DAY = 86400
# Values we write or re-issue: cookie-octets without the characters browsers or proxies
# mangle. Click ids (gclid, fbclid, msclkid, uuids, base64url) all fit.
_VALUE = re.compile(r"[A-Za-z0-9._~=+/-]{1,500}")
_GA = re.compile(r"GA\d\.\d+\.(\d{1,20}\.\d{1,20})")
# https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/fbp-and-fbc/
_FB = re.compile(r"fb\.\d\.(\d{13})\.([^.]+)(?:\.([A-Za-z0-9_-]{2}|[A-Za-z0-9_-]{8}))?")
_FBP_RANDOM = re.compile(r"\d{1,10}")
# Google's click cookies: GCL.<unix seconds>.<click id>
_GCL = re.compile(r"GCL\.(\d{10})\.(.+)")


@dataclass(frozen=True)
class CookieSpec:
    """One vendor cookie: its family (``SERVER_COOKIES`` entry), lifetime, and how it is built.

    ``param``: the landing-URL click id it is built from (``None``: the vendor's pixel makes
    it; we only re-issue it). ``kind``: ``raw`` (the click id itself), ``prefixed`` (``prefix``
    + click id), ``fbc``, ``gcl`` or ``fbp``.
    """

    name: str
    family: str
    days: int
    param: str | None = None
    kind: str = "raw"
    prefix: str = ""


# Lifetimes are the vendor pixels' own (their cookie pages); unconfirmed ones are noted in
# docs/first-party.md. All are below the 400-day ceiling.
SPECS: tuple[CookieSpec, ...] = (
    CookieSpec("_fbp", "meta", 90, kind="fbp"),
    CookieSpec("_fbc", "meta", 90, "fbclid", "fbc"),
    CookieSpec("_gcl_aw", "google_ads", 90, "gclid", "gcl"),
    CookieSpec("_gcl_gb", "google_ads", 90, "gbraid", "gcl"),
    CookieSpec("_gcl_au", "google_ads", 90),
    CookieSpec("_ttp", "tiktok", 390),
    CookieSpec("ttclid", "tiktok", 30, "ttclid"),
    CookieSpec("_scid", "snapchat", 390),
    CookieSpec("_scclid", "snapchat", 30, "ScCid"),
    CookieSpec("_epik", "pinterest", 365, "epik"),
    CookieSpec("_rdt_uuid", "reddit", 90),
    CookieSpec("_rdt_cid", "reddit", 90, "rdt_cid"),
    CookieSpec("li_fat_id", "linkedin", 30, "li_fat_id"),
    CookieSpec("_uetvid", "microsoft", 390),
    CookieSpec("_uetmsclkid", "microsoft", 90, "msclkid", "prefixed", "_uet"),
)
FAMILIES = tuple(dict.fromkeys(spec.family for spec in SPECS))
# The documented key set of the event's ``cookies`` object (docs/contracts.md).
VENDOR_COOKIES = tuple(spec.name for spec in SPECS)
_VENDOR_COOKIE_SET = frozenset(VENDOR_COOKIES)
# Landing-URL click ids the cookies above are built from (docs/contracts.md).
CLICK_ID_PARAMS = tuple(spec.param for spec in SPECS if spec.param) + ("wbraid",)


def clamp_days(days: int, setting: str) -> int:
    """``days`` limited to 1..400, with a warning when a configured value was too large."""
    if days < 1:
        raise ValueError(f"{setting} must be at least 1 day, got {days}")
    if days > MAX_AGE_DAYS_LIMIT:
        jsonlog.warning("cookie lifetime clamped", setting=setting, configured_days=days, days=MAX_AGE_DAYS_LIMIT)
        return MAX_AGE_DAYS_LIMIT
    return days


def parse_families(names: Iterable[str]) -> frozenset[str]:
    """``SERVER_COOKIES`` entries → families; ``all`` means every family. Unknown names fail."""
    chosen = {name.strip().lower() for name in names if name.strip()}
    if "all" in chosen:
        return frozenset(FAMILIES)
    unknown = chosen - set(FAMILIES)
    if unknown:
        raise ValueError(f"SERVER_COOKIES: unknown {', '.join(sorted(unknown))}; known: all, {', '.join(FAMILIES)}")
    return frozenset(chosen)


@dataclass(frozen=True)
class CookiePolicy:
    """What collect may set: ``domain`` is ``auto`` (eTLD+1 of the Host), ``host`` (host-only)
    or a fixed domain (``COOKIE_DOMAIN``); ``client_id_days`` the FPID lifetime."""

    domain: str = "auto"
    client_id_days: int = 395
    families: frozenset[str] = frozenset()
    # Derived in __post_init__, not constructor arguments.
    specs: tuple[CookieSpec, ...] = field(init=False, repr=False, compare=False)
    _domains: dict[str, str | None] = field(
        init=False, repr=False, compare=False
    )  # Host header → Domain attribute (bounded)

    def __post_init__(self) -> None:
        object.__setattr__(self, "specs", tuple(spec for spec in SPECS if spec.family in self.families))
        object.__setattr__(self, "_domains", {})  # Host header → Domain attribute (bounded)

    def cookie_domain(self, host_header: str) -> str | None:
        """The ``Domain`` attribute for a request to ``host_header``; ``None`` = host-only."""
        if self.domain == "host":
            return None
        if self.domain != "auto":
            return self.domain
        if not host_header:
            return None
        cache = self._domains
        if host_header in cache:
            return cache[host_header]
        found = domains.registrable_domain(domains.hostname(host_header))
        if len(cache) < 256:  # Host comes from the internet: a site has one or two
            cache[host_header] = found
        return found

    def for_request(self, cookies: Mapping[str, str], host_header: str, now: float | None = None) -> RequestCookies:
        """The cookie decisions for one request carrying ``cookies`` to ``host_header``."""
        return RequestCookies(self, cookies, host_header, time.time() if now is None else now)


def set_cookie(name: str, value: str, max_age: int, domain: str | None, http_only: bool = False) -> str:
    """A ``Set-Cookie`` value: ``Secure; SameSite=Lax; Path=/`` always, ``Domain`` when known."""
    parts = [f"{name}={value}", f"Max-Age={max_age}", "Path=/"]
    if domain:
        parts.append(f"Domain={domain}")
    parts.append("Secure")
    if http_only:
        parts.append("HttpOnly")
    parts.append("SameSite=Lax")
    return "; ".join(parts)


def client_id_from_ga(value: str | None) -> str | None:
    """``GA1.1.123.456`` → ``123.456``; ``None`` when absent or not that shape."""
    if not value:
        return None
    match = _GA.fullmatch(value)
    return match.group(1) if match else None


class RequestCookies:
    """The cookie decisions of one gtag request. ``apply`` each event, then ``set_cookie_headers``.

    The request's consent is the most restrictive of its events: one denied event in a batch
    means no cookie of that purpose on the response.
    """

    __slots__ = (
        "policy",
        "jar",
        "host",
        "now",
        "forwarded",
        "server_id",
        "ga_id",
        "client_id",
        "analytics_denied",
        "ad_denied",
        "managed",
        "_domain",
    )

    def __init__(self, policy: CookiePolicy, jar: Mapping[str, str], host: str, now: float) -> None:
        self.policy, self.jar, self.host, self.now = policy, jar, host, now
        if jar:
            self.forwarded = {name: value for name, value in jar.items() if name in _VENDOR_COOKIE_SET and value}
            self.server_id = fpid.id_from_cookie(jar.get(fpid.COOKIE_NAME))
            # _ga only matters without a server cookie (precedence server > _ga > cid).
            self.ga_id = None if self.server_id else client_id_from_ga(jar.get("_ga"))
        else:
            self.forwarded, self.server_id, self.ga_id = {}, None, None
        self.client_id: str | None = None
        self.analytics_denied = False
        self.ad_denied = False
        self.managed: dict[str, str] | None = None  # vendor cookies to write, once computed
        self._domain: tuple[str | None] | None = None

    # -- per event -------------------------------------------------------------------------

    def apply(self, event: dict[str, Any]) -> None:
        """Give ``event`` its client id and ``cookies``, and note what the response may set."""
        consent = event["consent"]
        if consent.get("analytics_storage") == "denied":
            self.analytics_denied = True
        else:
            self._client_id(event)
        if self.policy.specs:
            if consent.get("ad_storage") == "denied":
                self.ad_denied = True
            else:
                if self.managed is None:
                    self.managed = self._vendor_cookies(event)
                if self.managed:
                    event["cookies"] = {**self.forwarded, **self.managed}
                    return
        if self.forwarded:
            event["cookies"] = self.forwarded

    def _client_id(self, event: dict[str, Any]) -> None:
        page_id = event.get("client_id")
        chosen = self.server_id or self.ga_id
        if chosen:
            if page_id and page_id != chosen:
                event["x-ga-js_client_id"] = page_id
            event["client_id"] = chosen
        elif not page_id:
            event["client_id"] = chosen = fpid.new_client_id()
        else:
            chosen = page_id
        if self.client_id is None and fpid.valid_id(chosen):
            self.client_id = chosen

    # -- vendor cookies --------------------------------------------------------------------

    def domain(self) -> str | None:
        """The ``Domain`` attribute of this request's cookies (``None``: host-only), computed once."""
        if self._domain is None:
            self._domain = (self.policy.cookie_domain(self.host),)
        return self._domain[0]

    def _vendor_cookies(self, event: dict[str, Any]) -> dict[str, str]:
        """The value of each managed vendor cookie for this request (computed once)."""
        landing = _click_ids(event.get("page_location"))
        referrer: dict[str, str] | None = None
        values: dict[str, str] = {}
        for spec in self.policy.specs:
            current = self.jar.get(spec.name) if self.jar else None
            if current is not None and not _VALUE.fullmatch(current):
                current = None  # not something we would write back; rebuilt or left alone
            value: str | None
            if spec.kind == "fbp":
                value = current if current and _valid_fbp(current) else self._new_fbp()
            elif spec.param is None:
                value = current
            else:
                click_id = landing.get(spec.param)
                if click_id is None and spec.kind == "fbc":
                    # Meta's param builder falls back to the referrer's fbclid.
                    if referrer is None:
                        referrer = _click_ids(event.get("page_referrer"))
                    click_id = referrer.get("fbclid")
                value = self._click_cookie(spec, current, click_id)
            if value:
                values[spec.name] = value
        return values

    def _new_fbp(self) -> str:
        # fb.<subdomainIndex>.<creation ms>.<random 0..2^31-1>, as Meta's capi-param-builder.
        return f"fb.{domains.subdomain_index(self.domain())}.{int(self.now * 1000)}.{secrets.randbelow(2_147_483_648)}"

    def _click_cookie(self, spec: CookieSpec, current: str | None, click_id: str | None) -> str | None:
        """The cookie for a click id: kept when it already holds it; a different value the
        page wrote less than a day ago is never overwritten; otherwise built from the URL."""
        if click_id is None or not _VALUE.fullmatch(click_id):
            if spec.kind == "fbc" and current and not _FB.fullmatch(current):
                return None  # malformed _fbc: not re-issued
            return current
        if current:
            held, created = _held_click_id(spec, current)
            if held == click_id:
                return current
            if created is not None and self.now - created < DAY:
                return current
        if spec.kind == "fbc":
            return f"fb.{domains.subdomain_index(self.domain())}.{int(self.now * 1000)}.{click_id}"
        if spec.kind == "gcl":
            return f"GCL.{int(self.now)}.{click_id}"
        if spec.kind == "prefixed":
            return spec.prefix + click_id
        return click_id

    # -- the response ----------------------------------------------------------------------

    def set_cookie_headers(self) -> list[str]:
        """``Set-Cookie`` values for the response (after the events were published)."""
        headers: list[str] = []
        jar = self.jar
        if self.analytics_denied:
            if jar and fpid.COOKIE_NAME in jar:
                headers.append(set_cookie(fpid.COOKIE_NAME, "", 0, self.domain(), http_only=True))
        elif self.client_id is not None:
            headers.append(
                set_cookie(
                    fpid.COOKIE_NAME,
                    fpid.PREFIX + self.client_id,
                    self.policy.client_id_days * DAY,
                    self.domain(),
                    http_only=True,
                )
            )
        if not self.policy.specs:
            return headers
        if self.ad_denied:
            for spec in self.policy.specs:
                if jar and spec.name in jar:
                    headers.append(set_cookie(spec.name, "", 0, self.domain()))
        elif self.managed:
            for spec in self.policy.specs:
                value = self.managed.get(spec.name)
                if value:
                    headers.append(set_cookie(spec.name, value, spec.days * DAY, self.domain()))
        return headers


def _valid_fbp(value: str) -> bool:
    match = _FB.fullmatch(value)
    return bool(match and _FBP_RANDOM.fullmatch(match.group(2)))


def _held_click_id(spec: CookieSpec, current: str) -> tuple[str | None, float | None]:
    """The click id a cookie holds and, for time-stamped formats, when it was created (s)."""
    if spec.kind == "fbc":
        match = _FB.fullmatch(current)
        return (match.group(2), int(match.group(1)) / 1000) if match else (None, None)
    if spec.kind == "gcl":
        match = _GCL.fullmatch(current)
        return (match.group(2), float(match.group(1))) if match else (None, None)
    if spec.kind == "prefixed":
        return (current[len(spec.prefix) :] if current.startswith(spec.prefix) else None), None
    return current, None


_CLICK_PARAM_SET = frozenset(CLICK_ID_PARAMS)
_PREFILTER = tuple(f"{name}=" for name in CLICK_ID_PARAMS)


def _click_ids(url: Any) -> dict[str, str]:
    """Click ids in a URL's query (case kept: click ids are case-sensitive)."""
    if not isinstance(url, str) or "?" not in url or not any(marker in url for marker in _PREFILTER):
        return {}
    try:
        query = urlsplit(url).query
    except ValueError:
        return {}
    found: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=False):
        if key in _CLICK_PARAM_SET and key not in found:
            found[key] = value.strip()
    return found


__all__ = [
    "CLICK_ID_PARAMS",
    "CookiePolicy",
    "CookieSpec",
    "FAMILIES",
    "MAX_AGE_DAYS_LIMIT",
    "RequestCookies",
    "SPECS",
    "VENDOR_COOKIES",
    "clamp_days",
    "client_id_from_ga",
    "parse_families",
    "set_cookie",
]
