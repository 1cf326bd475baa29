"""The benchmark's outputs: goal checks, the terminal table and the README results block."""

from __future__ import annotations

from pathlib import Path

README_START = "<!-- bench-results:start (written by `make bench`) -->"
README_END = "<!-- bench-results:end -->"


def _sat(results: dict, payload: str, name: str) -> dict:
    return results["ingest"][payload]["runs"][name]["saturation"]


def _half(results: dict, payload: str, name: str) -> dict:
    return results["ingest"][payload]["runs"][name]["fixed"][-1]


def goals(results: dict) -> dict:
    """The issue's goals for this machine, each with the measured value and whether it is met."""
    collect = _sat(results, "1-event", "collect")["cpu_ms_per_hit"]
    wsgi = _sat(results, "1-event", "bare-wsgi")["cpu_ms_per_hit"]
    aio = _sat(results, "1-event", "bare-async")["cpu_ms_per_hit"]
    batch_per_event = _sat(results, "10-event", "collect")["cpu_ms_per_hit"] / 10
    p99_collect = _half(results, "1-event", "collect")["p99_ms"]
    p99_aio = _half(results, "1-event", "bare-async")["p99_ms"]
    p99_wsgi = _half(results, "1-event", "bare-wsgi")["p99_ms"]
    e2e_p95 = results["delivery"]["e2e"]["p95_ms"]
    out = {
        "cpu_ratio_vs_bare_wsgi": _goal(wsgi / collect, ">=", 1.0),
        "cpu_ratio_vs_bare_async": _goal(aio / collect, ">=", 0.4),
        "p99_half_load_vs_bare_async": _goal(p99_collect / p99_aio, "<=", 2.0),
        "p99_half_load_vs_bare_wsgi": _goal(p99_collect / p99_wsgi, "<=", 2.0),
        "batch_cpu_per_event_vs_1_event_hit": _goal(batch_per_event / collect, "<=", 1 / 3),
        "e2e_p95_ms": _goal(e2e_p95, "<=", 1000.0) if e2e_p95 is not None else {"value": None, "met": False},
    }
    return out


def _goal(value: float, op: str, target: float) -> dict:
    met = value >= target if op == ">=" else value <= target
    return {"value": round(value, 3), "goal": f"{op} {round(target, 3)}", "met": met}


def ingest_rows(results: dict) -> list[list[str]]:
    rows = []
    for payload, block in results["ingest"].items():
        for name, runs in block["runs"].items():
            sat = runs["saturation"]
            ratio_w = _sat(results, payload, "bare-wsgi")["cpu_ms_per_hit"] / sat["cpu_ms_per_hit"]
            ratio_a = _sat(results, payload, "bare-async")["cpu_ms_per_hit"] / sat["cpu_ms_per_hit"]
            low, half = runs["fixed"]
            rows.append(
                [
                    payload,
                    name,
                    f"{sat['hits_per_second']:.0f}",
                    f"{sat['p50_ms']:.1f}",
                    f"{sat['p99_ms']:.1f}",
                    f"{sat['cpu_ms_per_hit']:.3f}",
                    f"{sat['cpu_ms_per_hit'] / block['events_per_hit']:.3f}",
                    f"{ratio_w:.2f}",
                    f"{ratio_a:.2f}",
                    f"{low['p50_ms']:.1f} / {low['p99_ms']:.1f}",
                    f"{half['offered_rps']:.0f}: {half['p50_ms']:.1f} / {half['p99_ms']:.1f}",
                    f"{half['cpu_ms_per_hit']:.3f}",
                    "" if sat["emulator_cpu_ms_per_hit"] is None else f"{sat['emulator_cpu_ms_per_hit']:.3f}",
                ]
            )
    return rows


INGEST_HEADER = [
    "hit",
    "server",
    "hits/s (sat.)",
    "p50 ms",
    "p99 ms",
    "CPU ms/hit",
    "CPU ms/event",
    "× bare WSGI",
    "× bare async",
    "p50/p99 ms @100/s",
    "p50/p99 ms @half load",
    "CPU ms/hit @half",
    "emulator CPU ms/hit",
]


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _plain(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=False))  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *map(fmt, rows)])


