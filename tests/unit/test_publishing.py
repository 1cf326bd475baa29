"""EventPublisher failures that need no broker: they surface as PublishError, never as a crash."""

from __future__ import annotations

import asyncio

import pytest

from shared.publishing import EventPublisher, PublishError


def test_missing_credentials_raise_publish_error(monkeypatch, tmp_path):
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    publisher = EventPublisher(project="test-project", topic="tagging-events", timeout=2)
    with pytest.raises(PublishError, match="cannot open a channel"):
        asyncio.run(publisher.publish_events([{"event_name": "page_view", "consent": {}}]))


def test_no_events_publish_nothing():
    publisher = EventPublisher(project="test-project", topic="tagging-events", timeout=2)
    assert asyncio.run(publisher.publish_events([])) == []
