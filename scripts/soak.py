#!/usr/bin/env python3
"""The load soak of issue 8: a steady request rate through the full chain for N minutes, with a
fault injected halfway, then the audit-log check.

  client threads (fixed rate) -> consumer security server -> provider security server -> backend (nginx)

The network is the benchmark's (`lienthong bench network`: registry and OCSP responder; two
`lienthong server serve` processes; see scripts/bench.py). Halfway through, the provider's
server (or, with --fault consumer, the consumer's) is killed with SIGKILL and started again after
a pause (the fault). Throughout, every
request carries its own X-Road-Id and the script records its status, error type and latency, and
samples both servers' resident memory every few seconds.

At the end both servers stop cleanly and the script checks:
  - every exchange a client got a 200 for is a success in both audit logs, and every refusal is
    in the consumer's log;
  - `lienthong audit verify --ca` passes on both logs;
  - memory is flat: over the last 4 minutes of each server process (the second half of its
    samples if it ran less), RSS grows by no more than --max-growth-mib; a process whose steady
    window is under a minute (a short run) is reported but not judged. The provider keeps the
    message ids of the replay window (limits.replay_window_seconds, 300 s by default), so its RSS
    rises for the first 5 minutes of a process and must level off after.
It prints a report, writes it as JSON (schema schemas/soak-results.schema.json) and, with
--check, exits 1 when a check fails or any request outside the fault window failed.

Run it through scripts/soak.sh, which installs nginx and builds lienthong.
"""
import argparse
import http.client
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the benchmark's process, nginx and network helpers)

ROOT = bench.ROOT


class Recorder:
    """What every request got, and when."""

    def __init__(self):
        self.lock = threading.Lock()
        self.results = []  # (start, latency_s, status or None, error_type, message_id)

    def add(self, *row):
        with self.lock:
            self.results.append(row)

    def snapshot(self):
        with self.lock:
            return list(self.results)


def client(index, rate, threads, stop, network, recorder, started):
    """One client thread: a request every threads/rate seconds, on its own keep-alive connection."""
    url = network.description["consumer_client_url"]
    host, port = url.split("//")[1].split(":")
    path = network.description["service_path"] + "/v1/1k"  # the registered endpoint GET /v1/{id}
    headers = network.header_dict()
    interval = threads / rate
    next_at = started + index * interval / threads
    connection = None
    n = 0
    while not stop.is_set():
        now = time.time()
        if next_at > now:
            time.sleep(next_at - now)
        next_at += interval
        message_id = f"soak-{index}-{n}"
        n += 1
        begin = time.time()
        status, error_type = None, None
        try:
            if connection is None:
                connection = http.client.HTTPConnection(host, int(port), timeout=30)
            connection.request("GET", path, headers={**headers, "X-Road-Id": message_id})
            response = connection.getresponse()
            response.read()
            status = response.status
            error_type = response.getheader("X-Road-Error")
            if response.getheader("Connection", "").lower() == "close":
                connection.close()
                connection = None
        except (OSError, http.client.HTTPException):
            if connection is not None:
                connection.close()
            connection = None
        recorder.add(begin, time.time() - begin, status, error_type, message_id)


def rss_mib(pid):
    return bench.status_kib(pid, "VmRSS") / 1024


