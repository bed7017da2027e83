"""Helpers the benchmark scripts share."""
import socket
import time


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
