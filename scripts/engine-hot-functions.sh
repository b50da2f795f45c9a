#!/bin/bash
# Regenerates Sources/HilbertEngine/hot-functions.txt: the engine functions that short
# processes run on their first touch of a volume (open, stat, read, create, write, rename,
# remove, list). The linker places them together (Package.swift, --symbol-ordering-file), so
# a process maps and faults in fewer pages of the engine's text. Run after changes to the
# engine's start-up path; a stale list is harmless (it only orders less well).
# Needs valgrind (callgrind) and a release build in out/ (make build).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "engine-hot-functions: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
release=$(swift build -c release --show-bin-path)
[ -x out/bin/hilbert ] && [ -f "$release/libHilbertEngine.so" ] || { echo "engine-hot-functions: run 'make build' first" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Valgrind 3.19 cannot read the engine's DWARF 5: keep the symbol table, drop the debug info.
strip --strip-debug -o "$work/engine.so" "$release/libHilbertEngine.so"
mkdir -p "$work/vol" "$work/native"
out/bin/hilbert format "sqlite://$work/vol/meta.db" >/dev/null
head -c 4096 /dev/urandom > "$work/native/f"
mounts="/hilbert=sqlite://$work/vol/meta.db"
under() {
    env LD_PRELOAD="$PWD/out/lib/libhilbert-preload.so" HILBERT_MOUNTS="$mounts" HILBERT_CACHE="$work/cache" \
        HILBERT_ENGINE="$work/engine.so" "$@"
}
under cp "$work/native/f" /hilbert/f
n=0
trace() {
    n=$((n + 1))
    under valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/cg.$n" "$@" >/dev/null 2>&1
}
trace /bin/cat /hilbert/f
trace /usr/bin/stat /hilbert/f
trace /bin/sh -c 'echo x > /hilbert/g'
trace /bin/ls -la /hilbert
trace /bin/cp "$work/native/f" /hilbert/h
trace /bin/mv /hilbert/h /hilbert/h2
trace /bin/rm /hilbert/h2
trace /bin/mkdir /hilbert/d
trace /bin/rmdir /hilbert/d
trace /usr/bin/touch /hilbert/t
python3 - "$work" > Sources/HilbertEngine/hot-functions.txt <<'PY'
import collections, glob, re, sys
count = collections.Counter()
for path in glob.glob(sys.argv[1] + "/cg.*"):
    objects, names, current, seen = {}, {}, None, set()
    for line in open(path, errors="replace"):
        m = re.match(r"^(c?)(ob|fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if not m:
            continue
        called, kind, ident, name = m.groups()
        table = objects if kind == "ob" else names
        if name:
            table[ident] = name
        if called:
            continue
        if kind == "ob":
            current = objects.get(ident, "")
        elif current.endswith("/engine.so"):
            seen.add(names[ident])
    count.update(seen)
for name, _ in sorted(count.items(), key=lambda kv: (-kv[1], kv[0])):
    print(name)
PY
echo "engine-hot-functions: $(wc -l < Sources/HilbertEngine/hot-functions.txt) functions from $n traced commands"
