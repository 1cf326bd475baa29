"""The event's location (``event_location``), validated, for the vendor mappings.

Collect fills ``event_location {country, region, city}`` only from the load balancer's geo
headers on requests that carry the edge secret (shared/ga4/context.py); a Measurement
Protocol sender may supply its own (``user_location``, shared/ga4/mp.py). Either way the
bytes are checked again here, as every vendor mapping reads them through :func:`location`:

- ``country``: ISO 3166-1 alpha-2, two uppercase letters (the load balancer's
  ``{client_region}``, e.g. ``US``);
- ``region``: ISO 3166-2 (``US-CA``). The load balancer's ``{client_region_subdivision}`` is a
  Unicode CLDR subdivision id (``USCA``, ``CAON``, ``GBENG``): the country's two letters then
  the subdivision's one to three letters or digits, so ``USCA`` → ``US-CA``. Kept only when it
  belongs to the event's country;
- ``city``: a name (``Mountain View``), at most :data:`MAX_CITY_CHARS`, no control characters.

Anything else is dropped, key by key. No valid key means "unknown": vendors get no location
field (they geolocate from the IP, or not at all). See docs/privacy.md "Geo".
"""

from __future__ import annotations

import re
from typing import Any

MAX_CITY_CHARS = 100  # GA4's limit for a parameter value; no city name comes close
_COUNTRY = re.compile(r"^[A-Z]{2}$")
# CLDR ids are written lower-case in CLDR's data and upper-case by the load balancer.
_SUBDIVISION = re.compile(r"^([A-Z]{2})-?([A-Z0-9]{1,3})$")
_UN_M49 = re.compile(r"^[0-9]{3}$")  # subcontinent_id / continent_id of Measurement Protocol senders
_UNKNOWN = frozenset(("ZZ", "XX", "AA"))  # user-assigned "unknown" codes


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def iso_region(value: Any, country: str) -> str:
    """``US-CA`` from the CLDR subdivision id ``USCA`` (or an ISO ``US-CA`` already), when it
    belongs to ``country``; ``""`` otherwise."""
    match = _SUBDIVISION.match(_text(value).upper())
    if not match or not country or match.group(1) != country:
        return ""
    return f"{match.group(1)}-{match.group(2)}"


def city_name(value: Any) -> str:
    """The city's name, trimmed; ``""`` when empty, too long or holding control characters."""
    city = _text(value)
    if not city or len(city) > MAX_CITY_CHARS or not city.isprintable():
        return ""
    return city


def location(event: dict[str, Any]) -> dict[str, str]:
    """The event's valid location: ``country`` (alpha-2), ``region`` (ISO 3166-2), ``city``,
    and a sender's ``subcontinent``/``continent`` (UN M49); ``{}`` when unknown."""
    raw = event.get("event_location")
    if not isinstance(raw, dict):
        return {}
    found: dict[str, str] = {}
    country = _text(raw.get("country"))
    if _COUNTRY.match(country) and country not in _UNKNOWN:
        found["country"] = country
        region = iso_region(raw.get("region"), country)
        if region:
            found["region"] = region
    city = city_name(raw.get("city"))
    if city:
        found["city"] = city
    for key in ("subcontinent", "continent"):
        value = _text(raw.get(key))
        if _UN_M49.match(value):
            found[key] = value
    return found


def provenance(event: dict[str, Any]) -> str:
    """Where the event's location came from, for the delivery log: ``lb`` (the load balancer's
    headers), ``sender`` (a Measurement Protocol body), ``unknown`` (none, or none valid)."""
    if not location(event):
        return "unknown"
    return "sender" if "x-ga-mp_sender_context" in event else "lb"
