"""Delivery, push and batch side by side: vendor CPU per event, events/s per busy vCPU and
end-to-end latency, over the real parts (collect → emulator → vendor function → mock API).

Part of ``make bench`` (bench/run.py); alone, ``python -m bench.delivery_modes`` (``make
bench-delivery``) measures only collect's 1-event CPU (the reference of the goals) and the
delivery modes, about a minute, and writes ``bench/results/delivery.json``.

* push: one Pub/Sub push per event to the aio vendor function (webhook, and Meta with its
  hashing): at saturation (wrk posting push envelopes of collect's real page-view event to
  the function, 16 connections: the conditions of collect's CPU per hit, which the goals
  compare with), and while the emulator pushes a backlog (its push rate, a few hundred
  events/s here, leaves the function partly idle, so CPU per event is higher);
* batch: Meta in batch mode: the same backlog waits in ``meta-pull``, then ``POST /drain``
  sends it to the mock Graph API in requests of up to 1,000 events;
* latency: hits at a light fixed load; push as delivered, batch with the drain timer of
  ``make run`` (delivery.batch.local.interval_seconds).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.hits import PAYLOADS
from bench.loadgen import run_wrk
from bench.procstat import group_cpu_seconds, machine
from devstack.drainer import Drainer
from devstack.mock_vendor import MockVendor, Reply
from devstack.names import replay_subscription, vendor_pull_subscription, vendor_subscription

if TYPE_CHECKING:
    from bench.run import Bench, Durations

META_ENV = {"META_PIXEL_ID": "1234567890", "META_ACCESS_TOKEN": "bench-meta-token"}
E2E_RATE = 20.0  # hits/s: light, so latency is the path's, not a queue's
BACKLOG_RATE = 1000.0


def _push_envelope() -> bytes:
    """A Pub/Sub push envelope carrying collect's real page-view event (bench.hits)."""
    import base64

    from bench.run import sample_event
    from shared.event import encode_event, message_attributes

    event = sample_event()
    message = {
        "data": base64.b64encode(encode_event(event)).decode(),
        "attributes": message_attributes(event),
        "messageId": "bench-1",
    }
    return json.dumps({"message": message, "subscription": "projects/tagging-local/subscriptions/bench"}).encode()


def _events_in(request) -> int:
    body = request.json()
    if isinstance(body, dict) and isinstance(body.get("data"), list):
        return len(body["data"])
    return 1


def _meta_mock() -> MockVendor:
    mock = MockVendor()
    mock.responder = lambda r: Reply(200, body={"events_received": _events_in(r), "fbtrace_id": "bench"})
    return mock.__enter__()


def _received_events(mock: MockVendor) -> int:
    return sum(_events_in(r) for r in list(mock.received))


