#!/usr/bin/env python3
"""The relay benchmark of docs/performance.md, in one run and in alternation:

  (a) direct      wrk -> backend (nginx, 1 worker, fixed 1 KiB / 64 KiB JSON answers)
  (b) nginx relay wrk -> nginx A (HTTP) -> mutual TLS 1.3 -> nginx B -> backend (1 worker each,
                  upstream keep-alive, TLS session reuse): the "no signatures, no log" limit
  (c) LienThong   wrk -> consumer security server -> provider security server -> backend: signed
                  both ways with OCSP stapled, agreement checks, durable audit records on both
                  sides; SQLite (P-256 and RSA-2048 member keys) and PostgreSQL variants

Every case runs at each connection count and body size, with a warm-up and N repetitions, in an
order that rotates per repetition. It reports medians of req/s, p50 and p99, and each server's
peak RSS, prints a table, writes bench/results.json, and computes c/b and c/a from this run.
Then it measures the provider's memory under 1,000 concurrent client connections and a 100 MiB
request body streamed through the chain.

Run it through scripts/bench.sh, which installs nginx and wrk and builds lienthong in release mode.
"""
import argparse
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KIB = 1024

WRK_LUA = r"""
done = function(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def check_schema(document, name):
    """Validates `document` against schemas/NAME when Python's jsonschema is installed (scripts/test.sh installs it)."""
    try:
        import jsonschema
    except ImportError:
        return
    with open(os.path.join(ROOT, "schemas", name)) as f:
        schema = json.load(f)
    try:
        jsonschema.validate(document, schema)
    except jsonschema.ValidationError as error:
        raise SystemExit(f"bench: the document does not match schemas/{name}: {error.message}")


def log(message):
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout, what):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            if check():
                return
        except Exception as error:  # not up yet
            last = error
        time.sleep(0.2)
    raise SystemExit(f"bench: {what} did not come up in {timeout} s ({last})")


def http_get(url, headers=None, timeout=5):
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, response.read()


def status_kib(pid, field):
    """A /proc/PID/status memory field (VmHWM, VmRSS) in KiB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_peak(pid):
    """Resets VmHWM to the current RSS (Linux clear_refs 5), so each case has its own peak."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


class Process:
    """A child process with its output in a log file, stopped with SIGTERM (then SIGKILL)."""

    def __init__(self, name, argv, directory, env=None):
        self.name = name
        self.log_path = os.path.join(directory, f"{name}.log")
        self.log = open(self.log_path, "w")
        self.popen = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    @property
    def pid(self):
        return self.popen.pid

    def check_alive(self):
        if self.popen.poll() is not None:
            raise SystemExit(f"bench: {self.name} exited with {self.popen.returncode}; see {self.log_path}:\n"
                             + open(self.log_path).read()[-3000:])

    def stop(self):
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        self.log.close()


# ---------------------------------------------------------------- nginx


def json_body(size, marker):
    """A JSON document of exactly `size` bytes."""
    head = '{"id":"VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan","status":"ok","synthetic":true,"' + marker + '":"'
    tail = '"}'
    return head + "x" * (size - len(head) - len(tail)) + tail


def nginx_common(name, run):
    tmp = os.path.join(run, name, "tmp")
    os.makedirs(tmp, exist_ok=True)
    return f"""
worker_processes 1;
worker_rlimit_nofile 16384;
pid {run}/{name}/nginx.pid;
error_log {run}/{name}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path       {tmp}/proxy;
    fastcgi_temp_path     {tmp}/fastcgi;
    uwsgi_temp_path       {tmp}/uwsgi;
    scgi_temp_path        {tmp}/scgi;
    server_tokens off;
    keepalive_timeout 65s;
    keepalive_requests 1000000;
"""


PROXY_LOCATION = """
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffer_size 8k;
            proxy_buffers 16 8k;
            proxy_max_temp_file_size 0;
"""


def backend_conf(run, port):
    chunk = json_body(KIB, "p")[:-2]  # 1 KiB minus the closing '"}'
    piece = "y" * (KIB - 2)
    # 64 KiB: '{"items":"' + 63 pieces + filler + '"}', assembled from variables (nginx limits one token).
    items_head = '{"items":"'
    rest = 64 * KIB - len(items_head) - 2 - 63 * len(piece)
    return nginx_common("backend", run) + f"""
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        default_type application/json;
        client_max_body_size 0;
        location ~ /64k$ {{
            set $i '{piece}';
            set $last '{'z' * rest}';
            return 200 '{items_head}{'$i' * 63}$last"}}';
        }}
        location / {{
            return 200 '{chunk}"}}';
        }}
    }}
}}
"""


