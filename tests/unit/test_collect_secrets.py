"""Collect reads MP_API_SECRETS, DEBUG_TOKEN, MP_SIGNING_SECRETS and EDGE_AUTH_SECRETS from
Secret Manager at runtime (shared/collect_secrets.py): once before serving, then refreshed off
the request path, so a rotation needs no redeploy and a request never waits for Secret Manager.
Against the real local gRPC Secret Manager server of test_delivery_secrets.py."""

from __future__ import annotations

import asyncio
import json
import time

import grpc
import pytest

from shared import collect_secrets, secrets
from shared.collect_app import CollectConfig, Collector, HttpRequest
from shared.ga4 import signature
from tests.recording import RecordingPublisher
from tests.unit.test_delivery_secrets import FakeSecretManager

PROJECT = "projects/tagging-test/secrets"
MP_REF = f"{PROJECT}/MP_API_SECRETS/versions/latest"
DEBUG_REF = f"{PROJECT}/DEBUG_TOKEN/versions/latest"
SIGNING_REF = f"{PROJECT}/MP_SIGNING_SECRETS/versions/latest"
EDGE_REF = f"{PROJECT}/EDGE_AUTH_SECRETS/versions/latest"
GTAG = "v=2&tid=G-TEST&cid=111.222&en=page_view"
MP_BODY = json.dumps({"client_id": "1.2", "events": [{"name": "purchase", "params": {"value": 1}}]}).encode()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def fresh_secrets():
    secrets.reset()
    yield
    secrets.reset()


@pytest.fixture
def cloud_env(monkeypatch):
    """What Terraform sets on collect (infra/modules/ingest_function), pointed at a local server."""

    def point_at(server: FakeSecretManager) -> None:
        monkeypatch.setenv("SECRETS_BACKEND", "secretmanager")
        monkeypatch.setenv("SECRET_MANAGER_ENDPOINT", f"127.0.0.1:{server.port}")
        # The shared cache must not hide a rotation from the refresh under test.
        monkeypatch.setenv("SECRETS_CACHE_SECONDS", "0")
        for name, ref in (
            ("MP_API_SECRETS", MP_REF),
            ("DEBUG_TOKEN", DEBUG_REF),
            ("MP_SIGNING_SECRETS", SIGNING_REF),
            ("EDGE_AUTH_SECRETS", EDGE_REF),
        ):
            monkeypatch.setenv(f"SECRET_{name}", ref)
            monkeypatch.delenv(name, raising=False)

    return point_at


def mp(collector: Collector, secret: str, headers: dict | None = None):
    request = HttpRequest("POST", "/mp/collect", f"measurement_id=G-TEST&api_secret={secret}", headers or {}, MP_BODY)
    return asyncio.run(collector.handle(request))


def gtag(collector: Collector, headers: dict):
    return asyncio.run(collector.handle(HttpRequest("POST", "/g/collect", GTAG, headers)))


def test_secrets_are_read_before_serving_and_never_per_request(cloud_env, monkeypatch):
    with FakeSecretManager({MP_REF: "mp-one,mp-two", DEBUG_REF: "debug-tok"}) as server:
        cloud_env(server)
        monkeypatch.setenv("SECRETS_CACHE_SECONDS", "300")  # the default
        keys = collect_secrets.from_env(CollectConfig.from_env())
        # Read at start (functions/collect/main.py calls this at import, before serving).
        assert sorted(server.calls) == sorted([MP_REF, DEBUG_REF, SIGNING_REF, EDGE_REF])
        collector = Collector(RecordingPublisher(), CollectConfig(), keys)
        for _ in range(30):
            assert mp(collector, "mp-two").status == 204
        debug = gtag(collector, {"x-tagging-debug": "debug-tok"})
        assert debug.status == 200 and debug.json()["debug"] is True
        assert len(server.calls) == 4  # no request reached Secret Manager
        # A secret without a version (MP_SIGNING_SECRETS here) is "not configured", not an error.
        assert keys.current().unread == frozenset() and not keys.current().verifier.enabled