def _wait_events(mock: MockVendor, count: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = _received_events(mock)
        if got >= count:
            return got
        time.sleep(0.05)
    return _received_events(mock)


def _latencies(mock: MockVendor) -> list[float]:
    out = []
    for request in list(mock.received):
        body = request.json()
        events = body["data"] if isinstance(body, dict) and isinstance(body.get("data"), list) else [body]
        for event in events:
            micros = event.get("timestamp_micros") if isinstance(event, dict) else None
            seconds = event.get("event_time") if isinstance(event, dict) else None
            if micros:
                out.append(request.at - micros / 1e6)
            elif seconds:  # Meta's event_time is whole seconds: up to 1 s pessimistic
                out.append(request.at - seconds)
    return sorted(out)


def _pct(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    index = min(len(values) - 1, max(0, round(pct / 100 * len(values) + 0.5) - 1))
    return round(1000 * values[index], 1)


def delete_subscriptions(bench: Bench, names: list[str]) -> None:
    assert bench.topology is not None
    for name in names:
        with contextlib.suppress(Exception):  # noqa: BLE001 - already gone
            bench.topology.subscriber.delete_subscription(
                request={"subscription": bench.topology.subscription_path(name)}
            )


def collect_reference(bench: Bench, d: Durations) -> float:
    """collect's CPU ms per 1-event hit at saturation (the goals' yardstick), this run."""
    query, body, _ = PAYLOADS["1-event"]
    url = bench.url("collect", query)
    pgid = bench.processes["collect"].pid
    run_wrk(url, body, d.warmup, pgid)
    return run_wrk(url, body, d.saturation, pgid).cpu_ms_per_hit


def push(bench: Bench, d: Durations, vendor: str, env: dict[str, str], mock: MockVendor) -> dict[str, Any]:
    """One vendor in push mode: CPU per event over a drained backlog, and e2e latency."""
    assert bench.topology is not None
    name = f"push-{vendor}"
    config = bench.config.vendor(vendor)
    process = bench.start(
        name, config.source_dir / "main.py", "deliver", {**config.environment(), **env, "MAX_DELIVERY_ATTEMPTS": "100"}
    )
    bench.topology.create_push_subscription(vendor, f"http://127.0.0.1:{bench.ports[name]}/", bench.config.local_retry)
    query, body, _ = PAYLOADS["1-event"]
    url = bench.url("collect", query)
    collect_pgid = bench.processes["collect"].pid
    try:
        bench._check_answer(url, body)
        _wait_events(mock, 1, 30)
        mock.received.clear()
        sent = run_wrk(url, body, d.e2e, collect_pgid, rate=E2E_RATE)
        _wait_events(mock, sent.requests - sent.errors, 60)
        latencies = _latencies(mock)
        mock.received.clear()
        cpu0, emu0 = group_cpu_seconds(process.pid), group_cpu_seconds(bench.emulator.process.pid)
        backlog = run_wrk(url, body, d.backlog, collect_pgid, rate=BACKLOG_RATE)
        expected = backlog.requests - backlog.errors
        got = _wait_events(mock, expected, 150)
        cpu = group_cpu_seconds(process.pid) - cpu0
        emu = group_cpu_seconds(bench.emulator.process.pid) - emu0
        received = list(mock.received)
        span = received[-1].at - received[0].at if len(received) > 1 else float("nan")
        # Saturation: push envelopes straight at the function, as wrk drives collect.
        delete_subscriptions(bench, [vendor_subscription(vendor), replay_subscription(vendor)])
        envelope = _push_envelope()
        vendor_url = f"http://127.0.0.1:{bench.ports[name]}/"
        run_wrk(vendor_url, envelope, d.warmup, process.pid)
        mock.received.clear()
        saturation = run_wrk(vendor_url, envelope, d.saturation, process.pid)
        sat_delivered = _received_events(mock)
    finally:
        delete_subscriptions(bench, [vendor_subscription(vendor), replay_subscription(vendor)])
        process.stop()
    sat_ok = saturation.requests - saturation.errors
    return {
        "mode": "push",
        "vendor": vendor,
        "events": got,
        "vendor_requests": len(received),
        # The goals' figure: CPU per event at saturation (like collect's CPU per hit).
        "vendor_cpu_ms_per_event": round(1000 * saturation.cpu_seconds / sat_delivered, 3) if sat_delivered else None,
        "saturation": {
            "events_per_second": saturation.hits_per_second,
            "answered": sat_ok,
            "vendor_received": sat_delivered,
            "p99_ms": saturation.p99_ms,
        },
        "backlog_cpu_ms_per_event": round(1000 * cpu / got, 3) if got else None,
        "events_per_second_per_vcpu": round(sat_delivered / saturation.cpu_seconds) if saturation.cpu_seconds else None,
        "events_per_second": round(got / span, 1) if span and span > 0 else None,
        "emulator_cpu_ms_per_event": round(1000 * emu / got, 3) if got else None,
        "e2e": {
            "offered_hits_per_second": E2E_RATE,
            "events": len(latencies),
            "p50_ms": _pct(latencies, 50),
            "p95_ms": _pct(latencies, 95),
        },
    }


def batch(bench: Bench, d: Durations, vendor: str, env: dict[str, str], mock: MockVendor) -> dict[str, Any]:
    """One vendor in batch mode: CPU per event over a drained backlog, and e2e latency with
    the local drain timer."""
    assert bench.topology is not None
    name = f"batch-{vendor}"
    config = bench.config.vendor(vendor)
    interval = bench.config.batch.local_interval_seconds
    subscription = vendor_pull_subscription(vendor)
    drain_env = {
        "DRAIN_SUBSCRIPTION": bench.topology.subscription_path(subscription),
        "DRAIN_MAX_MESSAGES": str(bench.config.batch.max_messages),
        "DRAIN_SECONDS": "30",
        "DRAIN_PULL_TIMEOUT_SECONDS": "1",
        "MAX_DELIVERY_ATTEMPTS": "100",
    }
    process = bench.start(name, config.source_dir / "main.py", "deliver", {**config.environment(), **env, **drain_env})
    vendor_url = f"http://127.0.0.1:{bench.ports[name]}/"
    bench.topology.create_pull_subscription(vendor, vendor_url, bench.config.local_retry)
    query, body, _ = PAYLOADS["1-event"]
    url = bench.url("collect", query)
    collect_pgid = bench.processes["collect"].pid
    try:
        bench._check_answer(url, body)
        deadline = time.monotonic() + 30
        while _received_events(mock) < 1 and time.monotonic() < deadline:
            Drainer.drain_once(vendor_url)
        # Latency: hits at a light load while make run's timer drains every `interval` s.
        mock.received.clear()
        drainer = Drainer({vendor: vendor_url}, interval).start()
        try:
            sent = run_wrk(url, body, d.e2e, collect_pgid, rate=E2E_RATE)
            _wait_events(mock, sent.requests - sent.errors, interval + 60)
        finally:
            drainer.stop()
        latencies = _latencies(mock)
        # CPU: a backlog accumulates in the pull subscription, then drains in batches.
        mock.received.clear()
        backlog = run_wrk(url, body, d.backlog, collect_pgid, rate=BACKLOG_RATE)
        expected = backlog.requests - backlog.errors
        time.sleep(1.0)  # collect's last publishes land
        cpu0, emu0 = group_cpu_seconds(process.pid), group_cpu_seconds(bench.emulator.process.pid)
        started = time.monotonic()
        drains = []
        while _received_events(mock) < expected and time.monotonic() - started < 150:
            drains.append(Drainer.drain_once(vendor_url))
        elapsed = time.monotonic() - started
        cpu = group_cpu_seconds(process.pid) - cpu0
        emu = group_cpu_seconds(bench.emulator.process.pid) - emu0
        got = _received_events(mock)
        requests = len(mock.received)
    finally:
        delete_subscriptions(bench, [subscription, replay_subscription(vendor)])
        process.stop()
    return {
        "mode": "batch",
        "vendor": vendor,
        "events": got,
        "vendor_requests": requests,
        "events_per_request": round(got / requests, 1) if requests else None,
        "drains": len(drains),
        "vendor_cpu_ms_per_event": round(1000 * cpu / got, 3) if got else None,
        "events_per_second_per_vcpu": round(got / cpu) if cpu > 0 else None,
        "events_per_second": round(got / elapsed, 1) if elapsed > 0 else None,
        "emulator_cpu_ms_per_event": round(1000 * emu / got, 3) if got else None,
        "e2e": {
            "offered_hits_per_second": E2E_RATE,
            "events": len(latencies),
            "drain_interval_s": interval,
            "p50_ms": _pct(latencies, 50),
            "p95_ms": _pct(latencies, 95),
        },
    }


def measure(bench: Bench, d: Durations, collect_cpu_ms: float | None = None) -> dict[str, Any]:
    """Both modes in one run; ``collect_cpu_ms`` is measured here when not given."""
    reference = collect_cpu_ms if collect_cpu_ms is not None else collect_reference(bench, d)
    print(f"  delivery modes: collect {reference:.3f} ms CPU per 1-event hit (reference)", flush=True)
    out: dict[str, Any] = {"collect_cpu_ms_per_hit": reference, "runs": {}}
    with MockVendor(default=Reply(200)) as webhook:
        out["runs"]["push-webhook"] = push(bench, d, "webhook", {"WEBHOOK_URL": webhook.url + "/events"}, webhook)
    for mode, run in (("push", push), ("batch", batch)):
        mock = _meta_mock()
        try:
            out["runs"][f"{mode}-meta"] = run(bench, d, "meta", {**META_ENV, "VENDOR_API_BASE": mock.url}, mock)
        finally:
            mock.close()
    for key, row in out["runs"].items():
        print(
            f"  delivery {key:13} {row['vendor_cpu_ms_per_event']} ms CPU/event "
            f"({row['events_per_second_per_vcpu']} events/s per vCPU, {row['vendor_requests']} requests "
            f"for {row['events']} events), e2e p95 {row['e2e']['p95_ms']} ms",
            flush=True,
        )
    return out


def goals(modes: dict[str, Any]) -> dict[str, Any]:
    """Issue 16's delivery goals, ratios to collect's CPU per 1-event hit of the same run."""
    from bench.report import _goal

    collect = modes["collect_cpu_ms_per_hit"]
    runs = modes["runs"]
    out = {}
    for key in ("push-webhook", "push-meta"):
        if runs.get(key, {}).get("vendor_cpu_ms_per_event"):
            out[f"{key}_cpu_per_event_vs_collect_hit"] = _goal(
                runs[key]["vendor_cpu_ms_per_event"] / collect, "<=", 1.0
            )
    batch_run = runs.get("batch-meta", {})
    if batch_run.get("vendor_cpu_ms_per_event"):
        out["batch-meta_cpu_per_event_vs_collect_hit"] = _goal(
            batch_run["vendor_cpu_ms_per_event"] / collect, "<=", 0.25
        )
    p95 = batch_run.get("e2e", {}).get("p95_ms")
    if p95 is not None:
        out["batch_e2e_p95_ms"] = _goal(p95, "<=", 1000 * (batch_run["e2e"]["drain_interval_s"] + 10))
    return out


def main() -> None:
    from bench import cost_model
    from bench.run import RESULTS, Bench, Durations, message_bytes

    parser = argparse.ArgumentParser(description="delivery only: push and batch side by side")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS.with_name("delivery.json"))
    args = parser.parse_args()
    d = Durations(args.quick)
    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {**machine(), "python": platform.python_version()},
    }
    with Bench(Path(tempfile.mkdtemp(prefix="bench-delivery-")), only_collect=True) as bench:
        results["delivery_modes"] = measure(bench, d)
    results["machine"]["loadavg_after"] = list(os.getloadavg())
    results["delivery_modes"]["message_bytes"] = message_bytes()
    results["cost"] = cost_model.modes_model(results["delivery_modes"])
    results["goals"] = {**goals(results["delivery_modes"]), **cost_model.modes_goals(results["cost"])}
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    from bench.report import modes_terminal

    print(modes_terminal(results))
    print(f"\nresults: {args.out}")


if __name__ == "__main__":
    main()
