"""TikTok Events API 2.0 (``/open_api/v1.3/event/track/``). Entry point ``deliver``.

One web event per request, deduplicated against the pixel by ``event_id``; ``Access-Token``
header; ``ttclid``/``ttp`` raw, email/phone/external id hashed; page and user context.
TikTok answers HTTP 200 even on failure, so responses are classified by their ``code``.
Consent: skipped when ``ad_storage`` is denied, no personal data when ``ad_user_data`` is,
``limited_data_use`` when ``ad_personalization`` is (shared/delivery/consent_policy.py);
configuration errors (authorization codes) retry as ``vendor_misconfigured``. Settings ``TIKTOK_PIXEL_CODE``,
``TIKTOK_TEST_EVENT_CODE``, ``TIKTOK_LIMITED_DATA_USE``; secret ``TIKTOK_ACCESS_TOKEN``.
See docs/vendors/tiktok.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import JSONResponse

from shared import hashing
from shared.delivery import Attempt, Outcome, Vendor, VendorRequest, consent_policy, entry, misconfigured
from shared.delivery import eventdata as ed
from shared.delivery.batching import list_batch
from shared.delivery.http import Response

API_URL = "https://business-api.tiktok.com/open_api/v1.3/event/track/"
EVENT_MAP = {
    "page_view": "Pageview",
    "view_item": "ViewContent",
    "search": "Search",
    "view_search_results": "Search",
    "add_to_cart": "AddToCart",
    "add_to_wishlist": "AddToWishlist",
    "begin_checkout": "InitiateCheckout",
    "add_payment_info": "AddPaymentInfo",
    "purchase": "CompletePayment",
    "generate_lead": "SubmitForm",
    "sign_up": "CompleteRegistration",
    "contact": "Contact",
    "subscribe": "Subscribe",
}
# TikTok's own code list (tiktok-business-api-sdk tiktok_code.py), see docs/vendors/tiktok.md.
SUCCESS_CODES = frozenset({0, 20001})
RETRY_CODES = frozenset({40100, 40132, 61000, 60001, 50000, 50002, 40700})
# Authorization and permission: the token, the pixel or the advertiser's grant is wrong, not
# the event (PERMISSION_ERROR, FORBIDDEN, INVALID_PARTNER, the token codes 40102–40107,
# APP_FORBIDDEN, ADVERTISER_LOGOUT, NOT_IN_WHITELIST, DEVELOPER_NO_PERMISSION,
# SCOPE_NOT_AUTHORIZED, the advertiser codes 40300–40302 and REQUIRE_LOGIN).
AUTHORIZATION_CODES = frozenset(
    {
        40001,
        40003,
        40101,
        40102,
        40103,
        40104,
        40105,
        40106,
        40107,
        40113,
        40114,
        40118,
        40125,
        40130,
        40300,
        40301,
        40302,
        40309,
    }
)
# This event's data is wrong: resending it cannot help.
PERMANENT_CODES = frozenset({40000, 40002, 40061, 40062})


def ttclid_value(event: dict[str, Any]) -> str:
    """The click id: the landing URL's ``ttclid`` (a new click wins), else the one collect
    kept (event key or first-party cookie), so conversions after the landing page carry it."""
    return ed.query_param(ed.page_url(event), "ttclid") or ed.first_of(
        event, ("ttclid", "x-tt-ttclid"), ("ttclid", "_ttclid")
    )


def ttp_value(event: dict[str, Any]) -> str:
    return ed.first_of(event, ("ttp", "x-tt-ttp", "_ttp"), ("_ttp",))


def user(event: dict[str, Any]) -> dict[str, Any]:
    """TikTok's ``user``: email, phone (E.164, the calling code from the address country when
    the number is national), external id, names and zip hashed; the rest plain."""
    data: dict[str, Any] = {}
    addresses = ed.addresses(event)
    address = addresses[0] if addresses else {}
    country = ed.address_value(address, "country") if address else ""
    emails = [
        hashing.hashed(v, hashing.email_basic)
        for v in ed.user_values(event, ("email", "email_address"), ("sha256_email_address",))
    ]
    phones = [
        hashing.hashed(v, lambda p: hashing.phone_e164(p, country))
        for v in ed.user_values(event, ("phone_number", "phone"), ("sha256_phone_number",))
    ]
    externals = [
        hashing.hashed(v, hashing.trimmed)
        for v in [ed.text(event, "user_id"), *ed.user_values(event, ("external_id",), ("sha256_external_id",))]
        if v
    ]
    for key, values in (("email", emails), ("phone", phones), ("external_id", externals)):
        values = list(dict.fromkeys(v for v in values if v))
        if values:
            data[key] = values[0] if len(values) == 1 else values
    if address:
        for key, field, normalize in (
            ("first_name", "first_name", hashing.name_tiktok),
            ("last_name", "last_name", hashing.name_tiktok),
            ("zip_code", "postal_code", lambda v: v.strip().lower().replace(" ", "")),
        ):
            value = hashing.hashed(ed.address_value(address, field), normalize)
            if value:
                data[key] = value
        for key, field in (("city", "city"), ("state", "region")):
            value = str(address.get(field) or "").strip()
            if value:
                data[key] = value
        alpha2 = hashing.country_alpha2(str(address.get("country") or ""))
        if alpha2:
            data["country"] = alpha2.upper()
    for key, value in (
        ("ttclid", ttclid_value(event)),
        ("ttp", ttp_value(event)),
        ("ip", ed.visitor_ip(event)),
        ("user_agent", ed.visitor_user_agent(event)),
        ("locale", ed.text(event, "language")),
    ):
        if value:
            data[key] = value
    return data


def properties(event: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = {}
    contents = []
    for item in ed.items(event):
        content: dict[str, Any] = {}
        for key, source in (
            ("content_id", "item_id"),
            ("content_name", "item_name"),
            ("content_category", "item_category"),
            ("brand", "item_brand"),
        ):
            if str(item.get(source) or "").strip():
                content[key] = str(item[source]).strip()
        price = ed.number(item.get("price"))
        if price is not None:
            content["price"] = price
        quantity = ed.number(item.get("quantity"))
        if quantity is not None:
            content["quantity"] = int(quantity)
        if content:
            contents.append(content)
    if contents:
        props["contents"] = contents
        props["content_type"] = "product"
    value = ed.number(event.get("value"))
    if value is None:
        value = ed.items_value(event)
    if value is not None:
        props["value"] = value
    currency = ed.text(event, "currency").upper()
    if currency:
        props["currency"] = currency
    order_id = ed.text(event, "transaction_id")
    if order_id:
        props["order_id"] = order_id
    search = ed.text(event, "search_term")
    if search:
        props["query"] = search
    return props


def build_request(event: dict[str, Any], settings: Mapping[str, str]) -> VendorRequest:
    """The normalized event → one Events API 2.0 request."""
    item: dict[str, Any] = {
        "event": settings["EVENT"],
        "event_time": ed.timestamp_seconds(event),
        "event_id": ed.text(event, "event_id"),
        "user": user(event),
    }
    page = {k: v for k, v in (("url", ed.page_url(event)), ("referrer", ed.text(event, "page_referrer"))) if v}
    if page:
        item["page"] = page
    props = properties(event)
    if props:
        item["properties"] = props
    if settings.get("RESTRICTED") == "1" or settings.get("LIMITED_DATA_USE", "").lower() in ("1", "true", "yes"):
        item["limited_data_use"] = True
    body: dict[str, Any] = {"event_source": "web", "event_source_id": settings.get("PIXEL_CODE", ""), "data": [item]}
    if settings.get("TEST_EVENT_CODE"):
        body["test_event_code"] = settings["TEST_EVENT_CODE"]
    headers = {"Access-Token": settings.get("ACCESS_TOKEN", ""), "Content-Type": "application/json"}
    return VendorRequest("POST", API_URL, headers, body)


def classify(response: Response) -> Attempt | None:
    """TikTok reports failures inside HTTP 200: classify by ``code``, never by status alone."""
    if not 200 <= response.status < 300:
        return None
    body = response.json()
    code = body.get("code") if isinstance(body, dict) else None
    if not isinstance(code, int) or isinstance(code, bool):
        # A 2xx without TikTok's envelope is not a success we can vouch for: retry, so it
        # ends in the dead-letter topic rather than silently acked.
        return Attempt(
            Outcome.RETRYING, reason="tiktok_unrecognized_response", status=response.status, detail=response.excerpt()
        )
    if code in SUCCESS_CODES:
        return Attempt(Outcome.DELIVERED, status=response.status)
    detail = f"tiktok_code:{code} {body.get('message', '')}"[:500]
    if code in AUTHORIZATION_CODES:
        return misconfigured(response.status, detail)
    if code in PERMANENT_CODES:
        return Attempt(Outcome.REJECTED, reason=f"tiktok_code:{code}", status=response.status, detail=detail)
    # RETRY_CODES, 51xxx-53xxx internal errors, and any code not known to be permanent.
    return Attempt(Outcome.RETRYING, reason=f"tiktok_code:{code}", status=response.status, detail=detail)


VENDOR = Vendor(
    name="tiktok",
    kind="ad",
    build_request=build_request,
    setting_names=("PIXEL_CODE", "TEST_EVENT_CODE", "LIMITED_DATA_USE"),
    secret_names=("ACCESS_TOKEN",),
    required_settings=("PIXEL_CODE", "ACCESS_TOKEN"),
    event_map=EVENT_MAP,
    consent=consent_policy.AD_VENDOR,
    test_event_code_setting="TEST_EVENT_CODE",
    max_event_age_seconds=7 * 24 * 3600,
    classify=classify,
    timeout=5.0,
    # Batch mode: up to 1,000 events in "data" per request; one bad event fails them all
    # (https://business-api.tiktok.com/portal/docs?id=1771100779668482).
    batch_api=list_batch("data", 1000),
)


@functions_framework.aio.http
async def deliver(request: Request) -> JSONResponse:
    """Pub/Sub push endpoint (2xx acks, anything else retries); ``POST /drain`` in batch mode."""
    return await entry.serve(VENDOR, request)
