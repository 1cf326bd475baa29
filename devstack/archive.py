"""The event archive, locally: the rows the cloud's BigQuery subscription writes, as JSON lines.

In the cloud a Pub/Sub BigQuery subscription (infra/modules/event_bus) writes one row per
published event into a table whose columns are ``archive_schema.json``. The emulator has no
BigQuery subscriptions, so ``make run`` pulls the events topic through its own subscription
(``tagging-archive-local``) and appends the same row to a file: one JSON object per line,
keys = the schema's columns, ``data`` = the normalized event. A message is acked only after
its line is written and flushed, so an event is archived or redelivered, never lost.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1

from devstack.names import EVENTS_TOPIC

REPO_ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = REPO_ROOT / "infra" / "modules" / "event_bus" / "archive_schema.json"
ARCHIVE_SUBSCRIPTION = "tagging-archive-local"


def load_schema(path: Path = SCHEMA_FILE) -> list[dict[str, Any]]:
    """The archive table's columns, as Terraform reads them."""
    return json.loads(Path(path).read_text())


def timestamp_text(moment: datetime) -> str:
    """A TIMESTAMP as BigQuery's JSON rows write it: UTC, microseconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def archive_row(
    subscription: str, message_id: str, publish_time: datetime, data: bytes, attributes: Mapping[str, str]
) -> dict[str, Any]:
    """The row the BigQuery subscription writes for one message (no schema, write_metadata).

    ``data`` that is not JSON (never from collect) is kept as base64 text under
    ``{"_raw_base64": ...}`` rather than dropped; BigQuery would refuse it into the JSON
    column and the cloud subscription dead-letters it.
    """
    try:
        event: Any = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        event = {"_raw_base64": base64.b64encode(data).decode()}
    return {
        "subscription_name": subscription,
        "message_id": message_id,
        "publish_time": timestamp_text(publish_time),
        "data": event,
        "attributes": dict(attributes),
    }


def schema_problems(row: Mapping[str, Any], schema: list[dict[str, Any]] | None = None) -> list[str]:
    """What in ``row`` the archive table would not accept: missing or extra columns, wrong types."""
    schema = load_schema() if schema is None else schema
    columns = {column["name"]: column for column in schema}
    problems = [f"unknown column {name}" for name in row if name not in columns]
    for name, column in columns.items():
        value = row.get(name)
        if value is None:
            if column.get("mode") == "REQUIRED" or name not in row:
                problems.append(f"missing column {name}")
            continue
        kind = column["type"]
        if kind == "STRING" and not isinstance(value, str):
            problems.append(f"{name}: STRING expected, got {type(value).__name__}")
        elif kind == "TIMESTAMP":
            try:
                datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S.%fZ")
            except ValueError:
                problems.append(f"{name}: TIMESTAMP expected, got {value!r}")
        elif kind == "JSON":
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError):
                problems.append(f"{name}: not valid JSON")
        elif kind not in ("STRING", "TIMESTAMP", "JSON"):
            problems.append(f"{name}: column type {kind} not handled here")
    return problems


class ArchiveWriter:
    """Pulls every event from the emulator and appends its archive row to ``path``.

    Needs ``PUBSUB_EMULATOR_HOST``; create it before collect publishes (a subscription only
    receives what is published after it exists). A thread of the caller, not a process.
    """

    def __init__(
        self, project: str, path: Path, topic: str = EVENTS_TOPIC, subscription: str = ARCHIVE_SUBSCRIPTION
    ) -> None:
        self.path = Path(path)
        self.subscriber = pubsub_v1.SubscriberClient()
        self.subscription = self.subscriber.subscription_path(project, subscription)
        self.topic = f"projects/{project}/topics/{topic}"
        self.written = 0
        self._lock = threading.Lock()
        self._future = None
        self._handle = None

    def start(self) -> ArchiveWriter:
        with contextlib.suppress(gexc.AlreadyExists):
            self.subscriber.create_subscription(
                request={"name": self.subscription, "topic": self.topic, "ack_deadline_seconds": 30}
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - held across callbacks, closed in stop()
        self._future = self.subscriber.subscribe(self.subscription, callback=self._write)
        return self

    def _write(self, message) -> None:
        row = archive_row(self.subscription, message.message_id, message.publish_time, message.data, message.attributes)
        line = json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock:
            if self._handle is None:
                message.nack()
                return
            self._handle.write(line)
            self._handle.flush()
            self.written += 1
        message.ack()

    def stop(self) -> None:
        if self._future is not None:
            self._future.cancel()
            with contextlib.suppress(Exception):  # cancelled streaming pulls end with an error by design
                self._future.result(timeout=5)
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None
        self.subscriber.close()

    def __enter__(self) -> ArchiveWriter:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
