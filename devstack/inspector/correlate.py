"""Correlate the stack's log lines into requests, their events and each vendor's outcome.

Pure logic, fed with parsed JSON lines (docs/contracts.md) and dead-letter messages; the
I/O (tailing files, pulling Pub/Sub, serving the page) lives in the other modules.

The unit the page shows is a *hit*: one request to collect, with its raw query and body,
its normalized events and, for each event, each vendor's attempts. Vendors log by
``event_id``, and their line may be written before collect's (collect logs after Pub/Sub
acknowledged, a vendor may be faster), so a delivery for an unknown event opens an *orphan*
hit that is folded into the real one when collect's line arrives. Orphans that stay are
events whose request was not seen (sent before the inspector started, or replayed).
"""

from __future__ import annotations

import copy
import itertools
import json
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from devstack.inspector.redact import redact, redact_query
from devstack.names import DEAD_LETTER_SOURCE, vendor_of_subscription

# Outcomes in the order the page sorts and colours them; "pending" means no line yet.
OUTCOMES = ("delivered", "dry_run", "skipped", "rejected", "retrying", "dead_lettered", "invalid_envelope")

Change = tuple[str, Any]  # ("hit", hit dict) or ("remove", hit id)


@dataclass
class Timeline:
    """Every hit seen so far (newest last), indexed by the event IDs they contain.

    Each ``add_*`` method returns the changes to push to the page: the full new state of
    every hit it touched, and the IDs of hits that disappeared (folded orphans, evictions).
    """

    max_hits: int = 1000
    secrets: tuple[str, ...] = ()
    hits: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)
    _event_hit: dict[str, str] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    # -- input -----------------------------------------------------------------------------

    def ingest(self, record: dict[str, Any]) -> list[Change]:
        """Dispatch one parsed log line; lines the inspector does not show change nothing."""
        kind = record.get("message")
        if kind == "hit":
            return self.add_hit(record)
        if kind == "delivery" and record.get("vendor"):
            return self.add_delivery(record)
        return []

    def add_hit(self, record: dict[str, Any]) -> list[Change]:
        """collect's ``hit`` line: a new request with its events (and raw/normalized if logged)."""
        hit_id = f"req-{record.get('request_id') or next(self._ids)}"
        raw = record.get("raw") if isinstance(record.get("raw"), dict) else None
        hit = {
            "id": hit_id,
            "orphan": False,
            "time": record.get("time"),
            "request_id": record.get("request_id"),
            "method": record.get("method"),
            "path": record.get("path"),
            "status": record.get("status"),
            "accepted": record.get("accepted"),
            "rejected": redact(record.get("rejected") or [], self.secrets),
            "error": record.get("error"),
            "debug": bool(record.get("debug")),
            "raw": _redact_raw(raw, self.secrets),
            "events": [],
        }
        normalized = {}
        for item in record.get("normalized") or []:
            if isinstance(item, dict) and isinstance(item.get("event"), dict):
                normalized[item["event"].get("event_id")] = item
        listed = [e for e in record.get("events") or [] if isinstance(e, dict)]
        # Events known only from `normalized` (a line without `events`) still count.
        listed_ids = {e.get("event_id") for e in listed}
        listed += [
            {"event_id": eid, "event_name": item["event"].get("event_name")}
            for eid, item in normalized.items()
            if eid not in listed_ids
        ]
        changes: list[Change] = []
        for summary in listed:
            event_id = summary.get("event_id")
            item = normalized.get(event_id, {})
            event = _new_event(event_id, summary.get("event_name"), summary.get("measurement_id"))
            if item:
                body = redact(item.get("event") or {}, self.secrets)
                event["event"] = body
                event["attributes"] = redact(item.get("attributes") or {}, self.secrets)
                event["client_id"] = body.get("client_id")
                event["measurement_id"] = event["measurement_id"] or body.get("x-ga-measurement_id")
            changes += self._adopt_orphan(event)
            hit["events"].append(event)
            if event_id:
                self._event_hit[event_id] = hit_id
        self.hits[hit_id] = hit
        changes.append(("hit", hit))
        return changes + self._evict()

    def add_delivery(self, record: dict[str, Any]) -> list[Change]:
        """A vendor's ``delivery`` line: one attempt for one event."""
        event_id = record.get("event_id")
        hit, event = self._event_for(event_id, record.get("event_name"), record.get("time"))
        state = event["vendors"].setdefault(record["vendor"], _new_vendor_state())
        attempt = {
            key: record.get(key)
            for key in (
                "attempt",
                "outcome",
                "reason",
                "http_status",
                "latency_ms",
                "time",
                "detail",
                "debug",
                "message_id",
            )
            if record.get(key) is not None
        }
        for key in ("request", "response", "vendor_event"):
            if isinstance(record.get(key), dict):
                attempt[key] = redact(record[key], self.secrets)
        state["attempts"].append(attempt)
        state["attempts"].sort(key=lambda a: (a.get("attempt") or 0, a.get("time") or 0))
        latest = state["attempts"][-1]
        for key in (
            "outcome",
            "reason",
            "http_status",
            "detail",
            "request",
            "response",
            "attempt",
            "debug",
            "vendor_event",
        ):
            state[key] = latest.get(key)
        if state["dead_letter"] is not None and state["outcome"] in ("retrying", None):
            state["outcome"] = "dead_lettered"
        if event["event_name"] is None:
            event["event_name"] = record.get("event_name")
        return [("hit", hit)] + self._evict()

    def add_dead_letter(
        self, data: dict[str, Any] | None, attributes: dict[str, str], message_id: str, time: float | None
    ) -> list[Change]:
        """A message read from the dead-letter topic: the authoritative dead letter."""
        data = data if isinstance(data, dict) else {}
        vendor = vendor_of_subscription(attributes.get(DEAD_LETTER_SOURCE, "")) or "unknown"
        hit, event = self._event_for(data.get("event_id"), data.get("event_name") or attributes.get("event_name"), time)
        if event["event"] is None and data:
            event["event"] = redact(data, self.secrets)
            event["client_id"] = data.get("client_id")
        state = event["vendors"].setdefault(vendor, _new_vendor_state())
        state["dead_letter"] = {
            "message_id": message_id,
            "subscription": attributes.get(DEAD_LETTER_SOURCE),
            "time": time,
        }
        state["outcome"] = "dead_lettered"
        state["reason"] = state.get("reason") or "in the dead-letter topic"
        return [("hit", hit)] + self._evict()

    # -- output ----------------------------------------------------------------------------

    def snapshot(self) -> list[dict[str, Any]]:
        """Every hit, oldest first (a deep copy, safe to serialize outside the lock)."""
        return copy.deepcopy(list(self.hits.values()))

    # -- helpers ---------------------------------------------------------------------------

    def _event_for(
        self, event_id: str | None, event_name: str | None, time: float | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The hit and event an ``event_id`` belongs to; an orphan hit when it is unknown."""
        hit_id = self._event_hit.get(event_id) if event_id else None
        if hit_id is not None and hit_id in self.hits:
            hit = self.hits[hit_id]
            for event in hit["events"]:
                if event["event_id"] == event_id:
                    return hit, event
        hit_id = f"evt-{event_id}" if event_id else f"unmatched-{next(self._ids)}"
        hit = {
            "id": hit_id,
            "orphan": True,
            "time": time,
            "request_id": None,
            "method": None,
            "path": None,
            "status": None,
            "accepted": None,
            "rejected": [],
            "error": None,
            "debug": False,
            "raw": None,
            "events": [_new_event(event_id, event_name, None)],
        }
        self.hits[hit_id] = hit
        if event_id:
            self._event_hit[event_id] = hit_id
        return hit, hit["events"][0]

    def _adopt_orphan(self, event: dict[str, Any]) -> list[Change]:
        """Move what vendors already said about ``event`` from its orphan hit into it."""
        event_id = event["event_id"]
        orphan_id = f"evt-{event_id}"
        orphan = self.hits.get(orphan_id)
        if not event_id or orphan is None:
            return []
        del self.hits[orphan_id]
        previous = orphan["events"][0]
        event["vendors"] = previous["vendors"]
        event["event_name"] = event["event_name"] or previous["event_name"]
        if event["event"] is None:
            event["event"] = previous["event"]
        return [("remove", orphan_id)]

    def _evict(self) -> list[Change]:
        changes: list[Change] = []
        while len(self.hits) > self.max_hits:
            hit_id, hit = self.hits.popitem(last=False)
            for event in hit["events"]:
                if self._event_hit.get(event["event_id"]) == hit_id:
                    del self._event_hit[event["event_id"]]
            changes.append(("remove", hit_id))
        return changes


def _new_event(event_id: str | None, event_name: str | None, measurement_id: str | None) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_name": event_name,
        "measurement_id": measurement_id,
        "client_id": None,
        "event": None,
        "attributes": None,
        "vendors": {},
    }


def _new_vendor_state() -> dict[str, Any]:
    return {
        "outcome": None,
        "reason": None,
        "http_status": None,
        "detail": None,
        "request": None,
        "response": None,
        # The vendor's copy of the event after its privacy rules (docs/privacy.md).
        "vendor_event": None,
        "attempt": None,
        "debug": None,
        "dead_letter": None,
        "attempts": [],
    }


def _redact_raw(raw: dict[str, Any] | None, secrets: tuple[str, ...]) -> dict[str, Any] | None:
    """The raw hit. A gtag body is wire format (each line a query string); a Measurement
    Protocol body is JSON, kept parsed under ``json`` so the page can show it as such."""
    if raw is None:
        return None
    body = raw.get("body") if isinstance(raw.get("body"), str) else ""
    cleaned: dict[str, Any] = {"query": redact_query(str(raw.get("query") or ""), secrets)}
    if body.lstrip().startswith("{"):
        try:
            cleaned["json"] = redact(json.loads(body), secrets)
            cleaned["body"] = ""
            return cleaned
        except json.JSONDecodeError:
            pass  # not JSON after all: shown as text lines
    cleaned["body"] = "\n".join(redact_query(line, secrets) for line in body.split("\n"))
    return cleaned
