"""Consent signals (spec §5) → the consent object and message attributes."""

import pytest

from shared.event import message_attributes
from shared.ga4.consent import decode_gcd, from_gtag, from_mp

PURPOSES = ("ad_storage", "analytics_storage", "ad_user_data", "ad_personalization")


def states(consent):
    return tuple(consent[p] for p in PURPOSES)


@pytest.mark.parametrize(
    "letter, state",
    [
        ("l", "not_set"),
        ("m", "denied"),
        ("n", "granted"),
        ("p", "denied"),
        ("q", "denied"),
        ("r", "granted"),
        ("t", "granted"),
        ("u", "denied"),
        ("v", "granted"),
        ("x", "not_set"),
    ],
)
def test_every_gcd_letter(letter, state):
    assert states(decode_gcd(f"13{letter}3{letter}3{letter}2{letter}5l1")) == (state,) * 4


def test_gcd_positions_map_to_purposes_in_order():
    assert states(decode_gcd("13n3m3r2q5l1")) == ("granted", "denied", "granted", "denied")


def test_gcd_reads_upper_case_and_letter_separators_by_position():
    assert states(decode_gcd("13t3tPt2t5l1")) == ("granted",) * 4
    assert states(decode_gcd("13l3l3R3l5l1")) == ("not_set", "not_set", "granted", "not_set")


def test_old_and_truncated_gcd():
    assert states(decode_gcd("11l1l1l1l1")) == ("not_set",) * 4
    assert states(decode_gcd("13r")) == ("granted", "not_set", "not_set", "not_set")


@pytest.mark.parametrize(
    "gcs, ad, analytics",
    [
        ("G100", "denied", "denied"),
        ("G110", "granted", "denied"),
        ("G101", "denied", "granted"),
        ("G111", "granted", "granted"),
        ("G1--", "not_set", "not_set"),
        ("junk", "not_set", "not_set"),
    ],
)
def test_gcs_sets_the_two_storages(gcs, ad, analytics):
    consent = from_gtag({"gcs": gcs})
    assert (consent["ad_storage"], consent["analytics_storage"]) == (ad, analytics)
    assert consent["raw_gcs"] == gcs


def test_gcs_wins_over_gcd_for_storage_and_gcd_gives_the_rest():
    consent = from_gtag({"gcs": "G101", "gcd": "13v3q3r2r5l1"})
    assert states(consent) == ("denied", "granted", "granted", "granted")


def test_npa_denies_personalisation_and_dma_is_a_flag_with_raw_strings_kept():
    consent = from_gtag({"gcd": "13r3r3r2r5l1", "npa": "1", "dma": "1", "dma_cps": "syphamo", "gcu": "1"})
    assert consent["ad_personalization"] == "denied"
    assert consent["npa"] is True and consent["dma"] is True
    assert consent["raw_npa"] == "1" and consent["raw_dma_cps"] == "syphamo" and consent["raw_gcu"] == "1"


def test_no_signals_is_all_not_set():
    consent = from_gtag({})
    assert states(consent) == ("not_set",) * 4 and consent["npa"] is False and consent["dma"] is False


def test_measurement_protocol_consent():
    consent = from_mp({"consent": {"ad_user_data": "GRANTED", "ad_personalization": "denied"}})
    assert states(consent) == ("not_set", "not_set", "granted", "denied")
    assert from_mp({"non_personalized_ads": True})["ad_personalization"] == "denied"


def test_consent_reaches_the_message_attributes():
    attributes = message_attributes({"event_name": "x", "consent": from_gtag({"gcs": "G110", "npa": "1", "dma": "1"})})
    assert attributes["consent_ad_storage"] == "granted"
    assert attributes["consent_analytics_storage"] == "denied"
    assert attributes["consent_ad_personalization"] == "denied"
    assert attributes["consent_npa"] == "true" and attributes["consent_dma"] == "true"
