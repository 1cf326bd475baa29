"""GA4. Entry point ``deliver``.

Events from the page's gtag (``source`` = ``gtag``) go to ``/g/collect`` as the hit the
browser's tag would have sent Google (the gtag wire protocol, as server-side GTM's GA4 tag
re-emits it): new users, sessions, engagement, device data from the ``User-Agent`` and
consent-mode cookieless pings all work as with client-side tagging. Events that arrived as
Measurement Protocol (``source`` = ``mp``) go back out through ``/mp/collect``
(:mod:`ga4_mp`).

Settings: ``GA4_MEASUREMENT_ID`` (also the gate: events of other streams are skipped),
``GA4_REGION`` (``eu`` → region1.google-analytics.com), ``GA4_REDACT_IP`` (``true`` sends
``_uip=::``, which makes Google drop the IP), ``GA4_COOKIELESS_PINGS`` (``false`` skips
hits whose analytics_storage is denied instead of forwarding them as cookieless pings);
secret ``GA4_API_SECRET`` (Measurement Protocol only). See docs/vendors/ga4.md.
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import JSONResponse

from shared import hashing
from shared.delivery import Reject, Skip, Vendor, VendorRequest, consent_policy, entry
from shared.delivery import eventdata as ed
from shared.ga4.items import item_index

try:  # imported as the package functions.vendors.ga4 (tests, tools)
    from . import ga4_mp, ga4_wire
except ImportError:  # loaded from its file, as in the cloud: the folder is the archive's root
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    # mypy resolves the package import above; this path-based one it cannot follow.
    import ga4_mp  # type: ignore[no-redef,import-not-found]
    import ga4_wire  # type: ignore[no-redef,import-not-found]

ORIGINS = ga4_mp.ORIGINS
CONTENT_TYPE = "text/plain;charset=UTF-8"
# Above this many characters of query string the event's own parameters move into the body
# line, as gtag itself does for long hits (Google merges the two: line over query).
MAX_QUERY_CHARS = 2000
# The parameters of one event, as opposed to those of the page/request (gtag's own split).
_EVENT_KEYS = frozenset(("en", "_et", "_ee", "_c", "_fv", "_ss", "_nsi", "cu", "_dbg"))
_EVENT_PREFIXES = ("ep.", "epn.", "up.", "upn.")
_FALSE = ("0", "false", "no", "off")


def _truthy(value: str | None) -> bool:
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


def _is_event_key(key: str) -> bool:
    return key in _EVENT_KEYS or key.startswith(_EVENT_PREFIXES) or (key[:2] == "pr" and item_index(key) is not None)


def gtag_params(event: dict[str, Any], settings: Mapping[str, str]) -> list[tuple[str, str]]:
    """The ``/g/collect`` parameters of one gtag event, consent and privacy settings applied."""
    consent = event.get("consent")
    consent = consent if isinstance(consent, dict) else {}
    if (
        consent.get("analytics_storage") == "denied"
        and str(settings.get("COOKIELESS_PINGS", "")).strip().lower() in _FALSE
    ):
        raise Skip("consent_denied:analytics_storage")
    params = ga4_wire.rebuild_params(event)
    # User-provided data never goes to Google in plain text (gtag sends ep.user_data.* only
    # to a server container): it goes as gtag sends it to Google, hashed in ``em``, and not
    # at all without ad_user_data consent.
    params = [(k, v) for k, v in params if not k.startswith(ga4_wire.USER_DATA_PREFIX)]
    if consent.get("ad_user_data") == "denied":
        params = [(k, v) for k, v in params if k not in ga4_wire.USER_DATA_KEYS]
    elif not any(k == "em" for k, _ in params):
        em = user_data_em(event)
        if em:
            params.append(("em", em))
    keys = {k for k, _ in params}
    if "en" not in keys:
        params.insert(0, ("en", settings["EVENT"]))
    elif settings["EVENT"] != ed.text(event, "event_name"):
        params = [(k, settings["EVENT"] if k == "en" else v) for k, v in params]  # GA4_EVENT_MAP renamed it
    if "tid" not in keys:
        # Without any measurement id the setting is missing too, and the runtime runs dry.
        measurement_id = settings.get("MEASUREMENT_ID") or ed.text(event, "x-ga-measurement_id")
        params.insert(0, ("tid", measurement_id.split(",")[0].strip()))
    if "v" not in keys:
        params.insert(0, ("v", "2"))
    client_id = ed.text(event, "client_id")
    if "cid" not in keys and client_id:
        params.append(("cid", client_id))  # collect's server-managed id for a hit without one
    elif "cid" not in keys and consent.get("analytics_storage") != "denied":
        raise Reject("missing_field:client_id")  # a cookieless ping may have none; others must
    if settings.get("DEBUG") == "1" and "_dbg" not in keys:
        params.append(("_dbg", "1"))  # DebugView
    # The visitor's IP, for geo; without it Google would locate the function's own address.
    ip = "" if _truthy(settings.get("REDACT_IP")) else ed.client_ip(event)
    params.append(("_uip", ip or "::"))
    return params


def _b64url(hex_digest: str) -> str:
    return base64.urlsafe_b64encode(bytes.fromhex(hex_digest)).decode().rstrip("=")


def user_data_em(event: dict[str, Any]) -> str:
    """``user_data`` email and phone as gtag's ``em`` (``tv.1~em.<sha256>~pn.<sha256>``, the
    SHA-256 in base64url, unpadded); ``""`` when there are none."""
    parts = []
    for code, plain, hashed_keys, normalize in (
        ("em", ("email", "email_address"), ("sha256_email_address",), hashing.email_google),
        ("pn", ("phone_number", "phone"), ("sha256_phone_number",), hashing.phone_e164),
    ):
        for value in ed.user_values(event, plain, hashed_keys)[:1]:
            digest = hashing.hashed(value, normalize)
            if digest:
                parts.append(f"{code}.{_b64url(digest.lower())}")
    return "~".join(["tv.1", *parts]) if parts else ""


def gtag_request(event: dict[str, Any], settings: Mapping[str, str]) -> VendorRequest:
    """A gtag-sourced event → one ``POST /g/collect`` (query string, or query + one body line)."""
    params = gtag_params(event, settings)
    origin = ORIGINS.get(settings.get("REGION", "").lower(), ORIGINS[""])
    query = _urlencode(params)
    body = ""
    if len(query) > MAX_QUERY_CHARS:
        query = _urlencode([p for p in params if not _is_event_key(p[0])])
        body = _urlencode([p for p in params if _is_event_key(p[0])])
    headers = {"Content-Type": CONTENT_TYPE}
    user_agent = ed.text(event, "user_agent")
    if user_agent:
        headers["User-Agent"] = user_agent  # browser, OS and device category come from it
    return VendorRequest("POST", f"{origin}/g/collect?{query}", headers, body)


def _urlencode(params: list[tuple[str, str]]) -> str:
    # encodeURIComponent, as gtag encodes: spaces as %20, not + (urlencode's default).
    return "&".join(f"{_quote(key)}={_quote(value)}" for key, value in params)


def _quote(text: str) -> str:
    return quote(text, safe="~()*!.'-_")


def build_request(event: dict[str, Any], settings: Mapping[str, str]) -> VendorRequest:
    """The normalized event → its GA4 request: ``/mp/collect`` for MP-sourced events,
    ``/g/collect`` for everything else (gtag hits)."""
    if event.get("source") == "mp":
        return ga4_mp.build_request(event, settings)
    return gtag_request(event, settings)


def required_settings(event: dict[str, Any]) -> tuple[str, ...]:
    """``/g/collect`` needs no secret; the Measurement Protocol needs the stream's API secret."""
    return ("MEASUREMENT_ID", "API_SECRET") if event.get("source") == "mp" else ("MEASUREMENT_ID",)


VENDOR = Vendor(
    name="ga4",
    required_keys=("client_id",),  # hits and MP events without it are refused (cookieless pings aside)
    build_request=build_request,
    setting_names=("MEASUREMENT_ID", "REGION", "REDACT_IP", "COOKIELESS_PINGS"),
    secret_names=("API_SECRET",),
    required_settings=("MEASUREMENT_ID",),
    required_settings_for=required_settings,
    event_map=None,
    # Google enforces consent itself from the forwarded gcs/gcd: analytics_storage denied is
    # sent as the cookieless ping gtag would send, and the mapping drops em/user data without
    # ad_user_data (docs/vendors/ga4.md "Consent"). CONSENT_SEND=analytics_storage skips instead.
    consent=consent_policy.ConsentPolicy(),
    measurement_id_setting="MEASUREMENT_ID",
    max_event_age_seconds=72 * 3600,
    dedupe_delivered=True,
)


@functions_framework.aio.http
async def deliver(request: Request) -> JSONResponse:
    """Pub/Sub push endpoint (2xx acks, anything else retries); ``POST /drain`` in batch mode."""
    return await entry.serve(VENDOR, request)
