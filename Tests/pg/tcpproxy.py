#!/usr/bin/env python3
"""tcpproxy — a TCP proxy on 127.0.0.1 for the PostgreSQL tests: latency and faults (stdlib only).

    tcpproxy.py --upstream 127.0.0.1:PORT --port-file FILE [--latency-ms MS] [--idle-exit S] [--fine-timers]

Bytes pass through unchanged. This kernel has no netem, so the proxy adds what a network
would: every chunk waits --latency-ms before it is passed on, in each direction (a round trip
gains twice that). asyncio's timers wake through epoll_wait, whose timeout is whole
milliseconds: a 0.1 ms delay lasts 1-2 ms. --fine-timers runs the loop on select(2) instead
(microsecond timeouts; at most ~500 connections), for sub-millisecond latencies (Tests/bench).
The proxy also counts round trips: a "turn" is client data that follows
server data (or opens a connection), which is what one request/response exchange costs.

A control port (its number is the second line of --port-file) takes one command per line and
answers one line:

  latency MS     set the one-way delay
  cut            reset every open connection now (RST), as a crashed server or a cut link would
  hang on|off    on: accept and hold connections but pass nothing (a hung server); off: pass
  refuse on|off  on: reset new connections at once (a server that is down); off: accept
  stats          {"connections": n, "open": n, "turns": n, "bytes_up": n, "bytes_down": n}
  zero           reset the counters
"""
import argparse
import asyncio
import json
import os
import socket
import struct
import time


class Proxy:
    def __init__(self, upstream, latency_ms):
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.latency = latency_ms / 1000.0
        self.hang = False
        self.refuse = False
        self.open = set()
        self.last = time.monotonic()
        self.zero()

    def zero(self):
        self.stats = {"connections": 0, "turns": 0, "bytes_up": 0, "bytes_down": 0}

    @staticmethod
    def reset(writer):
        sock = writer.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        writer.transport.abort()

    async def pipe(self, reader, writer, direction, conn):
        # Chunks are read as they come and each leaves --latency-ms after it arrived, as on a
        # network: the delays of a stream's chunks overlap. (Waiting out one chunk's delay
        # before reading the next capped a stream at one chunk per delay, ~80 MB/s with
        # 16 KiB chunks at 0.2 ms: a bandwidth limit no network here has.)
        queue = asyncio.Queue()

        async def arrivals():
            try:
                while True:
                    data = await reader.read(65536)
                    if not data:
                        break
                    self.last = time.monotonic()
                    if direction == "up":
                        if conn["turn"]:
                            self.stats["turns"] += 1
                            conn["turn"] = False
                        self.stats["bytes_up"] += len(data)
                    else:
                        conn["turn"] = True
                        self.stats["bytes_down"] += len(data)
                    queue.put_nowait((time.monotonic() + self.latency, data))
            finally:
                queue.put_nowait((0.0, b""))      # the end (or the reader failed)

        task = asyncio.ensure_future(arrivals())
        try:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                while self.hang:
                    await asyncio.sleep(0.05)
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()
            if writer.can_write_eof():
                writer.write_eof()
        finally:
            task.cancel()

    async def client(self, creader, cwriter):
        if self.refuse:
            self.reset(cwriter)
            return
        self.stats["connections"] += 1
        try:
            ureader, uwriter = await asyncio.open_connection(*self.upstream)
        except OSError:
            self.reset(cwriter)
            return
        pair = (cwriter, uwriter)
        self.open.add(pair)
        conn = {"turn": True}
        try:
            await asyncio.gather(self.pipe(creader, uwriter, "up", conn), self.pipe(ureader, cwriter, "down", conn))
        except (ConnectionError, OSError):
            pass
        finally:
            self.open.discard(pair)
            for w in pair:
                w.close()

    def cut(self):
        for pair in list(self.open):
            for w in pair:
                self.reset(w)
        self.open.clear()

    async def control(self, reader, writer):
        while True:
            line = await reader.readline()
            if not line:
                break
            words = line.decode().split()
            answer = "ok"
            if words[:1] == ["latency"] and len(words) == 2:
                self.latency = float(words[1]) / 1000.0
            elif words == ["cut"]:
                self.cut()
            elif words[:1] in (["hang"], ["refuse"]) and len(words) == 2 and words[1] in ("on", "off"):
                setattr(self, words[0], words[1] == "on")
            elif words == ["stats"]:
                answer = json.dumps(dict(self.stats, open=len(self.open)))
            elif words == ["zero"]:
                self.zero()
            else:
                answer = "error: unknown command"
            writer.write((answer + "\n").encode())
            await writer.drain()
        writer.close()


async def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--latency-ms", type=float, default=0.0)
    ap.add_argument("--idle-exit", type=float, default=3600.0)
    ap.add_argument("--fine-timers", action="store_true", help="select(2) event loop: sub-ms delays")
    a = ap.parse_args()
    p = Proxy(a.upstream, a.latency_ms)
    server = await asyncio.start_server(p.client, "127.0.0.1", 0)
    control = await asyncio.start_server(p.control, "127.0.0.1", 0)
    ports = [s.getsockname()[1] for s in (server.sockets[0], control.sockets[0])]
    tmp = a.port_file + ".new"
    with open(tmp, "w") as f:
        f.write("%d\n%d\n" % tuple(ports))
    os.rename(tmp, a.port_file)
    while time.monotonic() - p.last < a.idle_exit or p.open:
        await asyncio.sleep(1)


if __name__ == "__main__":
    import sys
    if "--fine-timers" in sys.argv[1:]:
        import ctypes
        import selectors
        try:                                   # PR_SET_TIMERSLACK: 1 ns, not the default 50 us
            ctypes.CDLL(None, use_errno=True).prctl(29, 1, 0, 0, 0)
        except (OSError, AttributeError):
            pass
        loop = asyncio.SelectorEventLoop(selectors.SelectSelector())
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main())
    else:
        asyncio.run(main())
