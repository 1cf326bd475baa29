"""Microsoft Advertising UET Conversions API (``capi.uet.microsoft.com/v1/{tag}/events``).
Entry point ``deliver``.

``page_view`` is a ``pageLoad``; every other mapped event a ``custom`` event named by its GA4
name, with UET's ``pageType`` where one fits. Deduplicated against the UET tag by ``eventId``;
``msclkid`` from the URL or the ``_uetmsclkid`` cookie (``_uet`` prefix removed), ``_uetvid``
as ``anonymousId``; email and phone hashed. ``adStorageConsent`` is ``G`` or ``D`` from the
event's ``ad_storage``: denied skips the event by default; with ``MICROSOFT_CONSENT_SEND=-``
it is sent with ``D`` (as the UET tag's consent mode does), without any identifier but IP and
user agent. Microsoft answers 200 with
``error.details[{index, errorMessage}]`` for the events it refused (``continueOnValidationError``):
those rows are rejected. No test mode exists: debug events are skipped. Setting
``MICROSOFT_TAG_ID``; secret ``MICROSOFT_ACCESS_TOKEN``. See docs/vendors/microsoft.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import JSONResponse

from shared import hashing
from shared.delivery import Attempt, Skip, Vendor, VendorRequest, ads, consent_policy, entry
from shared.delivery import eventdata as ed
from shared.delivery.batching import list_batch
from shared.delivery.http import Response
from shared.delivery.rows import RowFailure, row_outcomes

API_URL = "https://capi.uet.microsoft.com/v1/{tag}/events"
PAGE_LOAD = "pageLoad"
EVENT_MAP = {
    name: name
    for name in (
        "view_item",
        "view_item_list",
        "search",
        "view_search_results",
        "add_to_cart",
        "view_cart",
        "add_to_wishlist",
        "begin_checkout",
        "add_payment_info",
        "purchase",
        "generate_lead",
        "sign_up",
        "contact",
        "subscribe",
        "start_trial",
    )
}
EVENT_MAP["page_view"] = PAGE_LOAD
PAGE_TYPES = {
    "view_item": "product",
    "view_item_list": "category",
    "search": "searchresults",
    "view_search_results": "searchresults",
    "view_cart": "cart",
    "purchase": "purchase",
}


def ad_storage(event: dict[str, Any]) -> str:
    raw = event.get("consent")
    consent: dict[str, Any] = raw if isinstance(raw, dict) else {}
    return "D" if str(consent.get("ad_storage") or "").lower() == "denied" else "G"


def user_data(event: dict[str, Any], granted: bool) -> dict[str, Any]:
    data: dict[str, Any] = {}
    pairs = [("clientIpAddress", ed.client_ip(event)), ("clientUserAgent", ed.text(event, "user_agent"))]
    if granted:
        email = next(iter(ed.user_values(event, ("email", "email_address"), ("sha256_email_address",))), "")
        phone = next(iter(ed.user_values(event, ("phone_number", "phone"), ("sha256_phone_number",))), "")
        external = ed.text(event, "user_id")
        pairs = [
            ("em", hashing.hashed(email, hashing.email_basic)),
            ("ph", hashing.hashed(phone, hashing.phone_digits)),
            ("externalId", hashing.hashed(external, hashing.trimmed) if external else ""),
            *pairs,
            ("msclkid", ads.click_id(event, "msclkid", "_uetmsclkid", ads.after_prefix("_uet"), keys=("msclkid",))),
            ("anonymousId", ed.first_of(event, ("uetvid", "_uetvid"), ("_uetvid",))),
        ]
    for key, found in pairs:
        if found:
            data[key] = found
    return data


def custom_data(event: dict[str, Any], ga4_name: str) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if ga4_name in PAGE_TYPES:
        data["pageType"] = PAGE_TYPES[ga4_name]
    for key, source in (("transactionId", "transaction_id"), ("searchTerm", "search_term")):
        found = ed.text(event, source)
        if found:
            data[key] = found
    value, currency = ads.value(event), ads.currency(event)
    if value is not None:
        data["value"] = value
    if currency:
        data["currency"] = currency
    items = ed.items(event)
    ids = [str(i["item_id"]).strip() for i in items if str(i.get("item_id") or "").strip()]
    if ids:
        data["itemIds"] = ids
    found_items = []
    for item in items:
        entry_: dict[str, Any] = {
            key: str(item[source]).strip()
            for key, source in (("id", "item_id"), ("name", "item_name"))
            if str(item.get(source) or "").strip()
        }
        price = ed.number(item.get("price"))
        if price is not None:
            entry_["price"] = price
        entry_["quantity"] = ads.quantity(item)
        found_items.append(entry_)
    if found_items:
        data["items"] = found_items
    return data


def build_request(event: dict[str, Any], settings: Mapping[str, str]) -> VendorRequest:
    """The normalized event → one UET CAPI request carrying one event."""
    if settings.get("DEBUG") == "1":
        raise Skip("debug_without_test_mode")
    consent = ad_storage(event)
    ga4_name = str(event.get("event_name") or "")
    item: dict[str, Any] = {"eventType": "pageLoad" if settings["EVENT"] == PAGE_LOAD else "custom"}
    if item["eventType"] == "custom":
        item["eventName"] = settings["EVENT"]
    item["eventId"] = ed.text(event, "event_id")
    item["eventTime"] = ads.event_seconds(event)
    for key, found in (
        ("eventSourceUrl", ed.page_url(event)),
        ("pageTitle", ed.text(event, "page_title")),
        ("referrerUrl", ed.text(event, "page_referrer")),
    ):
        if found:
            item[key] = found
    item["adStorageConsent"] = consent
    item["userData"] = user_data(event, consent == "G")
    data = custom_data(event, ga4_name)
    if data:
        item["customData"] = data
    headers = {"Authorization": f"Bearer {settings.get('ACCESS_TOKEN', '')}", "Content-Type": "application/json"}
    # continueOnValidationError: valid events are kept and each refused one is reported.
    return VendorRequest(
        "POST",
        API_URL.format(tag=settings.get("TAG_ID", "")),
        headers,
        {"data": [item], "continueOnValidationError": True},
    )


def classify_rows(response: Response, count: int) -> list[Attempt] | None:
    """200 ``{"eventsReceived", "error": {"details": [{"index", "propertyName", "errorMessage"}]}}``."""
    body = response.json()
    if not 200 <= response.status < 300 or not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return None
    failures: dict[int, RowFailure] = {}
    for detail in body["error"].get("details") or []:
        if isinstance(detail, dict) and isinstance(detail.get("index"), int) and 0 <= detail["index"] < count:
            field = str(detail.get("propertyName") or "unknown")[:60]
            failures.setdefault(
                detail["index"],
                RowFailure(detail["index"], f"microsoft_invalid:{field}", str(detail.get("errorMessage") or "")),
            )
    return row_outcomes(count, failures, status=response.status, others_ingested=True)


VENDOR = Vendor(
    name="microsoft",
    kind="ad",
    build_request=build_request,
    setting_names=("TAG_ID",),
    secret_names=("ACCESS_TOKEN",),
    required_settings=("TAG_ID", "ACCESS_TOKEN"),
    event_map=EVENT_MAP,
    # Like every ad vendor by default: ad_storage denied skips the event. MICROSOFT_CONSENT_SEND=-
    # sends it anyway with adStorageConsent "D" and no identifiers (the UET tag's consent mode).
    consent=consent_policy.AD_VENDOR,
    classify_rows=classify_rows,
    timeout=5.0,
    # 1,000 events per request (Segment's fixed batch size; Microsoft documents none).
    batch_api=list_batch("data", 1000, split=classify_rows),
)


@functions_framework.aio.http
async def deliver(request: Request) -> JSONResponse:
    """Pub/Sub push endpoint (2xx acks, anything else retries); ``POST /drain`` in batch mode."""
    return await entry.serve(VENDOR, request)
