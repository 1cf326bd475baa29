"""Snapchat Conversions API v3 (``tr.snapchat.com/v3/{pixel}/events``). Entry point ``deliver``.

Web events, deduplicated against the Snap Pixel by ``event_id``; the token as a Bearer header
(Snap's v3 SDK), never in the URL. ``sc_click_id`` from the ``ScCid`` URL parameter or the
``_scclid`` cookie, ``sc_cookie1`` from ``_scid``; email/phone/name/address hashed after Meta-
style normalization (phone: digits with country code, no ``+``). ``SNAPCHAT_TEST_MODE`` (or a
debug event) sends to ``/events/validate``, which records nothing. Skipped when ``ad_storage``
is denied. Settings ``SNAPCHAT_PIXEL_ID``, ``SNAPCHAT_TEST_MODE``; secret
``SNAPCHAT_ACCESS_TOKEN``. See docs/vendors/snapchat.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import JSONResponse

from shared.delivery import Attempt, Outcome, Reject, Vendor, VendorRequest, ads, consent_policy, entry
from shared.delivery import eventdata as ed
from shared.delivery.batching import list_batch
from shared.delivery.http import Response

API_URL = "https://tr.snapchat.com/v3/{pixel}/events"
EVENT_MAP = {
    "page_view": "PAGE_VIEW",
    "view_item": "VIEW_CONTENT",
    "view_item_list": "LIST_VIEW",
    "search": "SEARCH",
    "view_search_results": "SEARCH",
    "add_to_cart": "ADD_CART",
    "add_to_wishlist": "ADD_TO_WISHLIST",
    "begin_checkout": "START_CHECKOUT",
    "add_payment_info": "ADD_BILLING",
    "purchase": "PURCHASE",
    # Snap has no LEAD event; Snap's own sGTM tag maps generate_lead to SIGN_UP.
    "generate_lead": "SIGN_UP",
    "sign_up": "SIGN_UP",
    "login": "LOGIN",
    "subscribe": "SUBSCRIBE",
    "start_trial": "START_TRIAL",
    "share": "SHARE",
}


def user_data(event: dict[str, Any]) -> dict[str, Any]:
    data = ads.hashed_customer_info(event)
    for key, found in (
        ("client_ip_address", ed.client_ip(event)),
        ("client_user_agent", ed.text(event, "user_agent")),
        ("sc_click_id", ads.click_id(event, "ScCid", "_scclid", keys=("ScCid", "sccid", "sc_click_id"))),
        ("sc_cookie1", ed.first_of(event, ("sc_cookie1", "_scid"), ("_scid",))),
    ):
        if found:
            data[key] = found
    return data


def custom_data(event: dict[str, Any], name: str) -> dict[str, Any]:
    data: dict[str, Any] = {}
    items = ed.items(event)
    value, currency = ads.value(event), ads.currency(event)
    if currency:
        data["currency"] = currency
    if value is not None:
        data["value"] = value
    ids = [str(i["item_id"]).strip() for i in items if str(i.get("item_id") or "").strip()]
    if ids:
        data["content_ids"] = ids
    contents = []
    for item in items:
        content: dict[str, Any] = {}
        if str(item.get("item_id") or "").strip():
            content["id"] = str(item["item_id"]).strip()
        content["quantity"] = ads.quantity(item)
        price = ed.number(item.get("price"))
        if price is not None:
            content["item_price"] = price
        if str(item.get("item_brand") or "").strip():
            content["brand"] = str(item["item_brand"]).strip()
        contents.append(content)
    if contents:
        data["contents"] = contents
        data["num_items"] = ads.num_items(event)
    for key, source in (("order_id", "transaction_id"), ("search_string", "search_term"), ("sign_up_method", "method")):
        found = ed.text(event, source)
        if found:
            data[key] = found
    if name == "PURCHASE" and (value is None or not currency):
        # Snap answers 400 INVALID for a PURCHASE without price and currency (VerifySetUp).
        raise Reject("purchase_without_value_or_currency")
    return data


def build_request(event: dict[str, Any], settings: Mapping[str, str]) -> VendorRequest:
    """The normalized event → one CAPI v3 request carrying one web event."""
    name = settings["EVENT"]
    item: dict[str, Any] = {
        "event_name": name,
        "event_time": ads.event_seconds(event),
        "event_id": ed.text(event, "event_id"),
        "action_source": "WEB",
        "event_source_url": ed.page_url(event),
        "user_data": user_data(event),
    }
    if not item["event_source_url"]:
        del item["event_source_url"]
    data = custom_data(event, name)
    if data:
        item["custom_data"] = data
    if settings.get("RESTRICTED") == "1":
        item["data_processing_options"] = ["LDU"]
    url = API_URL.format(pixel=settings.get("PIXEL_ID", "")) + ("/validate" if ads.is_test(settings) else "")
    headers = {"Authorization": f"Bearer {settings.get('ACCESS_TOKEN', '')}", "Content-Type": "application/json"}
    return VendorRequest("POST", url, headers, {"data": [item]})


def classify(response: Response) -> Attempt | None:
    """v3 answers ``{"status": "VALID"|"INVALID", "reason"}``; INVALID is permanent."""
    body = response.json()
    status = body.get("status") if isinstance(body, dict) else None
    if 200 <= response.status < 300 and status == "INVALID":
        return Attempt(
            Outcome.REJECTED,
            reason="snapchat_invalid",
            status=response.status,
            detail=str(body.get("reason") or body.get("errors") or "")[:500],
        )
    return None


VENDOR = Vendor(
    name="snapchat",
    kind="ad",
    build_request=build_request,
    setting_names=("PIXEL_ID",),
    secret_names=("ACCESS_TOKEN",),
    required_settings=("PIXEL_ID", "ACCESS_TOKEN"),
    event_map=EVENT_MAP,
    # ad_storage to send, ad_user_data for personal data, ad_personalization denied sets the
    # restricted-processing flag (docs/vendors/README.md, "Consent per purpose").
    consent=consent_policy.AD_VENDOR,
    # Snap v3 Introduction: events up to 37 days back are eligible.
    max_event_age_seconds=37 * 24 * 3600,
    classify=classify,
    timeout=5.0,
    # Up to 2,000 events per request (Snapchat/business-sdk-go README).
    batch_api=list_batch("data", 2000),
)


@functions_framework.aio.http
async def deliver(request: Request) -> JSONResponse:
    """Pub/Sub push endpoint (2xx acks, anything else retries); ``POST /drain`` in batch mode."""
    return await entry.serve(VENDOR, request)
