"""Opens URL in headless Chromium (argv[1] is its path) and prints the text of the page's first
`.stanza` element as soon as the DOM has one (10 s at most), through the DevTools protocol: a real
browser running the page's script and WebSocket. Exits 1 when none appears."""
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import websockets


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


async def main(browser, url):
    port = free_port()
    profile = tempfile.mkdtemp(prefix="hcb-")
    # Chromium's own temporary files (its singleton socket directory, which a killed Chromium leaves
    # behind) go below the profile, removed with it.
    temporary = os.path.join(profile, "tmp")
    os.mkdir(temporary)
    chromium = subprocess.Popen(
        [browser, "--headless=new", "--no-sandbox", "--disable-gpu", f"--remote-debugging-port={port}",
         f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env=dict(os.environ, TMPDIR=temporary))
    try:
        deadline = time.monotonic() + 20
        pages = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=1) as response:
                    pages = [p for p in json.load(response) if p.get("type") == "page"]
                if pages:
                    break
            except OSError:
                pass
            await asyncio.sleep(0.05)
        assert pages, "chromium did not come up"
        async with websockets.connect(pages[0]["webSocketDebuggerUrl"], max_size=None) as devtools:
            ids = iter(range(1, 1_000_000))

            async def call(method, **params):
                ident = next(ids)
                await devtools.send(json.dumps({"id": ident, "method": method, "params": params}))
                while True:
                    reply = json.loads(await devtools.recv())
                    if reply.get("id") == ident:
                        return reply

            await call("Page.navigate", url=url)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                reply = await call(
                    "Runtime.evaluate",
                    expression="(document.querySelector('.stanza') || {}).textContent || ''", returnByValue=True)
                text = reply.get("result", {}).get("result", {}).get("value", "")
                if text:
                    print(text)
                    return 0
                await asyncio.sleep(0.1)
            print("no stanza within 10 s", file=sys.stderr)
            return 1
    finally:
        # Chromium's helpers (zygote, renderer, GPU) are in its process group: all of it goes.
        try:
            os.killpg(chromium.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        chromium.wait()
        shutil.rmtree(profile, ignore_errors=True)


sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2])))
