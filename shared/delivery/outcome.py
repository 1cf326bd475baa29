"""What happened to one delivery attempt, and what Pub/Sub should do about it."""

from __future__ import annotations

import enum


class Outcome(str, enum.Enum):  # noqa: UP042 - StrEnum would change str(outcome) in log lines
    DELIVERED = "delivered"  # vendor accepted: ack
    DRY_RUN = "dry_run"  # no credentials: the exact request was logged: ack
    SKIPPED = "skipped"  # the vendor must not get this event (mapping, consent): ack
    REJECTED = "rejected"  # permanent vendor error (validation, auth): ack, logged
    RETRYING = "retrying"  # transient failure: nack so Pub/Sub retries
    DEAD_LETTERED = "dead_lettered"  # transient failure on the last attempt: nack, goes to DLQ

    @property
    def ack(self) -> bool:
        return self not in (Outcome.RETRYING, Outcome.DEAD_LETTERED)
