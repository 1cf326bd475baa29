"""Micro-benchmark of collect's privacy step (``python -m bench.privacy_micro``).

Collect's CPU per hit with and without :meth:`shared.privacy.collect.CollectPrivacy.prepare`
(bot flags + global IP truncation), in process, the same user agent per run (warm cache, as
on a site where few user agents dominate); plus the bot classifier alone: cold (first sight
of a user agent) and warm p50/p95.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import statistics
import time

from shared.collect_app import CollectConfig, Collector, HttpRequest
from shared.privacy import bots
from shared.privacy.collect import CollectPrivacy

QUERY = "v=2&tid=G-BENCH&cid=111.222&en=page_view&dl=https%3A%2F%2Fshop.example%2Fa&dr=https%3A%2F%2Fnews.example%2F"
AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)


async def _publish(events):
    return ["1"] * len(events)


def _cpu_per_hit(collector: Collector, hits: int) -> float:
    request = HttpRequest("POST", "/g/collect", QUERY, {"user-agent": AGENT, "x-forwarded-for": "203.0.113.195"})
    loop = asyncio.new_event_loop()
    with contextlib.redirect_stdout(io.StringIO()):
        for _ in range(200):  # warm-up
            loop.run_until_complete(collector.handle(request))
        start = time.process_time()
        for _ in range(hits):
            loop.run_until_complete(collector.handle(request))
        elapsed = time.process_time() - start
    loop.close()
    return elapsed / hits * 1000


class _NoPrivacy(CollectPrivacy):
    def prepare(self, events) -> None:  # the step removed: the "before" figure
        return None


def main(hits: int = 5000, rounds: int = 5) -> None:
    with_privacy, without = [], []
    for _ in range(rounds):  # interleaved, so machine load affects both alike
        plain = Collector(_publish, CollectConfig())
        plain.privacy = _NoPrivacy()
        without.append(_cpu_per_hit(plain, hits))
        full = Collector(_publish, CollectConfig())
        full.privacy = CollectPrivacy("standard")
        with_privacy.append(_cpu_per_hit(full, hits))
    print(
        f"collect CPU ms/hit without privacy step: median {statistics.median(without):.4f}  runs {[round(x, 4) for x in without]}"
    )
    print(
        f"collect CPU ms/hit with privacy step:    median {statistics.median(with_privacy):.4f}  runs {[round(x, 4) for x in with_privacy]}"
    )

    cold = []
    for index in range(200):  # distinct user agents: every call misses the cache
        agent = AGENT.replace("131.0.0.0", f"131.0.{index}.{index}")
        start = time.perf_counter()
        bots.classify(agent)
        cold.append((time.perf_counter() - start) * 1000)
    warm = []
    for _ in range(5000):
        start = time.perf_counter()
        bots.classify(AGENT)
        warm.append((time.perf_counter() - start) * 1000)
    q = lambda xs, p: statistics.quantiles(xs, n=100)[p - 1]  # noqa: E731
    print(f"bots.classify cold (new user agent): p50 {q(cold, 50):.3f} ms  p95 {q(cold, 95):.3f} ms")
    print(f"bots.classify warm (cached):         p50 {q(warm, 50) * 1000:.2f} us  p95 {q(warm, 95) * 1000:.2f} us")


if __name__ == "__main__":
    main()
