"""A bounded load of real GA4 hits against collect, recording what collect answered.

Every event carries its own ``ep.event_id``, so the driver knows the event_ids of every
request collect answered 2xx to: the "published" side of the accounting, independent of
collect's own log. Traffic goes to 127.0.0.1 only; the load stops after ``count`` requests
or ``max_seconds``, whichever comes first.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests

EVENT_NAMES = ("page_view", "scroll", "add_to_cart", "purchase", "sign_up")


@dataclass
class HitResult:
    index: int
    event_ids: list[str]
    cid: str
    status: int | None  # None: no HTTP answer (connection refused or reset, timeout)
    body: str = ""
    error: str = ""
    at: float = 0.0  # time.monotonic() when sent
    done_at: float = 0.0  # time.monotonic() when answered or failed

    @property
    def accepted(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class LoadReport:
    results: list[HitResult] = field(default_factory=list)

    def published(self) -> dict[str, str]:
        """``{event_id: cid}`` of every event in a request collect answered 2xx to."""
        return {event_id: r.cid for r in self.results if r.accepted for event_id in r.event_ids}

    def statuses(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.results:
            key = str(r.status) if r.status is not None else "no_answer"
            counts[key] = counts.get(key, 0) + 1
        return counts


# The load stands for visitors' browsers: a browser's user agent, or collect would flag every
# hit as a bot (python-requests) and ad vendors would skip them (docs/privacy.md).
HIT_HEADERS = {
    "Content-Type": "text/plain;charset=UTF-8",
    "User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
}


def hit_url(base: str, index: int, events_per_hit: int, run_id: str) -> tuple[str, str, list[str], str]:
    """A GA4 gtag hit of ``events_per_hit`` events (batched in the body when more than one)."""
    cid = f"{1000 + index}.{run_id}"
    query = {
        "v": "2",
        "tid": "G-CHAOS",
        "cid": cid,
        "dl": f"https://example.com/page/{index}",
        "dt": "Chaos test",
    }
    event_ids = [f"{run_id}-{index}-{n}" for n in range(events_per_hit)]
    lines = [
        urllib.parse.urlencode(
            {"en": EVENT_NAMES[(index + n) % len(EVENT_NAMES)], "ep.event_id": event_id, "_et": "12"}
        )
        for n, event_id in enumerate(event_ids)
    ]
    if events_per_hit == 1:
        query.update(urllib.parse.parse_qsl(lines[0]))
        body = ""
    else:
        body = "\n".join(lines)
    return f"{base}/g/collect?{urllib.parse.urlencode(query)}", body, event_ids, cid


class LoadDriver:
    """Sends ``count`` hits at ``rate`` per second (in a background thread) to collect."""

    def __init__(
        self,
        collect_url: str,
        rate: float,
        count: int,
        max_seconds: float,
        events_per_hit: int = 1,
        concurrency: int = 8,
        timeout: float = 15.0,
    ) -> None:
        if not collect_url.startswith("http://127.0.0.1:"):
            raise ValueError("the load driver only sends to 127.0.0.1")
        self.collect_url = collect_url
        self.rate = rate
        self.count = count
        self.max_seconds = max_seconds
        self.events_per_hit = events_per_hit
        self.concurrency = concurrency
        self.timeout = timeout
        self.run_id = uuid.uuid4().hex[:8]
        self.report = LoadReport()
        self.started_at = 0.0
        self._lock = threading.Lock()
        self._local = threading.local()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.sent = 0

    def start(self) -> LoadDriver:
        self.started_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="load-driver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def wait(self) -> LoadReport:
        if self._thread is not None:
            self._thread.join()
        return self.report

    def run(self) -> LoadReport:
        self.start()
        return self.wait()

    def _run(self) -> None:
        interval = 1.0 / self.rate
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="hit") as pool:
            for index in range(self.count):
                due = self.started_at + index * interval
                now = time.monotonic()
                if self._stop.is_set() or now - self.started_at > self.max_seconds:
                    break
                if due > now and self._stop.wait(due - now):
                    break
                pool.submit(self._send, index)
                self.sent += 1

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _send(self, index: int) -> None:
        url, body, event_ids, cid = hit_url(self.collect_url, index, self.events_per_hit, self.run_id)
        result = HitResult(index=index, event_ids=event_ids, cid=cid, status=None, at=time.monotonic())
        try:
            response = self._session().post(url, data=body.encode(), headers=HIT_HEADERS, timeout=self.timeout)
            result.status = response.status_code
            result.body = response.text[:300]
        except requests.RequestException as exc:
            result.error = type(exc).__name__
            # A broken keep-alive connection must not poison the next request of this thread.
            self._local.session = None
        result.done_at = time.monotonic()
        with self._lock:
            self.report.results.append(result)


def json_reason(body: str) -> Any:
    """The ``error`` of a JSON error body, or None when the body is not a JSON reason."""
    import json

    try:
        payload = json.loads(body)
    except ValueError:
        return None
    return payload.get("error") if isinstance(payload, dict) else None
