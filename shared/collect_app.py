"""The collect function's request handling, independent of the web framework.

``functions/collect/main.py`` adapts the runtime's request to :class:`HttpRequest` and
:class:`HttpResponse` back; everything here is plain Python, so unit tests, fuzzing and the
benchmark call the exact code that runs in the cloud.

Endpoints: ``/g/collect`` (gtag hits, GET/POST), ``/mp/collect`` (Measurement Protocol
JSON, POST) and ``/debug/mp/collect`` (validation only, publishes nothing). Every request
writes one ``"message": "hit"`` log line (docs/contracts.md). The Google tag routes
(``/gtag/js``, ``/gtm.js``, ...) are answered by ``shared.first_party.scripts`` and the
identifier cookies decided by ``shared.first_party.cookies`` (docs/first-party.md).
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared import collect_secrets, jsonlog, settings
from shared.event import encode_event, message_attributes, stable_event_id
from shared.first_party import cookie_keeper
from shared.first_party import cookies as first_party_cookies
from shared.first_party.scripts import GatewayContext, ScriptConfig, ScriptServer
from shared.ga4 import consent as consent_codec
from shared.ga4 import limits, mp, mp_validation, signature
from shared.ga4.client_hints import HINT_PARAMS, client_hints
from shared.ga4.context import (
    add_request_context,
    client_ip,
    edge_authenticated,
    event_location,
    trusted_hops_from_env,
    user_agent,
)
from shared.ga4.normalize import normalize_gtag
from shared.ga4.wire import parse_cookies, parse_pairs, split_lines
from shared.privacy.collect import CollectPrivacy
from shared.publishing import PublishError

# First-party cookies of vendor pixels that their server APIs want back (browser and click
# ids): copied into the event as ``cookies`` because vendor functions never see the
# browser's request. The key set is documented in docs/contracts.md (shared.first_party.cookies).
# Nothing else of the Cookie header leaves collect; each vendor gates on consent before using them.
VENDOR_COOKIES = first_party_cookies.VENDOR_COOKIES
MAX_BODY_BYTES = 64 * 1024
# gtag batches hold a handful of events; a cap keeps one request from fanning out into
# thousands of messages (and vendor calls). Lines past it are counted in the answer and the
# log line, not parsed (shared.ga4.limits; COLLECT_MAX_EVENTS).
MAX_GTAG_EVENTS = limits.DEFAULT_MAX_EVENTS
GTAG_PATH = "/g/collect"
MP_PATH = "/mp/collect"
MP_DEBUG_PATH = "/debug/mp/collect"
ALLOWED_METHODS = {GTAG_PATH: ("GET", "POST"), MP_PATH: ("POST",), MP_DEBUG_PATH: ("POST",)}
CORS_METHODS = "GET, POST, OPTIONS"
DEBUG_HEADER = "x-tagging-debug"
DEBUG_COOKIE = "tagging_debug"


@dataclass
class HttpRequest:
    """What collect needs of an HTTP request. Header names are lower-case.

    ``body_too_large`` is set by an adapter that stopped reading an oversized body, and
    ``body_timed_out`` by one whose client did not send the body within the deadline, so
    the 413 / 408 answers go through the same code (CORS headers, hit log line) as every
    other one.
    """

    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    remote_addr: str = ""
    body_too_large: bool = False
    body_timed_out: bool = False


@dataclass
class HttpResponse:
    """Status, headers and body; ``cookies`` holds ``Set-Cookie`` values (a dict can't hold two)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    cookies: list[str] = field(default_factory=list)

    def json(self) -> Any:
        """The body parsed as JSON; ``None`` for an empty body."""
        return json.loads(self.body) if self.body else None


Publish = Callable[[Sequence[dict[str, Any]]], Awaitable[list[str]]]


@dataclass(frozen=True)
class CollectConfig:
    """Collect's settings, read from the environment once per process (docs/ga4-client.md)."""

    allowed_measurement_ids: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    mp_api_secrets: tuple[str, ...] = ()
    debug_token: str = ""
    cookie_domain: str = ""
    cookie_max_age_days: int = 395
    log_hits: bool = False
    # First-party serving (shared/first_party, docs/first-party.md).
    server_cookies: tuple[str, ...] = ()
    scripts: ScriptConfig = field(default_factory=ScriptConfig)
    max_events: int = limits.DEFAULT_MAX_EVENTS
    # X-Forwarded-For entries our own proxies append after the client's (shared.ga4.context).
    trusted_proxy_hops: int = 1
    # Values of X-Edge-Auth that prove a request came through our load balancer (geo headers).
    edge_auth_secrets: tuple[str, ...] = ()
    # HMAC keys of signed server-to-server requests (X-Signature); two during a rotation.
    mp_signing_secrets: tuple[str, ...] = ()
    # Cookie keeper (shared/first_party/cookie_keeper.py): off unless COOKIE_KEEPER is set;
    # its salt is a secret (environment locally, Secret Manager in the cloud).
    cookie_keeper: cookie_keeper.KeeperConfig = field(default_factory=cookie_keeper.KeeperConfig)
    cookie_keeper_salt: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        # Browsers cap cookies at 400 days: a larger setting is clamped, with a warning.
        object.__setattr__(
            self, "cookie_max_age_days", first_party_cookies.clamp_days(self.cookie_max_age_days, "COOKIE_MAX_AGE_DAYS")
        )
        first_party_cookies.parse_families(self.server_cookies)  # unknown names fail at start-up

    @classmethod
    def from_env(cls) -> CollectConfig:
        """The configuration from the environment variables documented in the README."""
        return cls(
            allowed_measurement_ids=settings.env_list("ALLOWED_MEASUREMENT_IDS"),
            allowed_origins=settings.env_list("ALLOWED_ORIGINS"),
            mp_api_secrets=settings.env_list("MP_API_SECRETS"),
            debug_token=settings.env_str("DEBUG_TOKEN").strip(),
            cookie_domain=settings.env_str("COOKIE_DOMAIN").strip(),
            cookie_max_age_days=settings.env_int("COOKIE_MAX_AGE_DAYS", 395),
            log_hits=settings.env_bool("LOG_HITS"),
            server_cookies=settings.env_list("SERVER_COOKIES"),
            scripts=ScriptConfig.from_env(),
            max_events=limits.max_events(),
            trusted_proxy_hops=trusted_hops_from_env(),
            edge_auth_secrets=settings.env_list("EDGE_AUTH_SECRETS"),
            mp_signing_secrets=settings.env_list("MP_SIGNING_SECRETS"),
            cookie_keeper=cookie_keeper.KeeperConfig.from_env(),
            cookie_keeper_salt=settings.env_str("COOKIE_KEEPER_SALT").strip(),
        )


class Refusal(Exception):
    """A request refused as a whole: status, reason code, human detail."""

    def __init__(self, status: int, reason: str, detail: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.status, self.reason, self.detail, self.extra = status, reason, detail, extra or {}


@dataclass
class _Outcome:
    """What one request produced, for the response and the hit log line."""

    events: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    debug: bool = False
    debug_token: bool = False


class Collector:
    """Turns GA4 hits and Measurement Protocol requests into published normalized events."""

    def __init__(
        self,
        publish: Publish,
        config: CollectConfig | None = None,
        keys: collect_secrets.KeySource | None = None,
        keeper: cookie_keeper.CookieKeeper | None = None,
    ) -> None:
        self._publish = publish
        self.config = config or CollectConfig.from_env()
        # The secrets: the config's (environment) values, or Secret Manager's refreshed off
        # the request path (shared.collect_secrets; functions/collect/main.py picks).
        self._salt_warned_at = float("-inf")
        self._keys = keys or collect_secrets.StaticKeys.from_values(
            self.config.mp_api_secrets,
            self.config.debug_token,
            self.config.mp_signing_secrets,
            self.config.edge_auth_secrets,
            self.config.cookie_keeper_salt,
        )
        # None when COOKIE_KEEPER is off: no store client, no work per hit.
        self.keeper = keeper or (
            cookie_keeper.CookieKeeper.from_config(self.config.cookie_keeper)
            if self.config.cookie_keeper.enabled
            else None
        )
        self.cookie_policy = first_party_cookies.CookiePolicy(
            domain=self.config.cookie_domain or "auto",
            client_id_days=self.config.cookie_max_age_days,
            families=first_party_cookies.parse_families(self.config.server_cookies),
        )
        self.scripts = ScriptServer(self.config.scripts)
        self.privacy = CollectPrivacy.from_env()  # bot flags, global IP truncation (docs/privacy.md)

    @property
    def _debug_token(self) -> bytes:
        return self._keys.current().debug_token

    @property
    def _mp_secrets(self) -> tuple[bytes, ...]:
        return self._keys.current().mp_api_secrets

    @property
    def _edge_secrets(self) -> tuple[bytes, ...]:
        return self._keys.current().edge_auth_secrets

    @property
    def _signatures(self) -> signature.Verifier:
        return self._keys.current().verifier

    def _require_read(self, name: str) -> None:
        """503 (retry later) while a secret this request needs was never read (Secret Manager down since start)."""
        if name in self._keys.current().unread:
            raise Refusal(503, "secrets_unavailable", "collect could not read its secrets yet; retry later")

    async def handle(self, request: HttpRequest) -> HttpResponse:
        """Answer one request; never raises for bad input (4xx with a JSON reason instead)."""
        hit_path = self.scripts.gateway_hit_path(request.path)
        if hit_path is not None:
            # Gateway mode: /<path>/g/collect hits are ingested here, not proxied to Google.
            request = dataclasses.replace(request, path=hit_path)
        elif self.scripts.serves(request.path):
            context = None
            if self.scripts.config.gateway_path:
                headers = request.headers
                context = GatewayContext(
                    client_ip(headers, request.remote_addr, self.config.trusted_proxy_hops),
                    event_location(headers, edge_authenticated(headers, self._edge_secrets)),
                )
            script = await self.scripts.handle(request.method, request.path, request.query, request.headers, context)
            return HttpResponse(script.status, script.headers, script.body)
        outcome = _Outcome()
        cors: dict[str, str] = {"Vary": "Origin"}
        error = None
        try:
            cors = self._cors_headers(request.headers.get("origin", ""))
            response = await self._route(request, cors, outcome)
        except Refusal as refusal:
            error = refusal.reason
            payload = {"error": refusal.reason, "detail": refusal.detail, **refusal.extra}
            headers = {**cors, "Allow": _allow(request.path)} if refusal.status == 405 else cors
            response = _json(refusal.status, payload, headers)
        except Exception as exc:  # noqa: BLE001 - the last resort: a bug must not leak a traceback
            # Every known bad input is refused at its cause; this answers what is left with a
            # short JSON 500 and one short log line (never the traceback, never the input).
            error = "internal_error"
            where = exc.__traceback__
            while where is not None and where.tb_next is not None:
                where = where.tb_next
            location = f"{where.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{where.tb_lineno}" if where else ""
            jsonlog.error("collect internal error", exception=type(exc).__name__, at=location, path=request.path[:100])
            outcome.events, outcome.rejected = [], []
            response = _json(500, {"error": "internal_error", "detail": "the request could not be processed"}, cors)
        # GET hits must never be answered from a cache: each one is an event.
        response.headers.setdefault("Cache-Control", "no-store")
        self._log_hit(request, response.status, outcome, error)
        return response

    # -- routing and guard rails -------------------------------------------------------

    async def _route(self, request: HttpRequest, cors: dict[str, str], outcome: _Outcome) -> HttpResponse:
        path = request.path.rstrip("/") or "/"
        if path not in ALLOWED_METHODS:
            raise Refusal(
                404, "unknown_path", f"no endpoint at {request.path[:200]}; collect serves {', '.join(ALLOWED_METHODS)}"
            )
        method = request.method.upper()
        if method == "OPTIONS":
            return HttpResponse(204, {**cors, **_preflight_headers(request)})
        if method not in ALLOWED_METHODS[path]:
            raise Refusal(405, "method_not_allowed", f"{method[:20]} is not allowed on {path}")
        if request.body_timed_out:
            raise Refusal(408, "body_timeout", "the body did not arrive within the read deadline")
        if request.body_too_large or len(request.body) > MAX_BODY_BYTES:
            raise Refusal(413, "body_too_large", f"the body exceeds the limit of {MAX_BODY_BYTES} bytes")
        if len(request.query) > limits.MAX_QUERY_CHARS:
            raise Refusal(
                414,
                "query_too_long",
                f"the query exceeds {limits.MAX_QUERY_CHARS} characters; gtag sends long payloads in the body",
            )
        outcome.debug_token = self._has_debug_token(request.headers)
        outcome.debug = outcome.debug_token
        if path == GTAG_PATH:
            return await self._gtag(request, cors, outcome)
        if path == MP_PATH:
            return await self._mp(request, cors, outcome)
        return self._mp_debug(request, cors)

    def _has_debug_token(self, headers: Mapping[str, str]) -> bool:
        if not self._debug_token:
            return False  # no token configured: debug mode is off
        offered = headers.get(DEBUG_HEADER)
        if (
            offered is None
            and "cookie" in headers
            and DEBUG_COOKIE in headers["cookie"]
            and self._cookie_origin_ok(headers)
        ):
            offered = parse_cookies(headers["cookie"]).get(DEBUG_COOKIE)
        if not offered:
            return False
        return hmac.compare_digest(offered.strip().encode("utf-8", "surrogatepass"), self._debug_token)

    def _cookie_origin_ok(self, headers: Mapping[str, str]) -> bool:
        """The debug cookie travels with cross-site requests too: honour it only from an
        allowed origin, or with no Origin at all (not a cross-origin fetch a page could read)."""
        origin = headers.get("origin")
        if origin is None:
            return True
        return origin in self.config.allowed_origins

    def _authenticated(self, request: HttpRequest) -> bool:
        """A valid ``X-Signature`` (server-to-server); a present but bad one is refused."""
        offered = request.headers.get(signature.HEADER)
        if offered is None:
            return False
        if not self._signatures.enabled:
            self._require_read("MP_SIGNING_SECRETS")
            return False
        try:
            self._signatures.verify(offered, request.body)
        except signature.SignatureError as exc:
            raise Refusal(401, exc.reason, str(exc)) from None
        return True

    def _check_measurement_id(self, measurement_id: str) -> dict[str, str] | None:
        if self.config.allowed_measurement_ids and measurement_id not in self.config.allowed_measurement_ids:
            return {
                "reason": "measurement_id_not_allowed",
                "detail": f"{measurement_id[:40]} is not on this collector's allow-list",
            }
        return None

    # -- gtag ---------------------------------------------------------------------------

    async def _gtag(self, request: HttpRequest, cors: dict[str, str], outcome: _Outcome) -> HttpResponse:
        received_micros = int(time.time() * 1_000_000)
        try:
            body = request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise Refusal(400, "body_not_utf8", "the body must be UTF-8 text, one event per line") from None
        headers = request.headers
        trusted = self._authenticated(request)
        # Parsed (values bounded as GA4 bounds them) once per request; each line only adds its own.
        shared_params = parse_pairs(request.query)
        lines = split_lines(body) or [""]
        ip = client_ip(headers, request.remote_addr, self.config.trusted_proxy_hops)
        agent = user_agent(headers)
        location = event_location(headers, edge_authenticated(headers, self._edge_secrets))
        shared_hints = client_hints(shared_params, headers)
        item_cache: dict[str, dict[str, Any]] = {}
        max_events = self.config.max_events
        # Only the event-size check needs the encoded event; small hits cannot exceed it.
        # Header-borne parts of an event (client hints, vendor cookies) count towards it too.
        check_size_from = limits.MAX_EVENT_BYTES // 4 - sum(
            len(value) for name, value in headers.items() if name[:6] in ("sec-ch", "cookie")
        )
        cookies = parse_cookies(headers["cookie"]) if "cookie" in headers else {}
        overflow = len(lines) - max_events
        keeper = None
        if self.keeper is not None and cookies:
            keeper = await self._keeper_plan(cookies, shared_params, lines[:max_events])
            if keeper is not None and keeper[1].restore:
                # Restored cookies count as sent by the browser: copied into the events and,
                # for SERVER_COOKIES families, re-issued instead of regenerated.
                cookies = {**keeper[1].restored, **cookies}
                check_size_from -= sum(len(name) + len(value) for name, value in keeper[1].restored.items())
        identifiers = self.cookie_policy.for_request(cookies, headers.get("host", ""))
        tid = shared_params.get("tid", "")

        if overflow > 0:
            lines = lines[:max_events]  # the rest is counted below, never parsed
        for index, line in enumerate(lines):
            line_params = parse_pairs(line) if line else {}
            params = {**shared_params, **line_params} if line_params else shared_params
            problem = self._line_problem(params)
            if problem is not None:
                outcome.rejected.append({"line": index, **problem})
                continue
            event = normalize_gtag(params, item_cache)
            if "event_id" not in event:
                event["event_id"] = stable_event_id(params.get("tid", tid), request.query, str(index), line)
            event["timestamp_micros"] = received_micros
            event["source"] = "gtag"
            if outcome.debug_token:
                event["debug_mode"] = True
            outcome.debug = outcome.debug or event["debug_mode"]
            hints = client_hints(params, headers) if any(key in HINT_PARAMS for key in line_params) else shared_hints
            if hints:
                event["client_hints"] = hints
            add_request_context(event, ip, agent, location, trusted)
            identifiers.apply(event)  # client id precedence, vendor cookies (shared.first_party.cookies)
            if len(request.query) + len(line) > check_size_from and len(encode_event(event)) > limits.MAX_EVENT_BYTES:
                outcome.rejected.append(
                    {
                        "line": index,
                        "reason": "event_too_large",
                        "detail": f"the event encodes to more than {limits.MAX_EVENT_BYTES} bytes",
                    }
                )
                continue
            outcome.events.append(event)
        if overflow > 0:
            outcome.rejected.append(
                {
                    "line": max_events,
                    "reason": "too_many_events",
                    "detail": f"a request can carry at most {max_events} events",
                    "count": overflow,
                }
            )

        if not outcome.events:
            reasons = {rejection["reason"] for rejection in outcome.rejected}
            status = 403 if reasons == {"measurement_id_not_allowed"} else 400
            first = outcome.rejected[0]
            raise Refusal(
                status, first["reason"], first["detail"], {"accepted": 0, **limits.summarize(outcome.rejected)}
            )
        response = await self._publish_and_answer(outcome, cors)
        response.cookies.extend(identifiers.set_cookie_headers())
        if keeper is not None and self.keeper is not None:
            key, plan = keeper
            # A managed family's cookie was just re-issued with the same value by the policy.
            reissued = set(identifiers.managed or ()) if not identifiers.ad_denied else set()
            response.cookies.extend(cookie_keeper.restore_headers(plan, identifiers.domain(), reissued))
            await self.keeper.save(key, plan)
        return response

    async def _keeper_plan(
        self, jar: Mapping[str, str], shared_params: Mapping[str, str], lines: Sequence[str]
    ) -> tuple[str, cookie_keeper.Plan] | None:
        """The cookie keeper's store key and plan for this hit, or ``None`` (nothing to do).

        Consent is the most restrictive of the request's lines, as for the identifier cookies;
        analytics denied or no ``FPID`` → no master id, nothing looked up.
        """
        assert self.keeper is not None
        master = cookie_keeper.master_id(jar)
        if master is None:
            return None
        ad_denied = analytics_denied = False
        for line in lines:
            consent = consent_codec.from_gtag({**shared_params, **parse_pairs(line)} if line else shared_params)
            ad_denied = ad_denied or consent.get("ad_storage") == "denied"
            analytics_denied = analytics_denied or consent.get("analytics_storage") == "denied"
        if analytics_denied:
            return None
        salt = self._keys.current().cookie_keeper_salt
        if not salt:
            # Until Secret Manager answers: one warning a minute, not one per hit.
            now = time.monotonic()
            if now - self._salt_warned_at >= 60.0:
                self._salt_warned_at = now
                jsonlog.warning("cookie keeper skipped", step="lookup", reason="salt_unavailable")
            return None
        key = cookie_keeper.document_id(salt, master)
        record, found = await self.keeper.lookup(key)
        if not found:
            return None  # store down or slow: serve the hit, restore and store nothing
        plan = cookie_keeper.decide(
            self.keeper.config, jar, record, ad_denied=ad_denied, analytics_denied=False, now=time.time()
        )
        return key, plan

    def _line_problem(self, params: Mapping[str, str]) -> dict[str, str] | None:
        version = params.get("v", "2")
        if version != "2":
            return {
                "reason": "unsupported_version",
                "detail": f"protocol version {version[:20]!r}; only v=2 is supported",
            }
        tid = params.get("tid", "")
        if not tid:
            return {"reason": "missing_measurement_id", "detail": "tid (measurement ID) is required"}
        problem = self._check_measurement_id(tid)
        if problem is not None:
            return problem
        name = params.get("en")
        if not name:
            return {"reason": "missing_event_name", "detail": "en (event name) is required"}
        if len(name) > limits.MAX_EVENT_NAME:
            # GA4 does not collect events with longer names.
            return {
                "reason": "event_name_too_long",
                "detail": f"en (event name) can be at most {limits.MAX_EVENT_NAME} characters",
            }
        return None

    # -- Measurement Protocol -----------------------------------------------------------

    def _mp_request(self, request: HttpRequest) -> tuple[dict[str, str], str]:
        query = parse_pairs(request.query)
        measurement_id = query.get("measurement_id", "")
        return query, measurement_id

    def _secret_ok(self, secret: str) -> bool:
        offered = secret.encode("utf-8", "surrogatepass")
        # Compare with every configured secret so the time taken does not reveal which matched.
        matched = False
        for configured in self._mp_secrets:
            matched |= hmac.compare_digest(offered, configured)
        return matched

    async def _mp(self, request: HttpRequest, cors: dict[str, str], outcome: _Outcome) -> HttpResponse:
        received_micros = int(time.time() * 1_000_000)
        query, measurement_id = self._mp_request(request)
        # A signed request (X-Signature) needs no api_secret; a badly signed one is refused.
        if not self._authenticated(request):
            if not self._mp_secrets:
                self._require_read("MP_API_SECRETS")
                raise Refusal(403, "mp_disabled", "no Measurement Protocol api secrets are configured (MP_API_SECRETS)")
            if not self._secret_ok(query.get("api_secret", "")):
                raise Refusal(403, "api_secret_invalid", "api_secret is missing or not one of this collector's secrets")
        if not measurement_id:
            raise Refusal(400, "missing_measurement_id", "the measurement_id query parameter is required")
        problem = self._check_measurement_id(measurement_id)
        if problem is not None:
            raise Refusal(403, problem["reason"], problem["detail"])
        try:
            raw_body = request.body.decode("utf-8")
            body = mp.parse_body(request.body)
        except (UnicodeDecodeError, ValueError) as exc:
            raise Refusal(400, "body_not_json", f"the body must be a UTF-8 JSON object: {str(exc)[:200]}") from None
        messages = mp_validation.validate_request(body, received_micros)
        if messages:
            raise Refusal(
                400, "invalid_request", messages[0]["description"], {"accepted": 0, **_validation_summary(messages)}
            )
        # No context of collect's caller: an MP request comes from the sender's server, whose
        # IP and user agent are not the visitor's. Only ip_override / user_agent in the body count.
        for index, source in enumerate(body["events"]):
            problems = mp_validation.validate_event(source, index, received_micros)
            if problems:
                outcome.rejected.append(
                    {
                        "line": index,
                        "reason": problems[0]["validationCode"].lower(),
                        "detail": problems[0]["description"],
                        "validationMessages": problems[: limits.SHOWN_VALIDATION_MESSAGES],
                    }
                )
                continue
            event = mp.mp_event(body, index, measurement_id, raw_body, received_micros)
            if outcome.debug_token:
                event["debug_mode"] = True
            outcome.debug = outcome.debug or event["debug_mode"]
            outcome.events.append(event)
        if not outcome.events:
            first = outcome.rejected[0]
            raise Refusal(400, first["reason"], first["detail"], {"accepted": 0, **limits.summarize(outcome.rejected)})
        return await self._publish_and_answer(outcome, cors)

    def _mp_debug(self, request: HttpRequest, cors: dict[str, str]) -> HttpResponse:
        """Google's validation server: the same checks, answered as validationMessages."""
        now = int(time.time() * 1_000_000)
        query, measurement_id = self._mp_request(request)
        messages: list[dict[str, str]] = []
        if not measurement_id:
            messages.append(
                mp_validation.message(
                    "measurement_id", "The measurement_id query parameter is required.", "VALUE_REQUIRED"
                )
            )
        elif self._check_measurement_id(measurement_id):
            messages.append(
                mp_validation.message(
                    "measurement_id", "This measurement_id is not on the collector's allow-list.", "VALUE_INVALID"
                )
            )
        if not self._mp_secrets or not self._secret_ok(query.get("api_secret", "")):
            messages.append(
                mp_validation.message(
                    "api_secret", "This api_secret is not accepted by /mp/collect on this collector.", "VALUE_INVALID"
                )
            )
        try:
            body = mp.parse_body(request.body)
        except (UnicodeDecodeError, ValueError):
            messages.append(mp_validation.message("", "The request body is not valid UTF-8 JSON.", "VALUE_INVALID"))
        else:
            messages.extend(mp_validation.validate_request(body, now))
            if isinstance(body, dict) and isinstance(body.get("events"), list):
                for index, source in enumerate(body["events"][: mp_validation.MAX_EVENTS]):
                    messages.extend(mp_validation.validate_event(source, index, now))
        return _json(200, _validation_summary(messages), cors)

    # -- publishing and answers -----------------------------------------------------------

    async def _publish_and_answer(self, outcome: _Outcome, cors: dict[str, str]) -> HttpResponse:
        self.privacy.prepare(outcome.events)
        try:
            await self._publish(outcome.events)
        except PublishError as exc:
            jsonlog.error("publish failed", reason=str(exc)[:500], events=len(outcome.events))
            published, outcome.events = outcome.events, []
            raise Refusal(
                503, "broker_unavailable", "events could not be persisted; retry later", {"events": len(published)}
            ) from None
        if outcome.debug_token:
            return _json(
                200,
                {
                    "debug": True,
                    "events": outcome.events,
                    "attributes": [message_attributes(event) for event in outcome.events],
                    **limits.summarize(outcome.rejected),
                },
                cors,
            )
        if outcome.rejected:
            return _json(200, {"accepted": len(outcome.events), **limits.summarize(outcome.rejected)}, cors)
        return HttpResponse(204, dict(cors))

    def _log_hit(self, request: HttpRequest, status: int, outcome: _Outcome, error: str | None) -> None:
        accepted = outcome.events if status < 300 else []
        record: dict[str, Any] = {
            "request_id": os.urandom(8).hex(),
            "path": request.path[:200],
            "method": request.method[:20],
            "status": status,
            "accepted": len(accepted),
            "events": [
                {
                    "event_id": event.get("event_id"),
                    "event_name": event.get("event_name"),
                    "measurement_id": str(event.get("x-ga-measurement_id"))[:40],
                }
                for event in accepted
            ],
            "debug": outcome.debug,
        }
        if outcome.rejected:
            summary = limits.summarize(outcome.rejected)
            summary["rejected"] = [
                {"line": rejection["line"], "reason": rejection["reason"], "detail": rejection["detail"]}
                for rejection in summary["rejected"]
            ]
            record.update(summary)
        else:
            record["rejected"] = []
        if error is not None:
            record["error"] = error
        if self.config.log_hits:
            # Local only (make run sets LOG_HITS=1): raw hits hold IPs and identifiers.
            record["raw"] = {
                "query": _redact_secret(request.query),
                "body": request.body[:MAX_BODY_BYTES].decode("utf-8", "replace"),
            }
            record["normalized"] = [{"event": event, "attributes": message_attributes(event)} for event in accepted]
        severity = "INFO" if status < 400 and not outcome.rejected else ("ERROR" if status >= 500 else "WARNING")
        jsonlog.log(severity, "hit", **record)

    def _cors_headers(self, origin: str) -> dict[str, str]:
        # Credentials are sent to first-party collectors, so "*" is never valid: echo an
        # allowed origin. With no allow-list configured (the local default) any origin is
        # echoed but without credentials, so no page can read an answer meant for the site.
        if not origin or origin == "null":
            return {"Vary": "Origin"}
        if not self.config.allowed_origins:
            return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        if origin not in self.config.allowed_origins:
            return {"Vary": "Origin"}
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true",
            "Vary": "Origin",
        }