def logged_ids(path):
    """message id -> outcomes, from a SQLite audit log."""
    by_id = {}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    for (blob,) in db.execute("select record from leaves where record is not null"):
        record = json.loads(blob)
        if record.get("message_id"):
            by_id.setdefault(record["message_id"], []).append((record.get("outcome"), record.get("status"), record.get("error_type")))
    db.close()
    return by_id


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lienthong", required=True)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=float, default=100, help="requests per second (default 100)")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--fault", choices=["provider", "consumer"], default="provider",
                        help="whose security server is killed with SIGKILL halfway (default provider)")
    parser.add_argument("--fault-pause", type=float, default=5, help="seconds the server stays down (default 5)")
    parser.add_argument("--warmup", type=float, default=30, help="seconds before the first memory sample counts (default 30)")
    parser.add_argument("--max-growth-mib", type=float, default=4,
                        help="largest RSS growth over the steady window: the last 4 minutes of each server process, "
                             "or the second half of its samples if it ran less (default 4)")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "soak-results.json"))
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="lienthong-soak-")
    started_processes = []
    duration = args.minutes * 60
    try:
        bench.log(f"soak: working directory {work}")
        backend_port = bench.free_port()
        backend = bench.start_nginx("backend", bench.backend_conf(work, backend_port), work)
        started_processes.append(backend)
        backend_url = f"http://127.0.0.1:{backend_port}"
        bench.wait_until(lambda: bench.http_get(backend_url + "/1k")[0] == 200, 30, "backend")
        network = bench.LienThongNetwork("soak", args.lienthong, work, backend_url, "p256", None, 60, started_processes)

        recorder = Recorder()
        stop = threading.Event()
        started = time.time()
        threads = [threading.Thread(target=client, args=(i, args.rate, args.threads, stop, network, recorder, started), daemon=True)
                   for i in range(args.threads)]
        for thread in threads:
            thread.start()
        samples = []  # (t, consumer MiB, provider MiB)
        fault = None
        while time.time() - started < duration:
            time.sleep(2)
            elapsed = time.time() - started
            samples.append((elapsed, rss_mib(network.consumer.pid), rss_mib(network.provider.pid)))
            if fault is None and elapsed >= duration / 2:
                role = args.fault
                bench.log(f"soak: fault at {elapsed:.0f} s: kill -9 of the {role}'s server, {args.fault_pause:.0f} s down")
                fault = {"kind": f"{role} security server killed with SIGKILL, then restarted", "at_s": elapsed}
                victim = getattr(network, role)
                os.killpg(victim.popen.pid, signal.SIGKILL)
                victim.popen.wait()
                time.sleep(args.fault_pause)
                restarted = bench.Process(f"soak-{role}-restarted",
                                          [args.lienthong, "server", "serve", "--config", network.description[f"{role}_config"]], work)
                setattr(network, role, restarted)
                started_processes.append(restarted)
                bench.wait_until(lambda: restarted.check_alive() or
                                 bench.http_get(network.description[f"{role}_client_url"] + "/healthz")[0] == 200, 60, f"restarted {role}")
                fault["restarted_at_s"] = time.time() - started
                bench.log(f"soak: {role} back at {fault['restarted_at_s']:.0f} s")
            network.check_alive()
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        results = recorder.snapshot()

        # Stop both servers cleanly (last checkpoints), then check the logs.
        network.consumer.stop()
        network.provider.stop()
        verification = network.audit_verify()
        consumer_ids = logged_ids(os.path.join(json.load(open(network.description["consumer_config"]))["data_directory"], "audit.sqlite"))
        provider_ids = logged_ids(os.path.join(json.load(open(network.description["provider_config"]))["data_directory"], "audit.sqlite"))
        missing = []
        for begin, latency, status, error_type, message_id in results:
            if status == 200:
                if not any(o == "success" for o, _, _ in consumer_ids.get(message_id, [])):
                    missing.append(f"{message_id}: 200 not in the consumer's log")
                if not any(o == "success" for o, _, _ in provider_ids.get(message_id, [])):
                    missing.append(f"{message_id}: 200 not in the provider's log")
            elif status is not None:
                if not any(s == status and e == error_type for _, s, e in consumer_ids.get(message_id, [])):
                    missing.append(f"{message_id}: {status} {error_type} not in the consumer's log")

        # Figures.
        # Requests in flight when the provider was killed began up to a moment before it.
        fault_from = fault["at_s"] - 2 if fault else duration
        fault_to = (fault.get("restarted_at_s", fault_from) + 5) if fault else duration
        def window(rows, lo, hi):
            return [r for r in rows if lo <= r[0] - started < hi]
        outside = window(results, 0, fault_from) + window(results, fault_to, duration + 60)
        during = window(results, fault_from, fault_to)
        ok_latencies = [r[1] * 1000 for r in results if r[2] == 200]
        errors_outside = [r for r in outside if r[2] != 200]
        errors_by_type = {}
        for r in results:
            if r[2] != 200:
                key = r[3] or ("no answer" if r[2] is None else f"HTTP {r[2]}")
                errors_by_type[key] = errors_by_type.get(key, 0) + 1
        per_minute = []
        for minute in range(int(duration // 60) + 1):
            rows = window(results, minute * 60, (minute + 1) * 60)
            lat = [r[1] * 1000 for r in rows if r[2] == 200]
            if rows:
                per_minute.append({"minute": minute, "requests": len(rows), "ok": sum(1 for r in rows if r[2] == 200),
                                   "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99)})

        def growth(column, since):
            """RSS of one server process from `since` on: first, last, max, and the growth over the steady window."""
            points = [p for p in samples if p[0] >= since and p[column] > 0]
            if len(points) < 2:
                return None
            steady_from = max(points[-1][0] - 240, (points[0][0] + points[-1][0]) / 2)
            steady = [p for p in points if p[0] >= steady_from]
            return {"since_s": round(since, 1), "first_mib": round(points[0][column], 1), "last_mib": round(points[-1][column], 1),
                    "max_mib": round(max(p[column] for p in points), 1), "growth_mib": round(points[-1][column] - points[0][column], 1),
                    "steady_window_s": round(points[-1][0] - steady[0][0], 1),
                    "steady_growth_mib": round(steady[-1][column] - steady[0][column], 1)}
        restarted_at = fault.get("restarted_at_s", 0) if fault else 0
        consumer_memory = growth(1, (restarted_at if args.fault == "consumer" else 0) + args.warmup)
        provider_memory = growth(2, (restarted_at if args.fault == "provider" else 0) + args.warmup)
        # Judged only over a steady window of a minute or more: a short run (CI's) measures a
        # process that has just started, and reports the figures without a verdict.
        judged = [m for m in (consumer_memory, provider_memory) if m is not None and m["steady_window_s"] >= 60]
        memory_flat = all(m["steady_growth_mib"] <= args.max_growth_mib for m in judged) if judged else None

        report = {
            "minutes": args.minutes, "rate_per_s": args.rate, "threads": args.threads,
            "requests": len(results), "ok": sum(1 for r in results if r[2] == 200),
            "errors_outside_fault": len(errors_outside), "errors_during_fault": sum(1 for r in during if r[2] != 200),
            "errors_by_type": errors_by_type,
            "latency_ms": {"p50": percentile(ok_latencies, 50), "p99": percentile(ok_latencies, 99), "max": max(ok_latencies, default=None)},
            "per_minute": per_minute,
            "fault": fault,
            "memory": {"consumer": consumer_memory, "provider": provider_memory, "flat": memory_flat,
                       "max_growth_mib": args.max_growth_mib, "samples": [[round(t, 1), round(c, 1), round(p, 1)] for t, c, p in samples]},
            "audit": {"missing": len(missing), "missing_examples": missing[:10],
                      "verify": verification, "consumer_records": sum(len(v) for v in consumer_ids.values()),
                      "provider_records": sum(len(v) for v in provider_ids.values())},
            "machine": bench.machine(),
        }
        bench.check_schema(report, "soak-results.schema.json")
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out + ".tmp", "w") as f:
            json.dump(report, f, indent=2)
        os.replace(args.out + ".tmp", args.out)

        print(f"soak: {report['requests']} requests in {args.minutes:g} min at {args.rate:g}/s, {report['ok']} × 200")
        print(f"  errors outside the fault window: {report['errors_outside_fault']}; during it: {report['errors_during_fault']}; by type: {errors_by_type}")
        print(f"  latency of 200s: p50 {report['latency_ms']['p50']:.1f} ms, p99 {report['latency_ms']['p99']:.1f} ms, max {report['latency_ms']['max']:.1f} ms")
        for m in per_minute:
            print(f"    minute {m['minute']:>2}: {m['requests']:>6} requests, {m['ok']:>6} × 200, p50 {m['p50_ms'] or 0:.1f} ms, p99 {m['p99_ms'] or 0:.1f} ms")
        for name, m in (("consumer", consumer_memory), ("provider", provider_memory)):
            if m:
                print(f"  memory, {name} (from {m['since_s']:.0f} s): {m['first_mib']} -> {m['last_mib']} MiB (max {m['max_mib']}), "
                      f"{m['steady_growth_mib']:+} MiB over the last {m['steady_window_s']:.0f} s")
        verdict = "not judged (no steady window of 60 s)" if memory_flat is None else ("flat" if memory_flat else "GROWING")
        print(f"  memory: {verdict} (steady-window growth limit {args.max_growth_mib} MiB)")
        print(f"  audit: {len(missing)} answered exchanges missing from the logs; verify: "
              + ", ".join(f"{k} {'ok' if v['ok'] else 'FAILED'}" for k, v in verification.items()))
        print(f"  written to {args.out}")
        failed = missing or not all(v["ok"] for v in verification.values()) or memory_flat is False or errors_outside
        if args.check and failed:
            print("soak: CHECK FAILED", file=sys.stderr)
            return 1
        return 0
    finally:
        for process in reversed(started_processes):
            try:
                process.stop()
            except Exception:  # best effort on the way out
                pass


if __name__ == "__main__":
    sys.exit(main())
