"""Where the inspector's data comes from: the stack's log files and the dead-letter topic."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from shared.jsonlog import parse_line

log = logging.getLogger(__name__)

INSPECTOR_SUBSCRIPTION = "tagging-dead-letter-inspector"


class LogFollower:
    """Tails several JSON-lines log files in one thread and hands each record to ``sink``.

    Files are read from their size at ``start()`` (the stack appends across runs), or from
    the beginning with ``from_start``; a file that does not exist yet is read from byte 0
    once it appears, and a truncated file is read again from the start.
    """

    def __init__(
        self,
        paths: Mapping[str, Path],
        sink: Callable[[str, dict[str, Any]], None],
        from_start: bool = False,
        interval: float = 0.1,
    ) -> None:
        self.paths = {name: Path(path) for name, path in paths.items()}
        self.sink = sink
        self.interval = interval
        self._offsets = {name: (0 if from_start else _size(path)) for name, path in self.paths.items()}
        self._partial = {name: b"" for name in self.paths}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inspector-logs", daemon=True)

    def start(self) -> LogFollower:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def poll_once(self) -> int:
        """Read whatever was appended since the last call; return the number of records."""
        count = 0
        for name, path in self.paths.items():
            size = _size(path)
            if size < self._offsets[name]:
                self._offsets[name], self._partial[name] = 0, b""
            if size == self._offsets[name]:
                continue
            with open(path, "rb") as handle:
                handle.seek(self._offsets[name])
                chunk = handle.read(size - self._offsets[name])
            self._offsets[name] += len(chunk)
            *lines, self._partial[name] = (self._partial[name] + chunk).split(b"\n")
            for raw in lines:
                record = parse_line(raw.decode("utf-8", errors="replace"))
                if record is not None:
                    count += 1
                    try:
                        self.sink(name, record)
                    except Exception:  # one odd line must not stop the inspector
                        log.exception("inspector could not use a line of %s", name)
        return count

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll_once()
            self._stop.wait(self.interval)


class DeadLetterWatcher:
    """Streams the dead-letter topic through the inspector's own subscription.

    ``make replay`` drains ``tagging-dead-letter-inspect``; the inspector must not steal
    its messages, so it reads a copy through ``tagging-dead-letter-inspector``.
    Expects ``PUBSUB_EMULATOR_HOST`` to point at the emulator.
    """

    def __init__(
        self,
        project: str,
        sink: Callable[[dict[str, Any] | None, dict[str, str], str, float | None], None],
        topic: str = "tagging-dead-letter",
        subscription: str = INSPECTOR_SUBSCRIPTION,
    ) -> None:
        self.project = project
        self.topic = topic
        self.subscription = subscription
        self.sink = sink
        self._subscriber = None
        self._future = None

    def start(self) -> DeadLetterWatcher:
        from google.api_core import exceptions as gexc
        from google.cloud import pubsub_v1

        self._subscriber = pubsub_v1.SubscriberClient()
        path = self._subscriber.subscription_path(self.project, self.subscription)
        with contextlib.suppress(gexc.AlreadyExists):
            self._subscriber.create_subscription(
                request={
                    "name": path,
                    "topic": f"projects/{self.project}/topics/{self.topic}",
                    "ack_deadline_seconds": 60,
                }
            )
        self._future = self._subscriber.subscribe(path, callback=self._on_message)
        return self

    def _on_message(self, message) -> None:
        try:
            data = json.loads(message.data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            data = None  # a poison message: shown with its attributes only
        published = message.publish_time.timestamp() if message.publish_time else None
        try:
            self.sink(data if isinstance(data, dict) else None, dict(message.attributes), message.message_id, published)
        finally:
            message.ack()

    def stop(self) -> None:
        if self._future is not None:
            self._future.cancel()
            with contextlib.suppress(Exception):  # cancelled streams end with an error by design
                self._future.result(timeout=10)
            self._future = None
        if self._subscriber is not None:
            self._subscriber.close()
            self._subscriber = None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
