"""Meta Conversions API. Entry point ``deliver``.

One ``POST /{version}/{pixel}/events`` per event, deduplicated against the browser pixel by
the same ``event_id`` and ``event_name``; ``action_source`` website, ``event_source_url``,
``user_data`` normalized and hashed to Meta's rules (IP, user agent, ``fbc``, ``fbp`` raw),
``custom_data`` from the GA4 ecommerce parameters. Consent: skipped when ``ad_storage`` is
denied, no personal data when ``ad_user_data`` is, LDU when ``ad_personalization`` is
(shared/delivery/consent_policy.py). Graph errors that mean a wrong pixel, token or
permission retry as ``vendor_misconfigured``. The token travels in the body, not the URL.
Settings ``META_PIXEL_ID``, ``META_TEST_EVENT_CODE``, ``META_API_VERSION`` (default v24.0),
``META_LIMITED_DATA_USE``, ``META_COOKIE_DOMAIN``; secret ``META_ACCESS_TOKEN``.
See docs/vendors/meta.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import JSONResponse

from shared import hashing
from shared.delivery import Attempt, Outcome, Reject, Vendor, VendorRequest, consent_policy, entry, misconfigured
from shared.delivery import eventdata as ed
from shared.delivery.batching import list_batch
from shared.delivery.http import Response
from shared.first_party import domain as domains

API_ORIGIN = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v24.0"
EVENT_MAP = {
    "page_view": "PageView",
    "view_item": "ViewContent",
    "search": "Search",
    "view_search_results": "Search",
    "add_to_cart": "AddToCart",
    "add_to_wishlist": "AddToWishlist",
    "begin_checkout": "InitiateCheckout",
    "add_payment_info": "AddPaymentInfo",
    "purchase": "Purchase",
    "generate_lead": "Lead",
    "sign_up": "CompleteRegistration",
    "contact": "Contact",
    "subscribe": "Subscribe",
    "start_trial": "StartTrial",
}
# Graph API error codes worth retrying (Rudder's classification, docs/vendors/meta.md).
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 341, 368, 613, 5000, 21009, 80003, 80004})
# Errors in this event's data (100 invalid parameter, e.g. 2804003 too old; 105 too many
# parameters): resending it cannot help. Everything not listed anywhere retries.
PERMANENT_CODES = frozenset({100, 105})


def _host(url_or_host: str) -> str:
    host = url_or_host.strip().lower()
    if "://" in host:
        host = urlsplit(host).hostname or ""
    return host.split(":")[0].strip(".")


def subdomain_index(event: dict[str, Any], settings: Mapping[str, str]) -> int:
    """The ``fb.<index>.`` of a cookie: the level of the domain the cookie is set on, as
    collect computes it for the ``_fbc`` it sets (``shared.first_party.domain``).

    ``COOKIE_DOMAIN`` (the same value as collect's) when configured, else the page host's
    eTLD+1 from the Public Suffix List (``www.shop.example.co.uk`` → ``example.co.uk`` → 2);
    an IP address or a single label → 0.
    """
    configured = _host(settings.get("COOKIE_DOMAIN", ""))
    if configured:
        return 0 if domains.is_ip(configured) else domains.subdomain_index(configured)
    host = _host(ed.text(event, "page_hostname") or ed.page_url(event))
    return domains.subdomain_index(domains.registrable_domain(host))


def _valid_click_cookie(value: str) -> bool:
    """``fb.<index>.<ms>.<payload>`` with an optional fifth appendix segment (Parameter Builder)."""
    parts = value.split(".")
    return 4 <= len(parts) <= 5 and parts[0] == "fb" and parts[1].isdigit() and parts[2].isdigit() and bool(parts[3])


def fbc_value(event: dict[str, Any], settings: Mapping[str, str] | None = None) -> str:
    """The click id, as Meta's Parameter Builder keeps it.

    An existing ``fbc`` (event key or ``_fbc`` cookie) is kept whole, appendix included, unless
    the landing URL (or, failing that, the referrer) carries an ``fbclid`` that differs from
    the existing value's fbclid segment (the fourth); then it is rebuilt as
    ``fb.<subdomain index>.<event time ms>.<fbclid>``, fbclid case kept.
    """
    existing = ed.first_of(event, ("fbc", "x-fb-ck-fbc", "x-fb-fbc", "_fbc"), ("_fbc",))
    if existing and not _valid_click_cookie(existing):
        existing = ""
    fbclid = (
        ed.first_of(event, ("fbclid",))
        or ed.query_param(ed.page_url(event), "fbclid")
        or ed.query_param(ed.text(event, "page_referrer"), "fbclid")
    )
    if fbclid and (not existing or existing.split(".")[3] != fbclid):
        micros = ed.number(event.get("timestamp_micros")) or 0
        return f"fb.{subdomain_index(event, settings or {})}.{int(micros // 1000)}.{fbclid}"
    return existing


def fbp_value(event: dict[str, Any]) -> str:
    """The browser id (``_fbp``), as the pixel or collect set it; never generated here."""
    return ed.first_of(event, ("fbp", "x-fb-ck-fbp", "x-fb-fbp", "_fbp"), ("_fbp",))


def _one(value: str, normalize: Callable[[str], str]) -> str:
    return hashing.hashed(value, normalize)


def user_data(event: dict[str, Any], settings: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Meta's customer information parameters: hashed where Meta requires, raw where it must.

    Normalized first as https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/customer-information-parameters
    says: phones with the country calling code (from the address country when the number is
    national), US states as their 2-letter code, US zips as 5 digits, dates as YYYYMMDD,
    countries as ISO alpha-2.
    """
    data: dict[str, Any] = {}
    addresses = ed.addresses(event)
    address = addresses[0] if addresses else {}
    country = ed.address_value(address, "country") if address else ""
    emails = [
        _one(v, hashing.email_basic)
        for v in ed.user_values(event, ("email", "email_address"), ("sha256_email_address",))
    ]
    phones = [
        _one(v, lambda p: hashing.phone_digits(p, country))
        for v in ed.user_values(event, ("phone_number", "phone"), ("sha256_phone_number",))
    ]
    if any(emails):
        data["em"] = list(dict.fromkeys(e for e in emails if e))
    if any(phones):
        data["ph"] = list(dict.fromkeys(p for p in phones if p))
    if address:
        for key, field, normalize in (
            ("fn", "first_name", hashing.name_meta),
            ("ln", "last_name", hashing.name_meta),
            ("ct", "city", hashing.city_meta),
            ("st", "region", lambda v: hashing.state_meta(v, country)),
            ("zp", "postal_code", lambda v: hashing.zip_meta(v, country)),
            ("country", "country", hashing.country_code),
        ):
            value = _one(ed.address_value(address, field), normalize)
            if value:
                data[key] = value
    raw = ed.user_data(event)
    gender = _one(str(raw.get("gender") or ""), hashing.gender_meta)
    if gender:
        data["ge"] = gender
    birth = _one(str(raw.get("date_of_birth") or raw.get("birthday") or ""), hashing.date_of_birth_meta)
    if birth:
        data["db"] = birth
    external = [
        _one(v, hashing.trimmed)
        for v in [ed.text(event, "user_id"), *ed.user_values(event, ("external_id",), ("sha256_external_id",))]
        if v
    ]
    if any(external):
        data["external_id"] = list(dict.fromkeys(e for e in external if e))
    ip = ed.visitor_ip(event)
    if ip:
        data["client_ip_address"] = ip
    agent = ed.visitor_user_agent(event)
    if agent:
        data["client_user_agent"] = agent
    fbc = fbc_value(event, settings)
    if fbc:
        data["fbc"] = fbc
    fbp = fbp_value(event)
    if fbp:
        data["fbp"] = fbp
    return data


def custom_data(event: dict[str, Any], meta_event: str) -> dict[str, Any]:
    data: dict[str, Any] = {}
    items = ed.items(event)
    value = ed.number(event.get("value"))
    if value is None:
        value = ed.items_value(event)
    currency = ed.text(event, "currency").upper()
    if value is not None:
        data["value"] = value
    if currency:
        data["currency"] = currency
    order_id = ed.text(event, "transaction_id")
    if order_id:
        data["order_id"] = order_id
    contents = []
    for item in items:
        item_id = str(item.get("item_id") or "").strip()
        if not item_id:
            continue
        content: dict[str, Any] = {"id": item_id}
        quantity = ed.number(item.get("quantity"))
        content["quantity"] = int(quantity) if quantity is not None else 1
        price = ed.number(item.get("price"))
        if price is not None:
            content["item_price"] = price
        contents.append(content)
    if contents:
        data["content_type"] = "product"
        data["content_ids"] = [c["id"] for c in contents]
        data["contents"] = contents
        data["num_items"] = sum(c["quantity"] for c in contents)
    if len(items) == 1:
        for key, source in (("content_name", "item_name"), ("content_category", "item_category")):
            if str(items[0].get(source) or "").strip():
                data[key] = str(items[0][source]).strip()
    search = ed.text(event, "search_term")
    if search:
        data["search_string"] = search
    if meta_event == "Purchase" and ("currency" not in data or "value" not in data):
        raise Reject("purchase_without_value_or_currency")
    return data


def build_request(event: dict[str, Any], settings: Mapping[str, str]) -> VendorRequest:
    """The normalized event → one Conversions API request."""
    meta_event = settings["EVENT"]
    source_url = ed.page_url(event)
    if not source_url:
        raise Reject("missing_field:event_source_url")
    if not ed.visitor_user_agent(event):
        raise Reject("missing_field:client_user_agent")
    server_event: dict[str, Any] = {
        "event_name": meta_event,
        "event_time": ed.timestamp_seconds(event),
        "event_id": ed.text(event, "event_id"),
        "action_source": "website",
        "event_source_url": source_url,
        "user_data": user_data(event, settings),
    }
    referrer = ed.text(event, "page_referrer")
    if referrer:
        server_event["referrer_url"] = referrer
    data = custom_data(event, meta_event)
    if data:
        server_event["custom_data"] = data
    if settings.get("RESTRICTED") == "1" or settings.get("LIMITED_DATA_USE", "").lower() in ("1", "true", "yes"):
        # ad_personalization denied (the consent policy's restricted purpose), or LDU for
        # every event by configuration. Meta geolocates the user (0/0) to decide whether LDU applies.
        server_event["data_processing_options"] = ["LDU"]
        server_event["data_processing_options_country"] = 0
        server_event["data_processing_options_state"] = 0
    body: dict[str, Any] = {"data": [server_event]}
    if settings.get("TEST_EVENT_CODE"):
        body["test_event_code"] = settings["TEST_EVENT_CODE"]
    # The token goes in the body (Graph API reads access_token from POST parameters), never in
    # the URL, where proxies, load balancers and error messages would record it.
    body["access_token"] = settings.get("ACCESS_TOKEN", "")
    version = settings.get("API_VERSION") or DEFAULT_API_VERSION
    pixel = settings.get("PIXEL_ID") or "PIXEL_ID"
    url = f"{API_ORIGIN}/{version}/{quote(pixel, safe='')}/events"
    return VendorRequest("POST", url, {"Content-Type": "application/json"}, body)


def _misconfiguration(code: Any, subcode: Any) -> bool:
    """Graph errors that say the pixel, the token or a permission is wrong, not the event
    (https://developers.facebook.com/docs/graph-api/guides/error-handling/): 190 access
    token, 102 session, 10 and 200–299 permission, 3 capability, 100 with subcode 33 (the
    pixel does not exist or the token may not use it)."""
    if not isinstance(code, int) or isinstance(code, bool):
        return False
    return code in (3, 10, 102, 190) or 200 <= code <= 299 or (code == 100 and subcode == 33)


def classify(response: Response) -> Attempt | None:
    """Graph API errors by code (docs/vendors/meta.md, "Errors").

    Configuration errors (:func:`_misconfiguration`) retry as ``vendor_misconfigured``;
    transient and throttling codes retry; code 100 (invalid parameter: this event) and 105 are
    rejections; any other code retries (rudder-transformer's choice) until the dead-letter
    policy decides. A 2xx counts only when Meta says it received the event
    (``events_received`` ≥ 1).
    """
    body = response.json()
    if 200 <= response.status < 300:
        if isinstance(body, dict) and body.get("events_received") == 0:
            # Meta took the request but not the event: not a delivery, and resending the
            # same event will not change that.
            return Attempt(
                Outcome.REJECTED, reason="meta_events_received:0", status=response.status, detail=response.excerpt()
            )
        return None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    code = error.get("code")
    subcode = error.get("error_subcode")
    reason = f"meta_error:{code}" + (f".{subcode}" if subcode else "")
    detail = f"{reason} {error.get('type', '')}: {error.get('message', '')}"[:500]
    if _misconfiguration(code, subcode):
        return misconfigured(response.status, detail)
    if error.get("is_transient") is True or code in TRANSIENT_CODES or response.status >= 500 or response.status == 429:
        return Attempt(Outcome.RETRYING, reason=reason, status=response.status, detail=detail)
    if code in PERMANENT_CODES:
        return Attempt(Outcome.REJECTED, reason=reason, status=response.status, detail=detail)
    return Attempt(Outcome.RETRYING, reason=reason, status=response.status, detail=detail)


VENDOR = Vendor(
    name="meta",
    kind="ad",
    # Meta refuses website events without event_source_url and client_user_agent.
    required_keys=("page_location", "user_agent"),
    build_request=build_request,
    setting_names=("PIXEL_ID", "TEST_EVENT_CODE", "API_VERSION", "LIMITED_DATA_USE", "COOKIE_DOMAIN"),
    secret_names=("ACCESS_TOKEN",),
    required_settings=("PIXEL_ID", "ACCESS_TOKEN"),
    event_map=EVENT_MAP,
    consent=consent_policy.AD_VENDOR,
    test_event_code_setting="TEST_EVENT_CODE",
    max_event_age_seconds=7 * 24 * 3600,
    classify=classify,
    timeout=5.0,
    # Batch mode: up to 1,000 events in "data" per request; one invalid event rejects them all
    # (https://developers.facebook.com/docs/marketing-api/conversions-api/using-the-api/).
    batch_api=list_batch("data", 1000),
)


@functions_framework.aio.http
async def deliver(request: Request) -> JSONResponse:
    """Pub/Sub push endpoint (2xx acks, anything else retries); ``POST /drain`` in batch mode."""
    return await entry.serve(VENDOR, request)
