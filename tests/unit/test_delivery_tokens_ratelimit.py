"""Runtime capabilities of issue 17 against real local HTTP servers: OAuth refresh-token grant
(expiry, one refresh under concurrency, a revoked grant), Google service-account tokens through
google-auth's metadata-server path, the shared rate-limit back-off, per-row outcomes, and
form/gzip bodies."""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
import sys
import textwrap
import time
import urllib.parse

import pytest

from devstack.mock_vendor import MockVendor, Received, Reply
from shared.delivery import Attempt, Outcome, Vendor, VendorRequest, client, ratelimit, tokens
from shared.delivery.envelope import PushMessage
from shared.delivery.http import Response
from shared.delivery.rows import RowFailure, row_outcomes

EVENT = {"event_name": "purchase", "event_id": "e-1", "timestamp_micros": int(time.time() * 1e6)}


def _request(event, settings) -> VendorRequest:
    return VendorRequest("POST", "https://api.vendor.example/v1/events", {"Content-Type": "application/json"},
                         {"data": [{"event": settings["EVENT"], "id": event.get("event_id")}]})


def _vendor(name: str, **kwargs) -> Vendor:
    return Vendor(name=name, build_request=_request, setting_names=("TOKEN_URL",),
                  secret_names=("ACCESS_TOKEN", "CLIENT_ID", "CLIENT_SECRET", "REFRESH_TOKEN"), **kwargs)


def _deliver_all(vendor: Vendor, count: int) -> list[Attempt]:
    async def run():
        return await asyncio.gather(*(vendor.adeliver(PushMessage(dict(EVENT, event_id=f"e-{i}"), {}, f"m-{i}-{time.time()}"))
                                      for i in range(count)))
    return client.run_sync(run())


class TokenServer(MockVendor):
    """A real OAuth 2.0 token endpoint: form-encoded refresh-token grant → JSON token."""

    def __init__(self, expires_in: int = 3600, delay: float = 0.0, revoked: bool = False) -> None:
        super().__init__()
        self.expires_in, self.delay, self.revoked, self.issued = expires_in, delay, revoked, 0
        self.responder = self._answer

    def _answer(self, request: Received) -> Reply:
        form = dict(urllib.parse.parse_qsl(request.body.decode()))
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        if self.revoked or form.get("refresh_token") != "test-refresh" or form.get("grant_type") != "refresh_token":
            return Reply(400, body={"error": "invalid_grant", "error_description": "The provided authorization grant is revoked"},
                         delay=self.delay)
        self.issued += 1
        return Reply(200, body={"access_token": f"test-access-{self.issued}", "expires_in": self.expires_in,
                                "token_type": "Bearer"}, delay=self.delay)


@pytest.fixture
def oauth_env(monkeypatch):
    def configure(prefix: str, token_url: str, api_url: str) -> None:
        monkeypatch.setenv("SECRETS_BACKEND", "env")
        monkeypatch.setenv(f"{prefix}_CLIENT_ID", "test-client")
        monkeypatch.setenv(f"{prefix}_CLIENT_SECRET", "test-secret")
        monkeypatch.setenv(f"{prefix}_REFRESH_TOKEN", "test-refresh")
        monkeypatch.setenv(f"{prefix}_TOKEN_URL", token_url)
        monkeypatch.setenv("VENDOR_API_BASE", api_url)
    return configure


def test_concurrent_deliveries_refresh_the_token_once_and_reuse_it(oauth_env):
    with TokenServer(delay=0.3) as oauth, MockVendor(default=Reply(200)) as api:
        oauth_env("OAUTHA", f"{oauth.url}/oauth/token", api.url)
        vendor = _vendor("oautha", auth=tokens.OAuthRefreshToken("https://idp.example/oauth/token"))
        attempts = _deliver_all(vendor, 20)
        assert [a.outcome for a in attempts] == [Outcome.DELIVERED] * 20
        assert len(oauth.received) == 1, "twenty deliveries at once must share one refresh"
        assert {r.headers["authorization"] for r in api.received} == {"Bearer test-access-1"}
        _deliver_all(vendor, 5)  # cached: no new call
        assert len(oauth.received) == 1


