"""The normalized event → the gtag wire parameters GA4's ``/g/collect`` takes.

The inverse of :mod:`shared.ga4.normalize`. Each parameter is rebuilt from the event's keys,
so a rule that changes or removes a key changes what Google receives. Two helper keys that
collect adds keep the round trip exact: ``x-ga-wire_keys`` (the parameters the browser sent,
in order: only those are rebuilt, so identifiers collect adds for other vendors never reach
Google) and ``x-ga-wire_text`` (the text of values whose parsed form does not print back the
same, such as ``epn.value=1150.00`` or an item string). The text is used only while the
event's value still equals it parsed; a changed value is printed from the event.

Events without ``x-ga-wire_keys`` (written by something other than collect's gtag path) are
encoded from their keys alone (:func:`canonical_params`).
"""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import quote

from shared.ga4 import normalize as n
from shared.ga4.client_hints import HINT_FLAGS, HINT_STRINGS, full_version_list
from shared.ga4.items import ITEM_NUMBER_KEYS, ITEM_STRING_KEYS, item_index, parse_item
from shared.ga4.numbers import to_int, to_number

# The rich-response flag gtag sends only to a server container: Google's endpoint has no use for it.
DROPPED = frozenset(("richsstsse",))
# Parameters a consent rule removes when ad_user_data is denied (user-provided data).
USER_DATA_PREFIX = "ep.user_data."
USER_DATA_KEYS = frozenset(("em",))

_STRING_WIRE = {event_key: wire for wire, event_key in n.STRING_PARAMS.items() if wire not in ("ct", "_uip")}
_NUMBER_WIRE = {event_key: (wire, integer) for wire, (event_key, integer) in n.NUMBER_PARAMS.items()}
_SYSTEM_WIRE = {name: wire for wire, name in n.SYSTEM_PARAMS.items()}
_ITEM_CODES = {key: code for code, key in {**ITEM_STRING_KEYS, **ITEM_NUMBER_KEYS}.items()}
_HINT_STRING_WIRE = {name: wire for wire, name in HINT_STRINGS.items()}
_HINT_FLAG_WIRE = {name: wire for wire, name in HINT_FLAGS.items()}
# Event keys that are context, not parameters of the hit: never encoded as ep./epn.
_CONTEXT = frozenset(
    (
        "event_id",
        "source",
        "timestamp_micros",
        "consent",
        "debug_mode",
        "ip_override",
        "user_agent",
        "client_hints",
        "event_location",
        "cookies",
        "page_hostname",
        "page_path",
        "items",
        "user_properties",
        "user_data",
        "device",
    )
)
_PARAM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")


def format_number(value: Any) -> str:
    """A number as gtag prints it: ``3`` → ``"3"``, ``1150.0`` → ``"1150"``, ``10.5`` → ``"10.5"``."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    return str(value)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return format_number(value)
    if isinstance(value, (dict, list)):
        return None
    return str(value)


def _number_text(event: dict[str, Any], key: str, wire: str, integer: bool, texts: dict[str, str]) -> str | None:
    """The wire text of a number: the browser's own text while the value is unchanged."""
    value = event.get(key)
    sent = texts.get(wire)
    if sent is not None:
        parsed = to_int(sent) if integer else to_number(sent)
        if parsed == value and type(parsed) is type(value):
            return sent
    if value is None:
        raw = event.get(f"x-ga-raw-{key}")  # unparseable text (``_et=NaN``) kept as sent
        return str(raw) if raw is not None else None
    return _text(value)


def encode_item(item: dict[str, Any]) -> str:
    """One item dict → a ``prN`` value (``id…~nm…~pr…~qt…~k0name~v0value``)."""
    fields, customs = [], []
    for key, value in item.items():
        if value is None or key.startswith("x-ga-raw-"):
            continue
        text = _text(value)
        if text is None:
            continue
        code = _ITEM_CODES.get(key)
        if code is not None:
            fields.append(code + text)
        elif key.startswith("x-ga-mp2-"):
            fields.append(key[9:] + text)
        else:
            customs.append((key, text))
    for slot, (name, text) in enumerate(customs):
        fields.append(f"k{slot}{name}~v{slot}{text}")
    return "~".join(fields)


def _item_text(item: Any, sent: str | None) -> str | None:
    if not isinstance(item, dict):
        return None
    if sent is not None and parse_item(sent) == item:
        return sent
    return encode_item(item)


def _user_data_value(event: dict[str, Any], path: str) -> Any:
    node: Any = event.get("user_data")
    for part in path.split("."):
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _hint_text(hints: Any, wire: str, sent: str | None) -> str | None:
    if not isinstance(hints, dict):
        return None
    if wire == "uafvl":
        brands = hints.get("full_version_list")
        if not isinstance(brands, list):
            return None
        if sent is not None and full_version_list(sent) == brands:
            return sent
        return "|".join(
            f"{quote(str(b.get('brand') or ''), safe='')};{quote(str(b.get('version') or ''), safe='')}"
            for b in brands
            if isinstance(b, dict)
        )
    if wire in HINT_FLAGS:
        value = hints.get(HINT_FLAGS[wire])
        if not isinstance(value, bool):
            return None
        if sent is not None and (sent == "1") == value:
            return sent
        return "1" if value else "0"
    value = hints.get(HINT_STRINGS[wire])
    return None if value is None else str(value)


