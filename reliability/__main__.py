"""``python -m reliability chaos|replay|soak|account``: the entry points of mk/reliability.mk."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _chaos(args: argparse.Namespace) -> int:
    from reliability import chaos

    results = chaos.run_all(short=args.short, include_long=not args.skip_long, only=args.only or None, out=args.out)
    return 0 if results and all(r.passed for r in results) else 1


def _replay(args: argparse.Namespace) -> int:
    from reliability import replay

    if args.project:
        os.environ.pop("PUBSUB_EMULATOR_HOST", None)
        project = args.project
    else:
        os.environ.setdefault("PUBSUB_EMULATOR_HOST", args.emulator)
        project = os.environ.get("PUBSUB_PROJECT_ID", "tagging-local")
    report = replay.replay(
        project,
        args.vendor,
        dry_run=args.dry_run,
        limit=args.limit,
        max_seconds=args.max_seconds,
    )
    print(report.summary())
    if args.verbose:
        print(json.dumps(report.as_dict(), indent=2))
    return 0 if not report.failed else 1


def _soak(args: argparse.Namespace) -> int:
    from reliability import soak

    result = soak.run(seconds=args.seconds, rate=args.rate, warmup=args.warmup, out=args.out)
    print(result.summary())
    return 0 if result.passed else 1


def _account(args: argparse.Namespace) -> int:
    from reliability import accounting

    lines = accounting.read_json_lines(args.logs)
    published = accounting.published_from_hits(lines)
    dead = []
    if args.dead_letters:
        # One JSON object per line: {"data": <the message data as text>, "attributes": {...}}
        for record in accounting.read_json_lines([args.dead_letters]):
            dead.append(
                accounting.DeadLetter.from_message(str(record.get("data", "")).encode(), record.get("attributes") or {})
            )
    vendors = args.vendor or sorted({str(line.get("vendor")) for line in lines if line.get("message") == "delivery"})
    result = accounting.account(published, lines, dead, vendors)
    print(accounting.format_accounts(result))
    return 0 if all(a.holds for a in result.values()) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reliability")
    sub = parser.add_subparsers(dest="command", required=True)

    chaos_p = sub.add_parser("chaos", help="fault scenarios on the real local stack, one table row each")
    chaos_p.add_argument("--short", action="store_true", help="the short form that make test runs")
    chaos_p.add_argument("--skip-long", action="store_true", help="skip the 5-minute vendor outage")
    chaos_p.add_argument("--only", action="append", help="run only this scenario (repeatable)")
    chaos_p.add_argument("--out", type=Path, default=Path(".run/chaos"))

    replay_p = sub.add_parser("replay", help="move a vendor's dead letters back to it")
    replay_p.add_argument("--vendor", required=True)
    replay_p.add_argument("--dry-run", action="store_true", help="report what would move; move nothing")
    replay_p.add_argument("--limit", type=int, default=None, help="move at most this many messages")
    replay_p.add_argument("--max-seconds", type=float, default=60.0, help="stop after this long")
    replay_p.add_argument(
        "--project",
        default=os.environ.get("GOOGLE_CLOUD_PROJECT", ""),
        help="a cloud project (default: the local emulator)",
    )
    replay_p.add_argument("--emulator", default="127.0.0.1:8085", help="emulator host when no project is given")
    replay_p.add_argument("--verbose", action="store_true")

    soak_p = sub.add_parser("soak", help="bounded load at a fixed rate, sampling each process's memory")
    soak_p.add_argument("--seconds", type=float, default=300.0)
    soak_p.add_argument("--rate", type=float, default=20.0)
    soak_p.add_argument("--warmup", type=float, default=60.0)
    soak_p.add_argument("--out", type=Path, default=Path(".run/soak"))

    account_p = sub.add_parser("account", help="account for deliveries from exported log lines")
    account_p.add_argument("logs", nargs="+", type=Path, help="files of JSON log lines (hit and delivery lines)")
    account_p.add_argument(
        "--dead-letters", type=Path, help="JSON lines {data, attributes} of the dead-letter subscription"
    )
    account_p.add_argument("--vendor", action="append")

    args = parser.parse_args(argv)
    handler = {"chaos": _chaos, "replay": _replay, "soak": _soak, "account": _account}[args.command]
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
