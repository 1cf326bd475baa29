"""Privacy controls (issue 19, docs/privacy.md): rule order and scope, IP and HMAC vectors,
bots, load-time validation, and what collect publishes."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import textwrap
from pathlib import Path

import pytest

from devstack import config as stack_config
from shared.collect_app import CollectConfig, Collector, HttpRequest
from shared.delivery import Outcome, Vendor, VendorRequest
from shared.privacy import anonymize, bots, rules, transform
from tests.recording import RecordingPublisher

EVENT = {
    "event_name": "purchase",
    "event_id": "e-1",
    "client_id": "1197596843.1673515099",
    "ip_override": "203.0.113.195",
    "user_agent": "Mozilla/5.0 (test)",
    "page_location": "https://shop.example/thanks?order=1",
    "page_referrer": "https://news.example/a/b?utm=x#top",
    "consent": {"ad_storage": "granted", "ad_user_data": "denied"},
    "value": 10,
}


def settings_with(raw_rules, **extra) -> dict[str, str]:
    return {"TRANSFORMATIONS": rules.encode(raw_rules), **extra}


# -- order and scope -------------------------------------------------------------------------


def test_order_is_type_then_priority_then_name():
    parsed = rules.parse_rules(
        [
            {"name": "b-exclude", "type": "exclude", "keys": ["x"]},
            {"name": "a-exclude", "type": "exclude", "keys": ["x"]},
            {"name": "low-allow", "type": "allow", "keys": ["x"], "priority": 1},
            {"name": "high-allow", "type": "allow", "keys": ["x"], "priority": 5},
            {"name": "z-augment", "type": "augment", "key": "x", "value": 1},
        ]
    )
    assert [r.name for r in parsed] == ["z-augment", "high-allow", "low-allow", "a-exclude", "b-exclude"]


def test_order_decides_the_result_augment_then_allow_then_exclude():
    # Written in the opposite order: the fixed order still augments first (so the allow list
    # sees the added key) and excludes last (so an excluded key never leaves).
    raw = [
        {"name": "never-ip", "type": "exclude", "keys": ["ip_override"]},
        {"name": "only-these", "type": "allow", "keys": ["event_id", "event_name", "tag", "ip_override"]},
        {"name": "tag", "type": "augment", "key": "tag", "value": "owner"},
        {"name": "copy-ip", "type": "augment", "key": "ip_override", "from": "ip_override"},
    ]
    out = transform.for_vendor(dict(EVENT), "meta", "ad", settings_with(raw))
    assert out == {"event_id": "e-1", "event_name": "purchase", "tag": "owner"}


def test_same_type_priority_higher_first_then_name():
    raw = [
        {"name": "b", "type": "augment", "key": "who", "value": "b"},
        {"name": "a", "type": "augment", "key": "who", "value": "a"},
        {"name": "late", "type": "augment", "key": "who", "value": "late", "priority": -1},
    ]
    # a, then b, then late (lowest priority) runs last and wins.
    assert transform.for_vendor(dict(EVENT), "x", "analytics", settings_with(raw))["who"] == "late"
    raw[2]["priority"] = 9
    assert transform.for_vendor(dict(EVENT), "x", "analytics", settings_with(raw))["who"] == "b"


def test_per_vendor_copy_vendor_a_loses_ip_vendor_b_keeps_it():
    raw = [{"name": "a-no-ip", "type": "exclude", "scope": ["vendor_a"], "keys": ["ip_override"]}]
    event = json.loads(json.dumps(EVENT))
    a = transform.for_vendor(event, "vendor_a", "ad", settings_with(raw))
    b = transform.for_vendor(event, "vendor_b", "ad", settings_with(raw))
    assert "ip_override" not in a
    assert b["ip_override"] == "203.0.113.195"
    assert event == EVENT  # the published event is unchanged


def test_scope_by_kind_and_all():
    raw = [
        {"name": "ads", "type": "exclude", "scope": ["ad"], "keys": ["value"]},
        {"name": "everyone", "type": "augment", "scope": "all", "key": "k", "value": "v"},
    ]
    ad = transform.for_vendor(dict(EVENT), "meta", "ad", settings_with(raw))
    analytics = transform.for_vendor(dict(EVENT), "ga4", "analytics", settings_with(raw))
    assert "value" not in ad and analytics["value"] == 10
    assert ad["k"] == analytics["k"] == "v"


def test_conditions_event_name_consent_and_key_value():
    raw = [
        {
            "name": "c",
            "type": "exclude",
            "keys": ["client_id"],
            "conditions": {
                "event_name": ["purchase"],
                "consent": {"ad_user_data": "denied"},
                "equals": {"value": [10, 20]},
            },
        }
    ]
    assert "client_id" not in transform.for_vendor(dict(EVENT), "x", "ad", settings_with(raw))
    for change in ({"event_name": "page_view"}, {"consent": {"ad_user_data": "granted"}}, {"value": 11}):
        assert transform.for_vendor({**EVENT, **change}, "x", "ad", settings_with(raw))["client_id"]
    # consent not set counts as not_set
    raw[0]["conditions"] = {"consent": {"ad_personalization": "not_set"}}
    assert "client_id" not in transform.for_vendor(dict(EVENT), "x", "ad", settings_with(raw))


def test_augment_transforms_truncate_referrer_and_drop_unusable_values():
    raw = [
        {"name": "ref", "type": "augment", "key": "page_referrer", "from": "page_referrer", "transform": "url_origin"},
        {
            "name": "loc",
            "type": "augment",
            "key": "page_location",
            "from": "page_location",
            "transform": "url_without_query",
        },
    ]
    out = transform.for_vendor(dict(EVENT), "x", "ad", settings_with(raw))
    assert out["page_referrer"] == "https://news.example/"
    assert out["page_location"] == "https://shop.example/thanks"
    out = transform.for_vendor({**EVENT, "page_referrer": "not a url"}, "x", "ad", settings_with(raw))
    assert "page_referrer" not in out
    # a missing source adds nothing
    out = transform.for_vendor({k: v for k, v in EVENT.items() if k != "page_referrer"}, "x", "ad", settings_with(raw))
    assert "page_referrer" not in out


def test_no_privacy_settings_returns_the_event_itself():
    event = dict(EVENT)
    assert transform.for_vendor(event, "x", "ad", {}) is event


# -- IP truncation and client-id anonymization (pinned vectors) ---------------------------------

# F3.5 and https://support.google.com/analytics/answer/2763052 (IPv6: last 80 bits zeroed).
IP_VECTORS = [
    ("203.0.113.195", "standard", "203.0.113.0"),
    ("203.0.113.195", "strict", "203.0.0.0"),
    ("2001:db8:85a3:8d3:1319:8a2e:370:7348", "standard", "2001:db8:85a3::"),
    ("2001:db8:85a3:8d3:1319:8a2e:370:7348", "strict", "2001:db8::"),
    ("::ffff:203.0.113.195", "standard", "203.0.113.0"),
    ("203.0.113.195", "none", "203.0.113.195"),
    ("not-an-ip", "standard", None),
]


@pytest.mark.parametrize(("ip", "mode", "expected"), IP_VECTORS)
def test_ip_truncation_vectors(ip, mode, expected):
    assert anonymize.truncate_ip(ip, mode) == expected


def test_per_vendor_ip_truncation():
    out = transform.for_vendor(dict(EVENT), "x", "ad", {"IP_TRUNCATION": "strict"})
    assert out["ip_override"] == "203.0.0.0"
    out = transform.for_vendor({**EVENT, "ip_override": "garbage"}, "x", "ad", {"IP_TRUNCATION": "standard"})
    assert "ip_override" not in out


def test_client_id_hmac_vectors_format_and_rotation():
    # Pinned: HMAC-SHA256("rotation-1", "1197596843.1673515099") =
    # ff0dfa14759e038f dc3d8cbdd9dcbf1a ...; first 8 bytes mod 10^10, next 8 bytes mod 10^10.
    assert anonymize.anonymize_client_id(b"rotation-1", "1197596843.1673515099") == "0148441999.8955326234"
    assert anonymize.anonymize_client_id(b"rotation-2", "1197596843.1673515099") == "0259196457.7817145945"
    digest = hmac.new(b"k", b"cid", hashlib.sha256).digest()
    expected = f"{int.from_bytes(digest[:8], 'big') % 10**10:010d}.{int.from_bytes(digest[8:16], 'big') % 10**10:010d}"
    assert anonymize.anonymize_client_id(b"k", "cid") == expected
    for cid in ("1.2", "x" * 300, "ünï"):
        value = anonymize.anonymize_client_id(b"k", cid)
        assert re.fullmatch(r"\d{10}\.\d{10}", value)
        assert value == anonymize.anonymize_client_id(b"k", cid)


def test_client_id_anonymization_per_vendor_and_without_a_key():
    out = transform.for_vendor(
        dict(EVENT), "x", "ad", {"CLIENT_ID_MODE": "anonymize", "CLIENT_ID_HMAC_KEY": "rotation-1"}
    )
    assert out["client_id"] == "0148441999.8955326234"
    with pytest.raises(transform.PrivacyMisconfigured, match="X_CLIENT_ID_HMAC_KEY"):
        transform.for_vendor(dict(EVENT), "x", "ad", {"CLIENT_ID_MODE": "anonymize"})


# -- bots ------------------------------------------------------------------------------------

BOTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; +http://www.google.com/bot.html) Chrome/131.0.6778.204 Safari/537.36",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
    "curl/8.5.0",
    "curl/8",
    "python-requests/2.32.3",
]
HUMANS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
]


@pytest.mark.parametrize("agent", BOTS)
def test_bots_are_flagged_with_a_reason(agent):
    bot, reason = bots.classify(agent)
    assert bot is True and reason.startswith(("crawlerdetect:", "crawler_user_agents", "ua_parser:"))


def test_empty_user_agent_is_a_bot_on_browser_hits_only():
    assert bots.classify("") == (True, "empty_user_agent")
    assert bots.classify(None) == (True, "empty_user_agent")
    assert bots.classify(None, browser=False) == (False, "")


@pytest.mark.parametrize("agent", HUMANS)
def test_current_browsers_are_not_bots(agent):
    assert bots.classify(agent) == (False, "")


def test_optional_list_file_adds_reason_iab_list(tmp_path, monkeypatch):
    listed = tmp_path / "bots.txt"
    listed.write_text("# customer list\nAcmeMonitor\n")
    monkeypatch.setenv("BOT_LIST_FILE", str(listed))
    assert bots.classify("Mozilla/5.0 (X11) acmemonitor/3") == (True, "iab_list")
    assert bots.classify(HUMANS[0]) == (False, "")


def _vendor(name: str, kind: str) -> Vendor:
    return Vendor(name=name, kind=kind, build_request=lambda e, s: VendorRequest("POST", "https://x.example/", json=e))


def test_bot_events_skip_ad_vendors_and_reach_analytics_flagged_by_default():
    event = {**EVENT, "bot": True, "bot_reason": "crawlerdetect:googlebot"}
    ad = _vendor("adv", "ad").plan(event, {})
    assert ad.attempt.outcome is Outcome.SKIPPED and ad.attempt.reason == "bot"
    analytics = _vendor("ana", "analytics").plan(event, {})
    assert analytics.attempt is None and analytics.request.json["bot"] is True
    # per vendor: an ad vendor may take bots, an analytics vendor may refuse them
    assert _vendor("adv", "ad").plan(event, {"BOTS": "send"}).attempt is None
    assert _vendor("ana", "analytics").plan(event, {"BOTS": "skip"}).attempt.reason == "bot"
    # humans always pass the gate, and reach vendors without the flags
    human = _vendor("adv", "ad").plan({**event, "bot": False, "bot_reason": ""}, {})
    assert human.attempt is None and "bot" not in human.request.json and "bot_reason" not in human.request.json


def test_plan_sends_the_transformed_copy_and_waits_when_anonymization_has_no_key():
    vendor = _vendor("meta_like", "ad")
    raw = [{"name": "no-ip", "type": "exclude", "scope": ["meta_like"], "keys": ["ip_override"]}]
    plan = vendor.plan(dict(EVENT), settings_with(raw))
    assert "ip_override" not in plan.request.json and plan.event == plan.request.json
    plan = vendor.plan(dict(EVENT), {"CLIENT_ID_MODE": "anonymize"})
    assert plan.attempt.outcome is Outcome.RETRYING and plan.attempt.reason == "privacy_misconfigured"


# -- validation at load ----------------------------------------------------------------------

BASE = """
vendors:
  ga4: {enabled: true}
  meta: {enabled: true}
  tiktok: {enabled: true}
