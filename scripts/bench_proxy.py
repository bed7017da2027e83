#!/usr/bin/env python3
"""scripts/bench proxy: the front proxy against nginx, in one run, with interleaved rounds.

The backend is one node app (examples/bench/server.js) run as a hostctl worker on a Unix socket;
nginx (an upstream with keepalive, worker_processes = hostctl's proxy threads) proxies to that same
socket, and a second instance of the app on TCP is the direct reference. wrk drives each over
keep-alive connections. Proxy CPU per request comes from /proc (utime + stime of the proxy's
processes over the run). Every process runs in this script's session (`hostctl serve`, nginx with
`daemon off`), so that the kernel's per-session CPU grouping treats both proxies alike. nginx
sends the app the headers hostctl sends (Host as the client gave it, X-Forwarded-For, -Proto, -Host
and -Prefix), so that the app behind each does the same work: on these 2 cores the app's CPU is
taken from the proxy's, and three headers fewer cost node about 3 µs per request.
"""
import json, os, re, signal, subprocess, sys, tempfile, time

from bench_common import cpu_seconds

HOSTCTL, APP = sys.argv[1], sys.argv[2]
THREADS, CONNECTIONS, SECONDS, ROUNDS = 2, 64, 5, 5


def wrk(url, script=None, seconds=SECONDS):
    args = ["wrk", "-t", "2", "-c", str(CONNECTIONS), "-d", f"{seconds}s", "--latency", url]
    if script:
        args[1:1] = ["-s", script]
    out = subprocess.run(args, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    def lat(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else (v if unit == "ms" else v * 1000)
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    return rps, lat(50), lat(99), errors, total


# Each held connection costs the proxy two descriptors (client and worker). 10,000 are held where
# the open-file limit allows it (root raises the hard limit for this run and the processes it
# starts); under a lower hard limit, as many as keep every process inside it.
HELD = 10000


def ws_rtt(host, port, rounds=1000):
    import socket as s
    sock = s.create_connection((host, port))
    sock.setsockopt(s.IPPROTO_TCP, s.TCP_NODELAY, 1)
    sock.sendall(b"GET /b/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        sock.sendall(b"ping12345")
        got = b""
        while len(got) < 9:
            got += sock.recv(64)
        samples.append(time.perf_counter() - t0)
    sock.close()
    return samples


def hold(host, port, count):
    import socket as s
    held = []
    for _ in range(count):
        try:
            sock = s.create_connection((host, port))
            sock.sendall(b"GET /b/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
            held.append(sock)
        except OSError:
            break
    for sock in held:
        sock.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
    time.sleep(1)
    return held


def main():
    import resource
    global HELD
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    try:
        # Root may raise the hard limit (up to fs.nr_open); hostctl, nginx and node inherit it.
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(hard, 65536), max(hard, 65536)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if limit < 2 * HELD + 1000:
        HELD = (limit - 1000) // 2 // 1000 * 1000
        print(f"open-file limit {limit}: holding {HELD} upgraded connections, not 10,000")
    root = tempfile.mkdtemp(prefix="hcbp-", dir="/tmp")
    home = f"{root}/h"
    post = f"{root}/post.lua"
    open(post, "w").write('wrk.method = "POST"\nwrk.body = string.rep("x", 4096)\nwrk.headers["Content-Type"] = "text/plain"\n')
    env = dict(os.environ, HOSTCTL_LISTEN="127.0.0.1:0")
    procs = []
    try:
        with open(f"{root}/global.yml", "w") as f:
            pass
        os.makedirs(home)
        with open(f"{home}/hostctl.yml", "w") as f:
            f.write(f"proxy:\n  threads: {THREADS}\n")
        subprocess.run([HOSTCTL, "add", "b", APP, "--home", home, "--route", "/b"], check=True, env=env, capture_output=True)
        # Every process of the run in this script's session: where the kernel groups CPU time by
        # session (autogroup), `hostctl start` and a daemonized nginx would each get a group of their
        # own, and hostctl's workers share the daemon's, so the two proxies and the backend would not
        # get the same shares of the machine. In one session every thread competes alike.
        procs.append(subprocess.Popen([HOSTCTL, "serve", "--home", home], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        status = {}
        for _ in range(500):
            out = subprocess.run([HOSTCTL, "status", "--json", "--home", home], env=env, capture_output=True, text=True)
            status = json.loads(out.stdout) if out.returncode == 0 else {}
            if status and status["apps"][0]["workers"] and status["apps"][0]["workers"][0]["state"] == "ready":
                break
            time.sleep(0.02)
        listen = status["listen"][0]
        daemon = status["pid"]
        socket_path = status["apps"][0]["workers"][0]["endpoint"]

        direct = subprocess.Popen(["node", f"{APP}/server.js"], env=dict(os.environ, PORT="18090"), stdout=subprocess.DEVNULL)
        procs.append(direct)
        nginx_conf = f"""
user root;
daemon off;
worker_processes {THREADS};
worker_rlimit_nofile 65536;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log;
events {{ worker_connections 30000; }}
http {{
  access_log off;
  upstream app {{ server unix:{socket_path}; keepalive 64; }}
  server {{
    listen 127.0.0.1:18091;
    location /b/ws {{
      proxy_pass http://app/ws;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_read_timeout 3600s;
    }}
    location /b/ {{
      proxy_pass http://app/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_set_header X-Forwarded-Prefix /b;
      proxy_buffering on;
    }}
  }}
}}
"""
        open(f"{root}/nginx.conf", "w").write(nginx_conf)
        procs.append(subprocess.Popen(["nginx", "-c", f"{root}/nginx.conf", "-p", root]))
        for _ in range(500):
            if os.path.exists(f"{root}/nginx.pid"):
                break
            time.sleep(0.01)
        time.sleep(0.5)
        nginx_pids = [int(p) for p in subprocess.run(["pgrep", "-f", f"nginx: worker process"], capture_output=True, text=True).stdout.split()]
        nginx_master = int(open(f"{root}/nginx.pid").read())
        nginx_pids = [p for p in nginx_pids if os.path.exists(f"/proc/{p}") and open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1] == str(nginx_master)]

        targets = {
            "direct": ("http://127.0.0.1:18090", []),
            "nginx": ("http://127.0.0.1:18091/b", nginx_pids),
            "hostctl": (f"http://{listen}/b", [daemon]),
        }
        workloads = [("GET 6 B", "/", None), ("GET 64 KiB", "/64k", None), ("POST 4 KiB", "/", post)]
        results = {}
        # A discarded warm-up per workload and target: connection pools, buffers and node's JIT.
        for workload, path, script in workloads:
            for name, (base, pids) in targets.items():
                wrk(base + path, script, seconds=2)
        for _ in range(ROUNDS):
            for workload, path, script in workloads:
                for name, (base, pids) in targets.items():
                    c0 = cpu_seconds(pids)
                    rps, p50, p99, errors, total = wrk(base + path, script)
                    used = cpu_seconds(pids) - c0
                    r = results.setdefault((workload, name), [])
                    r.append((rps, p50, p99, errors, (used / total * 1e6) if pids and total else 0))
        print(f"{'workload':12} {'target':8} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'proxy CPU µs/req':>17}")
        for workload, _, _ in workloads:
            for name in targets:
                rows = results[(workload, name)]
                best = max(rows, key=lambda r: r[0])
                cpu_us = min(r[4] for r in rows)
                # Latency: the median of the rounds' figures (a round's p99 moves with the scheduler).
                p50 = sorted(r[1] for r in rows)[len(rows) // 2]
                p99 = sorted(r[2] for r in rows)[len(rows) // 2]
                print(f"{workload:12} {name:8} {best[0]:>10.0f} {p50:>8.2f} {p99:>8.2f} {sum(r[3] for r in rows):>7} {cpu_us:>17.1f}")
            h = max(r[0] for r in results[(workload, 'hostctl')])
            n = max(r[0] for r in results[(workload, 'nginx')])
            hc = min(r[4] for r in results[(workload, 'hostctl')])
            nc = min(r[4] for r in results[(workload, 'nginx')])
            # Each round runs nginx and hostctl back to back: the ratio within a round shares its
            # conditions (the host's steal moves whole rounds), so its median is the steadier figure.
            pairs = list(zip(results[(workload, 'hostctl')], results[(workload, 'nginx')]))
            rps_ratio = sorted(a[0] / b[0] for a, b in pairs)[len(pairs) // 2]
            cpu_ratio = sorted(a[4] / b[4] for a, b in pairs if b[4])[len(pairs) // 2] if nc else 0
            print(f"{'':12} hostctl/nginx: req/s {h / n:.2f}x, CPU per request {hc / nc if nc else 0:.2f}x"
                  f" (best rounds); per-round median: req/s {rps_ratio:.2f}x, CPU {cpu_ratio:.2f}x")
        print(f"(wrk -t2 -c{CONNECTIONS} -d{SECONDS}s after a 2 s warm-up, {ROUNDS} interleaved rounds: req/s and CPU from the best round, p50 and p99 the median over the rounds; nginx {THREADS} workers, upstream keepalive 64; hostctl proxy.threads {THREADS})")
        print()
        rss = lambda pids: sum(int(line.split()[1]) for p in pids for line in open(f"/proc/{p}/status") if line.startswith("VmRSS:"))
        # Upgraded connections: round-trip time of a small message, and memory per held connection.
        print(f"{'upgraded connections':24} {'echo RTT p50 µs':>16} {'overhead µs':>12} {'KiB per held conn':>18}")
        upgraded = (("nginx", ("127.0.0.1", 18091), nginx_pids), ("hostctl", tuple(listen.rsplit(":", 1)), [daemon]))
        # Round-trip times move with the scheduler: 5 interleaved rounds of 1000 echoes each, median of
        # all. The proxies' overhead is their RTT less the app's own (the goal: hostctl's <= nginx's).
        samples = {name: [] for name in ("direct", "nginx", "hostctl")}
        for _ in range(5):
            for name, (host, port) in (("direct", ("127.0.0.1", 18090)),) + tuple((n, a) for n, a, _ in upgraded):
                samples[name] += ws_rtt(host, int(port))
        median = {name: sorted(values)[len(values) // 2] * 1e6 for name, values in samples.items()}
        print(f"{'direct':24} {median['direct']:>16.1f} {'':>12} {'':>18}")
        for name, port_base, pids in upgraded:
            host, port = port_base[0], int(port_base[1])
            before = rss(pids)
            held = hold(host, port, HELD)
            after = rss(pids)
            per = (after - before) / max(len(held), 1)
            for sock in held:
                sock.close()
            overhead = median[name] - median["direct"]
            print(f"{name:24} {median[name]:>16.1f} {overhead:>12.1f} {per:>18.2f}   ({len(held)} held)")
        print()
        # A 1 GiB download through each proxy: the proxy's peak RSS growth shows whether backpressure holds.
        for name, base, pids in (("nginx", "http://127.0.0.1:18091/b/1g", nginx_pids), ("hostctl", f"http://{listen}/b/1g", [daemon])):
            before = rss(pids)
            peak = before
            started = time.monotonic()
            proc = subprocess.Popen(
                ["curl", "-s", "-o", "/dev/null", "-w", "%{size_download}", "--limit-rate", "200M", base],
                stdout=subprocess.PIPE, text=True)
            while proc.poll() is None:
                peak = max(peak, rss(pids))
                time.sleep(0.05)
            size = int(proc.stdout.read() or 0)
            print(f"1 GiB download through {name:8} {size / (1 << 30):.2f} GiB in {time.monotonic() - started:.1f} s,"
                  f" proxy RSS growth at peak: {(peak - before) / 1024:.1f} MiB")
    finally:
        subprocess.run(["nginx", "-c", f"{root}/nginx.conf", "-p", root, "-s", "stop"], capture_output=True)
        subprocess.run([HOSTCTL, "shutdown", "--home", home], env=env, capture_output=True)
        for p in procs:
            if p.args[0] == "node":
                p.kill()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        subprocess.run(["rm", "-rf", root])


if __name__ == "__main__":
    main()
