#!/usr/bin/env python3
"""Turns the JSON lines of bench/compare.sh into markdown tables: the median of the runs of each
scenario and server, and Herald's figure as a fraction of sockudo's."""
import json
import statistics
import sys
from collections import defaultdict

COLUMNS = {
    "saturation": [("deliveries/s", "deliveries_per_sec", "{:,.0f}"),
                   ("server CPU µs/delivery", "server_cpu_us_per_delivery", "{:.2f}"),
                   ("p99 ms", "latency_ms.p99", "{:.1f}"),
                   ("lost", "lost", "{:.0f}"), ("duplicated", "duplicated", "{:.0f}")],
    "latency": [("p50 ms", "latency_ms.p50", "{:.2f}"), ("p90 ms", "latency_ms.p90", "{:.2f}"),
                ("p99 ms", "latency_ms.p99", "{:.2f}"), ("p999 ms", "latency_ms.p999", "{:.2f}"),
                ("first delivery p50 ms", "first_delivery_ms.p50", "{:.2f}"),
                ("fan-out spread p50 ms", "fanout_spread_ms.p50", "{:.2f}"),
                ("fan-out spread p99 ms", "fanout_spread_ms.p99", "{:.2f}"),
                ("to arrival p50 ms", "arrival.latency_ms.p50", "{:.2f}"),
                ("to arrival p99 ms", "arrival.latency_ms.p99", "{:.2f}"),
                ("arrival spread p99 ms", "arrival.fanout_spread_ms.p99", "{:.2f}"),
                ("lost", "lost", "{:.0f}"), ("duplicated", "duplicated", "{:.0f}")],
    "publish": [("publishes/s", "publishes_per_sec", "{:,.0f}"),
                ("server CPU µs/publish", "server_cpu_us_per_publish", "{:.1f}"),
                ("load tool CPU µs/publish", "load_tool_cpu_us_per_publish", "{:.1f}"),
                ("p50 ms", "latency_ms.p50", "{:.2f}"), ("p99 ms", "latency_ms.p99", "{:.2f}"),
                ("failed", "failed", "{:.0f}")],
    "idle": [("KiB per connection", "rss_per_connection_kib", "{:.1f}"),
             ("RSS after MiB", "rss_after_mib", "{:.1f}"), ("alive", "alive_after_hold", "{:.0f}")],
}
COLUMNS["cross-saturation"] = COLUMNS["saturation"]
COLUMNS["cross-latency"] = COLUMNS["latency"]


def field(run, path):
    value = run
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def main(path):
    runs = defaultdict(list)
    with open(path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                runs[(r["name"], r["server"])].append(r)
    for name in dict.fromkeys(n for n, _ in runs):
        columns = COLUMNS.get(name, [])
        print(f"\n### {name} (median of {len(runs[(name, 'herald')])} runs)\n")
        print("| server | " + " | ".join(c[0] for c in columns) + " |")
        print("|---|" + "---|" * len(columns))
        medians = {}
        for server in ("herald", "sockudo"):
            cells = []
            for label, key, fmt in columns:
                values = [v for v in (field(r, key) for r in runs[(name, server)]) if v is not None]
                m = statistics.median(values) if values else None
                medians[(server, key)] = m
                cells.append(fmt.format(m) if m is not None else "")
            print(f"| {server} | " + " | ".join(cells) + " |")
        ratios = []
        for label, key, fmt in columns:
            h, s = medians.get(("herald", key)), medians.get(("sockudo", key))
            ratios.append(f"{h / s:.2f}×" if h is not None and s else "")
        print("| Herald ÷ sockudo | " + " | ".join(ratios) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
