#!/usr/bin/env bash
# Hot and cold data (issue 14, part 4) on a real S3 server (SeaweedFS keeps the storage class
# of each object, reports it in HEAD and listings, refuses unknown names and changes it on a
# copy onto the object's own key; it does not archive, so an archived object's GET is injected
# by the fault proxy as S3 answers it: 403 InvalidObjectState). A volume names a class for new
# objects; `hilbert tier` moves a tree's objects to another class with readers never seeing a
# gap; `hilbert du` shows the classes, the node cache and the site cache.
# timeout: 300
. "$(dirname "$0")/../lib.sh"
need python3 curl:curl
[ -x "$HILBERT" ] || bail "hilbert binary at $HILBERT" "build first: make"
hl_s3_own_server 600
rules() { hl_s3_rules "$1"; }
export HILBERT_S3_ATTEMPTS=3 HILBERT_S3_BACKOFF_BASE_MS=20 HILBERT_S3_BACKOFF_CAP_MS=200
URL="sqlite://$HL_TMP/vol/meta.db"
M=(--mount "/hilbert=$URL" --cache "$HL_TMP/cache")
classes() {   # classes PREFIX — "CLASS COUNT" per class of the objects under the volume's prefix
    "$S3_PYTHON" - "$1" <<'EOF'
import os, sys, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"], region_name="us-east-1")
seen = {}
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=os.environ["S3_BUCKET"], Prefix=sys.argv[1]):
    for o in page.get("Contents", []):
        seen[o.get("StorageClass", "STANDARD")] = seen.get(o.get("StorageClass", "STANDARD"), 0) + 1
print(" ".join(f"{k}:{v}" for k, v in sorted(seen.items())))
EOF
}

out=$("$HILBERT" format "sqlite://$HL_TMP/bad/meta.db" --storage s3 --bucket "$FP/$S3_BUCKET/bad" --storage-class 'Cold!' 2>&1); rc=$?
isnt "$rc" 0 "format --storage-class refuses a malformed name"
like "$out" "not a storage class name" "… saying so"
out=$("$HILBERT" format "sqlite://$HL_TMP/bad2/meta.db" --storage s3 --bucket "$FP/$S3_BUCKET/bad2" --storage-class NO_SUCH_CLASS 2>&1); rc=$?
isnt "$rc" 0 "a class the server does not have is refused at format (the probe object)"
like "$out" "InvalidStorageClass" "… with the server's code"
out=$("$HILBERT" format "sqlite://$HL_TMP/bad3/meta.db" --storage-class STANDARD_IA 2>&1); rc=$?
like "$out" "apply to --storage s3 only" "--storage-class on a directory store is refused"

out=$("$HILBERT" format "$URL" --storage s3 --bucket "$FP/$S3_BUCKET/sc" --storage-class STANDARD_IA 2>&1) || bail "format" "$out"
like "$out" "storage-class: STANDARD_IA" "format records the volume's storage class"
src="$HL_TMP/src"; mkdir -p "$src/cold" "$src/hot"
for i in $(seq 1 40); do head -c 30000 /dev/urandom >"$src/cold/c$i"; done
head -c 9000000 /dev/urandom >"$src/cold/big"
for i in 1 2 3; do head -c 50000 /dev/urandom >"$src/hot/h$i"; done
echo small >"$src/hot/tiny"
"$HILBERT" run "${M[@]}" -- cp -a "$src" /hilbert/tree || bail "write the tree"
objs=$(classes sc/chunks/)
like "$objs" "^STANDARD_IA:[0-9]+$" "new objects are put in the volume's class (x-amz-storage-class): $objs"

out=$("$HILBERT" du "${M[@]}" /hilbert/tree 2>&1); rc=$?
is "$rc" 0 "hilbert du succeeds"
like "$out" "^45 files, 9\.9 MiB in 3 directories" "du counts the files and bytes"
like "$out" "storage class STANDARD_IA: [0-9]+ objects" "… and the objects per storage class"
like "$out" "node cache: +[0-9]+ files" "… and the node cache"
like "$out" "site cache: +none" "… and says there is no site cache"

