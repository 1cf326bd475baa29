"""Measurement Protocol requests (``/mp/collect``) for events that arrived as Measurement Protocol.

Server-to-server events (``source`` = ``mp``) go back out the way they came in, with the
stream's ``GA4_API_SECRET`` and within GA4's documented limits (shared.ga4.mp_validation):
reserved event names skipped, at most 25 parameters with valid names, values of at most 100
characters, at most 25 user properties (names ≤24, values ≤36 characters), ``user_data``
only together with ``user_id``, and ``ip_override``/``user_agent`` only when the sender
supplied them (never the address or user agent of the backend that posted the event).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from shared import hashing
from shared.delivery import Reject, Skip, VendorRequest, geo
from shared.delivery import eventdata as ed
from shared.ga4 import mp_validation as limits

ORIGINS = {"": "https://www.google-analytics.com", "eu": "https://region1.google-analytics.com"}
RESERVED_EVENTS = limits.RESERVED_EVENT_NAMES | {"screen_view"}
RESERVED_EVENT_PREFIXES = ("ad_", "app_", "notification_", "_", "firebase_", "ga_", "google_", "gtag")
RESERVED_PARAM_PREFIXES = ("_", "firebase_", "ga_", "google_", "gtag")
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
# Keys of the normalized event that are context, not event parameters.
CONTEXT_KEYS = frozenset(
    {
        "event_name",
        "event_id",
        "client_id",
        "user_id",
        "ga_session_id",
        "ga_session_number",
        "engagement_time_msec",
        "ip_override",
        "user_agent",
        "consent",
        "debug_mode",
        "timestamp_micros",
        "source",
        "user_data",
        "user_properties",
        "page_hostname",
        "page_path",
        "page_encoding",
        "viewport_size",
        "language",
        "screen_resolution",
        "cookies",
        "client_hints",
        "event_location",
        "fbclid",
        "ttclid",
        "fbp",
        "fbc",
        "ttp",
        "gclid",
        "device",
    }
)
MAX_PARAMS = limits.MAX_PARAMS


def _consent(event: dict[str, Any]) -> dict[str, str]:
    consent = event.get("consent")
    consent = consent if isinstance(consent, dict) else {}
    out = {}
    for purpose in ("ad_user_data", "ad_personalization"):
        state = consent.get(purpose)
        if state in ("granted", "denied"):
            out[purpose] = state.upper()
    return out


def _user_data(event: dict[str, Any]) -> dict[str, Any]:
    """Google's user-provided data: hex SHA-256, address location fields plain."""
    data: dict[str, Any] = {}
    emails = [
        hashing.hashed(v, hashing.email_google)
        for v in ed.user_values(event, ("email", "email_address"), ("sha256_email_address",))
    ]
    phones = [
        hashing.hashed(v, hashing.phone_e164)
        for v in ed.user_values(event, ("phone_number", "phone"), ("sha256_phone_number",))
    ]
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
    props: dict[str, Any] = {}
    for name, value in raw.items():
        if len(props) >= limits.MAX_USER_PROPERTIES:
            break
        name = str(name)
        if (
            not NAME.match(name)
            or name.startswith(RESERVED_PARAM_PREFIXES)
            or len(name) > limits.MAX_USER_PROPERTY_NAME
            or name in limits.RESERVED_USER_PROPERTIES
        ):
            continue
        value = value.get("value") if isinstance(value, dict) else value
        if value is None or isinstance(value, (dict, list)) or isinstance(value, float) and not math.isfinite(value):
            continue
        if isinstance(value, str):
            value = value[: limits.MAX_USER_PROPERTY_VALUE]
        props[name] = {"value": value}
    return props


def _bounded(value: Any) -> Any:
    """A parameter value within GA4's limits: strings ≤100 characters, items ≤200 with ≤10
    custom parameters each (longer strings are cut, as GA4 itself would)."""
    if isinstance(value, str):
        return value[: limits.MAX_PARAM_VALUE]
    if isinstance(value, list):
        items = []
        for item in value[: limits.MAX_ITEMS]:
            if not isinstance(item, dict):
                continue
            bounded, custom = {}, 0
            for key, child in item.items():
                if (
                    not NAME.match(str(key))
                    or str(key).startswith(RESERVED_PARAM_PREFIXES)
                    or isinstance(child, (dict, list))
                ):
                    continue
                if key not in limits.STANDARD_ITEM_PARAMS:
                    custom += 1
                    if custom > limits.MAX_CUSTOM_ITEM_PARAMS:
                        continue
                bounded[key] = _bounded(child)
            items.append(bounded)
        return items
    return value


