"""dante-py: the dante example in Python with aiohttp (`pip install aiohttp`): the same page, and on
the same URL a WebSocket that streams Canto I of the Inferno one stanza every two seconds
(STANZA_INTERVAL_MS sets the pace). It shares the text and the page with ../dante.

It listens where hostctl says: PORT as a Unix socket path or a TCP port, or the socket passed as
fd 3 (LISTEN_FDS=1)."""
import asyncio
import json
import os
import pathlib
import signal
import socket
import sys

from aiohttp import WSMsgType, web

HERE = pathlib.Path(__file__).resolve().parent
SHARED = HERE.parent / "dante"
STANZAS = [s for s in SHARED.joinpath("canto1.txt").read_text("utf-8").strip().split("\n\n")]
PAGE = SHARED.joinpath("index.html").read_bytes()
INTERVAL = int(os.environ.get("STANZA_INTERVAL_MS", "2000")) / 1000
WORKER = {"slot": os.environ.get("HOSTCTL_WORKER", "-"), "pid": os.getpid()}


async def index(request):
    if request.headers.get("Upgrade", "").lower() != "websocket":
        return web.Response(body=PAGE, content_type="text/html", charset="utf-8")
    ws = web.WebSocketResponse(heartbeat=None)
    await ws.prepare(request)
    recital = asyncio.create_task(recite(ws))
    try:
        async for message in ws:
            if message.type == WSMsgType.TEXT and message.data.strip() == "again":
                recital.cancel()
                recital = asyncio.create_task(recite(ws))
    finally:
        recital.cancel()
    return ws


async def recite(ws):
    for index, text in enumerate(STANZAS, start=1):
        await ws.send_str(json.dumps({"index": index, "total": len(STANZAS), "text": text, "worker": WORKER}))
        await asyncio.sleep(INTERVAL)
    await ws.close(code=1000, message=b"here ends the first canto")


async def main():
    app = web.Application()
    app.router.add_get("/", index)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    port = os.environ.get("PORT", "")
    if os.environ.get("LISTEN_FDS") == "1" and os.environ.get("LISTEN_PID") == str(os.getpid()):
        site = web.SockSite(runner, socket.socket(fileno=3))
    elif "/" in port:
        site = web.UnixSite(runner, port)
    elif port:
        site = web.TCPSite(runner, "127.0.0.1", int(port))
    else:
        print("dante-py: no PORT (run it under hostctl, or PORT=8000 python3 app.py)", file=sys.stderr)
        sys.exit(2)
    await site.start()
    print(f"dante-py: worker {WORKER['slot']} listening", flush=True)
    # SIGTERM: stop taking connections; open streams end by themselves (or at hostctl's stop timeout).
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    await stopping.wait()
    await runner.shutdown()
    await runner.cleanup()


asyncio.run(main())
