"""Cookie keeper end to end: the real collect function (functions-framework) with the real
Pub/Sub and Firestore emulators (acceptance F2 items 3 and 5).

A visitor's first hit gets its ``FPID``; the next hit carries ``_fbp`` and it is stored in
Firestore under ``sha256(salt ‖ client id)`` with an ``expire_at`` timestamp; a hit without
``_fbp`` gets it back with the same value (``Secure; SameSite=Lax``, not HttpOnly, Meta's
90 days); a hit with ``ad_storage`` denied gets no ad cookie back.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import tempfile
from pathlib import Path

import pytest
import requests

from devstack import config as stack_config
from devstack.firestore_emulator import FirestoreEmulator
from devstack.processes import free_port
from devstack.stack import LOCAL_PROJECT, LocalStack

pytestmark = pytest.mark.integration

SALT = "integration-test-salt-0123456789"
FBP = "fb.1.1700000000000.1234567890"
HOST = "metrics.shop.example"
HIT = "v=2&tid=G-KEEPER&cid=555.666&en=page_view&dl=https%3A%2F%2Fshop.example%2F"


@pytest.fixture(scope="module")
def stack():
    log_dir = Path(tempfile.mkdtemp(prefix="cookie-keeper-test-"))
    firestore = FirestoreEmulator(free_port(), LOCAL_PROJECT, log_dir).start()  # boots beside Pub/Sub
    saved = {key: os.environ.get(key) for key in firestore.env()}
    try:
        firestore.wait()
        os.environ.update(firestore.env())  # for this test's own Firestore client
        collect_env = {
            **firestore.env(),
            "COOKIE_KEEPER": "keep",
            "COOKIE_KEEPER_SALT": SALT,
            # The first request opens the gRPC channel; later lookups are milliseconds.
            "COOKIE_KEEPER_TIMEOUT_MS": "3000",
        }
        with LocalStack(stack_config.load(), vendors=(), collect_env=collect_env, log_dir=log_dir) as running:
            yield running
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        firestore.stop()


def _hit(stack: LocalStack, cookies: dict[str, str], query: str = HIT) -> dict[str, str]:
    """One gtag hit; the response's Set-Cookie values by cookie name."""
    headers = {"Host": HOST}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    response = requests.post(f"{stack.collect_url}/g/collect?{query}", headers=headers, timeout=10)
    assert response.status_code == 204, response.text
    return {value.split("=", 1)[0]: value for value in response.raw.headers.getlist("Set-Cookie")}


def test_fbp_is_stored_then_restored_with_the_same_value_and_not_under_ad_denial(stack):
    from google.cloud import firestore

    first = _hit(stack, {})
    fpid = first["FPID"].split(";", 1)[0].split("=", 1)[1]
    client_id = fpid.removeprefix("FPID2.2.")
    assert client_id == "555.666"

    _hit(stack, {"FPID": fpid, "_fbp": FBP})
    key = hashlib.sha256(SALT.encode() + client_id.encode()).hexdigest()
    document = firestore.Client(project=LOCAL_PROJECT).collection("cookie_keeper").document(key).get()
    assert document.exists
    record = document.to_dict()
    assert record["cookies"] == {"_fbp": FBP}
    days = (record["expire_at"] - datetime.datetime.now(datetime.UTC)).total_seconds() / 86400
    assert 399 < days <= 400

    restored = _hit(stack, {"FPID": fpid})
    assert restored["_fbp"] == f"_fbp={FBP}; Max-Age=7776000; Path=/; Domain=shop.example; Secure; SameSite=Lax"

    # gcs=G101: ad_storage denied, analytics granted.
    denied = _hit(stack, {"FPID": fpid}, HIT + "&gcs=G101")
    assert "_fbp" not in denied
    assert "FPID" in denied
