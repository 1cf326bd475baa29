"""Numbers as gtag sends them: text that may be ``1150.00``, ``-330``, ``NaN`` or empty."""

from __future__ import annotations

import math
from typing import Any

from shared.ga4.limits import MAX_NUMBER_CHARS, PARAM_VALUE_CHARS


def to_number(raw: str) -> int | float | None:
    """``"1150.00"`` → 1150.0, ``"3"`` → 3; ``None`` for empty, non-numeric, NaN or infinite."""
    text = raw.strip()
    # Bounded and ASCII only: "²".isdigit() is true but int("²") raises, and int() of
    # thousands of digits raises too (and costs CPU); float() would accept other scripts' digits.
    if not text or len(text) > MAX_NUMBER_CHARS or not text.isascii():
        return None
    if text.isdigit():
        return int(text)
    if text[0] in "+-" and text[1:].isdigit():
        return int(text)
    try:
        number = float(text)
    except ValueError:
        return None
    if math.isnan(number) or math.isinf(number):
        return None
    return number


def to_int(raw: str) -> int | None:
    """Like :func:`to_number` but truncated to an int (counters, milliseconds)."""
    number = to_number(raw)
    if number is None or isinstance(number, int):
        return number
    return int(number)


def set_number(target: dict[str, Any], key: str, raw: str, integer: bool = False) -> None:
    """Store ``raw`` as a number under ``key``; unparseable text becomes ``None`` and the
    raw string is kept as ``x-ga-raw-<key>`` so nothing is silently lost."""
    number = to_int(raw) if integer else to_number(raw)
    target[key] = number
    if number is None and raw.strip():
        target[f"x-ga-raw-{key}"] = raw[:PARAM_VALUE_CHARS]
