#!/usr/bin/env python3
"""faultproxy — an HTTP/1.1 reverse proxy on 127.0.0.1 that injects faults (stdlib only).

    faultproxy.py --upstream 127.0.0.1:PORT --port-file FILE [--port N] [--seed N]
                  [--rule KEY=VALUE,…]… [--idle-exit SECONDS] [--log FILE]

Every request goes to the upstream unchanged (Host too; keep-alive, Content-Length and
chunked bodies, 100-continue), unless a rule fires. A rule is a set of keys:

  action    status | delay | reset_before | reset_after | truncate | hang | throttle
  selectors method=PUT (exact, case-insensitive), path=REGEX, query=REGEX (re.search on the
            path / the query string without '?')
  schedule  after=N (skip the first N matches), first=N (then fire on the first N only),
            every=N (fire on every Nth match after the skip), prob=P (fire with probability P,
            --seed makes it repeatable), count=N (at most N firings in total)
  status    status=503 code=SlowDown message=… retry-after=SECONDS forward=true|false
            (forward: the upstream acts first, the client still gets the error)
  delay     delay_s=SECONDS, then forward
  reset_before  RST the client connection without forwarding
  reset_after   forward, read the whole upstream reply, then RST the client without replying
  truncate  bytes=N [rst=true]: forward, send the headers and only N body bytes, then close
            (FIN, or RST with rst=true)
  hang      hang_s=SECONDS (default 30): do nothing, then close the connection
  throttle  rate_bps=BYTES_PER_SECOND: forward with both bodies paced at that rate

All rules whose selectors match a request count it as a match; the first rule (in order)
whose schedule fires is applied. Control endpoints (any Host):

  POST /__faultproxy/rules   JSON list of rule objects; replaces the rules (counters restart)
  GET  /__faultproxy/rules   the current rules with their match/fire counters
  GET  /__faultproxy/stats   {"requests": n, "actions": {"forward": n, "status": n, …}, "rules": […]}
  POST /__faultproxy/reset   no rules, all counters zero

The proxy exits after --idle-exit seconds (default 3600) without traffic.
"""
import argparse
import json
import os
import random
import re
import socket
import socketserver
import struct
import sys
import threading
import time

ACTIONS = ("status", "delay", "reset_before", "reset_after", "truncate", "hang", "throttle")
KEYS = {"action", "method", "path", "query", "after", "first", "every", "prob", "count",
        "status", "code", "message", "retry-after", "retry_after", "forward", "delay_s",
        "bytes", "rst", "hang_s", "rate_bps"}
DEFAULT_CODES = {400: "BadRequest", 403: "AccessDenied", 404: "NoSuchKey", 408: "RequestTimeout",
                 409: "Conflict", 412: "PreconditionFailed", 429: "SlowDown", 500: "InternalError",
                 501: "NotImplemented", 502: "BadGateway", 503: "SlowDown", 504: "GatewayTimeout"}
REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
           408: "Request Timeout", 409: "Conflict", 412: "Precondition Failed",
           429: "Too Many Requests", 500: "Internal Server Error", 501: "Not Implemented",
           502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
CHUNK = 64 * 1024
MAX_LINE = 64 * 1024


class BadRule(ValueError):
    pass


def _bool(v):
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off", ""):
        return False
    raise BadRule(f"not a boolean: {v!r}")


