#!/usr/bin/env python3
"""What bench/cluster-scale.sh measures, from what it wrote into its work directory.

  sample WORK   every 2 s until killed: each node's CPU seconds and RSS (/proc), each NATS
                server's message and byte counters (/varz), and the presence members the cluster
                lists (sum of user_count over presence channels, through a live node); one JSON
                line each into WORK/samples.jsonl.
  report WORK   one JSON report: the steady phase (deliveries/s, latency, CPU per delivery summed
                over the nodes, RSS per connection on each node, NATS bytes and messages per
                publish), the kill -9 (time until every client is subscribed again, peak CPU and
                RSS of the survivors, time until the dead node's presence members are gone), the
                rolling restart, and lost and duplicated deliveries over the whole run.
Standard library only.
"""
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.request

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
NATS_MONITORS = (18301, 18302, 18303)


def nodes(work):
    """The run's node numbers (node N listens on 6800 + N and writes nodeN.pid), in order."""
    return sorted(int(f[4:-4]) for f in os.listdir(work) if f.startswith("node") and f.endswith(".pid"))


def node_sample(work, n):
    try:
        pid = int(open(f"{work}/node{n}.pid").read())
        stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        rss = int(open(f"/proc/{pid}/statm").read().split()[1]) * PAGE
        return {"pid": pid, "cpu_s": (int(stat[11]) + int(stat[12])) / TICK, "rss": rss}
    except (OSError, ValueError, IndexError):
        return None


def nats_sample(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/varz", timeout=1) as r:
            v = json.load(r)
        return {k: v[k] for k in ("in_msgs", "out_msgs", "in_bytes", "out_bytes")}
    except OSError:
        return None


def presence_members(work):
    """The sum of user_count over presence channels, asked of the first node that answers."""
    path = "/apps/1/channels"
    for port in (6800 + n for n in nodes(work)):
        params = f"auth_key=scale-key&auth_timestamp={int(time.time())}&auth_version=1.0&filter_by_prefix=presence-&info=user_count"
        sig = hmac.new(b"scale-secret", f"GET\n{path}\n{params}".encode(), hashlib.sha256).hexdigest()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}?{params}&auth_signature={sig}", timeout=2) as r:
                channels = json.load(r)["channels"]
            return sum(c.get("user_count", 0) for c in channels.values())
        except (OSError, KeyError, ValueError):
            continue
    return None


def sample(work):
    with open(f"{work}/samples.jsonl", "a") as out:
        while True:
            line = {
                "unix_ms": int(time.time() * 1000),
                "nodes": {n: node_sample(work, n) for n in nodes(work)},
                "nats": [nats_sample(p) for p in NATS_MONITORS],
                "presence_members": presence_members(work),
            }
            out.write(json.dumps(line) + "\n")
            out.flush()
            time.sleep(2)


def lines(path):
    try:
        with open(path) as f:
            for text in f:
                try:
                    yield json.loads(text)
                except ValueError:
                    pass
    except OSError:
        return


def events(work):
    out = []
    for text in open(f"{work}/events.log"):
        ms, what = text.split(" ", 1)
        out.append((int(ms), what.strip()))
    return out


def at(evts, prefix):
    return next((ms for ms, what in evts if what.startswith(prefix)), None)


def swarm_status(work):
    """Per swarm process, its status lines (sorted by time)."""
    procs = []
    p = 0
    while os.path.exists(f"{work}/swarm-{p}.log"):
        procs.append([x for x in lines(f"{work}/swarm-{p}.log") if x.get("status")])
        p += 1
    return procs


def sum_at(procs, ms, key):
    """The sum over processes of counts[key] in each one's last status line at or before ms."""
    total = 0
    for status in procs:
        before = [s for s in status if s["unix_ms"] <= ms]
        if before:
            total += before[-1]["counts"][key]
    return total


def first_time_all(procs, after_ms, key, want):
    """The first status time after after_ms at which counts[key] summed over processes reaches want."""
    times = sorted({s["unix_ms"] for status in procs for s in status if s["unix_ms"] > after_ms})
    return next((t for t in times if sum_at(procs, t, key) >= want), None)


