"""The event archive in Terraform: on by default, a BigQuery subscription (no function) into a
day-partitioned table whose columns are archive_schema.json, with a retention variable."""

from __future__ import annotations

import json

import pytest

from devstack.archive import SCHEMA_FILE, load_schema
from tests.infra.hcl import MODULES, all_modules, block


@pytest.fixture(scope="module")
def modules():
    return all_modules()


def test_archive_is_on_by_default_at_the_root_and_in_the_module(modules):
    assert modules["root"].variables["enable_event_archive"]["default"] is True
    assert modules["event_bus"].variables["enable_event_archive"]["default"] is True
    call = modules["root"].calls["event_bus"]
    assert call["enable_event_archive"] == "${var.enable_event_archive}"
    assert call["archive_retention_days"] == "${var.archive_retention_days}"


def test_retention_variable_is_validated_and_drives_partition_expiry(modules):
    for name in ("root", "event_bus"):
        variable = modules[name].variables["archive_retention_days"]
        assert variable["type"] == "number" and variable["default"] == 400
        assert variable.get("validation"), f"{name}: archive_retention_days without validation"
    bus = modules["event_bus"]
    table = bus.of_type("google_bigquery_table")["events"]
    partitioning = block(table, "time_partitioning")
    assert partitioning["type"] == "DAY" and partitioning["field"] == "publish_time"
    assert "var.archive_retention_days" in partitioning["expiration_ms"]
    assert "var.archive_retention_days" in bus.of_type("google_bigquery_dataset")["archive"]["default_partition_expiration_ms"]


def test_table_columns_come_from_the_schema_file_the_local_archive_checks(modules):
    table = modules["event_bus"].of_type("google_bigquery_table")["events"]
    assert table["schema"] == '${file("${path.module}/archive_schema.json")}'
    assert SCHEMA_FILE == MODULES / "event_bus" / "archive_schema.json"
    schema = load_schema()
    assert {"publish_time", "data", "attributes", "message_id", "subscription_name"} == {c["name"] for c in schema}
    json.dumps(schema)  # a plain JSON document, as BigQuery's schema format


def test_a_bigquery_subscription_writes_it_with_metadata_and_dead_letters(modules):
    bus = modules["event_bus"]
    subscription = bus.of_type("google_pubsub_subscription")["archive"]
    assert subscription["topic"] == "${google_pubsub_topic.events.id}"
    config = block(subscription, "bigquery_config")
    assert config["write_metadata"] is True
    assert config["use_table_schema"] is False and config["use_topic_schema"] is False
    assert "google_bigquery_table.events[0].table_id" in config["table"]
    assert "dead_letter_topic" in block(subscription, "dead_letter_policy")
    assert block(subscription, "expiration_policy")["ttl"] == ""
    grant = bus.of_type("google_bigquery_table_iam_member")["service_agent_writes_archive"]
    assert grant["role"] == "roles/bigquery.dataEditor" and "pubsub_service_agent" in grant["member"]
    # No function and no push endpoint: Pub/Sub writes the rows itself.
    assert "push_config" not in subscription
