"""Turn measured CPU-seconds into dollars: Cloud Run functions + Pub/Sub list prices vs sGTM.

Run alone (``python -m bench.cost_model [results.json]``) to price an existing results file.
Every price and every assumption is a named constant below; docs/cost.md gives the sources.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# -- List prices, Tier 1 regions, USD (read 2026-11-29; sources in docs/cost.md) -------------
CR_VCPU_SECOND = 0.000024  # request-based billing, per vCPU-second
CR_GIB_SECOND = 0.0000025  # request-based billing, per GiB-second
CR_PER_MILLION_REQUESTS = 0.40
CR_IDLE_VCPU_SECOND = 0.0000025  # idle minimum instance, request-based billing (assumption, see docs)
CR_IDLE_GIB_SECOND = 0.0000025
PUBSUB_PER_TIB = 40.0  # throughput, publish and each subscription's delivery
PUBSUB_MIN_BYTES = 1000  # billable minimum per publish/push request (one message per push)
CR_INSTANCE_VCPU_SECOND = 0.000018  # instance-based billing (CPU always allocated), no request fee
CR_INSTANCE_GIB_SECOND = 0.000002
SCHEDULER_JOB_MONTH = 0.10  # Cloud Scheduler, per job beyond 3 free per billing account (not applied)
SGTM_INSTANCE_MONTH = 45.0  # Google's sGTM Cloud Run setup guide: 1 vCPU, 0.5 GB, CPU always on
SGTM_MIN_INSTANCES = 2
SGTM_RPS_RANGE = ((2, 35), (10, 350))  # (instances, requests/s): "2-10 servers ... 35-350 rps"

# -- Assumptions ------------------------------------------------------------------------------
UTILIZATION = 0.6  # busy instances run at Cloud Run's 60 % CPU autoscaling target
MEMORY_GIB = 0.5  # per function instance
MESSAGE_BYTES_DEFAULT = 1200  # normalized event + attributes, if not measured
SECONDS_PER_MONTH = 730 * 3600
BILLING_GRANULARITY_S = 0.1  # request-based billing rounds an instance's billable time up to 100 ms
MONTHLY_VOLUMES_M = (1, 10, 100, 1000)  # millions of hits per month, for the monthly comparison
TIB = 1024**4

# -- Batch mode assumptions (docs/cost.md, "Batch mode") ------------------------------------
DRAIN_TICKS_PER_MONTH = SECONDS_PER_MONTH // 60  # the scheduler job, every minute
IDLE_DRAIN_SECONDS = 0.2  # a drain that finds the subscription empty (one pull), billed
BATCH_ROUND_TRIP_SECONDS = 0.5  # per pulled batch: pull + one vendor request + ack, billed wall time
BATCH_MAX_EVENTS = 1000  # Meta and TikTok: events per request, and Pub/Sub's per pull


def _run_cpu_ms(results: dict, payload: str, name: str) -> float:
    return results["ingest"][payload]["runs"][name]["saturation"]["cpu_ms_per_hit"]


def per_million_hits(
    collect_cpu_ms: float, vendor_cpu_ms: float, vendors: int, events_per_hit: float, message_bytes: int
) -> dict:
    """Dollars per million hits with ``vendors`` vendor functions, at scale (busy instances)."""

    def compute(cpu_ms: float, requests_m: float) -> float:
        billed_seconds = requests_m * 1e6 * cpu_ms / 1000 / UTILIZATION
        return billed_seconds * (CR_VCPU_SECOND + MEMORY_GIB * CR_GIB_SECOND) + requests_m * CR_PER_MILLION_REQUESTS

    events_m = events_per_hit  # millions of events per million hits
    collect = compute(collect_cpu_ms, 1.0)
    delivery = compute(vendor_cpu_ms, events_m * vendors)
    billable = max(message_bytes, PUBSUB_MIN_BYTES)
    pubsub = (events_m * 1e6 * billable * (1 + vendors)) / TIB * PUBSUB_PER_TIB
    return {
        "vendors": vendors,
        "collect": round(collect, 3),
        "vendor_functions": round(delivery, 3),
        "pubsub": round(pubsub, 3),
        "total": round(collect + delivery + pubsub, 3),
    }


def sparse_per_million_hits(vendors: int, events_per_hit: float, message_bytes: int) -> float:
    """Upper bound when traffic is so sparse that every request bills its own 100 ms."""
    per_request = BILLING_GRANULARITY_S * (CR_VCPU_SECOND + MEMORY_GIB * CR_GIB_SECOND) + CR_PER_MILLION_REQUESTS / 1e6
    requests = 1e6 * (1 + events_per_hit * vendors)
    pubsub = events_per_hit * 1e6 * max(message_bytes, PUBSUB_MIN_BYTES) * (1 + vendors) / TIB * PUBSUB_PER_TIB
    return round(requests * per_request + pubsub, 2)


def sgtm_monthly(hits_millions: float) -> dict:
    """sGTM's bill for a month of evenly spread hits: $45 per instance, at least 2 instances."""
    avg_rps = hits_millions * 1e6 / SECONDS_PER_MONTH
    out = {}
    for instances, rps in SGTM_RPS_RANGE:
        per_instance = rps / instances
        needed = max(SGTM_MIN_INSTANCES, -(-avg_rps // per_instance))
        out[f"{per_instance:.1f}_rps_per_instance"] = round(needed * SGTM_INSTANCE_MONTH, 2)
    return out


def sgtm_per_million() -> dict:
    """sGTM at its documented capacity, instances fully used: $ per million requests."""
    out = {}
    for instances, rps in SGTM_RPS_RANGE:
        per_instance_rps = rps / instances
        hits_per_instance_month = per_instance_rps * SECONDS_PER_MONTH
        out[f"{per_instance_rps:.1f}_rps_per_instance"] = round(SGTM_INSTANCE_MONTH / hits_per_instance_month * 1e6, 3)
    return out


def model(results: dict, message_bytes: int | None = None) -> dict:
    """The cost section of a results file."""
    message_bytes = message_bytes or results.get("message_bytes") or MESSAGE_BYTES_DEFAULT
    vendor_cpu = results["delivery"]["throughput"]["vendor_cpu_ms_per_event"]
    rows = {}
    for payload in results["ingest"]:
        events = results["ingest"][payload]["events_per_hit"]
        collect_cpu = _run_cpu_ms(results, payload, "collect")
        rows[payload] = [per_million_hits(collect_cpu, vendor_cpu, v, events, message_bytes) for v in (1, 3)]
    idle_min1 = SECONDS_PER_MONTH * (CR_IDLE_VCPU_SECOND + MEMORY_GIB * CR_IDLE_GIB_SECOND)
    collect_cpu = _run_cpu_ms(results, "1-event", "collect")
    # Hits/s one busy vCPU sustains at the autoscaling target: the like-for-like of sGTM's rps.
    rps_per_vcpu = UTILIZATION * 1000 / (collect_cpu + vendor_cpu)
    one = rows["1-event"]
    monthly = {
        f"{volume}M_hits": {
            "ours_1_vendor": round(volume * one[0]["total"], 2),
            "ours_3_vendors": round(volume * one[1]["total"], 2),
            "sgtm": sgtm_monthly(volume),
        }
        for volume in MONTHLY_VOLUMES_M
    }
    return {
        "assumptions": {
            "utilization": UTILIZATION,
            "memory_gib": MEMORY_GIB,
            "message_bytes": message_bytes,
            "prices": "Tier 1 list prices, read 2026-11-29, see docs/cost.md",
        },
        "per_million_hits_usd": rows,
        "per_million_hits_sparse_upper_usd": {
            f"{v}_vendor(s)": sparse_per_million_hits(v, 1, message_bytes) for v in (1, 3)
        },
        "monthly_usd_1_event_hits_evenly_spread": monthly,
        "idle_monthly_floor_usd": {
            "ours_min_instances_0": 0.0,
            "ours_collect_min_instances_1": round(idle_min1, 2),
            "sgtm_2_instances": SGTM_INSTANCE_MONTH * SGTM_MIN_INSTANCES,
        },
        "sgtm_per_million_requests_usd": sgtm_per_million(),
        "ours_hits_per_second_per_vcpu_1_vendor": round(rps_per_vcpu),
        "sgtm_requests_per_second_per_instance": [rps / n for n, rps in SGTM_RPS_RANGE],
    }


# -- Issue 16: push and batch delivery, request- and instance-based collect --------------------


def collect_monthly(hits_m: float, cpu_ms: float, billing: str) -> float:
    """collect's compute for ``hits_m`` million evenly spread hits a month.

    ``request``: CPU/utilization at request-based prices + $0.40 per million requests.
    ``instance``: instance-based billing: no request fee, the instances' whole lifetime is
    billed, and at least one instance lives all month (it stays up ~15 min after a request,
    so any steady traffic keeps it).
    """
    busy = hits_m * 1e6 * cpu_ms / 1000 / UTILIZATION
    if billing == "request":
        return busy * (CR_VCPU_SECOND + MEMORY_GIB * CR_GIB_SECOND) + hits_m * CR_PER_MILLION_REQUESTS
    return max(busy, SECONDS_PER_MONTH) * (CR_INSTANCE_VCPU_SECOND + MEMORY_GIB * CR_INSTANCE_GIB_SECOND)


def pubsub_monthly(events_m: float, message_bytes: int, push_vendors: int, batch_vendors: int) -> float:
    """Publish (billed at least 1,000 bytes per message, conservatively), each push delivery
    (one message per push: at least 1,000 bytes) and each pulled message (pull responses carry
    many messages: their own size)."""
    billed = (
        events_m * 1e6 * (max(message_bytes, PUBSUB_MIN_BYTES) * (1 + push_vendors) + message_bytes * batch_vendors)
    )
    return billed / TIB * PUBSUB_PER_TIB


def push_vendor_monthly(events_m: float, cpu_ms: float) -> float:
    """One push-mode vendor: one request per event, CPU/utilization at request-based prices."""
    busy = events_m * 1e6 * cpu_ms / 1000 / UTILIZATION
    return busy * (CR_VCPU_SECOND + MEMORY_GIB * CR_GIB_SECOND) + events_m * CR_PER_MILLION_REQUESTS


def batch_vendor_monthly(events_m: float, cpu_ms: float) -> float:
    """One batch-mode vendor: a drain a minute billed for its wall time, the scheduler job."""
    per_tick = events_m * 1e6 / DRAIN_TICKS_PER_MONTH
    batches = DRAIN_TICKS_PER_MONTH * -(-per_tick // BATCH_MAX_EVENTS)
    billed = (
        DRAIN_TICKS_PER_MONTH * IDLE_DRAIN_SECONDS + batches * BATCH_ROUND_TRIP_SECONDS + events_m * 1e6 * cpu_ms / 1000
    )
    return (
        billed * (CR_VCPU_SECOND + MEMORY_GIB * CR_GIB_SECOND)
        + DRAIN_TICKS_PER_MONTH * CR_PER_MILLION_REQUESTS / 1e6
        + SCHEDULER_JOB_MONTH
    )


def ours_monthly(hits_m: float, vendors: int, mode: str, collect_billing: str, cpu: dict, message_bytes: int) -> dict:
    """A month of 1-event hits: collect + ``vendors`` vendors all in ``mode`` + Pub/Sub."""
    collect = collect_monthly(hits_m, cpu["collect"], collect_billing)
    if mode == "push":
        delivery = vendors * push_vendor_monthly(hits_m, cpu["push"])
        pubsub = pubsub_monthly(hits_m, message_bytes, vendors, 0)
    else:
        delivery = vendors * batch_vendor_monthly(hits_m, cpu["batch"])
        pubsub = pubsub_monthly(hits_m, message_bytes, 0, vendors)
    return {
        "collect": round(collect, 2),
        "vendors": round(delivery, 2),
        "pubsub": round(pubsub, 2),
        "total": round(collect + delivery + pubsub, 2),
    }


def _crossover(cheaper_below, low: float = 0.01, high: float = 100_000.0) -> float | None:
    """Smallest volume (million hits/month) in [low, high] where ``cheaper_below(v)`` turns False."""
    volume = low
    while volume <= high:
        if not cheaper_below(volume):
            return round(volume, 2)
        volume *= 1.02
    return None


def modes_model(modes: dict, message_bytes: int | None = None) -> dict:
    """Cost of push and batch delivery, request- and instance-based collect, against sGTM."""
    runs = modes["runs"]
    message_bytes = message_bytes or modes.get("message_bytes") or MESSAGE_BYTES_DEFAULT
    cpu = {
        "collect": modes["collect_cpu_ms_per_hit"],
        # Meta: the heavier mapping (hashing), the one that has a batch API.
        "push": (runs.get("push-meta") or runs["push-webhook"])["vendor_cpu_ms_per_event"],
        "batch": runs["batch-meta"]["vendor_cpu_ms_per_event"],
    }
    crossover_collect = _crossover(
        lambda v: collect_monthly(v, cpu["collect"], "request") <= collect_monthly(v, cpu["collect"], "instance")
    )

    def best_collect(v: float) -> str:
        return "instance" if crossover_collect is not None and v >= crossover_collect else "request"

    def sgtm_low(v: float) -> float:
        return min(sgtm_monthly(v).values())

    monthly = {}
    for volume in MONTHLY_VOLUMES_M:
        row = {"sgtm": sgtm_monthly(volume)}
        for vendors in (1, 3):
            row[f"push_{vendors}v"] = ours_monthly(volume, vendors, "push", "request", cpu, message_bytes)
            row[f"batch_{vendors}v"] = ours_monthly(volume, vendors, "batch", "request", cpu, message_bytes)
            row[f"batch_{vendors}v_best_collect"] = ours_monthly(
                volume, vendors, "batch", best_collect(volume), cpu, message_bytes
            )
        row["collect_billing"] = best_collect(volume)
        monthly[f"{volume}M_hits"] = row

    def beats_sgtm(mode: str, billing) -> object:
        return lambda v: ours_monthly(v, 3, mode, billing(v), cpu, message_bytes)["total"] <= sgtm_low(v)

    def above_sgtm_bands(mode: str, billing) -> list[list[float]]:
        """Volume ranges (million hits/month, 1-10,000) where 3 vendors cost more than sGTM."""
        bands, start, volume = [], None, 1.0
        while volume <= 10_000:
            over = not beats_sgtm(mode, billing)(volume)
            if over and start is None:
                start = volume
            if not over and start is not None:
                bands.append([round(start, 1), round(volume, 1)])
                start = None
            volume *= 1.01
        if start is not None:
            bands.append([round(start, 1), None])
        return bands

    return {
        "assumptions": {
            "cpu_ms": cpu,
            "message_bytes": message_bytes,
            "utilization": UTILIZATION,
            "drain_ticks_per_month": DRAIN_TICKS_PER_MONTH,
            "idle_drain_seconds": IDLE_DRAIN_SECONDS,
            "batch_round_trip_seconds": BATCH_ROUND_TRIP_SECONDS,
            "sgtm_compared": "the cheaper sGTM sizing",
        },
        "monthly_usd_1_event_hits_evenly_spread": monthly,
        "crossover_million_hits_per_month": {
            "collect_instance_billing_wins_above": crossover_collect,
            "push_3_vendors_costs_more_than_sgtm_above": _crossover(beats_sgtm("push", lambda v: "request")),
            "batch_3_vendors_costs_more_than_sgtm_above": _crossover(beats_sgtm("batch", best_collect)),
            "batch_cheaper_than_push_above_3_vendors": _crossover(
                lambda v: (
                    ours_monthly(v, 3, "push", "request", cpu, message_bytes)["total"]
                    <= ours_monthly(v, 3, "batch", "request", cpu, message_bytes)["total"]
                )
            ),
        },
        "batch_3_vendors_above_sgtm_bands": above_sgtm_bands("batch", best_collect),
        "idle_monthly_floor_usd": {
            "push": 0.0,
            "batch_per_vendor": round(batch_vendor_monthly(0, cpu["batch"]), 2),
            "instance_based_collect": round(collect_monthly(0, cpu["collect"], "instance"), 2),
        },
    }


def modes_goals(cost: dict) -> dict:
    """Batch for 3 vendors (and the cheaper collect billing): ≤ sGTM at every volume, ≤ ½ at 1,000 M."""
    monthly = cost["monthly_usd_1_event_hits_evenly_spread"]
    out = {}
    for volume, row in monthly.items():
        ours = row["batch_3v_best_collect"]["total"]
        sgtm = min(row["sgtm"].values())
        target = sgtm / 2 if volume == "1000M_hits" else sgtm
        out[f"cost_batch_3v_{volume}_vs_sgtm"] = {
            "value": ours,
            "goal": f"<= {round(target, 2)} ({'half of ' if volume == '1000M_hits' else ''}sGTM)",
            "met": ours <= target,
        }
        if volume == "1000M_hits":
            out["cost_batch_3v_1000M_hits_vs_sgtm_full"] = {"value": ours, "goal": f"<= {sgtm}", "met": ours <= sgtm}
    return out


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("results") / "latest.json"
    print(json.dumps(model(json.loads(path.read_text())), indent=2))


if __name__ == "__main__":
    main()
