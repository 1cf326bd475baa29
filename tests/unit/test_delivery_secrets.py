"""shared.secrets: the env backend, the TTL cache, and the Secret Manager client code path
against a real local gRPC server implementing SecretManagerService.AccessSecretVersion."""

from __future__ import annotations

import threading
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

    def __init__(self, values: dict[str, str]):
        self.values = values
        self.calls: list[str] = []
        self._lock = threading.Lock()
        self.port = free_port()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        handler = grpc.method_handlers_generic_handler(SERVICE, {
            "AccessSecretVersion": grpc.unary_unary_rpc_method_handler(
                self._access,
                request_deserializer=secretmanager_v1.AccessSecretVersionRequest.deserialize,
                response_serializer=secretmanager_v1.AccessSecretVersionResponse.serialize,
            )
        })
        self.server.add_generic_rpc_handlers((handler,))
        self.server.add_insecure_port(f"127.0.0.1:{self.port}")

    def _access(self, request, context):
        with self._lock:
            self.calls.append(request.name)
        if request.name not in self.values:
            context.abort(grpc.StatusCode.NOT_FOUND, "no such secret version")
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


def test_secret_manager_failure_raises_secret_unavailable(monkeypatch):
    with FakeSecretManager({}) as server:
        monkeypatch.setenv("SECRETS_BACKEND", "secretmanager")
        monkeypatch.setenv("SECRET_MANAGER_ENDPOINT", f"127.0.0.1:{server.port}")
        monkeypatch.setenv("SECRET_META_ACCESS_TOKEN", REFERENCE)
        with pytest.raises(secrets.SecretUnavailable) as info:
            secrets.get("META_ACCESS_TOKEN")
    assert "NotFound" in str(info.value)


def test_secret_manager_backend_without_reference_falls_back_to_injected_env(monkeypatch):
    # Terraform injects secrets as environment variables (Cloud Run secret env vars).
    monkeypatch.setenv("SECRETS_BACKEND", "secretmanager")
    monkeypatch.delenv("SECRET_TIKTOK_ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("TIKTOK_ACCESS_TOKEN", "injected")
    assert secrets.get("TIKTOK_ACCESS_TOKEN") == "injected"