def proxy_b_conf(run, port, backend_port, pki):
    return nginx_common("proxyB", run) + f"""
    upstream backend {{
        server 127.0.0.1:{backend_port};
        keepalive 128;
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{port} ssl reuseport backlog=4096;
        ssl_certificate         {pki}/server.crt;
        ssl_certificate_key     {pki}/server.key;
        ssl_client_certificate  {pki}/ca.crt;
        ssl_verify_client       on;
        ssl_verify_depth        2;
        ssl_protocols           TLSv1.2 TLSv1.3;
        ssl_session_cache       shared:SSLB:10m;
        ssl_session_timeout     1h;
        client_max_body_size 0;
        location / {{
            proxy_pass http://backend;{PROXY_LOCATION}
        }}
    }}
}}
"""


def proxy_a_conf(run, port, b_port, pki):
    return nginx_common("proxyA", run) + f"""
    upstream ssb {{
        server 127.0.0.1:{b_port};
        keepalive 128;
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        client_max_body_size 0;
        location / {{
            proxy_pass https://ssb;
            proxy_ssl_certificate         {pki}/client.crt;
            proxy_ssl_certificate_key     {pki}/client.key;
            proxy_ssl_trusted_certificate {pki}/ca.crt;
            proxy_ssl_verify              on;
            proxy_ssl_verify_depth        2;
            proxy_ssl_name                ss-b.test;
            proxy_ssl_server_name         on;
            proxy_ssl_protocols           TLSv1.2 TLSv1.3;
            proxy_ssl_session_reuse       on;{PROXY_LOCATION}
        }}
    }}
}}
"""


