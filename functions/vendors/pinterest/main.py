"""Pinterest Conversions API v5 (``/v5/ad_accounts/{id}/events``). Entry point ``deliver``.

Web events deduplicated against the Pinterest tag by ``event_id``; Bearer conversion token;
``click_id`` from the ``epik`` URL parameter or the ``_epik`` cookie; user data as arrays of
SHA-256 (phone: digits with country code); ``value`` and ``item_price`` as strings. Pinterest
answers 200 with ``events[].status`` per event: a ``failed`` row is rejected with Pinterest's
message (:mod:`shared.delivery.rows`). ``PINTEREST_TEST_MODE`` (or a debug event) adds
``?test=true``: validated, nothing recorded. Skipped when ``ad_storage`` is denied. Settings
``PINTEREST_AD_ACCOUNT_ID``, ``PINTEREST_TEST_MODE``; secret ``PINTEREST_ACCESS_TOKEN``.
See docs/vendors/pinterest.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import JSONResponse

from shared.delivery import Attempt, Vendor, VendorRequest, ads, consent_policy, entry
from shared.delivery import eventdata as ed
from shared.delivery.batching import list_batch
from shared.delivery.http import Response
from shared.delivery.rows import RowFailure, row_outcomes

API_URL = "https://api.pinterest.com/v5/ad_accounts/{account}/events"
EVENT_MAP = {
    "page_view": "page_visit",
    "view_item": "page_visit",
    "view_item_list": "view_category",
    "search": "search",
    "view_search_results": "search",
    "add_to_cart": "add_to_cart",
    "add_to_wishlist": "add_to_wishlist",
    "begin_checkout": "custom",  # not in the base list: Pinterest's custom event
    "add_payment_info": "add_payment_info",
    "purchase": "checkout",
    "generate_lead": "lead",
    "contact": "contact",
    "sign_up": "signup",
}


def money(value: float | int) -> str:
    """Pinterest's decimal strings: ``143.5`` → ``"143.50"``."""
    return f"{float(value):.2f}"


def user_data(event: dict[str, Any]) -> dict[str, Any]:
    data = ads.hashed_customer_info(event, address_lists=True)
    for key, found in (
        ("client_ip_address", ed.client_ip(event)),
        ("client_user_agent", ed.text(event, "user_agent")),
        ("click_id", ads.click_id(event, "epik", "_epik", keys=("epik", "click_id"))),
    ):
        if found:
            data[key] = found
    return data


def custom_data(event: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    value, currency = ads.value(event), ads.currency(event)
    if currency:
        data["currency"] = currency
    if value is not None:
        data["value"] = money(value)
    items = ed.items(event)
    ids = [str(i["item_id"]).strip() for i in items if str(i.get("item_id") or "").strip()]
    if ids:
        data["content_ids"] = ids
    contents = []
    for item in items:
        content: dict[str, Any] = {}
        for key, source in (
            ("id", "item_id"),
            ("item_name", "item_name"),
            ("item_category", "item_category"),
            ("item_brand", "item_brand"),
        ):
            if str(item.get(source) or "").strip():
                content[key] = str(item[source]).strip()
        price = ed.number(item.get("price"))
        if price is not None:
            content["item_price"] = money(price)
        content["quantity"] = ads.quantity(item)
        contents.append(content)
    if contents:
        data["contents"] = contents
        data["num_items"] = ads.num_items(event)
    for key, source in (("order_id", "transaction_id"), ("search_string", "search_term")):
        found = ed.text(event, source)
        if found:
            data[key] = found
    return data


def build_request(event: dict[str, Any], settings: Mapping[str, str]) -> VendorRequest:
    """The normalized event → one ``events`` request carrying one web event."""
    item: dict[str, Any] = {
        "event_name": settings["EVENT"],
        "action_source": "web",
        "event_time": ads.event_seconds(event),
        "event_id": ed.text(event, "event_id"),
    }
    if ed.page_url(event):
        item["event_source_url"] = ed.page_url(event)
    if settings.get("RESTRICTED") == "1":
        item["opt_out"] = True
    item["user_data"] = user_data(event)
    data = custom_data(event)
    if data:
        item["custom_data"] = data
    url = API_URL.format(account=settings.get("AD_ACCOUNT_ID", "")) + ("?test=true" if ads.is_test(settings) else "")
    headers = {"Authorization": f"Bearer {settings.get('ACCESS_TOKEN', '')}", "Content-Type": "application/json"}
    return VendorRequest("POST", url, headers, {"data": [item]})


def classify_rows(response: Response, count: int) -> list[Attempt] | None:
    """200 ``{"events": [{"status": "processed"|"failed", "error_message"}]}``, in request order."""
    body = response.json()
    if not 200 <= response.status < 300 or not isinstance(body, dict) or not isinstance(body.get("events"), list):
        return None
    failures = {}
    for index, row in enumerate(body["events"][:count]):
        if isinstance(row, dict) and row.get("status") == "failed":
            failures[index] = RowFailure(index, "pinterest_event_failed", str(row.get("error_message") or ""))
    return row_outcomes(count, failures, status=response.status, others_ingested=True)


VENDOR = Vendor(
    name="pinterest",
    kind="ad",
    build_request=build_request,
    setting_names=("AD_ACCOUNT_ID",),
    secret_names=("ACCESS_TOKEN",),
    required_settings=("AD_ACCOUNT_ID", "ACCESS_TOKEN"),
    event_map=EVENT_MAP,
    # ad_storage to send, ad_user_data for personal data, ad_personalization denied sets the
    # restricted-processing flag (docs/vendors/README.md, "Consent per purpose").
    consent=consent_policy.AD_VENDOR,
    # Events older than 7 days are not accepted (Amperity's Pinterest page; see the doc).
    max_event_age_seconds=7 * 24 * 3600,
    classify_rows=classify_rows,
    timeout=5.0,
    # Up to 1,000 events per request; each gets its own status.
    batch_api=list_batch("data", 1000, split=classify_rows),
)


@functions_framework.aio.http
async def deliver(request: Request) -> JSONResponse:
    """Pub/Sub push endpoint (2xx acks, anything else retries); ``POST /drain`` in batch mode."""
    return await entry.serve(VENDOR, request)
