"""Google Ads conversions through the Data Manager API (``POST /v1/events:ingest``).
Entry point ``deliver``.

The Google Ads API's ``UploadClickConversions`` is closed to new developer tokens (2026-06-15),
so conversions go to the Data Manager API, which needs no developer token: the function
authenticates as its own service account (google-auth default credentials, scope
``datamanager``), which the owner adds as a user of the Google Ads account. One destination
per conversion action (``GOOGLEADS_CONVERSIONS``: GA4 event name → conversion action id);
events without one are skipped. ``gclid``/``gbraid``/``wbraid`` from the landing URL or the
``_gcl_aw``/``_gcl_gb`` cookies; email, phone and name normalized and hashed per Google's rules
(hex SHA-256); consent ``adUserData``/``adPersonalization`` from the event.
``GOOGLEADS_VALIDATE_ONLY`` (or a debug event) sends ``validateOnly: true``. Skipped when
``ad_storage`` is denied. See docs/vendors/googleads.md.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import JSONResponse

from shared import hashing
from shared.delivery import Attempt, Outcome, Skip, Vendor, VendorRequest, ads, consent_policy, entry, tokens
from shared.delivery import eventdata as ed
from shared.delivery.batching import list_batch
from shared.delivery.http import Response
from shared.delivery.rows import RowFailure, row_outcomes

API_URL = "https://datamanager.googleapis.com/v1/events:ingest"
SCOPE = "https://www.googleapis.com/auth/datamanager"
CONSENT = {"granted": "CONSENT_GRANTED", "denied": "CONSENT_DENIED"}


def gcl_cookie(raw: str) -> str:
    """``_gcl_aw``/``_gcl_gb`` are ``GCL.<unix seconds>.<click id>``."""
    parts = raw.split(".", 2)
    return parts[2] if len(parts) == 3 and parts[0] == "GCL" else ""


def ad_identifiers(event: dict[str, Any]) -> dict[str, Any]:
    """One click id: gclid, else gbraid, else wbraid (the Google Ads API took exactly one)."""
    for key, cookie in (("gclid", "_gcl_aw"), ("gbraid", "_gcl_gb"), ("wbraid", "")):
        value = ads.click_id(event, key, cookie, gcl_cookie, keys=(key,))
        if value:
            return {key: value}
    return {}


def device_info(event: dict[str, Any]) -> dict[str, str]:
    """``eventDeviceInfo``: the browser the event came from (not the click's landing device,
    which only the landing page's own hit knows)."""
    return {k: v for k, v in (("userAgent", ed.text(event, "user_agent")), ("ipAddress", ed.client_ip(event))) if v}


def user_identifiers(event: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for email in ed.user_values(event, ("email", "email_address"), ("sha256_email_address",)):
        hashed = hashing.hashed(email, hashing.email_google)
        if hashed and {"emailAddress": hashed} not in found:
            found.append({"emailAddress": hashed})
    for phone in ed.user_values(event, ("phone_number", "phone"), ("sha256_phone_number",)):
        hashed = hashing.hashed(phone, hashing.phone_e164)
        if hashed and {"phoneNumber": hashed} not in found:
            found.append({"phoneNumber": hashed})
    for address in ed.addresses(event)[:1]:
        given = hashing.hashed(ed.address_value(address, "first_name"), hashing.name_google)
        family = hashing.hashed(ed.address_value(address, "last_name"), hashing.name_google)
        region = hashing.country_code(str(address.get("country") or "")).upper()
        postal = str(address.get("postal_code") or "").strip()
        if region == "US":
            postal = postal[:5]
        if given and family and region and postal:
            found.append(
                {"address": {"givenName": given, "familyName": family, "regionCode": region, "postalCode": postal}}
            )
    return found[:10]


def consent(event: dict[str, Any]) -> dict[str, str]:
    raw = event.get("consent")
    state: dict[str, Any] = raw if isinstance(raw, dict) else {}
    found = {}
    for key, purpose in (("adUserData", "ad_user_data"), ("adPersonalization", "ad_personalization")):
        value = CONSENT.get(str(state.get(purpose) or "").lower())
        if value:
            found[key] = value
    return found


def rfc3339(event: dict[str, Any]) -> str:
    return datetime.datetime.fromtimestamp(ads.event_seconds(event), datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_request(event: dict[str, Any], settings: Mapping[str, str]) -> VendorRequest:
    """The normalized event → one ``events:ingest`` request for its conversion action."""
    actions = ads.json_map(settings, "CONVERSIONS", "googleads")
    action = actions.get(settings["EVENT"]) or actions.get(str(event.get("event_name") or ""))
    if not action:
        raise Skip(f"no_conversion_action:{settings['EVENT']}")
    item: dict[str, Any] = {}
    identifiers = ad_identifiers(event)
    if identifiers:
        item["adIdentifiers"] = identifiers
    # The tag's transaction_id when there is one (Google deduplicates tag and API conversions
    # on it); the event id otherwise.
    item["transactionId"] = ed.text(event, "transaction_id") or ed.text(event, "event_id")
    item["eventTimestamp"] = rfc3339(event)
    item["eventSource"] = "WEB"
    device = device_info(event)
    if device:
        item["eventDeviceInfo"] = device
    value, currency = ads.value(event), ads.currency(event)
    if value is not None:
        item["conversionValue"] = value
    if currency:
        item["currency"] = currency
    granted = consent(event)
    # ad_user_data denied: Google may not use the user's data, so it is not sent at all.
    users = [] if granted.get("adUserData") == "CONSENT_DENIED" else user_identifiers(event)
    if users:
        item["userData"] = {"userIdentifiers": users}
    if not identifiers and not users:
        raise Skip("no_click_id_or_user_data")
    if granted:
        item["consent"] = granted
    items = [
        {
            "merchantProductId": str(i["item_id"]).strip(),
            "quantity": str(ads.quantity(i)),
            **({"unitPrice": ed.number(i.get("price"))} if ed.number(i.get("price")) is not None else {}),
        }
        for i in ed.items(event)
        if str(i.get("item_id") or "").strip()
    ]
    if items:
        item["cartData"] = {"items": items}
    customer = "".join(c for c in settings.get("CUSTOMER_ID", "") if c.isdigit())
    destination: dict[str, Any] = {"operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": customer}}
    login = "".join(c for c in settings.get("LOGIN_CUSTOMER_ID", "") if c.isdigit())
    if login:
        destination["loginAccount"] = {"accountType": "GOOGLE_ADS", "accountId": login}
    destination["productDestinationId"] = action
    body = {
        "destinations": [destination],
        "encoding": "HEX",
        "events": [item],
        "validateOnly": ads.is_test(settings) or settings.get("VALIDATE_ONLY", "").lower() in ("1", "true", "yes"),
    }
    return VendorRequest("POST", API_URL, {"Content-Type": "application/json"}, body)


def _violations(body: Any) -> list[dict[str, Any]]:
    error = body.get("error") if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    found: list[dict[str, Any]] = []
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and isinstance(detail.get("fieldViolations"), list):
            found.extend(v for v in detail["fieldViolations"] if isinstance(v, dict))
    return found


def classify_rows(response: Response, count: int) -> list[Attempt] | None:
    """A 400 names each bad event in ``fieldViolations[].field`` (``events[3].transactionId``).

    The Data Manager API has no partial failure: it rejects the whole request, so the events it
    did not name are retried (sent again without the bad ones).
    """
    if response.status != 400:
        return None
    failures: dict[int, RowFailure] = {}
    for violation in _violations(response.json()):
        field = str(violation.get("field") or "")
        if field.startswith("events[") and "]" in field:
            index_text = field[len("events[") : field.index("]")]
            if index_text.isdigit() and int(index_text) < count:
                index = int(index_text)
                name = field[field.index("]") + 1 :].lstrip(".")[:60] or "event"
                failures.setdefault(
                    index, RowFailure(index, f"googleads_invalid:{name}", str(violation.get("description") or ""))
                )
    if not failures:
        return None
    return row_outcomes(count, failures, status=400, others_ingested=False)


def classify(response: Response) -> Attempt | None:
    if response.status in (401, 403):
        # The service account is not (or no longer) a user of the Google Ads account.
        return Attempt(
            Outcome.RETRYING,
            reason=tokens.VENDOR_MISCONFIGURED,
            status=response.status,
            alert=True,
            detail=response.excerpt(),
        )
    return None


VENDOR = Vendor(
    name="googleads",
    kind="ad",
    build_request=build_request,
    setting_names=("CUSTOMER_ID", "LOGIN_CUSTOMER_ID", "CONVERSIONS", "VALIDATE_ONLY"),
    secret_names=(),
    required_settings=("CUSTOMER_ID", "CONVERSIONS"),
    event_map=None,
    # ad_storage to send, ad_user_data for personal data, ad_personalization denied sets the
    # restricted-processing flag (docs/vendors/README.md, "Consent per purpose").
    consent=consent_policy.AD_VENDOR,
    classify=classify,
    classify_rows=classify_rows,
    auth=tokens.GoogleToken(scopes=(SCOPE,)),
    timeout=10.0,
    # At most 2,000 events per request (events.ingest reference); only events for the same
    # conversion action (the same destinations) share one.
    batch_api=list_batch("events", 2000, split=classify_rows),
)


@functions_framework.aio.http
async def deliver(request: Request) -> JSONResponse:
    """Pub/Sub push endpoint (2xx acks, anything else retries); ``POST /drain`` in batch mode."""
    return await entry.serve(VENDOR, request)
