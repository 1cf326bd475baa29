"""Drive an HTTP endpoint with wrk and measure the server's CPU over the same window."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.procstat import group_cpu_seconds

SCRIPT = Path(__file__).with_name("wrk_paced.lua")
CONNECTIONS = 16


@dataclass
class LoadResult:
    """One wrk run against one server: throughput, latency and the server's CPU."""

    offered_rps: float | None  # None: saturation (closed loop, as fast as answers come)
    seconds: float
    requests: int
    errors: int
    hits_per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    cpu_seconds: float
    cpu_ms_per_hit: float
    emulator_cpu_ms_per_hit: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise RuntimeError("wrk is missing: `make bench` installs it with apt-get (package wrk)")
    return path


def run_wrk(
    url: str,
    body: bytes,
    seconds: float,
    server_pgid: int,
    rate: float | None = None,
    emulator_pgid: int | None = None,
    connections: int = CONNECTIONS,
) -> LoadResult:
    """POST ``body`` to ``url`` for ``seconds`` (paced to ``rate`` req/s, or saturating)."""
    with tempfile.NamedTemporaryFile(prefix="bench-body-", delete=False) as handle:
        handle.write(body)
        body_file = handle.name
    env = {**os.environ, "BENCH_BODY_FILE": body_file, "BENCH_RATE": str(rate or 0)}
    argv = [
        wrk_path(),
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(SCRIPT),
        url,
    ]
    try:
        cpu_before = group_cpu_seconds(server_pgid)
        emu_before = group_cpu_seconds(emulator_pgid) if emulator_pgid else 0.0
        started = time.monotonic()
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + 60)
        elapsed = time.monotonic() - started
        cpu = group_cpu_seconds(server_pgid) - cpu_before
        emu = group_cpu_seconds(emulator_pgid) - emu_before if emulator_pgid else None
    finally:
        os.unlink(body_file)
    summary = _summary(done.stdout, done.stderr)
    requests = summary["requests"]
    errors = sum(
        summary[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeout_errors")
    )
    duration = summary["duration_us"] / 1e6 or elapsed
    return LoadResult(
        offered_rps=rate,
        seconds=round(duration, 2),
        requests=requests,
        errors=errors,
        hits_per_second=round(requests / duration, 1),
        p50_ms=summary["p50_us"] / 1000,
        p95_ms=summary["p95_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        cpu_seconds=round(cpu, 2),
        cpu_ms_per_hit=round(1000 * cpu / requests, 3) if requests else float("nan"),
        emulator_cpu_ms_per_hit=round(1000 * emu / requests, 3) if (emu is not None and requests) else None,
    )


def _summary(stdout: str, stderr: str) -> dict:
    for line in stdout.splitlines():
        if line.startswith("BENCHJSON "):
            return json.loads(line[len("BENCHJSON ") :])
    raise RuntimeError(f"wrk printed no summary:\n{stdout}\n{stderr}")
