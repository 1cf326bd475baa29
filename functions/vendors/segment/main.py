"""Segment HTTP Tracking API (``/v1/page`` for page views, ``/v1/track`` for the rest).
Entry point ``deliver``.

Every event, ecommerce ones under Segment's Spec names (``purchase`` → ``Order Completed``,
...), deduplicated by ``messageId`` = ``event_id``; ``userId``/``anonymousId`` by the shared
identity rule (user_id; client_id); ``context.ip``, ``userAgent``, ``locale``, ``page`` and
``campaign`` (UTM); ``timestamp`` ISO 8601. Basic auth with the write key. Batch mode merges
the pulled calls into ``/v1/batch`` (each call with its ``type``, under 500 KB). Skipped when
``analytics_storage`` is denied. Settings ``SEGMENT_REGION`` (``eu`` →
``events.eu1.segmentapis.com``); secret ``SEGMENT_WRITE_KEY``. See docs/vendors/segment.md.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Hashable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import JSONResponse

from shared.delivery import Reject, Vendor, VendorRequest, analytics, entry, geo
from shared.delivery import eventdata as ed
from shared.delivery.batching import BatchApi

# https://www.twilio.com/docs/segment/guides/regional-segment (EU workspaces must use theirs).
BASES = {"us": "https://api.segment.io/v1", "eu": "https://events.eu1.segmentapis.com/v1"}
# "There is a maximum of 32KB per call (our batch endpoint accepts a maximum of 500KB per
# batch and 32KB per call)" (HTTP Tracking API, Max request size:
# https://www.twilio.com/docs/segment/connections/sources/catalog/libraries/server/http-api).
MAX_EVENT_BYTES = 32 * 1024  # the HTTP API refuses larger calls
MAX_BATCH_BYTES = 500_000  # 500 KB, read as decimal kilobytes: the smaller reading
# No documented count limit: the bytes decide; 1,000 is the most one pull brings.
MAX_BATCH_CALLS = 1000
# GA4 ecommerce and account events → Segment's Spec names (docs/vendors/segment.md).
SPEC_NAMES = {
    "view_item_list": "Product List Viewed",
    "select_item": "Product Clicked",
    "view_item": "Product Viewed",
    "add_to_cart": "Product Added",
    "remove_from_cart": "Product Removed",
    "add_to_wishlist": "Product Added to Wishlist",
    "view_cart": "Cart Viewed",
    "begin_checkout": "Checkout Started",
    "add_payment_info": "Payment Info Entered",
    "purchase": "Order Completed",
    "refund": "Order Refunded",
    "search": "Products Searched",
    "view_promotion": "Promotion Viewed",
    "select_promotion": "Promotion Clicked",
    "sign_up": "Signed Up",
    "login": "Signed In",
}
PRODUCT_EVENTS = frozenset(
    {"Product Clicked", "Product Viewed", "Product Added", "Product Removed", "Product Added to Wishlist"}
)
ORDER_EVENTS = frozenset(
    {
        "Product List Viewed",
        "Cart Viewed",
        "Checkout Started",
        "Payment Info Entered",
        "Order Completed",
        "Order Refunded",
    }
)
# GA4 parameter → Spec property of an order (Spec: V2 Ecommerce Events).
ORDER_FIELDS = (
    ("transaction_id", "order_id"),
    ("value", "total"),
    ("shipping", "shipping"),
    ("tax", "tax"),
    ("discount", "discount"),
    ("coupon", "coupon"),
    ("currency", "currency"),
    ("item_list_id", "list_id"),
    ("item_list_name", "category"),
)
# GA4 item key → Spec product key.
PRODUCT_FIELDS = (
    ("item_id", "product_id"),
    ("item_id", "sku"),
    ("item_name", "name"),
    ("item_brand", "brand"),
    ("item_category", "category"),
    ("item_variant", "variant"),
    ("price", "price"),
    ("quantity", "quantity"),
    ("coupon", "coupon"),
    ("index", "position"),
)


def product(item: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for source, key in PRODUCT_FIELDS:
        value = item.get(source)
        if value is None or value == "":
            continue
        if source in ("price", "quantity", "index"):
            value = ed.number(value)
            if value is None:
                continue
        found[key] = value
    return found


def spec_properties(event: dict[str, Any], name: str) -> dict[str, Any]:
    """Spec properties for the ecommerce events; the event's other parameters as they are."""
    params = analytics.event_parameters(event)
    props: dict[str, Any] = {}
    items = ed.items(event)
    if name in PRODUCT_EVENTS and items:
        props.update(product(items[0]))
        for source, key in (("currency", "currency"), ("value", "value")):
            if source in params:
                props[key] = params.pop(source)
    elif name in ORDER_EVENTS:
        for source, key in ORDER_FIELDS:
            if source in params:
                props[key] = params.pop(source)
        if name in ("Order Completed", "Order Refunded", "Checkout Started") and "total" not in props:
            value = analytics.value_of(event)
            if value is not None:
                props["total"] = value
        if items:
            props["products"] = [product(item) for item in items]
    elif name == "Products Searched" and "search_term" in params:
        props["query"] = params.pop("search_term")
    elif items:
        props["items"] = items
    for key, value in params.items():
        props.setdefault(key, value)
    if isinstance(props.get("currency"), str):
        props["currency"] = props["currency"].strip().upper()  # Spec: ISO 4217 code
    return props


def page_context(event: dict[str, Any]) -> dict[str, str]:
    """Segment's page fields: ``path``, ``referrer``, ``search``, ``title``, ``url``."""
    url = ed.page_url(event)
    try:
        parts = urlsplit(url) if url else None
    except ValueError:
        parts = None
    page = {
        "path": ed.text(event, "page_path") or (parts.path if parts else ""),
        "referrer": ed.text(event, "page_referrer"),
        "search": f"?{parts.query}" if parts and parts.query else "",
        "title": ed.text(event, "page_title"),
        "url": url,
    }
    return {key: value for key, value in page.items() if value}


