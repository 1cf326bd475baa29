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


def _run_cpu_ms(results: dict, payload: str, name: str) -> float:
    return results["ingest"][payload]["runs"][name]["saturation"]["cpu_ms_per_hit"]


def per_million_hits(collect_cpu_ms: float, vendor_cpu_ms: float, vendors: int, events_per_hit: float,
                     message_bytes: int) -> dict:
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
        "assumptions": {"utilization": UTILIZATION, "memory_gib": MEMORY_GIB, "message_bytes": message_bytes,
                        "prices": "Tier 1 list prices, read 2026-11-29, see docs/cost.md"},
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


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("results") / "latest.json"
    print(json.dumps(model(json.loads(path.read_text())), indent=2))


if __name__ == "__main__":
    main()
