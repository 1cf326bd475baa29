"""The user's path through a vendor outage: `make run`'s own process, a webhook receiver that
fails and recovers, every event accounted for (issue 15).

`make run` is ``python -m devstack run``; this test starts exactly that, on free ports, with
a copy of config/vendors.yaml that enables only the webhook (explicitly: the default may
disable it) and shortens the local retry window to 5 attempts (the real backoff, 5-10 s:
5 + 10 + 10 + 10 = 35 s). The webhook receiver is a real HTTP server in this process.

1. The receiver answers 503 for 20 s while 40 hits arrive, then 200: every event is
   delivered exactly once (by the receiver's count and the delivery lines), none
   dead-lettered, and the 503s were retried.
2. The receiver answers 503 for longer than the window: every event is dead-lettered, from
   the webhook's subscription; then `make replay VENDOR=webhook`'s command moves them back
   and each is delivered exactly once.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
import yaml

from devstack.config import CONFIG_PATH, REPO_ROOT
from devstack.mock_vendor import MockVendor, Reply
from devstack.processes import ManagedProcess, free_port, wait_for_port
from reliability.accounting import DeadLetter, account, published_from_hits, read_json_lines
from reliability.replay import replay
from tests.stackutil import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

ATTEMPTS = 5  # the shortened window: backoff 5 + 10 + 10 + 10 = 35 s (devstack.relay.retry_window_seconds)
OUTAGE_SECONDS = 20
HITS = 40


@pytest.fixture
def receiver():
    with MockVendor(default=Reply(503, body={"error": "down for maintenance"})) as mock:
        yield mock


@pytest.fixture
def make_run(tmp_path, receiver, monkeypatch):
    """``python -m devstack run`` (the `make run` target's command) in the background, stopped by PID."""
    config = yaml.safe_load(CONFIG_PATH.read_text())
    for name, vendor in config["vendors"].items():
        vendor["enabled"] = name == "webhook"
    config["delivery"]["local"]["max_delivery_attempts"] = ATTEMPTS
    config_path = tmp_path / "vendors.yaml"
    config_path.write_text(yaml.safe_dump(config))
    ports = {name: free_port() for name in ("collect", "emulator", "vendor", "inspector")}
    log_dir = tmp_path / "logs"
    env = {**os.environ, "WEBHOOK_URL": receiver.url + "/hook", "PYTHONUNBUFFERED": "1"}
    process = ManagedProcess(
        "make-run",
        [
            sys.executable,
            "-m",
            "devstack",
            "run",
            f"--config={config_path}",
            f"--log-dir={log_dir}",
            f"--collect-port={ports['collect']}",
            f"--emulator-port={ports['emulator']}",
            f"--vendor-base-port={ports['vendor']}",
            f"--inspector-port={ports['inspector']}",
            f"--archive-file={tmp_path / 'archive.jsonl'}",
        ],
        tmp_path / "make-run.out",
        env=env,
        cwd=REPO_ROOT,
    )
    try:
        process.start()
        wait_until(
            lambda: "Local stack is up" in process.tail(200) or process.poll() is not None, timeout=120, interval=0.5
        )
        assert process.poll() is None and "Local stack is up" in process.tail(200), process.tail()
        wait_for_port(ports["collect"], 10, process)
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", f"127.0.0.1:{ports['emulator']}")
        yield {"process": process, "ports": ports, "log_dir": log_dir, "out": tmp_path / "make-run.out"}
    finally:
        process.stop(timeout=30)


def _send(collect: str, prefix: str, count: int, spread: float) -> list[str]:
    ids = []
    for i in range(count):
        event_id = f"{prefix}-{i}"
        response = requests.post(
            f"{collect}/g/collect?v=2&tid=G-TEST&cid={i}.{i}&en=purchase&ep.event_id={event_id}", timeout=10
        )
        assert response.status_code == 204, response.text
        ids.append(event_id)
        time.sleep(spread / count)
    return ids


def _accounts(run, dead_letters=()):
    lines = read_json_lines(sorted(Path(run["log_dir"]).glob("*.log")))
    return account(published_from_hits(lines), lines, dead_letters, ["webhook"])["webhook"], lines


def _received_2xx(receiver: MockVendor, status_of) -> Counter:
    """How often the receiver accepted each event_id (answered it 2xx)."""
    return Counter(r.json()["event_id"] for r in receiver.received if status_of(r) < 300)


def test_make_run_delivers_a_20s_outage_and_dead_letters_a_longer_one(make_run, receiver):
    collect = f"http://127.0.0.1:{make_run['ports']['collect']}"
    answers: dict[int, int] = {}

    def respond(request):
        reply = receiver.default
        answers[id(request)] = reply.status
        return reply

    receiver.responder = respond
    status_of = lambda request: answers.get(id(request), 0)  # noqa: E731

    # 1. A 20 s outage: 40 hits sent while the receiver answers 503, then it recovers.
    outage_started = time.monotonic()
    first = _send(collect, "outage", HITS, spread=OUTAGE_SECONDS / 2)
    time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - outage_started)))
    receiver.default = Reply(200)
    recovered = time.monotonic()
    assert wait_until(lambda: set(first) <= set(_received_2xx(receiver, status_of)), timeout=60, interval=0.5), (
        f"delivered {len(set(first) & set(_received_2xx(receiver, status_of)))} of {HITS}"
    )
    delivered_after = time.monotonic() - recovered
    result, lines = _accounts(make_run)
    received = _received_2xx(receiver, status_of)
    failed_pushes = sum(1 for r in receiver.received if status_of(r) == 503)
    print(
        f"\n20 s outage: {result.as_dict()}; receiver: {failed_pushes} answered 503, "
        f"all {HITS} accepted {delivered_after:.1f} s after it recovered"
    )
    assert result.published == HITS and result.delivered == HITS and result.holds, result.as_dict()
    assert result.dead_lettered == 0 and result.duplicates == 0
    assert all(received[e] == 1 for e in first), "an event reached the receiver twice"
    assert result.retries.get("http_503", 0) >= HITS and failed_pushes >= HITS, "the outage was not retried"
    # The backoff is applied: no event was attempted more than the window allows.
    attempts = Counter(entry["event_id"] for entry in lines if entry.get("message") == "delivery")
    assert max(attempts.values()) <= ATTEMPTS
    # ... and spaced by the configured backoff (5 s, then 10 s), not the emulator's ~1 s.
    times: dict[str, list[float]] = {}
    for line in lines:
        if line.get("message") == "delivery" and line.get("event_id") in first:
            times.setdefault(line["event_id"], []).append(float(line["time"]))
    gaps = [b - a for t in times.values() for a, b in zip(sorted(t), sorted(t)[1:], strict=False)]
    assert gaps and min(gaps) >= 4.5, sorted(gaps)[:5]
    assert not [
        entry for entry in lines if entry.get("message") == "delivery" and entry.get("outcome") == "dead_lettered"
    ]

    # 2. An outage longer than the window: every event is dead-lettered, visibly, from the
    # webhook's own subscription; `make replay VENDOR=webhook` then delivers each once.
    receiver.default = Reply(503, body={"error": "down for good"})
    second = _send(collect, "long", 10, spread=1)
    project = "tagging-local"
    dead = wait_until(
        lambda: (
            (found := replay(project, "webhook", dry_run=True, max_seconds=10, pull_timeout=2).would_move)
            and {d["event_id"] for d in found} >= set(second)
            and found
        ),
        timeout=150,
        interval=2,
    )
    assert dead and {d["event_id"] for d in dead} == set(second), dead
    result, lines = _accounts(make_run, [DeadLetter(d["event_id"], "webhook") for d in dead])
    print(f"longer outage: {result.as_dict()}")
    assert result.published == HITS + 10 and result.dead_lettered == 10 and result.delivered == HITS
    assert result.holds and not result.unaccounted
    # The inspector shows them: the runtime logged the last attempt as dead_lettered.
    last = {
        entry["event_id"]
        for entry in lines
        if entry.get("message") == "delivery" and entry.get("outcome") == "dead_lettered"
    }
    assert last == set(second)

    receiver.default = Reply(200)
    replayed = ManagedProcess(
        "make-replay",
        [
            sys.executable,
            "-m",
            "reliability",
            "replay",
            "--vendor",
            "webhook",
            "--emulator",
            f"127.0.0.1:{make_run['ports']['emulator']}",
            "--max-seconds",
            "30",
            "--verbose",
        ],
        make_run["log_dir"].parent / "replay.out",
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        cwd=REPO_ROOT,
    ).start()
    assert wait_until(lambda: replayed.poll() is not None, timeout=90, interval=0.5)
    assert replayed.poll() == 0, replayed.tail()
    assert "replay webhook: moved 10 dead-lettered message(s)" in replayed.log_path.read_text(), replayed.tail()
    assert wait_until(lambda: set(second) <= set(_received_2xx(receiver, status_of)), timeout=60, interval=0.5)
    result, _ = _accounts(make_run)
    received = _received_2xx(receiver, status_of)
    print(f"after replay: {result.as_dict()}")
    assert result.published == HITS + 10 and result.delivered == HITS + 10 and result.holds
    assert result.duplicates == 0 and all(received[e] == 1 for e in first + second)
