"""Per-row outcomes of a batch request: a vendor refused some events of a request.

Mixpanel ``/import`` (400 with ``failed_records``) ingests the other rows; Amplitude's HTTP
V2 API (400 with ``events_with_invalid_fields`` ...) ingests none of them, and the others
must be sent again. A vendor's ``classify`` parses its answer into :class:`RowFailure` s by
index; :func:`row_outcomes` turns them into one :class:`Attempt` per event of the request.
Today a push message carries one event, so ``classify`` takes ``row_outcomes(1, ...)[0]``;
batch mode uses the whole list. Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.delivery.outcome import Outcome
from shared.delivery.vendor import Attempt


@dataclass(frozen=True)
class RowFailure:
    """One refused event: its index in the request, a bounded reason and the vendor's words."""

    index: int
    reason: str
    detail: str = ""


def row_outcomes(
    count: int,
    failures: Mapping[int, RowFailure],
    *,
    status: int,
    others_ingested: bool,
) -> list[Attempt]:
    """One attempt per event of a request of ``count`` events.

    A listed event is rejected (acked with its reason: resending it unchanged fails again).
    An unlisted one is delivered when the vendor ingested the rest (Mixpanel), else retried,
    so it is sent again without the bad rows (Amplitude: ``reason: resend_after_row_failure``).
    """
    attempts = []
    for index in range(count):
        failure = failures.get(index)
        if failure is not None:
            attempts.append(
                Attempt(Outcome.REJECTED, reason=failure.reason, status=status, detail=failure.detail[:500])
            )
        elif others_ingested:
            attempts.append(Attempt(Outcome.DELIVERED, status=status))
        else:
            attempts.append(Attempt(Outcome.RETRYING, reason="resend_after_row_failure", status=status))
    return attempts
