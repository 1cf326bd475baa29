"""What the product-analytics destinations (Mixpanel, Amplitude, Segment) share.

One identity rule, applied the same way by every analytics destination
(docs/vendors/README.md, "Identity across analytics destinations"):

- the **user id** is the event's ``user_id`` (gtag ``uid``, Measurement Protocol
  ``user_id``): set only when the site knows who the user is;
- the **anonymous id** is the event's ``client_id`` (gtag ``cid``, the ``_ga``/``FPID``
  browser id), stable for one browser;
- an event with neither is rejected (``missing_identity``): it cannot be attributed to
  anybody, and each vendor would drop or misfile it;
- ids are sent as they are (trimmed), never hashed: the same person must get the same id in
  every tool, and in the archive.

Also here: the UTM campaign of an event and the event's own parameters, read the same way
for every destination.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from shared.delivery import eventdata as ed
from shared.delivery.vendor import Reject


@dataclass(frozen=True)
class Identity:
    """Who did it: ``user_id`` (known user) and ``anonymous_id`` (the browser), ``""`` if absent."""

    user_id: str
    anonymous_id: str

    @property
    def primary(self) -> str:
        """The single id of tools that take one: the user id, else the anonymous id."""
        return self.user_id or self.anonymous_id


class MissingIdentity(ValueError):
    """Neither ``user_id`` nor ``client_id``: the event belongs to nobody."""


def identity(event: dict[str, Any]) -> Identity:
    """The event's identity by the one rule above; raises :class:`MissingIdentity` without ids."""
    found = Identity(user_id=ed.text(event, "user_id"), anonymous_id=ed.text(event, "client_id"))
    if not found.primary:
        raise MissingIdentity("missing_identity")
    return found


# UTM parameter → the campaign override key collect writes (gtag cs/cm/cn/ck/cc).
UTM_KEYS = (
    ("utm_source", "campaign_source"),
    ("utm_medium", "campaign_medium"),
    ("utm_campaign", "campaign_name"),
    ("utm_term", "campaign_term"),
    ("utm_content", "campaign_content"),
)


def campaign(event: dict[str, Any]) -> dict[str, str]:
    """``{utm_source: ..., ...}``: the tag's campaign overrides first, else the page URL's query."""
    url = ed.page_url(event)
    found: dict[str, str] = {}
    for utm, override in UTM_KEYS:
        value = ed.text(event, override) or ed.query_param(url, utm)
        if value:
            found[utm] = value
    return found


def host(url: str) -> str:
    """The host name of a URL, ``""`` when there is none."""
    try:
        return (urlsplit(url).hostname or "") if url else ""
    except ValueError:
        return ""


# Keys of the normalized event that are context, identity or transport, not parameters of
# the event: each destination maps the context it supports explicitly, and personal data
# (user_data, the IP) never travels as a plain property.
CONTEXT_KEYS = frozenset(
    {
        "event_name",
        "event_id",
        "client_id",
        "user_id",
        "user_data",
        "user_properties",
        "consent",
        "cookies",
        "ip_override",
        "user_agent",
        "client_hints",
        "event_location",
        "timestamp_micros",
        "source",
        "debug_mode",
        "items",
        "page_location",
        "page_referrer",
        "page_title",
        "page_hostname",
        "page_path",
        "language",
        "screen_resolution",
        "ga_session_id",
        "ga_session_number",
        "engagement_time_msec",
        "app_instance_id",
        *(override for _, override in UTM_KEYS),
        "campaign_id",
        "campaign_creative_format",
        "campaign_marketing_tactic",
        "campaign",
        # Ad click ids and pixel cookies: advertising identifiers, not analytics properties.
        "fbc",
        "fbp",
        "fbclid",
        "ttclid",
        "ttp",
        "gclid",
        "gbraid",
        "wbraid",
        "dclid",
        "msclkid",
        "epik",
        "li_fat_id",
        "rdt_cid",
        "sccid",
        "ScCid",
        "click_ids",
    }
)


def event_parameters(event: dict[str, Any]) -> dict[str, Any]:
    """The event's own parameters (``value``, ``currency``, ``method``, custom ``ep.*`` ...).

    Everything except :data:`CONTEXT_KEYS` and collect's ``x-*`` keys, values unchanged.
    """
    return {
        key: value
        for key, value in event.items()
        if key not in CONTEXT_KEYS and not key.startswith("x-") and not key.startswith("_") and value is not None
    }


def user_properties(event: dict[str, Any]) -> dict[str, Any]:
    """gtag ``up.*``/``upn.*`` (and Measurement Protocol ``user_properties``), values unwrapped.

    The Measurement Protocol sends ``{"name": {"value": v}}``; gtag sends ``{"name": v}``.
    """
    raw = event.get("user_properties")
    if not isinstance(raw, dict):
        return {}
    found: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict) and "value" in value:
            value = value["value"]
        if value is not None:
            found[str(key)] = value
    return found


def timestamp_millis(event: dict[str, Any]) -> int:
    """When the event happened, in milliseconds since the epoch (collect's ``timestamp_micros``)."""
    micros = ed.number(event.get("timestamp_micros"))
    if micros is None or micros <= 0:
        raise Reject("missing_field:timestamp_micros")
    return int(micros // 1000)


def value_of(event: dict[str, Any]) -> int | float | None:
    """The event's ``value``, else Σ price × quantity of its items."""
    value = ed.number(event.get("value"))
    return value if value is not None else ed.items_value(event)


def device(event: dict[str, Any]) -> dict[str, Any]:
    """The device context the event carries: ``os``, ``os_version``, ``browser``,
    ``browser_version``, ``model``, ``mobile`` (User-Agent Client Hints) and ``screen_width``,
    ``screen_height`` (gtag ``sr``). Only what is present; the user agent is not parsed."""
    found: dict[str, Any] = {}
    raw_hints = event.get("client_hints")
    hints: dict[str, Any] = raw_hints if isinstance(raw_hints, dict) else {}
    for key, source in (("os", "platform"), ("os_version", "platform_version"), ("model", "model")):
        value = hints.get(source)
        if isinstance(value, str) and value.strip():
            found[key] = value.strip()
    if isinstance(hints.get("mobile"), bool):
        found["mobile"] = hints["mobile"]
    brands = hints.get("full_version_list") or hints.get("brands") or []
    named = [
        b
        for b in brands
        if isinstance(b, dict)
        and isinstance(b.get("brand"), str)
        and b["brand"].strip()
        and not b["brand"].strip().lower().startswith("not")
    ]  # GREASE brands
    # "Google Chrome" or "Microsoft Edge" over the engine's "Chromium" when both are listed.
    chosen = next((b for b in named if b["brand"] != "Chromium"), named[0] if named else None)
    if chosen:
        found["browser"] = chosen["brand"].strip()
        if str(chosen.get("version") or "").strip():
            found["browser_version"] = str(chosen["version"]).strip()
    width, _, height = ed.text(event, "screen_resolution").partition("x")
    if width.isdigit() and height.isdigit():
        found["screen_width"], found["screen_height"] = int(width), int(height)
    return found
