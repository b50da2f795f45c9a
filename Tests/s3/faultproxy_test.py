#!/usr/bin/env python3
"""Checks faultproxy.py against the running S3 server (Tests/s3/s3server.sh up; env sourced).

    . "$(Tests/s3/s3server.sh env)"; "$S3_PYTHON" Tests/s3/faultproxy_test.py [-v]

Needs boto3 (the s3server venv's python). Prints "ok - …" / "not ok - …" per check and a
last line "N passed, N failed"; exit status 1 when anything failed.
"""
import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import boto3
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, ClientError
from boto3.s3.transfer import TransferConfig

HERE = os.path.dirname(os.path.abspath(__file__))
ENV = {k: os.environ[k] for k in ("S3_ENDPOINT", "S3_BUCKET", "S3_ACCESS_KEY", "S3_SECRET_KEY", "S3_REGION")}
BUCKET = ENV["S3_BUCKET"]
UPSTREAM = ENV["S3_ENDPOINT"].split("//", 1)[1]
RUN = uuid.uuid4().hex[:8]
passed = failed = 0
VERBOSE = "-v" in sys.argv


def check(desc, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok - {desc}")
    else:
        failed += 1
        print(f"not ok - {desc}")
        if detail:
            for line in str(detail).splitlines():
                print(f"# {line}")
    sys.stdout.flush()


class Proxy:
    def __init__(self, *args):
        self.dir = tempfile.mkdtemp(prefix="faultproxy-test.")
        pf = os.path.join(self.dir, "port")
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "faultproxy.py"),
                                      "--upstream", UPSTREAM, "--port-file", pf,
                                      "--log", os.path.join(self.dir, "log"), *args])
        deadline = time.monotonic() + 10
        while not os.path.exists(pf):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"faultproxy did not start: {self.log()}")
            time.sleep(0.05)
        self.port = int(open(pf).read())
        self.url = f"http://127.0.0.1:{self.port}"

    def log(self):
        try:
            return open(os.path.join(self.dir, "log")).read()[-2000:]
        except OSError:
            return ""

    def control(self, method, what, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request(method, "/__faultproxy/" + what, body=None if body is None else json.dumps(body))
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, json.loads(data or b"null")

    def rules(self, *rules):
        st, out = self.control("POST", "rules", list(rules))
        assert st == 200, (st, out)

    def stats(self):
        return self.control("GET", "stats")[1]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def client(url, **cfg):
    return boto3.client("s3", endpoint_url=url, region_name=ENV["S3_REGION"],
                        aws_access_key_id=ENV["S3_ACCESS_KEY"], aws_secret_access_key=ENV["S3_SECRET_KEY"],
                        config=Config(retries={"total_max_attempts": 1, "mode": "standard"},
                                      s3={"addressing_style": "path"},
                                      connect_timeout=cfg.get("connect_timeout", 5),
                                      read_timeout=cfg.get("read_timeout", 30)))


def key(name):
    return f"fp-test-{RUN}/{name}"


def exists(s3, k):
    try:
        s3.head_object(Bucket=BUCKET, Key=k)
        return True
    except ClientError as e:
        if e.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
            return False
        raise


def attempt(fn):
    """(result, exception) of fn()"""
    try:
        return fn(), None
    except (ClientError, BotoCoreError, OSError, http.client.HTTPException) as e:
        return None, e


def raw(port, method, path, body=None, headers=None, timeout=10):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, dict(r.getheaders()), data


def pattern(port, n, path=None):
    """n unsigned GETs: 'F' when the proxy injected its 599 status, '.' when forwarded"""
    out = ""
    path = path or f"/{BUCKET}/{key('pattern')}"
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(n):
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        out += "F" if r.status == 599 else "."
    c.close()
    return out


def signed_chunked_put(port, k, chunks):
    """A SigV4-signed PUT with a chunked body (UNSIGNED-PAYLOAD) through raw http.client"""
    url = f"http://127.0.0.1:{port}/{BUCKET}/{k}"
    req = AWSRequest(method="PUT", url=url, headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD",
                                                      "Transfer-Encoding": "chunked"})
    S3SigV4Auth(Credentials(ENV["S3_ACCESS_KEY"], ENV["S3_SECRET_KEY"]), "s3", ENV["S3_REGION"]).add_auth(req)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.putrequest("PUT", f"/{BUCKET}/{k}", skip_accept_encoding=True)
    for h, v in req.headers.items():
        c.putheader(h, v)
    c.endheaders()
    for ch in chunks:
        c.send(b"%x\r\n" % len(ch) + ch + b"\r\n")
    c.send(b"0\r\n\r\n")
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


