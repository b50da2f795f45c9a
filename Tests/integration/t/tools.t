#!/usr/bin/env bash
# Real tools on the prefix, each scenario run twice in the same test run — in a native temp
# dir and in a dir under /hilbert (lib.sh: differ) — and ending in a content comparison:
# rsync -aHAX round trip and no-op rerun, git init/commit/gc/fsck/clone, fio (psync and mmap
# engines, verify=crc32c), numpy.memmap, h5py (HDF5 file locking on), and a venv inside the
# prefix that pip-installs a wheel with a compiled extension, offline.
# Python: Debian's /usr/bin/python3 (numpy, h5py, setuptools, wheel and venv come from apt;
# the `python3` on PATH may be another interpreter without them).
# timeout: 300
. "$(dirname "$0")/../lib.sh"
hl_setup
need rsync:rsync fio:fio getfattr:attr setfattr:attr git:git gcc:gcc
PY=/usr/bin/python3
[ -x "$PY" ] || bail "Debian's /usr/bin/python3 is not installed (Debian package python3: make test-deps)"
for m in numpy:python3-numpy h5py:python3-h5py venv:python3-venv setuptools:python3-setuptools wheel:python3-wheel; do
    "$PY" -c "import ${m%%:*}" 2>/dev/null || bail "$PY cannot import ${m%%:*} (Debian package ${m#*:}: make test-deps)"
done
[ -f "$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h" ] || bail "Python.h for $PY is not installed (Debian package python3-dev: make test-deps)"
export PY

# timed DESC SNIPPET — differ, with the duration of both runs in a diagnostic line
timed() {
    local t0=$SECONDS
    differ "$1" "$2"
    diag "$1: $((SECONDS - t0)) s (native + /hilbert)"
}

# MANIFEST DIR — one line per entry (path, type, mode, size, mtime in ns, link count, the first
# path of its hard-link group, symlink target), the md5 of every regular file and every user.*
# xattr, all sorted, so two trees compare as text. Directory sizes are file-system specific.
cat >"$HL_TMP/manifest.sh" <<'EOF'
cd "$1" || exit 1
find . -mindepth 1 -printf '%P|%y|%m|%s|%T@|%n|%i|%l\n' | LC_ALL=C sort |
    awk -F'|' -v OFS='|' '{ if (!($7 in g)) g[$7] = $1; if ($2 == "d") $4 = "-"; $7 = g[$7]; print }'
find . -mindepth 1 -type f -print0 | LC_ALL=C sort -z | xargs -0r md5sum
find . -mindepth 1 -print0 | LC_ALL=C sort -z | xargs -0r getfattr -h -d -e hex -m '^user\.' 2>&1 |
    awk '/^# file: / { f = substr($0, 9); next } NF { print f ": " $0 }' | LC_ALL=C sort
EOF
export MANIFEST="$HL_TMP/manifest.sh"

# ---------------------------------------------------------------- rsync
src="$HL_TMP/rsync-src"
mkdir -p "$src/a/b" "$src/empty" "$src/private"
echo hello >"$src/a/hello.txt"
: >"$src/a/zero"
seq 1 200000 >"$src/a/b/numbers"
head -c 9000000 /dev/urandom >"$src/big.bin"         # more than two 4 MiB blocks
printf '#!/bin/sh\necho run\n' >"$src/a/run.sh"; chmod 755 "$src/a/run.sh"
echo secret >"$src/private/key"; chmod 600 "$src/private/key"; chmod 750 "$src/private"
echo linked >"$src/a/h1"; ln "$src/a/h1" "$src/a/b/h2"; ln "$src/a/h1" "$src/h3"
ln -s hello.txt "$src/a/rel-link"; ln -s /nonexistent/target "$src/dangling"; ln -s a/b "$src/dir-link"
echo "with space" >"$src/a/name with space"
setfattr -n user.color -v blue "$src/a/hello.txt"
setfattr -n user.bin -v 0x00ff10 "$src/a/h1"
setfattr -n user.dir -v yes "$src/a/b"
setfattr -n user.empty "$src/big.bin"
chmod 4755 "$src/a/b/numbers"
find "$src" -mindepth 1 -not -type l -exec touch -m -d '2021-03-04 05:06:07.123456789' {} +
find "$src" -type l -exec touch -h -m -d '2019-01-01 00:00:01.5' {} +
touch -m -d '2022-02-02 02:02:02.000000002' "$src/a/hello.txt"
find "$src" -type d -exec touch -m -d '2020-05-06 07:08:09.987654321' {} +
export RSRC="$src"
src_manifest=$(bash "$MANIFEST" "$src")