"""


def _load(tmp_path: Path, text: str):
    path = tmp_path / "vendors.yaml"
    path.write_text(textwrap.dedent(text))
    return stack_config.load(path)


@pytest.mark.parametrize(
    ("rules_yaml", "message"),
    [
        ("- {name: r1, type: drop, keys: [a]}", "rule 'r1': 'type' must be one of"),
        ("- {name: r1, type: exclude}", "rule 'r1': an exclude rule needs 'keys'"),
        ("- {name: r1, type: exclude, keys: [a], colour: red}", "rule 'r1': unknown key(s) ['colour']"),
        ("- {name: r1, type: exclude, keys: [a], scope: [snapchat]}", "rule 'r1': scope 'snapchat'"),
        ("- {name: r1, type: augment, key: a, from: b, value: c}", "rule 'r1': an augment rule needs exactly one"),
        ("- {name: r1, type: augment, key: a, from: b, transform: md5}", "rule 'r1': 'transform' must be one of"),
        ("- {name: r1, type: exclude, keys: [a], priority: high}", "rule 'r1': 'priority' must be an integer"),
        (
            "- {name: r1, type: exclude, keys: [a], conditions: {consent: {ad_storage: maybe}}}",
            "conditions.consent.ad_storage",
        ),
        (
            "- {name: r1, type: exclude, keys: [a]}\n- {name: r1, type: exclude, keys: [b]}",
            "duplicate rule name(s) ['r1']",
        ),
    ],
)
def test_invalid_rules_fail_at_load_naming_the_rule(tmp_path, rules_yaml, message):
    with pytest.raises(ValueError) as error:
        _load(tmp_path, BASE + "transformations:\n" + textwrap.indent(rules_yaml, "  ") + "\n")
    assert message in str(error.value)


def test_a_rule_removing_a_required_key_fails_naming_vendor_rule_and_key(tmp_path):
    with pytest.raises(ValueError) as error:
        _load(
            tmp_path,
            BASE
            + """
