"""Privacy controls end to end over real parts (collect → Pub/Sub emulator → vendor functions
→ local HTTP servers standing in for the vendors): the owner's example config
(tests/fixtures/privacy/owner-example.yaml: "Meta gets no IP and a truncated referrer, TikTok
gets nothing from bots, GA4 gets everything") plus a per-vendor IP truncation on the webhook.

The same two hits (a visitor's purchase, then Googlebot's) go through the stack twice: once
with no privacy configuration (every vendor takes bots), once with it. Each control must
change exactly what it names at exactly one vendor, and nothing else anywhere.
"""

from __future__ import annotations

import copy
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from devstack import config as stack_config
from devstack.mock_vendor import MockVendor, Reply
from devstack.stack import LocalStack
from tests.stackutil import delivery_lines, wait_until

pytestmark = pytest.mark.integration

OWNER_EXAMPLE = Path(__file__).resolve().parent.parent / "fixtures" / "privacy" / "owner-example.yaml"
HUMAN = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
VISITOR_IP = "203.0.113.195"
REFERRER = "https://news.example/article/42?utm_source=x&email=someone%40example.com"
VENDORS = ("ga4", "meta", "tiktok", "webhook")
REPLIES = {
    "ga4": Reply(204, body=b""),
    "meta": Reply(200, body={"events_received": 1, "messages": [], "fbtrace_id": "e2e"}),
    "tiktok": Reply(200, body={"code": 0, "message": "OK", "request_id": "e2e", "data": {}}),
    "webhook": Reply(200, body={"ok": True}),
}
CREDENTIALS = {
    "ga4": {"GA4_MEASUREMENT_ID": "G-E2ETEST", "GA4_API_SECRET": "test-e2e-ga4-secret"},
    "meta": {"META_PIXEL_ID": "1234567890", "META_ACCESS_TOKEN": "test-e2e-meta-token"},
    "tiktok": {"TIKTOK_PIXEL_CODE": "CE2EPIXEL", "TIKTOK_ACCESS_TOKEN": "test-e2e-tiktok-token"},
    "webhook": {},
}
# Fields that hold the time of the run, not of the hit.
TIME_KEYS = {"event_time", "timestamp_micros"}


def _config(tmp_path: Path, privacy: bool) -> stack_config.StackConfig:
    raw = yaml.safe_load(OWNER_EXAMPLE.read_text())
    if privacy:
        # The owner's example as is, plus a per-vendor truncation on the webhook.
        raw["vendors"]["webhook"] = {"enabled": True, "settings": {"IP_TRUNCATION": "standard"}}
    else:
        raw = {"vendors": {name: {"enabled": True, "settings": {"BOTS": "send"}} for name in VENDORS}}
    path = tmp_path / f"vendors-{'privacy' if privacy else 'baseline'}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return stack_config.load(path)


def _strip_time(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_time(v) for k, v in value.items() if k not in TIME_KEYS}
    if isinstance(value, list):
        return [_strip_time(v) for v in value]
    return value


def _hit(stack: LocalStack, agent: str, cid: str) -> None:
    query = urllib.parse.urlencode(
        {
            "v": "2",
            "tid": "G-E2ETEST",
            "cid": cid,
            "en": "purchase",
            "dl": "https://shop.example/thanks",
            "dr": REFERRER,
            "cu": "EUR",
            "epn.value": "10",
            "ep.transaction_id": f"T-{cid}",
        }
    )
    headers = {"User-Agent": agent, "X-Forwarded-For": f"{VISITOR_IP}, 198.51.100.1"}
    response = requests.post(f"{stack.collect_url}/g/collect?{query}", headers=headers, timeout=10)
    assert response.status_code in (200, 204), response.text


