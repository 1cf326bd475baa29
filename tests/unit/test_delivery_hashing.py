"""shared.hashing: each vendor's normalization, and digests passing through unchanged."""

from __future__ import annotations

import hashlib

import pytest

from shared import hashing


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_meta_worked_examples():
    # Meta's own examples (customer information parameters page).
    assert hashing.hashed("John_Smith@gmail.com", hashing.email_basic) == (
        "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f")
    assert hashing.phone_digits("+1 (650) 555-1212") == "16505551212"
    assert hashing.hashed("+1 (650) 555-1212", hashing.phone_digits).startswith("e323ec62")


@pytest.mark.parametrize("raw, normalized", [
    (" Jane.Doe@GMail.com ", "janedoe@gmail.com"),
    ("jane.doe@googlemail.com", "janedoe@googlemail.com"),
    ("jane.doe@example.com", "jane.doe@example.com"),
])
def test_google_email_rule_drops_gmail_dots_only(raw, normalized):
    assert hashing.email_google(raw) == normalized


@pytest.mark.parametrize("raw, e164, digits", [
    ("+1 (650) 555-1212", "+16505551212", "16505551212"),
    ("0044 844 412 4653", "+448444124653", "448444124653"),
    ("", "", ""),
])
def test_phone_rules(raw, e164, digits):
    assert hashing.phone_e164(raw) == e164
    assert hashing.phone_digits(raw) == digits


def test_meta_address_rules():
    assert hashing.name_meta(" Valéry ") == "valéry"
    assert hashing.name_meta("O'Neil") == "oneil"
    assert hashing.city_meta("Menlo Park") == "menlopark"
    assert hashing.zip_meta("94025-1234", "US") == "94025"
    assert hashing.zip_meta("SW1A 1AA", "GB") == "sw1a1aa"
    assert hashing.country_code(" US ") == "us"
    assert hashing.gender_meta("Female") == "f" and hashing.gender_meta("x") == ""
    assert hashing.date_of_birth_meta("1990-01-31") == "19900131"


def test_google_and_tiktok_name_rules():
    assert hashing.name_google(" Anne-Marie 2nd ") == "annemarie nd"
    assert hashing.name_tiktok(" Mary Ann ") == "maryann"


@pytest.mark.parametrize("digest", [sha("x"), sha("x").upper()])
def test_an_existing_digest_passes_through_unchanged(digest):
    assert hashing.hashed(digest, hashing.email_basic) == digest
    assert hashing.sha256_hex(digest) == digest


def test_nothing_to_hash_gives_nothing():
    assert hashing.hashed("", hashing.email_basic) == ""
    assert hashing.hashed("   ", hashing.email_basic) == ""
    assert hashing.hashed(None, hashing.email_basic) == ""
    assert hashing.hashed("---", hashing.name_meta) == ""
