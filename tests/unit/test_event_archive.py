"""The archive row: what the BigQuery subscription writes, checked against archive_schema.json."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from devstack.archive import SCHEMA_FILE, archive_row, load_schema, schema_problems
from shared.event import encode_event, message_attributes

EVENTS = json.loads((Path(__file__).resolve().parent.parent / "golden" / "vendors" / "events.json").read_text())[
    "events"
]
WHEN = datetime(2026, 11, 29, 22, 0, 1, 234567, tzinfo=UTC)


def test_schema_file_is_the_columns_a_bigquery_subscription_without_schema_fills():
    schema = load_schema()
    assert [c["name"] for c in schema] == ["subscription_name", "message_id", "publish_time", "data", "attributes"]
    types = {c["name"]: c["type"] for c in schema}
    # write_metadata columns, and data/attributes as JSON so every key of the event is kept.
    assert types == {
        "subscription_name": "STRING",
        "message_id": "STRING",
        "publish_time": "TIMESTAMP",
        "data": "JSON",
        "attributes": "JSON",
    }
    assert all(c["description"] and c["mode"] == "NULLABLE" for c in schema)
    assert SCHEMA_FILE.parent.name == "event_bus"


def test_a_published_event_becomes_a_row_with_every_key_and_the_schemas_columns():
    for event in EVENTS.values():
        row = archive_row("projects/p/subscriptions/s", "123", WHEN, encode_event(event), message_attributes(event))
        assert schema_problems(row) == []
        assert row["data"] == event and set(row["data"]) == set(event)
        assert row["attributes"]["event_name"] == event["event_name"]
        assert row["publish_time"] == "2026-11-29T22:00:01.234567Z"


def test_schema_problems_are_reported():
    good = archive_row("s", "1", WHEN, b'{"event_id": "e"}', {})
    assert schema_problems({**good, "extra": 1}) == ["unknown column extra"]
    assert schema_problems({k: v for k, v in good.items() if k != "message_id"}) == ["missing column message_id"]
    assert schema_problems({**good, "publish_time": "yesterday"})[0].startswith("publish_time: TIMESTAMP")
    assert schema_problems({**good, "message_id": 5})[0].startswith("message_id: STRING")
    assert schema_problems({**good, "data": {"v": float("nan")}}) == ["data: not valid JSON"]


def test_data_that_is_not_json_is_kept_not_dropped():
    row = archive_row("s", "1", WHEN, b"\xff\x00", {})
    assert row["data"] == {"_raw_base64": "/wA="}
