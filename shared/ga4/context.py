"""Request context that is not in the hit: client IP, user agent, geo from the load balancer."""

from __future__ import annotations

import ipaddress
from typing import Any, Mapping

# Headers a load balancer or CDN may add, mapped onto event_location keys. The Google Cloud
# HTTPS load balancer adds none by default: configure custom request headers such as
# ``X-Client-Geo-Country: {client_region}`` (see docs/ga4-client.md).
GEO_HEADERS = (
    ("x-client-geo-country", "country"),
    ("x-client-geo-region", "region"),
    ("x-client-geo-city", "city"),
    ("x-appengine-country", "country"),
    ("x-appengine-region", "region"),
    ("x-appengine-city", "city"),
    ("cf-ipcountry", "country"),
)
_UNKNOWN_GEO = frozenset(("", "ZZ", "XX", "?"))


def client_ip(headers: Mapping[str, str], remote_addr: str = "") -> str | None:
    """The first hop of ``X-Forwarded-For`` (the client as Google's front end saw it), else
    the socket's peer; ``None`` when neither is a valid IP address."""
    forwarded = headers.get("x-forwarded-for", "")
    candidate = forwarded.split(",", 1)[0].strip() if forwarded else remote_addr
    if not candidate:
        return None
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def event_location(headers: Mapping[str, str]) -> dict[str, str] | None:
    """``{country, region, city}`` from geo headers, first header of each kind wins."""
    location: dict[str, str] = {}
    for header, key in GEO_HEADERS:
        value = headers.get(header)
        if value is not None and key not in location:
            value = value.strip()
            if value not in _UNKNOWN_GEO:
                location[key] = value
    return location or None


def add_request_context(event: dict[str, Any], ip: str | None, user_agent: str | None, location: dict[str, str] | None) -> None:
    """Fill ``ip_override``, ``user_agent`` and ``event_location`` unless the hit set them."""
    if ip is not None:
        event.setdefault("ip_override", ip)
    if user_agent:
        event.setdefault("user_agent", user_agent)
    if location:
        event.setdefault("event_location", dict(location))
