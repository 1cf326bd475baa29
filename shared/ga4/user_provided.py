"""gtag's user-provided data parameter ``em`` → ``user_data`` ``sha256_*`` values.

With user-provided data collection on, gtag does not send the visitor's email or phone in
clear: it sends ``em=tv.1~em.<sha256>~pn.<sha256>``, each value the SHA-256 of the
normalized field, base64url-encoded (../shared/reference/ga4-protocol.md; Google's
https://support.google.com/analytics/answer/14077171). Meta, TikTok and Google accept a
lowercase hex SHA-256 as "already hashed", so the digests are re-encoded as hex under the
names the Measurement Protocol uses (``sha256_email_address``, ``sha256_phone_number``,
``address.sha256_first_name`` ...). The raw ``em`` value stays in the event as ``x-ga-em``
(the GA4 vendor forwards it unchanged).

Anything that is not a 32-byte digest is ignored: the browser is hostile, and a malformed
entry must not become a value a vendor would match on.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

# Entry keys → user_data keys. ``pn`` is gtag's name for the phone; ``ph`` is accepted too.
# Address parts carry a list index (``fn0``), as gtag numbers addresses.
TOP_LEVEL = {"em": "sha256_email_address", "pn": "sha256_phone_number", "ph": "sha256_phone_number"}
ADDRESS = {"fn": "sha256_first_name", "ln": "sha256_last_name", "sa": "sha256_street"}
MAX_VALUE_CHARS = 2048
MAX_ENTRIES = 32
MAX_VALUES_PER_KEY = 5
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_ADDRESS_KEY = re.compile(r"^([a-z]{2})(\d?)$")


def digest_hex(encoded: str) -> str:
    """A SHA-256 digest as lowercase hex, from base64url (gtag) or hex; ``""`` if neither."""
    encoded = encoded.strip()
    if _HEX64.match(encoded):
        return encoded.lower()
    if not encoded or len(encoded) > 64:
        return ""
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        return ""
    return raw.hex() if len(raw) == 32 else ""


def decode(value: str) -> dict[str, Any]:
    """``tv.1~em.<…>~pn.<…>`` → ``{"sha256_email_address": "<hex>", ...}`` (lists when repeated).

    Unknown versions, keys and malformed digests are skipped; an empty dict means nothing usable.
    """
    if not isinstance(value, str) or not value or len(value) > MAX_VALUE_CHARS:
        return {}
    entries = value.split("~")[:MAX_ENTRIES]
    if entries[0].strip() != "tv.1":
        return {}
    top: dict[str, list[str]] = {}
    address: dict[str, str] = {}
    for entry in entries[1:]:
        key, dot, encoded = entry.partition(".")
        if not dot:
            continue
        digest = digest_hex(encoded)
        if not digest:
            continue
        if key in TOP_LEVEL:
            values = top.setdefault(TOP_LEVEL[key], [])
            if digest not in values and len(values) < MAX_VALUES_PER_KEY:
                values.append(digest)
            continue
        match = _ADDRESS_KEY.match(key)
        if match and match.group(1) in ADDRESS and match.group(2) in ("", "0"):
            address.setdefault(ADDRESS[match.group(1)], digest)
    decoded: dict[str, Any] = {name: values[0] if len(values) == 1 else values for name, values in top.items()}
    if address:
        decoded["address"] = address
    return decoded


def merge_into(event: dict[str, Any], value: str) -> None:
    """Add the decoded ``em`` to ``event["user_data"]``; what the hit set explicitly wins."""
    decoded = decode(value)
    if not decoded:
        return
    user_data = event.get("user_data")
    if not isinstance(user_data, dict):
        user_data = {}
    for key, decoded_value in decoded.items():
        if key == "address":
            current = user_data.get("address")
            if current is None:
                user_data["address"] = decoded_value
            elif isinstance(current, dict):
                for name, digest in decoded_value.items():
                    current.setdefault(name, digest)
            continue
        user_data.setdefault(key, decoded_value)
    event["user_data"] = user_data