def report(work):
    evts = events(work)
    procs = swarm_status(work)
    finals = [x for p in range(len(procs)) for x in lines(f"{work}/swarm-{p}.log") if x.get("final")]
    publisher = [x for x in lines(f"{work}/publisher.log") if x.get("final")]
    samples = list(lines(f"{work}/samples.jsonl"))
    connections = sum(f["connections"] for f in finals) or None
    t_pub, t_kill = at(evts, "publishing:"), at(evts, "kill -9")
    t_end = t_kill or at(evts, "publishing over")  # the first fault, or the end of a run without
    # the steady window skips the first 15 s of publishing; a STEADY below about 20 s leaves none
    steady = (t_pub + 15000, t_end - 1000) if t_pub and t_end and t_end - t_pub > 20000 else None

    out = {"connections": connections, "events": [f"+{(ms - evts[0][0]) / 1000:.1f}s {w}" for ms, w in evts]}
    if steady:
        s0 = min((s for s in samples if s["unix_ms"] >= steady[0]), key=lambda s: s["unix_ms"], default=None)
        s1 = max((s for s in samples if s["unix_ms"] <= steady[1]), key=lambda s: s["unix_ms"], default=None)
        d0, d1 = sum_at(procs, s0["unix_ms"], "delivered"), sum_at(procs, s1["unix_ms"], "delivered")
        secs = (s1["unix_ms"] - s0["unix_ms"]) / 1000
        cpu = sum(s1["nodes"][n]["cpu_s"] - s0["nodes"][n]["cpu_s"] for n in s0["nodes"])
        pubs = [x for x in lines(f"{work}/publisher.log") if x.get("status") and steady[0] <= x["unix_ms"] <= steady[1]]
        published = (pubs[-1]["published"] - pubs[0]["published"]) if len(pubs) > 1 else None
        nats_bytes = sum((b["in_bytes"] + b["out_bytes"]) - (a["in_bytes"] + a["out_bytes"])
                         for a, b in zip(s0["nats"], s1["nats"]) if a and b)
        nats_msgs = sum((b["in_msgs"] + b["out_msgs"]) - (a["in_msgs"] + a["out_msgs"])
                        for a, b in zip(s0["nats"], s1["nats"]) if a and b)
        windows = [s for st in procs for s in st if steady[0] <= s["unix_ms"] <= steady[1] and s.get("latency_ms")]
        pub_secs = (pubs[-1]["unix_ms"] - pubs[0]["unix_ms"]) / 1000 if len(pubs) > 1 else None
        out["steady"] = {
            "seconds": secs,
            "deliveries_per_sec": (d1 - d0) / secs,
            "publishes_per_sec": published / pub_secs if published and pub_secs else None,
            "latency_ms_worst_window": {q: max(w["latency_ms"][q] for w in windows) for q in ("p50", "p99", "p999", "max")} if windows else None,
            "latency_ms_median_window": {q: sorted(w["latency_ms"][q] for w in windows)[len(windows) // 2] for q in ("p50", "p99", "p999")} if windows else None,
            "node_cpu_us_per_delivery": cpu * 1e6 / max(1, d1 - d0),
            "node_cpu_percent": {n: 100 * (s1["nodes"][n]["cpu_s"] - s0["nodes"][n]["cpu_s"]) / secs for n in s0["nodes"]},
            "node_rss_mib": {n: s1["nodes"][n]["rss"] / 2**20 for n in s1["nodes"]},
            "node_rss_kib_per_connection": {n: s1["nodes"][n]["rss"] / 1024 / (connections / len(s1["nodes"])) for n in s1["nodes"]} if connections else None,
            "nats_bytes_per_publish": nats_bytes / published if published else None,
            "nats_messages_per_publish": nats_msgs / published if published else None,
        }
    if t_kill:
        back = first_time_all(procs, t_kill + 100, "subscribed", connections or 0)
        during = [s for s in samples if t_kill <= s["unix_ms"] <= t_kill + 30000]
        survivors = [str(n) for n in nodes(work) if n != 1]
        members = [(s["unix_ms"], s["presence_members"]) for s in samples if s["presence_members"] is not None]
        before = next((m for ms, m in reversed(members) if ms < t_kill), None)
        t_next = at(evts, "SIGTERM") or float("inf")  # the kill's window ends where the rolling restart begins
        after = [(ms, m) for ms, m in members if t_kill <= ms < t_next]
        peak_ms, peak = max(after, key=lambda x: x[1], default=(None, None))
        gone = next((ms for ms, m in after if peak_ms and ms > peak_ms and m <= before), None) if before is not None else None
        cpu = [100 * (b["nodes"][n]["cpu_s"] - a["nodes"][n]["cpu_s"]) / ((b["unix_ms"] - a["unix_ms"]) / 1000)
               for a, b in zip(during, during[1:]) for n in survivors if a["nodes"].get(n) and b["nodes"].get(n)]
        out["kill"] = {
            "subscribed_again_s": (back - t_kill) / 1000 if back else None,
            "peak_cpu_percent_one_survivor": max(cpu, default=None),
            "peak_rss_mib_survivors": max((s["nodes"][n]["rss"] / 2**20 for s in during for n in survivors if s["nodes"].get(n)), default=None),
            "presence_members_before": before,
            "presence_members_peak": peak,
            "dead_members_gone_s": (gone - t_kill) / 1000 if gone else None,
        }
    rolls = []
    for n in nodes(work)[1:]:
        t_term, t_exit = at(evts, f"SIGTERM node{n}"), at(evts, f"node{n} exited")
        if t_term:
            back = first_time_all(procs, t_term + 100, "subscribed", connections or 0)
            rolls.append({"node": n, "exit_s": (t_exit - t_term) / 1000 if t_exit else None,
                          "subscribed_again_s": (back - t_term) / 1000 if back else None})
    out["rolling_restart"] = rolls
    totals = {k: sum(f["counts"].get(k, 0) for f in finals) for k in ("delivered", "duplicates", "gaps", "reconnects", "recovered_true", "recovered_false", "errors", "told_to_reconnect")}
    out["whole_run"] = {**totals, "lost_at_end": sum(f["lost_at_end"] or 0 for f in finals),
                        "swarm_processes_finished": len(finals), "publisher": publisher[-1] if publisher else None}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    {"sample": sample, "report": report}[sys.argv[1]](sys.argv[2])
