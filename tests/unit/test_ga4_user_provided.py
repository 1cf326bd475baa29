"""gtag's ``em=tv.1~em.<…>~pn.<…>`` (user-provided data) decoded into ``user_data`` sha256_* hex."""

from __future__ import annotations

import base64
import hashlib

import pytest

from functions.vendors.meta.main import VENDOR as META
from functions.vendors.tiktok.main import VENDOR as TIKTOK
from shared.ga4 import user_provided
from shared.ga4.normalize import normalize_gtag

EMAIL = hashlib.sha256(b"john_smith@gmail.com").digest()
PHONE = hashlib.sha256(b"+16505551212").digest()
FIRST = hashlib.sha256(b"john").digest()


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_email_and_phone_become_hex_digests():
    value = f"tv.1~em.{b64url(EMAIL)}~pn.{b64url(PHONE)}"
    assert user_provided.decode(value) == {"sha256_email_address": EMAIL.hex(), "sha256_phone_number": PHONE.hex()}


def test_ph_spelling_repeated_emails_and_address_names():
    other = hashlib.sha256(b"jane@example.com").digest()
    value = f"tv.1~em.{b64url(EMAIL)}~em.{b64url(other)}~ph.{b64url(PHONE)}~fn0.{b64url(FIRST)}"
    assert user_provided.decode(value) == {
        "sha256_email_address": [EMAIL.hex(), other.hex()],
        "sha256_phone_number": PHONE.hex(),
        "address": {"sha256_first_name": FIRST.hex()},
    }


@pytest.mark.parametrize(
    "value",
    [
        "",
        "tv.2~em." + b64url(EMAIL),
        "em." + b64url(EMAIL),
        "tv.1~em.not-base64!!",
        "tv.1~em." + b64url(b"short"),
        "tv.1~em",
        "tv.1~zz." + b64url(EMAIL),
        "tv.1~em." + "A" * 5000,
        None,
        42,
    ],
)
def test_anything_that_is_not_a_digest_is_ignored(value):
    assert user_provided.decode(value) == {}


def test_collect_decodes_em_keeps_the_wire_value_and_explicit_values_win():
    em = f"tv.1~em.{b64url(EMAIL)}~pn.{b64url(PHONE)}"
    event = normalize_gtag({"en": "purchase", "em": em, "dl": "https://shop.example/"})
    assert event["x-ga-em"] == em
    assert event["user_data"] == {"sha256_email_address": EMAIL.hex(), "sha256_phone_number": PHONE.hex()}
    explicit = normalize_gtag({"en": "purchase", "em": em, "ep.user_data.email": "x@example.com"})
    assert explicit["user_data"]["email"] == "x@example.com"
    assert explicit["user_data"]["sha256_email_address"] == EMAIL.hex()


def test_meta_and_tiktok_send_the_decoded_digests_as_already_hashed():
    event = normalize_gtag(
        {
            "en": "purchase",
            "em": f"tv.1~em.{b64url(EMAIL)}~pn.{b64url(PHONE)}",
            "dl": "https://shop.example/thanks",
            "cu": "EUR",
            "epn.value": "10",
        }
    )
    event.update({"event_id": "e1", "timestamp_micros": 1730000000000000, "user_agent": "UA", "source": "gtag"})
    meta = META.plan(event, {"PIXEL_ID": "1", "ACCESS_TOKEN": "t"}, {}, now=1730000001).request.json
    assert meta["data"][0]["user_data"]["em"] == [EMAIL.hex()]
    assert meta["data"][0]["user_data"]["ph"] == [PHONE.hex()]
    tiktok = TIKTOK.plan(event, {"PIXEL_CODE": "C", "ACCESS_TOKEN": "t"}, {}, now=1730000001).request.json
    assert tiktok["data"][0]["user"]["email"] == EMAIL.hex() and tiktok["data"][0]["user"]["phone"] == PHONE.hex()
