"""Opens COUNT dante streams at URL with the `websockets` library, prints `open` once every stream
has its first stanza, reads each to its end, then prints one JSON line per stream:
{"stanzas": n, "ordered": bool, "code": close code or error, "worker": pid}."""
import asyncio
import json
import sys

import websockets


async def stream(url, first):
    stanzas, ordered, code, worker = 0, True, None, None
    try:
        async with websockets.connect(url, open_timeout=10, close_timeout=10) as connection:
            async for message in connection:
                data = json.loads(message)
                stanzas += 1
                ordered = ordered and data["index"] == stanzas
                worker = data["worker"]["pid"]
                if stanzas == 1:
                    first.release()
            code = connection.close_code
    except Exception as error:  # noqa: BLE001 - a dropped stream is what the caller counts
        code = repr(error)
        if stanzas == 0:
            first.release()
    return {"stanzas": stanzas, "ordered": ordered, "code": code, "worker": worker}


async def main(url, count):
    first = asyncio.Semaphore(0)
    tasks = [asyncio.create_task(stream(url, first)) for _ in range(count)]
    for _ in range(count):
        await first.acquire()
    print("open", flush=True)
    for result in await asyncio.gather(*tasks):
        print(json.dumps(result), flush=True)


asyncio.run(main(sys.argv[1], int(sys.argv[2])))