class Rule:
    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise BadRule(f"a rule must be an object, got {spec!r}")
        unknown = set(spec) - KEYS
        if unknown:
            raise BadRule(f"unknown rule keys: {', '.join(sorted(unknown))}")
        self.spec = dict(spec)
        self.action = spec.get("action")
        if self.action not in ACTIONS:
            raise BadRule(f"action must be one of {', '.join(ACTIONS)}; got {self.action!r}")
        try:
            self.method = str(spec["method"]).upper() if spec.get("method") else None
            self.path = re.compile(spec["path"]) if spec.get("path") else None
            self.query = re.compile(spec["query"]) if spec.get("query") else None
            self.after = int(spec.get("after", 0))
            self.first = int(spec["first"]) if "first" in spec else None
            self.every = int(spec["every"]) if "every" in spec else None
            self.prob = float(spec["prob"]) if "prob" in spec else None
            self.count = int(spec["count"]) if "count" in spec else None
            self.status = int(spec.get("status", 503))
            self.code = str(spec.get("code") or DEFAULT_CODES.get(self.status, "InjectedError"))
            self.message = str(spec.get("message", f"injected by faultproxy ({self.code})"))
            ra = spec.get("retry-after", spec.get("retry_after"))
            self.retry_after = None if ra in (None, "") else str(ra)
            self.forward = _bool(spec.get("forward", False))
            self.delay_s = float(spec.get("delay_s", 1.0))
            self.nbytes = int(spec.get("bytes", 0))
            self.rst = _bool(spec.get("rst", False))
            self.hang_s = float(spec.get("hang_s", 30.0))
            self.rate_bps = float(spec.get("rate_bps", 1024 * 1024))
        except (TypeError, ValueError, re.error) as e:
            raise BadRule(f"bad rule {spec!r}: {e}") from None
        if self.every is not None and self.every < 1:
            raise BadRule("every must be >= 1")
        if self.rate_bps <= 0:
            raise BadRule("rate_bps must be > 0")
        if not 100 <= self.status <= 599:
            raise BadRule("status must be 100..599")
        self.matches = 0
        self.fired = 0

    def selects(self, method, path, query):
        if self.method and self.method != method.upper():
            return False
        if self.path and not self.path.search(path):
            return False
        if self.query and not self.query.search(query):
            return False
        return True

    def fires(self, rng):  # called with the state lock held, after matches += 1
        k = self.matches - self.after
        if k < 1:
            return False
        if self.first is not None and k > self.first:
            return False
        if self.every is not None and k % self.every != 0:
            return False
        if self.count is not None and self.fired >= self.count:
            return False
        if self.prob is not None and rng.random() >= self.prob:
            return False
        return True

    def describe(self):
        return dict(self.spec, matches=self.matches, fired=self.fired)


def parse_rule_arg(text):
    spec = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise BadRule(f"expected key=value in --rule, got {part!r}")
        k, v = part.split("=", 1)
        spec[k.strip()] = v.strip()
    return Rule(spec)


class State:
    def __init__(self, rules, seed):
        self.lock = threading.Lock()
        self.rules = rules
        self.seed = seed
        self.rng = random.Random(seed)
        self.requests = 0
        self.actions = {}
        self.last_activity = time.monotonic()

    def touch(self):
        self.last_activity = time.monotonic()

    def choose(self, method, path, query):
        with self.lock:
            self.requests += 1
            chosen = None
            for r in self.rules:
                if not r.selects(method, path, query):
                    continue
                r.matches += 1
                if chosen is None and r.fires(self.rng):
                    r.fired += 1
                    chosen = r
            name = chosen.action if chosen else "forward"
            self.actions[name] = self.actions.get(name, 0) + 1
            return chosen

    def set_rules(self, rules):
        with self.lock:
            self.rules = rules
            self.rng = random.Random(self.seed)

    def reset(self):
        with self.lock:
            self.rules = []
            self.rng = random.Random(self.seed)
            self.requests = 0
            self.actions = {}

    def stats(self):
        with self.lock:
            return {"requests": self.requests, "actions": dict(self.actions),
                    "rules": [r.describe() for r in self.rules]}


class ClientGone(Exception):
    pass


class UpstreamError(Exception):
    pass


def read_line(f):
    line = f.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise ValueError("header line too long")
    return line


def read_head(f):
    """Start line and raw header lines (bytes) up to the blank line; None on clean EOF."""
    start = read_line(f)
    while start in (b"\r\n", b"\n"):  # tolerate stray CRLF between messages
        start = read_line(f)
    if not start:
        return None
    lines = []
    while True:
        line = read_line(f)
        if not line:
            raise ValueError("connection closed inside a header")
        if line in (b"\r\n", b"\n"):
            break
        lines.append(line)
        if len(lines) > 500:
            raise ValueError("too many headers")
    return start, lines


def header_map(lines):
    h = {}
    for line in lines:
        if b":" in line:
            k, v = line.split(b":", 1)
            h.setdefault(k.strip().lower().decode("latin-1"), v.strip().decode("latin-1"))
    return h