def _run(tmp_path: Path, privacy: bool) -> tuple[dict[str, list[dict]], dict[str, list[dict]]]:
    """Both hits through a fresh stack: what each mock vendor received per hit, and the lines."""
    servers = {name: MockVendor(default=REPLIES[name]) for name in VENDORS}
    for server in servers.values():
        server.__enter__()
    try:
        env = {
            name: {**CREDENTIALS[name], "VENDOR_API_BASE": servers[name].url, "LOG_REQUESTS": "1"} for name in VENDORS
        }
        env["webhook"]["WEBHOOK_URL"] = servers["webhook"].url + "/hook"
        received: dict[str, list[dict]] = {}
        with LocalStack(_config(tmp_path, privacy), vendors=VENDORS, vendor_env=env) as stack:

            def lines() -> dict[str, list[dict]]:
                return {n: delivery_lines(stack.log_path(f"vendor-{n}")) for n in VENDORS}

            for index, (agent, cid) in enumerate(((HUMAN, "111.222"), (GOOGLEBOT, "999.888"))):
                _hit(stack, agent, cid)
                # Sequential: every vendor has logged this hit before the next one is sent.
                wait_until(lambda n=index + 1: all(len(v) >= n for v in lines().values()), timeout=90)
            all_lines = lines()
            for name, server in servers.items():
                received[name] = [{"path": r.path, "body": _strip_time(r.json())} for r in server.received]
        return received, all_lines
    finally:
        for server in servers.values():
            server.close()


def test_owner_example_each_control_changes_only_what_it_names(tmp_path):
    before, _ = _run(tmp_path, privacy=False)
    after, lines = _run(tmp_path, privacy=True)
    assert {name: len(got) for name, got in before.items()} == {name: 2 for name in VENDORS}

    # GA4 gets everything: both hits, byte for byte as without privacy controls.
    assert after["ga4"] == before["ga4"]
    assert [line["outcome"] for line in lines["ga4"]] == ["delivered", "delivered"]

    # Meta: the visitor's purchase without the IP and with the referrer's origin only; nothing
    # else differs. The bot hit is skipped (ad vendors' default), with reason "bot".
    assert len(after["meta"]) == 1
    expected = copy.deepcopy(before["meta"][0])
    server_event = expected["body"]["data"][0]
    assert server_event["user_data"].pop("client_ip_address") == VISITOR_IP
    assert server_event["referrer_url"] == REFERRER
    server_event["referrer_url"] = "https://news.example/"
    assert after["meta"][0] == expected
    assert [(ln["outcome"], ln["reason"]) for ln in lines["meta"]] == [("delivered", ""), ("skipped", "bot")]
    # What the inspector shows for Meta: its copy of the event after the rules.
    meta_copy = lines["meta"][0]["vendor_event"]
    assert "ip_override" not in meta_copy and meta_copy["page_referrer"] == "https://news.example/"
    assert lines["webhook"][0]["vendor_event"]["ip_override"] == "203.0.113.0"

    # TikTok: the visitor's purchase unchanged (IP included); nothing from the bot.
    assert after["tiktok"] == before["tiktok"][:1]
    assert after["tiktok"][0]["body"]["data"][0]["user"]["ip"] == VISITOR_IP
    assert [(ln["outcome"], ln["reason"]) for ln in lines["tiktok"]] == [("delivered", ""), ("skipped", "bot")]

    # Webhook (the whole event): only ip_override truncated, for both hits; the bot arrives
    # flagged; Meta's rules did not touch the event the others get (full referrer here).
    assert len(after["webhook"]) == 2
    for got, baseline in zip(after["webhook"], before["webhook"], strict=True):
        expected = copy.deepcopy(baseline)
        assert expected["body"]["ip_override"] == VISITOR_IP
        expected["body"]["ip_override"] = "203.0.113.0"
        assert got == expected
        assert got["body"]["page_referrer"] == REFERRER
    assert after["webhook"][1]["body"]["bot"] is True
    assert after["webhook"][1]["body"]["bot_reason"] == "crawlerdetect:googlebot"
    assert "bot" not in after["webhook"][0]["body"]  # nothing to flag on a human's event

    # Consent audit: every delivery line, sent or skipped, says under which consent state.
    for name in VENDORS:
        for line in lines[name]:
            assert set(line["consent"]) == {"ad_storage", "analytics_storage", "ad_user_data", "ad_personalization"}, (
                line
            )