def _other_rows(results: dict) -> list[list[str]]:
    d = results["delivery"]
    c = results["cold_start"]
    return [
        ["delivery events/s (webhook vendor → mock vendor)", str(d["throughput"]["events_per_second"])],
        ["vendor CPU ms/event", str(d["throughput"]["vendor_cpu_ms_per_event"])],
        [
            "vendor events/s per busy vCPU (derived: 1 / CPU per event)",
            str(d["throughput"].get("vendor_events_per_second_per_vcpu")),
        ],
        ["emulator CPU ms/event (push)", str(d["throughput"]["emulator_cpu_ms_per_event"])],
        [
            f"end-to-end hit → mock vendor p50 / p95 ms (@{d['e2e']['offered_hits_per_second']:.0f} hits/s)",
            f"{d['e2e']['p50_ms']} / {d['e2e']['p95_ms']}",
        ],
        [
            "cold start collect (process start → first answer), median ms",
            f"{c['collect']['median_ms']} {c['collect']['runs_ms']}",
        ],
        [
            "cold start webhook vendor, median ms",
            f"{c['vendor-webhook']['median_ms']} {c['vendor-webhook']['runs_ms']}",
        ],
    ]


def _goal_rows(results: dict) -> list[list[str]]:
    return [
        [name, str(g.get("value")), g.get("goal", ""), "met" if g["met"] else "NOT met"]
        for name, g in results["goals"].items()
    ]


def _cost_rows(results: dict) -> list[list[str]]:
    cost = results["cost"]
    rows = []
    for payload, per_vendor in cost["per_million_hits_usd"].items():
        for row in per_vendor:
            rows.append(
                [
                    f"ours, {payload} hits, {row['vendors']} vendor(s)",
                    f"${row['total']:.2f}",
                    f"collect ${row['collect']:.2f} + vendors ${row['vendor_functions']:.2f} + Pub/Sub ${row['pubsub']:.2f}",
                ]
            )
    for key, value in cost["sgtm_per_million_requests_usd"].items():
        rows.append(
            [
                f"sGTM at {key.replace('_', ' ')} (instances fully used)",
                f"${value:.2f}",
                "vendors run as tags in the same instances",
            ]
        )
    for key, value in cost["per_million_hits_sparse_upper_usd"].items():
        rows.append(
            [
                f"ours, sparse traffic upper bound, {key.replace('_', ' ')}",
                f"${value:.2f}",
                "every request alone bills 100 ms of 1 vCPU",
            ]
        )
    for volume, row in cost["monthly_usd_1_event_hits_evenly_spread"].items():
        sgtm = " – ".join(f"${v:,.0f}" for v in sorted(row["sgtm"].values()))
        rows.append(
            [
                f"per month at {volume.replace('_', ' ')}: ours 1 / 3 vendors vs sGTM",
                f"${row['ours_1_vendor']:,.2f} / ${row['ours_3_vendors']:,.2f}",
                f"sGTM {sgtm}",
            ]
        )
    floor = cost["idle_monthly_floor_usd"]
    rows.append(
        [
            "idle monthly floor: ours, min-instances 0",
            f"${floor['ours_min_instances_0']:.2f}",
            "scale to zero; first hit pays a cold start",
        ]
    )
    rows.append(
        [
            "idle monthly floor: ours, collect min-instances 1",
            f"${floor['ours_collect_min_instances_1']:.2f}",
            "idle min-instance rate",
        ]
    )
    rows.append(
        [
            "idle monthly floor: sGTM, 2 instances",
            f"${floor['sgtm_2_instances']:.2f}",
            "$45/instance-month, Google's minimum of 2",
        ]
    )
    rows.append(
        [
            "hits/s per busy vCPU (ours, 1 vendor) vs sGTM per instance",
            f"{cost['ours_hits_per_second_per_vcpu_1_vendor']} vs {cost['sgtm_requests_per_second_per_instance'][0]:.1f}–{cost['sgtm_requests_per_second_per_instance'][1]:.1f}",
            "",
        ]
    )
    return rows


def _header_line(results: dict) -> str:
    m = results["machine"]
    load = ", ".join(f"{x:.2f}" for x in m["loadavg"])
    load_after = ", ".join(f"{x:.2f}" for x in m.get("loadavg_after", []))
    return (
        f"{results['date']} · {m['nproc']} cores, {m['cpu_model']} · Python {m['python']} · "
        f"loadavg before {load}, after {load_after} · {results['load_generator']}"
    )


