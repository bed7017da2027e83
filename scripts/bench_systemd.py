#!/usr/bin/env python3
"""scripts/bench systemd: hostctl under a real systemd 252, booted as PID 1 of private namespaces
(needs root), each figure beside its reference, in one run.

  start      `systemctl start hostctl.service` until active (Type=notify: READY=1 comes once the
             4 workers are ready), against the same 4 workers spawned directly until each answers,
             and against `hostctl start` without systemd
  watchdog   the daemon's CPU and context switches per second while idle with WatchdogSec=1s
             (pings every 0.5 s) and with the default WatchdogSec=30s
"""
import os, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

from bench_common import connect_until, free_port

HOSTCTL, FIXTURE = sys.argv[1], sys.argv[2]
ROUNDS = 10
WORKERS = 4


def hostctl(home, *args, env=None, check=True):
    return subprocess.run([HOSTCTL, *args, "--home", home], check=check, capture_output=True, text=True,
                          env=env or dict(os.environ, HOSTCTL_LISTEN="127.0.0.1:0"))


def direct(root):
    """The reference: the 4 workers spawned directly, until each accepts."""
    times = []
    for round_ in range(ROUNDS):
        t0 = time.monotonic()
        procs, paths = [], []
        for slot in range(1, WORKERS + 1):
            path = f"{root}/d{round_}-{slot}.sock"
            env = dict(os.environ, PORT=path, HOSTCTL_APP="direct", HOSTCTL_WORKER=str(slot))
            procs.append(subprocess.Popen([FIXTURE], env=env, stdout=subprocess.DEVNULL))
            paths.append(path)
        for path in paths:
            assert connect_until(path, t0 + 10), "a direct worker never answered"
        times.append(time.monotonic() - t0)
        for p in procs:
            p.kill()
            p.wait()
    return times


def without_systemd(root):
    """`hostctl start` (daemon and 4 workers) without systemd, then `hostctl shutdown`."""
    home = f"{root}/plain"
    os.makedirs(f"{root}/app", exist_ok=True)
    hostctl(home, "add", "fx", f"{root}/app", "--command", FIXTURE, "--workers", str(WORKERS))
    times = []
    for _ in range(ROUNDS):
        t0 = time.monotonic()
        hostctl(home, "start")
        times.append(time.monotonic() - t0)
        hostctl(home, "shutdown")
    return times


