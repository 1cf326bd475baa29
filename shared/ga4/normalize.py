"""gtag parameters → the normalized event (sGTM common-event-data keys).

The normalized event is the contract between collect and every vendor function: see
``shared.event`` for its identity fields and Pub/Sub attributes. Nothing is dropped:
parameters without a mapping are kept as ``x-ga-mp2-<name>``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from shared.ga4 import consent as consent_codec
from shared.ga4 import user_provided
from shared.ga4.client_hints import HINT_PARAMS
from shared.ga4.items import item_index, parse_item
from shared.ga4.limits import MAX_USER_DATA_DEPTH
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
    # "_uip" is not here: a browser must not choose the IP vendors receive. It is kept as
    # x-ga-mp2-_uip; collect sets ip_override from the request (shared.ga4.context).
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
INTERNAL_PARAMS = frozenset(
    ("gcs", "gcd", "gcu", "gcut", "dma", "dma_cps", "npa", "ecid", "em", "lps", "gdid", "edid", "did", "ur")
)

# Lifecycle flags → x-ga-system_properties.<name> (sGTM's names).
SYSTEM_PARAMS = {
    "_fv": "fv",
    "_ss": "ss",
    "_c": "c",
    "_dbg": "dbg",
    "_ee": "ee",
    "_eu": "eu",
    "_tu": "tu",
    "_z": "z",
    "_fid": "fid",
}

# Event parameters that are numbers whatever prefix they came with (``ep.value=1150.00``).
NUMERIC_EVENT_PARAMS = frozenset(("value", "tax", "shipping", "discount"))

# Keys the collector itself owns: an ``ep.<name>`` with one of these names is kept as
# ``x-ga-mp2-ep.<name>`` instead of overwriting them.
OWNED_KEYS = frozenset(
    (
        "event_name",
        "event_id",
        "consent",
        "debug_mode",
        "timestamp_micros",
        "source",
        "items",
        "user_properties",
        "client_hints",
        "event_location",
        "ip_override",
        "user_data",
        # The request's own user agent, set by collect: ep.user_agent is kept verbatim.
        "user_agent",
    )
)
_TRUE = frozenset(("1", "true", "True", "TRUE"))


def normalize_gtag(params: dict[str, str], item_cache: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Map one event's merged wire parameters onto the normalized event's keys.

    Identity and request context (``event_id``, ip, user agent, client hints, timestamps)
    are added by the caller, which knows the request. ``item_cache`` (raw ``prN`` value →
    parsed item) lets a batch parse the items of its shared query once, not once per line.
    """
    event: dict[str, Any] = {}
    items: dict[int, dict[str, Any]] = {}
    user_properties: dict[str, Any] = {}
    system: dict[str, Any] = {}
    sst: dict[str, str] = {}
    user_data: dict[str, Any] = {}
    wire_text: dict[str, str] = {}
    debug = False
    for key, value in params.items():
        op, arg, flag = _KINDS.get(key) or _kind(key)
        if (
            (op in _TEXT_KEPT or key in _TEXT_KEPT_KEYS)
            and value
            and not (value.isdigit() and (value[0] != "0" or len(value) == 1))
        ):
            wire_text[key] = value  # plain digits (most numbers and flags) print back as sent
        if op == _SET:
            event[arg] = value
        elif op == _NUMBER:
            set_number(event, arg, value, integer=flag)
            if key in wire_text and str(event[arg]) == value:
                del wire_text[key]  # ``10.5`` prints back as sent; ``1150.00`` does not
        elif op == _ITEM:
            if value:
                if item_cache is None:
                    items[flag] = parse_item(value)
                else:
                    item = item_cache.get(value)
                    if item is None:
                        item = item_cache[value] = parse_item(value)
                    items[flag] = item
            else:
                event[arg] = value  # an empty item: kept, not made an item
        elif op == _SYSTEM:
            system[arg] = True if flag == "_ee" else value
            if flag == "_dbg" and value == "1":
                debug = True
        elif op == _USER_PROPERTY:
            user_properties[arg] = value
        elif op == _USER_PROPERTY_NUMBER:
            set_number(user_properties, arg, value)
        elif op == _USER_DATA:
            if not _set_path(user_data, arg, value):
                event[flag] = value
        elif op == _EVENT_ID:
            if value:
                event["event_id"] = value
        elif op == _DEBUG_MODE:
            # Our debug_mode is a bool; the tag's own string is kept beside it.
            debug = debug or value in _TRUE
            event["x-ga-mp2-ep.debug_mode"] = value
        elif op == _SST:
            sst[arg] = value
        # _SKIP: client hints are assembled by the caller (they need the headers too)
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
    if params.get("em"):
        # gtag's hashed user-provided data: decoded into user_data, the raw value kept as x-ga-em.
        user_provided.merge_into(event, params["em"])
    event["consent"] = consent_codec.from_gtag(params)
    event["debug_mode"] = debug
    # Wire fidelity (functions/vendors/ga4/ga4_wire.py rebuilds the hit from the event): which
    # parameters the browser sent, in order, and the text of values whose parsed form cannot
    # give it back (``1150.00``, item strings, double-encoded client hints).
    event["x-ga-wire_keys"] = list(params)
    if wire_text:
        event["x-ga-wire_text"] = wire_text
    location = event.get("page_location")
    if location and ("page_hostname" not in event or "page_path" not in event):
        try:
            parts = urlsplit(location)
            event.setdefault("page_hostname", parts.hostname or "")
            event.setdefault("page_path", parts.path or "/")
        except ValueError:
            pass  # a page_location that is not a URL stays as sent, without derived parts
    return event