def timestamp(event: dict[str, Any]) -> str:
    millis = analytics.timestamp_millis(event)
    moment = datetime.fromtimestamp(millis / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_request(event: dict[str, Any], settings: Mapping[str, str]) -> VendorRequest:
    """The normalized event → one ``page`` (page_view) or ``track`` call."""
    try:
        who = analytics.identity(event)
    except analytics.MissingIdentity as exc:
        raise Reject(str(exc)) from None
    region = (settings.get("REGION") or "us").strip().lower()
    if region not in BASES:
        raise Reject(f"unknown_region:{region[:20]}")
    ga4_name = ed.text(event, "event_name")
    name = settings["EVENT"]
    if name == ga4_name:  # not renamed by SEGMENT_EVENT_MAP: Segment's Spec name when it has one
        name = SPEC_NAMES.get(ga4_name, name)
    call: dict[str, Any] = {}
    if who.user_id:
        call["userId"] = who.user_id
    if who.anonymous_id:
        call["anonymousId"] = who.anonymous_id
    page = page_context(event)
    context: dict[str, Any] = {}
    for key, value in (
        ("ip", ed.client_ip(event)),
        ("userAgent", ed.text(event, "user_agent")),
        ("locale", ed.text(event, "language")),
    ):
        if value:
            context[key] = value
    if page:
        context["page"] = page
    # Spec: Common Fields, context.location "containing city, country, latitude, longitude,
    # region and speed", its example a country *name* ("United States")
    # (https://segment.com/docs/connections/spec/common/#context). We hold codes for country and
    # region (destinations such as Amplitude read names there), so only the city goes.
    city = geo.location(event).get("city")
    if city:
        context["location"] = {"city": city}
    utm = analytics.campaign(event)
    if utm:
        # Segment's campaign object names utm_campaign "name" (Spec: Common Fields, context).
        context["campaign"] = {("name" if key == "utm_campaign" else key[4:]): value for key, value in utm.items()}
    users = analytics.user_properties(event)
    if users:
        context["traits"] = users
    if ga4_name == "page_view" and name == "page_view":
        endpoint = "page"
        props: dict[str, Any] = dict(page)
        for key, value in analytics.event_parameters(event).items():
            props.setdefault(key, value)
    else:
        endpoint = "track"
        call["event"] = name
        props = spec_properties(event, name)
    if settings.get("DEBUG") == "1":
        props["debug_mode"] = True
    call["properties"] = props
    call["context"] = context
    call["timestamp"] = timestamp(event)
    call["messageId"] = ed.text(event, "event_id")
    if not call["messageId"]:
        raise Reject("missing_field:event_id")
    if len(json.dumps(call, separators=(",", ":")).encode()) > MAX_EVENT_BYTES:
        raise Reject("segment_call_over_32kb")
    credentials = base64.b64encode(f"{settings.get('WRITE_KEY', '')}:".encode()).decode()
    headers = {"Authorization": f"Basic {credentials}", "Content-Type": "application/json"}
    return VendorRequest("POST", f"{BASES[region]}/{endpoint}", headers, call)


def _split_url(url: str) -> tuple[str, str]:
    """``https://api.segment.io/v1/track`` → (``https://api.segment.io/v1``, ``track``)."""
    base, _, endpoint = url.rpartition("/")
    return base, endpoint


def batch_key(request: VendorRequest) -> Hashable:
    """Calls to the same API base (region) with the same write key may share a batch, whatever
    their endpoint: each call in a batch names its own ``type``."""
    return (request.method, _split_url(request.url)[0], tuple(sorted(request.headers.items())))


def combine(requests: list[VendorRequest]) -> VendorRequest:
    """Single calls → one ``POST {base}/batch`` of ``{"batch": [{"type": <endpoint>, ...call}]}``
    (HTTP Tracking API, Batch); a call already a batch contributes its calls."""
    first = requests[0]
    base = _split_url(first.url)[0]
    calls: list[dict[str, Any]] = []
    for request in requests:
        body = request.json
        if isinstance(body, dict) and isinstance(body.get("batch"), list):
            calls.extend(body["batch"])
        else:
            calls.append({"type": _split_url(request.url)[1], **body})
    return VendorRequest(first.method, f"{base}/batch", dict(first.headers), {"batch": calls})


def batch_events(request: VendorRequest) -> int:
    body = request.json
    return len(body["batch"]) if isinstance(body, dict) and isinstance(body.get("batch"), list) else 1


# Segment answers the batch as a whole: 200 for everything but an oversize or invalid JSON
# body, which is a 400 ("Segment returns a 200 response for all API requests except errors
# caused by large payloads and JSON errors", HTTP Tracking API, Errors). There is no per-call
# answer to split, so no ``split`` hook: a 400 halves the batch until the bad call stands alone.
BATCH_API = BatchApi(
    max_events=MAX_BATCH_CALLS,
    key=batch_key,
    combine=combine,
    events=batch_events,
    max_bytes=MAX_BATCH_BYTES,
)


VENDOR = Vendor(
    name="segment",
    build_request=build_request,
    setting_names=("REGION",),
    secret_names=("WRITE_KEY",),
    required_settings=("WRITE_KEY",),
    event_map=None,
    required_consent=("analytics_storage",),
    timeout=5.0,
    batch_api=BATCH_API,
)


@functions_framework.aio.http
async def deliver(request: Request) -> JSONResponse:
    """Pub/Sub push endpoint (2xx acks, anything else retries); ``POST /drain`` in batch mode."""
    return await entry.serve(VENDOR, request)
