"""shared.personal_data: what a cloud log line may keep of a vendor request."""

from __future__ import annotations

from shared.personal_data import REDACTED, redact, redact_request, redact_text


def test_personal_values_are_replaced_and_the_shape_kept():
    webhook_body = {
        "event_name": "purchase",
        "user_id": "u@example.com",
        "value": 10,
        "user_data": {"email": "ada@example.com", "address": [{"first_name": "Ada"}]},
        "items": [{"item_name": "Book", "name": "kept: an item's name is not a person's"}],
    }
    assert redact(webhook_body) == {
        "event_name": "purchase",
        "user_id": REDACTED,
        "value": 10,
        "user_data": REDACTED,
        "items": [{"item_name": "Book", "name": "kept: an item's name is not a person's"}],
    }


def test_meta_and_tiktok_user_blocks_and_mp_event_names():
    meta = {"data": [{"event_name": "Lead", "user_data": {"em": ["a" * 64], "client_user_agent": "UA"}}]}
    assert redact(meta)["data"][0]["user_data"] == REDACTED
    tiktok = {"data": [{"event": "Lead", "user": {"email": "h", "phone": "h", "ip": "1.2.3.4", "user_agent": "UA"}}]}
    assert redact(tiktok)["data"][0]["user"] == {
        "email": REDACTED,
        "phone": REDACTED,
        "ip": REDACTED,
        "user_agent": "UA",
    }
    mp = {"client_id": "1.2", "events": [{"name": "sign_up", "params": {"name": "plan"}}]}
    assert redact(mp) == mp


def test_emails_anywhere_and_url_queries_are_removed():
    assert redact_text("contact ada@example.com now") == f"contact {REDACTED} now"
    assert (
        redact_text("https://shop.example/thanks?email=a%40b.example&x=1") == f"https://shop.example/thanks?{REDACTED}"
    )
    assert redact_text("https://shop.example/p#frag") == f"https://shop.example/p?{REDACTED}"
    assert redact_text("https://shop.example/p") == "https://shop.example/p"
    assert redact_text("?phone=+4915112345678") == f"?{REDACTED}" and redact_text("?") == "?"
    assert redact({"event_source_url": "https://a.example/?fbclid=x"}) == {
        "event_source_url": f"https://a.example/?{REDACTED}"
    }


def test_a_logged_request_keeps_its_endpoint_not_its_query():
    logged = {
        "method": "POST",
        "url": "https://api.example/v1?tid=G-1&dl=https%3A%2F%2Fshop.example%2F%3Femail%3Da%40b.example",
        "headers": {},
        "json": {"email": "a@b.example"},
    }
    assert redact_request(logged) == {
        **logged,
        "url": f"https://api.example/v1?{REDACTED}",
        "json": {"email": REDACTED},
    }


def test_a_query_that_only_names_the_endpoint_is_kept():
    """GA4 MP's ``?measurement_id=…&api_secret=[REDACTED]`` says where the request went, not who."""
    url = "https://www.google-analytics.com/mp/collect?measurement_id=G-1&api_secret=%5BREDACTED%5D"
    assert redact_request({"method": "POST", "url": url, "headers": {}, "json": None})["url"] == url
    mixed = "https://www.google-analytics.com/mp/collect?measurement_id=G-1&uid=u-42"
    assert redact_request({"method": "POST", "url": mixed, "headers": {}, "json": None})["url"].endswith(f"?{REDACTED}")