def test_a_token_near_its_expiry_is_refreshed_before_use(oauth_env, monkeypatch):
    monkeypatch.setenv("TOKEN_REFRESH_MARGIN_SECONDS", "1")
    with TokenServer(expires_in=2) as oauth, MockVendor(default=Reply(200)) as api:
        oauth_env("OAUTHB", f"{oauth.url}/token", api.url)
        vendor = _vendor("oauthb", auth=tokens.OAuthRefreshToken("https://idp.example/token"))
        _deliver_all(vendor, 1)
        _deliver_all(vendor, 1)
        assert len(oauth.received) == 1
        time.sleep(1.1)  # 2 s lifetime − 1 s margin
        _deliver_all(vendor, 1)
        assert len(oauth.received) == 2
        assert [r.headers["authorization"] for r in api.received] == [
            "Bearer test-access-1", "Bearer test-access-1", "Bearer test-access-2"]


def test_a_401_forgets_the_cached_token(oauth_env):
    with TokenServer() as oauth, MockVendor(default=Reply(200)) as api:
        oauth_env("OAUTHC", f"{oauth.url}/token", api.url)
        vendor = _vendor("oauthc", auth=tokens.OAuthRefreshToken("https://idp.example/token"))
        api.play(Reply(401, body={"message": "token revoked"}))
        first = _deliver_all(vendor, 1)[0]
        assert first.outcome is not Outcome.DELIVERED
        assert _deliver_all(vendor, 1)[0].outcome is Outcome.DELIVERED
        assert [r.headers["authorization"] for r in api.received] == ["Bearer test-access-1", "Bearer test-access-2"]


def test_a_revoked_grant_is_vendor_misconfigured_retried_and_alerts(oauth_env, capsys):
    with TokenServer(revoked=True) as oauth, MockVendor(default=Reply(200)) as api:
        oauth_env("OAUTHD", f"{oauth.url}/token", api.url)
        vendor = _vendor("oauthd", auth=tokens.OAuthRefreshToken("https://idp.example/token"))
        attempts = _deliver_all(vendor, 3)
        assert [(a.outcome, a.reason) for a in attempts] == [(Outcome.RETRYING, "vendor_misconfigured")] * 3
        assert api.received == []  # nothing sent without a token
        lines = [json.loads(l) for l in capsys.readouterr().out.splitlines() if l.startswith("{")]
        deliveries = [l for l in lines if l["message"] == "delivery"]
        assert {(l["severity"], l["outcome"], l["reason"]) for l in deliveries} == {
            ("ERROR", "retrying", "vendor_misconfigured")}
        assert "invalid_grant" in deliveries[0]["detail"]
        assert "test-secret" not in json.dumps(lines) and "test-refresh" not in json.dumps(lines)
        # The grant is fixed (a new secret version): the next delivery goes through, no redeploy.
        oauth.revoked = False
        assert _deliver_all(vendor, 1)[0].outcome is Outcome.DELIVERED


def test_a_static_access_token_needs_no_token_endpoint(monkeypatch):
    with MockVendor(default=Reply(200)) as api:
        monkeypatch.setenv("SECRETS_BACKEND", "env")
        monkeypatch.setenv("OAUTHE_ACCESS_TOKEN", "test-static")
        monkeypatch.setenv("VENDOR_API_BASE", api.url)
        vendor = _vendor("oauthe", auth=tokens.OAuthRefreshToken("http://127.0.0.1:9/never"))
        assert _deliver_all(vendor, 1)[0].outcome is Outcome.DELIVERED
        assert api.received[0].headers["authorization"] == "Bearer test-static"


def test_google_token_comes_from_the_metadata_server_without_a_key_file(tmp_path):
    """google-auth's real default-credentials path (GCE metadata), served by a local server."""
    with MockVendor() as metadata, MockVendor(default=Reply(200)) as api:
        def answer(request: Received) -> Reply:
            if request.headers.get("metadata-flavor") != "Google":
                return Reply(403, body="missing Metadata-Flavor")
            if "/service-accounts/default/token" in request.path:
                return Reply(200, body={"access_token": "test-google-token", "expires_in": 3599, "token_type": "Bearer"},
                             headers={"Metadata-Flavor": "Google"})
            if "/service-accounts/default" in request.path:
                return Reply(200, body={"email": "vendor-googleads@p.iam.gserviceaccount.com", "scopes": ["x"],
                                        "aliases": ["default"]}, headers={"Metadata-Flavor": "Google"})
            return Reply(200, body="", headers={"Metadata-Flavor": "Google"})
        metadata.responder = answer
        script = textwrap.dedent(f"""
            import asyncio, json
            from shared.delivery import tokens, client
            source = tokens.GoogleToken(scopes=("https://www.googleapis.com/auth/datamanager",))
            async def main():
                results = await asyncio.gather(*(source.headers("googleads", {{}}) for _ in range(10)))
                return results, source.refreshes
            results, refreshes = client.run_sync(main())
            print(json.dumps({{"headers": results[0], "distinct": len({{r["Authorization"] for r in results}}),
                               "refreshes": refreshes}}))
        """)
        host = metadata.url.removeprefix("http://")
        env = {"GCE_METADATA_HOST": host, "GCE_METADATA_IP": host, "HOME": str(tmp_path), "PATH": "/usr/bin:/bin",
               "NO_GCE_CHECK": "False", "PYTHONPATH": "."}
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr[-2000:]
        got = json.loads(done.stdout.strip().splitlines()[-1])
        assert got == {"headers": {"Authorization": "Bearer test-google-token"}, "distinct": 1, "refreshes": 1}
        token_calls = [r for r in metadata.received if "/token" in r.path]
        assert len(token_calls) == 1 and "datamanager" in urllib.parse.unquote(token_calls[0].path)


