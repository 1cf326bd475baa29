"""gtag parameters → the normalized event (sGTM common-event-data keys).

The normalized event is the contract between collect and every vendor function: see
``shared.event`` for its identity fields and Pub/Sub attributes. Nothing is dropped:
parameters without a mapping are kept as ``x-ga-mp2-<name>``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from shared.ga4 import consent as consent_codec
from shared.ga4.client_hints import HINT_PARAMS
from shared.ga4.items import item_index, parse_item
from shared.ga4.numbers import set_number, to_number

# Wire parameter → event key, for strings copied as they are.
STRING_PARAMS = {
    "en": "event_name",
    "cid": "client_id",
    "uid": "user_id",
    "sid": "ga_session_id",
    "dl": "page_location",
    "dr": "page_referrer",
    "dt": "page_title",
    "dh": "page_hostname",
    "dp": "page_path",
    "de": "page_encoding",
    "vp": "viewport_size",
    "ul": "language",
    "sr": "screen_resolution",
    "cu": "currency",
    "tid": "x-ga-measurement_id",
    "v": "x-ga-protocol_version",
    "gtm": "x-ga-gtm_version",
    "_uip": "ip_override",
    # Campaign overrides (sesamy reads ``ck`` as the term, d8a ``ct``: accept both).
    "cm": "campaign_medium",
    "cs": "campaign_source",
    "cn": "campaign_name",
    "cc": "campaign_content",
    "ck": "campaign_term",
    "ct": "campaign_term",
    "ci": "campaign_id",
    "ccf": "campaign_creative_format",
    "cmt": "campaign_marketing_tactic",
}

# Wire parameter → (event key, integer?) for numbers.
NUMBER_PARAMS = {
    "sct": ("ga_session_number", True),
    "_et": ("engagement_time_msec", True),
    "_p": ("x-ga-page_id", False),
    "_s": ("x-ga-request_count", False),
    "tfd": ("x-ga-tfd", False),
}

# Google's "internal parameters": kept verbatim as x-ga-<name>.
INTERNAL_PARAMS = frozenset(("gcs", "gcd", "gcu", "gcut", "dma", "dma_cps", "npa", "ecid", "em", "lps", "gdid", "edid", "did", "ur"))

# Lifecycle flags → x-ga-system_properties.<name> (sGTM's names).
SYSTEM_PARAMS = {"_fv": "fv", "_ss": "ss", "_c": "c", "_dbg": "dbg", "_ee": "ee", "_eu": "eu", "_tu": "tu", "_z": "z", "_fid": "fid"}

# Event parameters that are numbers whatever prefix they came with (``ep.value=1150.00``).
NUMERIC_EVENT_PARAMS = frozenset(("value", "tax", "shipping", "discount"))

# Keys the collector itself owns: an ``ep.<name>`` with one of these names is kept as
# ``x-ga-mp2-ep.<name>`` instead of overwriting them.
OWNED_KEYS = frozenset(
    (
        "event_name", "event_id", "consent", "debug_mode", "timestamp_micros", "source", "items",
        "user_properties", "client_hints", "event_location", "ip_override", "user_data",
    )
)
_TRUE = frozenset(("1", "true", "True", "TRUE"))


def normalize_gtag(params: dict[str, str]) -> dict[str, Any]:
    """Map one event's merged wire parameters onto the normalized event's keys.

    Identity and request context (``event_id``, ip, user agent, client hints, timestamps)
    are added by the caller, which knows the request.
    """
    event: dict[str, Any] = {}
    items: dict[int, dict[str, Any]] = {}
    user_properties: dict[str, Any] = {}
    system: dict[str, Any] = {}
    sst: dict[str, str] = {}
    user_data: dict[str, Any] = {}
    debug = False
    for key, value in params.items():
        target = STRING_PARAMS.get(key)
        if target is not None:
            event[target] = value
            continue
        number = NUMBER_PARAMS.get(key)
        if number is not None:
            set_number(event, number[0], value, integer=number[1])
            continue
        prefix = key[:3]
        if prefix == "ep.":
            name = key[3:]
            if name in NUMERIC_EVENT_PARAMS:
                set_number(event, name, value)
            elif name.startswith("user_data."):
                if not _set_path(user_data, name[10:], value):
                    event[f"x-ga-mp2-{key}"] = value
            elif name == "event_id":
                if value:
                    event["event_id"] = value
            elif name == "debug_mode":
                # Our debug_mode is a bool; the tag's own string is kept beside it.
                debug = debug or value in _TRUE
                event["x-ga-mp2-ep.debug_mode"] = value
            elif not name or name in OWNED_KEYS or name.startswith("x-"):
                event[f"x-ga-mp2-{key}"] = value
            else:
                event[name] = value
        elif prefix == "epn":
            if key[3:4] == ".":
                name = key[4:]
                if not name or name in OWNED_KEYS or name.startswith("x-"):
                    event[f"x-ga-mp2-{key}"] = value
                else:
                    set_number(event, name, value)
            else:
                event[f"x-ga-mp2-{key}"] = value
        elif prefix == "up." and len(key) > 3:
            user_properties[key[3:]] = value
        elif key[:4] == "upn." and len(key) > 4:
            set_number(user_properties, key[4:], value)
        elif key[:2] == "pr" and (index := item_index(key)) is not None:
            if value:
                items[index] = parse_item(value)
            else:
                event[f"x-ga-mp2-{key}"] = value  # an empty item: kept, not made an item
        elif key in SYSTEM_PARAMS:
            system[SYSTEM_PARAMS[key]] = True if key == "_ee" else value
            if key == "_dbg" and value == "1":
                debug = True
        elif key in INTERNAL_PARAMS:
            event[f"x-ga-{key}"] = value
        elif prefix == "sst":
            if key[3:4] == ".":
                sst[key[4:]] = value
            else:
                event[f"x-ga-mp2-{key}"] = value
        elif key in HINT_PARAMS:
            continue  # client hints are assembled by the caller (they need the headers too)
        else:
            event[f"x-ga-mp2-{key}"] = value
    if items:
        event["items"] = [items[index] for index in sorted(items)]
    if user_properties:
        event["user_properties"] = user_properties
    if system:
        event["x-ga-system_properties"] = system
    if sst:
        event["x-sst-system_properties"] = sst
    if user_data:
        event["user_data"] = {key: _lists_for_digit_keys(child) for key, child in user_data.items()}
    event["consent"] = consent_codec.from_gtag(params)
    event["debug_mode"] = debug
    location = event.get("page_location")
    if location and ("page_hostname" not in event or "page_path" not in event):
        try:
            parts = urlsplit(location)
            event.setdefault("page_hostname", parts.hostname or "")
            event.setdefault("page_path", parts.path or "/")
        except ValueError:
            pass  # a page_location that is not a URL stays as sent, without derived parts
    return event


def _set_path(root: dict[str, Any], path: str, value: str) -> bool:
    """``address.0.first_name`` → ``root["address"]["0"]["first_name"]``; ``False`` when the
    path runs into a value already set (the caller keeps such a parameter verbatim)."""
    parts = path.split(".")
    node = root
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            return False
        node = child
    if isinstance(node.get(parts[-1]), dict):
        return False
    node[parts[-1]] = value
    return True


def _lists_for_digit_keys(node: Any) -> Any:
    """``{"0": {...}, "1": {...}}`` → ``[{...}, {...}]``, recursively (gtag's address list)."""
    if not isinstance(node, dict):
        return node
    converted = {key: _lists_for_digit_keys(child) for key, child in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


__all__ = ["normalize_gtag", "to_number"]
