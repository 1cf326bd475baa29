"""Write a golden file per sample hit that has none yet (``--force`` rewrites them all).

A golden file is checked by hand against docs/ga4-client.md and the GA4 spec before it is
committed; after that, tests/unit/test_ga4_golden.py holds the code to it. Run with
``PYTHONPATH=. .venv/bin/python tests/golden/ga4/regenerate.py``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from shared.collect_app import CollectConfig, Collector, HttpRequest
from tests.conftest import load_sample_hits

HERE = Path(__file__).parent
# Sample-hit index in tests/fixtures/ga4-real-hits.jsonl → golden file name.
NAMES = [
    "garbarino-page-view-first-visit",
    "garbarino-batch-six-events",
    "garbarino-add-to-cart",
    "garbarino-user-engagement",
    "sesamy-consent-granted-page-view",
    "sesamy-consent-denied-scroll",
    "sesamy-debug-purchase",
    "timecapsule-user-properties",
    "php-ga4-two-event-batch",
    "berkeley-click-get",
]
# Request headers added to every sample (the samples recorded none): documentation-range IP.
HEADERS = {
    "user-agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/136.0.0.0 Safari/537.36",
    "x-forwarded-for": "203.0.113.7, 10.10.0.1",
    "origin": "https://shop.example.com",
}


class _Recorder:
    def __init__(self) -> None:
        self.events: list[dict] = []

    async def __call__(self, events):
        self.events.extend(events)
        return [str(i) for i in range(len(events))]


def run(request: dict) -> dict:
    """The observable result of one golden request: status, cookies, events without timestamps."""
    recorder = _Recorder()
    response = asyncio.run(
        Collector(recorder, CollectConfig()).handle(
            HttpRequest(
                request["method"],
                request["path"],
                request["query"],
                request["headers"],
                request["body"].encode("utf-8"),
            )
        )
    )
    events = [{k: v for k, v in event.items() if k != "timestamp_micros"} for event in recorder.events]
    return {"status": response.status, "set_cookie": response.cookies, "events": events}


def main(force: bool) -> None:
    for hit, name in zip(load_sample_hits(), NAMES, strict=True):
        path = HERE / f"{name}.json"
        if path.exists() and not force:
            continue
        request = {
            "method": hit["method"],
            "path": hit["path"],
            "query": hit["query"],
            "body": hit["body"],
            "headers": HEADERS,
        }
        golden = {"source": hit["source"], "notes": hit["notes"], "request": request, "expected": run(request)}
        path.write_text(json.dumps(golden, indent=2, ensure_ascii=False) + "\n")
        print("wrote", path)


if __name__ == "__main__":
    main("--force" in sys.argv)
