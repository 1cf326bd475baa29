"""GA4 through the Measurement Protocol (``/mp/collect``). Entry point ``deliver``.

Forwards every event under its own name, kept in its session (``session_id``,
``engagement_time_msec``), with the consent state, hashed ``user_data`` (only when
``ad_user_data`` is not denied) and the user's IP for geo. Events with
``analytics_storage`` denied are skipped. Debug events carry ``debug_mode`` (DebugView).
Settings: ``GA4_MEASUREMENT_ID`` (also the gate: events of other streams are skipped),
``GA4_REGION`` (``eu`` → region1.google-analytics.com); secret ``GA4_API_SECRET``.
See docs/vendors/ga4.md.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping
from urllib.parse import urlencode

import flask
import functions_framework

from shared import hashing
from shared.delivery import Skip, Vendor, VendorRequest
from shared.delivery import eventdata as ed

ORIGINS = {"": "https://www.google-analytics.com", "eu": "https://region1.google-analytics.com"}
RESERVED_EVENTS = frozenset({
    "session_start", "first_visit", "first_open", "user_engagement", "screen_view", "error",
    "in_app_purchase", "os_update",
})
RESERVED_EVENT_PREFIXES = ("ad_", "app_", "notification_", "_", "firebase_", "ga_", "google_", "gtag")
RESERVED_PARAM_PREFIXES = ("_", "firebase_", "ga_", "google_", "gtag")
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
# Keys of the normalized event that are context, not event parameters.
CONTEXT_KEYS = frozenset({
    "event_name", "event_id", "client_id", "user_id", "ga_session_id", "ga_session_number",
    "engagement_time_msec", "ip_override", "user_agent", "consent", "debug_mode",
    "timestamp_micros", "source", "user_data", "user_properties", "page_hostname", "page_path",
    "page_encoding", "viewport_size", "language", "screen_resolution", "cookies", "client_hints",
    "event_location", "fbclid", "ttclid", "fbp", "fbc", "ttp", "gclid",
})
MAX_PARAMS = 25


def _consent(event: dict[str, Any]) -> dict[str, str]:
    consent = event.get("consent") if isinstance(event.get("consent"), dict) else {}
    out = {}
    for purpose in ("ad_user_data", "ad_personalization"):
        state = consent.get(purpose)
        if state in ("granted", "denied"):
            out[purpose] = state.upper()
    return out


def _user_data(event: dict[str, Any]) -> dict[str, Any]:
    """Google's user-provided data: hex SHA-256, address location fields plain."""
    data: dict[str, Any] = {}
    emails = [hashing.hashed(v, hashing.email_google) for v in
              ed.user_values(event, ("email", "email_address"), ("sha256_email_address",))]
    phones = [hashing.hashed(v, hashing.phone_e164) for v in
              ed.user_values(event, ("phone_number", "phone"), ("sha256_phone_number",))]
    if any(emails):
        data["sha256_email_address"] = [e for e in emails if e]
    if any(phones):
        data["sha256_phone_number"] = [p for p in phones if p]
    addresses = []
    for address in ed.addresses(event):
        entry = {
            "sha256_first_name": hashing.hashed(ed.address_value(address, "first_name"), hashing.name_google),
            "sha256_last_name": hashing.hashed(ed.address_value(address, "last_name"), hashing.name_google),
            "sha256_street": hashing.hashed(ed.address_value(address, "street"), lambda s: s.strip().lower()),
            "city": hashing.name_google(str(address.get("city") or "")),
            "region": str(address.get("region") or "").strip().lower(),
            "postal_code": re.sub(r"[.~]", "", str(address.get("postal_code") or "")).strip(),
            "country": str(address.get("country") or "").strip().upper()[:2],
        }
        entry = {k: v for k, v in entry.items() if v}
        if entry:
            addresses.append(entry)
    if addresses:
        data["address"] = addresses
    return data


def _user_properties(event: dict[str, Any]) -> dict[str, Any]:
    raw = event.get("user_properties")
    if not isinstance(raw, dict):
        return {}
    props = {}
    for name, value in raw.items():
        if not NAME.match(str(name)) or str(name).startswith(RESERVED_PARAM_PREFIXES) or len(str(name)) > 24:
            continue
        props[name] = value if isinstance(value, dict) and "value" in value else {"value": value}
    return props


