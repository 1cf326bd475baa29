"""Mixpanel Import API (``POST /import?strict=1``). Entry point ``deliver``.

Every event, under its GA4 name (``MIXPANEL_EVENT_MAP`` renames), deduplicated by
``$insert_id`` = ``event_id``; ``distinct_id`` by the shared identity rule (user_id, else
client_id); ``time`` in ms; page, referrer, UTM, device and the event's parameters as
properties; the IP for Mixpanel's geolocation, ``mp_country_code`` and ``$city`` from the
load balancer's location. A 400 is a partial success: the events named
in ``failed_records`` are rejected, the others were ingested. Batch mode merges the pulled
events into one ``/import`` array (up to 2,000 events, 2 MB). Skipped when
``analytics_storage`` is denied. Settings ``MIXPANEL_PROJECT_ID``, ``MIXPANEL_REGION``
(``us``/``eu``/``in``); secret ``MIXPANEL_SERVICE_ACCOUNT`` (``user:secret``) or
``MIXPANEL_PROJECT_TOKEN``. See docs/vendors/mixpanel.md.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import JSONResponse

from shared.delivery import Attempt, Reject, Vendor, VendorRequest, analytics, entry, geo
from shared.delivery import eventdata as ed
from shared.delivery.batching import array_batch
from shared.delivery.http import Response
from shared.delivery.rows import RowFailure, row_outcomes

# Ingestion API hosts by data residency (https://docs.mixpanel.com/reference/overview).
HOSTS = {"us": "api.mixpanel.com", "eu": "api-eu.mixpanel.com", "in": "api-in.mixpanel.com"}
# $insert_id: at most 36 characters of letters, digits and "-" (Mixpanel's 400 Bad Request page:
# "hash ... and use the first 36 characters"; the Import Events reference's UUID examples).
_INSERT_ID = re.compile(r"^[A-Za-z0-9-]{1,36}$")


def insert_id(event: dict[str, Any]) -> str:
    """``event_id`` when Mixpanel accepts it as ``$insert_id``, else a stable 32-hex digest of it
    (a page-supplied ``ep.event_id`` may contain anything)."""
    event_id = ed.text(event, "event_id")
    if not event_id:
        raise Reject("missing_field:event_id")
    return event_id if _INSERT_ID.match(event_id) else hashlib.sha256(event_id.encode()).hexdigest()[:32]


def authorization(settings: Mapping[str, str]) -> str:
    """HTTP Basic: the service account ``user:secret``, else the project token with no password."""
    account = settings.get("SERVICE_ACCOUNT", "")
    credentials = account if account else f"{settings.get('PROJECT_TOKEN', '')}:"
    return "Basic " + base64.b64encode(credentials.encode()).decode()


def properties(event: dict[str, Any], settings: Mapping[str, str]) -> dict[str, Any]:
    """The event's Mixpanel properties: reserved ones first, then its own parameters."""
    who = analytics.identity(event)
    props: dict[str, Any] = {
        "time": analytics.timestamp_millis(event),
        "distinct_id": who.primary,
        "$insert_id": insert_id(event),
    }
    if who.anonymous_id:
        props["$device_id"] = who.anonymous_id
    if who.user_id:
        props["$user_id"] = who.user_id
    ip = ed.client_ip(event)
    if ip:
        props["ip"] = ip  # geolocation ($city, $region, mp_country_code); Mixpanel discards the IP
    # The load balancer's location wins over the IP's: "The manually defined geolocation
    # properties will be prioritized over the location derived from the IP address"
    # (https://docs.mixpanel.com/docs/tracking-best-practices/geolocation#define-geolocation-properties).
    # mp_country_code is the 2-letter code; $region is a name there ("California") and we only
    # have a code, so it is left to the IP.
    where = geo.location(event)
    for key, source in (("mp_country_code", "country"), ("$city", "city")):
        if source in where:
            props[key] = where[source]
    url, referrer = ed.page_url(event), ed.text(event, "page_referrer")
    for key, value in (
        ("$current_url", url),
        ("current_page_title", ed.text(event, "page_title")),
        ("$referrer", referrer),
        ("$referring_domain", analytics.host(referrer)),
    ):
        if value:
            props[key] = value
    props.update(analytics.campaign(event))
    found = analytics.device(event)
    for key, source in (
        ("$os", "os"),
        ("$browser", "browser"),
        ("$browser_version", "browser_version"),
        ("$model", "model"),
        ("$screen_width", "screen_width"),
        ("$screen_height", "screen_height"),
    ):
        if source in found:
            props[key] = found[source]
    items = ed.items(event)
    if items:
        props["items"] = items
    for key, value in analytics.event_parameters(event).items():
        props.setdefault(key, value)
    if settings.get("DEBUG") == "1":
        props["debug_mode"] = True
    return props


