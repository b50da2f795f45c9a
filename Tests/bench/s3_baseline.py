#!/usr/bin/env python3
"""Baseline S3 throughput with boto3's TransferManager — what a plain parallel client gets.

    . "$(Tests/s3/s3server.sh env)"
    "$S3_PYTHON" Tests/bench/s3_baseline.py [--size 1G] [--concurrency 10] [--runs 3] [--put]
                                            [--key NAME] [--workdir DIR]

Default: uploads a random object of --size if it is missing (or has another size), then
downloads it with download_fileobj to a file on local disk (max_concurrency --concurrency,
multipart_chunksize 8 MiB), best of --runs. --put measures a parallel upload of a local
random file the same way. Prints one JSON line {"size", "seconds", "mb_per_s", …}
(MB = 10^6 bytes). Reads S3_ENDPOINT S3_BUCKET S3_ACCESS_KEY S3_SECRET_KEY S3_REGION.
"""
import argparse
import json
import os
import sys
import tempfile
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from boto3.s3.transfer import TransferConfig

MiB = 1024 * 1024


def parse_size(s):
    s = s.strip().upper().rstrip("B").rstrip("I")
    mult = {"K": 1024, "M": MiB, "G": 1024 * MiB, "T": 1024 * 1024 * MiB}
    if s and s[-1] in mult:
        return int(float(s[:-1]) * mult[s[-1]])
    return int(s)


def write_random(path, size):
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 8 * MiB)
            f.write(os.urandom(n))
            left -= n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="1G", help="object size (e.g. 64M, 1G; default 1G)")
    ap.add_argument("--concurrency", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3, help="timed runs, best kept (0: only upload the object)")
    ap.add_argument("--put", action="store_true", help="measure a parallel upload instead")
    ap.add_argument("--key", help="object key (default s3-baseline/random-SIZE)")
    ap.add_argument("--workdir", help="local dir for the files (default: a temp dir in the cwd)")
    a = ap.parse_args()
    size = parse_size(a.size)
    try:
        env = {k: os.environ[k] for k in ("S3_ENDPOINT", "S3_BUCKET", "S3_ACCESS_KEY", "S3_SECRET_KEY")}
    except KeyError as e:
        sys.exit(f"s3_baseline: {e.args[0]} not set (source the env file of Tests/s3/s3server.sh)")
    s3 = boto3.client("s3", endpoint_url=env["S3_ENDPOINT"], region_name=os.environ.get("S3_REGION", "us-east-1"),
                      aws_access_key_id=env["S3_ACCESS_KEY"], aws_secret_access_key=env["S3_SECRET_KEY"],
                      config=Config(s3={"addressing_style": "path"},
                                    max_pool_connections=max(10, a.concurrency + 2)))
    bucket = env["S3_BUCKET"]
    key = a.key or f"s3-baseline/random-{size}"
    tc = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB,
                        max_concurrency=a.concurrency, use_threads=True)
    best = None
    with tempfile.TemporaryDirectory(prefix="s3-baseline.", dir=a.workdir or os.getcwd()) as td:
        local = os.path.join(td, "data")
        if a.put:
            write_random(local, size)
            for i in range(a.runs):
                with open(local, "rb") as f:
                    t = time.perf_counter()
                    s3.upload_fileobj(f, bucket, f"{key}-put", Config=tc)
                    dt = time.perf_counter() - t
                best = dt if best is None else min(best, dt)
            s3.delete_object(Bucket=bucket, Key=f"{key}-put")
        else:
            try:
                have = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
            except ClientError as e:
                if e.response["ResponseMetadata"]["HTTPStatusCode"] != 404:
                    raise
                have = None
            if have != size:
                write_random(local, size)
                s3.upload_file(local, bucket, key, Config=tc)
                os.unlink(local)
            for i in range(a.runs):
                with open(local, "wb") as f:
                    t = time.perf_counter()
                    s3.download_fileobj(bucket, key, f, Config=tc)
                    f.flush()
                    dt = time.perf_counter() - t
                got = os.path.getsize(local)
                if got != size:
                    sys.exit(f"s3_baseline: downloaded {got} bytes, expected {size}")
                os.unlink(local)
                best = dt if best is None else min(best, dt)
    if best is None:  # --runs 0: only make sure the object is there
        print(json.dumps({"size": size, "seconds": None, "mb_per_s": None, "mode": "put" if a.put else "get", "runs": 0}))
        return
    print(json.dumps({"size": size, "seconds": round(best, 3), "mb_per_s": round(size / best / 1e6, 1),
                      "mode": "put" if a.put else "get", "concurrency": a.concurrency, "runs": a.runs}))


if __name__ == "__main__":
    main()
