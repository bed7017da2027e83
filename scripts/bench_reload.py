#!/usr/bin/env python3
"""scripts/bench reload: rolling reloads of the dante example (4 node workers) under load, in one run.

  steady     wrk through hostctl's proxy without reloads, after 3 s of warm-up: req/s, p99, errors
  reloading  the same wrk load while `hostctl reload dante` runs back to back (10 at least):
             requests served and failed, p99 (goal: 0 failed, p99 <= 2x steady), and how long
             one reload of 4 workers takes
             (steady and reloading run 5 times in turn; p99 and req/s are the medians over the
             rounds, each round's p99 printed beside them, with the share of CPU time the
             host stole during the round where it took 1% or more)
  reference  the same load while the same app's workers (examples/dante/server.js on a port of their
             own, stopped once listening) start beside it at the rate the reloads started workers,
             with no reload: what the start-ups alone cost the p99
  websockets 20 WebSockets streaming the canto while 3 reloads run: how many were dropped before
             their stream ended (goal: 0), and whether a new one lands on a new worker
  fast start steady and reloading again with 4 workers that start in milliseconds and need no
             warm-up (hostctl's fixture worker, beside hostctl): hostctl's own share of the reload
             p99, without node's start-up and cold JIT
"""
import json, os, re, shutil, socket, statistics, subprocess, sys, tempfile, threading, time

from bench_common import cpu_steal, free_port, steal_percent

HOSTCTL, DANTE = sys.argv[1], sys.argv[2]
FIXTURE = os.path.join(os.path.dirname(HOSTCTL), "hostctl-fixture-worker")
WORKERS = 4


def hostctl(home, *args, check=True):
    return subprocess.run([HOSTCTL, *args, "--home", home], capture_output=True, text=True, check=check,
                          env=dict(os.environ, HOSTCTL_LISTEN=LISTEN))


def wrk(url, seconds):
    """(requests, failed, p99 in ms, req/s, % of CPU time stolen by the host meanwhile)."""
    before = cpu_steal()
    out = subprocess.run(["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency", url], capture_output=True,
                         text=True, check=True).stdout
    def number(pattern, default="0"):
        found = re.search(pattern, out)
        return found.group(1) if found else default
    requests = int(number(r"(\d+) requests in"))
    non2xx = int(number(r"Non-2xx or 3xx responses: (\d+)"))
    errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", number(r"Socket errors: (.*)", "")))
    p99 = number(r"99%\s+([\d.]+\w+)")
    return requests, non2xx + errors, to_ms(p99), float(number(r"Requests/sec:\s+([\d.]+)")), steal_percent(before, cpu_steal())


def to_ms(text):
    value = float(re.match(r"[\d.]+", text).group(0))
    unit = text[len(re.match(r"[\d.]+", text).group(0)):]
    return value * {"us": 0.001, "ms": 1, "s": 1000}[unit]


ROUNDS = 5


def steady_then_reloading(home, app, url):
    """ROUNDS rounds of: 3 s of warm-up (node's JIT is cold in a new worker's first seconds, which is
    not the steady state), wrk on `url` (steady), then again while `hostctl reload APP` runs back to
    back (10 at least). A p99 moves by 2x from one run to the next on this kind of machine, so the
    figures compared are the medians over the rounds. Returns both lists of wrk results and how long
    each reload took."""
    steadies, reloadings, durations = [], [], []
    for _ in range(ROUNDS):
        wrk(url, 3)
        steadies.append(wrk(url, 5))
        stop = threading.Event()
        count = len(durations)

        def reloads():
            time.sleep(0.5)
            while not stop.is_set() or len(durations) < count + 10:
                t0 = time.monotonic()
                r = hostctl(home, "reload", app, check=False)
                assert r.returncode == 0, r.stderr
                durations.append(time.monotonic() - t0)
        thread = threading.Thread(target=reloads)
        thread.start()
        reloadings.append(wrk(url, 6))
        stop.set()
        thread.join()
    return steadies, reloadings, durations


def summary(label, runs):
    """One line for a list of wrk results: requests and failures summed, req/s and p99 the medians,
    then each round's p99 with the share of CPU time the host stole during it where that was 1% or more."""
    p99s = [r[2] for r in runs]
    return (f"  {label:<18}{sum(r[0] for r in runs):8d} requests  {statistics.median(r[3] for r in runs):9.0f} req/s"
            f"  p99 {statistics.median(p99s):7.2f} ms  failed {sum(r[1] for r in runs)}"
            f"   (rounds: {' '.join(f'{r[2]:.2f}' + (f' [stolen {r[4]:.0f}%]' if r[4] >= 1 else '') for r in runs)})")


def ratio(reloadings, steadies):
    return statistics.median(r[2] for r in reloadings) / statistics.median(r[2] for r in steadies)