def build_request(event: dict[str, Any], settings: Mapping[str, str]) -> VendorRequest:
    """The normalized event → one ``/import`` request carrying a one-event JSON array."""
    try:
        props = properties(event, settings)
    except analytics.MissingIdentity as exc:
        raise Reject(str(exc)) from None
    region = (settings.get("REGION") or "us").strip().lower()
    if region not in HOSTS:
        raise Reject(f"unknown_region:{region[:20]}")
    query = {"strict": "1"}
    if settings.get("PROJECT_ID"):
        query["project_id"] = settings["PROJECT_ID"]
    headers = {
        "Authorization": authorization(settings),
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    return VendorRequest(
        "POST",
        f"https://{HOSTS[region]}/import?{urlencode(query)}",
        headers,
        [{"event": settings["EVENT"], "properties": props}],
    )


def failed_rows(body: Any) -> dict[int, RowFailure]:
    """``failed_records[{index, insert_id, field, message}]`` of a strict-mode 400, by index."""
    failures: dict[int, RowFailure] = {}
    records = body.get("failed_records") if isinstance(body, dict) else None
    for record in records if isinstance(records, list) else []:
        if not isinstance(record, dict) or not isinstance(record.get("index"), int):
            continue
        field = str(record.get("field") or "unknown")[:60]
        detail = f"{record.get('insert_id', '')}: {record.get('message', '')}"
        failures.setdefault(record["index"], RowFailure(record["index"], f"mixpanel_failed_record:{field}", detail))
    return failures


def classify_rows(response: Response, count: int) -> list[Attempt] | None:
    """A strict-mode 400 with ``failed_records`` is a partial success, decided per row of a
    request of ``count`` events: the listed ones rejected, the others ingested ("Mixpanel still
    ingests the events that passed", https://docs.mixpanel.com/troubleshooting/errors/400-bad-request).

    Push mode reads row 0 (``Vendor.classify_rows``), batch mode every row (``BatchApi.split``).
    Other answers (``None``) follow the generic rules (401/403 alert, 413 rejected, 429/5xx retry).
    """
    if response.status != 400:
        return None
    body = response.json()
    if not isinstance(body, dict) or not isinstance(body.get("failed_records"), list):
        return None
    return row_outcomes(count, failed_rows(body), status=400, others_ingested=True)


VENDOR = Vendor(
    name="mixpanel",
    build_request=build_request,
    setting_names=("PROJECT_ID", "REGION"),
    secret_names=("SERVICE_ACCOUNT", "PROJECT_TOKEN"),
    required_settings=("SERVICE_ACCOUNT|PROJECT_TOKEN",),
    event_map=None,
    required_consent=("analytics_storage",),
    classify_rows=classify_rows,
    timeout=5.0,
    # Import API: "up to 2000 events and 10MB uncompressed per request"
    # (https://docs.mixpanel.com/reference/import-events); the API reference's own 413 sample
    # still says "max limit of 2097152 bytes" (https://docs.mixpanel.com/troubleshooting/errors/
    # 413-payload-too-large), so batches stay under 2 MB whichever applies. A 413 all the same
    # halves the batch (shared/delivery/batching.py).
    batch_api=array_batch(2000, split=classify_rows, max_bytes=2_000_000),
)


@functions_framework.aio.http
async def deliver(request: Request) -> JSONResponse:
    """Pub/Sub push endpoint (2xx acks, anything else retries); ``POST /drain`` in batch mode."""
    return await entry.serve(VENDOR, request)
