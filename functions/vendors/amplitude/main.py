"""Amplitude HTTP V2 API (``POST /2/httpapi``). Entry point ``deliver``.

Every event, under its GA4 name (``AMPLITUDE_EVENT_MAP`` renames), deduplicated by
``insert_id`` = ``event_id``; ``user_id``/``device_id`` by the shared identity rule
(user_id; client_id); ``time`` in ms, ``session_id`` from ``ga_session_id``;
``event_properties`` from the page, UTM and the event's parameters; ``user_properties``
from ``up.*``; ``revenue`` for purchases (negative for refunds). A 400 names the refused
events per row (the others were not ingested and are sent again). Batch mode merges the
pulled events into one upload (up to 1,000 events, under 1 MB). Skipped when
``analytics_storage`` is denied. Settings ``AMPLITUDE_REGION`` (``eu``),
``AMPLITUDE_MIN_ID_LENGTH``; secret ``AMPLITUDE_API_KEY``. See docs/vendors/amplitude.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import JSONResponse

from shared.delivery import Attempt, Outcome, Reject, Vendor, VendorRequest, analytics, entry, geo
from shared.delivery import eventdata as ed
from shared.delivery.batching import list_batch
from shared.delivery.http import Response
from shared.delivery.rows import RowFailure, row_outcomes

# https://amplitude.com/docs/apis/analytics/http-v2 (EU residency server).
URLS = {"us": "https://api2.amplitude.com/2/httpapi", "eu": "https://api.eu.amplitude.com/2/httpapi"}
DEFAULT_MIN_ID_LENGTH = 5
# A 400's per-row lists: {field: [index, ...]} maps, and lists of indexes.
_ROW_MAPS = (
    ("events_with_invalid_fields", "invalid"),
    ("events_with_missing_fields", "missing"),
    ("events_with_invalid_id_lengths", "invalid_id_length"),
)
_ROW_LISTS = (("silenced_events", "silenced"),)


def min_id_length(settings: Mapping[str, str]) -> int:
    value = (settings.get("MIN_ID_LENGTH") or "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_MIN_ID_LENGTH


def event_properties(event: dict[str, Any], settings: Mapping[str, str]) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for key in ("page_location", "page_referrer", "page_title"):
        value = ed.text(event, key)
        if value:
            props[key] = value
    props.update(analytics.campaign(event))
    items = ed.items(event)
    if items:
        props["items"] = items
    for key, value in analytics.event_parameters(event).items():
        props.setdefault(key, value)
    if settings.get("DEBUG") == "1":
        props["debug_mode"] = True
    return props


def amplitude_event(event: dict[str, Any], settings: Mapping[str, str]) -> dict[str, Any]:
    """One event of the HTTP V2 ``events`` array."""
    try:
        who = analytics.identity(event)
    except analytics.MissingIdentity as exc:
        raise Reject(str(exc)) from None
    shortest = min_id_length(settings)
    # Amplitude drops an id shorter than min_id_length (and refuses the event without one):
    # not sending it makes that visible here rather than in Amplitude's 400.
    ids = {
        key: value
        for key, value in (("user_id", who.user_id), ("device_id", who.anonymous_id))
        if value and len(value) >= shortest
    }
    if not ids:
        raise Reject(f"id_too_short:min_id_length={shortest}")
    out: dict[str, Any] = {
        "event_type": settings["EVENT"],
        **ids,
        "time": analytics.timestamp_millis(event),
        "insert_id": ed.text(event, "event_id"),
    }
    if not out["insert_id"]:
        raise Reject("missing_field:event_id")
    session = ed.number(event.get("ga_session_id"))
    if session is not None and session > 0:
        out["session_id"] = int(session) * 1000  # GA4's session id is its start time in seconds
    out["event_properties"] = event_properties(event, settings)
    users = analytics.user_properties(event)
    if users:
        out["user_properties"] = users
    value = analytics.value_of(event)
    name = ed.text(event, "event_name")
    if name in ("purchase", "refund") and value is not None:
        out["revenue"] = -abs(value) if name == "refund" else value
        out["revenueType"] = name
    found = analytics.device(event)
    out["platform"] = "Web"
    for key, source in (("os_name", "os"), ("os_version", "os_version"), ("device_model", "model")):
        if source in found:
            out[key] = found[source]
    language = ed.text(event, "language")
    if language:
        out["language"] = language
    ip = ed.client_ip(event)
    if ip:
        out["ip"] = ip
    else:
        # Amplitude's location fields are names ("United States", "California") and setting
        # one resets the others (https://amplitude.com/docs/data/understand-ip-address-and-location,
        # https://amplitude.com/docs/get-started/user-property-definitions). We have codes for
        # country and region, so only the city's name goes, and only when there is no IP whose
        # lookup it would reset.
        city = geo.location(event).get("city")
        if city:
            out["city"] = city
    return out


def build_request(event: dict[str, Any], settings: Mapping[str, str]) -> VendorRequest:
    """The normalized event → one HTTP V2 upload with a one-event ``events`` array."""
    region = (settings.get("REGION") or "us").strip().lower()
    if region not in URLS:
        raise Reject(f"unknown_region:{region[:20]}")
    body: dict[str, Any] = {"api_key": settings.get("API_KEY", ""), "events": [amplitude_event(event, settings)]}
    if min_id_length(settings) != DEFAULT_MIN_ID_LENGTH:
        body["options"] = {"min_id_length": min_id_length(settings)}
    return VendorRequest("POST", URLS[region], {"Content-Type": "application/json", "Accept": "*/*"}, body)


def failed_rows(body: Any) -> dict[int, RowFailure]:
    """The events a 400 names, by index: ``<kind>:<field>`` (``invalid:time``, ``missing:event_type``)."""
    failures: dict[int, RowFailure] = {}
    if not isinstance(body, dict):
        return failures
    for key, kind in _ROW_MAPS:
        fields = body.get(key)
        for field, indexes in fields.items() if isinstance(fields, dict) else ():
            for index in indexes if isinstance(indexes, list) else ():
                if isinstance(index, int) and not isinstance(index, bool):
                    failures.setdefault(
                        index, RowFailure(index, f"amplitude_{kind}:{str(field)[:40]}", str(body.get("error") or ""))
                    )
    for key, kind in _ROW_LISTS:
        indexes = body.get(key)
        for index in indexes if isinstance(indexes, list) else ():
            if isinstance(index, int) and not isinstance(index, bool):
                failures.setdefault(index, RowFailure(index, f"amplitude_{kind}", str(body.get("error") or "")))
    return failures


def classify_rows(response: Response, count: int) -> list[Attempt] | None:
    """A 400 that names events is decided per row of a request of ``count`` events: the named
    ones rejected, the others retried, since Amplitude ingested none of the request ("When a 400
    response lists rejected events, remove those events and resend the rest",
    https://amplitude.com/docs/apis/analytics/http-api-batching-retries).

    Push mode reads row 0 (``Vendor.classify_rows``), batch mode every row (``BatchApi.split``).
    """
    if response.status != 400:
        return None
    failures = failed_rows(response.json())
    if not failures:
        return None
    return row_outcomes(count, failures, status=400, others_ingested=False)


def classify(response: Response) -> Attempt | None:
    """A 400 about the request rather than its events (a missing or wrong ``api_key``) is a
    configuration error: rejected, at ERROR so that alerting fires. A 400 naming events is
    left to :func:`classify_rows`."""
    if response.status != 400:
        return None
    body = response.json()
    if failed_rows(body):
        return None
    if isinstance(body, dict):
        error = str(body.get("error") or "")
        missing = str(body.get("missing_field") or "")
        if missing == "api_key" or "api key" in error.lower() or "api_key" in error.lower():
            return Attempt(
                Outcome.REJECTED, reason="amplitude_invalid_api_key", status=400, detail=response.excerpt(), alert=True
            )
        if missing:
            return Attempt(
                Outcome.REJECTED, reason=f"amplitude_missing:{missing[:40]}", status=400, detail=response.excerpt()
            )
    return None


VENDOR = Vendor(
    name="amplitude",
    build_request=build_request,
    setting_names=("REGION", "MIN_ID_LENGTH"),
    secret_names=("API_KEY",),
    required_settings=("API_KEY",),
    event_map=None,
    required_consent=("analytics_storage",),
    classify=classify,
    classify_rows=classify_rows,
    timeout=5.0,
    # HTTP V2 "Upload limit": "Keep request sizes under 1 MB with fewer than 2000 events per
    # request", else 413 (https://amplitude.com/docs/apis/analytics/http-v2). 1,000 is also the
    # most one pull brings. api_key and options are shared top-level fields: list_batch's key
    # keeps requests with different ones apart.
    batch_api=list_batch("events", 1000, split=classify_rows, max_bytes=1_000_000),
)


@functions_framework.aio.http
async def deliver(request: Request) -> JSONResponse:
    """Pub/Sub push endpoint (2xx acks, anything else retries); ``POST /drain`` in batch mode."""
    return await entry.serve(VENDOR, request)
