"""Helpers the benchmark scripts share."""
import os
import socket
import time


def cpu_seconds(pids):
    """User + system CPU seconds of the processes `pids` (all their threads) so far; a process
    that is gone counts 0."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_steal():
    """(stolen, total) CPU ticks of the machine so far, from /proc/stat: time the hypervisor gave
    this virtual machine's CPUs to someone else counts as stolen. A round of a benchmark during
    which the host took a share of the CPUs runs slower for reasons outside the code measured."""
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    return fields[7], sum(fields)


def steal_percent(before, after):
    """The share of CPU time stolen between two `cpu_steal()` readings, in percent."""
    total = after[1] - before[1]
    return 100 * (after[0] - before[0]) / total if total else 0.0


def free_port():
    """A TCP port on 127.0.0.1 that is free now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def connect_until(path, deadline):
    """Whether the Unix socket at `path` accepts a connection before `deadline` (time.monotonic())."""
    while time.monotonic() < deadline:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return True
        except OSError:
            time.sleep(0.0002)
        finally:
            s.close()
    return False
