"""Delivery accounting from log lines: the operator's view of the invariant."""

from __future__ import annotations

import json

from reliability.accounting import (
    DeadLetter,
    account,
    format_accounts,
    published_from_hits,
    read_json_lines,
    vendor_of_subscription,
)


def delivery(vendor: str, event_id: str, outcome: str, reason: str = "", attempt: int = 1) -> dict:
    return {
        "message": "delivery",
        "vendor": vendor,
        "event_id": event_id,
        "outcome": outcome,
        "reason": reason,
        "attempt": attempt,
    }


def hit(status: int, *event_ids: str) -> dict:
    return {
        "message": "hit",
        "status": status,
        "events": [
            {"event_id": e, "event_name": "purchase" if e.startswith("p") else "page_view", "measurement_id": "G-1"}
            for e in event_ids
        ],
    }


def test_published_counts_only_events_of_2xx_hits():
    lines = [hit(204, "a", "b"), hit(200, "c"), hit(503, "d"), hit(400), {"message": "delivery", "event_id": "x"}]
    assert published_from_hits(lines) == {"a": "page_view", "b": "page_view", "c": "page_view"}


def test_every_outcome_is_counted_once_and_the_invariant_holds():
    published = ["e1", "e2", "e3", "e4", "e5"]
    lines = [
        delivery("meta", "e1", "retrying", "http_503"),
        delivery("meta", "e1", "delivered", attempt=2),
        delivery("meta", "e2", "skipped", "consent_denied:ad_storage"),
        delivery("meta", "e3", "rejected", "http_400"),
        delivery("meta", "e4", "retrying", "timeout"),
        delivery("meta", "e4", "dead_lettered", "timeout", attempt=5),
        delivery("meta", "e5", "dry_run", "missing_settings:META_PIXEL_ID"),
    ]
    dead = [DeadLetter("e4", "meta")]
    result = account(published, lines, dead, ["meta"])["meta"]
    assert (result.published, result.delivered, result.dead_lettered) == (5, 2, 1)
    assert dict(result.skipped) == {"consent_denied:ad_storage": 1}
    assert dict(result.rejected) == {"http_400": 1}
    assert dict(result.retries) == {"http_503": 1, "timeout": 2}
    assert result.holds and result.unaccounted == []


def test_an_event_without_a_final_outcome_breaks_the_invariant():
    lines = [delivery("ga4", "e1", "delivered"), delivery("ga4", "e2", "retrying", "http_503")]
    result = account(["e1", "e2", "e3"], lines, [], ["ga4"])["ga4"]
    assert not result.holds
    assert sorted(result.unaccounted) == ["e2", "e3"]
    assert "BROKEN" in format_accounts({"ga4": result})


def test_dead_letters_count_only_for_the_vendor_whose_subscription_gave_up():
    lines = [delivery("meta", "e1", "retrying"), delivery("tiktok", "e1", "delivered")]
    dead = [
        DeadLetter.from_message(
            json.dumps({"event_id": "e1"}).encode(),
            {"CloudPubSubDeadLetterSourceSubscription": "projects/p/subscriptions/meta-push"},
        )
    ]
    result = account(["e1"], lines, dead, ["meta", "tiktok"])
    assert result["meta"].dead_lettered == 1 and result["meta"].holds
    assert result["tiktok"].delivered == 1 and result["tiktok"].dead_lettered == 0


def test_duplicates_at_the_vendor_are_counted_per_event_id():
    lines = [
        delivery("webhook", "e1", "delivered"),
        delivery("webhook", "e1", "delivered"),
        delivery("webhook", "e2", "delivered"),
        delivery("webhook", "e2", "skipped", "already_delivered"),
    ]
    result = account(["e1", "e2"], lines, [], ["webhook"])["webhook"]
    assert result.delivered == 2 and result.duplicates == 1 and result.holds


def test_routes_limit_what_a_vendor_should_get():
    published = published_from_hits([hit(204, "p1", "v1")])
    lines = [delivery("meta", "p1", "delivered")]
    result = account(published, lines, [], ["meta"], routes={"meta": ["purchase"]})["meta"]
    assert result.published == 1 and result.holds


def test_replay_subscriptions_belong_to_their_vendor():
    assert vendor_of_subscription("projects/p/subscriptions/meta-replay-push") == "meta"
    assert vendor_of_subscription("ga4-push") == "ga4"


def test_poison_messages_are_counted_without_an_event_id():
    dead = DeadLetter.from_message(b"\xff not json", {"CloudPubSubDeadLetterSourceSubscription": "webhook-push"})
    assert dead == DeadLetter("", "webhook")


def test_log_files_are_read_like_cloud_logging_exports(tmp_path):
    path = tmp_path / "vendor.log"
    path.write_text(
        'banner line\n{"message":"delivery","vendor":"w","event_id":"e","outcome":"delivered"}\n{broken\n[1]\n'
    )
    assert read_json_lines([path, tmp_path / "missing.log"]) == [
        {"message": "delivery", "vendor": "w", "event_id": "e", "outcome": "delivered"}
    ]
