# SPDX-License-Identifier: MIT
# load_guest.py: the client side of bench/load, run inside a sandbox with the guest's python3.
"""Talks to the guest's forward proxy (HTTP_PROXY, 127.0.0.1:3128) only. Modes, each
printing one JSON object on stdout:

  hold N HOST PORT      open N CONNECT tunnels to HOST:PORT at once, keep them all open
                        until every one is established, then one GET through each
  seq N HOST PORT       N connections one after another: absolute-form GET, Connection: close
  lat N HOST PORT       like seq, and the latency of each request in ms
(The flood of bench/load is curl's --parallel: Python's asyncio under TCG could not
read ten streams at once faster than ~1.3 MB/s, so it loaded itself, not sbx.)
"""

import asyncio
import json
import os
import sys
import time
import urllib.parse

PROXY = urllib.parse.urlsplit(os.environ.get("HTTP_PROXY") or os.environ.get("http_proxy")
                              or "http://127.0.0.1:3128")
PHOST, PPORT = PROXY.hostname, PROXY.port or 3128


async def read_head(r):
    head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 120)
    return head


async def tunnel(host, port):
    r, w = await asyncio.wait_for(asyncio.open_connection(PHOST, PPORT), 120)
    w.write(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    head = await read_head(r)
    if not head.startswith(b"HTTP/1.1 200") and not head.startswith(b"HTTP/1.0 200"):
        w.close()
        raise RuntimeError(head.split(b"\r\n")[0].decode(errors="replace"))
    return r, w


async def get(r, w, host, path):
    w.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    head = await read_head(r)
    if b" 200 " not in head.split(b"\r\n")[0]:
        raise RuntimeError(head.split(b"\r\n")[0].decode(errors="replace"))
    n = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            n = int(line.split(b":")[1])
    got = 0
    while got < n:
        chunk = await asyncio.wait_for(r.read(min(1 << 20, n - got)), 120)
        if not chunk:
            raise RuntimeError("short body")
        got += len(chunk)
    return got


async def hold(n, host, port):
    t0 = time.monotonic()
    res = await asyncio.gather(*(tunnel(host, port) for _ in range(n)), return_exceptions=True)
    held = [x for x in res if not isinstance(x, BaseException)]
    errs = [repr(x) for x in res if isinstance(x, BaseException)]
    t_held = time.monotonic() - t0
    got = await asyncio.gather(*(get(r, w, host, "/") for r, w in held), return_exceptions=True)
    ok = sum(1 for x in got if not isinstance(x, BaseException))
    errs += [repr(x) for x in got if isinstance(x, BaseException)]
    for _, w in held:
        w.close()
    return {"held": len(held), "ok": ok, "failed": n - ok, "secs_to_hold": t_held,
            "secs": time.monotonic() - t0, "errors": errs[:5]}


async def one_request(host, port):
    r, w = await asyncio.wait_for(asyncio.open_connection(PHOST, PPORT), 60)
    try:
        w.write(f"GET http://{host}:{port}/ HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        data = await asyncio.wait_for(r.read(-1), 60)
        if not data.startswith(b"HTTP/1.1 200") or not data.endswith(b"hello, world\n"):
            raise RuntimeError(data[:80].decode(errors="replace"))
    finally:
        w.close()


async def seq(n, host, port, keep_lat=False):
    ok, errs, lat = 0, [], []
    t0 = time.monotonic()
    for _ in range(n):
        t = time.monotonic()
        try:
            await one_request(host, port)
            ok += 1
            lat.append((time.monotonic() - t) * 1000)
        except Exception as e:  # noqa: BLE001 (a failed request is a result here)
            errs.append(repr(e))
    out = {"ok": ok, "failed": n - ok, "secs": time.monotonic() - t0, "errors": errs[:5]}
    if keep_lat:
        out["lat_ms"] = lat
    return out


def main(argv):
    mode = argv[1]
    if mode == "hold":
        out = asyncio.run(hold(int(argv[2]), argv[3], int(argv[4])))
    elif mode in ("seq", "lat"):
        out = asyncio.run(seq(int(argv[2]), argv[3], int(argv[4]), keep_lat=mode == "lat"))
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(out), flush=True)
    return 0 if not out.get("failed") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
