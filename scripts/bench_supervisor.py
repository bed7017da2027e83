#!/usr/bin/env python3
"""scripts/bench supervisor: the supervisor's figures, each beside its reference, in one run.

  restart latency   SIGKILL of a worker -> its replacement answering, against spawning the same
                    worker directly and waiting until it answers (goal: within 1.1x + 5 ms)
  idle daemon RSS   2 apps x 4 workers (goal: <= 15 MiB), plus what the keepers cost
  idle wakeups      context switches of every daemon thread per second (goal: < 1/s)
  status latency    `hostctl status` (goal: < 15 ms)
  crash-loop CPU    daemon CPU while an app crashes every 50 ms
"""
import json, os, signal, socket, statistics, subprocess, sys, tempfile, time

from bench_common import connect_until, cpu_seconds

HOSTCTL, FIXTURE = sys.argv[1], sys.argv[2]
ROUNDS = 30


def hostctl(home, *args, check=True):
    env = dict(os.environ, HOSTCTL_LISTEN="127.0.0.1:0")
    return subprocess.run([HOSTCTL, *args, "--home", home], check=check, capture_output=True, text=True, env=env)


def status(home, app=None):
    out = hostctl(home, "status", *([app] if app else []), "--json").stdout
    return json.loads(out)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p * (len(values) - 1))))]


def ms(seconds):
    return f"{seconds * 1000:.2f} ms"


