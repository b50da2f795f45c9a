#!/usr/bin/env bash
# POSIX conformance, differential: one C probe (Tests/integration/c/probe_*.c) runs on a native
# directory and under /hilbert; for every case (name and path lengths, symlink loops and
# chains, open flags, namespace errors, utimensat, SEEK_DATA/SEEK_HOLE, fallocate, O_PATH and
# /proc/self/fd reopening, AT_EMPTY_PATH, statx, O_TMPFILE + linkat) the return value and
# errno must be the same. Then what only the volume can tell: linked O_TMPFILE files are
# committed files another node reads, and an unlinked one leaves nothing behind.
# timeout: 300
. "$(dirname "$0")/../lib.sh"
need gcc:gcc
hl_setup
[ "$(id -u)" = 0 ] || bail "conformance.t runs as root (fchownat, CAP_DAC_READ_SEARCH for linkat AT_EMPTY_PATH)"

PROBE="$HL_TMP/probe"
gcc -O1 -Wall -o "$PROBE" "$HL_LIB_DIR"/c/probe_*.c 2>"$HL_TMP/cc.log" || bail "compile the probe" "$(cat "$HL_TMP/cc.log")"
chmod 755 "$HL_TMP"

# compare DESC NATIVE-OUT VIRTUAL-OUT — one assertion per case group (the diff names the cases)
compare() {
    local desc=$1 n=$2 v=$3 g
    for g in $(grep '^# ' <<<"$n" | cut -c3-); do
        is "$(sed -n "/^# $g\$/,/^# /p" <<<"$v" | grep -v '^# ')" \
           "$(sed -n "/^# $g\$/,/^# /p" <<<"$n" | grep -v '^# ')" "$desc: $g"
    done
}

mkdir -p "$HL_TMP/native"
native=$("$PROBE" "$HL_TMP/native" 2>&1) || fail "probe ran natively" "$native"
hl mkdir -p /hilbert/conf
virtual=$(hl "$PROBE" /hilbert/conf 2>&1) || fail "probe ran under /hilbert" "$(tail -n 20 <<<"$virtual")"
like "$native" "^# tmpfile" "the native run reached the last group"
compare "same results as Linux" "$native" "$virtual"

# ---------------------------------------------------------------- O_TMPFILE, volume side
other="$HL_TMP/other-node"
is "$(hlc "$other" cat /hilbert/conf/tmpfile/t/named1)" "tmp data+more" \
   "a linked O_TMPFILE file (written after linking too) is committed: another node reads it"
is "$(hlc "$other" cat /hilbert/conf/tmpfile/t/named2)" "second" \
   "linked through /proc/self/fd/N: another node reads it"
is "$(hlc "$other" stat -c '%a %h %s' /hilbert/conf/tmpfile/t/named1)" "600 2 13" \
   "mode (set with fchmod before linking), link count and size as on Linux"
is "$(hlc "$other" ls /hilbert/conf/tmpfile/t | tr '\n' ' ')" "named1 named1b named2 " \
   "unlinked and O_EXCL tmpfiles left no name"
is "$(find "$HL_CACHE" -path '*/staging/*' | wc -l)" 0 "nothing is left in the staging area"

# (os.link calls link(2), which does not follow /proc/self/fd/N: linkat through ctypes)
hl_py '
import ctypes, os
fd = os.open("/hilbert/conf", os.O_TMPFILE | os.O_WRONLY, 0o644)
os.write(fd, b"x" * (1 << 20))
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, AT_SYMLINK_FOLLOW = -100, 0x400
if libc.linkat(AT_FDCWD, b"/proc/self/fd/%d" % fd, AT_FDCWD, b"/hilbert/conf/big", AT_SYMLINK_FOLLOW) != 0:
    raise OSError(ctypes.get_errno(), "linkat")
os.close(fd)
' && is "$(hlc "$other" sh -c 'wc -c < /hilbert/conf/big')" 1048576 "a 1 MiB O_TMPFILE file linked from python is stored in blocks and read back"

# ---------------------------------------------------------------- refused by design (SEMANTICS.md)
out=$(hl "$HL_PY" - "$HL_TMP/native" 2>&1 <<'PY'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
def call(name, *args):
    ctypes.set_errno(0)
    r = getattr(libc, name)(*args)
    return "%d %s" % (r, os.strerror(ctypes.get_errno()) if r < 0 else "")
host = sys.argv[1].encode()
ino = libc.inotify_init1(0)
fan = libc.fanotify_init(0, 0)
print("chroot", call("chroot", b"/hilbert/conf"))
print("chroot again", call("chroot", b"/hilbert/conf/names"))
print("inotify", call("inotify_add_watch", ino, b"/hilbert/conf", 0x100))
os.chdir("/hilbert/conf")
print("inotify relative", call("inotify_add_watch", ino, b"names", 0x100))
print("inotify host", call("inotify_add_watch", ino, host, 0x100).split()[0] != "-1")
fd = os.open("/hilbert/conf", os.O_RDONLY)
print("fanotify path", call("fanotify_mark", fan, 1, ctypes.c_uint64(0x20), -100, b"/hilbert/conf"))
print("fanotify fd", call("fanotify_mark", fan, 1, ctypes.c_uint64(0x20), fd, None))
print("fanotify host", call("fanotify_mark", fan, 1, ctypes.c_uint64(0x20), -100, host).split()[0] != "-1")
PY
)
is "$(grep -v '^hilbert:' <<<"$out")" "chroot -1 Operation not permitted
chroot again -1 Operation not permitted
inotify -1 Operation not supported
inotify relative -1 Operation not supported
inotify host True
fanotify path -1 Operation not supported
fanotify fd -1 Operation not supported
fanotify host True" "chroot (EPERM), inotify_add_watch and fanotify_mark (EOPNOTSUPP) refused on the prefix, host paths untouched"
is "$(grep '^hilbert:' <<<"$out")" "hilbert: chroot into a Hilbert prefix is not supported (EPERM)
hilbert: inotify watches on a Hilbert prefix are not supported (EOPNOTSUPP)
hilbert: fanotify marks on a Hilbert prefix are not supported (EOPNOTSUPP)" "one hilbert: line per refused call kind and process"

# ---------------------------------------------------------------- as a non-root user
# (last: the volume is handed to the user)
hl_user || bail "useradd hltest"
chown -R "$HL_UID:$HL_GID" "$HL_VOL"
mkdir -p "$HL_TMP/cache-user" && chown "$HL_UID:$HL_GID" "$HL_TMP/cache-user"
mkdir -p "$HL_TMP/native-user" && chown "$HL_UID:$HL_GID" "$HL_TMP/native-user"
hl mkdir -p /hilbert/conf-user && hl chown "$HL_UID:$HL_GID" /hilbert/conf-user
native=$(as_user "$PROBE" "$HL_TMP/native-user" tmpfile flags 2>&1) || fail "probe ran natively as $HL_USER" "$native"
virtual=$(as_user "$HILBERT" run --mount "/hilbert=$HL_URL" --cache "$HL_TMP/cache-user" -- "$PROBE" /hilbert/conf-user tmpfile flags 2>&1) ||
    fail "probe ran under /hilbert as $HL_USER" "$(tail -n 20 <<<"$virtual")"
compare "same results as Linux as $HL_USER" "$native" "$virtual"

done_testing