def _finite(value: Any) -> Any:
    """The value with non-finite numbers (NaN, infinity: not JSON) removed."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items() if _finite(v) is not None}
    if isinstance(value, list):
        return [_finite(v) for v in value if _finite(v) is not None]
    return value


def _params(event: dict[str, Any], debug: bool) -> dict[str, Any]:
    params: dict[str, Any] = {}
    session_id = ed.text(event, "ga_session_id")
    if session_id:
        params["session_id"] = session_id
    engagement = ed.number(event.get("engagement_time_msec"))
    # Without engagement time the event is missing from Realtime and session reports.
    params["engagement_time_msec"] = engagement if engagement and engagement > 0 else 1
    for key, value in event.items():
        if len(params) >= MAX_PARAMS:
            break
        if key in CONTEXT_KEYS or key.startswith("x-") or value is None or value == "":
            continue
        if not NAME.match(key) or key.startswith(RESERVED_PARAM_PREFIXES):
            continue
        value = _finite(value)
        if value is None:
            continue
        params[key] = value.strip().upper() if key == "currency" and isinstance(value, str) else value
    if debug:
        params["debug_mode"] = True
    return params


def build_request(event: dict[str, Any], settings: Mapping[str, str]) -> VendorRequest:
    """The normalized event → one Measurement Protocol request."""
    name = settings["EVENT"]
    if name in RESERVED_EVENTS or name.startswith(RESERVED_EVENT_PREFIXES):
        raise Skip(f"reserved_event_name:{name}")
    if not NAME.match(name):
        raise Skip(f"invalid_event_name:{name[:40]}")
    client_id = ed.text(event, "client_id")
    if not client_id:
        raise ValueError("event has no client_id")
    measurement_id = settings.get("MEASUREMENT_ID") or ed.text(event, "x-ga-measurement_id")
    body: dict[str, Any] = {"client_id": client_id}
    user_id = ed.text(event, "user_id")
    if user_id:
        body["user_id"] = user_id
    micros = ed.number(event.get("timestamp_micros"))
    if micros:
        body["timestamp_micros"] = int(micros)
    consent = _consent(event)
    if consent:
        body["consent"] = consent
    if consent.get("ad_user_data") != "DENIED":
        user_data = _user_data(event)
        if user_data:
            body["user_data"] = user_data
    ip = ed.client_ip(event)
    if ip:
        body["ip_override"] = ip
    device = {k: ed.text(event, src) for k, src in (("language", "language"), ("screen_resolution", "screen_resolution"))}
    device = {k: v for k, v in device.items() if v}
    if device:
        body["device"] = device
    user_properties = _user_properties(event)
    if user_properties:
        body["user_properties"] = user_properties
    body["events"] = [{"name": name, "params": _params(event, settings.get("DEBUG") == "1")}]
    origin = ORIGINS.get(settings.get("REGION", "").lower(), ORIGINS[""])
    query = urlencode({"measurement_id": measurement_id, "api_secret": settings.get("API_SECRET", "")})
    return VendorRequest("POST", f"{origin}/mp/collect?{query}", {"Content-Type": "application/json"}, body)


VENDOR = Vendor(
    name="ga4",
    required_keys=("client_id",),  # the Measurement Protocol refuses a body without it
    build_request=build_request,
    setting_names=("MEASUREMENT_ID", "REGION"),
    secret_names=("API_SECRET",),
    required_settings=("MEASUREMENT_ID", "API_SECRET"),
    event_map=None,
    required_consent=("analytics_storage",),
    measurement_id_setting="MEASUREMENT_ID",
    max_event_age_seconds=72 * 3600,
    dedupe_delivered=True,
)


@functions_framework.http
def deliver(request: flask.Request) -> flask.Response:
    """Pub/Sub push endpoint: 2xx acks the message, anything else makes Pub/Sub retry."""
    status, payload = VENDOR.handle_push(request.get_data())
    return flask.jsonify(payload), status
