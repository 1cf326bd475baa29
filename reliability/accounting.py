"""Delivery accounting from log lines, the way an operator does it from Cloud Logging.

Input: the JSON log lines of collect (``"message": "hit"``) and of the vendor functions
(``"message": "delivery"``, one per attempt; see docs/contracts.md), plus the messages that
sit in the dead-letter subscription. Output, per vendor: how many events were published,
delivered, skipped (by reason), rejected (by reason), dead-lettered, still unaccounted for,
and how many event_ids the vendor received more than once.

The invariant the project promises: for every vendor,
``delivered + skipped + rejected + dead_lettered == published``.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.names import DEAD_LETTER_SOURCE, vendor_of_subscription
from shared.jsonlog import parse_line

DELIVERED_OUTCOMES = ("delivered", "dry_run")


def read_json_lines(paths: Iterable[Path | str]) -> list[dict[str, Any]]:
    """Every JSON object line of the given log files (banners and tracebacks are ignored)."""
    records: list[dict[str, Any]] = []
    for path in paths:
        try:
            text = Path(path).read_text(errors="replace")
        except FileNotFoundError:
            continue
        records.extend(r for r in map(parse_line, text.splitlines()) if r is not None)
    return records


def published_from_hits(lines: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """``{event_id: event_name}`` of every event collect answered 2xx to, from its hit lines."""
    published: dict[str, str] = {}
    for line in lines:
        if line.get("message") != "hit":
            continue
        status = line.get("status")
        if not isinstance(status, int) or not 200 <= status < 300:
            continue
        for event in line.get("events") or ():
            if isinstance(event, Mapping) and event.get("event_id"):
                published[str(event["event_id"])] = str(event.get("event_name", ""))
    return published


@dataclass(frozen=True)
class DeadLetter:
    """One message of the dead-letter subscription, reduced to what accounting needs."""

    event_id: str
    vendor: str  # from CloudPubSubDeadLetterSourceSubscription; "" when absent

    @classmethod
    def from_message(cls, data: bytes, attributes: Mapping[str, str]) -> DeadLetter:
        try:
            event = json.loads(data)
            event_id = str(event.get("event_id", "")) if isinstance(event, dict) else ""
        except (UnicodeDecodeError, json.JSONDecodeError):
            event_id = ""  # a poison message: counted, but belongs to no event
        source = attributes.get(DEAD_LETTER_SOURCE, "")
        return cls(event_id=event_id, vendor=vendor_of_subscription(source) if source else "")


@dataclass
class VendorAccount:
    vendor: str
    published: int = 0
    delivered: int = 0
    skipped: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)
    dead_lettered: int = 0
    # Published events with no final outcome yet: still retrying, or lost.
    unaccounted: list[str] = field(default_factory=list)
    # event_ids the vendor accepted more than once (at-least-once delivery's duplicates).
    duplicates: int = 0
    attempts: int = 0
    retries: Counter = field(default_factory=Counter)

    @property
    def holds(self) -> bool:
        """delivered + skipped + rejected + dead-lettered == published, nothing unaccounted."""
        total = self.delivered + sum(self.skipped.values()) + sum(self.rejected.values()) + self.dead_lettered
        return total == self.published and not self.unaccounted

    def as_dict(self) -> dict[str, Any]:
        return {
            "vendor": self.vendor,
            "published": self.published,
            "delivered": self.delivered,
            "skipped": dict(self.skipped),
            "rejected": dict(self.rejected),
            "dead_lettered": self.dead_lettered,
            "unaccounted": len(self.unaccounted),
            "duplicates": self.duplicates,
            "attempts": self.attempts,
            "retries": dict(self.retries),
            "invariant_holds": self.holds,
        }


def account(
    published: Mapping[str, str] | Iterable[str],
    delivery_lines: Iterable[Mapping[str, Any]],
    dead_letters: Iterable[DeadLetter],
    vendors: Iterable[str],
    routes: Mapping[str, Iterable[str]] | None = None,
) -> dict[str, VendorAccount]:
    """Account for every published event at every vendor.

    ``published`` is the set of event_ids collect answered 2xx to (a mapping to event names
    when ``routes`` is given: ``routes[vendor]`` lists the event names that vendor's
    subscription receives; a vendor without a route receives every event). An event's outcome
    at a vendor is the best one its lines show: delivered, else rejected, else skipped, else
    dead-lettered (the dead-letter subscription is authoritative for that), else unaccounted.
    """
    names = dict(published) if isinstance(published, Mapping) else {event_id: "" for event_id in published}
    routes = {vendor: set(events) for vendor, events in (routes or {}).items() if events}
    lines_by_vendor: dict[str, dict[str, list[Mapping[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for line in delivery_lines:
        if line.get("message") != "delivery":
            continue
        lines_by_vendor[str(line.get("vendor", ""))][str(line.get("event_id", ""))].append(line)
    dead_by_vendor: dict[str, set[str]] = defaultdict(set)
    for dead in dead_letters:
        dead_by_vendor[dead.vendor].add(dead.event_id)

    accounts: dict[str, VendorAccount] = {}
    for vendor in vendors:
        result = VendorAccount(vendor)
        by_event = lines_by_vendor.get(vendor, {})
        for lines in by_event.values():
            result.attempts += len(lines)
            for line in lines:
                if line.get("outcome") in ("retrying", "dead_lettered"):
                    result.retries[str(line.get("reason") or "unknown")] += 1
        expected = [e for e, name in names.items() if vendor not in routes or name in routes[vendor]]
        for event_id in expected:
            result.published += 1
            lines = by_event.get(event_id, [])
            outcomes = [line.get("outcome") for line in lines]
            delivered = sum(1 for outcome in outcomes if outcome in DELIVERED_OUTCOMES)
            if delivered:
                result.delivered += 1
                result.duplicates += delivered > 1
            elif "rejected" in outcomes:
                result.rejected[_reason(lines, "rejected")] += 1
            elif "skipped" in outcomes:
                result.skipped[_reason(lines, "skipped")] += 1
            elif event_id in dead_by_vendor.get(vendor, ()):
                result.dead_lettered += 1
            else:
                result.unaccounted.append(event_id)
        accounts[vendor] = result
    return accounts


def _reason(lines: list[Mapping[str, Any]], outcome: str) -> str:
    for line in lines:
        if line.get("outcome") == outcome:
            return str(line.get("reason") or "unknown")
    return "unknown"


def format_accounts(accounts: Mapping[str, VendorAccount]) -> str:
    """A plain-text table, one row per vendor."""
    header = (
        "vendor",
        "published",
        "delivered",
        "skipped",
        "rejected",
        "dead-lettered",
        "unaccounted",
        "duplicates",
        "invariant",
    )
    rows = [header]
    for result in accounts.values():
        rows.append(
            (
                result.vendor,
                str(result.published),
                str(result.delivered),
                _counts(result.skipped),
                _counts(result.rejected),
                str(result.dead_lettered),
                str(len(result.unaccounted)),
                str(result.duplicates),
                "holds" if result.holds else "BROKEN",
            )
        )
    return format_table(rows)


def _counts(counter: Counter) -> str:
    total = sum(counter.values())
    if not total:
        return "0"
    return f"{total} (" + ", ".join(f"{reason}: {n}" for reason, n in counter.most_common()) + ")"


def format_table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for index, row in enumerate(rows):
        out.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)
