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
  never rewritten (no host-name string replacement).
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

import requests

from shared import jsonlog, settings

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
        if self.server_container_url and not _SERVER_URL.fullmatch(self.server_container_url):
            raise ValueError(
                f"TAG_SERVER_CONTAINER_URL must be an http(s) URL without query, got {self.server_container_url!r}"
            )

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


@dataclass
class _Entry:
    body: bytes
    content_type: str
    etag: str
    fetched: float
    upstream_etag: str = ""
    upstream_modified: str = ""
    gzipped: bytes | None = None

    def gzip_body(self) -> bytes:
        if self.gzipped is None:
            self.gzipped = gzip.compress(self.body, 6, mtime=0)
        return self.gzipped


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
        return path in SCRIPT_PATHS or path in self.config.aliases

    async def handle(self, method: str, path: str, query: str, headers: Mapping[str, str]) -> ScriptReply:
        """Answer one script request; never raises for bad input."""
        started = time.perf_counter()
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

    async def _cached(self, route: str, upstream_query: str) -> tuple[_Entry | None, str]:
        key = (route, upstream_query)
        entry = self._cache.get(key)
        if entry is not None and self._clock() - entry.fetched < self.config.ttl_seconds:
            return entry, "hit"
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:  # one upstream request per key, however many browsers wait
                return await self._refresh(key, route, upstream_query)
        finally:
            if not lock.locked():
                self._locks.pop(key, None)  # keys come from the query: keep no lock for idle ones

    async def _refresh(self, key: tuple[str, str], route: str, upstream_query: str) -> tuple[_Entry | None, str]:
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
            upstream = await self._call(route, upstream_query, conditional)
        except UpstreamError as exc:
            return self._stale(entry, now, str(exc))
        if upstream.status == 304 and entry is not None:
            entry.fetched = now
            return entry, "revalidated"
        if upstream.status in (400, 403, 404, 410):
            # Google does not serve this id (any more): pass the status on, uncached.
            self._cache.pop(key, None)
            return None, f"upstream:{upstream.status}"
        if upstream.status != 200:  # 5xx, 429, redirects, a 304 we did not ask for
            return self._stale(entry, now, f"upstream answered {upstream.status}")
        fresh = _entry(route, upstream, now)
        if len(self._cache) >= MAX_CACHE_ENTRIES and key not in self._cache:
            self._cache.pop(next(iter(self._cache)))
        self._cache[key] = fresh
        return fresh, "miss"

    def _stale(self, entry: _Entry | None, now: float, reason: str) -> tuple[_Entry | None, str]:
        jsonlog.warning("tag upstream failed", reason=reason[:200], stale_copy=entry is not None)
        if entry is not None and now - entry.fetched <= self.config.stale_seconds:
            return entry, "stale"
        return None, "error"

    async def _fetch_uncached(self, route: str, upstream_query: str) -> tuple[_Entry | None, str]:
        try:
            upstream = await self._call(route, upstream_query, {})
        except UpstreamError as exc:
            jsonlog.warning("tag upstream failed", reason=str(exc)[:200], stale_copy=False)
            return None, "error"
        if upstream.status != 200:
            return None, "error"
        return _entry(route, upstream, self._clock()), "bypass"

    async def _call(self, route: str, upstream_query: str, conditional: dict[str, str]) -> Upstream:
        self.upstream_calls += 1
        url = f"{self.config.upstream_origin}{route}?{upstream_query}"
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
        body = self._loader(route, forwarded) + entry.body if self._wants_loader(route) else entry.body
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
        if len(body) >= GZIP_MIN_BYTES and _accepts_gzip(headers.get("accept-encoding", "")):
            body = entry.gzip_body() if body is entry.body else gzip.compress(body, 6, mtime=0)
            out["Content-Encoding"] = "gzip"
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


def _entry(route: str, upstream: Upstream, now: float) -> _Entry:
    return _Entry(
        body=upstream.body,
        content_type=JS_TYPE if ROUTES.get(route, True) else HTML_TYPE,
        etag=_etag(upstream.body),
        fetched=now,
        upstream_etag=upstream.headers.get("etag", ""),
        upstream_modified=upstream.headers.get("last-modified", ""),
    )


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _etag_matches(header: str, etag: str) -> bool:
    if not header:
        return False
    candidates = [part.strip().removeprefix("W/") for part in header.split(",")]
    return "*" in candidates or etag in candidates


def _accepts_gzip(header: str) -> bool:
    for part in header.lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def _comment(status: int, text: str, headers: dict[str, str] | None = None) -> ScriptReply:
    """An error answer as a JS comment: a ``<script>`` that gets it stays a no-op."""
    safe = text.replace("*/", "* /")
    return ScriptReply(
        status, {"Content-Type": JS_TYPE, "Cache-Control": "no-store", **(headers or {})}, f"/* {safe} */\n".encode()
    )


__all__ = ["ScriptConfig", "ScriptReply", "ScriptServer", "SCRIPT_PATHS", "Upstream", "UpstreamError"]
