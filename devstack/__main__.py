"""``make run``: the local stack in the foreground until Ctrl-C.

    python -m devstack run [--collect-port 8080] [--emulator-port 8085] [--vendor-base-port 8081]
                           [--inspector-port 8090] [--log-dir .run/logs] [--config config/vendors.yaml]

The inspector (devstack/inspector) serves the live view of every hit on 127.0.0.1; collect
logs raw and normalized hits (LOG_HITS=1) and vendors their requests and responses
(LOG_REQUESTS=1) for it. Both are local-only switches: the cloud never sets them.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path

from devstack import config as stack_config
from devstack.archive import ArchiveWriter
from devstack.inspector import Inspector
from devstack.relay import retry_window_seconds
from devstack.stack import LocalStack
from shared.jsonlog import parse_line

# Local-only detail (LOG_HITS, LOG_REQUESTS) is for the inspector; the terminal keeps the
# lines it showed before: hits and deliveries, and the request of a dry run.
_INSPECTOR_ONLY = ("raw", "normalized", "response")


def terminal_line(line: str) -> str:
    """A log line as echoed to the terminal: without the bulky fields the inspector shows."""
    record = parse_line(line)
    if record is None or not any(key in record for key in (*_INSPECTOR_ONLY, "request")):
        return line
    for key in _INSPECTOR_ONLY:
        record.pop(key, None)
    if record.get("outcome") != "dry_run":
        record.pop("request", None)
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n"


def _follow(path: Path, prefix: str, stop: threading.Event) -> None:
    """Echo a process's log to the terminal, so deliveries show up where the user looks."""
    while not path.exists() and not stop.is_set():
        time.sleep(0.1)
    with open(path, errors="replace") as handle:
        while not stop.is_set():
            line = handle.readline()
            if not line:
                time.sleep(0.05)
                continue
            sys.stdout.write(f"{prefix} {terminal_line(line)}")
            sys.stdout.flush()


def run(args: argparse.Namespace) -> int:
    try:
        config = stack_config.load(Path(args.config))
    except ValueError as exc:
        # A wrong rule or setting (docs/privacy.md): the message names vendor, rule and key.
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    vendors = config.enabled_vendors()
    ports = {v.name: args.vendor_base_port + i for i, v in enumerate(vendors)}
    log_dir = Path(args.log_dir).resolve()
    log_dir.mkdir(parents=True, exist_ok=True)
    # A run's logs start empty: the terminal echo and the inspector read them from the top,
    # and must not replay the previous run's hits.
    for old_log in log_dir.glob("*.log"):
        old_log.unlink()
    stack = LocalStack(
        config,
        emulator_port=args.emulator_port,
        collect_port=args.collect_port,
        vendor_ports=ports,
        log_dir=log_dir,
        collect_env={"LOG_HITS": "1"},
        vendor_env={v.name: {"LOG_REQUESTS": "1"} for v in vendors},
    )
    inspector: Inspector | None = None
    archive: ArchiveWriter | None = None
    stopping = threading.Event()

    def _terminate(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    # Ctrl-C must stop the stack even when SIGINT was inherited as ignored (a shell starts
    # background jobs that way, and Python then never raises KeyboardInterrupt).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        print("starting the Pub/Sub emulator, collect and the vendor functions ...", flush=True)
        stack.start()
        if args.archive_file:
            # The rows the cloud's BigQuery archive gets (devstack/archive.py, docs/ledger.md).
            archive = ArchiveWriter(stack.project, Path(args.archive_file).resolve()).start()
        try:
            inspector = Inspector.for_stack(stack, port=args.inspector_port).start()
        except OSError as exc:
            print(
                f"the inspector cannot listen on 127.0.0.1:{args.inspector_port} ({exc.strerror}); "
                "pass --inspector-port",
                file=sys.stderr,
            )
            return 1
        print(
            f"\nLocal stack is up (project {stack.project}).\n"
            f"  Pub/Sub emulator   127.0.0.1:{stack.emulator_port}  "
            f"(topic tagging-events, dead letters: subscription tagging-dead-letter-inspect)\n"
            f"  collect            {stack.collect_url}/g/collect\n"
            f"  inspector          {inspector.page_url}   <- open this to watch hits flow through every vendor\n"
        )
        if archive is not None:
            print(f"  event archive      {archive.path}  (the BigQuery archive's rows, JSON lines)")
        for vendor in stack.vendor_configs:
            print(
                f"  vendor {vendor.name:<11} {stack.vendor_url(vendor.name)}  log {stack.log_path('vendor-' + vendor.name)}"
            )
        retry = stack.retry
        print(
            f"\nA vendor that fails (5xx, 429, timeout) gets each event again after {retry.minimum_backoff_seconds}"
            f"-{retry.maximum_backoff_seconds} s, up to {retry.max_delivery_attempts} attempts: an outage of up to "
            f"{_minutes(retry_window_seconds(retry))} delivers everything;\nafter that the events wait in the dead-letter "
            "topic (the inspector shows them) for `make replay VENDOR=<name>` (delivery.local in the config)."
        )
        print(
            "\nSend a hit:\n"
            f"  curl -X POST '{stack.collect_url}/g/collect?v=2&tid=G-TEST&cid=1.2&en=page_view"
            "&dl=https%3A%2F%2Fexample.com%2F'\n"
            f"Watch it in the inspector at {inspector.page_url}; each vendor's delivery lines (dry-run\n"
            "requests when it has no credentials) also appear below.\n"
            "Ctrl-C stops everything.\n",
            flush=True,
        )
        followers = [
            threading.Thread(
                target=_follow, args=(stack.log_path(f"vendor-{v.name}"), f"[{v.name}]", stopping), daemon=True
            )
            for v in stack.vendor_configs
        ]
        followers.append(
            threading.Thread(target=_follow, args=(stack.log_path("collect"), "[collect]", stopping), daemon=True)
        )
        for follower in followers:
            follower.start()
        while True:
            for name, process in stack.processes.items():
                if process.poll() is not None:
                    print(f"{name} exited with {process.poll()}; see {process.log_path}", file=sys.stderr)
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
        return 0
    finally:
        # Stopping takes a few seconds; a second signal (make forwards one, users press Ctrl-C
        # twice) must not cut it short and orphan the processes the stack started.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stopping.set()
        if inspector is not None:
            inspector.stop()
        if archive is not None:
            archive.stop()
        stack.stop()
        print("every process the stack started has stopped.", flush=True)


def _minutes(seconds: int) -> str:
    return f"{seconds} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack")
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="run the local stack in the foreground")
    run_parser.add_argument("--emulator-port", type=int, default=8085)
    run_parser.add_argument("--collect-port", type=int, default=8080)
    run_parser.add_argument("--vendor-base-port", type=int, default=8081)
    run_parser.add_argument("--inspector-port", type=int, default=8090)
    run_parser.add_argument("--log-dir", default=".run/logs")
    run_parser.add_argument(
        "--archive-file",
        default=".run/archive/events.jsonl",
        help="append each event's archive row here; empty: no local archive",
    )
    run_parser.add_argument(
        "--config", default=str(stack_config.CONFIG_PATH), help="the vendors file (default config/vendors.yaml)"
    )
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
