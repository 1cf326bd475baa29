"""The delivery runtime's fast paths (issue 16, CPU per event) decide exactly as the slow
paths they stand in for: orjson reads where json would, the request body check gives
json.dumps' verdict, settings memoized per environment follow every change of it, and a
pulled message is read from its raw protobuf."""

from __future__ import annotations

import base64
import datetime as dt
import json
import math

import pytest
from google.pubsub_v1.types import PubsubMessage, ReceivedMessage

from shared import settings as env_settings
from shared.delivery import Vendor, VendorRequest
from shared.delivery.drain import decode_pulled
from shared.delivery.envelope import EnvelopeError, decode_push
from shared.delivery.vendor import _check_json
from shared.event import decode_event, encode_event

# Each is read by json differently from orjson (or refused by one of them).
TRICKY_DATA = [
    b'{"id": 123456789012345678901234567890}',  # beyond 64 bits: orjson would give a float
    b'{"id": -99999999999999999999}',
    b'{"v": NaN}',
    b'{"v": 1e400}',
    b'{"v": "\\ud800"}',  # a lone surrogate
    b'\xef\xbb\xbf{"a": 1}',  # a BOM
    b'{"a": "\xff"}',  # not UTF-8
    b'{"a": 1, "a": 2}',
    b'{"a": -0.0, "b": 1.0, "c": 0.1}',
    b"[1, 2]",
    b"null",
    b"",
]


def _outcome(read, data):
    try:
        value = read(data)
    except Exception as exc:  # noqa: BLE001 - the exception type is the outcome compared
        return type(exc)
    return repr(value)  # repr: NaN == NaN, 1 vs 1.0, big ints


def _json_decode_event(data: bytes) -> dict:
    event = json.loads(data.decode("utf-8"))
    if not isinstance(event, dict):
        raise ValueError("message data is not a JSON object")
    return event


@pytest.mark.parametrize("data", TRICKY_DATA)
def test_decode_event_reads_as_json_does(data):
    assert _outcome(decode_event, data) == _outcome(_json_decode_event, data)


def test_a_big_integer_stays_exact():
    assert decode_event(b'{"value": 123456789012345678901234567890}')["value"] == 123456789012345678901234567890


@pytest.mark.parametrize("data", TRICKY_DATA)
def test_a_push_envelope_is_read_as_json_reads_it(data):
    body = json.dumps({"message": {"data": base64.b64encode(data).decode(), "messageId": "1"}}).encode()
    expected = _outcome(_json_decode_event, data)
    found = _outcome(lambda b: decode_push(b).event, body)
    assert found == (EnvelopeError if isinstance(expected, type) else expected)


def test_an_envelope_json_refuses_is_refused_with_json_reason():
    for body in (b"", b"{", "{}".encode("utf-16"), b"\xff", b'{"message": NaN}'):
        with pytest.raises(EnvelopeError) as caught:
            decode_push(body)
        try:
            json.loads(body)
        except ValueError as exc:
            assert str(exc) in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        {"a": 1, "b": [1.5, "x", None, True]},
        {"a": math.nan},
        {"a": [math.inf]},
        {"a": -math.inf},
        {1: "non-str key"},
        {"a": 2**70},
        {"a": "\ud800"},
        {"a": dt.datetime(2024, 1, 1)},
        {"a": b"bytes"},
        {"a": {1, 2}},
        {"a": (1, 2)},
        "a text body",
        [{"a": None}],
    ],
)
def test_the_body_check_gives_json_dumps_verdict(body):
    def strict(value):
        json.dumps(value, allow_nan=False)

    assert _outcome(_check_json, body) == _outcome(strict, body)


def test_memo_follows_every_change_of_the_environment(monkeypatch):
    calls = []

    def read():
        calls.append(1)
        return env_settings.env_str("FASTPATH_PROBE")

    monkeypatch.setenv("FASTPATH_PROBE", "a")
    assert env_settings.memo("probe", read) == "a"
    assert env_settings.memo("probe", read) == "a"
    assert len(calls) == 1  # kept while the environment is unchanged
    monkeypatch.setenv("FASTPATH_PROBE", "b")
    assert env_settings.memo("probe", read) == "b"
    monkeypatch.delenv("FASTPATH_PROBE")
    assert env_settings.memo("probe", read) == ""


def test_memo_does_not_keep_an_error(monkeypatch):
    monkeypatch.setenv("FASTPATH_INT", "x")
    for _ in range(2):
        with pytest.raises(ValueError, match="FASTPATH_INT"):
            env_settings.memo("int", lambda: env_settings.env_int("FASTPATH_INT", 1))
    monkeypatch.setenv("FASTPATH_INT", "3")
    assert env_settings.memo("int", lambda: env_settings.env_int("FASTPATH_INT", 1)) == 3


def test_vendor_settings_follow_the_environment_and_are_the_callers_own(monkeypatch):
    vendor = Vendor(
        name="fastpath", build_request=lambda e, s: VendorRequest("POST", "https://x.invalid/"), setting_names=("URL",)
    )
    monkeypatch.setenv("FASTPATH_URL", " https://one.example/ ")
    first = vendor.settings()
    assert first["URL"] == "https://one.example/"
    first["URL"] = "changed by the caller"
    assert vendor.settings()["URL"] == "https://one.example/"
    monkeypatch.setenv("FASTPATH_URL", "https://two.example/")
    monkeypatch.setenv("FASTPATH_EVENTS", "purchase")
    values = vendor.settings()
    assert values["URL"] == "https://two.example/"
    assert values["EVENTS"] == "purchase"


def test_a_pulled_message_is_read_from_its_raw_protobuf():
    event = {"event_name": "purchase", "event_id": "e1", "value": 123456789012345678901234567890}
    wrapped = ReceivedMessage(
        ack_id="ack-1",
        message=PubsubMessage(data=encode_event(event), attributes={"event_name": "purchase"}, message_id="m1"),
        delivery_attempt=3,
    )
    for received in (wrapped, ReceivedMessage.pb(wrapped)):
        message = decode_pulled(received, "projects/p/subscriptions/s")
        assert message.event == event
        assert message.attributes == {"event_name": "purchase"}
        assert message.message_id == "m1"
        assert message.delivery_attempt == 3
        assert message.subscription == "projects/p/subscriptions/s"