def terminal(results: dict) -> str:
    parts = [
        _header_line(results),
        "",
        "INGEST (saturation = 16 connections closed loop; CPU = server's whole process group)",
        _plain(INGEST_HEADER, ingest_rows(results)),
        "",
        "DELIVERY AND COLD START",
        _plain(["figure", "value"], _other_rows(results)),
        "",
        "GOALS",
        _plain(["goal", "value", "target", "status"], _goal_rows(results)),
        "",
        "PUBLISH AMORTIZATION: collect-threaded (PublisherClient, before) → collect (group commit, after)",
        _plain(BEFORE_AFTER_HEADER, _before_after_rows(results)),
        "",
        "COST PER MILLION HITS (USD, Cloud Run request-based billing at scale)",
        _plain(["case", "$", "breakdown"], _cost_rows(results)),
    ]
    if "delivery_modes" in results:
        parts += [
            "",
            "DELIVERY MODES, push and batch (collect CPU per 1-event hit of this run: "
            f"{results['delivery_modes']['collect_cpu_ms_per_hit']:.3f} ms)",
            _plain(MODES_HEADER, modes_rows(results["delivery_modes"])),
            "",
            "MONTHLY COST BY DELIVERY MODE, 1-event hits evenly spread (USD)",
            _plain(COST_MODES_HEADER, cost_modes_rows(results["cost_modes"])),
            "",
            *crossover_lines(results["cost_modes"]),
        ]
    return "\n".join(parts)


def markdown(results: dict) -> str:
    return "\n\n".join(
        [
            f"Measured {_header_line(results)}. Run it again with `make bench`; the JSON is in "
            "`bench/results/latest.json`, the method and the prices in `docs/cost.md`.",
            "**Ingest** (saturation: wrk, 16 connections; CPU: the server's whole process group, "
            "the emulator's CPU shown apart because Google runs Pub/Sub)\n\n"
            + _markdown(INGEST_HEADER, ingest_rows(results)),
            "**Delivery and cold start**\n\n" + _markdown(["figure", "value"], _other_rows(results)),
            "**Goals on this machine**\n\n" + _markdown(["goal", "value", "target", "status"], _goal_rows(results)),
            "**Cost** (list prices, assumptions in `docs/cost.md`)\n\n"
            + _markdown(["case", "$", "breakdown"], _cost_rows(results)),
            *(
                [
                    "**Delivery modes, push and batch** (same run)\n\n"
                    + _markdown(MODES_HEADER, modes_rows(results["delivery_modes"])),
                    "**Monthly cost by delivery mode** (1-event hits, evenly spread)\n\n"
                    + _markdown(COST_MODES_HEADER, cost_modes_rows(results["cost_modes"]))
                    + "\n\n"
                    + "\n".join(f"- {line}" for line in crossover_lines(results["cost_modes"])),
                ]
                if "delivery_modes" in results
                else []
            ),
            "**Publish amortization, before → after** (collect-threaded: collect with google-cloud-pubsub's "
            "threaded `PublisherClient`, as before; collect: the group-commit `grpc.aio` publisher, same run)\n\n"
            + _markdown(BEFORE_AFTER_HEADER, _before_after_rows(results)),
        ]
    )


def _before_after_rows(results: dict) -> list[list[str]]:
    rows = []
    for payload in results["ingest"]:
        before, after = _sat(results, payload, "collect-threaded"), _sat(results, payload, "collect")
        half_b, half_a = _half(results, payload, "collect-threaded"), _half(results, payload, "collect")
        rows.append(
            [
                payload,
                f"{before['hits_per_second']:.0f} → {after['hits_per_second']:.0f}",
                f"{before['cpu_ms_per_hit']:.3f} → {after['cpu_ms_per_hit']:.3f}",
                f"{before['p99_ms']:.1f} → {after['p99_ms']:.1f}",
                f"{half_b['p99_ms']:.1f} → {half_a['p99_ms']:.1f}",
            ]
        )
    return rows


BEFORE_AFTER_HEADER = ["hit", "hits/s (sat.)", "CPU ms/hit (sat.)", "p99 ms (sat.)", "p99 ms @half load"]


def update_readme(results: dict, readme: Path) -> None:
    """Replace the text between the README's result markers (only that) with these results."""
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise RuntimeError(f"{readme} has no benchmark result markers")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(head + README_START + "\n" + markdown(results) + "\n" + README_END + tail)


# -- Issue 16: delivery modes side by side ---------------------------------------------------

MODES_HEADER = [
    "run",
    "vendor CPU ms/event (push: at saturation)",
    "× collect CPU/hit",
    "events/s per busy vCPU",
    "vendor requests / events",
    "e2e p50 / p95 ms",
]