def relay_pki(directory):
    """A throw-away P-256 CA, a server certificate for ss-b.test and a client certificate."""
    os.makedirs(directory, exist_ok=True)

    def run(*argv):
        subprocess.run(argv, cwd=directory, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key")
    run("openssl", "req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=bench relay CA (throw-away)", "-days", "2", "-out", "ca.crt")
    for name, extension in (("server", "subjectAltName=DNS:ss-b.test\nextendedKeyUsage=serverAuth"),
                            ("client", "extendedKeyUsage=clientAuth")):
        with open(os.path.join(directory, f"{name}.ext"), "w") as f:
            f.write(extension + "\n")
        run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key")
        run("openssl", "req", "-new", "-key", f"{name}.key", "-subj", f"/CN={name}", "-out", f"{name}.csr")
        run("openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt")
    return directory


def start_nginx(name, conf_text, work):
    path = os.path.join(work, f"{name}.conf")
    with open(path, "w") as f:
        f.write(conf_text)
    process = Process(name, ["nginx", "-c", path, "-g", "daemon off;"], work)
    return process


# ---------------------------------------------------------------- PostgreSQL


def find_pg_bin():
    candidates = [os.environ.get("LIENTHONG_PG_BIN", "")] + sorted(
        (os.path.join("/usr/lib/postgresql", v, "bin") for v in (os.listdir("/usr/lib/postgresql") if os.path.isdir("/usr/lib/postgresql") else [])),
        reverse=True)
    for directory in candidates:
        if directory and os.path.exists(os.path.join(directory, "initdb")):
            return directory
    return None


class Postgres:
    """A throw-away PostgreSQL server with default durability (fsync=on, synchronous_commit=on)."""

    def __init__(self, work):
        self.bin = find_pg_bin()
        if not self.bin:
            raise SystemExit("bench: PostgreSQL server binaries not found (apt-get install postgresql, or --no-postgres)")
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.dir = tempfile.mkdtemp(prefix="lienthong-bench-pg-", dir="/tmp")
        if self.as_postgres:
            shutil.chown(self.dir, "postgres")
        self.port = free_port()
        pg = lambda tool: os.path.join(self.bin, tool)
        try:
            subprocess.run(self.as_postgres + [pg("initdb"), "-D", f"{self.dir}/data", "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C"],
                           check=True, stdout=subprocess.DEVNULL)
            subprocess.run(self.as_postgres + [pg("pg_ctl"), "-D", f"{self.dir}/data", "-l", f"{self.dir}/postgres.log", "-w", "-t", "60",
                                               "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200", "start"],
                           check=True, stdout=subprocess.DEVNULL)
            for database in ("lienthong_consumer", "lienthong_provider"):
                subprocess.run([pg("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", database], check=True)
        except (subprocess.CalledProcessError, OSError):
            self.stop()   # the cluster, if it started, and its directory
            raise
        self.url = f"postgres://postgres@127.0.0.1:{self.port}"

    def postmaster_pid(self):
        try:
            with open(f"{self.dir}/data/postmaster.pid") as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def stop(self):
        subprocess.run(self.as_postgres + [os.path.join(self.bin, "pg_ctl"), "-D", f"{self.dir}/data", "-m", "immediate", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------- LienThong


class LienThongNetwork:
    """`lienthong bench network` (registry + OCSP) and two `lienthong server serve` processes."""

    def __init__(self, name, lienthong, work, backend_url, key_algorithm, postgres_url, checkpoint_interval, started,
                 variant=None, binary="current"):
        """Starts everything; each process is added to `started` at once, so that a failure part-way still stops it.

        Every process of the network (registry, OCSP, both servers) and its `audit verify` run the same `lienthong`
        binary: a baseline binary built from another commit gets a network of its own, never mixed with the current one
        (the two may speak different inter-server protocol versions)."""
        self.name = name
        self.variant = variant or name      # the case this network measures, e.g. lienthong-sqlite-p256
        self.binary = binary                # "current" or "baseline"
        self.lienthong = lienthong
        self.dir = os.path.join(work, name)
        argv = [lienthong, "bench", "network", "--dir", self.dir, "--key-algorithm", key_algorithm,
                "--backend-url", backend_url, "--checkpoint-interval", str(checkpoint_interval)]
        if postgres_url:
            argv += ["--postgres", postgres_url]
        os.makedirs(self.dir, exist_ok=True)
        self.control = Process(f"{name}-registry", argv, work)
        started.append(self.control)
        description = os.path.join(self.dir, "bench-network.json")
        wait_until(lambda: self.control.check_alive() or os.path.exists(description), 120, f"{name}: lienthong bench network")
        time.sleep(0.2)
        with open(description) as f:
            self.description = json.load(f)
        check_schema(self.description, "bench-network.schema.json")
        self.provider = Process(f"{name}-provider", [lienthong, "server", "serve", "--config", self.description["provider_config"]], work)
        started.append(self.provider)
        self.consumer = Process(f"{name}-consumer", [lienthong, "server", "serve", "--config", self.description["consumer_config"]], work)
        started.append(self.consumer)
        for server, url in ((self.provider, self.description["provider_client_url"]), (self.consumer, self.description["consumer_client_url"])):
            wait_until(lambda: server.check_alive() or http_get(url + "/healthz")[0] == 200, 120, f"{name}: {server.name} /healthz")
        status, _ = http_get(self.url(KIB), self.header_dict(), timeout=30)
        if status != 200:
            raise SystemExit(f"bench: {name}: a first exchange answered {status}")

    def url(self, size):
        # GET /v1/{id} is the service's registered endpoint (lienthong bench network); the backend answers by the last segment.
        return self.description["consumer_client_url"] + self.description["service_path"] + ("/v1/64k" if size == 64 * KIB else "/v1/1k")

    def header_dict(self):
        return {"X-Road-Client": self.description["client"], "X-LienThong-Purpose": self.description["purpose"]}

    def pids(self):
        return {"consumer": [self.consumer.pid], "provider": [self.provider.pid]}

    def check_alive(self):
        for process in (self.control, self.provider, self.consumer):
            process.check_alive()

    def audit_verify(self):
        """`lienthong audit verify` (with this network's own binary) on both servers' logs, against the instance root CA."""
        results = {}
        root = os.path.join(self.dir, "pki", "ca", "root.crt")
        for role in ("consumer", "provider"):
            with open(self.description[f"{role}_config"]) as f:
                config = json.load(f)
            argv = [self.lienthong, "audit", "verify", "--ca", root]
            postgres_url = config.get("audit", {}).get("postgres_url")
            if postgres_url:
                argv += ["--postgres", postgres_url, "--partition", config["server_id"] + "/" + config.get("audit", {}).get("node", "default")]
            else:
                argv.append(os.path.join(config["data_directory"], "audit.sqlite"))
            done = subprocess.run(argv, capture_output=True, text=True)
            results[role] = {"ok": done.returncode == 0, "output": (done.stdout + done.stderr).strip().splitlines()[-1:]}
        return results

    def stop(self):
        for process in (self.consumer, self.provider, self.control):
            process.stop()


# ---------------------------------------------------------------- wrk


def run_wrk(url, connections, seconds, headers, lua):
    threads = 1 if connections == 1 else 2
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s", "-s", lua]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    argv.append(url)
    done = subprocess.run(argv, capture_output=True, text=True)
    match = re.search(r"WRKJSON (\{.*\})", done.stdout)
    if done.returncode != 0 or not match:
        raise SystemExit(f"bench: wrk failed on {url}:\n{done.stdout}\n{done.stderr}")
    result = json.loads(match.group(1))
    seconds_measured = result["duration_us"] / 1e6
    errors = result["connect"] + result["read"] + result["write"] + result["status"] + result["timeout"]
    return {"rps": result["requests"] / seconds_measured, "p50_ms": result["p50_us"] / 1000, "p99_ms": result["p99_us"] / 1000,
            "requests": result["requests"], "errors": errors, "non_2xx": result["status"]}


def peak_mib(pids):
    return round(sum(status_kib(p, "VmHWM") for p in pids) / 1024, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lienthong", required=True, help="the release lienthong binary")
    parser.add_argument("--baseline-bin", metavar="PATH",
                        help="a lienthong binary built from another commit (e.g. the previous one, in a second clone): every "
                             "LienThong case also runs on a network of this binary's own, measured in alternation with the "
                             "current one (same wrk settings); the results give current/baseline per case")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up before each run (default 2)")
    parser.add_argument("--repetitions", type=int, default=3, help="repetitions of the whole matrix (default 3)")
    parser.add_argument("--connections", default="1,16,64")
    parser.add_argument("--sizes", default="1,64", help="response body sizes in KiB (default 1,64)")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL variant")
    parser.add_argument("--no-rsa", action="store_true", help="skip the RSA-2048 variant")
    parser.add_argument("--no-extras", action="store_true", help="skip the 1,000-connection and 100 MiB body measurements")
    parser.add_argument("--checkpoint-interval", type=int, default=60)
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results.json"))
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if any LienThong run had an error, the 100 MiB body failed, or an audit log does not verify "
                             "(the CI smoke run; the targets are reported, not enforced)")
    args = parser.parse_args()
    binaries = {"current": binary_description(args.lienthong)}
    if args.baseline_bin:
        if not (os.path.isfile(args.baseline_bin) and os.access(args.baseline_bin, os.X_OK)):
            raise SystemExit(f"bench: --baseline-bin {args.baseline_bin}: not an executable file")
        binaries["baseline"] = binary_description(args.baseline_bin)
        if os.path.realpath(args.baseline_bin) == os.path.realpath(args.lienthong):
            log("bench: warning: --baseline-bin is the same file as --lienthong")

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    work = tempfile.mkdtemp(prefix="lienthong-bench-")
    lua = os.path.join(work, "report.lua")
    with open(lua, "w") as f:
        f.write(WRK_LUA)
    connections = [int(c) for c in args.connections.split(",")]
    sizes = [int(s) * KIB for s in args.sizes.split(",")]
    started = []
    postgres = None
    postgres_baseline = None
    try:
        log(f"bench: working directory {work}")
        pki = relay_pki(os.path.join(work, "relay-pki"))
        backend_port, a_port, b_port = free_port(), free_port(), free_port()
        backend = start_nginx("backend", backend_conf(work, backend_port), work)
        started.append(backend)
        proxy_b = start_nginx("proxyB", proxy_b_conf(work, b_port, backend_port, pki), work)
        started.append(proxy_b)
        proxy_a = start_nginx("proxyA", proxy_a_conf(work, a_port, b_port, pki), work)
        started.append(proxy_a)
        backend_url = f"http://127.0.0.1:{backend_port}"
        for name, url in (("backend", backend_url), ("nginx relay", f"http://127.0.0.1:{a_port}")):
            wait_until(lambda: http_get(url + "/1k")[0] == 200 and len(http_get(url + "/64k")[1]) == 64 * KIB, 30, name)
        assert len(http_get(backend_url + "/1k")[1]) == KIB

        networks = []
        variants = [("lienthong-sqlite-p256", "p256", None)]
        if not args.no_rsa:
            variants.append(("lienthong-sqlite-rsa2048", "rsa2048", None))
        if not args.no_postgres:
            postgres = Postgres(work)
            variants.append(("lienthong-postgres-p256", "p256", postgres.url))
        for name, key, pg_url in variants:
            log(f"bench: starting {name}")
            network = LienThongNetwork(name, args.lienthong, work, backend_url, key, pg_url, args.checkpoint_interval, started)
            networks.append(network)
            if args.baseline_bin:
                # Its own registry, OCSP responder, servers and (for PostgreSQL) databases: never mixed with the current one.
                baseline_pg = None
                if pg_url:
                    baseline_pg = postgres_baseline or Postgres(work)
                    postgres_baseline = baseline_pg
                    baseline_pg = baseline_pg.url
                log(f"bench: starting {name}{BASELINE_SUFFIX} (baseline binary)")
                networks.append(LienThongNetwork(name + BASELINE_SUFFIX, args.baseline_bin, work, backend_url, key, baseline_pg,
                                                 args.checkpoint_interval, started, variant=name, binary="baseline"))

        # Units of cases that run back to back: direct, the nginx relay, and each LienThong case (with its baseline
        # network right before or after it, the order flipping with every repetition, when --baseline-bin is given).
        units = [
            [{"name": "direct", "kind": "a", "url": lambda size: backend_url + ("/64k" if size == 64 * KIB else "/1k"), "headers": {},
              "pids": lambda: {"backend": children(backend.pid)}}],
            [{"name": "nginx-relay", "kind": "b", "url": lambda size: f"http://127.0.0.1:{a_port}" + ("/64k" if size == 64 * KIB else "/1k"),
              "headers": {}, "pids": lambda: {"nginx A": children(proxy_a.pid), "nginx B": children(proxy_b.pid)}}],
        ]
        for n in networks:
            case = {"name": n.name, "kind": "c", "url": n.url, "headers": n.header_dict(), "pids": n.pids}
            if n.binary == "baseline":
                units[-1].append(case)
            else:
                units.append([case])

        runs = {}
        total = args.repetitions * len(sizes) * len(connections) * sum(len(unit) for unit in units)
        done = 0
        for repetition in range(args.repetitions):
            for size in sizes:
                for conns in connections:
                    turn = repetition + conns + size // KIB
                    shift = turn % len(units)
                    order = [case for unit in units[shift:] + units[:shift] for case in (unit if turn % 2 == 0 else unit[::-1])]
                    for case in order:
                        for network in networks:
                            network.check_alive()
                        url = case["url"](size)
                        run_wrk(url, conns, args.warmup, case["headers"], lua)
                        pids = case["pids"]()
                        for group in pids.values():
                            for pid in group:
                                reset_peak(pid)
                        result = run_wrk(url, conns, args.duration, case["headers"], lua)
                        result["peak_rss_mib"] = {role: peak_mib(group) for role, group in pids.items()}
                        runs.setdefault((case["name"], size, conns), []).append(result)
                        done += 1
                        log(f"bench: [{done}/{total}] {case['name']:34} {size // KIB:>2} KiB c={conns:<3} "
                            f"{result['rps']:9.0f} req/s  p50 {result['p50_ms']:7.3f} ms  p99 {result['p99_ms']:7.3f} ms  errors {result['errors']}")

        kinds = {n.name: n.binary for n in networks}
        rows = []
        for (name, size, conns), results in runs.items():
            rows.append({
                "case": name, "body_kib": size // KIB, "connections": conns,
                **({"binary": kinds[name]} if name in kinds else {}),
                "rps": round(statistics.median(r["rps"] for r in results), 1),
                "p50_ms": round(statistics.median(r["p50_ms"] for r in results), 3),
                "p99_ms": round(statistics.median(r["p99_ms"] for r in results), 3),
                "errors": sum(r["errors"] for r in results),
                "requests": sum(r["requests"] for r in results),
                "peak_rss_mib": {role: max(r["peak_rss_mib"][role] for r in results) for role in results[0]["peak_rss_mib"]},
                "repetitions": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in results],
            })
        by = {(r["case"], r["body_kib"], r["connections"]): r for r in rows}
        ratios = []
        for network in networks:
            for size in sizes:
                for conns in connections:
                    c, b, a = by[(network.name, size // KIB, conns)], by[("nginx-relay", size // KIB, conns)], by[("direct", size // KIB, conns)]
                    ratios.append({"case": network.name, "body_kib": size // KIB, "connections": conns,
                                   "c_over_b": round(c["rps"] / b["rps"], 3), "c_over_a": round(c["rps"] / a["rps"], 3),
                                   "p99_over_b": round(c["p99_ms"] / b["p99_ms"], 2),
                                   "p50_added_over_direct_ms": round(c["p50_ms"] - a["p50_ms"], 3)})

        before_after = []
        for network in networks:
            if network.binary != "baseline":
                continue
            for size in sizes:
                for conns in connections:
                    key = (size // KIB, conns)
                    now, base = by[(network.variant,) + key], by[(network.name,) + key]
                    pairs = [round(n["rps"] / b["rps"], 3) for n, b in zip(now["repetitions"], base["repetitions"]) if b["rps"] > 0]
                    before_after.append({
                        "case": network.variant, "body_kib": key[0], "connections": conns,
                        "current_rps": now["rps"], "baseline_rps": base["rps"],
                        "rps_ratio": round(now["rps"] / base["rps"], 3) if base["rps"] > 0 else 0,
                        "rps_ratio_per_repetition": pairs,
                        "current_p50_ms": now["p50_ms"], "baseline_p50_ms": base["p50_ms"],
                        "current_p99_ms": now["p99_ms"], "baseline_p99_ms": base["p99_ms"],
                        "p99_ratio": round(now["p99_ms"] / base["p99_ms"], 3) if base["p99_ms"] > 0 else 0,
                        "current_errors": now["errors"], "baseline_errors": base["errors"],
                    })

        extras = {}
        if not args.no_extras:
            main_network = next(n for n in networks if n.binary == "current")
            extras["connections_1000"] = many_connections(main_network, lua, args.duration)
            extras["body_100mib"] = large_body(main_network, work)
        for network in networks:
            network.check_alive()
        audit = {network.name: network.audit_verify() for network in networks}

        result = {
            "machine": machine(),
            "settings": {"duration_s": args.duration, "warmup_s": args.warmup, "repetitions": args.repetitions,
                         "connections": connections, "body_kib": [s // KIB for s in sizes],
                         "checkpoint_interval_s": args.checkpoint_interval, "wrk_threads": "1 at c=1, else 2",
                         "binaries": binaries},
            "rows": rows, "ratios": ratios, "extras": extras, "audit_verify": audit,
            "targets": targets(by, ratios, extras, sizes, connections, [n.name for n in networks]),
        }
        if args.baseline_bin:
            result["before_after"] = before_after
        check_schema(result, "bench-results.schema.json")
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2, sort_keys=True)
            f.write("\n")
        print(table(result))
        print(f"\nwritten: {args.out}")
        if args.check:
            problems = [f"{r['case']} {r['body_kib']} KiB c={r['connections']}: {r['errors']} errors"
                        for r in rows if r["errors"] and r["case"].startswith("lienthong")]
            problems += [f"audit verify {name} {role} failed" for name, roles in audit.items() for role, o in roles.items() if not o["ok"]]
            body = extras.get("body_100mib")
            if body and body["status"] != 200:
                problems.append(f"100 MiB body answered {body['status']}")
            many = extras.get("connections_1000")
            if many and many["requests"] == 0:
                problems.append("no exchange completed with 1,000 connections")
            if problems:
                raise SystemExit("bench: check failed:\n  " + "\n  ".join(problems))
            print("bench: check passed (no errors through LienThong, audit logs verify)")
    finally:
        for process in reversed(started):
            process.stop()
        if postgres:
            postgres.stop()
        if postgres_baseline:
            postgres_baseline.stop()
        if os.environ.get("LIENTHONG_BENCH_KEEP") != "1":
            shutil.rmtree(work, ignore_errors=True)


def many_connections(network, lua, seconds):
    """wrk with 1,000 connections through the chain; both servers' peak RSS."""
    pids = network.pids()
    before = {role: round(status_kib(group[0], "VmRSS") / 1024, 1) for role, group in pids.items()}
    for group in pids.values():
        reset_peak(group[0])
    result = run_wrk(network.url(KIB), 1000, seconds, network.header_dict(), lua)
    result["rss_before_mib"] = before
    result["peak_rss_mib"] = {role: peak_mib(group) for role, group in pids.items()}
    log(f"bench: 1,000 connections: {result['rps']:.0f} req/s, errors {result['errors']}, peak RSS {result['peak_rss_mib']}")
    return result


def large_body(network, work):
    """A 100 MiB request body POSTed through the chain with curl; both servers' RSS before and at peak."""
    path = os.path.join(work, "body-100mib.bin")
    with open(path, "wb") as f:
        block = os.urandom(1 << 20)
        for _ in range(100):
            f.write(block)
    pids = network.pids()
    before = {role: round(status_kib(group[0], "VmRSS") / 1024, 1) for role, group in pids.items()}
    for group in pids.values():
        reset_peak(group[0])
    argv = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", "-X", "POST", "--data-binary", f"@{path}",
            "-H", "Content-Type: application/octet-stream"]
    for name, value in network.header_dict().items():
        argv += ["-H", f"{name}: {value}"]
    done = subprocess.run(argv + [network.url(KIB)], capture_output=True, text=True)
    status, seconds = (done.stdout.split() + ["0", "0"])[:2]
    peak = {role: peak_mib(group) for role, group in pids.items()}
    result = {"status": int(status or 0), "seconds": float(seconds or 0), "rss_before_mib": before, "peak_rss_mib": peak,
              "growth_mib": {role: round(peak[role] - before[role], 1) for role in peak}}
    log(f"bench: 100 MiB body: HTTP {result['status']} in {result['seconds']:.2f} s, RSS growth {result['growth_mib']}")
    return result


BASELINE_SUFFIX = "-baseline"


def binary_description(path):
    """The binary's path and, when it lies in a git work tree (e.g. CLONE/.build/release/lienthong), that tree's commit."""
    path = os.path.abspath(path)
    out = {"path": path}
    directory = os.path.dirname(path)
    while directory != os.path.dirname(directory):
        if os.path.exists(os.path.join(directory, ".git")):
            done = subprocess.run(["git", "-C", directory, "log", "-1", "--format=%h %s"], capture_output=True, text=True)
            dirty = subprocess.run(["git", "-C", directory, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True)
            if done.returncode == 0:
                out["commit"] = done.stdout.strip()[:200]
                out["uncommitted_changes"] = bool(dirty.stdout.strip())
            break
        directory = os.path.dirname(directory)
    return out


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    versions = {}
    for tool, argv in (("nginx", ["nginx", "-v"]), ("wrk", ["wrk", "-v"])):
        done = subprocess.run(argv, capture_output=True, text=True)
        first = (done.stdout + done.stderr).strip().splitlines()[:1]
        versions[tool] = first[0].split(" Copyright")[0].replace(" [epoll]", "") if first else ""
    return {"nproc": os.cpu_count(), "cpu_model": model, "kernel": platform.release(), **versions,
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def targets(by, ratios, extras, sizes, connections, names):
    """The issue's targets, as measured in this run (None where the matrix lacks the case)."""
    def get(name, kib, conns):
        return by.get((name, kib, conns))
    out = []
    p256, rsa = "lienthong-sqlite-p256", "lienthong-sqlite-rsa2048"

    def add(measure, value, target, met):
        out.append({"measure": measure, "value": value, "target": target, "met": met})

    c, b, a = get(p256, 1, 64), get("nginx-relay", 1, 64), get("direct", 1, 64)
    if c and b:
        v = round(c["rps"] / b["rps"], 3)
        add("c/b throughput, 1 KiB, 64 connections, P-256, SQLite", v, ">= 0.25 (stretch 0.5)", v >= 0.25)
    c, b = get(p256, 64, 64), get("nginx-relay", 64, 64)
    if c and b:
        v = round(c["rps"] / b["rps"], 3)
        add("c/b throughput, 64 KiB, 64 connections", v, ">= 0.4", v >= 0.4)
    r, p = get(rsa, 1, 64), get(p256, 1, 64)
    if r and p:
        v = round(r["rps"] / p["rps"], 3)
        add("RSA-2048 / P-256 throughput, 1 KiB, 64 connections", v, ">= 0.6", v >= 0.6)
    c, b = get(p256, 1, 16), get("nginx-relay", 1, 16)
    if c and b:
        v = round(c["p99_ms"] / b["p99_ms"], 2)
        add("p99 at 16 connections, over nginx relay's p99 (1 KiB)", v, "<= 3", v <= 3)
    c, a = get(p256, 1, 1), get("direct", 1, 1)
    if c and a:
        v = round(c["p50_ms"] - a["p50_ms"], 3)
        add("p50 added latency over direct, 1 connection, 1 KiB (ms)", v, "<= 1.5", v <= 1.5)
    many = extras.get("connections_1000")
    if many:
        v = many["peak_rss_mib"]["provider"]
        add("provider RSS at 1,000 concurrent client connections (MiB)", v, "<= 150", v <= 150 and many["errors"] == 0)
    body = extras.get("body_100mib")
    if body:
        v = max(body["growth_mib"].values())
        add("100 MiB request body: largest RSS growth of either server (MiB)", v, "flat (<= 32)", body["status"] == 200 and v <= 32)
    return out


def label(binary):
    """A binary's commit hash (with '+ changes' when its tree had uncommitted changes), else its path."""
    if "commit" not in binary:
        return binary["path"]
    return binary["commit"].split()[0] + (" + uncommitted changes" if binary.get("uncommitted_changes") else "")


def table(result):
    lines = []
    m = result["machine"]
    lines.append(f"Machine: {m['nproc']} cores, {m['cpu_model']}; {m['nginx']}; {m['wrk']}")
    s = result["settings"]
    lines.append(f"Medians of {s['repetitions']} repetitions of {s['duration_s']} s (after {s['warmup_s']} s warm-up), cases alternating.\n")
    lines.append("| case | body | conns | req/s | p50 ms | p99 ms | errors | peak RSS MiB |")
    lines.append("|---|---|---|---|---|---|---|---|")
    order = {"direct": 0, "nginx-relay": 1}
    for r in sorted(result["rows"], key=lambda r: (r["body_kib"], r["connections"], order.get(r["case"], 2), r["case"])):
        rss = ", ".join(f"{k} {v}" for k, v in r["peak_rss_mib"].items())
        lines.append(f"| {r['case']} | {r['body_kib']} KiB | {r['connections']} | {r['rps']:.0f} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['errors']} | {rss} |")
    lines.append("\n| case | body | conns | c/b | c/a | p99 c/b | p50 added over direct (ms) |")
    lines.append("|---|---|---|---|---|---|---|")
    for r in result["ratios"]:
        lines.append(f"| {r['case']} | {r['body_kib']} KiB | {r['connections']} | {r['c_over_b']:.3f} | {r['c_over_a']:.3f} | {r['p99_over_b']:.2f} | {r['p50_added_over_direct_ms']:.3f} |")
    if result["targets"]:
        lines.append("\n| target | measured | wanted | met |")
        lines.append("|---|---|---|---|")
        for t in result["targets"]:
            lines.append(f"| {t['measure']} | {t['value']} | {t['target']} | {'yes' if t['met'] else 'NO'} |")
    if result.get("before_after"):
        b = result["settings"]["binaries"]
        lines.append(f"\nBefore/after (current {label(b['current'])} "
                     f"over baseline {label(b['baseline'])}), measured in alternation:\n")
        lines.append("| case | body | conns | baseline req/s | current req/s | current/baseline | per repetition | p99 ms baseline -> current |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for r in result["before_after"]:
            pairs = ", ".join(f"{p:.3f}" for p in r["rps_ratio_per_repetition"])
            lines.append(f"| {r['case']} | {r['body_kib']} KiB | {r['connections']} | {r['baseline_rps']:.0f} | {r['current_rps']:.0f} | "
                         f"{r['rps_ratio']:.3f} | {pairs} | {r['baseline_p99_ms']:.3f} -> {r['current_p99_ms']:.3f} |")
    for name, roles in result["audit_verify"].items():
        for role, outcome in roles.items():
            lines.append(f"audit verify {name} {role}: {'ok' if outcome['ok'] else 'FAILED'} {' '.join(outcome['output'])}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
