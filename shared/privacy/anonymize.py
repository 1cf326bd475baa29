"""Pure anonymization primitives: IP truncation, client-id HMAC, URL shortening."""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import urllib.parse
from collections.abc import Callable

# Prefix lengths kept per mode. ``standard`` is Google Analytics' IP anonymization (IPv4 last
# octet, IPv6 last 80 bits: https://support.google.com/analytics/answer/2763052); ``strict`` is
# Stape Anonymizer's "Anonymize Strictly" (last two octets) and its IPv6 analogue /32.
IP_MODES = {"standard": (24, 48), "strict": (16, 32)}
IP_SETTING_VALUES = ("", "none", *IP_MODES)


def truncate_ip(value: str, mode: str) -> str | None:
    """``value`` with its host bits zeroed (``203.0.113.195`` → ``203.0.113.0``, strict
    ``203.0.0.0``; ``2001:db8:85a3:8d3:…`` → ``2001:db8:85a3::``, strict ``2001:db8::``).

    ``mode`` ``""``/``none`` returns the address unchanged; a value that is not an IP address
    returns ``None`` (better no IP than one we could not truncate)."""
    if mode in ("", "none"):
        return value
    return _truncate(str(value).strip(), mode)


@functools.lru_cache(maxsize=8192)
def _truncate(value: str, mode: str) -> str | None:
    # Cached: the same visitor sends several hits, and ipaddress objects are slow to build.
    v4_bits, v6_bits = IP_MODES[mode]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    width, bits = (32, v4_bits) if address.version == 4 else (128, v6_bits)
    mask = ((1 << bits) - 1) << (width - bits)
    return str(type(address)(int(address) & mask))


def anonymize_client_id(secret: bytes, client_id: str) -> str:
    """``HMAC-SHA256(secret, client_id)`` rendered like a GA client id, ``<10 digits>.<10 digits>``:
    the first 8 bytes of the digest (big-endian) mod 10^10, then the next 8. Deterministic per
    secret, unlinkable to the original without it, different after a rotation."""
    digest = hmac.new(secret, client_id.encode("utf-8"), hashlib.sha256).digest()
    first = int.from_bytes(digest[:8], "big") % 10**10
    second = int.from_bytes(digest[8:16], "big") % 10**10
    return f"{first:010d}.{second:010d}"


def url_origin(value: str) -> str:
    """``https://news.example/a/b?q=1#x`` → ``https://news.example/``; not a URL → ``""``."""
    parts = urllib.parse.urlsplit(str(value))
    if not parts.scheme or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}/"


def url_without_query(value: str) -> str:
    """``https://shop.example/a?email=x#y`` → ``https://shop.example/a``."""
    parts = urllib.parse.urlsplit(str(value))
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


# Transforms an ``augment`` rule may apply to the value it copies.
VALUE_TRANSFORMS: dict[str, Callable[[str], str | None]] = {
    "url_origin": url_origin,
    "url_without_query": url_without_query,
    "ip_standard": lambda v: truncate_ip(v, "standard"),
    "ip_strict": lambda v: truncate_ip(v, "strict"),
}
