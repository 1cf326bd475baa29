"""Serving the Google tag (``gtag.js``, ``gtm.js``) from collect's own origin.

An ad blocker that drops ``www.googletagmanager.com`` drops every hit with it; served from
the tracking domain, the script loads and its hits reach collect. Routes (GET/HEAD):
``/gtag/js?id=``, ``/gtm.js?id=``, ``/gtag/destination?id=``, ``/ns.html?id=`` and optional
alias paths bound to one tag id (``TAG_ALIASES``).

Rules (docs/first-party.md; acceptance F1 of the first-party reference):
- only ids on ``ALLOWED_TAG_IDS`` are fetched (unlisted → 404 without an upstream call, so
  collect is no open proxy); malformed → 400; other methods → 405;
- the upstream origin is the setting ``TAG_UPSTREAM_ORIGIN``: nothing in the request picks
  the host; only ``id``, ``l``, ``cx`` and ``gtm_*`` go upstream, never cookies,
  ``Authorization`` or ``Referer``;
- answers are cached in the instance for ``TAG_CACHE_SECONDS`` (≤ 900) with an ``ETag``
  (``If-None-Match`` → 304) and revalidated upstream with a conditional request; when
  upstream fails, a copy up to ``TAG_STALE_SECONDS`` (24 h) old is served, else a 502 whose
  body is a JS comment; preview parameters bypass the cache with ``no-store``;
- our own response headers only: upstream ``Set-Cookie``, HSTS, ``alt-svc``, CORS and
  hop-by-hop headers never pass; gzip when the browser accepts it;
- with ``TAG_SERVER_CONTAINER_URL`` set, ``gtag.js`` is prefixed with a tiny loader that
  puts ``gtag('set', {server_container_url})`` at the head of the page's data layer, so the
  tag's hits go to collect without changing the page's config. Google's code itself is
  never rewritten (no host-name string replacement);
- Brotli when the browser accepts ``br`` (q-values honoured), else gzip, else identity; each
  encoding is compressed once per cached copy.

Gateway mode (``SCRIPT_GATEWAY_PATH`` + ``SCRIPT_GATEWAY_TAG_ID``, Google tag gateway): every
GET/HEAD under the path goes to ``https://<tag id>.fps.goog/<path>/...`` (prefix kept, host
built only from the configured tag id), except ``/<path>/g/collect``, which collect ingests
itself (see :meth:`ScriptServer.gateway_hit_path`). Only there: the placeholder path
(``SCRIPT_GATEWAY_PLACEHOLDER``) is rewritten in JavaScript bodies and 3xx ``Location``,
Google's first-party cookies (``_ga``, ``_gid``, ``_gcl*``, ``FP*``) go upstream, with
``X-Forwarded-For`` and ``X-Forwarded-CountryRegion`` from the trusted load balancer headers;
``/<path>/healthy`` and ``/<path>/?validate_geo=healthy`` answer health checks.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

import brotli  # type: ignore[import-untyped]  # Google's bindings ship no type hints
import requests

from shared import jsonlog, settings
from shared.delivery.geo import iso_region

DEFAULT_UPSTREAM = "https://www.googletagmanager.com"
MAX_TTL_SECONDS = 900
DEFAULT_STALE_SECONDS = 24 * 3600
# route → the upstream path (same as ours) and whether the body is JavaScript
ROUTES = {"/gtag/js": True, "/gtm.js": True, "/gtag/destination": True, "/ns.html": False}
SCRIPT_PATHS = frozenset(ROUTES)
TAG_ID = re.compile(r"(GTM|G|GT|AW|DC)-[A-Z0-9]{4,}")
ALIAS_PATH = re.compile(r"/[A-Za-z0-9]{6,10}")
_ALIAS_FORBIDDEN = re.compile(r"gtm|gtag|google|analytics|collect", re.IGNORECASE)
_DATA_LAYER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]{0,63}")
_QUERY_VALUE = re.compile(r"[\x21-\x7e]{0,200}")
_SERVER_URL = re.compile(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?(/[A-Za-z0-9._~/-]*)?")
PREVIEW_KEYS = ("gtm_auth", "gtm_preview", "gtm_debug")
JS_TYPE = "text/javascript; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
GZIP_MIN_BYTES = 1024
MAX_CACHE_ENTRIES = 256
MAX_SCRIPT_BYTES = 4 * 1024 * 1024
MAX_FORWARDED_KEYS = 8
# Gateway mode (Google tag gateway, first-party reference §1.1).
GATEWAY_HOST = "{tag_id}.fps.goog"
DEFAULT_PLACEHOLDER = "PHP_GTG_REPLACE_PATH"  # what Google's own GTG library sends and rewrites
GATEWAY_HIT = "/g/collect"  # ingested by collect itself, never proxied
_GATEWAY_COOKIE = re.compile(r"(_ga|_gid|_gcl|FP[A-Z])[A-Za-z0-9_-]{0,60}")  # the names GTG keeps
_GATEWAY_REST = re.compile(r"(/[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,79}){1,8}/?")
_PLACEHOLDER = re.compile(r"[A-Za-z0-9_]{4,64}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_SAFE_TYPE = re.compile(r"[A-Za-z0-9.+/-]{1,80}(; ?charset=[A-Za-z0-9_-]{1,20})?")
MAX_GATEWAY_PATH_CHARS = 300
MAX_COOKIE_HEADER_CHARS = 4000


@dataclass(frozen=True)
class ScriptConfig:
    """Script-serving settings (environment variables in docs/first-party.md)."""

    allowed_tag_ids: tuple[str, ...] = ()
    upstream_origin: str = DEFAULT_UPSTREAM
    ttl_seconds: int = MAX_TTL_SECONDS
    stale_seconds: int = DEFAULT_STALE_SECONDS
    aliases: Mapping[str, str] = field(default_factory=dict)
    server_container_url: str = ""
    connect_timeout: float = 5.0
    total_timeout: float = 10.0
    gateway_path: str = ""
    gateway_tag_id: str = ""
    gateway_placeholder: str = DEFAULT_PLACEHOLDER
    # Tests only: where <tag id>.fps.goog is reached (the Host header still names fps.goog).
    gateway_origin: str = ""

    def __post_init__(self) -> None:
        for tag_id in self.allowed_tag_ids:
            if not TAG_ID.fullmatch(tag_id):
                raise ValueError(f"ALLOWED_TAG_IDS: {tag_id!r} is not a tag id like G-XXXX or GTM-XXXX")
        if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?", self.upstream_origin):
            raise ValueError(
                f"TAG_UPSTREAM_ORIGIN must be an origin such as {DEFAULT_UPSTREAM}, got {self.upstream_origin!r}"
            )
        if not 0 < self.ttl_seconds <= MAX_TTL_SECONDS:
            raise ValueError(f"TAG_CACHE_SECONDS must be between 1 and {MAX_TTL_SECONDS}, got {self.ttl_seconds}")
        if not 0 <= self.stale_seconds <= DEFAULT_STALE_SECONDS:
            raise ValueError(
                f"TAG_STALE_SECONDS must be between 0 and {DEFAULT_STALE_SECONDS}, got {self.stale_seconds}"
            )
        for path, tag_id in self.aliases.items():
            if not ALIAS_PATH.fullmatch(path) or _ALIAS_FORBIDDEN.search(path):
                raise ValueError(
                    f"TAG_ALIASES: {path!r} must be / and 6-10 letters or digits, without gtm, gtag, google, analytics or collect"
                )
            if not TAG_ID.fullmatch(tag_id):
                raise ValueError(f"TAG_ALIASES: {path} is bound to {tag_id!r}, which is not a tag id")
        self._check_gateway()
        if self.server_container_url and not _SERVER_URL.fullmatch(self.server_container_url):
            raise ValueError(
                f"TAG_SERVER_CONTAINER_URL must be an http(s) URL without query, got {self.server_container_url!r}"
            )

    def _check_gateway(self) -> None:
        if not self.gateway_path and not self.gateway_tag_id:
            return
        path, tag_id = self.gateway_path, self.gateway_tag_id
        if not path or not tag_id:
            raise ValueError("gateway mode needs both SCRIPT_GATEWAY_PATH and SCRIPT_GATEWAY_TAG_ID")
        # Akamai: / and 6-10 alphanumerics; Cloudflare: absolute, unnested, alphanumeric.
        if not ALIAS_PATH.fullmatch(path) or _ALIAS_FORBIDDEN.search(path):
            raise ValueError(
                f"SCRIPT_GATEWAY_PATH: {path!r} must be / and 6-10 letters or digits (e.g. /metrics), "
                "without gtm, gtag, google, analytics or collect (blockers list those)"
            )
        if path in self.aliases:
            raise ValueError(f"SCRIPT_GATEWAY_PATH: {path} is also a TAG_ALIASES path")
        if not TAG_ID.fullmatch(tag_id):
            raise ValueError(f"SCRIPT_GATEWAY_TAG_ID: {tag_id!r} is not a tag id like G-XXXX or GTM-XXXX")
        if not _PLACEHOLDER.fullmatch(self.gateway_placeholder):
            raise ValueError(
                f"SCRIPT_GATEWAY_PLACEHOLDER must be 4-64 letters, digits or _, got {self.gateway_placeholder!r}"
            )
        if self.gateway_origin and not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?", self.gateway_origin):
            raise ValueError(f"SCRIPT_GATEWAY_ORIGIN must be an origin, got {self.gateway_origin!r}")

    @classmethod
    def from_env(cls) -> ScriptConfig:
        """The configuration from the environment (``TAG_ALIASES``, ...); bad entries fail at start-up."""
        aliases: dict[str, str] = {}
        for entry in settings.env_list("TAG_ALIASES"):
            path, sep, tag_id = entry.partition("=")
            if not sep:
                raise ValueError(f"TAG_ALIASES entries are /path=TAG-ID, got {entry!r}")
            aliases[path.strip()] = tag_id.strip()
        return cls(
            allowed_tag_ids=settings.env_list("ALLOWED_TAG_IDS"),
            upstream_origin=settings.env_str("TAG_UPSTREAM_ORIGIN", DEFAULT_UPSTREAM).strip().rstrip("/"),
            ttl_seconds=settings.env_int("TAG_CACHE_SECONDS", MAX_TTL_SECONDS),
            stale_seconds=settings.env_int("TAG_STALE_SECONDS", DEFAULT_STALE_SECONDS),
            aliases=aliases,
            server_container_url=settings.env_str("TAG_SERVER_CONTAINER_URL").strip().rstrip("/"),
            gateway_path=settings.env_str("SCRIPT_GATEWAY_PATH").strip(),
            gateway_tag_id=settings.env_str("SCRIPT_GATEWAY_TAG_ID").strip(),
            gateway_placeholder=settings.env_str("SCRIPT_GATEWAY_PLACEHOLDER", DEFAULT_PLACEHOLDER).strip(),
            gateway_origin=settings.env_str("SCRIPT_GATEWAY_ORIGIN").strip().rstrip("/"),
        )


@dataclass
class Upstream:
    """What the upstream answered: status, lower-case headers, body."""

    status: int
    headers: dict[str, str]
    body: bytes


class UpstreamError(Exception):
    """The upstream could not be reached or timed out."""


Fetch = Callable[[str, dict[str, str]], Awaitable[Upstream]]


@dataclass(frozen=True)
class GatewayContext:
    """What collect knows of the visitor for a gateway request: the client IP it computed
    (shared.ga4.context.client_ip) and the trusted load balancer geo (``None`` when the
    request did not prove it came through the load balancer)."""

    client_ip: str | None = None
    geo: Mapping[str, str] | None = None

    def country_region(self) -> str:
        """``CC-RR`` (``US-CA``) from the trusted geo, ``CC`` with no region, ``""`` unknown."""
        if not self.geo:
            return ""
        country = self.geo.get("country", "")
        if not _COUNTRY.fullmatch(country):
            return ""
        return iso_region(self.geo.get("region", ""), country) or country


def compress(body: bytes, encoding: str) -> bytes:
    """``body`` Brotli- or gzip-compressed (``encoding`` is ``br`` or ``gzip``)."""
    if encoding == "br":
        return bytes(brotli.compress(body, mode=brotli.MODE_TEXT, quality=9))
    return gzip.compress(body, 6, mtime=0)


@dataclass
class _Entry:
    body: bytes
    content_type: str
    etag: str
    fetched: float
    upstream_etag: str = ""
    upstream_modified: str = ""
    status: int = 200
    location: str = ""
    # (encoding, prefix) → the compressed body: compressed once per cached copy.
    encoded: dict[tuple[str, bytes], bytes] = field(default_factory=dict)

    def encoded_body(self, encoding: str, prefix: bytes = b"") -> bytes:
        key = (encoding, prefix)
        if key not in self.encoded:
            if len(self.encoded) >= 8:  # prefixes come from the query key ``l``: bounded anyway
                self.encoded.clear()
            self.encoded[key] = compress(prefix + self.body, encoding)
        return self.encoded[key]


@dataclass
class ScriptReply:
    """What a script route answers: status, headers and body (empty for 304 and HEAD; gzipped when ``Content-Encoding`` says so)."""

    status: int
    headers: dict[str, str]
    body: bytes = b""


class ScriptServer:
    """Answers the script routes; one instance (and cache) per collect process."""

    def __init__(
        self, config: ScriptConfig, fetch: Fetch | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.config = config
        self._allowed = frozenset(config.allowed_tag_ids) | frozenset(config.aliases.values())
        self._fetch = fetch or self._http_fetch
        self._clock = clock
        self._cache: dict[tuple[str, str], _Entry] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._session: requests.Session | None = None
        self.upstream_calls = 0

    def serves(self, path: str) -> bool:
        """Whether ``path`` is one of the script routes (cheap: called for every request)."""
        if path in SCRIPT_PATHS or path in self.config.aliases:
            return True
        gateway = self.config.gateway_path
        return bool(gateway) and (path == gateway or path.startswith(gateway + "/"))

    def gateway_hit_path(self, path: str) -> str | None:
        """``/g/collect`` when ``path`` is the gateway's hit path (``/<path>/g/collect``):
        collect ingests those hits itself instead of proxying them to Google, which is the
        point of this product; ``None`` for every other path."""
        gateway = self.config.gateway_path
        if gateway and path.rstrip("/") == gateway + GATEWAY_HIT:
            return GATEWAY_HIT
        return None

    async def handle(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        context: GatewayContext | None = None,
    ) -> ScriptReply:
        """Answer one script request; never raises for bad input. ``context`` (client IP,
        trusted geo) is used only in gateway mode."""
        started = time.perf_counter()
        gateway = self.config.gateway_path
        if gateway and (path == gateway or path.startswith(gateway + "/")):
            reply, tag_id, cache = await self._gateway(
                method.upper(), path, query, headers, context or GatewayContext()
            )
        else:
            reply, tag_id, cache = await self._answer(method.upper(), path, query, headers)
        jsonlog.log(
            "INFO" if reply.status < 400 else "WARNING",
            "script",
            path=path[:100],
            method=method[:10],
            status=reply.status,
            tag_id=tag_id,
            cache=cache,
            ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return reply

    async def _answer(
        self, method: str, path: str, query: str, headers: Mapping[str, str]
    ) -> tuple[ScriptReply, str | None, str]:
        if method not in ("GET", "HEAD"):
            return _comment(405, "method not allowed: use GET or HEAD", {"Allow": "GET, HEAD"}), None, "none"
        try:
            route, forwarded = self._upstream_query(path, query)
        except ValueError as exc:
            return _comment(400, str(exc)), None, "none"
        tag_id = forwarded["id"]
        if tag_id not in self._allowed:
            return _comment(404, f"tag id {tag_id} is not served here (ALLOWED_TAG_IDS)"), tag_id, "none"
        upstream_query = urlencode(sorted(forwarded.items()))
        preview = any(key in forwarded for key in PREVIEW_KEYS)
        if preview:
            entry, cache = await self._fetch_uncached(route, upstream_query)
            if entry is None:
                return _comment(502, "the tag could not be fetched from upstream"), tag_id, cache
            return self._reply(method, route, entry, headers, forwarded, no_store=True), tag_id, cache
        entry, cache = await self._cached(route, upstream_query)
        if entry is None:
            status = 502 if cache == "error" else int(cache.split(":")[1])
            return _comment(status, "the tag could not be fetched from upstream"), tag_id, cache
        return self._reply(method, route, entry, headers, forwarded), tag_id, cache

    async def _gateway(
        self, method: str, path: str, query: str, headers: Mapping[str, str], context: GatewayContext
    ) -> tuple[ScriptReply, str | None, str]:
        tag_id = self.config.gateway_tag_id
        gateway = self.config.gateway_path
        rest = path[len(gateway) :]
        if rest in ("/healthy", "/healthy/") and method in ("GET", "HEAD"):
            return _health(method, 200), tag_id, "none"
        if rest in ("", "/") and method in ("GET", "HEAD") and "validate_geo=healthy" in query.split("&"):
            # Healthy only when the trusted load balancer geo arrived (and is usable).
            return _health(method, 200 if context.country_region() else 503), tag_id, "none"
        if method not in ("GET", "HEAD"):
            return _problem(405, "method_not_allowed", "use GET or HEAD", {"Allow": "GET, HEAD"}), tag_id, "none"
        # Hostile paths never reach upstream: no "." or ".." segment, no empty segment, no
        # percent-encoding (an encoded slash or dot), bounded length, plain characters only.
        if len(path) > MAX_GATEWAY_PATH_CHARS or not _GATEWAY_REST.fullmatch(rest) or _dot_segment(rest):
            return (
                _problem(400, "invalid_path", "the gateway path holds characters or segments not allowed"),
                tag_id,
                "none",
            )
        if len(query) > 2000:
            return _problem(414, "query_too_long", "the query exceeds 2000 characters"), tag_id, "none"
        route = rest.rstrip("/") or "/"
        extra = self._gateway_headers(headers, context)
        via = _Via(self._gateway_origin(), extra, self.config.gateway_placeholder, gateway)
        if route in ROUTES:
            try:
                _, forwarded = self._upstream_query(route, query)
            except ValueError as exc:
                return _comment(400, str(exc)), tag_id, "none"
            if forwarded["id"] not in self._allowed | {tag_id}:
                return _comment(404, f"tag id {forwarded['id']} is not served here"), forwarded["id"], "none"
            # Geo is in the key: the script Google answers may differ per region.
            upstream_query = urlencode(sorted(forwarded.items()))
            key_query = f"{upstream_query}#{extra.get('X-Forwarded-CountryRegion', '')}"
            upstream_path = gateway + route
            if any(key in forwarded for key in PREVIEW_KEYS):
                entry, cache = await self._fetch_uncached(upstream_path, upstream_query, via)
                no_store = True
            else:
                entry, cache = await self._cached(upstream_path, upstream_query, via, key_query)
                no_store = False
            if entry is None:
                status = 502 if cache == "error" else int(cache.split(":")[1])
                return _comment(status, "the tag could not be fetched from upstream"), tag_id, cache
            return self._reply(method, route, entry, headers, forwarded, no_store=no_store), tag_id, cache
        # Any other path under the gateway: proxied live, never cached (no-store).
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(not _QUERY_VALUE.fullmatch(v) or len(k) > 40 for k, v in pairs):
            return _problem(400, "invalid_query", "a query parameter has an invalid value"), tag_id, "none"
        entry, cache = await self._fetch_uncached(gateway + rest, urlencode(pairs), via)
        if entry is None:
            status = 502 if cache == "error" else int(cache.split(":")[1])
            return _problem(status, "upstream_failed", "the gateway upstream did not answer"), tag_id, cache
        return self._reply(method, rest, entry, headers, {}, no_store=True), tag_id, cache

    def _gateway_origin(self) -> str:
        # Built from the configured tag id only: nothing in the request picks the host.
        return self.config.gateway_origin or "https://" + GATEWAY_HOST.format(tag_id=self.config.gateway_tag_id.lower())

    def _gateway_headers(self, headers: Mapping[str, str], context: GatewayContext) -> dict[str, str]:
        extra = {"Host": GATEWAY_HOST.format(tag_id=self.config.gateway_tag_id.lower())}
        cookies = _google_cookies(headers.get("cookie", ""))
        if cookies:
            extra["Cookie"] = cookies
        if context.client_ip:
            extra["X-Forwarded-For"] = context.client_ip
        region = context.country_region()
        if region:
            extra["X-Forwarded-CountryRegion"] = region
        return extra

    def _upstream_query(self, path: str, query: str) -> tuple[str, dict[str, str]]:
        """The route and the query keys that go upstream; ValueError with a reason if bad."""
        alias_id = self.config.aliases.get(path)
        forwarded: dict[str, str] = {}
        for key, value in parse_qsl(query[:2000], keep_blank_values=True):
            if key in forwarded:
                continue
            if key in ("id", "l", "cx") or key.startswith("gtm_"):
                if not _QUERY_VALUE.fullmatch(value) or len(key) > 40:
                    raise ValueError(f"query parameter {key[:40]} has an invalid value")
                if len(forwarded) >= MAX_FORWARDED_KEYS:
                    raise ValueError(f"at most {MAX_FORWARDED_KEYS} of id, l, cx and gtm_* parameters")
                forwarded[key] = value
        if alias_id is not None:
            forwarded["id"] = alias_id  # an alias serves its bound id whatever ?id= says
            route = "/gtm.js" if alias_id.startswith("GTM-") else "/gtag/js"
        else:
            route = path
        tag_id = forwarded.get("id")
        if not tag_id:
            raise ValueError("the id query parameter (tag id) is required")
        if not TAG_ID.fullmatch(tag_id):
            raise ValueError("id must look like G-XXXX, GT-XXXX, AW-XXXX, DC-XXXX or GTM-XXXX")
        if "l" in forwarded and not _DATA_LAYER.fullmatch(forwarded["l"]):
            raise ValueError("l must be a JavaScript identifier (the data layer's name)")
        return route, forwarded

    # -- cache ------------------------------------------------------------------------------

    async def _cached(
        self, route: str, upstream_query: str, via: _Via | None = None, key_query: str | None = None
    ) -> tuple[_Entry | None, str]:
        key = (route, upstream_query if key_query is None else key_query)
        entry = self._cache.get(key)
        if entry is not None and self._clock() - entry.fetched < self.config.ttl_seconds:
            return entry, "hit"
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:  # one upstream request per key, however many browsers wait
                return await self._refresh(key, route, upstream_query, via)
        finally:
            if not lock.locked():
                self._locks.pop(key, None)  # keys come from the query: keep no lock for idle ones

    async def _refresh(
        self, key: tuple[str, str], route: str, upstream_query: str, via: _Via | None
    ) -> tuple[_Entry | None, str]:
        entry = self._cache.get(key)
        now = self._clock()
        if entry is not None and now - entry.fetched < self.config.ttl_seconds:
            return entry, "hit"
        conditional: dict[str, str] = {}
        if entry is not None:
            if entry.upstream_etag:
                conditional["If-None-Match"] = entry.upstream_etag
            if entry.upstream_modified:
                conditional["If-Modified-Since"] = entry.upstream_modified
        try:
            upstream = await self._call(route, upstream_query, conditional, via)
        except UpstreamError as exc:
            return self._stale(entry, now, str(exc))
        if via is not None and 300 <= upstream.status < 400 and upstream.status != 304:
            return _entry(route, upstream, now, via), "redirect"  # passed on, not cached
        if upstream.status == 304 and entry is not None:
            entry.fetched = now
            return entry, "revalidated"
        if upstream.status in (400, 403, 404, 410):
            # Google does not serve this id (any more): pass the status on, uncached.
            self._cache.pop(key, None)
            return None, f"upstream:{upstream.status}"
        if upstream.status != 200:  # 5xx, 429, redirects, a 304 we did not ask for
            return self._stale(entry, now, f"upstream answered {upstream.status}")
        fresh = _entry(route, upstream, now, via)
        if len(self._cache) >= MAX_CACHE_ENTRIES and key not in self._cache:
            self._cache.pop(next(iter(self._cache)))
        self._cache[key] = fresh
        return fresh, "miss"

    def _stale(self, entry: _Entry | None, now: float, reason: str) -> tuple[_Entry | None, str]:
        jsonlog.warning("tag upstream failed", reason=reason[:200], stale_copy=entry is not None)
        if entry is not None and now - entry.fetched <= self.config.stale_seconds:
            return entry, "stale"
        return None, "error"

    async def _fetch_uncached(
        self, route: str, upstream_query: str, via: _Via | None = None
    ) -> tuple[_Entry | None, str]:
        try:
            upstream = await self._call(route, upstream_query, {}, via)
        except UpstreamError as exc:
            jsonlog.warning("tag upstream failed", reason=str(exc)[:200], stale_copy=False)
            return None, "error"
        if via is not None and (300 <= upstream.status < 400 and upstream.status != 304):
            return _entry(route, upstream, self._clock(), via), "redirect"
        if via is not None and upstream.status in (400, 403, 404, 410):
            return None, f"upstream:{upstream.status}"
        if upstream.status != 200:
            return None, "error"
        return _entry(route, upstream, self._clock(), via), "bypass"

    async def _call(
        self, route: str, upstream_query: str, conditional: dict[str, str], via: _Via | None = None
    ) -> Upstream:
        self.upstream_calls += 1
        origin = via.origin if via is not None else self.config.upstream_origin
        url = f"{origin}{route}?{upstream_query}" if upstream_query else f"{origin}{route}"
        if via is not None:
            conditional = {**via.headers, **conditional}
        try:
            return await asyncio.wait_for(self._fetch(url, conditional), self.config.total_timeout)
        except TimeoutError:
            raise UpstreamError(f"no answer within {self.config.total_timeout} s") from None

    async def _http_fetch(self, url: str, conditional: dict[str, str]) -> Upstream:
        return await asyncio.to_thread(self._blocking_fetch, url, conditional)

    def _blocking_fetch(self, url: str, conditional: dict[str, str]) -> Upstream:
        if self._session is None:
            self._session = requests.Session()
            self._session.trust_env = False  # no proxy or netrc credentials from the environment
        # Only these headers: no browser Cookie, Authorization or Referer ever goes upstream.
        headers = {"Accept": "*/*", "Accept-Encoding": "gzip", "User-Agent": "tagging-collect", **conditional}
        try:
            response = self._session.get(
                url,
                headers=headers,
                timeout=(self.config.connect_timeout, self.config.total_timeout),
                allow_redirects=False,
                stream=True,
            )
            body = response.raw.read(MAX_SCRIPT_BYTES + 1, decode_content=True)
            response.close()
        except (requests.RequestException, OSError) as exc:
            raise UpstreamError(f"{type(exc).__name__}: {str(exc)[:150]}") from None
        if len(body) > MAX_SCRIPT_BYTES:
            raise UpstreamError(f"upstream body larger than {MAX_SCRIPT_BYTES} bytes")
        return Upstream(response.status_code, {k.lower(): v for k, v in response.headers.items()}, body)

    # -- the answer -------------------------------------------------------------------------

    def _reply(
        self,
        method: str,
        route: str,
        entry: _Entry,
        headers: Mapping[str, str],
        forwarded: Mapping[str, str],
        no_store: bool = False,
    ) -> ScriptReply:
        if entry.status != 200:  # a gateway redirect: Location already rewritten, never cached
            return ScriptReply(entry.status, {"Location": entry.location, "Cache-Control": "no-store"})
        prefix = self._loader(route, forwarded) if self._wants_loader(route) else b""
        body = prefix + entry.body if prefix else entry.body
        etag = entry.etag if body is entry.body else _etag(body)
        out = {
            "Content-Type": entry.content_type,
            "Cache-Control": "no-store" if no_store else f"private, max-age={self.config.ttl_seconds}",
            "ETag": etag,
            "Vary": "Accept-Encoding",
            "X-Content-Type-Options": "nosniff",
        }
        if not no_store and _etag_matches(headers.get("if-none-match", ""), etag):
            return ScriptReply(304, out)
        encoding = _negotiate(headers.get("accept-encoding", "")) if len(body) >= GZIP_MIN_BYTES else ""
        if encoding:
            body = entry.encoded_body(encoding, prefix)
            out["Content-Encoding"] = encoding
        if method == "HEAD":
            out["Content-Length"] = str(len(body))
            return ScriptReply(200, out)
        return ScriptReply(200, out, body)

    def _wants_loader(self, route: str) -> bool:
        return bool(self.config.server_container_url) and route == "/gtag/js"

    def _loader(self, route: str, forwarded: Mapping[str, str]) -> bytes:
        # Unshift, not push: the page's gtag('config') calls are already queued when this
        # script runs, and the setting must come before them.
        name = json.dumps(forwarded.get("l", "dataLayer"))
        url = json.dumps(self.config.server_container_url)
        return (
            "/* first-party loader: hits go to the collector */"
            f"(function(w,l){{w[l]=w[l]||[];w[l].unshift((function(){{return arguments}})('set',{{server_container_url:{url}}}))}})(window,{name});\n"
        ).encode()


@dataclass(frozen=True)
class _Via:
    """How a gateway request reaches upstream: the fps.goog origin, the headers it adds
    (Host, Google cookies, X-Forwarded-*), and the placeholder rewritten to our path."""

    origin: str
    headers: Mapping[str, str]
    placeholder: str
    path: str

    def rewrite(self, data: bytes) -> bytes:
        return data.replace(f"/{self.placeholder}/".encode(), f"{self.path}/".encode())


def _entry(route: str, upstream: Upstream, now: float, via: _Via | None = None) -> _Entry:
    body = upstream.body
    upstream_type = upstream.headers.get("content-type", "").lower()
    if via is None:
        content_type = JS_TYPE if ROUTES.get(route, True) else HTML_TYPE
    elif "javascript" in upstream_type:
        content_type = JS_TYPE
        body = via.rewrite(body)  # only JavaScript bodies, as Google's GTG library does
    else:
        content_type = upstream_type if _SAFE_TYPE.fullmatch(upstream_type) else "application/octet-stream"
    location = ""
    if via is not None and upstream.status != 200:
        location = via.rewrite(upstream.headers.get("location", "").encode()).decode("latin-1")
        if not location or any(c in location for c in "\r\n\0"):
            location = via.path + "/"
    return _Entry(
        body=body,
        content_type=content_type,
        etag=_etag(body),
        fetched=now,
        upstream_etag=upstream.headers.get("etag", ""),
        upstream_modified=upstream.headers.get("last-modified", ""),
        status=upstream.status,
        location=location,
    )


def _google_cookies(header: str) -> str:
    """Only Google's first-party cookies (GTG drops all others), re-joined; bounded."""
    kept = []
    for part in header[:MAX_COOKIE_HEADER_CHARS].split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and _GATEWAY_COOKIE.fullmatch(name) and value.isprintable() and "," not in value:
            kept.append(f"{name}={value}")
    return "; ".join(kept)