def rst_close(sock):
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class Pacer:
    """Sends data at most at rate bytes/s (None: unlimited)."""

    def __init__(self, rate):
        self.rate = rate
        self.start = time.monotonic()
        self.sent = 0

    def send(self, sock, data, state):
        if not self.rate:
            sock.sendall(data)
            state.touch()
            return
        step = max(1, min(CHUNK, int(self.rate / 20)))
        for i in range(0, len(data), step):
            piece = data[i:i + step]
            due = self.start + (self.sent + len(piece)) / self.rate
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            sock.sendall(piece)
            self.sent += len(piece)
            state.touch()


def relay_body(src, dst, headers, state, pacer=None, limit=None, no_body=False, until_close=False):
    """Copy one message body from file src to socket dst (dst None: discard), keeping its
    framing. limit: stop after that many bytes written (truncate); returns bytes written,
    or -1 when the limit cut the body."""
    pacer = pacer or Pacer(None)
    written = 0

    def out(data):
        nonlocal written
        if dst is None:
            return True
        if limit is not None and written + len(data) > limit:
            data = data[:limit - written]
            if data:
                pacer.send(dst, data, state)
            written += len(data)
            return False
        pacer.send(dst, data, state)
        written += len(data)
        return True

    if no_body:
        return 0
    te = headers.get("transfer-encoding", "").lower()
    if "chunked" in te:
        while True:
            size_line = read_line(src)
            if not size_line:
                raise UpstreamError("EOF in chunked body")
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise UpstreamError(f"bad chunk size line {size_line[:40]!r}") from None
            if not out(size_line):
                return -1
            if size == 0:
                while True:  # trailers up to the blank line
                    t = read_line(src)
                    if not t:
                        raise UpstreamError("EOF in chunked trailer")
                    if not out(t):
                        return -1
                    if t in (b"\r\n", b"\n"):
                        return written
            left = size + 2  # data + CRLF
            while left:
                data = src.read(min(CHUNK, left))
                if not data:
                    raise UpstreamError("EOF in chunk")
                left -= len(data)
                if not out(data):
                    return -1
    elif "content-length" in headers:
        try:
            left = int(headers["content-length"])
        except ValueError:
            raise UpstreamError("bad Content-Length") from None
        while left > 0:
            data = src.read(min(CHUNK, left))
            if not data:
                raise UpstreamError("EOF in body")
            left -= len(data)
            if not out(data):
                return -1
    elif until_close:
        while True:
            data = src.read1(CHUNK) if hasattr(src, "read1") else src.read(CHUNK)
            if not data:
                break
            if not out(data):
                return -1
    return written


def error_body(rule, path):
    resource = path.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{rule.code}</Code><Message>{rule.message}</Message>"
            f"<Resource>{resource}</Resource><RequestId>faultproxy</RequestId></Error>").encode()


