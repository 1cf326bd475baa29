"""Bounds on what one request to collect may carry, matching GA4's own collection limits.

Collect is a public endpoint: without bounds one 22 KB request fanned out into 500 events
and 7.6 MB of messages. These caps keep every request's cost (CPU, published bytes, log
and answer size) proportional to a small constant. Sources: GA4's collection limits
(support.google.com/analytics/answer/9267744), the Measurement Protocol's
(developers.google.com/analytics/devguides/collection/protocol/ga4/sending-events#limitations)
and ../shared/reference/ga4-protocol.md §7. docs/ga4-client.md ("Bounds") says which excess
is refused and which truncated.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared import settings

# Events one request may publish (the Measurement Protocol's limit; gtag batches hold a
# handful). Configurable with COLLECT_MAX_EVENTS; lines past it are counted, never parsed.
DEFAULT_MAX_EVENTS = 25
# The URL query of a gtag hit: gtag.js moves long payloads into the POST body, so a longer
# query is not a real tag's. Refused with 414.
MAX_QUERY_CHARS = 16 * 1024
# One normalized event, encoded as published. gtag caps a hit's payload at 16 KB; the
# normalized JSON spells every key out (``pr1=idA~nmB`` → ``{"item_id": "A", "item_name":
# "B"}``), so twice that leaves room for any real 200-item event.
MAX_EVENT_BYTES = 32 * 1024
MAX_EVENT_NAME = 40
# GA4 truncates these (characters): page_location 1000, page_referrer 420, page_title 300,
# event parameter values 100, user property values 36. Anything else we bound at 1000 so an
# unknown parameter cannot carry 60 KB into every vendor's log.
VALUE_LIMITS = {"dl": 1000, "dr": 420, "dt": 300}
PARAM_VALUE_CHARS = 100
USER_PROPERTY_VALUE_CHARS = 36
OTHER_VALUE_CHARS = 1000
# A gtag item (``prN``): each field value is an event-parameter value (100 characters), and
# a raw item longer than this is cut before parsing.
MAX_ITEM_CHARS = 4000
ITEM_FIELD_CHARS = PARAM_VALUE_CHARS
# ``ep.user_data.address.0.first_name`` is 3 levels below user_data; deeper paths are kept
# verbatim, never nested (a 1,200-level path used to exhaust the recursion limit).
MAX_USER_DATA_DEPTH = 4
# Numbers: GA4 stores 64-bit values; 40 characters hold any of them in decimal or float
# notation. Longer text is not a number (int() of 5,000 digits raises, and costs CPU).
MAX_NUMBER_CHARS = 40
# Answers and log lines list the first few rejections and count the rest.
SHOWN_REJECTIONS = 5
SHOWN_VALIDATION_MESSAGES = 20
# Measurement Protocol JSON nesting (user_data.address[0].city is 3 deep).
MAX_JSON_DEPTH = 16


def max_events() -> int:
    """COLLECT_MAX_EVENTS (default 25, at least 1)."""
    value = settings.env_int("COLLECT_MAX_EVENTS", DEFAULT_MAX_EVENTS)
    if value < 1:
        raise ValueError(f"COLLECT_MAX_EVENTS must be at least 1, got {value}")
    return value


def value_limit(key: str) -> int:
    """How many characters GA4 keeps of the value of wire parameter ``key``."""
    limit = VALUE_LIMITS.get(key)
    if limit is not None:
        return limit
    if key[:3] == "ep." or key[:4] == "epn.":
        return PARAM_VALUE_CHARS
    if key[:3] == "up." or key[:4] == "upn.":
        return USER_PROPERTY_VALUE_CHARS
    if key[:2] == "pr":
        return MAX_ITEM_CHARS
    return OTHER_VALUE_CHARS


def summarize(rejections: list[dict[str, Any]], shown: int = SHOWN_REJECTIONS) -> dict[str, Any]:
    """``{rejected: first few, rejected_count, rejected_reasons}``: small whatever came in."""
    counts: dict[str, int] = {}
    for rejection in rejections:
        counts[rejection["reason"]] = counts.get(rejection["reason"], 0) + rejection.get("count", 1)
    return {
        "rejected": rejections[:shown],
        "rejected_count": sum(counts.values()),
        "rejected_reasons": counts,
    }


def json_depth_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether parsed JSON nests deeper than ``limit`` (iterative: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Iterable[Any] = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False
