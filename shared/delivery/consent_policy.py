"""Consent per purpose: what a vendor may receive under the event's consent state.

One policy for every vendor (Google's consent mode purposes, design "Principles" 3):

``send``
    purposes that must not be denied for the vendor to get the event at all
    (ad vendors: ``ad_storage``; the webhook: ``analytics_storage``);
``personal_data``
    purposes that must not be denied for the event to carry personal data (email, phone,
    name, address, external id / user id): without them the runtime removes that data from
    the event before the mapping sees it, so no mapping can leak it (``ad_user_data``);
``restricted``
    purposes whose denial turns on the vendor's restricted-processing flag (Meta LDU,
    TikTok ``limited_data_use``): ``ad_personalization``.

Each vendor declares its policy; ``config/vendors.yaml`` overrides it through the vendor's
settings ``CONSENT_SEND``, ``CONSENT_PERSONAL_DATA``, ``CONSENT_RESTRICTED`` (comma lists;
``-`` for none) and ``CONSENT_NOT_SET`` (``granted``, the default, reads a purpose the page
did not set as granted, as Google's tags do without a consent platform; ``denied`` reads it
as denied). The decision is pure: golden and matrix tests call :func:`decide` directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PURPOSES = ("ad_storage", "analytics_storage", "ad_user_data", "ad_personalization")
STATES = ("granted", "denied", "not_set")
SETTING_NAMES = ("CONSENT_SEND", "CONSENT_PERSONAL_DATA", "CONSENT_RESTRICTED", "CONSENT_NOT_SET")

# Event keys that carry personal data a consent purpose can withhold. ``user_data`` holds
# email, phone and address (names included); ``user_id``/``external_id`` identify the person;
# ``x-ga-em`` is gtag's own (hashed) wire form of the user-provided data.
PERSONAL_KEYS = ("user_data", "user_id", "external_id", "x-ga-em")


@dataclass(frozen=True)
class ConsentPolicy:
    """A vendor's declared needs, per purpose (see the module docstring)."""

    send: tuple[str, ...] = ()
    personal_data: tuple[str, ...] = ()
    restricted: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for purpose in (*self.send, *self.personal_data, *self.restricted):
            if purpose not in PURPOSES:
                raise ValueError(f"unknown consent purpose {purpose!r}; expected one of {PURPOSES}")


AD_VENDOR = ConsentPolicy(send=("ad_storage",), personal_data=("ad_user_data",), restricted=("ad_personalization",))
ANALYTICS = ConsentPolicy(send=("analytics_storage",))


@dataclass
class Decision:
    """The policy applied to one event."""

    send: bool
    reason: str = ""
    personal_data: bool = True
    restricted: bool = False
    # The state each purpose was read as (``granted``/``denied``/``not_set``), for the log line.
    state: dict[str, str] = field(default_factory=dict)


def _purposes(value: str) -> tuple[str, ...]:
    value = (value or "").strip()
    if value in ("-", "none"):
        return ()
    names = tuple(p.strip() for p in value.split(",") if p.strip())
    unknown = [p for p in names if p not in PURPOSES]
    if unknown:
        raise ValueError(f"unknown consent purpose(s) {unknown}; expected {PURPOSES}")
    return names


def effective(declared: ConsentPolicy, settings: Mapping[str, str]) -> ConsentPolicy:
    """The declared policy with the ``CONSENT_*`` settings applied (empty setting: declared)."""
    return ConsentPolicy(
        send=_purposes(settings["CONSENT_SEND"]) if settings.get("CONSENT_SEND") else declared.send,
        personal_data=(
            _purposes(settings["CONSENT_PERSONAL_DATA"])
            if settings.get("CONSENT_PERSONAL_DATA")
            else declared.personal_data
        ),
        restricted=(
            _purposes(settings["CONSENT_RESTRICTED"]) if settings.get("CONSENT_RESTRICTED") else declared.restricted
        ),
    )


def consent_state(event: Mapping[str, Any], attributes: Mapping[str, str] | None = None) -> dict[str, str]:
    """Each purpose's state from the event's ``consent`` (or the message attributes)."""
    attributes = attributes or {}
    raw = event.get("consent")
    consent: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    state: dict[str, str] = {}
    for purpose in PURPOSES:
        value = str(consent.get(purpose) or attributes.get(f"consent_{purpose}") or "not_set").strip().lower()
        state[purpose] = value if value in STATES else "not_set"
    return state


def decide(
    policy: ConsentPolicy,
    event: Mapping[str, Any],
    attributes: Mapping[str, str] | None = None,
    not_set: str = "granted",
    state: dict[str, str] | None = None,
) -> Decision:
    """Apply ``policy`` to the event's consent. ``not_set`` is what an unset purpose counts as;
    ``state``: :func:`consent_state` of this event and attributes, when the caller has it."""
    if state is None:
        state = consent_state(event, attributes)
    not_set_denied = (not_set or "granted").strip().lower() == "denied"

    def denied(purpose: str) -> bool:
        return state[purpose] == "denied" or (state[purpose] == "not_set" and not_set_denied)

    for purpose in policy.send:
        if denied(purpose):
            return Decision(False, f"consent_denied:{purpose}", personal_data=False, state=state)
    return Decision(
        True,
        personal_data=not any(denied(p) for p in policy.personal_data),
        restricted=any(denied(p) for p in policy.restricted),
        state=state,
    )


def without_personal_data(event: dict[str, Any]) -> dict[str, Any]:
    """A copy of the event without the keys that carry personal data."""
    return {key: value for key, value in event.items() if key not in PERSONAL_KEYS}
