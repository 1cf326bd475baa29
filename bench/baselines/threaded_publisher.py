"""The benchmark's baseline publisher: google-cloud-pubsub's threaded ``PublisherClient``.

This is how ``shared.publishing`` published before the benchmark (5 ms batches, one future
per message, ``asyncio.wrap_future``). ``make bench`` runs collect with it beside collect as
shipped, so every run shows the before/after of the group-commit publisher.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1

from shared import settings
from shared.event import encode_event, message_attributes
from shared.publishing import PublishError


class ThreadedEventPublisher:
    """Publishes events to one topic; ``publish_events`` returns once all are acknowledged."""

    def __init__(
        self,
        project: str | None = None,
        topic: str | None = None,
        timeout: float | None = None,
        max_latency: float | None = None,
    ) -> None:
        self.project = project or settings.project_id()
        self.topic_id = topic or settings.env_str("EVENTS_TOPIC", "tagging-events")
        self.timeout = timeout if timeout is not None else settings.env_float("PUBLISH_TIMEOUT_SECONDS", 5.0)
        batch = pubsub_v1.types.BatchSettings(
            max_messages=1000,
            max_bytes=9_000_000,
            max_latency=max_latency
            if max_latency is not None
            else settings.env_float("PUBLISH_MAX_LATENCY_SECONDS", 0.005),
        )
        self._client = pubsub_v1.PublisherClient(batch_settings=batch)
        self.topic_path = self._client.topic_path(self.project, self.topic_id)

    async def publish_events(self, events: Sequence[dict[str, Any]]) -> list[str]:
        """Publish every event; return their message IDs or raise :class:`PublishError`."""
        futures = [
            asyncio.wrap_future(self._client.publish(self.topic_path, encode_event(event), **message_attributes(event)))
            for event in events
        ]
        try:
            return list(await asyncio.wait_for(asyncio.gather(*futures), timeout=self.timeout))
        except (TimeoutError, gexc.GoogleAPICallError, gexc.RetryError, OSError) as exc:
            raise PublishError(f"{type(exc).__name__}: {exc}".strip()) from exc
        except Exception as exc:  # noqa: BLE001 - any broker failure means "not persisted"
            raise PublishError(f"{type(exc).__name__}: {exc}".strip()) from exc
