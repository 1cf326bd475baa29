"""Consent signals → the normalized event's ``consent`` object.

gtag sends ``gcs`` (``G1`` + ad_storage + analytics_storage digits), ``gcd`` (letter codes per
purpose after a two-character prefix), ``npa`` and ``dma``; the Measurement Protocol sends
``consent: {ad_user_data, ad_personalization}`` and ``non_personalized_ads``. Both become
``{ad_storage, analytics_storage, ad_user_data, ad_personalization}`` each ``granted``,
``denied`` or ``not_set``, plus ``npa``/``dma`` booleans and the raw wire strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.event import CONSENT_PURPOSES

GRANTED, DENIED, NOT_SET = "granted", "denied", "not_set"

# gcd letters: effective state = the update if any, else the default, else not set.
#   no default: l (no update) m (→denied) n (→granted)
#   default denied: p q r ; default granted: t u v
GCD_LETTERS = {
    "l": NOT_SET,
    "m": DENIED,
    "n": GRANTED,
    "p": DENIED,
    "q": DENIED,
    "r": GRANTED,
    "t": GRANTED,
    "u": DENIED,
    "v": GRANTED,
}
GCS_DIGITS = {"1": GRANTED, "0": DENIED}

# The raw wire strings kept in the consent object (and as x-ga-<name> at top level).
RAW_KEYS = ("gcs", "gcd", "gcu", "gcut", "npa", "dma", "dma_cps")

_ALL_NOT_SET = dict.fromkeys(CONSENT_PURPOSES, NOT_SET)


def decode_gcd(gcd: str) -> dict[str, str]:
    """``13r3r3r2r5l1`` → each purpose's state. Purpose letters sit at positions 2, 4, 6, 8.

    Reading by position rather than "every letter" survives captures such as ``13t3tPt2t5l1``
    where a separator is itself a letter; upper case is read as lower case.
    """
    states = dict(_ALL_NOT_SET)
    for purpose, position in zip(CONSENT_PURPOSES, (2, 4, 6, 8), strict=True):
        if position < len(gcd):
            states[purpose] = GCD_LETTERS.get(gcd[position].lower(), NOT_SET)
    return states


def from_gtag(params: Mapping[str, str]) -> dict[str, Any]:
    """The consent object of one gtag event (its merged wire parameters)."""
    gcd = params.get("gcd")
    consent: dict[str, Any] = decode_gcd(gcd) if gcd else dict(_ALL_NOT_SET)
    gcs = params.get("gcs")
    if gcs and len(gcs) >= 4 and gcs[:2] == "G1":
        # gcs is the tag's effective storage state; it wins over gcd for the two storages.
        ad, analytics = GCS_DIGITS.get(gcs[2]), GCS_DIGITS.get(gcs[3])
        if ad:
            consent["ad_storage"] = ad
        if analytics:
            consent["analytics_storage"] = analytics
    npa = params.get("npa") == "1"
    if npa:
        # Non-personalised ads requested: personalisation is denied whatever gcd said.
        consent["ad_personalization"] = DENIED
    consent["npa"] = npa
    consent["dma"] = params.get("dma") == "1"
    for key in RAW_KEYS:
        if key in params:
            consent[f"raw_{key}"] = params[key]
    return consent


def from_mp(body: Mapping[str, Any]) -> dict[str, Any]:
    """The consent object of a Measurement Protocol request body (already validated)."""
    consent: dict[str, Any] = dict(_ALL_NOT_SET)
    given = body.get("consent")
    if isinstance(given, dict):
        for purpose in ("ad_user_data", "ad_personalization"):
            value = given.get(purpose)
            if isinstance(value, str) and value.upper() in ("GRANTED", "DENIED"):
                consent[purpose] = value.lower()
    npa = body.get("non_personalized_ads") is True
    if npa:
        consent["ad_personalization"] = DENIED
    consent["npa"] = npa
    consent["dma"] = False
    return consent