def _dot_segment(rest: str) -> bool:
    return any(segment in (".", "..") for segment in rest.split("/"))


def _health(method: str, status: int) -> ScriptReply:
    headers = {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}
    body = b"ok" if status == 200 else b"geo header missing"
    return ScriptReply(status, headers, b"" if method == "HEAD" else body)


def _problem(status: int, reason: str, detail: str, headers: dict[str, str] | None = None) -> ScriptReply:
    """A refused gateway request: JSON with the reason, like collect's other refusals."""
    body = json.dumps({"error": reason, "detail": detail}).encode()
    return ScriptReply(
        status, {"Content-Type": "application/json", "Cache-Control": "no-store", **(headers or {})}, body
    )


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _etag_matches(header: str, etag: str) -> bool:
    if not header:
        return False
    candidates = [part.strip().removeprefix("W/") for part in header.split(",")]
    return "*" in candidates or etag in candidates


def _negotiate(header: str) -> str:
    """``br``, ``gzip`` or ``""`` (identity) from ``Accept-Encoding``, q-values honoured
    (``br;q=0`` refuses br; ``*`` covers codings not named); br wins a tie."""
    quality: dict[str, float] = {}
    for part in header[:500].lower().split(","):
        coding, _, params = part.strip().partition(";")
        q = 1.0
        params = params.replace(" ", "")
        if params.startswith("q="):
            try:
                q = float(params[2:7])
            except ValueError:
                q = 0.0
            if not 0 <= q <= 1:
                q = 0.0
        quality.setdefault(coding.strip(), q)
    star = quality.get("*", 0.0)
    br, gz = quality.get("br", star), quality.get("gzip", quality.get("x-gzip", star))
    if br > 0 and br >= gz:
        return "br"
    return "gzip" if gz > 0 else ""


def _comment(status: int, text: str, headers: dict[str, str] | None = None) -> ScriptReply:
    """An error answer as a JS comment: a ``<script>`` that gets it stays a no-op."""
    safe = text.replace("*/", "* /")
    return ScriptReply(
        status, {"Content-Type": JS_TYPE, "Cache-Control": "no-store", **(headers or {})}, f"/* {safe} */\n".encode()
    )


__all__ = [
    "GatewayContext",
    "ScriptConfig",
    "ScriptReply",
    "ScriptServer",
    "SCRIPT_PATHS",
    "Upstream",
    "UpstreamError",
    "compress",
]