def modes_rows(modes: dict) -> list[list[str]]:
    collect = modes["collect_cpu_ms_per_hit"]
    rows = []
    for name, run in modes["runs"].items():
        cpu = run["vendor_cpu_ms_per_event"]
        e2e = run["e2e"]
        interval = f" (drain every {e2e['drain_interval_s']:g} s)" if "drain_interval_s" in e2e else ""
        backlog = f" (backlog {run['backlog_cpu_ms_per_event']:.3f})" if run.get("backlog_cpu_ms_per_event") else ""
        rows.append(
            [
                name,
                (f"{cpu:.3f}" if cpu else "-") + backlog,
                f"{cpu / collect:.2f}" if cpu else "-",
                str(run["events_per_second_per_vcpu"]),
                f"{run['vendor_requests']} / {run['events']}",
                f"{e2e['p50_ms']} / {e2e['p95_ms']}{interval}",
            ]
        )
    return rows


COST_MODES_HEADER = [
    "hits/month",
    "push 1 / 3 vendors",
    "batch 1 / 3 vendors",
    "batch 3 vendors, cheaper collect billing",
    "sGTM",
]


def cost_modes_rows(cost: dict) -> list[list[str]]:
    rows = []
    for volume, row in cost["monthly_usd_1_event_hits_evenly_spread"].items():
        best = row["batch_3v_best_collect"]
        sgtm = " – ".join(f"${v:,.0f}" for v in sorted(set(row["sgtm"].values())))
        rows.append(
            [
                volume.replace("_hits", ""),
                f"${row['push_1v']['total']:,.2f} / ${row['push_3v']['total']:,.2f}",
                f"${row['batch_1v']['total']:,.2f} / ${row['batch_3v']['total']:,.2f}",
                f"${best['total']:,.2f} ({row['collect_billing']}: collect ${best['collect']:,.2f}, vendors "
                f"${best['vendors']:,.2f}, Pub/Sub ${best['pubsub']:,.2f})",
                sgtm,
            ]
        )
    return rows


def crossover_lines(cost: dict) -> list[str]:
    c = cost["crossover_million_hits_per_month"]
    fmt = lambda v: "never (1–100,000 M)" if v is None else f"{v:,.0f} M hits/month"  # noqa: E731
    bands = cost.get("batch_3_vendors_above_sgtm_bands") or []
    band_text = ", ".join(f"{a:,.0f}–{'∞' if b is None else f'{b:,.0f}'} M" for a, b in bands) or "none"
    floor = cost["idle_monthly_floor_usd"]
    return [
        f"collect: instance-based billing is cheaper above {fmt(c['collect_instance_billing_wins_above'])}",
        f"3 vendors: batch is cheaper than push above {fmt(c['batch_cheaper_than_push_above_3_vendors'])}",
        f"3 vendors, push: costs more than sGTM above {fmt(c['push_3_vendors_costs_more_than_sgtm_above'])}",
        f"3 vendors, batch (+ cheaper collect billing): more than the cheaper sGTM sizing in {band_text}",
        f"idle floor: push $0; batch ${floor['batch_per_vendor']:.2f} per vendor-month (scheduler job + idle drains); "
        f"instance-based collect ${floor['instance_based_collect']:.2f}",
    ]


def modes_terminal(results: dict) -> str:
    m = results["machine"]
    goals_rows = [
        [name, str(g.get("value")), g.get("goal", ""), "met" if g["met"] else "NOT met"]
        for name, g in results["goals"].items()
    ]
    return "\n".join(
        [
            f"{results['date']} · {m['nproc']} cores · loadavg before {', '.join(f'{x:.2f}' for x in m['loadavg'])}, "
            f"after {', '.join(f'{x:.2f}' for x in m.get('loadavg_after', []))}",
            "",
            "DELIVERY MODES (collect CPU per 1-event hit, same run: "
            f"{results['delivery_modes']['collect_cpu_ms_per_hit']:.3f} ms)",
            _plain(MODES_HEADER, modes_rows(results["delivery_modes"])),
            "",
            "MONTHLY COST, 1-event hits evenly spread (USD)",
            _plain(COST_MODES_HEADER, cost_modes_rows(results["cost"])),
            "",
            *crossover_lines(results["cost"]),
            "",
            "GOALS",
            _plain(["goal", "value", "target", "status"], goals_rows),
        ]
    )
