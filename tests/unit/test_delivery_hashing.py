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
        "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
    )
    assert hashing.phone_digits("+1 (650) 555-1212") == "16505551212"
    assert hashing.hashed("+1 (650) 555-1212", hashing.phone_digits).startswith("e323ec62")


@pytest.mark.parametrize(
    "raw, normalized",
    [
        (" Jane.Doe@GMail.com ", "janedoe@gmail.com"),
        ("jane.doe@googlemail.com", "janedoe@googlemail.com"),
        ("jane.doe@example.com", "jane.doe@example.com"),
    ],
)
def test_google_email_rule_drops_gmail_dots_only(raw, normalized):
    assert hashing.email_google(raw) == normalized


@pytest.mark.parametrize(
    "raw, e164, digits",
    [
        ("+1 (650) 555-1212", "+16505551212", "16505551212"),
        ("0044 844 412 4653", "+448444124653", "448444124653"),
        ("", "", ""),
    ],
)
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


# Meta's customer information parameters page
# (https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/customer-information-parameters):
# the inputs that used to lose matches.


@pytest.mark.parametrize(
    "state, country, expected",
    [
        ("California", "US", "ca"),
        ("california", "", "ca"),
        ("New York", "United States", "ny"),
        ("CA", "US", "ca"),
        ("Bayern", "DE", "bayern"),
        ("Île-de-France", "FR", "îledefrance"),
    ],
)
def test_us_states_written_out_become_their_code(state, country, expected):
    assert hashing.state_meta(state, country) == expected


@pytest.mark.parametrize(
    "zip_code, country, expected",
    [
        ("94025-1234", "", "94025"),
        ("94025-1234", "US", "94025"),
        ("94025-1234", "USA", "94025"),
        ("940251234", "US", "94025"),
        ("SW1A 1AA", "GB", "sw1a1aa"),
        ("1234-567", "PT", "1234567"),
    ],
)
def test_us_zip_plus_4_keeps_five_digits_also_without_a_country(zip_code, country, expected):
    assert hashing.zip_meta(zip_code, country) == expected


@pytest.mark.parametrize(
    "written",
    [
        "1990-01-31",
        "01/31/1990",
        "31.01.1990",
        "19900131",
        "1990/01/31",
        "31/01/1990",
        "1990-01-31T00:00:00Z",
        " 1990-1-31 ",
    ],
)
def test_dates_of_birth_in_their_common_forms(written):
    assert hashing.date_of_birth_meta(written) == "19900131"


@pytest.mark.parametrize("written", ["1990-02-30", "13/13/1990", "yesterday", "1990", ""])
def test_what_is_no_date_is_not_sent(written):
    assert hashing.date_of_birth_meta(written) == ""


@pytest.mark.parametrize(
    "phone, country, digits",
    [
        ("06 12 34 56 78", "FR", "33612345678"),
        ("06 12 34 56 78", "France", "33612345678"),
        ("(650) 555-1212", "US", "16505551212"),
        ("+33 6 12 34 56 78", "US", "33612345678"),  # an international number keeps its own code
        ("0044 844 412 4653", "FR", "448444124653"),
        ("030 1234567", "DE", "49301234567"),
        ("(650) 555-1212", "", "6505551212"),  # no country known: digits as written
    ],
)
def test_national_phone_numbers_get_the_address_countrys_calling_code(phone, country, digits):
    assert hashing.phone_digits(phone, country) == digits
    assert hashing.phone_e164(phone, country) == "+" + digits


@pytest.mark.parametrize(
    "written, alpha2",
    [
        ("United States", "us"),
        ("USA", "us"),
        ("us", "us"),
        (" US ", "us"),
        ("Germany", "de"),
        ("DEU", "de"),
        ("United Kingdom", "gb"),
        ("UK", "gb"),
        ("France", "fr"),
        ("Atlantis", ""),
        ("", ""),
    ],
)
def test_countries_from_names_and_alpha3_codes(written, alpha2):
    assert hashing.country_code(written) == alpha2
