"""The S3 test server's settings for the benchmarks: from the environment, or from the env file
Tests/s3/with-server.sh names in HL_S3_SERVER_ENV."""
import os

NEEDED = ("S3_ENDPOINT", "S3_BUCKET", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def load():
    """Put the server's settings into os.environ; the names still missing (empty: all there)."""
    env_file = os.environ.get("HL_S3_SERVER_ENV")
    if env_file and "S3_ENDPOINT" not in os.environ:
        for line in open(env_file):
            if line.startswith("export ") and "=" in line:
                k, v = line[7:].strip().split("=", 1)
                os.environ[k] = v
    return [k for k in NEEDED if k not in os.environ]
