#!/usr/bin/env bash
# Build tools and archivers working inside the prefix: gcc + make (objects, a static archive,
# an ELF executable stored in the prefix and run from there), zip/unzip, xz, bzip2, perl -i,
# patch, split, python imports with __pycache__, a python venv.
# timeout: 240
. "$(dirname "$0")/../lib.sh"
need gcc:gcc make:make ar:binutils nm:binutils file:file zip:zip unzip:unzip xz:xz-utils bzip2:bzip2 perl:perl patch:patch
hl_setup

hl mkdir -p /hilbert/proj/src
hl bash -c 'cat > /hilbert/proj/src/util.c <<X
#include "util.h"
int twice(int x) { return 2 * x; }
X
cat > /hilbert/proj/src/util.h <<X
int twice(int x);
X
cat > /hilbert/proj/src/main.c <<X
#include <stdio.h>
#include <stdlib.h>
#include "util.h"
int main(int argc, char **argv) { FILE *f = fopen(argc > 1 ? argv[1] : "out.txt", "w"); if (!f) return 2;
  fprintf(f, "%d\n", twice(21)); fclose(f); printf("built ok %d\n", twice(argc)); return 0; }
X
printf "CFLAGS=-O1 -Wall\nall: app\napp: main.o libutil.a\n\t\$(CC) -o \$@ main.o -L. -lutil\nlibutil.a: util.o\n\tar rcs \$@ \$^\nmain.o util.o: src/util.h\n%%.o: src/%%.c\n\t\$(CC) \$(CFLAGS) -Isrc -c -o \$@ \$<\nclean:\n\trm -f *.o *.a app\n" > /hilbert/proj/Makefile'
out=$(hl make -C /hilbert/proj 2>&1); rc=$?
is "$rc" "0" "make builds objects, a static library and an executable in the prefix"
[ $rc = 0 ] || diag "$out"
is "$(hl bash -c 'cd /hilbert/proj && ls' 2>&1 | tr '\n' ' ')" "Makefile app libutil.a main.o src util.o " "build products are in the prefix"
is "$(hl file -b /hilbert/proj/app 2>&1 | cut -d, -f1)" "ELF 64-bit LSB pie executable" "the executable is an ELF file"
is "$(hl /hilbert/proj/app /hilbert/proj/res.txt 2>&1; hl cat /hilbert/proj/res.txt 2>&1)" $'built ok 4\n42' "hilbert run executes an ELF stored in the prefix"
is "$(hl bash -c 'cd /hilbert/proj && ./app && cat out.txt' 2>&1)" $'built ok 2\n42' "bash runs ./app from the virtual cwd; its relative fopen lands in the prefix"
is "$(hl env -u MAKELEVEL -u MAKEFLAGS -u MFLAGS make --no-print-directory -C /hilbert/proj 2>&1)" "make: Nothing to be done for 'all'." "make sees up-to-date targets (mtimes)"
hl touch /hilbert/proj/src/util.h
is "$(hl make --no-print-directory -C /hilbert/proj 2>&1 | grep -c -- '-c -o')" "2" "touching a header rebuilds both objects"
is "$(hl ar t /hilbert/proj/libutil.a 2>&1)" "util.o" "ar lists the archive"
is "$(hl nm /hilbert/proj/util.o 2>&1 | awk '{print $NF}')" "twice" "nm reads an object in the prefix"
ok "make clean" hl make -C /hilbert/proj clean
hl_cc_out=$(hl gcc -o /hilbert/proj/one-shot -x c - <<<'int main(void){return 7;}' 2>&1; hl /hilbert/proj/one-shot; echo rc=$?)
is "$hl_cc_out" "rc=7" "gcc from stdin straight into the prefix, run it"

