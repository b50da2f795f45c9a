#!/usr/bin/env bash
# with-server.sh CMD ARGS… — run CMD with a SeaweedFS server up (Tests/s3/s3server.sh) and
# HL_S3_SERVER_ENV pointing at its env file: run.sh runs NAME@s3 entries (and HL_S3_SUITE)
# with their volumes on S3
# (lib.sh: hl_format). The server is stopped afterwards, whatever CMD did; CMD's exit
# status is returned.
set -u
here=$(cd "$(dirname "$0")" && pwd)
export S3_STATE_DIR=${S3_STATE_DIR:-$(mktemp -d /tmp/hilbert-s3-suite.XXXXXX)}
export S3_OWNER_PID=$$
trap '"$here/s3server.sh" down >/dev/null 2>&1' EXIT
trap 'exit 143' TERM INT
if ! out=$("$here/s3server.sh" up 2>&1); then
    printf '%s\n' "$out" >&2
    echo "with-server.sh: the S3 server did not start" >&2
    exit 1
fi
HL_S3_SERVER_ENV=$("$here/s3server.sh" env)
export HL_S3_SERVER_ENV
"$@"