def test_without_google_credentials_the_delivery_is_misconfigured_not_lost(tmp_path):
    script = textwrap.dedent("""
        import json
        from shared.delivery import tokens, client
        source = tokens.GoogleToken(scopes=("https://www.googleapis.com/auth/datamanager",))
        try:
            client.run_sync(source.headers("googleads", {}))
        except tokens.TokenError as exc:
            print(json.dumps({"misconfigured": exc.misconfigured, "reason": exc.reason,
                              "outcome": tokens.failed_attempt(exc).reason}))
    """)
    # No ADC file, and a metadata address where nothing listens.
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "PYTHONPATH": ".", "GCE_METADATA_HOST": "127.0.0.1:9",
           "GCE_METADATA_IP": "127.0.0.1:9", "GCE_METADATA_TIMEOUT": "1"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "misconfigured": True, "reason": "no_google_credentials", "outcome": "vendor_misconfigured"}


# -- rate limits ------------------------------------------------------------------------------


def test_a_429_with_retry_after_pauses_the_vendor_for_the_whole_instance(monkeypatch):
    with MockVendor(default=Reply(200)) as api:
        monkeypatch.setenv("VENDOR_API_BASE", api.url)
        vendor = _vendor("ratelimited")
        api.play(Reply(429, body={"message": "slow down"}, headers={"Retry-After": "1"}))
        first = _deliver_all(vendor, 1)[0]
        assert (first.outcome, first.reason) == (Outcome.RETRYING, "http_429")
        assert first.detail.startswith("retry_after=1s")
        # Twenty more arrive during the pause: all nacked, not one call.
        burst = _deliver_all(vendor, 20)
        assert {(a.outcome, a.reason) for a in burst} == {(Outcome.RETRYING, "rate_limited")}
        assert len(api.received) == 1 and vendor.backoff.pauses == 1
        time.sleep(1.05)
        assert [a.outcome for a in _deliver_all(vendor, 3)] == [Outcome.DELIVERED] * 3
        assert len(api.received) == 4


def test_retry_after_as_an_http_date_and_the_cap(monkeypatch):
    import email.utils
    when = email.utils.parsedate_to_datetime("Fri, 15 Jan 2027 08:00:30 GMT").timestamp()
    assert ratelimit.parse_retry_after("Fri, 15 Jan 2027 08:00:30 GMT", now=when - 30) == 30.0
    assert ratelimit.parse_retry_after("120") == 120.0
    assert ratelimit.parse_retry_after("soon") is None
    monkeypatch.setenv("RATE_LIMIT_MAX_SECONDS", "60")
    backoff = ratelimit.Backoff()
    assert backoff.pause(86400, now=100.0) == 60.0 and backoff.remaining(now=130.0) == 30.0


def test_a_vendor_rate_limit_answer_in_a_200_pauses_too(monkeypatch):
    def classify(response: Response) -> Attempt | None:
        body = response.json() or {}
        if body.get("code") == 40100:  # e.g. TikTok REQUEST_TOO_FREQUENT inside a 200
            return Attempt(Outcome.RETRYING, reason="vendor_rate_limited", retry_after=5.0)
        return None
    with MockVendor(default=Reply(200, body={"code": 40100})) as api:
        monkeypatch.setenv("VENDOR_API_BASE", api.url)
        vendor = _vendor("ratelimited2", classify=classify)
        assert _deliver_all(vendor, 1)[0].detail.startswith("retry_after=5s")
        assert 4 < vendor.backoff.remaining() <= 5
        assert _deliver_all(vendor, 1)[0].reason == "rate_limited" and len(api.received) == 1


# -- per-row outcomes and bodies --------------------------------------------------------------


