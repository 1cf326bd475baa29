"""The collect function's request handling, independent of the web framework.

``functions/collect/main.py`` adapts the runtime's request to :class:`HttpRequest` and
:class:`HttpResponse` back; everything here is plain Python, so unit tests, fuzzing and the
benchmark call the exact code that runs in the cloud.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping, Sequence

from shared import jsonlog, settings
from shared.event import stable_event_id
from shared.ga4.normalize import normalize_gtag
from shared.ga4.wire import parse_pairs, split_lines
from shared.publishing import PublishError

MAX_BODY_BYTES = 64 * 1024
GTAG_PATHS = ("/g/collect",)
CORS_METHODS = "GET, POST, OPTIONS"


@dataclass
class HttpRequest:
    """What collect needs of an HTTP request. Header names are lower-case."""

    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


Publish = Callable[[Sequence[dict[str, Any]]], Awaitable[list[str]]]


@dataclass(frozen=True)
class CollectConfig:
    """Collect's settings, read from the environment once per process."""

    allowed_measurement_ids: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()

    @classmethod
    def from_env(cls) -> "CollectConfig":
        return cls(
            allowed_measurement_ids=settings.env_list("ALLOWED_MEASUREMENT_IDS"),
            allowed_origins=settings.env_list("ALLOWED_ORIGINS"),
        )


class Collector:
    """Turns GA4 hits into published normalized events."""

    def __init__(self, publish: Publish, config: CollectConfig | None = None) -> None:
        self._publish = publish
        self.config = config or CollectConfig.from_env()

    async def handle(self, request: HttpRequest) -> HttpResponse:
        cors = self._cors_headers(request.headers.get("origin", ""))
        path = request.path.rstrip("/") or "/"
        if path not in GTAG_PATHS:
            return _error(404, "unknown_path", f"no endpoint at {request.path}", cors)
        method = request.method.upper()
        if method == "OPTIONS":
            return HttpResponse(204, {**cors, **_preflight_headers(request)})
        if method not in ("GET", "POST"):
            return _error(405, "method_not_allowed", f"{method} is not allowed on {path}", {**cors, "Allow": CORS_METHODS})
        if len(request.body) > MAX_BODY_BYTES:
            return _error(413, "body_too_large", f"body is {len(request.body)} bytes; the limit is {MAX_BODY_BYTES}", cors)
        return await self._gtag(request, cors)

    async def _gtag(self, request: HttpRequest, cors: dict[str, str]) -> HttpResponse:
        received_micros = int(time.time() * 1_000_000)
        try:
            body = request.body.decode("utf-8")
        except UnicodeDecodeError:
            return _error(400, "body_not_utf8", "the body must be UTF-8 text, one event per line", cors)
        shared_params = parse_pairs(request.query)
        lines = split_lines(body) or [""]
        events: list[dict[str, Any]] = []
        rejected: list[dict[str, Any]] = []
        for index, line in enumerate(lines):
            params = {**shared_params, **parse_pairs(line)}
            problem = self._line_problem(params)
            if problem is not None:
                rejected.append({"line": index, **problem})
                continue
            event = normalize_gtag(params)
            event["event_id"] = params.get("ep.event_id") or stable_event_id(
                params.get("tid", ""), request.query, str(index), line
            )
            event["timestamp_micros"] = received_micros
            event["source"] = "gtag"
            event.setdefault("consent", {})
            event.setdefault("debug_mode", params.get("_dbg") == "1")
            if "user-agent" in request.headers:
                event.setdefault("user_agent", request.headers["user-agent"])
            events.append(event)

        if not events:
            status = 403 if all(r["reason"] == "measurement_id_not_allowed" for r in rejected) else 400
            jsonlog.warning("hit rejected", path=request.path, rejected=rejected)
            return _json(status, {"error": rejected[0]["reason"], "accepted": 0, "rejected": rejected}, cors)
        try:
            await self._publish(events)
        except PublishError as exc:
            jsonlog.error("publish failed", reason=str(exc), events=len(events))
            return _error(503, "broker_unavailable", "events could not be persisted; retry later", cors)
        if rejected:
            jsonlog.warning("hit partly rejected", accepted=len(events), rejected=rejected)
            return _json(200, {"accepted": len(events), "rejected": rejected}, cors)
        return HttpResponse(204, cors)

    def _line_problem(self, params: dict[str, str]) -> dict[str, str] | None:
        if params.get("v", "2") != "2":
            return {"reason": "unsupported_version", "detail": f"protocol version {params['v']!r}; only v=2 is supported"}
        tid = params.get("tid", "")
        if not tid:
            return {"reason": "missing_measurement_id", "detail": "tid (measurement ID) is required"}
        if self.config.allowed_measurement_ids and tid not in self.config.allowed_measurement_ids:
            return {"reason": "measurement_id_not_allowed", "detail": f"{tid} is not on this collector's allow-list"}
        if not params.get("en"):
            return {"reason": "missing_event_name", "detail": "en (event name) is required"}
        return None

    def _cors_headers(self, origin: str) -> dict[str, str]:
        # Credentials are sent to first-party collectors, so "*" is never valid: echo an
        # allowed origin. With no allow-list configured (the local default) any origin is echoed.
        if not origin or origin == "null":
            return {"Vary": "Origin"}
        if self.config.allowed_origins and origin not in self.config.allowed_origins:
            return {"Vary": "Origin"}
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true",
            "Vary": "Origin",
        }


def _preflight_headers(request: HttpRequest) -> dict[str, str]:
    headers = {"Access-Control-Allow-Methods": CORS_METHODS, "Access-Control-Max-Age": "86400"}
    requested = request.headers.get("access-control-request-headers")
    if requested:
        headers["Access-Control-Allow-Headers"] = requested
    return headers


def _json(status: int, payload: dict[str, Any], headers: dict[str, str]) -> HttpResponse:
    return HttpResponse(
        status,
        {**headers, "Content-Type": "application/json"},
        json.dumps(payload, separators=(",", ":")).encode("utf-8"),
    )


def _error(status: int, reason: str, detail: str, headers: dict[str, str]) -> HttpResponse:
    return _json(status, {"error": reason, "detail": detail}, headers)
