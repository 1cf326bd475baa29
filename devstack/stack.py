"""The local stack: emulator, topology, collect and every enabled vendor function.

Used by ``make run`` (fixed ports, foreground) and by the integration tests (free ports,
per-test vendor settings), so both exercise the same wiring.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devstack.config import REPO_ROOT, RetryPolicy, StackConfig, VendorConfig
from devstack.drainer import Drainer
from devstack.emulator import PubSubEmulator
from devstack.names import vendor_pull_subscription
from devstack.processes import ManagedProcess, free_port, wait_for_port
from devstack.relay import ACK_DEADLINE_SECONDS
from devstack.topology import Topology, drop_retry_policy

LOCAL_PROJECT = "tagging-local"


def function_process(
    name: str,
    source: Path,
    target: str,
    port: int,
    env: Mapping[str, str],
    log_dir: Path,
) -> ManagedProcess:
    """A function served exactly as in the cloud: ``functions-framework --target --source``."""
    argv = [
        sys.executable,
        "-m",
        "functions_framework",
        f"--target={target}",
        f"--source={source}",
        "--host=127.0.0.1",
        f"--port={port}",
    ]
    full_env = {
        **os.environ,
        # The deployed archive has shared/ beside main.py; locally the repo root gives the same import.
        "PYTHONPATH": str(REPO_ROOT),
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    return ManagedProcess(name, argv, log_dir / f"{name}.log", env=full_env, cwd=REPO_ROOT)


@dataclass
class LocalStack:
    """Starts and stops the whole local stack. Use as a context manager."""

    config: StackConfig
    emulator_port: int = 0
    collect_port: int = 0
    vendor_ports: dict[str, int] = field(default_factory=dict)
    vendor_env: dict[str, dict[str, str]] = field(default_factory=dict)
    collect_env: dict[str, str] = field(default_factory=dict)
    vendors: tuple[str, ...] | None = None
    log_dir: Path | None = None
    project: str = LOCAL_PROJECT
    # The push subscriptions' retry and dead-letter policy; None = config's delivery.local.
    retry: RetryPolicy | None = None
    # True (make run): the retry policy's backoff and dead-lettering as in the cloud, with the
    # pushes made by devstack.relay from pull subscriptions, because the emulator's own retry
    # policy loses redeliveries (docs/reliability.md). False: the emulator pushes, without a
    # retry policy (redelivery ~1 s apart; chaos and the replay tests).
    emulator_backoff: bool = True
    # Batch mode: seconds between the drains of batch-mode vendors; None = the config's
    # delivery.batch.local.interval_seconds, 0 = no timer (tests call drain() themselves).
    drain_interval: float | None = None
    # Per-vendor delivery mode overriding config/vendors.yaml ("push" or "batch").
    delivery: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.retry = self.retry or self.config.local_retry
        self.emulator_port = self.emulator_port or free_port()
        self.collect_port = self.collect_port or free_port()
        self.log_dir = Path(self.log_dir or tempfile.mkdtemp(prefix="tagging-stack-"))
        names = self.vendors if self.vendors is not None else tuple(v.name for v in self.config.enabled_vendors())
        self.vendor_configs: list[VendorConfig] = [self.config.vendor(n) for n in names]
        for vendor in self.vendor_configs:
            self.vendor_ports.setdefault(vendor.name, free_port())
        self.emulator = PubSubEmulator(self.emulator_port, self.project, self.log_dir)
        self.processes: dict[str, ManagedProcess] = {}
        self.topology: Topology | None = None
        self.drainer: Drainer | None = None
        self._saved_env: dict[str, str | None] = {}

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self.emulator.start()
        for key, value in self.emulator.env().items():
            self._saved_env[key] = os.environ.get(key)
            os.environ[key] = value
        self.topology = Topology(self.project)
        self.topology.create_bus()
        for vendor in self.vendor_configs:
            self.start_vendor(vendor.name)
        self._create_subscriptions()
        self.start_collect()
        batch = self.batch_vendors()
        interval = self.config.batch.local_interval_seconds if self.drain_interval is None else self.drain_interval
        if batch and interval > 0:
            self.drainer = Drainer({name: self.vendor_url(name) for name in batch}, interval).start()

    def delivery_mode(self, name: str) -> str:
        """``push`` or ``batch``: this stack's override, else config/vendors.yaml's."""
        return self.delivery.get(name) or self.config.vendor(name).delivery

    def batch_vendors(self) -> list[str]:
        return [v.name for v in self.vendor_configs if self.delivery_mode(v.name) == "batch"]

    def drain(self, name: str, timeout: float = 120.0) -> dict:
        """Run one drain of a batch-mode vendor now; its JSON summary (tests, chaos)."""
        return Drainer.drain_once(self.vendor_url(name), timeout)

    def stop(self) -> None:
        if self.drainer is not None:
            self.drainer.stop()
        # The relay first: it would otherwise count pushes to stopped functions as failures.
        if "relay" in self.processes:
            self.processes["relay"].stop()
        for process in reversed(list(self.processes.values())):
            process.stop()
        if self.topology is not None:
            self.topology.close()
        self.emulator.stop()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def _create_subscriptions(self) -> None:
        """Each vendor's subscriptions, and the relay that pushes from them (``emulator_backoff``)."""
        routes = []
        for vendor in self.vendor_configs:
            if self.delivery_mode(vendor.name) == "batch":
                # Batch mode: the function drains <vendor>-pull itself (docs/batch.md).
                self.topology.create_pull_subscription(vendor.name, self.vendor_url(vendor.name), self.retry)
                if not self.emulator_backoff:
                    drop_retry_policy(self.topology, vendor.name, batch=True)
            elif self.emulator_backoff:
                for subscription in self.topology.create_relayed_subscription(
                    vendor.name, self.retry, ACK_DEADLINE_SECONDS
                ):
                    routes.append(f"{subscription}={self.vendor_url(vendor.name)}")
            else:
                self.topology.create_push_subscription(vendor.name, self.vendor_url(vendor.name), self.retry)
                drop_retry_policy(self.topology, vendor.name)
        if routes:
            self.start_relay(routes)

    # -- processes -------------------------------------------------------------------------

    def start_relay(self, routes: list[str]) -> ManagedProcess:
        """devstack.relay: Pub/Sub push with the retry policy's backoff, from pull subscriptions."""
        old = self.processes.pop("relay", None)
        if old is not None:
            old.stop()
        argv = [
            sys.executable,
            "-m",
            "devstack.relay",
            f"--project={self.project}",
            f"--max-delivery-attempts={self.retry.max_delivery_attempts}",
            f"--minimum-backoff={self.retry.minimum_backoff_seconds}",
            f"--maximum-backoff={self.retry.maximum_backoff_seconds}",
            *(f"--route={route}" for route in routes),
        ]
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1", **self.emulator.env()}
        process = ManagedProcess("relay", argv, self.log_dir / "relay.log", env=env, cwd=REPO_ROOT)
        self.processes["relay"] = process.start()
        return process

    def start_collect(self) -> ManagedProcess:
        process = function_process(
            "collect",
            REPO_ROOT / "functions" / "collect" / "main.py",
            "collect",
            self.collect_port,
            {**self.emulator.env(), **self.config.collect_environment(), **self.collect_env},
            self.log_dir,
        )
        self.processes["collect"] = process.start()
        wait_for_port(self.collect_port, 60, process)
        return process

    def start_vendor(self, name: str) -> ManagedProcess:
        vendor = self.config.vendor(name)
        env = {
            **self.emulator.env(),
            **vendor.environment(),
            "MAX_DELIVERY_ATTEMPTS": str(self.retry.max_delivery_attempts),
            # Only the emulator's pushes, not a web page's requests (shared/local_guard.py).
            "REQUIRE_LOOPBACK": "1",
            **self._batch_env(name),
            **self.vendor_env.get(name, {}),
        }
        process = function_process(
            f"vendor-{name}", vendor.source_dir / "main.py", "deliver", self.vendor_ports[name], env, self.log_dir
        )
        self.processes[f"vendor-{name}"] = process.start()
        wait_for_port(self.vendor_ports[name], 60, process)
        return process

    def _batch_env(self, name: str) -> dict[str, str]:
        if self.delivery_mode(name) != "batch":
            return {}
        return {
            "DRAIN_SUBSCRIPTION": f"projects/{self.project}/subscriptions/{vendor_pull_subscription(name)}",
            "DRAIN_MAX_MESSAGES": str(self.config.batch.max_messages),
            # A local drain is short: the timer calls again within seconds.
            "DRAIN_SECONDS": "20",
            "DRAIN_PULL_TIMEOUT_SECONDS": "1",
        }

    # -- addresses -------------------------------------------------------------------------

    @property
    def collect_url(self) -> str:
        return f"http://127.0.0.1:{self.collect_port}"

    def vendor_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.vendor_ports[name]}/"

    def log_path(self, process_name: str) -> Path:
        return self.processes[process_name].log_path

    # -- fault injection (reliability/chaos.py) ----------------------------------------------

    def kill(self, process_name: str) -> None:
        """SIGKILL a stack process's whole group: a crash, not a shutdown."""
        self.processes[process_name].kill()

    def restart_collect(self) -> ManagedProcess:
        """Start collect again on the same port (after :meth:`kill`)."""
        self.processes["collect"].stop()
        return self.start_collect()

    def restart_vendor(self, name: str) -> ManagedProcess:
        """Start a vendor function again on the same port, so its push subscription finds it."""
        self.processes[f"vendor-{name}"].stop()
        return self.start_vendor(name)

    def stop_emulator(self) -> None:
        """Stop the Pub/Sub emulator. It keeps everything in memory: topics, subscriptions and
        undelivered messages are gone until :meth:`restart_emulator`."""
        self.emulator.stop()

    def restart_emulator(self) -> None:
        """A fresh emulator on the same port, with the topics and subscriptions recreated."""
        self.emulator.stop()
        self.emulator = PubSubEmulator(self.emulator_port, self.project, self.log_dir)
        self.emulator.start()
        if self.topology is not None:
            self.topology.close()
        self.topology = Topology(self.project)
        self.topology.create_bus()
        self._create_subscriptions()

    def pause_emulator(self) -> None:
        """SIGSTOP the emulator's process group: the broker hangs but keeps its messages."""
        self.emulator.process.signal_group(signal.SIGSTOP)

    def resume_emulator(self) -> None:
        self.emulator.process.signal_group(signal.SIGCONT)

    def process_groups(self) -> dict[str, int]:
        """Process-group id of every running process of the stack (for memory sampling)."""
        groups = {name: p.pid for name, p in self.processes.items() if p.pid is not None}
        if self.emulator.process.pid is not None:
            groups["pubsub-emulator"] = self.emulator.process.pid
        return groups
