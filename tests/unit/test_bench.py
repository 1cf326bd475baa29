"""The benchmark's arithmetic and outputs: cost model, goal checks, README block, CPU reading."""

from __future__ import annotations

import copy
import os

import pytest

from bench import cost_model, report
from bench.procstat import group_cpu_seconds


def _sat(hits: float, cpu: float, p99: float = 10.0) -> dict:
    return {
        "offered_rps": None,
        "hits_per_second": hits,
        "p50_ms": 1.0,
        "p99_ms": p99,
        "cpu_ms_per_hit": cpu,
        "emulator_cpu_ms_per_hit": None,
    }


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
        "machine": {
            "nproc": 2,
            "cpu_model": "test CPU",
            "loadavg": [0.1, 0.2, 0.3],
            "loadavg_after": [1, 1, 1],
            "python": "3.11",
        },
        "load_generator": "wrk",
        "ingest": {
            "1-event": {"events_per_hit": 1, "half_load_rps": 500, "runs": runs(0.4)},
            "10-event": {"events_per_hit": 10, "half_load_rps": 500, "runs": runs(1.2)},
        },
        "delivery": {
            "e2e": {"offered_hits_per_second": 20, "p50_ms": 30.0, "p95_ms": 90.0},
            "throughput": {
                "events_per_second": 40.0,
                "vendor_cpu_ms_per_event": 3.0,
                "emulator_cpu_ms_per_event": 2.0,
                "vendor_events_per_second_per_vcpu": 333,
            },
        },
        "cold_start": {
            "collect": {"median_ms": 450, "runs_ms": [450]},
            "vendor-webhook": {"median_ms": 230, "runs_ms": [230]},
        },
        "message_bytes": 1000,
    }


def test_per_million_hits_adds_compute_requests_and_pubsub_throughput():
    row = cost_model.per_million_hits(
        collect_cpu_ms=0.6, vendor_cpu_ms=3.0, vendors=1, events_per_hit=1, message_bytes=1000
    )
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
    readme.write_text(
        f"# Title\n\n## Benchmarks\nintro\n{report.README_START}\nold table\n{report.README_END}\nafter\n"
    )
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


# -- issue 16: delivery modes ------------------------------------------------------------------


def _modes(push_cpu: float = 1.0, batch_cpu: float = 0.1) -> dict:
    return {
        "collect_cpu_ms_per_hit": 0.3,
        "message_bytes": 1000,
        "runs": {
            "push-meta": {"vendor_cpu_ms_per_event": push_cpu},
            "batch-meta": {"vendor_cpu_ms_per_event": batch_cpu},
        },
    }


def test_instance_billing_crossover_is_where_the_request_fee_exceeds_one_instance():
    # request-based: 1e6 × 0.3 ms / 0.6 = 500 vCPU-s × $0.00002525 + $0.40 per million hits
    per_million = 500 * 0.00002525 + 0.40
    one_instance = cost_model.SECONDS_PER_MONTH * (0.000018 + 0.5 * 0.000002)
    crossover = cost_model.modes_model(_modes())["crossover_million_hits_per_month"][
        "collect_instance_billing_wins_above"
    ]
    assert crossover == pytest.approx(one_instance / per_million, rel=0.03)


def test_batch_vendor_pays_per_tick_not_per_event():
    idle = cost_model.batch_vendor_monthly(0, 0.1)
    # no events: the scheduler job, 43,800 empty drains of 0.2 s and their request fees
    assert idle == pytest.approx(0.10 + 43_800 * 0.2 * 0.00002525 + 43_800 * 0.4 / 1e6, abs=0.01)
    # 100 M events a month (~2,300 a tick): 3 pulled batches a tick, not 100 M requests ...
    busy = cost_model.batch_vendor_monthly(100, 0.1)
    assert busy == pytest.approx(
        idle + (43_800 * 3 * 0.5 - 43_800 * 0.2 + 1e8 * 0.0001) * 0.00002525 + 43_800 * 0.2 * 0.00002525, abs=0.01
    )
    assert busy < cost_model.push_vendor_monthly(100, 0.1) / 4
    # ... while at 1 M events (23 a tick) every tick still pays a round trip: push is cheaper there
    assert cost_model.batch_vendor_monthly(1, 0.1) > cost_model.push_vendor_monthly(1, 0.1)


def test_pull_is_billed_by_bytes_and_push_at_1000_bytes_per_message():
    push = cost_model.pubsub_monthly(1, 300, push_vendors=1, batch_vendors=0)
    pull = cost_model.pubsub_monthly(1, 300, push_vendors=0, batch_vendors=1)
    assert push == pytest.approx(1e6 * 2000 / 1024**4 * 40)
    assert pull == pytest.approx(1e6 * 1300 / 1024**4 * 40)


def test_mode_goals_compare_with_the_cheaper_sgtm_and_half_of_it_at_1000m():
    cost = cost_model.modes_model(_modes())
    goals = cost_model.modes_goals(cost)
    at_1000 = cost["monthly_usd_1_event_hits_evenly_spread"]["1000M_hits"]
    assert goals["cost_batch_3v_1000M_hits_vs_sgtm"]["goal"].startswith(f"<= {min(at_1000['sgtm'].values()) / 2}")
    assert goals["cost_batch_3v_1000M_hits_vs_sgtm"]["met"] == (
        at_1000["batch_3v_best_collect"]["total"] <= min(at_1000["sgtm"].values()) / 2
    )
    # a far heavier batch CPU must flip a goal: they are computed, not constant
    heavy = cost_model.modes_goals(cost_model.modes_model(_modes(batch_cpu=50.0)))
    assert not heavy["cost_batch_3v_100M_hits_vs_sgtm"]["met"]


def test_delivery_goals_are_ratios_to_collect_of_the_same_run():
    from bench import delivery_modes

    modes = {
        "collect_cpu_ms_per_hit": 0.4,
        "runs": {
            "push-webhook": {"vendor_cpu_ms_per_event": 0.4},
            "push-meta": {"vendor_cpu_ms_per_event": 0.8},
            "batch-meta": {
                "vendor_cpu_ms_per_event": 0.1,
                "e2e": {"p50_ms": 3000.0, "p95_ms": 14000.0, "drain_interval_s": 5},
            },
        },
    }
    goals = delivery_modes.goals(modes)
    assert goals["push-webhook_cpu_per_event_vs_collect_hit"]["met"]
    assert not goals["push-meta_cpu_per_event_vs_collect_hit"]["met"]
    assert goals["batch-meta_cpu_per_event_vs_collect_hit"] == {"value": 0.25, "goal": "<= 0.25", "met": True}
    assert goals["batch_e2e_p95_ms"]["met"]
    text = report.modes_terminal(
        {
            "date": "d",
            "machine": {"nproc": 2, "loadavg": [1, 1, 1]},
            "delivery_modes": {
                **modes,
                "runs": {
                    k: {
                        **v,
                        "events_per_second_per_vcpu": 1,
                        "vendor_requests": 1,
                        "events": 1,
                        "e2e": v.get("e2e", {"p50_ms": 1, "p95_ms": 2}),
                    }
                    for k, v in modes["runs"].items()
                },
            },
            "cost": cost_model.modes_model(_modes()),
            "goals": goals,
        }
    )
    assert "NOT met" in text and "instance-based billing is cheaper above" in text