def test_a_rotated_value_is_used_after_the_refresh_without_a_redeploy(cloud_env):
    clock = Clock()
    with FakeSecretManager({MP_REF: "old-secret", EDGE_REF: "old-edge"}) as server:
        cloud_env(server)
        keys = collect_secrets.RefreshingKeys(ttl=300, clock=clock)
        keys.refresh()
        collector = Collector(RecordingPublisher(), CollectConfig(), keys)
        assert mp(collector, "old-secret").status == 204
        server.values[MP_REF] = "new-secret"  # gcloud secrets versions add
        server.values[EDGE_REF] = "new-edge"
        clock.now += 299
        assert mp(collector, "new-secret").status == 403  # still within the TTL
        calls = len(server.calls)
        clock.now += 2
        # Due: this request is answered with the keys in hand while a thread refreshes them.
        mp(collector, "old-secret")
        keys.wait(10)
        assert len(server.calls) == calls + 4
        assert mp(collector, "new-secret").status == 204
        assert mp(collector, "old-secret").status == 403
        publisher = RecordingPublisher()
        edge = Collector(publisher, CollectConfig(), keys)
        gtag(edge, {"x-edge-auth": "new-edge", "x-client-geo-country": "DE"})
        assert publisher.events[0]["event_location"] == {"country": "DE"}


def test_secret_manager_down_at_start_answers_mp_503_until_it_recovers(cloud_env, capsys):
    clock = Clock()
    with FakeSecretManager({MP_REF: "mp-secret"}, failure=grpc.StatusCode.UNAVAILABLE) as server:
        cloud_env(server)
        keys = collect_secrets.RefreshingKeys(ttl=300, clock=clock)
        keys.refresh()
        collector = Collector(RecordingPublisher(), CollectConfig(), keys)
        refused = mp(collector, "mp-secret")
        # A retryable answer, not "no secrets configured" (403 would tell the sender to stop).
        assert refused.status == 503 and refused.json()["error"] == "secrets_unavailable"
        assert gtag(collector, {}).status == 204  # browser hits do not need a secret
        log = capsys.readouterr().out
        assert "collect secret unavailable" in log and "mp-secret" not in log.replace("MP_API_SECRETS", "")
        server.failure = None
        clock.now += collect_secrets.RETRY_SECONDS  # retried sooner than the TTL
        mp(collector, "mp-secret")
        keys.wait(10)
        assert mp(collector, "mp-secret").status == 204


def test_a_failed_refresh_keeps_the_last_values(cloud_env):
    clock = Clock()
    with FakeSecretManager({MP_REF: "mp-secret", DEBUG_REF: "tok"}) as server:
        cloud_env(server)
        keys = collect_secrets.RefreshingKeys(ttl=300, clock=clock)
        keys.refresh()
        server.failure = grpc.StatusCode.PERMISSION_DENIED
        clock.now += 301
        keys.refresh()
        collector = Collector(RecordingPublisher(), CollectConfig(), keys)
        assert mp(collector, "mp-secret").status == 204
        assert gtag(collector, {"x-tagging-debug": "tok"}).status == 200


def test_a_rotation_of_signing_secrets_keeps_the_replay_memory():
    verifier = signature.Verifier(("first",))
    body = b"{}"
    header = signature.sign(b"first", body, int(time.time()))
    verifier.verify(header, body)
    verifier.rotate(("second", "first"))
    with pytest.raises(signature.SignatureError) as info:
        verifier.verify(header, body)
    assert info.value.reason == "signature_replayed"
    verifier.rotate(("second",))
    with pytest.raises(signature.SignatureError):
        verifier.verify(signature.sign(b"first", body, int(time.time())), body)


def test_the_env_backend_keeps_the_environment_values(monkeypatch):
    monkeypatch.delenv("SECRETS_BACKEND", raising=False)
    monkeypatch.setenv("MP_API_SECRETS", "a, b")
    monkeypatch.setenv("DEBUG_TOKEN", "tok")
    config = CollectConfig.from_env()
    keys = collect_secrets.from_env(config)
    assert isinstance(keys, collect_secrets.StaticKeys)
    assert keys.current().mp_api_secrets == (b"a", b"b") and keys.current().debug_token == b"tok"
