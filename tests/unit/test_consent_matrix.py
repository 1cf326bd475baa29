"""Consent per purpose, for every vendor folder: 4 purposes × granted/denied/not set.

For each cell the vendor's declared policy (shared/delivery/consent_policy.py) says what may
go out; the test plans a purchase full of personal data and proves that no event and no
personal data reaches a vendor against its policy, that the restricted-processing flag
follows ``ad_personalization``, and, so that the test can fail, that personal data does go
out where the policy allows it. The delivery log line records the consent state.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from shared.delivery import Outcome, consent_policy
from shared.event import encode_event

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "vendors"
VENDOR_NAMES = sorted(p.name for p in (ROOT / "functions" / "vendors").iterdir() if (p / "main.py").is_file())
EVENTS = json.loads((GOLDEN / "events.json").read_text())["events"]
NOW = 1730000100

# The restricted-processing flag of each vendor that has one (the vendor's own docs).
RESTRICTED_FLAG = {
    "meta": lambda body: body["data"][0].get("data_processing_options") == ["LDU"],
    "tiktok": lambda body: body["data"][0].get("limited_data_use") is True,
}


def load(name: str):
    return importlib.import_module(f"functions.vendors.{name}.main").VENDOR


def settings_for(name: str) -> dict[str, str]:
    path = GOLDEN / name / "requests.json"
    values = dict(json.loads(path.read_text())["settings"]) if path.is_file() else {}
    if name == "webhook":
        values["URL"] = "https://hooks.example/collect"
    return values


def personal_event() -> dict[str, Any]:
    event = copy.deepcopy(EVENTS["purchase"])
    event["user_data"]["date_of_birth"] = "1990-01-31"
    event["x-ga-em"] = "tv.1~em.Yq0uRPdlQZ0Q_qmTZzYacnwSNl4lIPMiGNUF7ZqmD2I"
    return event


def _forms(value: str) -> set[str]:
    """A personal value as any vendor could send it: raw, normalized, digits, hashed."""
    lowered = value.strip().lower()
    digits = re.sub(r"\D", "", value)
    forms = {value.strip(), lowered, re.sub(r"\s", "", lowered), "".join(c for c in lowered if c.isalnum())}
    if len(digits) >= 5:
        forms |= {digits, "+" + digits, digits[:5], "19900131"}
    forms = {f for f in forms if len(f) >= 4}
    return forms | {hashlib.sha256(f.encode()).hexdigest() for f in forms}


def personal_markers(event: dict[str, Any]) -> set[str]:
    user_data = event["user_data"]
    values = [
        user_data["email"],
        user_data["phone_number"],
        user_data["date_of_birth"],
        event["user_id"],
        *[v for k, v in user_data["address"].items() if k != "country"],
    ]
    markers: set[str] = set()
    for value in values:
        markers |= _forms(value)
    markers.add(event["x-ga-em"])
    markers.add(hashlib.sha256(b"us").hexdigest())  # the hashed country (Meta): an address field
    return markers


def strings_in(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return [value] if isinstance(value, str) else []


def leaked(body: Any, markers: set[str]) -> list[str]:
    found = []
    for text in strings_in(body):
        if text in markers or any(m in text for m in markers if len(m) >= 8 and not m.isdigit()):
            found.append(text)
    return found


# Vendors that send nothing they cannot attribute (no click id and no user data left).
NEEDS_AN_IDENTIFIER = {"googleads": "no_click_id_or_user_data"}
CELLS = [(purpose, state) for purpose in consent_policy.PURPOSES for state in consent_policy.STATES]


@pytest.mark.parametrize("name", VENDOR_NAMES)
@pytest.mark.parametrize("purpose, state", CELLS)
def test_consent_matrix(name, purpose, state):
    vendor = load(name)
    policy = vendor.declared_consent()
    event = personal_event()
    event["consent"] = {p: "granted" for p in consent_policy.PURPOSES}
    event["consent"][purpose] = state
    markers = personal_markers(event)
    plan = vendor.plan(event, settings_for(name), {}, now=NOW)
    assert plan.consent[purpose] == state
    denied = state == "denied"
    if denied and purpose in policy.send:
        assert plan.request is None
        assert (plan.attempt.outcome, plan.attempt.reason) == (Outcome.SKIPPED, f"consent_denied:{purpose}")
        return
    if denied and purpose in policy.personal_data and name in NEEDS_AN_IDENTIFIER:
        # Without personal data nothing is left to attribute the event by: skipped, with a reason.
        if plan.request is None:
            assert (plan.attempt.outcome, plan.attempt.reason) == (Outcome.SKIPPED, NEEDS_AN_IDENTIFIER[name])
            return
    assert plan.request is not None, plan.attempt
    assert plan.attempt is None or plan.attempt.outcome is Outcome.DRY_RUN, plan.attempt
    sent = plan.request.json
    if denied and purpose in policy.personal_data:
        assert leaked(sent, markers) == [], f"{name} sends personal data with {purpose} denied"
    elif policy.personal_data:
        # Allowed: it does go out (else this test could not fail).
        assert leaked(sent, markers), f"{name} sends no personal data although {purpose}={state} allows it"
    if name in RESTRICTED_FLAG:
        assert RESTRICTED_FLAG[name](sent) == (denied and purpose in policy.restricted)


@pytest.mark.parametrize("name", VENDOR_NAMES)
def test_every_vendor_declares_a_policy_of_known_purposes(name):
    policy = load(name).declared_consent()
    # GA4 alone takes every consent state: Google applies consent mode itself from the
    # forwarded gcs/gcd, and denied analytics_storage goes as gtag's cookieless ping.
    assert policy.send or name == "ga4", f"{name} sends whatever the visitor chose: declare its consent"
    assert set(policy.send + policy.personal_data + policy.restricted) <= set(consent_policy.PURPOSES)


def test_ad_vendors_and_the_webhook_declare_the_documented_defaults():
    assert load("meta").declared_consent() == consent_policy.AD_VENDOR
    assert load("tiktok").declared_consent() == consent_policy.AD_VENDOR
    assert load("webhook").declared_consent().send == ("analytics_storage",)


@pytest.mark.parametrize("name", ["meta", "tiktok", "webhook"])
def test_not_set_counts_as_denied_when_configured(name):
    vendor = load(name)
    event = personal_event()
    event["consent"] = {}
    assert vendor.plan(event, settings_for(name), {}, now=NOW).request is not None
    plan = vendor.plan(event, {**settings_for(name), "CONSENT_NOT_SET": "denied"}, {}, now=NOW)
    assert plan.request is None and plan.attempt.reason.startswith("consent_denied:")


def test_configuration_overrides_the_declared_policy():
    vendor = load("webhook")
    event = personal_event()
    event["consent"] = {"ad_storage": "denied", "analytics_storage": "granted", "ad_user_data": "denied"}
    assert vendor.plan(event, settings_for("webhook"), {}, now=NOW).request is not None
    plan = vendor.plan(event, {**settings_for("webhook"), "CONSENT_SEND": "analytics_storage,ad_storage"}, {}, now=NOW)
    assert plan.attempt.reason == "consent_denied:ad_storage"
    plan = vendor.plan(event, {**settings_for("webhook"), "CONSENT_PERSONAL_DATA": "ad_user_data"}, {}, now=NOW)
    assert "user_data" not in plan.request.json and "user_id" not in plan.request.json
    # "-" removes a declared requirement: Meta without the personal-data purpose.
    plan = load("meta").plan(
        event | {"consent": {"ad_user_data": "denied"}},
        {**settings_for("meta"), "CONSENT_PERSONAL_DATA": "-"},
        {},
        now=NOW,
    )
    assert "em" in plan.request.json["data"][0]["user_data"]


def test_an_unknown_purpose_in_the_configuration_is_vendor_misconfigured():
    plan = load("meta").plan(personal_event(), {**settings_for("meta"), "CONSENT_SEND": "ad_storrage"}, {}, now=NOW)
    assert (plan.attempt.outcome, plan.attempt.reason, plan.attempt.alert) == (
        Outcome.RETRYING,
        "vendor_misconfigured",
        True,
    )


def test_the_delivery_log_line_records_the_consent_state(monkeypatch, capsys):
    monkeypatch.delenv("META_ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("META_PIXEL_ID", "1234567890")
    event = personal_event()
    event["timestamp_micros"] = int(__import__("time").time() * 1_000_000)
    event["consent"] = {"ad_storage": "granted", "ad_user_data": "denied"}
    message = {"data": base64.b64encode(encode_event(event)).decode(), "attributes": {}, "messageId": "consent-1"}
    load("meta").handle_push(json.dumps({"message": message}).encode())
    line = [json.loads(text) for text in capsys.readouterr().out.splitlines() if text.startswith("{")][-1]
    assert line["outcome"] == "dry_run"
    assert line["consent"] == {
        "ad_storage": "granted",
        "analytics_storage": "not_set",
        "ad_user_data": "denied",
        "ad_personalization": "not_set",
    }
    assert "em" not in line["request"]["json"]["data"][0]["user_data"]