def main():
    global LISTEN
    port = free_port()
    LISTEN = f"127.0.0.1:{port}"
    root = tempfile.mkdtemp(prefix="hbr-", dir="/tmp")
    home = f"{root}/h"
    try:
        hostctl(home, "add", "dante", DANTE, "--workers", str(WORKERS), "--env", "STANZA_INTERVAL_MS=100")
        hostctl(home, "start")
        url = f"http://{LISTEN}/dante/"
        steadies, reloadings, durations = steady_then_reloading(home, "dante", url)

        # Reference: the same load while the app's own workers start beside it (each on a port of its
        # own, stopped once it listens) at the rate the reloads started them, with no reload and nothing
        # of hostctl involved: what the start-ups alone cost the p99 on this machine.
        rate = WORKERS / statistics.median(durations)
        wrk(url, 3)  # the workers the reloads left are cold: warm them up first, as for the steady figures
        booting = threading.Event()

        def boot():
            child = subprocess.Popen(["node", f"{DANTE}/server.js"], cwd=DANTE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=dict(os.environ, PORT="0", HOSTCTL_WORKER="9"))
            child.stdout.readline()  # `listening`: ready, as a reload would see it
            child.kill()
            child.wait()

        def boots():
            children = []
            while not booting.is_set():
                children.append(threading.Thread(target=boot))
                children[-1].start()
                time.sleep(1 / rate)
            for child in children:
                child.join()
        booter = threading.Thread(target=boots)
        booter.start()
        starting = wrk(url, 6)
        booting.set()
        booter.join()

        # WebSockets: 20 streams (the test suite's client, Python's websockets), 3 reloads while they
        # run, then one more stream.
        streams_client = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "websocket", "streams.py")
        ws_url = f"ws://{LISTEN}/dante/"
        streams = subprocess.Popen([sys.executable, streams_client, ws_url, "20"], stdout=subprocess.PIPE, text=True)
        assert streams.stdout.readline().strip() == "open"
        for _ in range(3):
            hostctl(home, "reload", "dante")
        late_run = subprocess.run([sys.executable, streams_client, ws_url, "1"], capture_output=True, text=True)
        late = json.loads(late_run.stdout.splitlines()[1])
        results = [json.loads(line) for line in streams.stdout.read().splitlines() if line.strip()]
        streams.wait()
        dropped = [r for r in results if r["stanzas"] != 46 or not r["ordered"] or r["code"] != 1000]
        old_workers = {r["worker"] for r in results}
        print(f"rolling reloads of dante ({WORKERS} node workers) through hostctl's proxy, wrk -t2 -c16, "
              f"{ROUNDS} rounds (medians)")
        print(summary(f"steady ({ROUNDS}x5 s):", steadies))
        print(summary(f"reloading ({ROUNDS}x6 s):", reloadings)
              + f"\n{'':20}goal: 0 failed, p99 <= 2x steady: {ratio(reloadings, steadies):.2f}x"
              f" (per round {' '.join(f'{r[2] / s[2]:.2f}' for r, s in zip(reloadings, steadies))})")
        print(summary("reference (6 s):", [starting])
              + f"\n{'':20}the app's workers started beside the load at the reloads' rate, {rate:.1f}/s, no reload: "
              f"{ratio([starting], steadies):.2f}x steady")
        print(f"  reloads during it: {len(durations)}, one reload of {WORKERS} workers: median "
              f"{statistics.median(durations) * 1000:.0f} ms, max {max(durations) * 1000:.0f} ms")
        print(f"  websockets: 20 streams across 3 reloads, dropped before their end: {len(dropped)} (goal 0)"
              + (f" {dropped[:3]}" if dropped else ""))
        print(f"  a stream opened after the reloads landed on a new worker: {late['worker'] not in old_workers}"
              f" (its canto complete: {late['stanzas'] == 46 and late['code'] == 1000})")
    finally:
        hostctl(home, "shutdown", check=False)
        shutil.rmtree(root, ignore_errors=True)
    if os.access(FIXTURE, os.X_OK):
        fast_start()


def fast_start():
    """Steady and reloading figures with workers that start in milliseconds and serve at full speed
    from their first request: what the reloads cost when node's start-up and warm-up are left out."""
    root = tempfile.mkdtemp(prefix="hbr-", dir="/tmp")
    home = f"{root}/h"
    try:
        os.makedirs(f"{root}/app")
        hostctl(home, "add", "fx", f"{root}/app", "--command", FIXTURE, "--route", "/fx", "--workers", str(WORKERS))
        hostctl(home, "start")
        url = f"http://{LISTEN}/fx/"
        steadies, reloadings, durations = steady_then_reloading(home, "fx", url)
        print(f"the same with {WORKERS} workers that start in milliseconds (hostctl's fixture worker, no warm-up)")
        print(summary(f"steady ({ROUNDS}x5 s):", steadies))
        print(summary(f"reloading ({ROUNDS}x6 s):", reloadings)
              + f"\n{'':20}p99 {ratio(reloadings, steadies):.2f}x steady; {len(durations)} reloads, median "
              f"{statistics.median(durations) * 1000:.0f} ms each")
    finally:
        hostctl(home, "shutdown", check=False)
        shutil.rmtree(root, ignore_errors=True)


main()
