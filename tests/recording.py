"""A publisher that records events instead of sending them, for unit tests of collect's core.

Integration tests use the real publisher against the emulator; this stands in only where a
test is about parsing and answers, not about Pub/Sub.
"""

from __future__ import annotations

from shared.publishing import PublishError


class RecordingPublisher:
    """Awaitable like ``EventPublisher.publish_events``; ``fail=True`` simulates a broker outage."""

    def __init__(self, fail: bool = False) -> None:
        self.events: list[dict] = []
        self.fail = fail

    async def __call__(self, events):
        if self.fail:
            raise PublishError("broker down")
        self.events.extend(events)
        return [str(i) for i in range(len(events))]
