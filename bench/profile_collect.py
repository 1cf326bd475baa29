"""Profile collect under saturating load with py-spy: where its CPU per hit goes.

``python -m bench.profile_collect --py-spy PATH [--payload 1-event] [--seconds 10]`` starts the
emulator and collect, drives collect with wrk and records every process of collect's group
with py-spy (``--format raw``: collapsed stacks), then prints the top frames by own and
total samples. py-spy is not a project dependency: install it in a tool venv
(``python -m venv /tmp/py-spy && /tmp/py-spy/bin/pip install py-spy==0.4.3``).
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import tempfile
from pathlib import Path

from bench.hits import COLLECT_PATH, PAYLOADS
from bench.loadgen import run_wrk
from devstack.config import REPO_ROOT
from devstack.emulator import PubSubEmulator
from devstack.processes import free_port, wait_for_port
from devstack.stack import LOCAL_PROJECT, function_process
from devstack.topology import Topology


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--py-spy", required=True)
    parser.add_argument("--payload", default="1-event", choices=sorted(PAYLOADS))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rate", type=float, default=0.0, help="fixed offered load; 0 saturates")
    parser.add_argument("--top", type=int, default=35)
    args = parser.parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    emulator = PubSubEmulator(free_port(), LOCAL_PROJECT, log_dir).start()
    collect = None
    try:
        os.environ.update(emulator.env())
        topology = Topology(LOCAL_PROJECT)
        topology.create_bus()
        topology.close()
        port = free_port()
        collect = function_process(
            "collect", REPO_ROOT / "functions/collect/main.py", "collect", port, emulator.env(), log_dir
        ).start()
        wait_for_port(port, 60, collect)
        query, body, _ = PAYLOADS[args.payload]
        url = f"http://127.0.0.1:{port}{COLLECT_PATH}?{query}"
        run_wrk(url, body, 2, collect.pid)
        out = log_dir / "collect.raw"
        spy = subprocess.Popen(
            [
                args.py_spy,
                "record",
                "--pid",
                str(collect.pid),
                "--subprocesses",
                "--format",
                "raw",
                "--output",
                str(out),
                "--duration",
                str(args.seconds + 1),
                "--rate",
                "200",
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        result = run_wrk(url, body, args.seconds, collect.pid, rate=args.rate or None)
        spy.wait(timeout=60)
        print(f"{result.hits_per_second} hits/s, {result.cpu_ms_per_hit} ms CPU/hit, p99 {result.p99_ms} ms\n")
        print(summarize(out.read_text(), args.top))
        print(f"\ncollapsed stacks: {out}")
    finally:
        if collect is not None:
            collect.stop()
        emulator.stop()


def summarize(raw: str, top: int) -> str:
    """Top frames by own samples and by inclusive samples, as shares of all samples."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        samples += n
        frames = stack.split(";")
        own[_short(frames[-1])] += n
        for frame in set(_short(f) for f in frames):
            total[frame] += n
    lines = [f"{samples} samples", "", "own %   frame"]
    lines += [f"{100 * n / samples:5.1f}  {f}" for f, n in own.most_common(top)]
    lines += ["", "total % frame"]
    lines += [f"{100 * n / samples:5.1f}  {f}" for f, n in total.most_common(top)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    return frame.replace(str(REPO_ROOT) + "/", "").replace("/work/main/.venv/lib/python3.11/site-packages/", "")


if __name__ == "__main__":
    main()
