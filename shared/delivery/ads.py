"""What the ad-platform mappings of issue 17 read the same way: value, currency, click ids,
and customer information hashed in Meta's format.

Click ids come from the landing URL's query (``page_location``, then ``page_referrer``), the
event's own key, or the first-party cookie collect copied into ``cookies``
(docs/contracts.md), in that order: the URL is the freshest.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from shared import hashing
from shared.delivery import eventdata as ed
from shared.delivery.vendor import Reject


def value(event: dict[str, Any]) -> int | float | None:
    """The event's ``value``, else Σ price × quantity of its items."""
    found = ed.number(event.get("value"))
    return found if found is not None else ed.items_value(event)


def currency(event: dict[str, Any]) -> str:
    return ed.text(event, "currency").upper()


def click_id(
    event: dict[str, Any],
    param: str,
    cookie: str = "",
    from_cookie: Callable[[str], str] | None = None,
    keys: tuple[str, ...] = (),
) -> str:
    """A click id: the landing URL's ``param`` (case-sensitive), an event key, else the cookie."""
    for url in (ed.page_url(event), ed.text(event, "page_referrer")):
        found = ed.query_param(url, param)
        if found:
            return found
    found = ed.first_of(event, keys or (param, param.lower()))
    if found:
        return found
    raw = ed.cookies(event).get(cookie, "").strip() if cookie else ""
    if raw and from_cookie is not None:
        return from_cookie(raw)
    return raw


def after_prefix(prefix: str) -> Callable[[str], str]:
    """``_uet<msclkid>`` → ``<msclkid>``."""
    return lambda raw: raw[len(prefix) :] if raw.startswith(prefix) else raw


def quantity(item: dict[str, Any]) -> int:
    found = ed.number(item.get("quantity"))
    return int(found) if found is not None and found > 0 else 1


def num_items(event: dict[str, Any]) -> int | None:
    found = ed.items(event)
    return sum(quantity(item) for item in found) if found else None


def json_map(settings: Mapping[str, str], key: str, vendor: str = "") -> dict[str, str]:
    """A JSON object setting (``{"purchase": "123"}``). A malformed one rejects the event as
    ``vendor_misconfigured:<VENDOR>_<KEY>`` at ERROR, which the misconfiguration alert counts
    (the operator fixes the setting; the events meanwhile are logged, not sent)."""
    raw = settings.get(key, "").strip()
    if not raw:
        return {}
    try:
        found = json.loads(raw)
    except ValueError:
        found = None
    if not isinstance(found, dict):
        name = f"{vendor.upper()}_{key}" if vendor else key
        raise Reject(f"vendor_misconfigured:{name} is not a JSON object of event name to id", alert=True)
    return {str(k): str(v).strip() for k, v in found.items() if str(v).strip()}


def is_test(settings: Mapping[str, str]) -> bool:
    """A debug event (runtime ``DEBUG``) or ``<VENDOR>_TEST_MODE=true|all``."""
    return settings.get("DEBUG") == "1" or settings.get("TEST_MODE", "").strip().lower() in ("1", "true", "yes", "all")


def event_seconds(event: dict[str, Any]) -> int:
    """When the event happened, in seconds (an event without a time is rejected, by eventdata)."""
    return ed.timestamp_seconds(event)


def event_millis(event: dict[str, Any]) -> int:
    """When the event happened, in milliseconds (collect's ``timestamp_micros`` // 1000)."""
    return event_seconds(event) * 1000 + int((ed.number(event.get("timestamp_micros")) or 0) // 1000) % 1000


def hashed_customer_info(event: dict[str, Any], *, address_lists: bool = False) -> dict[str, Any]:
    """The visitor's customer information hashed as Meta's Conversions API defines it
    (``em``, ``ph``, ``external_id`` as lists; ``fn``, ``ln``, ``ct``, ``st``, ``zp``,
    ``country`` from the first address), a format Snapchat's and Pinterest's Conversions APIs
    reuse. ``address_lists`` wraps each address field in a list (Pinterest)."""
    data: dict[str, Any] = {}
    emails = [
        hashing.hashed(v, hashing.email_basic)
        for v in ed.user_values(event, ("email", "email_address"), ("sha256_email_address",))
    ]
    phones = [
        hashing.hashed(v, hashing.phone_digits)
        for v in ed.user_values(event, ("phone_number", "phone"), ("sha256_phone_number",))
    ]
    externals = [
        hashing.hashed(v, hashing.trimmed)
        for v in [ed.text(event, "user_id"), *ed.user_values(event, ("external_id",), ("sha256_external_id",))]
        if v
    ]
    for key, values in (("em", emails), ("ph", phones), ("external_id", externals)):
        unique = list(dict.fromkeys(v for v in values if v))
        if unique:
            data[key] = unique
    addresses = ed.addresses(event)
    if addresses:
        address = addresses[0]
        country = ed.address_value(address, "country")
        for key, field, normalize in (
            ("fn", "first_name", hashing.name_meta),
            ("ln", "last_name", hashing.name_meta),
            ("ct", "city", hashing.city_meta),
            ("st", "region", hashing.state_meta),
            ("zp", "postal_code", lambda v: hashing.zip_meta(v, country)),
            ("country", "country", hashing.country_code),
        ):
            found = hashing.hashed(ed.address_value(address, field), normalize)
            if found:
                data[key] = [found] if address_lists else found
    return data
