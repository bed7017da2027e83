"""A WebSocket client built on the `websockets` library: connects to URL, checks that a text message,
a 300 KiB binary message and a ping come back, closes with 1000 and checks that the close handshake
completed. Prints one `ok ...` line per check; exits 1 with the reason on the first failure."""
import asyncio
import os
import sys

import websockets


async def main(url):
    async with websockets.connect(url, max_size=None, open_timeout=10, close_timeout=10) as connection:
        await connection.send("hello through hostctl")
        text = await asyncio.wait_for(connection.recv(), 10)
        assert text == "hello through hostctl", f"text came back as {text!r}"
        print("ok text", flush=True)
        payload = os.urandom(300 * 1024)
        await connection.send(payload)
        echoed = await asyncio.wait_for(connection.recv(), 10)
        assert echoed == payload, f"binary came back as {len(echoed)} different bytes"
        print("ok binary", flush=True)
        pong = await connection.ping(b"are you there")
        await asyncio.wait_for(pong, 10)
        print("ok ping", flush=True)
        await connection.close(code=1000, reason="done")
        assert connection.close_code == 1000, f"close code {connection.close_code}"
        print("ok close", flush=True)


try:
    asyncio.run(main(sys.argv[1]))
except Exception as error:  # one line, for the test's message
    print(f"failed: {type(error).__name__}: {error}", flush=True)
    sys.exit(1)
