"""shared.secrets: the env backend, the TTL cache, and the Secret Manager client code path
against a real local gRPC server implementing SecretManagerService.AccessSecretVersion."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent import futures

import grpc
import pytest
from google.cloud import secretmanager_v1

from devstack.processes import free_port
from shared import secrets

SERVICE = "google.cloud.secretmanager.v1.SecretManagerService"
REFERENCE = "projects/tagging-test/secrets/meta-access-token/versions/latest"


class FakeSecretManager:
    """A real gRPC server speaking the Secret Manager wire protocol for one method."""

    def __init__(self, values: dict[str, str], failure: grpc.StatusCode | None = None, delay: float = 0.0):
        self.values = values
        self.delay = delay  # seconds before answering: a slow Secret Manager
        self.failure = failure  # answer every call with this status (a permission or outage error)
        self.calls: list[str] = []
        self._lock = threading.Lock()
        self.port = free_port()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        handler = grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "AccessSecretVersion": grpc.unary_unary_rpc_method_handler(
                    self._access,
                    request_deserializer=secretmanager_v1.AccessSecretVersionRequest.deserialize,
                    response_serializer=secretmanager_v1.AccessSecretVersionResponse.serialize,
                )
            },
        )
        self.server.add_generic_rpc_handlers((handler,))
        self.server.add_insecure_port(f"127.0.0.1:{self.port}")

    def _access(self, request, context):
        with self._lock:
            self.calls.append(request.name)
        time.sleep(self.delay)
        if self.failure is not None:
            context.abort(self.failure, "refused")
        if request.name not in self.values:
            # What Secret Manager answers for .../versions/latest of a secret without versions.
            context.abort(grpc.StatusCode.NOT_FOUND, "Secret Version [...] not found")
        return secretmanager_v1.AccessSecretVersionResponse(
            name=request.name, payload=secretmanager_v1.SecretPayload(data=self.values[request.name].encode())
        )

    def __enter__(self):
        self.server.start()
        return self

    def __exit__(self, *exc):
        self.server.stop(grace=None)


@pytest.fixture(autouse=True)
def fresh_module():
    secrets.reset()
    yield
    secrets.reset()


def test_env_backend_reads_the_variable_of_the_same_name(monkeypatch):
    monkeypatch.delenv("SECRETS_BACKEND", raising=False)
    monkeypatch.setenv("META_ACCESS_TOKEN", " test-token \n")
    assert secrets.get("META_ACCESS_TOKEN") == "test-token"
    monkeypatch.delenv("META_ACCESS_TOKEN")
    assert secrets.get("META_ACCESS_TOKEN") == ""


def test_cache_serves_within_ttl_and_refetches_after():
    now = [100.0]
    fetched: list[str] = []

    def fetch(reference: str) -> str:
        fetched.append(reference)
        return f"value-{len(fetched)}"

    cache = secrets.SecretCache(fetch, ttl=300, clock=lambda: now[0])
    assert cache.get("a") == "value-1"
    now[0] += 299
    assert cache.get("a") == "value-1"
    now[0] += 2
    assert cache.get("a") == "value-2"
    assert fetched == ["a", "a"]


def test_secret_manager_backend_reads_through_grpc_and_caches(monkeypatch):
    with FakeSecretManager({REFERENCE: "test-secret-from-sm"}) as server:
        monkeypatch.setenv("SECRETS_BACKEND", "secretmanager")
        monkeypatch.setenv("SECRET_MANAGER_ENDPOINT", f"127.0.0.1:{server.port}")
        monkeypatch.setenv("SECRET_META_ACCESS_TOKEN", REFERENCE)
        monkeypatch.setenv("META_ACCESS_TOKEN", "env-value-not-used")
        assert secrets.get("META_ACCESS_TOKEN") == "test-secret-from-sm"
        assert secrets.get("META_ACCESS_TOKEN") == "test-secret-from-sm"
        assert server.calls == [REFERENCE]


@pytest.mark.parametrize("code", [grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAVAILABLE])
def test_secret_manager_failure_raises_secret_unavailable(monkeypatch, code):
    with FakeSecretManager({REFERENCE: "value-never-shown"}, failure=code) as server:
        monkeypatch.setenv("SECRETS_BACKEND", "secretmanager")
        monkeypatch.setenv("SECRET_MANAGER_ENDPOINT", f"127.0.0.1:{server.port}")
        monkeypatch.setenv("SECRET_META_ACCESS_TOKEN", REFERENCE)
        with pytest.raises(secrets.SecretUnavailable) as info:
            secrets.get("META_ACCESS_TOKEN")
    assert "meta-access-token" in str(info.value) and "value-never-shown" not in str(info.value)


@pytest.mark.parametrize("code", [None, grpc.StatusCode.FAILED_PRECONDITION])
def test_a_secret_without_an_enabled_version_is_not_configured(monkeypatch, code):
    # NOT_FOUND: no version yet (Terraform creates the secret empty); FAILED_PRECONDITION: the
    # version is disabled. Either way the vendor runs dry instead of retrying forever.
    with FakeSecretManager({}, failure=code) as server:
        monkeypatch.setenv("SECRETS_BACKEND", "secretmanager")
        monkeypatch.setenv("SECRET_MANAGER_ENDPOINT", f"127.0.0.1:{server.port}")
        monkeypatch.setenv("SECRET_META_ACCESS_TOKEN", REFERENCE)
        assert secrets.get("META_ACCESS_TOKEN") == ""
        assert secrets.get("META_ACCESS_TOKEN") == ""
        assert server.calls == [REFERENCE]  # cached like a value


def test_a_value_added_or_rotated_later_is_read_without_a_redeploy(monkeypatch):
    with FakeSecretManager({}) as server:
        monkeypatch.setenv("SECRETS_BACKEND", "secretmanager")
        monkeypatch.setenv("SECRET_MANAGER_ENDPOINT", f"127.0.0.1:{server.port}")
        monkeypatch.setenv("SECRET_META_ACCESS_TOKEN", REFERENCE)
        monkeypatch.setenv("SECRETS_CACHE_SECONDS", "0")  # every read reaches the server
        assert secrets.get("META_ACCESS_TOKEN") == ""
        server.values[REFERENCE] = "first-token"  # gcloud secrets versions add
        assert secrets.get("META_ACCESS_TOKEN") == "first-token"
        server.values[REFERENCE] = "rotated-token"
        assert secrets.get("META_ACCESS_TOKEN") == "rotated-token"


def test_a_failed_refresh_serves_the_last_value_for_a_while():
    now = [0.0]
    answers: list = ["token-1", secrets.SecretUnavailable("down"), secrets.SecretUnavailable("down")]

    def fetch(reference: str) -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    cache = secrets.SecretCache(fetch, ttl=300, clock=lambda: now[0], stale=3600)
    assert cache.get("a") == "token-1"
    now[0] = 301  # expired, refresh fails: the last value still serves
    assert cache.get("a") == "token-1"
    now[0] = 300 + 3600 + 1  # past the grace: the failure shows (the delivery retries)
    with pytest.raises(secrets.SecretUnavailable):
        cache.get("a")


def test_a_vendor_whose_secret_has_no_version_runs_dry(monkeypatch, capsys):
    from functions.vendors.tiktok.main import VENDOR as TIKTOK
    from tests.unit.test_delivery_runtime import event, last_line, push

    with FakeSecretManager({}) as server:
        monkeypatch.setenv("SECRETS_BACKEND", "secretmanager")
        monkeypatch.setenv("SECRET_MANAGER_ENDPOINT", f"127.0.0.1:{server.port}")
        monkeypatch.setenv("SECRET_TIKTOK_ACCESS_TOKEN", "projects/p/secrets/TIKTOK_ACCESS_TOKEN/versions/latest")
        monkeypatch.setenv("TIKTOK_PIXEL_CODE", "CTEST")
        monkeypatch.delenv("TIKTOK_ACCESS_TOKEN", raising=False)
        status, _ = TIKTOK.handle_push(push(event()))
    assert (status, last_line(capsys)["outcome"]) == (200, "dry_run")


def test_secret_manager_backend_without_reference_falls_back_to_the_env_value(monkeypatch):
    # An operator may pin a value as a plain environment variable.
    monkeypatch.setenv("SECRETS_BACKEND", "secretmanager")
    monkeypatch.delenv("SECRET_TIKTOK_ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("TIKTOK_ACCESS_TOKEN", "injected")
    assert secrets.get("TIKTOK_ACCESS_TOKEN") == "injected"


def test_a_slow_secret_read_does_not_stall_the_other_deliveries_on_the_loop(monkeypatch):
    # The async runtime serves many messages on one event loop: a 0.5 s Secret Manager read
    # (once per cache period) must run in a worker thread while the loop keeps turning.
    from functions.vendors.tiktok.main import VENDOR as TIKTOK
    from shared.delivery.envelope import decode_push
    from tests.unit.test_delivery_runtime import event, push

    with FakeSecretManager({}, delay=0.5) as server:
        monkeypatch.setenv("SECRETS_BACKEND", "secretmanager")
        monkeypatch.setenv("SECRET_MANAGER_ENDPOINT", f"127.0.0.1:{server.port}")
        monkeypatch.setenv("SECRET_TIKTOK_ACCESS_TOKEN", "projects/p/secrets/TIKTOK_ACCESS_TOKEN/versions/latest")
        monkeypatch.setenv("TIKTOK_PIXEL_CODE", "CTEST")
        monkeypatch.delenv("TIKTOK_ACCESS_TOKEN", raising=False)
        message = decode_push(push(event()))

        async def scenario() -> tuple[int, str]:
            ticks = 0
            done = asyncio.Event()

            async def ticker() -> None:
                nonlocal ticks
                while not done.is_set():
                    ticks += 1
                    await asyncio.sleep(0.01)

            task = asyncio.create_task(ticker())
            attempt = await TIKTOK.adeliver(message)
            done.set()
            await task
            return ticks, attempt.outcome.value

        ticks, outcome = asyncio.run(scenario())
    assert outcome == "dry_run"
    assert server.calls  # the read happened ...
    assert ticks >= 20  # ... and the loop ran on meanwhile (a blocking read gives 1)
    assert not secrets.would_fetch(["TIKTOK_ACCESS_TOKEN"])  # now cached: the next read stays on the loop
