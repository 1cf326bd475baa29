"""``make soak``: a bounded load at a fixed rate for 5 minutes, sampling each process's memory.

The local stack (emulator, collect, the webhook vendor pointed at a mock vendor in this
process) takes ``rate`` hits per second for ``seconds``, then stops by itself. Every
``interval`` seconds it samples the resident memory of each stack process group (from
/proc). It passes when each process's RSS at the end is less than 10% above its RSS at the
end of the warm-up, and every accepted event was delivered.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devstack import config as stack_config
from devstack.mock_vendor import MockVendor
from devstack.stack import LocalStack
from reliability.accounting import account, read_json_lines
from reliability.load import LoadDriver

MAX_GROWTH = 0.10
HARNESS = "harness (driver+mock)"
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def group_rss_bytes(pgid: int) -> int:
    """Resident memory of every process in process group ``pgid`` (Linux /proc)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
            # The command name may contain spaces: fields after the closing parenthesis.
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) != pgid:
                continue
            with open(f"/proc/{entry}/statm") as handle:
                total += int(handle.read().split()[1]) * PAGE_SIZE
        except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
            continue
    return total


@dataclass
class SoakResult:
    seconds: float
    rate: float
    warmup: float
    samples: list[dict[str, Any]] = field(default_factory=list)
    growth: dict[str, dict[str, float]] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    accounting: dict[str, Any] = field(default_factory=dict)
    machine: str = ""
    date: str = ""

    @property
    def passed(self) -> bool:
        # The harness (load driver + mock vendor) keeps every result and request it saw, so
        # it grows by design: reported, not judged.
        judged = {name: g for name, g in self.growth.items() if name != HARNESS}
        return (
            bool(judged)
            and all(g["growth"] < MAX_GROWTH for g in judged.values())
            and bool(self.accounting.get("invariant_holds"))
        )

    def summary(self) -> str:
        lines = [
            f"soak {self.date} on {self.machine}: {self.rate:g} hits/s for {self.seconds:g} s "
            f"(warm-up {self.warmup:g} s); collect answers {self.statuses}",
            f"{'process':<22} {'RSS warm-up MiB':>16} {'RSS end MiB':>12} {'growth':>8}",
        ]
        for name, g in self.growth.items():
            note = "  (not judged: keeps every result)" if name == HARNESS else ""
            lines.append(f"{name:<22} {g['warmup_mib']:>16.1f} {g['end_mib']:>12.1f} {g['growth'] * 100:>7.1f}%{note}")
        lines.append(f"accounting: {self.accounting}")
        lines.append("PASS" if self.passed else "FAIL")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "date": self.date,
            "machine": self.machine,
            "seconds": self.seconds,
            "rate": self.rate,
            "warmup": self.warmup,
            "statuses": self.statuses,
            "growth": self.growth,
            "accounting": self.accounting,
            "samples": self.samples,
            "passed": self.passed,
        }


def machine_description() -> str:
    cpus = os.cpu_count()
    try:
        with open("/proc/meminfo") as meminfo:
            mem_kb = int(next(row for row in meminfo if row.startswith("MemTotal")).split()[1])
        memory = f"{mem_kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        memory = "?"
    return f"{platform.system()} {platform.machine()}, {cpus} CPUs, {memory} RAM, Python {platform.python_version()}"


def growth_of(samples: list[dict[str, Any]], name: str, warmup: float) -> dict[str, float]:
    """RSS at the end of warm-up (median of the samples within 10 s of it) versus at the end
    (median of the last three samples)."""
    around = [s["rss"][name] for s in samples if abs(s["t"] - warmup) <= 10 and name in s["rss"]]
    tail = [s["rss"][name] for s in samples[-3:] if name in s["rss"]]
    start = statistics.median(around)
    end = statistics.median(tail)
    return {
        "warmup_mib": start / 2**20,
        "end_mib": end / 2**20,
        "growth": (end - start) / start if start else 0.0,
    }


def run(
    seconds: float = 300.0,
    rate: float = 20.0,
    warmup: float = 60.0,
    interval: float = 5.0,
    out: Path | None = None,
) -> SoakResult:
    """Run the soak; write ``soak.json`` (all samples) into ``out``."""
    out = Path(out or tempfile.mkdtemp(prefix="soak-"))
    out.mkdir(parents=True, exist_ok=True)
    result = SoakResult(
        seconds=seconds,
        rate=rate,
        warmup=warmup,
        machine=machine_description(),
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    with MockVendor() as vendor:
        stack = LocalStack(
            stack_config.load(),
            vendors=("webhook",),
            vendor_env={"webhook": {"WEBHOOK_URL": vendor.url + "/events"}},
            log_dir=out / "logs",
        )
        with stack:
            driver = LoadDriver(stack.collect_url, rate, int(rate * seconds), seconds + 10, concurrency=8).start()
            started = time.monotonic()
            while time.monotonic() - started < seconds:
                elapsed = time.monotonic() - started
                rss = {name: group_rss_bytes(pgid) for name, pgid in stack.process_groups().items()}
                rss[HARNESS] = _self_rss()
                result.samples.append({"t": round(elapsed, 1), "rss": rss, "sent": driver.sent})
                time.sleep(max(0.0, interval - (time.monotonic() - started - elapsed)))
            driver.stop()
            report = driver.wait()
            result.statuses = report.statuses()
            # Every accepted event must have reached the vendor (no fault here: all delivered).
            published = report.published()
            deadline = time.monotonic() + 120
            while True:
                lines = read_json_lines([stack.log_path("vendor-webhook")])
                accounts = account(published, lines, [], ["webhook"])["webhook"]
                if accounts.holds or time.monotonic() > deadline:
                    break
                time.sleep(1)
            result.accounting = accounts.as_dict()
    for name in result.samples[0]["rss"]:
        result.growth[name] = growth_of(result.samples, name, warmup)
    (out / "soak.json").write_text(json.dumps(result.as_dict(), indent=2))
    return result


def _self_rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE_SIZE