timed "rsync -aHAX into the directory, back out, and a no-op rerun" '
rs() { rsync -aHAX --itemize-changes --stats "$@" 2>&1 | grep -E "^(ERROR|rsync|[<>ch.*][fdLhS+. ]|Number of (regular )?files( transferred)?:|Number of created files:)" | grep -v "^\.d\.\.t\.\.\.\.\.\. \./$"; }
out=$(mktemp -d "$HL_TMP/rsync-out.XXXXXX")
echo "== in"; rs "$RSRC/" "$D/tree/" | LC_ALL=C sort
echo "== manifest in"; bash "$MANIFEST" "$D/tree"
echo "== no-op rerun in"; rs "$RSRC/" "$D/tree/"
echo "== out"; rs "$D/tree/" "$out/" | LC_ALL=C sort
echo "== no-op rerun out"; rs "$D/tree/" "$out/"
echo "== manifest out"; bash "$MANIFEST" "$out"
rm -rf "$out"'
is "$(hl bash "$MANIFEST" /hilbert/differ/d$_hl_differ_n/tree 2>&1)" "$src_manifest" "rsync: the tree in the prefix equals the source (links, modes, mtimes, xattrs, contents)"
out=$(hl rsync -aHAX --stats "$src/" /hilbert/differ/d$_hl_differ_n/tree/ 2>&1)
like "$out" "Number of regular files transferred: 0" "rsync: a rerun into the prefix transfers nothing"

