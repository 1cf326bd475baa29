"""Fuzzing collect over HTTP (the real function on the real emulator): generated GA4 hits and
garbage must never get a 5xx; every refusal is a 4xx with a JSON reason."""

from __future__ import annotations

import collections

import pytest
import requests
from hypothesis import HealthCheck, given, seed, settings

from devstack import config as stack_config
from devstack.stack import LocalStack
from tests.fuzz.conftest import fuzz_examples
from tests.fuzz.strategies import collect_requests

pytestmark = pytest.mark.integration

EXAMPLES = fuzz_examples(300)


@pytest.fixture(scope="module")
def collect_stack():
    # No vendor: what matters here is what collect answers and that it stays up.
    with LocalStack(stack_config.load(), vendors=()) as stack:
        yield stack


def test_collect_never_answers_5xx_and_explains_every_refusal(collect_stack, fuzz_record):
    session = requests.Session()
    statuses: collections.Counter = collections.Counter()

    @seed(20261129)
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(request=collect_requests())
    def check(request: dict) -> None:
        url = f"{collect_stack.collect_url}{request['path']}" + (f"?{request['query']}" if request["query"] else "")
        response = session.request(request["method"], url, data=request["body"], headers=request["headers"], timeout=30)
        statuses[response.status_code] += 1
        assert response.status_code < 500, (response.status_code, response.text[:300], request)
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
    assert "Traceback" not in log, log[log.find("Traceback"):][:2000]
