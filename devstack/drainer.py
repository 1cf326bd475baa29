"""``make run``'s stand-in for Cloud Scheduler: drains the batch-mode vendors on a timer.

Every ``interval`` seconds it calls each batch-mode vendor function's ``POST /drain``, one
vendor after the other, from one background thread (as the scheduler job does, a drain
that is still running delays the next one instead of overlapping it).
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from typing import Any


class Drainer:
    """``Drainer({"meta": "http://127.0.0.1:8082/"}, 5).start()`` … ``.stop()``."""

    def __init__(self, vendor_urls: dict[str, str], interval: float) -> None:
        self.vendor_urls = dict(vendor_urls)
        self.interval = interval
        self.runs = 0
        self.last: dict[str, Any] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="batch-drainer", daemon=True)

    def start(self) -> Drainer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            for name, url in self.vendor_urls.items():
                if self._stop.is_set():
                    return
                try:
                    self.last[name] = self.drain_once(url, timeout=60)
                except (OSError, ValueError) as exc:
                    # The function is down or restarting (chaos): the next tick tries again,
                    # and the messages wait in the subscription meanwhile.
                    self.last[name] = {"error": f"{type(exc).__name__}: {exc}"}
            self.runs += 1

    @staticmethod
    def drain_once(vendor_url: str, timeout: float = 120.0) -> dict[str, Any]:
        """POST ``<vendor_url>drain`` and return its JSON summary (raises on transport errors)."""
        request = urllib.request.Request(vendor_url.rstrip("/") + "/drain", data=b"", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            body = exc.read()
            try:
                return {"status": exc.code, **json.loads(body)}
            except ValueError:
                return {"status": exc.code, "body": body[:200].decode(errors="replace")}
