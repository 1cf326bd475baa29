"""The benchmark's arithmetic and outputs: cost model, goal checks, README block, CPU reading."""

from __future__ import annotations

import copy
import os

import pytest

from bench import cost_model, report
from bench.procstat import group_cpu_seconds


def _sat(hits: float, cpu: float, p99: float = 10.0) -> dict:
    return {"offered_rps": None, "hits_per_second": hits, "p50_ms": 1.0, "p99_ms": p99, "cpu_ms_per_hit": cpu,
            "emulator_cpu_ms_per_hit": None}


def _fixed(rate: float, p99: float, cpu: float) -> dict:
    return {**_sat(rate, cpu, p99), "offered_rps": rate}


def _results() -> dict:
    def runs(collect_cpu: float) -> dict:
        return {
            "collect": {"saturation": _sat(1000, collect_cpu), "fixed": [_fixed(100, 5, 1.0), _fixed(500, 8.0, 0.8)]},
            "collect-threaded": {"saturation": _sat(800, 0.6), "fixed": [_fixed(100, 9, 1.1), _fixed(500, 20.0, 1.0)]},
            "bare-async": {"saturation": _sat(5000, 0.2), "fixed": [_fixed(100, 1, 0.3), _fixed(500, 2.0, 0.25)]},
            "bare-wsgi": {"saturation": _sat(2000, 0.5), "fixed": [_fixed(100, 2, 0.6), _fixed(500, 4.0, 0.55)]},
        }

    return {
        "date": "2026-11-29 10:00 UTC",
        "machine": {"nproc": 2, "cpu_model": "test CPU", "loadavg": [0.1, 0.2, 0.3], "loadavg_after": [1, 1, 1],
                    "python": "3.11"},
        "load_generator": "wrk",
        "ingest": {
            "1-event": {"events_per_hit": 1, "half_load_rps": 500, "runs": runs(0.4)},
            "10-event": {"events_per_hit": 10, "half_load_rps": 500, "runs": runs(1.2)},
        },
        "delivery": {
            "e2e": {"offered_hits_per_second": 20, "p50_ms": 30.0, "p95_ms": 90.0},
            "throughput": {"events_per_second": 40.0, "vendor_cpu_ms_per_event": 3.0, "emulator_cpu_ms_per_event": 2.0,
                           "vendor_events_per_second_per_vcpu": 333},
        },
        "cold_start": {"collect": {"median_ms": 450, "runs_ms": [450]}, "vendor-webhook": {"median_ms": 230, "runs_ms": [230]}},
        "message_bytes": 1000,
    }


def test_per_million_hits_adds_compute_requests_and_pubsub_throughput():
    row = cost_model.per_million_hits(collect_cpu_ms=0.6, vendor_cpu_ms=3.0, vendors=1, events_per_hit=1,
                                      message_bytes=1000)
    # collect: 1e6 × 0.6 ms / 0.6 utilization = 1000 vCPU-s × ($0.000024 + 0.5 GiB × $0.0000025) + $0.40
    assert row["collect"] == pytest.approx(1000 * 0.00002525 + 0.40, abs=1e-3)
    assert row["vendor_functions"] == pytest.approx(5000 * 0.00002525 + 0.40, abs=1e-3)
    # Pub/Sub: 1e6 messages × 1000 B, published once and delivered once, at $40/TiB.
    assert row["pubsub"] == pytest.approx(2e9 / 1024**4 * 40, abs=1e-3)
    assert row["total"] == pytest.approx(row["collect"] + row["vendor_functions"] + row["pubsub"], abs=2e-3)


def test_small_messages_are_billed_at_the_pubsub_minimum():
    small = cost_model.per_million_hits(0.5, 3.0, 3, 1, message_bytes=200)
    minimum = cost_model.per_million_hits(0.5, 3.0, 3, 1, message_bytes=1000)
    assert small["pubsub"] == minimum["pubsub"]


def test_sgtm_monthly_keeps_two_instances_and_scales_with_average_rate():
    assert set(cost_model.sgtm_monthly(1).values()) == {90.0}
    # 1e9 hits/month ≈ 380.5 rps: 22 instances at 17.5 rps each, 11 at 35 rps each.
    assert cost_model.sgtm_monthly(1000) == {"17.5_rps_per_instance": 990.0, "35.0_rps_per_instance": 495.0}


def test_goals_compare_collect_with_the_bare_functions():
    goals = report.goals(_results())
    assert goals["cpu_ratio_vs_bare_wsgi"] == {"value": 1.25, "goal": ">= 1.0", "met": True}
    assert goals["cpu_ratio_vs_bare_async"]["value"] == 0.5 and goals["cpu_ratio_vs_bare_async"]["met"]
    assert goals["p99_half_load_vs_bare_async"] == {"value": 4.0, "goal": "<= 2.0", "met": False}
    assert goals["batch_cpu_per_event_vs_1_event_hit"]["value"] == 0.3
    assert goals["e2e_p95_ms"]["met"]


def test_terminal_and_markdown_show_every_section():
    results = _results()
    results["goals"] = report.goals(results)
    results["cost"] = cost_model.model(results)
    text = report.terminal(results)
    for heading in ("INGEST", "DELIVERY AND COLD START", "GOALS", "PUBLISH AMORTIZATION", "COST PER MILLION HITS"):
        assert heading in text
    assert "0.600 → 0.400" in report.markdown(results)


def test_update_readme_rewrites_only_the_marked_block(tmp_path):
    results = _results()
    results["goals"] = report.goals(results)
    results["cost"] = cost_model.model(results)
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n## Benchmarks\nintro\n{report.README_START}\nold table\n{report.README_END}\nafter\n")
    report.update_readme(results, readme)
    report.update_readme(copy.deepcopy(results), readme)  # idempotent
    text = readme.read_text()
    assert text.startswith("# Title\n\n## Benchmarks\nintro\n")
    assert text.endswith(f"{report.README_END}\nafter\n")
    assert "old table" not in text and text.count(report.README_START) == 1
    assert "2026-11-29 10:00 UTC" in text


def test_group_cpu_seconds_counts_this_process_group():
    before = group_cpu_seconds(os.getpgid(0))
    sum(i * i for i in range(3_000_000))  # burn some CPU in this process
    assert group_cpu_seconds(os.getpgid(0)) > before
