"""Reads the dante stream with the `websockets` library: connects to URL, receives COUNT messages
and prints the text of each as JSON on one line, then sends a fragmented text message and a ping
(the server must cope) and closes with 1000. Exits 1 with the reason on a failure."""
import asyncio
import json
import sys

import websockets


async def main(url, count):
    async with websockets.connect(url, open_timeout=10, close_timeout=10) as connection:
        for _ in range(count):
            message = json.loads(await asyncio.wait_for(connection.recv(), 10))
            print(json.dumps(message), flush=True)
        # A fragmented text message ("again" in three frames) and a ping, to exercise the server's framing.
        await connection.send(iter(["ag", "a", "in"]))
        await asyncio.wait_for(await connection.ping(b"still there?"), 10)
        again = json.loads(await asyncio.wait_for(connection.recv(), 10))
        print(json.dumps(again), flush=True)
        await connection.close(code=1000, reason="done")
        assert connection.close_code == 1000, f"close code {connection.close_code}"


try:
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
except Exception as error:  # noqa: BLE001 - any failure is reported the same way
    print(f"failed: {error!r}", file=sys.stderr)
    sys.exit(1)
