"""gtag item encoding (``pr1=idSKU~nmTee~pr10.01~qt3~k0color~v0red``) → item dicts."""

from __future__ import annotations

from typing import Any

from shared.ga4.limits import ITEM_FIELD_CHARS
from shared.ga4.numbers import set_number

# Two-letter wire code → GA4 item parameter.
ITEM_STRING_KEYS = {
    "id": "item_id",
    "nm": "item_name",
    "af": "affiliation",
    "cp": "coupon",
    "br": "item_brand",
    "ca": "item_category",
    "c2": "item_category2",
    "c3": "item_category3",
    "c4": "item_category4",
    "c5": "item_category5",
    "li": "item_list_id",
    "ln": "item_list_name",
    "va": "item_variant",
    "lo": "location_id",
    "pi": "promotion_id",
    "pn": "promotion_name",
    "cn": "creative_name",
    "cs": "creative_slot",
}
ITEM_NUMBER_KEYS = {"pr": "price", "qt": "quantity", "ds": "discount", "lp": "index"}

MAX_ITEM_INDEX = 200


def item_index(key: str) -> int | None:
    """``"pr12"`` → 12 for the item parameters ``pr1``..``pr200``; ``None`` for anything else."""
    digits = key[2:]
    # isascii: "pr²".isdigit() is true, but int("²") raises.
    if not digits.isdigit() or not digits.isascii() or digits[0] == "0" or len(digits) > 3:
        return None
    index = int(digits)
    return index if index <= MAX_ITEM_INDEX else None


def parse_item(raw: str) -> dict[str, Any]:
    """Decode one ``prN`` value (already URL-decoded once).

    Custom parameters come as ``kN<name>`` / ``vN<value>`` pairs. Unknown codes are kept as
    ``x-ga-mp2-<code>``; unparseable numbers as ``None`` plus ``x-ga-raw-<key>``.
    """
    item: dict[str, Any] = {}
    custom_names: dict[str, str] = {}
    custom_values: dict[str, str] = {}
    for field in raw.split("~"):
        if len(field) < 2:
            if field:
                item[f"x-ga-mp2-{field}"] = ""
            continue
        # GA4 keeps 100 characters of an item parameter's value.
        code, value = field[:2], field[2 : ITEM_FIELD_CHARS + 2]
        if code in ITEM_STRING_KEYS:
            item[ITEM_STRING_KEYS[code]] = value
        elif code in ITEM_NUMBER_KEYS:
            set_number(item, ITEM_NUMBER_KEYS[code], value)
        elif code[0] in "kv" and "0" <= code[1] <= "9":
            # kN/vN: the digit may be followed by more digits (k10name) when >10 customs are sent.
            digits_end = 1
            while digits_end < len(field) and "0" <= field[digits_end] <= "9":
                digits_end += 1
            slot, rest = field[1:digits_end], field[digits_end : digits_end + ITEM_FIELD_CHARS]
            (custom_names if code[0] == "k" else custom_values)[slot] = rest
        else:
            item[f"x-ga-mp2-{code}"] = value
    for slot, name in custom_names.items():
        value = custom_values.pop(slot, "")
        if name and name not in item:
            item[name] = value
        else:  # nameless or colliding with a standard key: keep both halves verbatim
            item[f"x-ga-mp2-k{slot}"] = name
            item[f"x-ga-mp2-v{slot}"] = value
    for slot, value in custom_values.items():
        item[f"x-ga-mp2-v{slot}"] = value
    return item
