"""Fuzzing collect over HTTP (the real function on the real emulator): generated GA4 hits and
garbage must never get a 5xx; every refusal is a 4xx with a JSON reason."""

from __future__ import annotations

import collections

import pytest
import requests
from hypothesis import HealthCheck, example, given, seed, settings

from devstack import config as stack_config
from devstack.stack import LocalStack
from tests.fuzz.conftest import fuzz_examples
from tests.fuzz.strategies import collect_requests

pytestmark = pytest.mark.integration

EXAMPLES = fuzz_examples(300)
Q = "v=2&tid=G-FUZZ&cid=1.2&en=page_view"


def _seed(method: str, path: str, query: str, body: bytes = b"") -> dict:
    return {"method": method, "path": path, "query": query, "body": body, "headers": {}}


# Each input that once answered 500 with a traceback (issue 13), replayed on every run.
SEEDS = [
    _seed("GET", "/g/collect", Q + "&_et=%C2%B2"),
    _seed("GET", "/g/collect", Q + "&sct=" + "9" * 5000),
    _seed("GET", "/g/collect", Q + "&pr%C2%B2=x"),
    _seed("GET", "/g/collect", Q + "&ep.user_data.address.%C2%B2=x"),
    _seed("GET", "/g/collect", Q + "&ep.user_data." + "a." * 1200 + "=x"),
    _seed("POST", "/debug/mp/collect", "measurement_id=G-FUZZ", b"[" * 50_000),
    _seed("POST", "/mp/collect", "measurement_id=G-FUZZ&api_secret=x", b"[" * 50_000),
    _seed(
        "POST",
        "/g/collect",
        Q + "&" + "&".join(f"pr{i}=id{i}~nmN" for i in range(1, 201)),
        b"\n".join([b"en=view_item"] * 500),
    ),
    _seed("POST", "/g/collect", Q, b"\n".join([b"en=" + b"x" * 15_000] * 4)),
    _seed("POST", "/g/collect", Q, b"a\n" * 32_000),
]


def _with_seeds(test):
    for request in reversed(SEEDS):
        test = example(request=request)(test)
    return test


@pytest.fixture(scope="module")
def collect_stack():
    # No vendor: what matters here is what collect answers and that it stays up.
    with LocalStack(stack_config.load(), vendors=()) as stack:
        yield stack


def test_collect_never_answers_5xx_and_explains_every_refusal(collect_stack, fuzz_record):
    session = requests.Session()
    statuses: collections.Counter = collections.Counter()

    @seed(20261129)
    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, derandomize=False, suppress_health_check=list(HealthCheck)
    )
    @given(request=collect_requests())
    @_with_seeds
    def check(request: dict) -> None:
        url = f"{collect_stack.collect_url}{request['path']}" + (f"?{request['query']}" if request["query"] else "")
        response = session.request(request["method"], url, data=request["body"], headers=request["headers"], timeout=30)
        statuses[response.status_code] += 1
        assert response.status_code < 500, (response.status_code, response.text[:300], str(request)[:500])
        # Whatever came in, the answer stays small (rejections are summarized).
        assert len(response.content) < 16 * 1024, (len(response.content), str(request)[:300])
        if response.status_code >= 400:
            assert response.headers.get("content-type", "").startswith("application/json"), request
            payload = response.json()
            assert isinstance(payload.get("error"), str) and payload["error"], payload
        assert collect_stack.processes["collect"].poll() is None, "collect crashed"

    check()
    sent = sum(statuses.values())
    fuzz_record["collect"] = {"requests": sent, "statuses": {str(k): v for k, v in sorted(statuses.items())}}
    print(f"\ncollect fuzz: {sent} requests, statuses {dict(sorted(statuses.items()))}")
    assert sent >= EXAMPLES * 0.9
    # Nothing collect logged is a traceback.
    log = collect_stack.log_path("collect").read_text(errors="replace")
    assert "Traceback" not in log, log[log.find("Traceback") :][:2000]
