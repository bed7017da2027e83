"""A WebSocket echo worker built on the `websockets` library, so that the proxy is tested against an
implementation that shares none of its code. Listens where hostctl says: PORT is a TCP port or a
Unix socket path."""
import asyncio
import os

import websockets


async def echo(connection):
    async for message in connection:
        await connection.send(message)


async def main():
    port = os.environ["PORT"]
    if port.isdigit():
        server = await websockets.serve(echo, "127.0.0.1", int(port))
    else:
        server = await websockets.unix_serve(echo, port)
    print(f"listening {port}", flush=True)
    await server.wait_closed()


asyncio.run(main())