def _items_by_key(event: dict[str, Any], keys: list[str], texts: dict[str, str]) -> dict[str, Any] | None:
    """Wire item key → the event's item, when the items still line up with the wire's."""
    items = event.get("items")
    sent = sorted(
        (k for k in keys if k[:2] == "pr" and item_index(k) is not None and texts.get(k)),
        key=lambda k: item_index(k) or 0,
    )
    if not isinstance(items, list):
        return {}
    if len(items) != len(sent):
        return None  # items added or removed: all are re-encoded as pr1..prN
    return dict(zip(sent, items, strict=True))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def rebuild_params(event: dict[str, Any]) -> list[tuple[str, str]]:
    """The hit's wire parameters, rebuilt from the event (see the module docstring)."""
    keys = event.get("x-ga-wire_keys")
    if not isinstance(keys, list):
        return canonical_params(event)
    keys = list(dict.fromkeys(k for k in keys if isinstance(k, str)))
    texts = {k: v for k, v in _dict(event.get("x-ga-wire_text")).items() if isinstance(v, str)}
    items = _items_by_key(event, keys, texts)
    out: list[tuple[str, str]] = []
    for key in keys:
        if key in DROPPED or key == "_uip":
            continue
        op, arg, flag = n._classify(key)
        value: str | None = None
        if op == n._SET:
            value = _text(event.get(arg))
        elif op == n._NUMBER:
            value = _number_text(event, arg, key, bool(flag), texts)
        elif op == n._ITEM:
            if not texts.get(key):
                value = _text(event.get(arg))  # an empty item stays empty
            elif items is not None and key in items:
                value = _item_text(items[key], texts.get(key))
        elif op == n._SYSTEM:
            raw = _dict(event.get("x-ga-system_properties")).get(arg)
            value = texts.get(key, "1") if raw is True else _text(raw)
        elif op in (n._USER_PROPERTY, n._USER_PROPERTY_NUMBER):
            props = _dict(event.get("user_properties"))
            value = (
                _number_text(props, arg, key, False, texts) if op == n._USER_PROPERTY_NUMBER else _text(props.get(arg))
            )
        elif op == n._USER_DATA:
            found = _user_data_value(event, arg)
            value = _text(found if found is not None else event.get(flag))
        elif op == n._EVENT_ID:
            value = _text(event.get("event_id"))
        elif op == n._DEBUG_MODE:
            value = _text(event.get("x-ga-mp2-ep.debug_mode"))
        elif op == n._SST:
            value = _text(_dict(event.get("x-sst-system_properties")).get(arg))
        elif op == n._SKIP:
            value = _hint_text(event.get("client_hints"), key, texts.get(key))
        if value is not None:
            out.append((key, value))
    if items is None:
        out.extend((f"pr{i}", encode_item(item)) for i, item in enumerate(event["items"], 1) if isinstance(item, dict))
    return out


def canonical_params(event: dict[str, Any]) -> list[tuple[str, str]]:
    """Wire parameters for an event collect did not build from a hit: every key mapped back."""
    out: list[tuple[str, str]] = [("v", "2")]
    for key, value in event.items():
        if key in _CONTEXT or value is None or value == "" and key not in _STRING_WIRE:
            continue
        if key in _STRING_WIRE:
            text = _text(value)
            if text is not None and key not in ("x-ga-protocol_version",):
                out.append((_STRING_WIRE[key], text))
        elif key in _NUMBER_WIRE:
            wire, _ = _NUMBER_WIRE[key]
            text = _text(value)
            if text:
                out.append((wire, text))
        elif key == "x-ga-system_properties" and isinstance(value, dict):
            for name, flag in value.items():
                if name in _SYSTEM_WIRE:
                    out.append((_SYSTEM_WIRE[name], "1" if flag is True else str(flag)))
        elif key == "x-sst-system_properties" and isinstance(value, dict):
            out.extend((f"sst.{name}", str(text)) for name, text in value.items())
        elif key.startswith("x-ga-mp2-"):
            text = _text(value)
            if text is not None:
                out.append((key[9:], text))
        elif key.startswith("x-ga-") and key[5:] in n.INTERNAL_PARAMS:
            out.append((key[5:], str(value)))
        elif key.startswith("x-") or not _PARAM_NAME.match(key) or isinstance(value, bool):
            continue
        elif isinstance(value, (int, float)):
            out.append((f"epn.{key}", format_number(value)))
        elif isinstance(value, str):
            out.append((f"ep.{key}", value))
    consent = _dict(event.get("consent"))
    storage = [
        {"granted": "1", "denied": "0"}.get(str(consent.get(p)), "") for p in ("ad_storage", "analytics_storage")
    ]
    if "x-ga-gcs" not in event and all(storage):
        out.append(("gcs", "G1" + "".join(storage)))  # consent mode's storage state, as gtag sends it
    props = event.get("user_properties")
    if isinstance(props, dict):
        for name, value in props.items():
            if isinstance(value, dict):
                value = value.get("value")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out.append((f"upn.{name}", format_number(value)))
            elif value is not None:
                out.append((f"up.{name}", str(value)))
    items = event.get("items")
    if isinstance(items, list):
        out.extend((f"pr{i}", encode_item(item)) for i, item in enumerate(items, 1) if isinstance(item, dict))
    hints = event.get("client_hints")
    if isinstance(hints, dict):
        for wire in ("uaa", "uab", "uafvl", "uamb", "uam", "uap", "uapv", "uaw"):
            text = _hint_text(hints, wire, None)
            if text is not None:
                out.append((wire, text))
    return out