# What normalize_gtag does with a parameter depends on its key alone, so each key is
# classified once and the answer cached: a batch repeats the shared URL parameters on every
# line, and every hit of a site sends the same keys. Ops, with (arg, flag):
_SET = 0  # event[arg] = value
_NUMBER = 1  # set_number(event, arg, value, integer=flag)
_ITEM = 2  # items[flag] = parse_item(value); empty value → event[arg]
_SYSTEM = 3  # system[arg]; flag is the wire key (_ee is a flag, _dbg=1 turns debug on)
_USER_PROPERTY = 4
_USER_PROPERTY_NUMBER = 5
_USER_DATA = 6  # user_data path arg; flag: the event key that keeps the value if the path collides
_EVENT_ID = 7
_DEBUG_MODE = 8
_SST = 9
_SKIP = 10
# Parameters whose parsed value may not give the wire text back: numbers, items, the
# double-encoded brand list and boolean flags.
_TEXT_KEPT = frozenset((_NUMBER, _ITEM, _USER_PROPERTY_NUMBER))
_TEXT_KEPT_KEYS = frozenset(("uafvl", "uamb", "uaw", "_ee"))
_KINDS: dict[str, tuple[int, Any, Any]] = {}
# Keys come from the internet: the cache stops growing here (real tags use a few hundred).
_MAX_CACHED_KINDS = 4096


def _kind(key: str) -> tuple[int, Any, Any]:
    """Classify a wire parameter key (see the ops above) and cache the answer."""
    kind = _classify(key)
    # Long keys are not cached: 4,096 keys of 60 KB each would hold 250 MB.
    if len(_KINDS) < _MAX_CACHED_KINDS and len(key) <= 64:
        _KINDS[key] = kind
    return kind


def _classify(key: str) -> tuple[int, Any, Any]:
    verbatim = (_SET, f"x-ga-mp2-{key}", None)
    target = STRING_PARAMS.get(key)
    if target is not None:
        return (_SET, target, None)
    number = NUMBER_PARAMS.get(key)
    if number is not None:
        return (_NUMBER, number[0], number[1])
    prefix = key[:3]
    if prefix == "ep.":
        name = key[3:]
        if name in NUMERIC_EVENT_PARAMS:
            return (_NUMBER, name, False)
        if name.startswith("user_data."):
            return (_USER_DATA, name[10:], f"x-ga-mp2-{key}")
        if name == "event_id":
            return (_EVENT_ID, None, None)
        if name == "debug_mode":
            return (_DEBUG_MODE, None, None)
        if not name or name in OWNED_KEYS or name.startswith("x-"):
            return verbatim
        return (_SET, name, None)
    if prefix == "epn":
        if key[3:4] == ".":
            name = key[4:]
            if not name or name in OWNED_KEYS or name.startswith("x-"):
                return verbatim
            return (_NUMBER, name, False)
        return verbatim
    if prefix == "up." and len(key) > 3:
        return (_USER_PROPERTY, key[3:], None)
    if key[:4] == "upn." and len(key) > 4:
        return (_USER_PROPERTY_NUMBER, key[4:], None)
    if key[:2] == "pr" and (index := item_index(key)) is not None:
        return (_ITEM, f"x-ga-mp2-{key}", index)
    if key in SYSTEM_PARAMS:
        return (_SYSTEM, SYSTEM_PARAMS[key], key)
    if key in INTERNAL_PARAMS:
        return (_SET, f"x-ga-{key}", None)
    if prefix == "sst":
        if key[3:4] == ".":
            return (_SST, key[4:], None)
        return verbatim
    if key in HINT_PARAMS:
        return (_SKIP, None, None)
    return verbatim


def _set_path(root: dict[str, Any], path: str, value: str) -> bool:
    """``address.0.first_name`` → ``root["address"]["0"]["first_name"]``; ``False`` when the
    path runs into a value already set (the caller keeps such a parameter verbatim)."""
    parts = path.split(".", MAX_USER_DATA_DEPTH)
    if len(parts) > MAX_USER_DATA_DEPTH:
        return False  # deeper than any user_data field: kept verbatim, never nested
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
    # isascii: "²".isdigit() is true but int("²") raises.
    if converted and all(key.isdigit() and key.isascii() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


__all__ = ["normalize_gtag", "to_number"]