_LOCATION_KEYS = {
    "city": "city",
    "region": "region_id",
    "country": "country_id",
    "subcontinent": "subcontinent_id",
    "continent": "continent_id",
}


def _user_location(event: dict[str, Any]) -> dict[str, str]:
    """``user_location`` from the validated ``event_location`` (shared/delivery/geo.py): the load
    balancer's, or a Measurement Protocol sender's. ``region_id`` is "The ISO 3166 country and
    subdivision. For example, US-CA" and ``country_id`` ISO 3166-1 alpha-2; ``user_location``
    "takes precedence over ``ip_override``"
    (https://developers.google.com/analytics/devguides/collection/protocol/ga4/reference#geographic_information)."""
    found = geo.location(event)
    return {wire: found[key] for key, wire in _LOCATION_KEYS.items() if key in found}


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
        if not NAME.match(key) or key.startswith(RESERVED_PARAM_PREFIXES) or key in limits.RESERVED_PARAM_NAMES:
            continue
        value = _finite(value)
        if value is None or isinstance(value, dict) or isinstance(value, list) and key != "items":
            continue
        params[key] = _bounded(value.strip().upper() if key == "currency" and isinstance(value, str) else value)
    if debug:
        if len(params) >= MAX_PARAMS:
            params.popitem()
        params["debug_mode"] = True
    return params


def build_request(event: dict[str, Any], settings: Mapping[str, str]) -> VendorRequest:
    """A Measurement Protocol-sourced event → one ``/mp/collect`` request."""
    name = settings["EVENT"]
    if name in RESERVED_EVENTS or name.startswith(RESERVED_EVENT_PREFIXES):
        raise Skip(f"reserved_event_name:{name}")
    if not NAME.match(name):
        raise Skip(f"invalid_event_name:{name[:40]}")
    client_id = ed.text(event, "client_id")
    if not client_id:
        raise Reject("missing_field:client_id")
    measurement_id = settings.get("MEASUREMENT_ID") or ed.text(event, "x-ga-measurement_id")
    body: dict[str, Any] = {"client_id": client_id}
    user_id = ed.text(event, "user_id")
    if user_id:
        body["user_id"] = user_id[:256]
    micros = ed.number(event.get("timestamp_micros"))
    if micros:
        body["timestamp_micros"] = int(micros)
    consent = _consent(event)
    if consent:
        body["consent"] = consent
    # Google: "user_data" must be sent with user_id; without one it is left out.
    if user_id and consent.get("ad_user_data") != "DENIED":
        user_data = _user_data(event)
        if user_data:
            body["user_data"] = user_data
    # Only context the sender put in its own body: collect's caller is a backend, not the user.
    supplied = event.get("x-ga-mp_sender_context")
    supplied = supplied if isinstance(supplied, list) else []
    ip = ed.client_ip(event)
    if ip and "ip_override" in supplied:
        body["ip_override"] = ip
    user_agent = ed.text(event, "user_agent")
    if user_agent and "user_agent" in supplied:
        body["user_agent"] = user_agent
    device = event.get("device") if isinstance(event.get("device"), dict) else {}
    if device:
        body["device"] = device
    location = _user_location(event)
    if location:
        body["user_location"] = location
    user_properties = _user_properties(event)
    if user_properties:
        body["user_properties"] = user_properties
    body["events"] = [{"name": name, "params": _params(event, settings.get("DEBUG") == "1")}]
    origin = ORIGINS.get(settings.get("REGION", "").lower(), ORIGINS[""])
    query = urlencode({"measurement_id": measurement_id, "api_secret": settings.get("API_SECRET", "")})
    return VendorRequest("POST", f"{origin}/mp/collect?{query}", {"Content-Type": "application/json"}, body)