class Systemd:
    def __init__(self, units, marker):
        for target in ["sysinit", "basic", "shutdown", "network-online", "sockets", "multi-user", "slices"]:
            with open(f"{units}/{target}.target", "w") as f:
                f.write(f"[Unit]\nDescription={target}\nDefaultDependencies=no\n")
        with open(f"{units}/hostctl-bench.target", "w") as f:
            f.write("[Unit]\nDescription=bench\n")
        script = (f"mount -t tmpfs tmpfs /run && mount -t cgroup2 none /sys/fs/cgroup || exit 3\n"
                  f"export container=other SYSTEMD_UNIT_PATH={units} HOSTCTL_BENCH_MARKER={marker}\n"
                  f"exec /lib/systemd/systemd --system --unit=hostctl-bench.target\n")
        self.launcher = subprocess.Popen(["unshare", "--fork", "--pid", "--mount", "--mount-proc", "--cgroup",
                                          "/bin/sh", "-c", script],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.pid = None
        deadline = time.monotonic() + 10
        while self.pid is None and time.monotonic() < deadline:
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                try:
                    if (open(f"/proc/{entry}/comm").read().startswith("systemd")
                            and f"HOSTCTL_BENCH_MARKER={marker}".encode() in open(f"/proc/{entry}/environ", "rb").read()):
                        self.pid = int(entry)
                except OSError:
                    pass
            time.sleep(0.01)
        assert self.pid, "systemd did not come up"
        # Ready once systemctl can talk to it.
        while True:
            version = self.run("systemctl", "show", "-p", "Version", "--value", check=False)
            if version.returncode == 0 and version.stdout.strip():
                break
            time.sleep(0.01)

    def run(self, *args, check=True):
        return subprocess.run(["nsenter", "-t", str(self.pid), "-m", "-p", *args], capture_output=True, text=True,
                              check=check)

    def show(self, name):
        return self.run("systemctl", "show", "-p", name, "--value", "hostctl.service").stdout.strip()

    def stop(self):
        os.kill(self.pid, signal.SIGKILL)
        self.launcher.wait()


def ticks_and_switches(pid):
    """CPU ticks of the process, and context switches of each of its threads by thread id."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    switches = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            for line in open(f"/proc/{pid}/task/{task}/status"):
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    switches[task] = switches.get(task, 0) + int(line.split()[1])
        except OSError:
            pass
    return ticks, switches


def switch_delta(before, after):
    """Switches between two samples, over the threads alive at both (threads come and go)."""
    return sum(after[task] - before[task] for task in before if task in after)


def under_systemd(root, watchdog):
    home = f"{root}/sd-{watchdog}"
    units = f"{root}/units-{watchdog}"
    os.makedirs(units)
    os.makedirs(f"{root}/app", exist_ok=True)
    os.makedirs(home)
    with open(f"{home}/hostctl.yml", "w") as f:
        f.write(f"listen: 127.0.0.1:{free_port()}\n")
    hostctl(home, "add", "fx", f"{root}/app", "--command", FIXTURE, "--workers", str(WORKERS))
    unit = hostctl(home, "systemd-unit").stdout.replace("WatchdogSec=30s", f"WatchdogSec={watchdog}")
    with open(f"{units}/hostctl.service", "w") as f:
        f.write(unit)
    systemd = Systemd(units, f"{root}-{watchdog}")
    try:
        times = []
        for _ in range(ROUNDS):
            t0 = time.monotonic()
            systemd.run("systemctl", "start", "hostctl.service")
            times.append(time.monotonic() - t0)
            assert systemd.show("ActiveState") == "active"
            assert systemd.show("StatusText") == f"1 app, {WORKERS}/{WORKERS} workers ready", systemd.show("StatusText")
            systemd.run("systemctl", "stop", "hostctl.service")
        systemd.run("systemctl", "start", "hostctl.service")
        host_pid = daemon_pid(home)
        time.sleep(1)
        t0 = time.monotonic()
        ticks0, switches0 = ticks_and_switches(host_pid)
        time.sleep(10)
        ticks1, switches1 = ticks_and_switches(host_pid)
        elapsed = time.monotonic() - t0
        cpu = (ticks1 - ticks0) / os.sysconf("SC_CLK_TCK") / elapsed * 100
        wakeups = switch_delta(switches0, switches1) / elapsed
        restarts = systemd.show("NRestarts")
        systemd.run("systemctl", "stop", "hostctl.service")
        return times, cpu, wakeups, restarts
    finally:
        systemd.stop()


def daemon_pid(home):
    """The daemon of `home` as this namespace sees it (its keepers share its command line, not its name)."""
    for entry in os.listdir("/proc"):
        try:
            if (entry.isdigit() and open(f"/proc/{entry}/comm").read().strip() == "hostctl"
                    and f"--home\0{home}".encode() in open(f"/proc/{entry}/cmdline", "rb").read()):
                return int(entry)
        except OSError:
            pass
    raise RuntimeError("daemon not found")


def ms(values):
    return f"median {statistics.median(values) * 1000:7.1f} ms   min {min(values) * 1000:6.1f} ms"


def main():
    if os.geteuid() != 0:
        print("scripts/bench systemd needs root (it boots systemd in private namespaces)")
        sys.exit(1)
    root = tempfile.mkdtemp(prefix="hbs-", dir="/tmp")
    try:
        d = direct(root)
        p = without_systemd(root)
        s, cpu1, wake1, restarts1 = under_systemd(root, "1s")
        _, cpu30, wake30, _ = under_systemd(root, "30s")
        print(f"start with {WORKERS} workers ready, {ROUNDS} rounds each")
        print(f"  reference: the {WORKERS} workers spawned directly    {ms(d)}")
        print(f"  hostctl start (daemon + workers), no systemd  {ms(p)}")
        print(f"  systemctl start hostctl.service until active {ms(s)}")
        print(f"  ratio systemctl start / direct             {statistics.median(s) / statistics.median(d):7.2f}x")
        print("idle daemon under systemd, 10 s each")
        print(f"  WatchdogSec=1s:  CPU {cpu1:.3f}%   {wake1:.1f} context switches/s   restarts {restarts1}")
        print(f"  WatchdogSec=30s: CPU {cpu30:.3f}%   {wake30:.1f} context switches/s")
    finally:
        shutil.rmtree(root, ignore_errors=True)


main()