transformations:
  - {name: ads-no-ua, type: exclude, scope: [ad], keys: [user_agent, ip_override]}
""",
        )
    assert (
        "vendor 'meta'" in str(error.value) and "'ads-no-ua'" in str(error.value) and "'user_agent'" in str(error.value)
    )
    with pytest.raises(ValueError) as error:
        _load(
            tmp_path,
            BASE
            + """
transformations:
  - {name: ga4-minimal, type: allow, scope: [ga4], keys: [event_id, event_name]}
""",
        )
    assert (
        "vendor 'ga4'" in str(error.value) and "'ga4-minimal'" in str(error.value) and "'client_id'" in str(error.value)
    )


def test_wrong_privacy_settings_fail_at_load(tmp_path):
    with pytest.raises(ValueError, match=r"vendor 'meta': setting IP_TRUNCATION must be one of"):
        _load(tmp_path, "vendors:\n  meta: {settings: {IP_TRUNCATION: half}}\n")
    with pytest.raises(ValueError, match=r"vendor 'meta': CLIENT_ID_MODE: anonymize needs CLIENT_ID_HMAC_KEY"):
        _load(tmp_path, "vendors:\n  meta: {settings: {CLIENT_ID_MODE: anonymize}}\n")
    with pytest.raises(ValueError, match=r"privacy.ip_truncation must be one of"):
        _load(tmp_path, "privacy: {ip_truncation: yes}\nvendors:\n  meta: {}\n")


def test_function_start_up_refuses_the_same_rule(monkeypatch):
    monkeypatch.setenv(
        "ADV_TRANSFORMATIONS", rules.encode([{"name": "no-id", "type": "exclude", "keys": ["event_id"]}])
    )
    with pytest.raises(ValueError, match=r"rule 'no-id' excludes key 'event_id', which vendor 'adv' requires"):
        _vendor("adv", "ad")
    monkeypatch.setenv("ADV_TRANSFORMATIONS", "[{")
    with pytest.raises(ValueError, match="TRANSFORMATIONS is not valid JSON"):
        _vendor("adv", "ad")


def test_owner_example_config_loads_and_every_vendor_gets_the_whole_rule_list():
    config = stack_config.load(FIXTURES / "owner-example.yaml")
    for name in ("ga4", "meta", "tiktok"):
        env = config.vendor(name).environment()
        assert [r["name"] for r in json.loads(env[f"{name.upper()}_TRANSFORMATIONS"])] == [
            "meta-no-ip",
            "meta-referrer-origin",
        ]


FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "privacy"


# -- collect ---------------------------------------------------------------------------------

Q = "v=2&tid=G-TEST&cid=111.222&en=page_view&dl=https%3A%2F%2Fshop.example.com%2Fa"


def _collect(headers, monkeypatch, truncation=""):
    monkeypatch.setenv("IP_TRUNCATION", truncation)
    publisher = RecordingPublisher()
    response = asyncio.run(Collector(publisher, CollectConfig()).handle(HttpRequest("POST", "/g/collect", Q, headers)))
    assert response.status in (200, 204)
    return publisher.events[0]


def test_collect_flags_bots_and_truncates_globally_before_publishing(monkeypatch, capsys):
    headers = {"x-forwarded-for": "2001:db8:85a3:8d3:1319:8a2e:370:7348, 10.0.0.1", "user-agent": HUMANS[0]}
    event = _collect(headers, monkeypatch, "standard")
    assert event["ip_override"] == "2001:db8:85a3::"
    assert (event["bot"], event["bot_reason"]) == (False, "")
    assert "2001:db8:85a3:8d3" not in capsys.readouterr().out  # nor in the hit log line
    event = _collect({**headers, "user-agent": BOTS[0]}, monkeypatch, "")
    assert event["ip_override"] == "2001:db8:85a3:8d3:1319:8a2e:370:7348"
    assert event["bot"] is True and event["bot_reason"] == "crawlerdetect:googlebot"


def test_collect_refuses_a_wrong_global_truncation(monkeypatch):
    monkeypatch.setenv("IP_TRUNCATION", "half")
    with pytest.raises(ValueError, match="IP_TRUNCATION must be one of"):
        Collector(RecordingPublisher(), CollectConfig())


def test_geo_survives_global_truncation(monkeypatch):
    """Geo comes from the load balancer's headers (trusted with X-Edge-Auth once configured),
    read before truncation: a truncated IP costs no geo."""
    monkeypatch.setenv("IP_TRUNCATION", "strict")
    edge = {"edge_auth_secrets": ("edge-secret",)} if "edge_auth_secrets" in CollectConfig.__dataclass_fields__ else {}
    headers = {
        "x-forwarded-for": "203.0.113.195, 198.51.100.1",
        "user-agent": HUMANS[0],
        "x-edge-auth": "edge-secret",
        "x-client-geo-country": "DE",
        "x-client-geo-region": "DEBY",
        "x-client-geo-city": "munich",
    }
    publisher = RecordingPublisher()
    asyncio.run(Collector(publisher, CollectConfig(**edge)).handle(HttpRequest("POST", "/g/collect", Q, headers)))
    (event,) = publisher.events
    assert event["ip_override"] == "203.0.0.0"
    assert event["event_location"] == {"country": "DE", "region": "DEBY", "city": "munich"}
