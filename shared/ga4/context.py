"""Request context that is not in the hit: client IP, user agent, geo — only from sources the
client cannot forge.

* **IP.** Google's front ends *append* to ``X-Forwarded-For``: the load balancer adds
  ``<client-ip>,<lb-ip>`` after whatever the client sent, Cloud Run's own front end adds
  ``<client-ip>``. So the visitor is found by counting from the right, past the configured
  number of trusted proxy hops (``TRUSTED_PROXY_HOPS``: ``1`` behind the shipped load
  balancer, ``none`` = 0 behind Cloud Run's front end alone); the leftmost entries are the
  client's to choose and are never read.
* **Geo.** ``X-Client-Geo-Country/Region/City`` are set by the load balancer's custom request
  headers (infra/modules/custom_domain); they are trusted only on requests that also carry
  the secret ``X-Edge-Auth`` value the load balancer adds (``EDGE_AUTH_SECRETS``), since a
  client can send any header it likes.
* **User agent.** The request's ``User-Agent``; a hit's ``_uip`` or ``ep.user_agent`` never
  overrides the request's own values unless the request is authenticated server-to-server.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping
from typing import Any

from shared import settings

GEO_HEADERS = (
    ("x-client-geo-country", "country"),
    ("x-client-geo-region", "region"),
    ("x-client-geo-city", "city"),
)
EDGE_AUTH_HEADER = "x-edge-auth"
_UNKNOWN_GEO = frozenset(("", "ZZ", "XX", "?"))
# A forwarded chain longer than this is not from a real proxy path: only its right end is read.
_MAX_FORWARDED_CHARS = 1024
_MAX_GEO_CHARS = 100
_MAX_USER_AGENT_CHARS = 512
DEFAULT_TRUSTED_HOPS = 1


def trusted_hops_from_env() -> int:
    """``TRUSTED_PROXY_HOPS``: entries appended to ``X-Forwarded-For`` after the client's by our
    own proxies. Default 1 (the shipped load balancer appends its own address); ``none`` or
    ``0`` for Cloud Run's front end alone (no load balancer)."""
    raw = settings.env_str("TRUSTED_PROXY_HOPS", "").strip().lower()
    if not raw:
        return DEFAULT_TRUSTED_HOPS
    if raw == "none":
        return 0
    if not raw.isdigit() or not raw.isascii() or int(raw) > 8:
        raise ValueError(f"TRUSTED_PROXY_HOPS must be 'none' or a number of hops from 0 to 8, got {raw!r}")
    return int(raw)


def valid_ip(text: str) -> str | None:
    """``text`` as a normalized IP address, or ``None`` when it is not one."""
    text = text.strip()
    if not text or len(text) > 64:
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def client_ip(
    headers: Mapping[str, str], remote_addr: str = "", trusted_hops: int = DEFAULT_TRUSTED_HOPS
) -> str | None:
    """The visitor's IP: the entry of ``X-Forwarded-For`` just left of the ``trusted_hops``
    entries our proxies appended; the socket's peer when no proxy forwarded the request.
    ``None`` when that entry is missing (the request did not come through the configured
    proxies) or is not an IP address: better no IP than one the client chose."""
    forwarded = headers.get("x-forwarded-for")
    if forwarded is None:
        return valid_ip(remote_addr) if remote_addr else None
    # The client's part can be long; ours is the right end.
    hops = forwarded[-_MAX_FORWARDED_CHARS:].split(",")
    if len(forwarded) > _MAX_FORWARDED_CHARS:
        hops = hops[1:]  # the first piece may be cut in the middle
    if len(hops) <= trusted_hops:
        return None
    return valid_ip(hops[-1 - trusted_hops])


def edge_authenticated(headers: Mapping[str, str], secrets: tuple[bytes, ...]) -> bool:
    """Whether the request carries one of the load balancer's ``X-Edge-Auth`` secrets."""
    offered = headers.get(EDGE_AUTH_HEADER)
    if not offered or not secrets:
        return False
    offered_bytes = offered.strip().encode("utf-8", "surrogatepass")
    matched = False
    for secret in secrets:  # compare with each, so timing does not tell which matched
        matched |= hmac.compare_digest(offered_bytes, secret)
    return matched


def event_location(headers: Mapping[str, str], trusted: bool = True) -> dict[str, str] | None:
    """``{country, region, city}`` from the load balancer's geo headers; ``None`` unless
    ``trusted`` (the request proved it came through the load balancer, see
    :func:`edge_authenticated`)."""
    if not trusted:
        return None
    location: dict[str, str] = {}
    for header, key in GEO_HEADERS:
        value = headers.get(header)
        if value is not None:
            # If a client sent the header too, the load balancer's value is the last one.
            value = value.rsplit(",", 1)[-1].strip()[:_MAX_GEO_CHARS]
            if value not in _UNKNOWN_GEO:
                location[key] = value
    return location or None


def user_agent(headers: Mapping[str, str]) -> str | None:
    """The request's ``User-Agent``, bounded."""
    value = headers.get("user-agent")
    return value[:_MAX_USER_AGENT_CHARS] if value else None


def add_request_context(
    event: dict[str, Any],
    ip: str | None,
    agent: str | None,
    location: dict[str, str] | None,
    trusted_overrides: bool = False,
) -> None:
    """Set ``ip_override``, ``user_agent`` and ``event_location`` from the request.

    A browser hit cannot choose them: its ``_uip`` / ``ep.user_agent`` stay as
    ``x-ga-mp2-_uip`` / ``x-ga-mp2-ep.user_agent``. With ``trusted_overrides`` (an
    authenticated server-to-server request) a valid ``_uip`` and ``ep.user_agent`` win.
    """
    if trusted_overrides:
        override = valid_ip(str(event.get("x-ga-mp2-_uip") or ""))
        if override is not None:
            ip = override
        forwarded_agent = event.get("x-ga-mp2-ep.user_agent")
        if isinstance(forwarded_agent, str) and forwarded_agent:
            agent = forwarded_agent[:_MAX_USER_AGENT_CHARS]
    if ip is not None:
        event["ip_override"] = ip
    else:
        event.pop("ip_override", None)
    if agent:
        event["user_agent"] = agent
    if location:
        event["event_location"] = dict(location)