# Move the cold subtree while a reader reads it: the reader never sees a gap.
"$HILBERT" run "${M[@]}" --cache "$HL_TMP/reader" -- sh -c 'for r in 1 2 3 4 5 6; do cat /hilbert/tree/cold/* | sha256sum; done' >"$HL_TMP/reads" 2>"$HL_TMP/reads.err" &
reader=$!
out=$("$HILBERT" tier "${M[@]}" /hilbert/tree/cold --class GLACIER_IR 2>&1); rc=$?
wait $reader; rrc=$?
is "$rc" 0 "hilbert tier succeeds"
like "$out" "^tier: [0-9]+ objects \(.*\) moved to GLACIER_IR, 0 \(0 B\) were in it already; 41 files" "… and says what it moved"
is "$rrc:$(sort -u "$HL_TMP/reads" | wc -l | tr -d ' ')" "0:1" "a reader during the move read the same bytes every time, without an error"
want=$(cat "$src"/cold/* | sha256sum)
is "$(head -1 "$HL_TMP/reads")" "$want" "… the right bytes"
like "$(classes sc/chunks/)" "GLACIER_IR:[0-9]+ STANDARD_IA:[0-9]+" "the cold objects are in GLACIER_IR, the hot ones still STANDARD_IA"
out=$("$HILBERT" du "${M[@]}" /hilbert/tree/cold 2>&1)
like "$out" "storage class GLACIER_IR: [0-9]+ objects" "du shows the moved tree's class"
unlike "$out" "STANDARD_IA" "… and nothing of it left in the old one"
ok "every file still reads back on a fresh node" "$HILBERT" run --mount "/hilbert=$URL" --cache "$HL_TMP/fresh" -- diff -r "$src" /hilbert/tree
out=$("$HILBERT" tier "${M[@]}" /hilbert/tree/cold --class GLACIER_IR 2>&1)
like "$out" "^tier: 0 objects .* moved to GLACIER_IR, [0-9]+ .* were in it already" "a second tier moves nothing"
out=$("$HILBERT" tier "${M[@]}" /hilbert/tree --class 'bad class' 2>&1); rc=$?
isnt "$rc" 0 "tier refuses a malformed class"
"$HILBERT" format "sqlite://$HL_TMP/local/meta.db" >/dev/null 2>&1
out=$("$HILBERT" tier --mount "/d=sqlite://$HL_TMP/local/meta.db" /d --class STANDARD_IA 2>&1); rc=$?
like "$out" "has no storage classes" "tier on a directory store says it has no classes"

# An archived object (GLACIER): S3 answers GET with 403 InvalidObjectState until it is restored.
rules '[{"method":"GET","path":"/sc/chunks/","action":"status","status":403,"code":"InvalidObjectState","message":"The operation is not valid for the object'"'"'s storage class"}]'
out=$("$HILBERT" run --mount "/hilbert=$URL" --cache "$HL_TMP/cold-node" -- cat /hilbert/tree/cold/c1 2>&1 >/dev/null); rc=$?
isnt "$rc" 0 "reading an archived object fails"
like "$out" "Input/output error" "… with EIO"
like "$out" "the object is archived .*InvalidObjectState.*; restore it first \(aws s3api restore-object --bucket $S3_BUCKET --key sc/chunks/" "… and one line saying so and how to restore it"
is "$(printf '%s\n' "$out" | grep -c '^hilbert:')" "1" "… one line, not one per retry"
rules '[]'
ok "once restored, it reads again" "$HILBERT" run --mount "/hilbert=$URL" --cache "$HL_TMP/cold-node" -- cmp /hilbert/tree/cold/c1 "$src/cold/c1"

out=$("$HILBERT" tier "${M[@]}" /hilbert/tree --class STANDARD 2>&1)
like "$out" "^tier: [0-9]+ objects .* moved to STANDARD" "tier back to STANDARD"
like "$(classes sc/chunks/)" "^STANDARD:[0-9]+$" "… every object is STANDARD again"
done_testing