class Handler(socketserver.BaseRequestHandler):
    def setup(self):
        self.state = self.server.state
        self.csock = self.request
        self.csock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.cfile = self.csock.makefile("rb", buffering=CHUNK)
        self.up = None  # (socket, file)
        self.dead = False

    def finish(self):
        self.close_upstream()
        if not self.dead:
            try:
                self.cfile.close()
                self.csock.close()
            except OSError:
                pass

    def close_upstream(self):
        if self.up:
            try:
                self.up[1].close()
                self.up[0].close()
            except OSError:
                pass
            self.up = None

    def kill_client(self, rst=True):
        try:
            self.cfile.close()
        except OSError:
            pass
        if rst:
            rst_close(self.csock)
        else:
            try:
                self.csock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.csock.close()
        self.dead = True

    def upstream(self):
        if self.up is None:
            host, port = self.server.upstream
            try:
                s = socket.create_connection((host, port), timeout=300)
            except OSError as e:
                raise UpstreamError(f"cannot connect to upstream {host}:{port}: {e}") from None
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.up = (s, s.makefile("rb", buffering=CHUNK))
        return self.up

    def handle(self):
        try:
            while not self.dead:
                try:
                    head = read_head(self.cfile)
                except (ValueError, OSError):
                    return
                if head is None:
                    return
                self.state.touch()
                if not self.one_request(*head):
                    return
        except (ClientGone, ConnectionError, BrokenPipeError, socket.timeout, OSError):
            return
        except UpstreamError as e:
            self.server.log(f"upstream: {e}")
            return

    def reply_local(self, status, body, ctype="application/json", extra=(), keep=True, head=False):
        lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}",
                 f"Content-Type: {ctype}", f"Content-Length: {len(body)}",
                 "Connection: " + ("keep-alive" if keep else "close")]
        lines += list(extra)
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.csock.sendall(data if head else data + body)

    def control(self, method, path, headers, keep):
        body = b""
        if "content-length" in headers:
            body = self.cfile.read(int(headers["content-length"]))
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            chunks = bytearray()
            while True:
                size = int(read_line(self.cfile).split(b";")[0].strip(), 16)
                if size == 0:
                    while read_line(self.cfile) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks += self.cfile.read(size)
                read_line(self.cfile)
            body = bytes(chunks)
        what = path[len("/__faultproxy/"):].strip("/")
        try:
            if what == "rules" and method == "POST":
                specs = json.loads(body or b"[]")
                if isinstance(specs, dict):
                    specs = [specs]
                if not isinstance(specs, list):
                    raise BadRule("expected a JSON list of rules")
                self.state.set_rules([Rule(s) for s in specs])
                out = {"rules": len(specs)}
            elif what == "rules" and method == "GET":
                out = self.state.stats()["rules"]
            elif what == "stats" and method == "GET":
                out = self.state.stats()
            elif what == "reset" and method == "POST":
                self.state.reset()
                out = {"reset": True}
            else:
                self.reply_local(404, b'{"error": "unknown control endpoint"}', keep=keep)
                return
        except (BadRule, ValueError) as e:
            self.reply_local(400, json.dumps({"error": str(e)}).encode(), keep=keep)
            return
        self.reply_local(200, json.dumps(out).encode(), keep=keep)

    def one_request(self, start, hlines):
        """Handles one request; returns False when the client connection must end."""
        try:
            method, target, version = start.decode("latin-1").strip().split(" ", 2)
        except ValueError:
            self.reply_local(400, b"bad request line", "text/plain", keep=False)
            return False
        headers = header_map(hlines)
        conn = headers.get("connection", "").lower()
        keep = ("close" not in conn) and (version == "HTTP/1.1" or "keep-alive" in conn)
        path, _, query = target.partition("?")
        if path.startswith("/__faultproxy/"):
            self.control(method, path, headers, keep)
            return keep
        rule = self.state.choose(method, path, query)
        act = rule.action if rule else None
        if act == "reset_before":
            self.kill_client(rst=True)
            return False
        if act == "hang":
            deadline = time.monotonic() + rule.hang_s
            while time.monotonic() < deadline:
                time.sleep(min(0.5, deadline - time.monotonic()))
                self.state.touch()
            self.kill_client(rst=False)
            return False
        if act == "status" and not rule.forward:
            return self.fake_error(rule, method, path, headers, keep)
        if act == "delay":
            time.sleep(rule.delay_s)
        return self.forward(rule, method, path, start, hlines, headers, keep)

    def fake_error(self, rule, method, path, headers, keep):
        expect = "100-continue" in headers.get("expect", "").lower()
        if expect:
            keep = False  # the client may or may not send the body now: do not reuse
        else:
            relay_body(self.cfile, None, headers, self.state)
        extra = ["x-amz-request-id: faultproxy", "Server: faultproxy"]
        if rule.retry_after is not None:
            extra.append(f"Retry-After: {rule.retry_after}")
        self.reply_local(rule.status, error_body(rule, path), "application/xml", extra, keep,
                         head=(method == "HEAD"))
        return keep

    def forward(self, rule, method, path, start, hlines, headers, keep):
        act = rule.action if rule else None
        pacer_in = Pacer(rule.rate_bps if act == "throttle" else None)
        pacer_out = Pacer(rule.rate_bps if act == "throttle" else None)
        for attempt in (1, 2):
            usock, ufile = self.upstream()
            try:
                usock.sendall(start + b"".join(hlines) + b"\r\n")
                break
            except OSError:
                # a kept-alive upstream connection the server has closed meanwhile
                self.close_upstream()
                if attempt == 2:
                    raise UpstreamError("cannot send to upstream")
        expect = "100-continue" in headers.get("expect", "").lower()
        has_body = "content-length" in headers or "chunked" in headers.get("transfer-encoding", "").lower()
        final = None
        if expect and has_body:
            # wait for the upstream's verdict before the client sends the body
            while True:
                h = read_head(ufile)
                if h is None:
                    raise UpstreamError("upstream closed before answering")
                code = int(h[0].split()[1])
                if code == 100:
                    self.csock.sendall(h[0] + b"".join(h[1]) + b"\r\n")
                    break
                if 100 < code < 200:
                    self.csock.sendall(h[0] + b"".join(h[1]) + b"\r\n")
                    continue
                final = h  # rejected early: the client body is never read
                keep = False
                break
        if final is None and has_body:
            relay_body(self.cfile, usock, headers, self.state, pacer=pacer_in)
        # response (skipping and relaying interim 1xx)
        while True:
            h = final or read_head(ufile)
            final = None
            if h is None:
                raise UpstreamError("upstream closed without a response")
            rstart, rlines = h
            try:
                code = int(rstart.split()[1])
            except (IndexError, ValueError):
                raise UpstreamError(f"bad status line {rstart[:60]!r}") from None
            if 100 <= code < 200 and code != 101:
                if act not in ("status", "reset_after"):
                    self.csock.sendall(rstart + b"".join(rlines) + b"\r\n")
                continue
            break
        rh = header_map(rlines)
        no_body = method == "HEAD" or code in (204, 304)
        framed = no_body or "content-length" in rh or "chunked" in rh.get("transfer-encoding", "").lower()
        up_keep = framed and "close" not in rh.get("connection", "").lower() and not rstart.startswith(b"HTTP/1.0")

        if act in ("status", "reset_after"):
            relay_body(ufile, None, rh, self.state, no_body=no_body, until_close=not framed)
            if not up_keep:
                self.close_upstream()
            if act == "reset_after":
                self.kill_client(rst=True)
                return False
            return self.fake_error(rule, method, path, {}, keep)

        self.csock.sendall(rstart + b"".join(rlines) + b"\r\n")
        if act == "truncate":
            relay_body(ufile, self.csock, rh, self.state, limit=rule.nbytes, no_body=no_body,
                       until_close=not framed)
            self.close_upstream()  # the rest of the upstream body is unread
            self.kill_client(rst=rule.rst)
            return False
        relay_body(ufile, self.csock, rh, self.state, pacer=pacer_out, no_body=no_body,
                   until_close=not framed)
        if not up_keep:
            self.close_upstream()
        if not framed:
            return False  # body ended by close: so must the client connection
        return keep and "close" not in rh.get("connection", "").lower()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, upstream, state, logf):
        self.upstream = upstream
        self.state = state
        self.logf = logf
        super().__init__(addr, Handler)

    def log(self, msg):
        if self.logf:
            self.logf.write(time.strftime("%H:%M:%S ") + msg + "\n")
            self.logf.flush()

    def handle_error(self, request, client_address):
        self.log(f"error with {client_address}: {sys.exc_info()[1]!r}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--upstream", required=True, help="HOST:PORT of the real server")
    ap.add_argument("--port", type=int, default=0, help="listen port (default: a free one)")
    ap.add_argument("--port-file", help="write the listen port here once listening")
    ap.add_argument("--rule", action="append", default=[], help="KEY=VALUE,… (repeatable)")
    ap.add_argument("--seed", type=int, default=0, help="seed for prob= rules")
    ap.add_argument("--idle-exit", type=float, default=3600, help="exit after this many idle seconds")
    ap.add_argument("--log", help="append diagnostics to this file (default stderr)")
    a = ap.parse_args()
    host, _, port = a.upstream.rpartition(":")
    if not host or not port.isdigit():
        ap.error("--upstream must be HOST:PORT")
    try:
        rules = [parse_rule_arg(r) for r in a.rule]
    except BadRule as e:
        ap.error(str(e))
    state = State(rules, a.seed)
    logf = open(a.log, "a") if a.log else sys.stderr
    srv = Server(("127.0.0.1", a.port), (host, int(port)), state, logf)
    real_port = srv.server_address[1]
    if a.port_file:
        tmp = f"{a.port_file}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(f"{real_port}\n")
        os.rename(tmp, a.port_file)

    def idle_watch():
        while True:
            time.sleep(min(5.0, max(0.2, a.idle_exit / 4)))
            if time.monotonic() - state.last_activity > a.idle_exit:
                srv.log(f"idle for {a.idle_exit:g} s; exiting")
                os._exit(0)

    threading.Thread(target=idle_watch, daemon=True).start()
    srv.log(f"faultproxy listening on 127.0.0.1:{real_port} -> {a.upstream} ({len(rules)} rules)")
    try:
        srv.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