# archivers
mkdir -p "$HL_TMP/z/d"; seq 1 50000 > "$HL_TMP/z/d/seq.txt"; head -c 100000 /dev/urandom > "$HL_TMP/z/d/rand.bin"; ln -s seq.txt "$HL_TMP/z/d/link"
sums() { (cd "$1" && find . -type f | sort | xargs md5sum); }
ok "zip a tree into the prefix" hl bash -c "cd $HL_TMP/z && zip -qry /hilbert/a.zip d"
ok "unzip inside the prefix" hl bash -c 'mkdir /hilbert/uz && cd /hilbert/uz && unzip -q ../a.zip'
is "$(hl bash -c "$(declare -f sums); sums /hilbert/uz/d" 2>&1)" "$(sums "$HL_TMP/z/d")" "unzipped files are identical"
is "$(hl readlink /hilbert/uz/d/link 2>&1)" "seq.txt" "zip/unzip kept the symlink"
ok "zip -u updates an archive in place in the prefix" hl bash -c 'cd /hilbert/uz && echo new > d/new.txt && zip -qru ../a.zip d && unzip -l ../a.zip | grep -q new.txt'
out=$(hlsh 'cp /hilbert/uz/d/seq.txt /hilbert/s.txt && xz -k /hilbert/s.txt && bzip2 -k /hilbert/s.txt && rm /hilbert/s.txt && xz -dc /hilbert/s.txt.xz | md5sum && bzcat /hilbert/s.txt.bz2 | md5sum && xz -t /hilbert/s.txt.xz && ls /hilbert | grep "^s\."' 2>&1)
is "$out" "$(seq 1 50000 | md5sum)"$'\n'"$(seq 1 50000 | md5sum)"$'\ns.txt.bz2\ns.txt.xz' "xz and bzip2 compress, test and decompress in the prefix"

# editors and text tools that replace files
out=$(hlsh 'printf "alpha\nbeta\ngamma\n" > /hilbert/t.txt && perl -i.bak -pe "s/beta/BETA/" /hilbert/t.txt && cat /hilbert/t.txt /hilbert/t.txt.bak | tr "\n" " "' 2>&1)
is "$out" "alpha BETA gamma alpha beta gamma " "perl -i.bak edits in place and keeps a backup"
out=$(hlsh 'cd /hilbert && printf "alpha\nBETA\ngamma\n" > t2.txt && diff -u t.txt.bak t2.txt > p.diff; patch -s t.txt.bak < p.diff && cmp t.txt.bak t2.txt && echo patched' 2>&1)
is "$out" "patched" "diff -u and patch in the prefix"
out=$(hlsh 'cd /hilbert && split -b 30000 uz/d/rand.bin part. && ls part.* | wc -l && cat part.* | cmp - uz/d/rand.bin && echo joined' 2>&1)
is "$out" $'4\njoined' "split and re-join"
out=$(hlsh 'install -D -m 750 /hilbert/t2.txt /hilbert/inst/a/b/t && stat -c %a /hilbert/inst/a/b/t' 2>&1)
is "$out" "750" "install -D -m creates parents and sets the mode"

# python importing code from the prefix, writing __pycache__
hl mkdir -p /hilbert/py/pkg
hl bash -c 'echo "from .mod import VALUE" > /hilbert/py/pkg/__init__.py; echo "VALUE = 41 + 1" > /hilbert/py/pkg/mod.py'
is "$(hl env -u PYTHONDONTWRITEBYTECODE PYTHONPATH=/hilbert/py "$HL_PY" -c 'import pkg, pkg.mod; print(pkg.VALUE, pkg.mod.__file__)' 2>&1)" "42 /hilbert/py/pkg/mod.py" "python imports a package from the prefix"
like "$(hl ls /hilbert/py/pkg/__pycache__ 2>&1)" "mod\.cpython-[0-9]+\.pyc" "python wrote __pycache__ in the prefix"
is "$(hl env -u PYTHONDONTWRITEBYTECODE PYTHONPATH=/hilbert/py "$HL_PY" -v -c 'import pkg; print(pkg.VALUE)' 2>&1 | grep -E "^42$|matches /hilbert/py/pkg/mod.py" | sed 's/^#.*matches.*/cached/' | sort | tr '\n' ' ')" "42 cached " "the cached bytecode is used on the next import"
out=$(hl "$HL_PY" -m venv --without-pip /hilbert/venv 2>&1; hl /hilbert/venv/bin/python -c 'import sys; print(sys.prefix)' 2>&1)
is "$out" "/hilbert/venv" "python -m venv in the prefix; its interpreter runs with the venv's prefix"
out=$(hl "$HL_PY" -c '
import zipfile, tarfile, io
with zipfile.ZipFile("/hilbert/py.zip", "w", zipfile.ZIP_DEFLATED) as z:
    for i in range(50): z.writestr("f%d.txt" % i, "x" * i * 100)
with zipfile.ZipFile("/hilbert/py.zip") as z: print(len(z.namelist()), z.testzip())
with tarfile.open("/hilbert/py.tar.gz", "w:gz") as t: t.add("/hilbert/py", arcname="py")
with tarfile.open("/hilbert/py.tar.gz") as t: print(sorted(m.name for m in t.getmembers() if m.isfile() and m.name.endswith(".py")))' 2>&1)
is "$out" $'50 None\n[\'py/pkg/__init__.py\', \'py/pkg/mod.py\']' "python zipfile and tarfile read and write archives in the prefix"

done_testing
