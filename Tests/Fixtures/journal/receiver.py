#!/usr/bin/env python3
"""Stands in for journald: receives datagrams at argv[1] and appends each to argv[2], followed by
a 0x1e separator. Creates argv[2] once it is listening."""
import os, socket, sys

path, out = sys.argv[1], sys.argv[2]
receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
receiver.bind(path)
os.chmod(path, 0o666)
with open(out, "ab", buffering=0) as sink:
    while True:
        data = receiver.recv(1 << 20)
        sink.write(data + b"\x1e")
