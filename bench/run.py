"""``make bench``: ingest, delivery and cold start on this machine, with the cost model.

Starts the real parts (Pub/Sub emulator, functions-framework processes, a mock vendor),
drives them with wrk, measures each server's CPU from /proc, prints a table, writes
``bench/results/latest.json`` and rewrites the results block of the README's Benchmarks
section. Run as ``python -m bench.run`` (``--quick`` for a short harness check).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import http.client
import io
import json
import os
import platform
import statistics
import tempfile
import time
from importlib import metadata
from pathlib import Path

from bench import cost_model, delivery_modes, report
from bench.hits import COLLECT_PATH, PAYLOADS
from bench.loadgen import run_wrk
from bench.procstat import group_cpu_seconds, machine
from devstack import config as stack_config
from devstack.config import REPO_ROOT
from devstack.emulator import PubSubEmulator
from devstack.mock_vendor import MockVendor
from devstack.processes import ManagedProcess, free_port, wait_for_port
from devstack.stack import LOCAL_PROJECT, function_process
from devstack.topology import Topology

RESULTS = REPO_ROOT / "bench" / "results" / "latest.json"
BARE = REPO_ROOT / "bench" / "functions"
LOW_RATE = 100.0  # a fixed light load, hits/s


class Durations:
    def __init__(self, quick: bool) -> None:
        self.warmup = 1 if quick else 2
        self.saturation = 3 if quick else 8
        self.fixed = 3 if quick else 6
        self.e2e = 3 if quick else 8
        self.backlog = 1 if quick else 2
        self.cold_reps = 1 if quick else 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs, to check the harness")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--no-readme", action="store_true", help="do not rewrite the README results block")
    parser.add_argument("--label", default="", help="a note stored with the results (e.g. 'before')")
    args = parser.parse_args()
    durations = Durations(args.quick)
    started = time.monotonic()
    results: dict = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "label": args.label,
        "quick": args.quick,
        "machine": {**machine(), "python": platform.python_version()},
        "versions": {
            p: metadata.version(p)
            for p in ("functions-framework", "google-cloud-pubsub", "grpcio", "uvicorn", "gunicorn")
        },
        "load_generator": "wrk 1 thread, 16 connections, keep-alive; fixed loads paced by bench/wrk_paced.lua",
    }
    log_dir = Path(tempfile.mkdtemp(prefix="bench-"))
    with Bench(log_dir) as bench:
        results["ingest"] = bench.ingest(durations)
        results["delivery"] = bench.delivery(durations)
        results["delivery_modes"] = delivery_modes.measure(
            bench,
            durations,
            collect_cpu_ms=results["ingest"]["1-event"]["runs"]["collect"]["saturation"]["cpu_ms_per_hit"],
        )
        results["cold_start"] = bench.cold_start(durations)
    results["machine"]["loadavg_after"] = list(os.getloadavg())
    results["goals"] = report.goals(results)
    results["message_bytes"] = message_bytes()
    results["cost"] = cost_model.model(results)
    results["delivery_modes"]["message_bytes"] = results["message_bytes"]
    results["cost_modes"] = cost_model.modes_model(results["delivery_modes"])
    results["goals"].update(delivery_modes.goals(results["delivery_modes"]))
    results["goals"].update(cost_model.modes_goals(results["cost_modes"]))
    results["wall_seconds"] = round(time.monotonic() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(report.terminal(results))
    print(f"\nresults: {args.out}   logs: {log_dir}")
    if not args.no_readme and not args.quick:
        report.update_readme(results, REPO_ROOT / "README.md")
        print("README.md: Benchmarks results block updated")


class Bench:
    """The processes under test; every one is stopped by its process group on exit."""

    def __init__(self, log_dir: Path, only_collect: bool = False) -> None:
        self.log_dir = log_dir
        self.only_collect = only_collect  # the delivery-only run (bench/delivery_modes.py)
        self.config = stack_config.load()
        self.emulator = PubSubEmulator(free_port(), LOCAL_PROJECT, log_dir)
        self.env = self.emulator.env()
        self.processes: dict[str, ManagedProcess] = {}
        self.ports: dict[str, int] = {}
        self.topology: Topology | None = None
        self.mock: MockVendor | None = None

    def __enter__(self) -> Bench:
        try:
            self.emulator.start()
            os.environ.update(self.env)  # for the Topology admin clients in this process
            self.topology = Topology(LOCAL_PROJECT)
            self.topology.create_bus()
            self.start("collect", REPO_ROOT / "functions" / "collect" / "main.py", "collect")
            if self.only_collect:
                return self
            self.start("collect-threaded", BARE / "collect_threaded" / "main.py", "collect")
            self.start("bare-async", BARE / "bare_async" / "main.py", "bare")
            self.start("bare-wsgi", BARE / "bare_wsgi" / "main.py", "bare")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()
        if self.mock is not None:
            self.mock.close()
        if self.topology is not None:
            self.topology.close()
        self.emulator.stop()

    def start(self, name: str, source: Path, target: str, env: dict[str, str] | None = None) -> ManagedProcess:
        port = free_port()
        process = function_process(name, source, target, port, {**self.env, **(env or {})}, self.log_dir).start()
        self.processes[name] = process
        self.ports[name] = port
        wait_for_port(port, 60, process)
        return process

    def url(self, name: str, query: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}{COLLECT_PATH}?{query}"

    # -- 1. ingest ----------------------------------------------------------------------

    def ingest(self, d: Durations) -> dict:
        emulator_pgid = self.emulator.process.pid
        out: dict = {}
        for payload, (query, body, events) in PAYLOADS.items():
            self._check_answer(self.url("collect", query), body)
            runs: dict = {}
            half = None
            for name in ("collect", "collect-threaded", "bare-async", "bare-wsgi"):
                pgid = self.processes[name].pid
                url = self.url(name, query)
                emu = emulator_pgid if name.startswith("collect") else None
                run_wrk(url, body, d.warmup, pgid)
                saturation = run_wrk(url, body, d.saturation, pgid, emulator_pgid=emu)
                if half is None:
                    half = round(saturation.hits_per_second / 2)
                fixed = [run_wrk(url, body, d.fixed, pgid, rate=rate, emulator_pgid=emu) for rate in (LOW_RATE, half)]
                runs[name] = {"saturation": saturation.as_dict(), "fixed": [f.as_dict() for f in fixed]}
                print(
                    f"  ingest {payload:8} {name:10} {saturation.hits_per_second:8.0f} hits/s "
                    f"{saturation.cpu_ms_per_hit:.3f} ms CPU/hit  p99 {saturation.p99_ms:.1f} ms",
                    flush=True,
                )
            out[payload] = {"events_per_hit": events, "half_load_rps": half, "runs": runs}
        return out

    def _check_answer(self, url: str, body: bytes) -> None:
        # A benchmark of error answers would be worthless: collect must accept the hit.
        status, text = _post(url, body, timeout=10)
        if status != 204:
            raise RuntimeError(f"collect answered {status} to the benchmark hit: {text[:300]}")

    # -- 2. delivery --------------------------------------------------------------------

    def delivery(self, d: Durations) -> dict:
        self.mock = MockVendor().__enter__()
        vendor = self.config.vendor("webhook")
        vendor_env = {
            **vendor.environment(),
            "WEBHOOK_URL": self.mock.url + "/events",
            "MAX_DELIVERY_ATTEMPTS": str(self.config.local_retry.max_delivery_attempts),
        }
        process = self.start("vendor-webhook", vendor.source_dir / "main.py", "deliver", vendor_env)
        assert self.topology is not None
        self.topology.create_push_subscription(
            "webhook", f"http://127.0.0.1:{self.ports['vendor-webhook']}/", self.config.local_retry
        )
        query, body, _ = PAYLOADS["1-event"]
        url = self.url("collect", query)
        # Warm the push path so the emulator's first-push set-up is not in the figures.
        self._check_answer(url, body)
        self.mock.wait_for(1, 30)

        # End-to-end latency at a light fixed load.
        e2e_rate = 20.0  # well below the emulator's push rate, so no queue builds up
        self.mock.received.clear()
        sent = run_wrk(url, body, d.e2e, self.processes["collect"].pid, rate=e2e_rate)
        expected = sent.requests - sent.errors
        received = self.mock.wait_for(expected, 60)
        latencies = sorted(
            r.at - r.json()["timestamp_micros"] / 1e6 for r in received if r.json() and "timestamp_micros" in r.json()
        )

        # Throughput and CPU per event: a backlog of events drained through the vendor.
        self.mock.received.clear()
        emulator_pgid = self.emulator.process.pid
        cpu0, emu0 = group_cpu_seconds(process.pid), group_cpu_seconds(emulator_pgid)
        # Offered well above what push delivers here, so the drain rate is the delivery ceiling.
        backlog = run_wrk(url, body, d.backlog, self.processes["collect"].pid, rate=1000.0)
        expected_backlog = backlog.requests - backlog.errors
        drained = self.mock.wait_for(expected_backlog, 150)
        cpu = group_cpu_seconds(process.pid) - cpu0
        emu = group_cpu_seconds(emulator_pgid) - emu0
        # The delivery modes (bench/delivery_modes.py) come next, with their own subscriptions.
        delivery_modes.delete_subscriptions(self, ["webhook-push", "webhook-replay-push"])
        span = (drained[-1].at - drained[0].at) if len(drained) > 1 else float("nan")
        result = {
            "vendor": "webhook (functions-framework aio, push) → mock vendor",
            "e2e": {
                "offered_hits_per_second": e2e_rate,
                "hits": sent.requests,
                "delivered": len(received),
                "p50_ms": round(1000 * _percentile(latencies, 50), 1) if latencies else None,
                "p95_ms": round(1000 * _percentile(latencies, 95), 1) if latencies else None,
                "max_ms": round(1000 * latencies[-1], 1) if latencies else None,
            },
            "throughput": {
                "events_answered_to_wrk": expected_backlog,  # collect may publish a few more (in flight at the end)
                "events_delivered": len(drained),
                "events_per_second": round(len(drained) / span, 1) if span and span > 0 else None,
                "vendor_cpu_ms_per_event": round(1000 * cpu / len(drained), 3) if drained else None,
                "emulator_cpu_ms_per_event": round(1000 * emu / len(drained), 3) if drained else None,
                # What one busy vCPU of vendor function could deliver, were the push rate unbounded.
                "vendor_events_per_second_per_vcpu": round(len(drained) / cpu) if cpu > 0 else None,
            },
        }
        print(
            f"  delivery: {result['throughput']['events_per_second']} events/s, "
            f"{result['throughput']['vendor_cpu_ms_per_event']} ms CPU/event, "
            f"e2e p50 {result['e2e']['p50_ms']} ms p95 {result['e2e']['p95_ms']} ms",
            flush=True,
        )
        return result

    # -- 3. cold start ------------------------------------------------------------------

    def cold_start(self, d: Durations) -> dict:
        query, body, _ = PAYLOADS["1-event"]
        envelope = json.dumps(
            {
                "message": {
                    "data": base64.b64encode(
                        json.dumps(
                            {
                                "event_name": "page_view",
                                "event_id": "cold-1",
                                "client_id": "1.2",
                                "consent": {},
                                "timestamp_micros": 1,
                            }
                        ).encode()
                    ).decode(),
                    "attributes": {"event_name": "page_view"},
                    "messageId": "1",
                },
                "subscription": "projects/tagging-local/subscriptions/cold-start",
            }
        ).encode()
        vendor = self.config.vendor("webhook")
        assert self.mock is not None
        targets = {
            "collect": (
                REPO_ROOT / "functions" / "collect" / "main.py",
                "collect",
                {},
                f"{COLLECT_PATH}?{query}",
                body,
            ),
            "vendor-webhook": (
                vendor.source_dir / "main.py",
                "deliver",
                {**vendor.environment(), "WEBHOOK_URL": self.mock.url + "/events"},
                "/",
                envelope,
            ),
        }
        out = {}
        for name, (source, target, env, path, payload) in targets.items():
            times, statuses = [], []
            for rep in range(d.cold_reps):
                port = free_port()
                process = function_process(
                    f"cold-{name}-{rep}", source, target, port, {**self.env, **env}, self.log_dir
                )
                t0 = time.monotonic()
                process.start()
                try:
                    status = _first_answer(port, path, payload, process)
                    times.append(time.monotonic() - t0)
                    statuses.append(status)
                finally:
                    process.stop()
            out[name] = {
                "median_ms": round(1000 * statistics.median(times)),
                "runs_ms": [round(1000 * t) for t in times],
                "status": statuses,
            }
            print(f"  cold start {name}: {out[name]['median_ms']} ms (runs {out[name]['runs_ms']})", flush=True)
        return out


def message_bytes() -> int:
    """Billable size of one published event (data + attributes) for the 1-event hit."""
    from shared.event import encode_event, message_attributes

    event = sample_event()
    return len(encode_event(event)) + sum(len(k) + len(v) for k, v in message_attributes(event).items())


def sample_event() -> dict:
    """The normalized event collect publishes for the benchmark's 1-event hit."""
    import asyncio

    from bench.hits import ONE_EVENT_QUERY
    from shared.collect_app import CollectConfig, Collector, HttpRequest

    captured: list[dict] = []

    async def publish(events):
        captured.extend(events)
        return ["1"] * len(events)

    request = HttpRequest(
        "POST", COLLECT_PATH, ONE_EVENT_QUERY, {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) bench"}
    )
    with contextlib.redirect_stdout(io.StringIO()):  # collect's per-hit log line
        asyncio.run(Collector(publish, CollectConfig()).handle(request))
    return captured[0]


def _post(url: str, body: bytes, timeout: float) -> tuple[int, str]:
    rest = url.split("://", 1)[1]
    hostport, _, path = rest.partition("/")
    conn = http.client.HTTPConnection(hostport, timeout=timeout)
    try:
        conn.request("POST", "/" + path, body=body, headers={"Content-Type": "text/plain;charset=UTF-8"})
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


def _first_answer(port: int, path: str, body: bytes, process: ManagedProcess, timeout: float = 60) -> int:
    """Poll until the function answers one request; return its status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.name} exited; see {process.log_path}")
        try:
            status, _ = _post(f"http://127.0.0.1:{port}{path}", body, timeout=10)
            return status
        except OSError:
            time.sleep(0.01)
    raise TimeoutError(f"{process.name} answered nothing in {timeout}s")


def _percentile(sorted_values: list[float], pct: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


if __name__ == "__main__":
    main()
