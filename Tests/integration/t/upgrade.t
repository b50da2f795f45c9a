#!/usr/bin/env bash
# A volume written by the previous release opens with this one: Tests/fixtures/volume-v4 is a
# SQLite volume (schema v4: no extents' offsets, no packs) that the release before packs wrote
# (commit 90287e5: inline files, blocks over 64 KiB, a hole, a symlink, a hard link, an xattr).
# The first process migrates it to the current schema; every file reads back as the manifest
# written with it says; the volume then takes new files, packs and a dump like any other.
. "$(dirname "$0")/../lib.sh"
need sqlite3 sha256sum:coreutils
H=$HILBERT
[ -x "$H" ] || bail "hilbert binary at $H" "build first: make"
FIX=$(cd "$(dirname "$0")/../../fixtures/volume-v4" && pwd)
V=$HL_TMP/v4
mkdir -p "$V"
cp -a "$FIX/meta.db" "$FIX/objects" "$V/"
chmod -R u+w "$V"
# The fixture names the directory it was made in; a moved volume is pointed at its store.
sqlite3 "$V/meta.db" "UPDATE hl_setting SET value = '$V/objects' WHERE name = 'bucket'"
is "$(sqlite3 "$V/meta.db" 'PRAGMA user_version')" "4" "the fixture is a schema v4 volume"
URL=sqlite://$V/meta.db
hv() { "$H" run --mount "/v=$URL" --cache "$HL_TMP/cache" -- "$@"; }

manifest() {
    hv bash -c 'cd /v && find . -type f -o -type l | sort | while read -r p; do
        if [ -L "$p" ]; then echo "L $(readlink "$p") ${p#.}"
        else echo "F $(sha256sum < "$p" | cut -c1-64) $(stat -c "%s %a %Y" "$p") ${p#.}"; fi; done'
}
out=$(manifest 2>&1)
is "$out" "$(cat "$FIX/manifest")" "every file, link, size, mode and mtime reads back as written by the previous release"
is "$(sqlite3 "$V/meta.db" 'PRAGMA user_version')" "6" "the first process migrated it to schema v6"
is "$(sqlite3 "$V/meta.db" 'SELECT count(*) FROM hl_block WHERE obj_off <> 0')" "0" "its blocks are objects of their own (offset 0)"
is "$(hv getfattr --only-values -n user.note /v/d/small 2>/dev/null || hv "$HL_PY" -c 'import os; print(os.getxattr("/v/d/small", "user.note").decode(), end="")')" \
   "kept across releases" "its xattr is there"
out=$("$H" gc "$URL" 2>/dev/null)
like "$out" "missing: +0 referenced" "gc: every object it references is in its store"
like "$out" "leaked: +0 objects" "gc: nothing leaked"

# It goes on as a volume of this release.
out=$(hv bash -c 'echo appended >> /v/d/e/text && cp /v/d/big /v/big2 && cmp /v/d/big /v/big2 && tail -c 9 /v/d/e/text' 2>&1)
is "$out" "appended" "a migrated file is appended to and copied"
out=$("$H" compact "$URL" 2>&1)
like "$out" "packed into 1 packs" "its small files go into a pack"
out=$(hv bash -c 'cd /v && sha256sum d/medium d/e/hard d/small' 2>&1)
like "$out" "^$(grep ' /d/medium$' "$FIX/manifest" | cut -d' ' -f2)  d/medium" "the packed files read the same (medium)"
like "$out" "$(grep ' /d/small$' "$FIX/manifest" | cut -d' ' -f2)  d/small" "the packed files read the same (small)"
out=$("$H" dump "$URL" "$HL_TMP/v4.json" 2>&1); rc=$?
is "$rc" "0" "the migrated volume dumps"
out=$("$H" load "$HL_TMP/v4.json" "sqlite://$HL_TMP/moved/meta.db" 2>&1); rc=$?
is "$rc" "0" "and the dump loads into a new volume"
done_testing
