#!/usr/bin/env python3
"""scripts/bench logs: log capture and `hostctl logs`, each beside its reference, in one run.

  capture    1,000,000 lines of 100 B from 4 workers (125,000 lines each to stdout and to stderr)
             through hostctl into its log files, against the same workers writing straight to one
             file (goal: elapsed <= 1.2x, 0 lines lost); and, as the floor of any capture through
             pipes, the same workers with each pipe read by a `cat` into one file. Twice: with
             hostctl's fixture worker, which writes its lines in 32 KiB blocks as a buffered logger
             does (the cheapest writer there is, so the capture's own cost shows most), and with
             node workers that write each line with a console.log or console.error of its own
  memory     the daemon's peak RSS during the capture, above its idle RSS (goal: <= 10 MiB)
  logs -n    `hostctl logs APP -n 100` on 1 GiB of logs in 5 files, against `tail -n 100` of the
             current file (goal: < 50 ms)
"""
import json, os, shutil, statistics, subprocess, sys, tempfile, time

from bench_common import cpu_seconds

HOSTCTL, FIXTURE = sys.argv[1], sys.argv[2]
SPEW_JS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_logs_spew.js")
WORKERS, LINES, LINE_BYTES = 4, 125_000, 100
TOTAL = WORKERS * LINES * 2
# A worker line's record: time (24) + ' spew/N.1 ' (10) + 'out '/'err ' (4) + '| ' (2) + text (99) + newline.
RECORD_BYTES = 24 + 10 + 4 + 2 + (LINE_BYTES - 1) + 1


def hostctl(home, *args, check=True):
    env = dict(os.environ, HOSTCTL_LISTEN="127.0.0.1:0")
    return subprocess.run([HOSTCTL, *args, "--home", home], check=check, capture_output=True, text=True, env=env)