def direct_spawn_times(root):
    times = []
    for i in range(ROUNDS):
        path = f"{root}/direct-{i}.sock"
        env = dict(os.environ, PORT=path, HOSTCTL_APP="direct", HOSTCTL_WORKER="1")
        t0 = time.monotonic()
        p = subprocess.Popen([FIXTURE], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert connect_until(path, t0 + 10), "direct worker never answered"
        times.append(time.monotonic() - t0)
        p.kill()
        p.wait()
    return times


def hostctl_restart_times(home):
    # One app per round, each killed once: the first crash restarts at once (later ones back off by design).
    times = []
    for i in range(ROUNDS):
        w = status(home, f"rs{i}")["apps"][0]["workers"][0]
        assert w["state"] == "ready", w
        run = os.path.dirname(w["endpoint"])
        next_path = f"{run}/1.{w['generation'] + 1}.sock"
        t0 = time.monotonic()
        os.kill(w["pid"], signal.SIGKILL)
        assert connect_until(next_path, t0 + 10), "replacement never answered"
        times.append(time.monotonic() - t0)
        # Let the replacement be marked ready before the next round.
        deadline = time.monotonic() + 5
        while status(home, f"rs{i}")["apps"][0]["workers"][0]["state"] != "ready" and time.monotonic() < deadline:
            time.sleep(0.005)
    return times


def proc_status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def context_switches(pid):
    """Context switches per thread id (voluntary + involuntary)."""
    counts = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                counts[tid] = sum(int(line.split()[1]) for line in f
                                  if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")))
        except OSError:
            pass
    return counts


def children(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def command(pid):
    try:
        return open(f"/proc/{pid}/comm").read().strip()
    except OSError:
        return ""


def rollup_kib(pid, field):
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    root = tempfile.mkdtemp(prefix="hcbs-", dir="/tmp")
    home = f"{root}/h"
    os.makedirs(f"{root}/app")
    try:
        apps = [(f"rs{i}", 1) for i in range(ROUNDS)] + [("a", 4), ("b", 4)]
        for name, workers in apps:
            hostctl(home, "add", name, f"{root}/app", "--command", FIXTURE, "--workers", str(workers), "--route", f"/{name}")
        hostctl(home, "start")
        daemon = status(home)["pid"]

        direct = direct_spawn_times(root)
        restart = hostctl_restart_times(home)

        # Idle figures with 2 apps x 4 workers (the restart-bench app stopped).
        hostctl(home, "stop", *[f"rs{i}" for i in range(ROUNDS)])
        time.sleep(1)
        rss = proc_status(daemon, "VmRSS")
        keepers = [k for k in children(daemon) if command(k) == "hostctl-keeper"]
        forkers = [k for k in children(daemon) if command(k) == "hostctl-forker"]
        forker_private = sum(rollup_kib(k, "Private_Dirty") + rollup_kib(k, "Private_Clean") for k in forkers)
        keeper_private = sum(rollup_kib(k, "Private_Dirty") + rollup_kib(k, "Private_Clean") for k in keepers)
        keeper_pss = sum(rollup_kib(k, "Pss") for k in keepers)
        c0, t0 = context_switches(daemon), time.monotonic()
        time.sleep(5)
        c1 = context_switches(daemon)
        wakeups = sum(c1[t] - c0[t] for t in c0 if t in c1) / (time.monotonic() - t0)
        rss_anon = proc_status(daemon, "RssAnon")

        t = []
        for _ in range(50):
            s = time.monotonic()
            hostctl(home, "status")
            t.append(time.monotonic() - s)
        v = []
        for _ in range(50):
            s = time.monotonic()
            subprocess.run([HOSTCTL, "--version"], capture_output=True)
            v.append(time.monotonic() - s)

        hostctl(home, "add", "crash", f"{root}/app", "--command", f"{FIXTURE} --crash-after 50", "--route", "/crash")
        with open(f"{home}/apps/crash.yml", "a") as f:
            f.write("restart:\n  burst: 10000\n  backoff: 1ms..1ms\n")
        hostctl(home, "start", "crash", "--no-wait")
        time.sleep(0.5)
        cpu0, r0, w0 = cpu_seconds([daemon]), status(home, "crash")["apps"][0]["workers"][0]["restarts"], time.monotonic()
        time.sleep(5)
        elapsed = time.monotonic() - w0
        crash_cpu = (cpu_seconds([daemon]) - cpu0) / elapsed
        crashes = (status(home, "crash")["apps"][0]["workers"][0]["restarts"] - r0) / elapsed
        hostctl(home, "shutdown")

        d50, r50 = statistics.median(direct), statistics.median(restart)
        print(f"{'figure':44} {'hostctl':>14} {'reference':>14} {'ratio':>8}")
        print(f"{'SIGKILL -> replacement answers, median':44} {ms(r50):>14} {ms(d50):>14} {r50 / d50:>7.2f}x")
        print(f"{'SIGKILL -> replacement answers, p90':44} {ms(pct(restart, .9)):>14} {ms(pct(direct, .9)):>14} {pct(restart, .9) / pct(direct, .9):>7.2f}x")
        print(f"  goal: within 1.1x + 5 ms of a direct spawn -> {'met' if r50 <= 1.1 * d50 + 0.005 else 'NOT met'}"
              f" (reference: the same worker spawned directly and polled until it answers, {ROUNDS} rounds each)")
        print(f"{'daemon RSS idle, 2 apps x 4 workers':44} {rss / 1024:>11.1f} MiB {'30 MiB':>14}   (reference: supervisord as measured here; goal <= 15 MiB)")
        print(f"{'  of which anonymous (heap, stacks)':44} {rss_anon / 1024:>11.1f} MiB   (the rest is the binary's mapped code, shared with the page cache)")
        print(f"{'keepers: memory private to them, total':44} {keeper_private / 1024:>11.1f} MiB   ({len(keepers)} keepers, {keeper_private / max(len(keepers), 1):.0f} KiB each; PSS {keeper_pss / 1024:.1f} MiB)")
        print(f"{'the forker: memory private to it':44} {forker_private:>11.0f} KiB   (the one process that forks the keepers)")
        print(f"{'daemon wakeups per second, idle':44} {wakeups:>14.2f} {'< 1':>14}")
        print(f"{'hostctl status, median':44} {ms(statistics.median(t)):>14} {ms(statistics.median(v)):>14}   (reference: hostctl --version, process start)")
        print(f"{'daemon CPU during a crash loop':44} {crash_cpu * 100:>13.1f}% {'':>14}   ({crashes:.1f} crashes/s)")
    finally:
        subprocess.run([HOSTCTL, "shutdown", "--home", home], capture_output=True)
        subprocess.run(["rm", "-rf", root])


if __name__ == "__main__":
    main()
