"""Reddit Conversions API v3 (``/api/v3/pixels/{pixel}/conversion_events``). Entry point ``deliver``.

Web events deduplicated against the Reddit Pixel by ``metadata.conversion_id`` = ``event_id``;
``event_at`` in milliseconds; ``click_id`` from the ``rdt_cid`` URL parameter or the
``_rdt_cid`` cookie; ``uuid`` is the part after the dot of the ``_rdt_uuid`` cookie; email
(Reddit's canonical form) and phone hashed. Debug events (or ``REDDIT_TEST_MODE=all``) carry
``data.test_id`` = ``REDDIT_TEST_ID`` and travel apart from live ones. Skipped when
``ad_storage`` is denied. Settings ``REDDIT_PIXEL_ID``, ``REDDIT_TEST_ID``; secret
``REDDIT_ACCESS_TOKEN``. See docs/vendors/reddit.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Hashable, Mapping
from typing import Any

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import JSONResponse

from shared import hashing
from shared.delivery import Vendor, VendorRequest, ads, consent_policy, entry
from shared.delivery import eventdata as ed
from shared.delivery.batching import BatchApi

API_URL = "https://ads-api.reddit.com/api/v3/pixels/{pixel}/conversion_events"
EVENT_MAP = {
    "page_view": "PAGE_VISIT",
    "view_item": "VIEW_CONTENT",
    "search": "SEARCH",
    "view_search_results": "SEARCH",
    "add_to_cart": "ADD_TO_CART",
    "add_to_wishlist": "ADD_TO_WISHLIST",
    "purchase": "PURCHASE",
    "generate_lead": "LEAD",
    "contact": "LEAD",
    "sign_up": "SIGN_UP",
    # No Reddit type: sent as CUSTOM with the GA4 name as custom_event_name.
    "begin_checkout": "begin_checkout",
    "add_payment_info": "add_payment_info",
}
TRACKING_TYPES = frozenset(
    {"PAGE_VISIT", "VIEW_CONTENT", "SEARCH", "ADD_TO_CART", "ADD_TO_WISHLIST", "LEAD", "PURCHASE", "SIGN_UP"}
)
# Reddit honours value/currency only on these (see docs/vendors/reddit.md).
VALUE_TYPES = frozenset({"PURCHASE", "ADD_TO_CART", "ADD_TO_WISHLIST", "LEAD", "SIGN_UP", "CUSTOM"})
_NON_ALNUM = re.compile(r"[^a-z0-9]")


def email_reddit(value: str) -> str:
    """Reddit's advanced-matching form: lowercase, ``+alias`` dropped, only letters and digits
    in the local part (``Al.ice$+Apple@Example.Com`` → ``alice@example.com``)."""
    local, at, domain = value.strip().lower().partition("@")
    if not at:
        return ""
    local = _NON_ALNUM.sub("", local.split("+", 1)[0])
    return f"{local}@{domain}" if local and domain else ""


def uuid_from_cookie(raw: str) -> str:
    """``_rdt_uuid`` is ``<ms timestamp>.<uuid>``; Reddit wants the uuid."""
    return raw.split(".", 1)[1] if "." in raw else raw


def user(event: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    emails = [
        hashing.hashed(v, email_reddit)
        for v in ed.user_values(event, ("email", "email_address"), ("sha256_email_address",))
    ]
    phones = [
        hashing.hashed(v, hashing.phone_e164)
        for v in ed.user_values(event, ("phone_number", "phone"), ("sha256_phone_number",))
    ]
    external = ed.text(event, "user_id") or next(
        iter(ed.user_values(event, ("external_id",), ("sha256_external_id",))), ""
    )
    for key, found in (
        ("email", next((v for v in emails if v), "")),
        ("phone_number", next((v for v in phones if v), "")),
        ("external_id", hashing.hashed(external, hashing.trimmed) if external else ""),
        ("ip_address", ed.client_ip(event)),
        ("user_agent", ed.text(event, "user_agent")),
        ("uuid", uuid_from_cookie(ed.first_of(event, ("rdt_uuid", "_rdt_uuid"), ("_rdt_uuid",)))),
    ):
        if found:
            data[key] = found
    width, _, height = ed.text(event, "screen_resolution").partition("x")
    if width.isdigit() and height.isdigit():
        data["screen_dimensions"] = {"width": int(width), "height": int(height)}
    return data


def metadata(event: dict[str, Any], tracking_type: str) -> dict[str, Any]:
    data: dict[str, Any] = {"conversion_id": ed.text(event, "event_id")}
    value, currency = ads.value(event), ads.currency(event)
    if tracking_type in VALUE_TYPES:
        if currency:
            data["currency"] = currency
        if value is not None:
            data["value"] = value
    items = ed.items(event)
    if items:
        data["item_count"] = ads.num_items(event)
        products = []
        for item in items:
            product = {
                key: str(item[source]).strip()
                for key, source in (("id", "item_id"), ("name", "item_name"), ("category", "item_category"))
                if str(item.get(source) or "").strip()
            }
            if product:
                products.append(product)
        if products:
            data["products"] = products
    return data


def build_request(event: dict[str, Any], settings: Mapping[str, str]) -> VendorRequest:
    """The normalized event → one conversion_events request carrying one event."""
    name = settings["EVENT"]
    tracking = (
        {"tracking_type": name} if name in TRACKING_TYPES else {"tracking_type": "CUSTOM", "custom_event_name": name}
    )
    item: dict[str, Any] = {
        "event_at": ads.event_millis(event),
        "action_source": "WEBSITE",
        "type": tracking,
    }
    # No event_source_url: v3 events have none, and Reddit refuses unknown JSON fields
    # ("JSON error \"unknown field\""), which would fail every event.
    click = ads.click_id(event, "rdt_cid", "_rdt_cid", keys=("rdt_cid",))
    if click:
        item["click_id"] = click
    item["metadata"] = metadata(event, tracking["tracking_type"])
    item["user"] = user(event)
    if settings.get("RESTRICTED") == "1":
        item["user"]["data_processing_options"] = {"modes": ["LDU"]}
    body: dict[str, Any] = {"data": {"events": [item]}}
    if settings.get("TEST_ID"):
        body["data"] = {"test_id": settings["TEST_ID"], "events": [item]}
    headers = {"Authorization": f"Bearer {settings.get('ACCESS_TOKEN', '')}", "Content-Type": "application/json"}
    return VendorRequest("POST", API_URL.format(pixel=settings.get("PIXEL_ID", "")), headers, body)


def _batch_api(max_events: int) -> BatchApi:
    """Events live in ``data.events``; ``data.test_id`` is shared, so test and live never mix."""

    def key(request: VendorRequest) -> Hashable:
        shared = {k: v for k, v in request.json["data"].items() if k != "events"}
        return (request.url, tuple(sorted(request.headers.items())), json.dumps(shared, sort_keys=True))

    def combine(requests: list[VendorRequest]) -> VendorRequest:
        first = requests[0]
        events = [e for r in requests for e in r.json["data"]["events"]]
        return VendorRequest(
            first.method, first.url, dict(first.headers), {"data": {**first.json["data"], "events": events}}
        )

    def events(request: VendorRequest) -> int:
        return len(request.json["data"]["events"])

    return BatchApi(max_events=max_events, key=key, combine=combine, events=events)


VENDOR = Vendor(
    name="reddit",
    kind="ad",
    build_request=build_request,
    setting_names=("PIXEL_ID", "TEST_ID"),
    secret_names=("ACCESS_TOKEN",),
    required_settings=("PIXEL_ID", "ACCESS_TOKEN"),
    event_map=EVENT_MAP,
    # ad_storage to send, ad_user_data for personal data, ad_personalization denied sets the
    # restricted-processing flag (docs/vendors/README.md, "Consent per purpose").
    consent=consent_policy.AD_VENDOR,
    test_event_code_setting="TEST_ID",
    # "Events must be sent within seven days after they occur" (About the Conversions API).
    max_event_age_seconds=7 * 24 * 3600,
    timeout=5.0,
    # No documented v3 cap: 500 (docs/vendors/reddit.md); a 400 fails the whole request, so
    # the batch is bisected until the bad event stands alone.
    batch_api=_batch_api(500),
)


@functions_framework.aio.http
async def deliver(request: Request) -> JSONResponse:
    """Pub/Sub push endpoint (2xx acks, anything else retries); ``POST /drain`` in batch mode."""
    return await entry.serve(VENDOR, request)
