"""LinkedIn Conversions API (``POST /rest/conversionEvents``). Entry point ``deliver``.

LinkedIn has no event names: ``LINKEDIN_CONVERSION_RULES`` maps GA4 event names to conversion
rule ids (``{"purchase": "104012"}``), sent as ``urn:lla:llaPartnerConversion:{id}``; events
without a rule are skipped. Deduplicated against the Insight Tag by ``eventId`` = ``event_id``;
``conversionHappenedAt`` in ms; ``amount`` as a string; ``userIds`` with the SHA-256 email and
``li_fat_id`` (URL or cookie) as ``LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID``. The access token is
``LINKEDIN_ACCESS_TOKEN`` or minted from the refresh-token trio (``LINKEDIN_CLIENT_ID``,
``_CLIENT_SECRET``, ``_REFRESH_TOKEN``) by the runtime (:mod:`shared.delivery.tokens`).
426 (the ``LinkedIn-Version`` was sunset) and 401/403 are ``vendor_misconfigured``. No test
mode exists: debug events are skipped. See docs/vendors/linkedin.md.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import JSONResponse

from shared import hashing
from shared.delivery import Attempt, Outcome, Skip, Vendor, VendorRequest, ads, consent_policy, entry, tokens
from shared.delivery import eventdata as ed
from shared.delivery.batching import BatchApi
from shared.delivery.http import Response
from shared.delivery.rows import RowFailure, row_outcomes

API_URL = "https://api.linkedin.com/rest/conversionEvents"
TOKEN_URL = "https://www.linkedin.com/oauth/v2/accessToken"
# YYYYMM; a version is supported for at least a year (LinkedIn versioning page).
DEFAULT_VERSION = "202603"


def user(event: dict[str, Any]) -> dict[str, Any]:
    ids = []
    for email in ed.user_values(event, ("email", "email_address"), ("sha256_email_address",))[:1]:
        hashed = hashing.hashed(email, hashing.email_basic)
        if hashed:
            ids.append({"idType": "SHA256_EMAIL", "idValue": hashed})
    fat_id = ads.click_id(event, "li_fat_id", "li_fat_id", keys=("li_fat_id",))
    if fat_id:
        ids.append({"idType": "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID", "idValue": fat_id})
    found: dict[str, Any] = {"userIds": ids}  # required, even empty
    addresses = ed.addresses(event)
    if addresses:
        address = addresses[0]
        first, last = address.get("first_name"), address.get("last_name")
        info: dict[str, str] = {}
        if isinstance(first, str) and isinstance(last, str) and first.strip() and last.strip():
            # firstName and lastName go together (plain text, not hashed).
            info.update(firstName=first.strip(), lastName=last.strip())
        country = hashing.country_code(str(address.get("country") or "")).upper()
        if country:
            info["countryCode"] = country
        if info:
            found["userInfo"] = info
    return found


def build_request(event: dict[str, Any], settings: Mapping[str, str]) -> VendorRequest:
    """The normalized event → one conversion event (single create)."""
    if settings.get("DEBUG") == "1":
        raise Skip("debug_without_test_mode")
    rules = ads.json_map(settings, "CONVERSION_RULES", "linkedin")
    rule = rules.get(settings["EVENT"]) or rules.get(str(event.get("event_name") or ""))
    if not rule:
        raise Skip(f"no_conversion_rule:{settings['EVENT']}")
    element: dict[str, Any] = {
        "conversion": f"urn:lla:llaPartnerConversion:{rule}",
        "conversionHappenedAt": ads.event_millis(event),
    }
    value, currency = ads.value(event), ads.currency(event)
    if value is not None and currency:
        element["conversionValue"] = {"currencyCode": currency, "amount": str(float(value))}
    element["eventId"] = ed.text(event, "event_id")
    element["user"] = user(event)
    headers = {
        "Content-Type": "application/json",
        "LinkedIn-Version": settings.get("API_VERSION") or DEFAULT_VERSION,
        "X-Restli-Protocol-Version": "2.0.0",
    }
    return VendorRequest("POST", API_URL, headers, element)


def classify(response: Response) -> Attempt | None:
    if response.status == 426:
        return Attempt(
            Outcome.RETRYING,
            reason=tokens.VENDOR_MISCONFIGURED,
            status=426,
            alert=True,
            detail=f"LINKEDIN_API_VERSION sunset: {response.excerpt()}"[:500],
        )
    if response.status in (401, 403):
        # Token revoked or expired (refreshed on the next attempt), or the ad-account role missing.
        return Attempt(
            Outcome.RETRYING,
            reason=tokens.VENDOR_MISCONFIGURED,
            status=response.status,
            alert=True,
            detail=response.excerpt(),
        )
    return None


def classify_rows(response: Response, count: int) -> list[Attempt] | None:
    """A BATCH_CREATE answers 200 ``{"elements": [{"status": 201}, ...]}`` in request order."""
    body = response.json()
    if response.status != 200 or not isinstance(body, dict) or not isinstance(body.get("elements"), list):
        return None
    failures = {}
    for index, row in enumerate(body["elements"][:count]):
        status = row.get("status") if isinstance(row, dict) else None
        if not isinstance(status, int) or not 200 <= status < 300:
            failures[index] = RowFailure(index, f"linkedin_element_{status}", str(row)[:300])
    return row_outcomes(count, failures, status=200, others_ingested=True)


def _batch_api(max_events: int) -> BatchApi:
    """Single creates merged into one BATCH_CREATE ``{"elements": [...]}`` (≤ 5,000)."""

    def key(request: VendorRequest) -> Hashable:
        return (request.url, tuple(sorted(request.headers.items())))

    def combine(requests: list[VendorRequest]) -> VendorRequest:
        first = requests[0]
        elements = [e for r in requests for e in r.json.get("elements", [r.json])]
        return VendorRequest(
            "POST", first.url, {**first.headers, "X-RestLi-Method": "BATCH_CREATE"}, {"elements": elements}
        )

    def events(request: VendorRequest) -> int:
        return len(request.json["elements"]) if "elements" in request.json else 1

    return BatchApi(max_events=max_events, key=key, combine=combine, events=events, split=classify_rows)


VENDOR = Vendor(
    name="linkedin",
    kind="ad",
    build_request=build_request,
    setting_names=("CONVERSION_RULES", "API_VERSION", "TOKEN_URL"),
    secret_names=("ACCESS_TOKEN", "CLIENT_ID", "CLIENT_SECRET", "REFRESH_TOKEN"),
    required_settings=("CONVERSION_RULES", "ACCESS_TOKEN|REFRESH_TOKEN"),
    event_map=None,
    # ad_storage to send, ad_user_data for personal data, ad_personalization denied sets the
    # restricted-processing flag (docs/vendors/README.md, "Consent per purpose").
    consent=consent_policy.AD_VENDOR,
    # conversionHappenedAt at most 90 days back.
    max_event_age_seconds=90 * 24 * 3600,
    classify=classify,
    classify_rows=classify_rows,
    auth=tokens.OAuthRefreshToken(TOKEN_URL),
    timeout=5.0,
    batch_api=_batch_api(5000),
)


@functions_framework.aio.http
async def deliver(request: Request) -> JSONResponse:
    """Pub/Sub push endpoint (2xx acks, anything else retries); ``POST /drain`` in batch mode."""
    return await entry.serve(VENDOR, request)