def rss_kib(pid, key="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def peak_rss_kib(pid, reset=False):
    """The process's peak RSS (VmHWM); `reset` first brings the mark down to its RSS now
    (/proc/PID/clear_refs 5, Linux 4.0+, needs the right to write the file: root or the owner)."""
    if reset:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    return rss_kib(pid, "VmHWM")


def wait_for_size(path, size, t0, deadline=300):
    """Returns once `path` holds `size` bytes. Each look is a stat; the sleeps between them are half
    the time the rest should take at the rate so far (1 to 20 ms), so the end is seen within about a
    millisecond with a few dozen wake-ups instead of one per millisecond (those cost the CPUs the
    capture runs on 2%)."""
    while time.monotonic() < t0 + deadline:
        try:
            now = os.stat(path).st_size
        except FileNotFoundError:
            now = 0
        if now >= size:
            return
        spent = time.monotonic() - t0
        rest = (size - now) * spent / now if now else 0
        time.sleep(min(max(rest / 2, 0.001), 0.02))


def wait_cpu(proc):
    """Waits for `proc`; returns its user + system CPU seconds."""
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    return usage.ru_utime + usage.ru_stime


def writer(kind):
    """The worker command of a capture run: hostctl's fixture worker (`fixture`) or node (`node`)."""
    args = ["--lines", str(LINES), "--line-bytes", str(LINE_BYTES)]
    return [FIXTURE, *args] if kind == "fixture" else ["node", SPEW_JS, *args]


def run_workers(path, piped, kind):
    """The workers' run outside hostctl, appending to `path`: straight (`piped` False), or each
    stream through a pipe read by its own `cat`. Returns the elapsed time, the lines written, and
    the CPU seconds of the workers and of the cats."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    t0 = time.monotonic()
    procs = []
    cats = []
    for slot in range(1, WORKERS + 1):
        env = dict(os.environ, HOSTCTL_WORKER=str(slot), PORT="0")
        ends = [os.pipe(), os.pipe()] if piped else [(None, fd), (None, fd)]
        procs.append(subprocess.Popen(writer(kind),
                                      env=env, stdout=ends[0][1], stderr=ends[1][1]))
        for read_end, write_end in ends if piped else []:
            os.close(write_end)
            cats.append(subprocess.Popen(["cat"], stdin=read_end, stdout=fd))
            os.close(read_end)
    workers_cpu = sum(wait_cpu(p) for p in procs)
    cats_cpu = sum(wait_cpu(p) for p in cats)
    elapsed = time.monotonic() - t0
    os.close(fd)
    lines = sum(chunk.count(b"\n") for chunk in read_chunks(path))
    os.unlink(path)
    return elapsed, lines, workers_cpu, cats_cpu


def direct(root, kind):
    """The reference: the same workers, stdout and stderr appended straight to one file."""
    return run_workers(f"{root}/direct.log", piped=False, kind=kind)


def through_cat(root, kind):
    """A floor for any capture through pipes: the same workers, each pipe read by its own `cat`
    appending to one file (no splitting, no stamps: every byte moved twice, as little work as
    a pipe allows)."""
    return run_workers(f"{root}/cat.log", piped=True, kind=kind)


def read_chunks(path):
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                return
            yield chunk


def through_hostctl(root, kind):
    home = f"{root}/h"
    os.makedirs(f"{root}/app", exist_ok=True)
    hostctl(home, "add", "idle", f"{root}/app", "--command", FIXTURE, "--route", "/idle")
    # The daemon starts every app it knows: spew is added once it runs, then started on its own.
    hostctl(home, "start", "idle")
    command = " ".join(writer(kind)) + " --then-serve"
    hostctl(home, "add", "spew", f"{root}/app", "--command", command, "--route", "/spew", "--workers", str(WORKERS))
    with open(f"{home}/apps/spew.yml", "a") as f:
        # One big file, so that rotation removes nothing the count below needs.
        f.write("logs:\n  max_size: 1GiB\n  max_files: 2\nready:\n  timeout: 120s\n")
    pid = int(open(f"{home}/run/hostctl.pid").read())
    time.sleep(1)
    idle = rss_kib(pid)
    # The peak is the kernel's high-water mark, reset to the idle RSS here: no sampling thread
    # competes with the capture for the CPU (a 5 ms sampler cost 4% of one CPU).
    peak = peak_rss_kib(pid, reset=True)
    log = f"{home}/logs/spew/spew.log"
    daemon_cpu = cpu_seconds([pid])
    t0 = time.monotonic()
    starter = subprocess.Popen([HOSTCTL, "start", "spew", "--no-wait", "--home", home],
                               env=dict(os.environ, HOSTCTL_LISTEN="127.0.0.1:0"), stdout=subprocess.DEVNULL)
    # Done when the file holds every worker record (the few hostctl records only make it sooner by
    # a few hundred bytes, a handful of lines).
    wait_for_size(log, TOTAL * RECORD_BYTES, t0)
    elapsed = time.monotonic() - t0
    daemon_cpu = cpu_seconds([pid]) - daemon_cpu
    start_cpu = wait_cpu(starter)
    # The workers serve on after their lines (`--then-serve`): their CPU is read while they run.
    workers = json.loads(hostctl(home, "status", "spew", "--json").stdout)["apps"][0]["workers"]
    workers_cpu = cpu_seconds(w["pid"] for w in workers if w.get("pid"))
    time.sleep(0.2)
    peak = max(peak, peak_rss_kib(pid))
    # Every line once, in order per worker and stream.
    expected = {}
    lost = TOTAL
    bad = 0
    first_start = last_line = None
    for chunk in read_lines(log):
        if b" hostctl | " in chunk[:60]:
            if first_start is None and b" hostctl | started pid" in chunk:
                first_start = stamp(chunk)
            continue
        last_line = chunk
        text = chunk.split(b" | ", 1)[1].split(b" ")
        if len(text) < 4 or text[0] not in (b"out", b"err"):
            continue  # the workers' own `listening …` line
        key = (text[0], text[1])
        number = int(text[2])
        if expected.get(key, 1) != number:
            bad += 1
        expected[key] = number + 1
        lost -= 1
    dropped = hostctl(home, "status", "spew", "--json").stdout
    hostctl(home, "shutdown", check=False)
    # From the first worker's start to the last line's stamp, both written by the daemon: the capture
    # without the `hostctl start` command around it.
    from_spawn = stamp(last_line) - first_start
    return elapsed, from_spawn, lost, bad, idle, peak, dropped, workers_cpu, daemon_cpu, start_cpu


def stamp(record):
    """Seconds (within the day) of a record's time, `2026-11-25T07:00:01.123Z`."""
    clock = record[11:23].decode()
    hours, minutes, seconds = clock.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def read_lines(path):
    rest = b""
    for chunk in read_chunks(path):
        chunk = rest + chunk
        lines = chunk.split(b"\n")
        rest = lines.pop()
        yield from lines


def make_big_logs(root):
    """1 GiB of records for app 'big' in 5 files (current + 4 rotated), as the writer leaves them."""
    home = f"{root}/h"
    directory = f"{home}/logs/big"
    os.makedirs(directory, exist_ok=True)
    line = b"2026-11-25T07:00:01.123Z big/1.1 out | " + b"x" * 98 + b"\n"
    block = line * 8192
    per_file = (1 << 30) // 5
    for name in ["big.log.4", "big.log.3", "big.log.2", "big.log.1", "big.log"]:
        with open(f"{directory}/{name}", "wb") as f:
            written = 0
            while written < per_file:
                f.write(block)
                written += len(block)
    return home, directory


def main():
    root = tempfile.mkdtemp(prefix="hbl-", dir="/tmp")
    try:
        run(root)
    finally:
        # The daemon goes before its home does.
        hostctl(f"{root}/h", "shutdown", check=False)
        shutil.rmtree(root, ignore_errors=True)


def capture(root, kind, rounds_wanted, title):
    """Rounds of the three runs of `kind`'s workers (straight to a file, through `cat`, through
    hostctl), alternating, each through a fresh home; prints the medians."""
    rounds = []
    floors = []
    for index in range(rounds_wanted):
        d_elapsed, d_lines, d_cpu, _ = direct(root, kind)
        floors.append(through_cat(root, kind))
        os.makedirs(f"{root}/r{index}")
        try:
            rounds.append((d_elapsed, d_lines, *through_hostctl(f"{root}/r{index}", kind), d_cpu))
        finally:
            hostctl(f"{root}/r{index}/h", "shutdown", check=False)
            shutil.rmtree(f"{root}/r{index}", ignore_errors=True)
    median = statistics.median
    d_elapsed = median([r[0] for r in rounds])
    h_elapsed = median([r[2] for r in rounds])
    from_spawn = median([r[3] for r in rounds])
    ratios = sorted(r[2] / r[0] for r in rounds)
    d_lines = min(r[1] for r in rounds)
    lost = max(r[4] for r in rounds)
    bad = max(r[5] for r in rounds)
    idle = median([r[6] for r in rounds])
    growth = max(r[7] - r[6] for r in rounds)
    status = rounds[-1][8]
    print(f"capture: 1,000,000 lines of 100 B from 4 workers, {title}, median of {rounds_wanted} rounds")
    print(f"  reference: straight to one file    {d_elapsed:7.3f} s   {d_lines} lines (fewest of the rounds)")
    print(f"  through hostctl into its log files {h_elapsed:7.3f} s   lost {lost}, out of order {bad} (most of the rounds)")
    print(f"    of which first worker start to last line written (log stamps) {from_spawn:.3f} s")
    print(f"  ratio hostctl / direct             {h_elapsed / d_elapsed:7.2f}x   (goal <= 1.2x, 0 lost); "
          f"per round {' '.join(f'{r:.2f}' for r in ratios)}")
    print(f"  ratio without `hostctl start`      {from_spawn / d_elapsed:7.2f}x")
    floor = median([f[0] for f in floors])
    print(f"  floor: each pipe read by a `cat`   {floor:7.3f} s   {min(f[1] for f in floors)} lines; "
          f"ratio {floor / d_elapsed:.2f}x (bytes moved through pipes, no splitting or stamps)")
    cpu = lambda index: median([r[index] for r in rounds])
    print(f"  CPU seconds: straight, the workers {cpu(12):.3f}; through `cat`, the workers "
          f"{median([f[2] for f in floors]):.3f} + the cats {median([f[3] for f in floors]):.3f}; through hostctl, "
          f"the workers {cpu(9):.3f} + the daemon {cpu(10):.3f} + `hostctl start` {cpu(11):.3f}")
    print(f"  daemon RSS idle {idle / 1024:.1f} MiB, largest peak above idle +{growth / 1024:.1f} MiB   (goal <= 10 MiB)")
    print(f"  status: dropped_log_lines {status.split('dropped_log_lines')[1][2:].split(',')[0]}")


def run(root):
    capture(root, "fixture", 9, "hostctl's fixture worker (32 KiB writes)")
    if shutil.which("node"):
        print()
        capture(root, "node", 5, "node workers (a write per console.log)")
    else:
        print("\ncapture with node workers skipped: node is not installed")
    home, directory = make_big_logs(root)
    size = sum(os.path.getsize(f"{directory}/{n}") for n in os.listdir(directory))
    print(f"\nhostctl logs -n 100 on {size / (1 << 30):.2f} GiB of logs in 5 files")
    subprocess.run(["hyperfine", "--shell=none", "--warmup", "3", "--min-runs", "30", "--style", "basic",
                    "-n", "reference: tail -n 100 big.log", f"tail -n 100 {directory}/big.log",
                    "-n", "hostctl logs big -n 100", f"{HOSTCTL} logs big -n 100 --home {home}",
                    "-n", "hostctl logs -n 100 (every app)", f"{HOSTCTL} logs -n 100 --home {home}",
                    "-n", "hostctl logs big -n 1000 --json", f"{HOSTCTL} logs big -n 1000 --json --home {home}"],
                   check=True)
    # A worker that writes binary output: every byte of its 64 KiB lines is escaped for the terminal.
    binary = f"{home}/logs/bin"
    os.makedirs(binary, exist_ok=True)
    garbage = bytes(b for b in range(256) if b != 10 and (b < 32 or b >= 128))
    line = b"2026-11-25T07:00:01.123Z bin/1.1 out | " + (garbage * (65536 // len(garbage) + 1))[:65536] + b"\n"
    with open(f"{binary}/bin.log", "wb") as f:
        f.write(line * 100)
    print("\nhostctl logs -n 100 on 100 lines of 64 KiB of binary output (every byte escaped)")
    subprocess.run(["hyperfine", "--shell=none", "--warmup", "2", "--min-runs", "10", "--style", "basic",
                    "-n", "reference: tail -n 100 bin.log", f"tail -n 100 {binary}/bin.log",
                    "-n", "hostctl logs bin -n 100", f"{HOSTCTL} logs bin -n 100 --home {home}"],
                   check=True, stdout=None)


main()