# ---------------------------------------------------------------- git
export GIT_AUTHOR_NAME=T GIT_AUTHOR_EMAIL=t@example.invalid GIT_COMMITTER_NAME=T GIT_COMMITTER_EMAIL=t@example.invalid
export GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_DATE='2020-01-01T00:00:00Z' GIT_COMMITTER_DATE='2020-01-01T00:00:00Z'
git config --global init.defaultBranch main
git config --global pack.threads 1
timed "git init, commit, gc, fsck, clone out of and into the directory" '
git init -q repo && cd repo || exit 1
mkdir -p src doc; for i in $(seq 1 40); do seq $i 3 2000 > src/f$i.c; done; seq 1 150000 > doc/big.txt
printf "#!/bin/sh\necho hi\n" > run.sh; chmod +x run.sh; ln -s src/f1.c link
git add . && git commit -qm first
for i in 1 2 3; do echo "change $i" >> src/f$i.c; git rm -q src/f$((i + 10)).c; git commit -qam "change $i"; done
git rev-parse HEAD; git log --format="%h %s" | tr "\n" " "; echo
git gc -q --aggressive; git count-objects -v | grep -E "^(count|in-pack|packs|prune-packable|garbage):"
git fsck --strict --no-progress 2>&1; echo "fsck rc=$?"
git verify-pack -v .git/objects/pack/*.idx | grep -c " blob "
cd ..
out=$(mktemp -d "$HL_TMP/git-out.XXXXXX")
git clone -q "$D/repo" "$out/clone" && git -C "$out/clone" fsck --strict --no-progress && echo "clone out ok"
git clone -q --no-local "$out/clone" "$D/clone2" && git -C "$D/clone2" fsck --strict --no-progress && echo "clone in ok"
git -C "$D/clone2" status --porcelain; git -C "$D/clone2" rev-parse HEAD
# checkout times differ between the runs: the mtime column is left out
(cd "$out/clone" && git ls-files -s && bash "$MANIFEST" . | grep -v "^\.git" | grep -v "^[0-9a-f]*  \./\.git/" | cut -d"|" -f1-4,6-)
(cd "$D/clone2" && bash "$MANIFEST" . | grep -v "^\.git" | grep -v "^[0-9a-f]*  \./\.git/" | cut -d"|" -f1-4,6-)
"$D/clone2/run.sh"
rm -rf "$out"'

# ---------------------------------------------------------------- fio
cat >"$HL_TMP/fio-report.py" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
for j in r["jobs"]:
    print(j["jobname"], "error", j["error"], "read", j["read"]["io_bytes"], "written", j["write"]["io_bytes"])
EOF
export FIOREP="$HL_TMP/fio-report.py"
timed "fio psync and mmap engines with verify=crc32c, then a verify-only pass in a new process" '
for e in psync mmap; do
    common="--name=$e --filename=$D/fio-$e.dat --ioengine=$e --size=24m --bs=16k --randrepeat=1 --randseed=7 --verify=crc32c --fsync_on_close=1"
    fio $common --rw=randwrite --do_verify=1 --output-format=json --output="$D/$e-w.json" >/dev/null 2>&1; echo "$e write rc=$?"
    "$PY" "$FIOREP" "$D/$e-w.json"
    fio $common --rw=randwrite --verify_only --output-format=json --output="$D/$e-v.json" >/dev/null 2>&1; echo "$e verify rc=$?"
    "$PY" "$FIOREP" "$D/$e-v.json"
    stat -c "%s" "$D/fio-$e.dat"
done
fio --name=pat --filename="$D/fio-pattern.dat" --ioengine=mmap --rw=write --bs=64k --size=12m --buffer_pattern=0x5a17c3e1 --output-format=json --output="$D/pat.json" >/dev/null 2>&1; echo "pattern rc=$?"
"$PY" "$FIOREP" "$D/pat.json"; md5sum < "$D/fio-pattern.dat"'

# ---------------------------------------------------------------- numpy.memmap
timed "numpy.memmap write, flush, reopen, read, update in place" '
"$PY" - <<"PYEOF"
import hashlib, numpy as np
p = "mm.f64"
a = np.memmap(p, dtype="float64", mode="w+", shape=(1000, 1100))   # 8.8 MB: three blocks
a[:] = np.arange(1100 * 1000, dtype="float64").reshape(1000, 1100) / 7
a.flush(); del a
b = np.memmap(p, dtype="float64", mode="r", shape=(1000, 1100))
print("sum", float(b.sum()), "corner", b[999, 1099], hashlib.md5(b.tobytes()).hexdigest())
del b
c = np.memmap(p, dtype="float64", mode="r+", shape=(1000, 1100))
c[::7, ::3] = -1.5; c.flush(); del c
d = np.fromfile(p, dtype="float64").reshape(1000, 1100)
print("after r+", float(d.sum()), int((d == -1.5).sum()), hashlib.md5(d.tobytes()).hexdigest())
e = np.memmap(p, dtype="int32", mode="r", offset=8 * 1100 * 500, shape=(10,))
print("offset view", list(e[:4]))
with open(p, "rb") as f: print("file md5", hashlib.md5(f.read()).hexdigest())
PYEOF'

# ---------------------------------------------------------------- h5py
timed "h5py write, reopen, append, read with HDF5 file locking on" '
unset HDF5_USE_FILE_LOCKING
"$PY" - <<"PYEOF"
import hashlib, subprocess, sys, numpy as np, h5py
p = "data.h5"
with h5py.File(p, "w") as f:
    f.attrs["title"] = "hilbert"
    g = f.create_group("grp/sub")
    g.create_dataset("ints", data=np.arange(300000, dtype="i8"))
    f.create_dataset("z", data=np.linspace(0, 1, 200000).reshape(400, 500), chunks=(50, 50), compression="gzip")
    d = f.create_dataset("grow", shape=(0,), maxshape=(None,), dtype="f4", chunks=(1024,))
    d.resize((5000,)); d[:] = np.arange(5000) * 0.5
with h5py.File(p, "a") as f:
    d = f["grow"]; d.resize((9000,)); d[5000:] = 1.25
    f["grp/sub"].attrs["n"] = 3
with h5py.File(p, "r") as f:
    print(sorted(f.keys()), f.attrs["title"], f["grp/sub"].attrs["n"])
    print(int(f["grp/sub/ints"][:].sum()), float(f["z"][:].sum()), float(f["grow"][:].sum()), f["grow"].shape)
    # a writer in another process is refused while this process holds the file open
    r = subprocess.run([sys.executable, "-c", "import h5py; h5py.File(\"data.h5\", \"a\")"], capture_output=True, text=True)
    print("second writer refused:", r.returncode != 0, "unable to lock file" in r.stderr or "lock" in r.stderr)
    r = subprocess.run([sys.executable, "-c", "import h5py; print(h5py.File(\"data.h5\", \"r\")[\"grow\"].shape)"], capture_output=True, text=True)
    print("second reader:", r.stdout.strip(), r.returncode)
PYEOF'

# ---------------------------------------------------------------- venv + pip + C extension
timed "venv in the directory, build a C-extension wheel, pip install offline, import" '
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_NO_INDEX=1
mkdir -p src/hlext && cd src || exit 1
cat > hlext/hlext.c <<"CEOF"
#include <Python.h>
static PyObject *add(PyObject *self, PyObject *args) {
    long a, b;
    if (!PyArg_ParseTuple(args, "ll", &a, &b)) return NULL;
    return PyLong_FromLong(a + b);
}
static PyMethodDef methods[] = {{"add", add, METH_VARARGS, "a + b"}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "hlext", NULL, -1, methods};
PyMODINIT_FUNC PyInit_hlext(void) { return PyModule_Create(&mod); }
CEOF
cat > setup.py <<"SEOF"
from setuptools import setup, Extension
setup(name="hlext", version="1.0", ext_modules=[Extension("hlext", ["hlext/hlext.c"])])
SEOF
"$PY" setup.py -q bdist_wheel -d ../dist >build.log 2>&1; echo "bdist_wheel rc=$?"; ls ../dist
cd .. && "$PY" -m venv venv; echo "venv rc=$?"
venv/bin/pip install -q ./dist/hlext-1.0-*.whl 2>&1; echo "pip rc=$?"
venv/bin/python -c "import hlext, sys; print(hlext.add(40, 2), hlext.__file__.startswith(sys.prefix), sys.prefix)"
venv/bin/pip list 2>/dev/null | grep -i hlext
venv/bin/pip show -f hlext | sed -n "/^Files:/,\$p" | grep -v "__pycache__" | LC_ALL=C sort
venv/bin/python -m pip uninstall -y -q hlext; venv/bin/python -c "import hlext" 2>&1 | tail -1'

done_testing
