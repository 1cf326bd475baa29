"""Reading the normalized event leniently: the helpers vendor mappings share.

Collect is the only writer of the normalized event, but names of browser-side identifiers
(cookies, click ids) have several spellings in the sGTM world (``x-fb-ck-fbp``, ``fbp``,
``_fbp``...). Mappings read them through these helpers so every spelling works; each
vendor's doc page lists the keys it reads.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from shared.delivery.vendor import Reject


def text(event: dict[str, Any], key: str) -> str:
    """A string value, trimmed; ``""`` for missing, null, objects and lists."""
    value = event.get(key)
    if value is None or isinstance(value, (dict, list, bool)):
        return ""
    return str(value).strip()


def number(value: Any) -> int | float | None:
    """A finite number from a number or numeric string; ``None`` otherwise (bools too)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) else None
    try:
        parsed = float(str(value).strip())
    except ValueError:
        return None
    if not math.isfinite(parsed):
        return None
    return int(parsed) if parsed.is_integer() and "." not in str(value) else parsed


def cookies(event: dict[str, Any]) -> dict[str, str]:
    value = event.get("cookies")
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def first_of(event: dict[str, Any], keys: Iterable[str], cookie_names: Iterable[str] = ()) -> str:
    """The first non-empty value among ``keys`` of the event, then among its ``cookies``."""
    for key in keys:
        value = text(event, key)
        if value:
            return value
    jar = cookies(event)
    for name in cookie_names:
        if jar.get(name, "").strip():
            return jar[name].strip()
    return ""


def query_param(url: str, name: str) -> str:
    """A query parameter of a URL, case kept (click ids are case-sensitive)."""
    if not url:
        return ""
    try:
        values = parse_qs(urlsplit(url).query, keep_blank_values=False).get(name)
    except ValueError:
        return ""
    return values[0].strip() if values else ""


def client_ip(event: dict[str, Any]) -> str:
    """The user's IP: the first entry of ``ip_override`` (it may be an X-Forwarded-For list)."""
    return text(event, "ip_override").split(",")[0].strip()


def timestamp_seconds(event: dict[str, Any]) -> int:
    """When the event happened, in whole seconds (collect's ``timestamp_micros``)."""
    micros = number(event.get("timestamp_micros"))
    if micros is None or micros <= 0:
        raise Reject("missing_field:timestamp_micros")
    return int(micros // 1_000_000)


def items(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The event's items (objects only)."""
    value = event.get("items")
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def items_value(event: dict[str, Any]) -> float | None:
    """Σ price × quantity of the items (quantity 1 when missing); ``None`` without prices."""
    total = 0.0
    seen = False
    for item in items(event):
        price = number(item.get("price"))
        if price is None:
            continue
        quantity = number(item.get("quantity"))
        total += price * (quantity if quantity is not None else 1)
        seen = True
    return round(total, 2) if seen else None


def user_data(event: dict[str, Any]) -> dict[str, Any]:
    value = event.get("user_data")
    return value if isinstance(value, dict) else {}


def addresses(event: dict[str, Any]) -> list[dict[str, Any]]:
    """``user_data.address`` as a list (gtag allows one object or a list)."""
    value = user_data(event).get("address")
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [a for a in value if isinstance(a, dict)]
    return []


def user_values(event: dict[str, Any], plain_keys: Iterable[str], hashed_keys: Iterable[str]) -> list[str]:
    """Every value of a user-data field: plain spellings first, then already hashed ones.

    Values may be a string or a list of strings (gtag allows several emails).
    """
    data = user_data(event)
    found: list[str] = []
    for key in (*plain_keys, *hashed_keys):
        value = data.get(key)
        for one in value if isinstance(value, list) else [value]:
            if one is None or isinstance(one, (dict, list, bool)):
                continue
            one = str(one).strip()
            if one and one not in found:
                found.append(one)
    return found


def address_value(address: dict[str, Any], key: str) -> str:
    """An address field, plain (``first_name``) or hashed (``sha256_first_name``)."""
    for name in (key, f"sha256_{key}"):
        value = address.get(name)
        if value is not None and not isinstance(value, (dict, list, bool)) and str(value).strip():
            return str(value).strip()
    return ""


def page_url(event: dict[str, Any]) -> str:
    return text(event, "page_location")


def visitor_ip(event: dict[str, Any]) -> str:
    """The visitor's IP for ad vendors (Meta ``client_ip_address``, TikTok ``ip``).

    Browser hits: ``ip_override`` (collect's trusted client IP). Measurement Protocol events
    (``source: mp``): the same key, which there holds only what the MP sender put in its body;
    collect adds no caller context to MP events, because the caller is a backend, not the
    visitor (docs/contracts.md, "MP events and the visitor's context").
    """
    return client_ip(event)


def visitor_user_agent(event: dict[str, Any]) -> str:
    """The visitor's user agent, under the same rule as :func:`visitor_ip`."""
    return text(event, "user_agent")