def main():
    direct = client(ENV["S3_ENDPOINT"])
    p = Proxy("--seed", "7")
    s3 = client(p.url)
    small = os.urandom(1000)

    # ---------------------------------------------------------------- passthrough
    s3.put_object(Bucket=BUCKET, Key=key("small"), Body=small)
    got = s3.get_object(Bucket=BUCKET, Key=key("small"))["Body"].read()
    check("passthrough: signed PUT and GET through the proxy (Host passed on)", got == small)
    r = s3.get_object(Bucket=BUCKET, Key=key("small"), Range="bytes=10-19")
    check("passthrough: range GET is 206 with the right bytes",
          r["ResponseMetadata"]["HTTPStatusCode"] == 206 and r["Body"].read() == small[10:20])
    lst = s3.list_objects_v2(Bucket=BUCKET, Prefix=key(""))
    check("passthrough: ListObjectsV2", any(o["Key"] == key("small") for o in lst.get("Contents", [])))
    big = os.urandom(20 * 1024 * 1024 + 12345)
    with tempfile.TemporaryDirectory() as td:
        src, dst = os.path.join(td, "src"), os.path.join(td, "dst")
        open(src, "wb").write(big)
        tc = TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20, max_concurrency=4)
        s3.upload_file(src, BUCKET, key("big"), Config=tc)
        s3.download_file(BUCKET, key("big"), dst, Config=tc)
        check("passthrough: 20 MiB multipart upload + parallel ranged download (100-continue, keep-alive)",
              hashlib.md5(open(dst, "rb").read()).digest() == hashlib.md5(big).digest())
    parts = [os.urandom(n) for n in (1, 4096, 70000, 3)]
    st = signed_chunked_put(p.port, key("chunked"), parts)
    got = direct.get_object(Bucket=BUCKET, Key=key("chunked"))["Body"].read() if st == 200 else b""
    check("passthrough: chunked request body", st == 200 and got == b"".join(parts), f"status {st}")
    c = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10)
    socks = set()
    for _ in range(3):
        c.request("GET", f"/{BUCKET}/{key('small')}")
        r = c.getresponse()
        r.read()
        socks.add(id(c.sock))
    c.close()
    check("passthrough: keep-alive (3 requests on one client connection)", len(socks) == 1 and c.sock is None)
    st, h, _ = raw(p.port, "HEAD", f"/{BUCKET}/{key('small')}")
    check("passthrough: HEAD answer has no body and the connection survives", st == 403 or st == 200, st)

    # ---------------------------------------------------------------- status
    p.rules({"action": "status", "status": 503, "code": "SlowDown", "retry-after": 2, "method": "PUT", "first": 1})
    _, e = attempt(lambda: s3.put_object(Bucket=BUCKET, Key=key("st1"), Body=b"x"))
    ok = isinstance(e, ClientError) and e.response["Error"]["Code"] == "SlowDown" and \
        e.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    check("status: PUT gets 503 SlowDown", ok, repr(e))
    hdrs = e.response["ResponseMetadata"]["HTTPHeaders"] if isinstance(e, ClientError) else {}
    check("status: retry-after=2 adds Retry-After: 2", hdrs.get("retry-after") == "2", hdrs)
    check("status: without forward the server did not act", not exists(direct, key("st1")))
    _, e = attempt(lambda: s3.put_object(Bucket=BUCKET, Key=key("st1"), Body=b"x"))
    check("status: first=1 — the second PUT goes through", e is None and exists(direct, key("st1")), repr(e))
    p.rules({"action": "status", "status": 500, "forward": True, "method": "PUT"})
    _, e = attempt(lambda: s3.put_object(Bucket=BUCKET, Key=key("st2"), Body=b"y"))
    check("status forward=true: client sees 500 InternalError",
          isinstance(e, ClientError) and e.response["Error"]["Code"] == "InternalError", repr(e))
    check("status forward=true: the server acted (object exists)", exists(direct, key("st2")))
    p.rules({"action": "status", "status": 404, "code": "NoSuchKey", "method": "HEAD"})
    st, h, body = raw(p.port, "HEAD", f"/{BUCKET}/{key('small')}")
    check("status on HEAD: 404 without a body", st == 404 and body == b"", (st, body))

    # ---------------------------------------------------------------- delay
    p.rules({"action": "delay", "delay_s": 1.0, "method": "GET"})
    t = time.monotonic()
    got = s3.get_object(Bucket=BUCKET, Key=key("small"))["Body"].read()
    dt = time.monotonic() - t
    check("delay: GET delayed by delay_s then answered", got == small and dt >= 0.95, f"{dt:.2f} s")

    # ---------------------------------------------------------------- resets
    p.rules({"action": "reset_before", "method": "PUT"})
    _, e = attempt(lambda: s3.put_object(Bucket=BUCKET, Key=key("rb"), Body=b"z"))
    check("reset_before: PUT fails with a connection error", e is not None and not isinstance(e, ClientError), repr(e))
    check("reset_before: the server did not act", not exists(direct, key("rb")))
    try:
        raw(p.port, "PUT", f"/{BUCKET}/{key('rb2')}", body=b"abc")
        rst = False
    except ConnectionResetError:
        rst = True
    except (http.client.RemoteDisconnected, OSError) as ex:
        rst = "reset" in str(ex).lower()
    check("reset_before: the client sees ECONNRESET (RST, not FIN)", rst)
    p.rules({"action": "reset_after", "method": "PUT"})
    _, e = attempt(lambda: s3.put_object(Bucket=BUCKET, Key=key("ra"), Body=b"w"))
    check("reset_after: PUT fails with a connection error", e is not None and not isinstance(e, ClientError), repr(e))
    check("reset_after: the server acted (object exists)", exists(direct, key("ra")))

    # ---------------------------------------------------------------- truncate
    p.rules({"action": "truncate", "bytes": 100, "method": "GET", "path": "/small$"})
    c = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10)
    c.request("GET", f"/{BUCKET}/{key('small')}")  # unsigned: 403 with an XML body
    r = c.getresponse()
    try:
        r.read()
        partial = None
    except http.client.IncompleteRead as ex:
        partial = ex.partial
    c.close()
    check("truncate: raw client gets headers and exactly `bytes` body bytes, then EOF",
          partial is not None and len(partial) == 100, repr(partial)[:200])
    _, e = attempt(lambda: s3.get_object(Bucket=BUCKET, Key=key("small"))["Body"].read())
    check("truncate: boto3 GET of the object fails (short body)", e is not None, repr(e))
    p.rules({"action": "truncate", "bytes": 10, "rst": True, "method": "GET"})
    _, e = attempt(lambda: raw(p.port, "GET", f"/{BUCKET}/{key('small')}"))
    check("truncate rst=true: client sees an error", e is not None, repr(e))

    # ---------------------------------------------------------------- hang
    p.rules({"action": "hang", "hang_s": 2, "method": "GET"})
    t = time.monotonic()
    _, e = attempt(lambda: client(p.url, read_timeout=1).get_object(Bucket=BUCKET, Key=key("small")))
    check("hang: boto3 with read_timeout=1 times out", e is not None and "timeout" in repr(e).lower(), repr(e))
    t = time.monotonic()
    _, e = attempt(lambda: raw(p.port, "GET", f"/{BUCKET}/{key('small')}", timeout=10))
    dt = time.monotonic() - t
    check("hang: connection closed without a reply after hang_s", e is not None and 1.9 <= dt < 6, f"{dt:.2f} s {e!r}")

    # ---------------------------------------------------------------- throttle
    half = os.urandom(512 * 1024)
    direct.put_object(Bucket=BUCKET, Key=key("half"), Body=half)
    p.rules({"action": "throttle", "rate_bps": 256 * 1024, "method": "GET"})
    t = time.monotonic()
    got = s3.get_object(Bucket=BUCKET, Key=key("half"))["Body"].read()
    dt = time.monotonic() - t
    check("throttle: 512 KiB GET at 256 KiB/s takes ~2 s, data intact", got == half and 1.7 <= dt < 6, f"{dt:.2f} s")
    p.rules({"action": "throttle", "rate_bps": 256 * 1024, "method": "PUT"})
    t = time.monotonic()
    s3.put_object(Bucket=BUCKET, Key=key("half2"), Body=half)
    dt = time.monotonic() - t
    check("throttle: 512 KiB PUT at 256 KiB/s takes ~2 s", 1.7 <= dt < 6, f"{dt:.2f} s")

    # ---------------------------------------------------------------- selectors + schedules
    F = {"action": "status", "status": 599, "code": "Injected"}
    p.rules(dict(F, method="PUT"))
    check("selector method: GET not matched, PUT matched",
          pattern(p.port, 2) == ".." and raw(p.port, "PUT", f"/{BUCKET}/{key('m')}", b"1")[0] == 599)
    p.rules(dict(F, path="/sel-[ab]$"))
    res = [raw(p.port, "GET", f"/{BUCKET}/{key(n)}")[0] for n in ("sel-a", "sel-c", "sel-b")]
    check("selector path regex", res[0] == 599 and res[1] != 599 and res[2] == 599, res)
    p.rules(dict(F, query="(^|&)uploads"))
    _, e = attempt(lambda: s3.create_multipart_upload(Bucket=BUCKET, Key=key("mp")))
    _, e2 = attempt(lambda: s3.put_object(Bucket=BUCKET, Key=key("q"), Body=b"q"))
    check("selector query regex: CreateMultipartUpload (?uploads) hit, PutObject not",
          isinstance(e, ClientError) and e2 is None, f"{e!r} {e2!r}")
    p.rules(dict(F, after=2, first=2))
    got = pattern(p.port, 6)
    check("schedule after=2 first=2", got == "..FF..", got)
    p.rules(dict(F, every=3))
    got = pattern(p.port, 7)
    check("schedule every=3", got == "..F..F.", got)
    p.rules(dict(F, count=2))
    got = pattern(p.port, 5)
    check("schedule count=2", got == "FF...", got)
    p.rules(dict(F, after=1, every=2, count=2))
    got = pattern(p.port, 8)
    check("schedule after=1 every=2 count=2", got == "..F.F...", got)
    p.rules(dict(F, prob=0.5))
    a = pattern(p.port, 40)
    p.rules(dict(F, prob=0.5))
    b = pattern(p.port, 40)
    check("schedule prob=0.5: mixed, and the same sequence again with the same seed",
          a == b and 8 <= a.count("F") <= 32, f"{a} / {b}")
    p.rules(dict(F, method="GET", path="/nope$"), dict(F, status=598, every=2))
    got = "".join({598: "2", 599: "1"}.get(raw(p.port, "GET", f"/{BUCKET}/{key(n)}")[0], ".")
                  for n in ("nope", "x", "nope", "y"))
    check("rules in order: first firing rule wins, all matching rules count", got == "1212", got)

    # ---------------------------------------------------------------- control API
    st = p.stats()
    check("stats: per-action counters and per-rule matches/fired",
          st["actions"].get("status", 0) > 10 and st["actions"].get("forward", 0) > 10 and
          st["actions"].get("reset_before") == 2 and st["actions"].get("reset_after") == 1 and
          st["actions"].get("hang") == 2 and st["actions"].get("throttle") == 2 and
          st["rules"][1]["matches"] == 4 and st["rules"][1]["fired"] == 2, json.dumps(st))
    code, out = p.control("POST", "rules", [{"action": "explode"}])
    check("rules: an unknown action is refused with 400", code == 400 and "action" in out.get("error", ""), out)
    code, out = p.control("POST", "reset")
    st = p.stats()
    check("reset: no rules, counters zero", code == 200 and st == {"requests": 0, "actions": {}, "rules": []}, st)
    check("after reset: plain forwarding", pattern(p.port, 3) == "...")
    p.stop()

    # ---------------------------------------------------------------- command line
    q = Proxy("--rule", "action=status,status=599,first=1,method=GET", "--idle-exit", "2")
    got = pattern(q.port, 3)
    check("--rule from the command line", got == "F..", got)
    try:
        q.proc.wait(8)
        gone = True
    except subprocess.TimeoutExpired:
        gone = False
        q.stop()
    check("--idle-exit: exits after idle seconds", gone and q.proc.returncode == 0, q.proc.returncode)
    q.stop()
    bad = subprocess.run([sys.executable, os.path.join(HERE, "faultproxy.py"), "--upstream", UPSTREAM,
                          "--rule", "action=status,colour=red"], capture_output=True, text=True, timeout=20)
    check("--rule with an unknown key is refused", bad.returncode == 2 and "colour" in bad.stderr, bad.stderr)

    # cleanup of the objects made here
    for o in direct.list_objects_v2(Bucket=BUCKET, Prefix=key("")).get("Contents", []):
        direct.delete_object(Bucket=BUCKET, Key=o["Key"])
    for u in direct.list_multipart_uploads(Bucket=BUCKET, Prefix=key("")).get("Uploads", []):
        direct.abort_multipart_upload(Bucket=BUCKET, Key=u["Key"], UploadId=u["UploadId"])


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a crash is one more failure, with its traceback
        import traceback
        failed += 1
        print(f"not ok - faultproxy_test ran to the end: {e!r}")
        for line in traceback.format_exc().splitlines():
            print(f"# {line}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