def _rows(response: Response, count: int) -> list[Attempt] | None:
    body = response.json()
    if not (200 <= response.status < 300 and isinstance(body, dict)):
        return None
    failures = {i: RowFailure(i, "row_failed", e.get("error", "")) for i, e in enumerate(body.get("events", []))
                if e.get("status") == "failed"}
    return row_outcomes(count, failures, status=response.status, others_ingested=True)


def test_a_2xx_reporting_a_failed_row_rejects_that_event(monkeypatch):
    with MockVendor(default=Reply(200, body={"events": [{"status": "failed", "error": "bad currency"}]})) as api:
        monkeypatch.setenv("VENDOR_API_BASE", api.url)
        vendor = _vendor("rows", classify_rows=_rows)
        got = _deliver_all(vendor, 1)[0]
        assert (got.outcome, got.reason, got.detail) == (Outcome.REJECTED, "row_failed", "bad currency")


def test_form_and_gzip_bodies_on_the_wire():
    with MockVendor(default=Reply(200)) as api:
        async def run():
            await client.send("POST", f"{api.url}/form", {}, {"a": "1 2", "b": "é"}, (2, 2), encoding="form")
            await client.send("POST", f"{api.url}/gz", {"Content-Type": "application/json"}, {"x": [1, 2]}, (2, 2),
                              gzip=True)
        client.run_sync(run())
        form, gz = api.received
        assert form.headers["content-type"] == "application/x-www-form-urlencoded"
        assert urllib.parse.parse_qs(form.body.decode()) == {"a": ["1 2"], "b": ["é"]}
        assert gz.headers["content-encoding"] == "gzip"
        assert json.loads(gzip.decompress(gz.body)) == {"x": [1, 2]}


def test_pubsub_names_never_start_with_goog():
    from devstack import names

    assert names.vendor_subscription("googleads") == "vendor-googleads-push"
    assert names.replay_subscription("googleads") == "vendor-googleads-replay-push"
    assert names.vendor_pull_subscription("googleads") == "vendor-googleads-pull"
    assert names.vendor_subscription("meta") == "meta-push"
    for sub in ("vendor-googleads-push", "projects/p/subscriptions/vendor-googleads-replay-push", "vendor-googleads-pull"):
        assert names.vendor_of_subscription(sub) == "googleads"
    assert names.vendor_of_subscription("meta-replay-push") == "meta"


def test_batch_mode_gives_each_message_its_own_row_outcome(monkeypatch):
    """Pinterest batch: one request of three events; the 200 says events[1] failed."""
    from functions.vendors.pinterest.main import VENDOR as PINTEREST
    from shared import secrets
    from shared.delivery.batching import Batch

    def answer(request: Received) -> Reply:
        rows = [{"status": "failed" if i == 1 else "processed", "error_message": "bad value" if i == 1 else None}
                for i, _ in enumerate(request.json()["data"])]
        return Reply(200, body={"num_events_received": len(rows), "events": rows})

    with MockVendor() as api:
        api.responder = answer
        for key, value in (("PINTEREST_AD_ACCOUNT_ID", "549"), ("PINTEREST_ACCESS_TOKEN", "test-pin"),
                           ("VENDOR_API_BASE", api.url), ("SECRETS_BACKEND", "env")):
            monkeypatch.setenv(key, value)
        secrets.reset()
        events = [dict(EVENT, event_id=f"row-{i}", consent={"ad_storage": "granted"}) for i in range(3)]

        async def go():
            return await Batch(PINTEREST).run([PushMessage(e, {}, f"row-m-{i}", delivery_attempt=1)
                                               for i, e in enumerate(events)])
        results = client.run_sync(go())
        secrets.reset()
    assert len(api.received) == 1 and len(api.received[0].json()["data"]) == 3
    assert [(r.outcome, r.reason) for r in results] == [
        (Outcome.DELIVERED, ""), (Outcome.REJECTED, "pinterest_event_failed"), (Outcome.DELIVERED, "")]
    assert results[1].detail == "bad value" and {r.batch_size for r in results} == {3}


def test_a_paused_vendor_throttles_the_batch_without_a_call(monkeypatch):
    from shared.delivery.batching import Batch

    with MockVendor(default=Reply(200)) as api:
        monkeypatch.setenv("VENDOR_API_BASE", api.url)
        vendor = _vendor("pausedbatch")
        vendor.backoff.pause(30)

        async def go():
            batch = Batch(vendor)
            return await batch.run([PushMessage(dict(EVENT, event_id=f"p-{i}"), {}, f"p-m-{i}") for i in range(4)]), batch
        results, batch = client.run_sync(go())
    assert {r.reason for r in results} == {"rate_limited"} and batch.throttled and api.received == []
