#!/usr/bin/env bash
# Inline data (small files stored in meta.db) is checksummed like blocks (SEMANTICS.md, "Data
# integrity"): a byte flipped in the database file is EIO with one line, never wrong data, and
# the file can be rewritten. meta.db and the files beside it are 0600. A volume of the
# previous schema (v2, no checksums) gets them on first open.
. "$(dirname "$0")/../lib.sh"
hl_setup
need python3 sqlite3:sqlite3

# flip META TEXT — flip one byte of TEXT where it is stored in the database file
flip() {
    sqlite3 "$1" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null || return 1
    python3 - "$1" "$2" <<'PY'
import sys
path, text = sys.argv[1], sys.argv[2].encode()
data = bytearray(open(path, "rb").read())
i = data.find(text)
if i < 0: sys.exit("not found")
data[i + 3] ^= 0x20
open(path, "r+b").write(data)
PY
}

hl sh -c 'printf "hello-integrity-check\n" > /hilbert/small' || bail "write a small file"
is "$(sqlite3 "$HL_META" 'SELECT count(*) FROM hl_inline WHERE crc IS NOT NULL')" "1" "the small file is inline, with its checksum"
flip "$HL_META" "hello-integrity-check" || bail "flip a byte"
out=$(hlc "$HL_TMP/c1" cat /hilbert/small 2>&1); rc=$?
isnt "$rc" 0 "a flipped byte in inline data: the read fails"
like "$out" "cat: /hilbert/small: Input/output error" "… with EIO"
like "$out" "hilbert: inline data of inode [0-9]+ in $HL_META fails its checksum" "… and one line saying why"
unlike "$out" "hello|helLo" "… and no data"
is "$(hlc "$HL_TMP/c2" sh -c 'printf "rewritten\n" > /hilbert/small && cat /hilbert/small' 2>&1)" "rewritten" "the damaged file can be rewritten"

# the -wal and -shm files exist while a process has the database open
out=$(hl python3 -c '
import os, sys
open("/hilbert/small").read()
for f in sys.argv[1:]: print(os.path.basename(f), oct(os.stat(f).st_mode & 0o777))' \
    "$HL_META" "$HL_META-wal" "$HL_META-shm" "$HL_META-epoch" 2>&1)
is "$out" $'meta.db 0o600\nmeta.db-wal 0o600\nmeta.db-shm 0o600\nmeta.db-epoch 0o600' "meta.db and the files beside it are 0600"
if [ "$(id -u)" = 0 ] && hl_user; then
    chmod 755 "$HL_TMP" "$HL_VOL"
    out=$(as_user cat "$HL_META" 2>&1); rc=$?
    isnt "$rc" 0 "another user cannot read meta.db (the content of small files)"
fi

# a volume of schema v2 (no checksum column) is migrated and its rows get checksums
hl_format v2 >/dev/null 2>&1 || bail "format a second volume"
V2="$HL_TMP/v2/meta.db"
"$HILBERT" run --mount "/v2=sqlite://$V2" --cache "$HL_TMP/c3" -- sh -c 'printf "old-volume-data\n" > /v2/f' || bail "write to it"
sqlite3 "$V2" 'ALTER TABLE hl_delobj DROP COLUMN due_s; DROP INDEX hl_block_packed; ALTER TABLE hl_block DROP COLUMN obj_off; DROP TABLE hl_pack; ALTER TABLE hl_inline DROP COLUMN crc; DROP TABLE hl_upload; PRAGMA user_version = 2;' || bail "make it v2"
out=$("$HILBERT" run --mount "/v2=sqlite://$V2" --cache "$HL_TMP/c4" -- cat /v2/f 2>&1)
is "$out" "old-volume-data" "a v2 volume opens and its inline file reads"
is "$(sqlite3 "$V2" 'PRAGMA user_version; SELECT count(*) FROM hl_inline WHERE crc IS NOT NULL')" "$(sqlite3 "$HL_META" 'PRAGMA user_version')"$'\n1' "… migrated to the current schema, its row checksummed"
flip "$V2" "old-volume-data" || bail "flip a byte"
out=$("$HILBERT" run --mount "/v2=sqlite://$V2" --cache "$HL_TMP/c5" -- cat /v2/f 2>&1)
like "$out" "Input/output error" "… and a byte flipped there is caught too"
done_testing