def _validation_summary(messages: list[dict[str, str]]) -> dict[str, Any]:
    """``validationMessages`` (the first few), and their count when some were left out."""
    summary: dict[str, Any] = {"validationMessages": messages[: limits.SHOWN_VALIDATION_MESSAGES]}
    if len(messages) > limits.SHOWN_VALIDATION_MESSAGES:
        summary["validationMessages_count"] = len(messages)
    return summary


def _allow(path: str) -> str:
    methods = ALLOWED_METHODS.get(path.rstrip("/") or "/", ("GET", "POST"))
    return ", ".join((*methods, "OPTIONS"))


def _redact_secret(query: str) -> str:
    if "api_secret=" not in query:
        return query
    return "&".join("api_secret=REDACTED" if part.startswith("api_secret=") else part for part in query.split("&"))


def _preflight_headers(request: HttpRequest) -> dict[str, str]:
    headers = {"Access-Control-Allow-Methods": CORS_METHODS, "Access-Control-Max-Age": "86400"}
    requested = request.headers.get("access-control-request-headers")
    if requested:
        headers["Access-Control-Allow-Headers"] = requested[:500]
    return headers


def _json(status: int, payload: dict[str, Any], headers: dict[str, str]) -> HttpResponse:
    return HttpResponse(
        status,
        {**headers, "Content-Type": "application/json"},
        json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8"),
    )


def _error(status: int, reason: str, detail: str, headers: dict[str, str]) -> HttpResponse:
    """A JSON refusal ``{"error": reason, "detail": detail}``."""
    return _json(status, {"error": reason, "detail": detail}, headers)
