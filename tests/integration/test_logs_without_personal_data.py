"""An end-to-end run with personal data in the hits leaves none of it in the logs (issue 13).

Collect, the Pub/Sub emulator and every vendor function run as in the cloud: no LOG_HITS or
LOG_REQUESTS (those are `make run`'s local inspector settings), and no vendor credentials,
so every vendor runs dry and logs the request it would have sent, the case that used to put
plain emails into Cloud Logging and the delivery ledger. Every line of every process's log
is then scanned for the personal values and the secrets in clear.
"""

from __future__ import annotations

import json
import urllib.parse

import pytest
import requests

from devstack import config as stack_config
from devstack.stack import LocalStack
from tests.stackutil import delivery_lines, wait_until

pytestmark = pytest.mark.integration

EMAIL = "ada.lovelace@example.com"
PHONE = "+4915112345678"
FIRST, LAST, STREET = "Augusta", "Lovelacewright", "12 Analytical Engine Lane"
MP_SECRET = "mp-secret-e2e-0123456789"
DEBUG_TOKEN = "debug-token-e2e-0123456789"
# Every vendor, enabled or not: each may run dry in someone's deployment.
VENDORS = ("ga4", "meta", "tiktok", "webhook", "mixpanel", "amplitude", "segment")
# What may not appear in any log line, in the spellings a log could hold it.
FORBIDDEN = [
    EMAIL,
    urllib.parse.quote(EMAIL),
    urllib.parse.quote_plus(EMAIL),
    "ada.lovelace%40",
    PHONE,
    PHONE[1:],
    "15112345678",
    FIRST,
    LAST,
    "Analytical Engine",
    MP_SECRET,
    DEBUG_TOKEN,
]


def _gtag_hits(stack: LocalStack) -> None:
    query = urllib.parse.urlencode(
        {
            "v": "2",
            "tid": "G-PII",
            "cid": "111.222",
            "en": "purchase",
            "cu": "EUR",
            "epn.value": "12.5",
            "ep.transaction_id": "T-PII",
            "uid": EMAIL,
            "dl": f"https://shop.example/thanks?email={EMAIL}&phone={PHONE}",
            "dr": f"https://shop.example/cart?name={FIRST}",
            "ep.user_data.email": EMAIL,
            "ep.user_data.phone_number": PHONE,
            "ep.user_data.address.0.first_name": FIRST,
            "ep.user_data.address.0.last_name": LAST,
            "ep.user_data.address.0.street": STREET,
            "ep.user_data.address.0.city": "London",
            "pr1": "idSKU~nmBook~pr12.5~qt1",
        }
    )
    body = f"en=generate_lead&ep.lead_email={urllib.parse.quote(EMAIL)}\r\nen=page_view".encode()
    response = requests.post(
        f"{stack.collect_url}/g/collect?{query}", data=body, headers={"User-Agent": "E2E"}, timeout=10
    )
    assert response.status_code == 204, response.text


def _mp_hit(stack: LocalStack) -> None:
    body = {
        "client_id": "333.444",
        "user_id": EMAIL,
        "user_data": {
            "email_address": EMAIL,
            "phone_number": PHONE,
            "address": {"first_name": FIRST, "last_name": LAST},
        },
        "events": [{"name": "sign_up", "params": {"method": "email"}}],
    }
    response = requests.post(
        f"{stack.collect_url}/mp/collect?measurement_id=G-PII&api_secret={MP_SECRET}", data=json.dumps(body), timeout=10
    )
    assert response.status_code == 204, response.text


def test_no_personal_data_or_secret_in_any_log_line_of_a_run():
    collect_env = {"MP_API_SECRETS": MP_SECRET, "DEBUG_TOKEN": DEBUG_TOKEN, "LOG_HITS": "", "LOG_REQUESTS": ""}
    vendor_env = {name: {"LOG_REQUESTS": ""} for name in VENDORS}
    with LocalStack(stack_config.load(), vendors=VENDORS, collect_env=collect_env, vendor_env=vendor_env) as stack:
        _gtag_hits(stack)
        _mp_hit(stack)
        # 3 events (generate_lead, page_view; sign_up) to every vendor; each either runs dry
        # (no credentials) or is skipped with a reason: all logged.
        for vendor in VENDORS:
            path = stack.log_path(f"vendor-{vendor}")
            lines = wait_until(lambda path=path: len(delivery_lines(path)) >= 3 and delivery_lines(path), timeout=60)
            assert len(lines) >= 3, (vendor, lines)
        dry = [
            line
            for vendor in VENDORS
            for line in delivery_lines(stack.log_path(f"vendor-{vendor}"))
            if line["outcome"] == "dry_run"
        ]
        assert {line["vendor"] for line in dry} >= {"meta", "tiktok", "webhook", "mixpanel", "amplitude", "segment"}, (
            dry
        )
        assert all("request" in line for line in dry)
        log_files = sorted(path for path in stack.log_dir.rglob("*") if path.is_file())
        stack.stop()

    scanned = 0
    for path in log_files:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            scanned += 1
            lowered = line.lower()
            for value in FORBIDDEN:
                assert value.lower() not in lowered, f"{value!r} in clear in {path.name}:{number}: {line[:400]}"
    assert scanned > 20
