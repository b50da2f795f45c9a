#!/usr/bin/env bash
# An autotools package built entirely inside the prefix, and natively for comparison (lib.sh:
# differ): a generated package (configure.ac, Makefile.am, a libtool library, a program and a
# `make check` test script) goes through autoreconf -fi, ./configure, make, make check and
# make distcheck (which unpacks the tarball, builds it out of tree from a read-only source
# tree, installs, uninstalls and cleans), with TMPDIR under the prefix too. Compared: the
# program's output, the test results, the distribution's file list, the generated configure
# and Makefile.in, and the list of every file the build produced.
# autoreconf -f: with -i alone, one native run in a loaded full suite left the m4/ macros that
# libtoolize had just copied out of aclocal.m4 (another Makefile.in, no m4/ in the tarball):
# autoreconf and autom4te decide what to redo from timestamps and autom4te's cache. -f
# regenerates everything whatever the timestamps, so both runs must agree.
# The library is shared (and static): `make check` runs the uninstalled program through
# libtool's wrapper, which sets LD_LIBRARY_PATH to the absolute .libs directory (under the
# prefix), and the installed program runs with LD_LIBRARY_PATH=$prefix/lib; the shim gives
# the dynamic loader host mirrors of those directories (SEMANTICS.md, "dynamic loader").
# timeout: 900
. "$(dirname "$0")/../lib.sh"
need autoreconf:autoconf automake:automake libtoolize:libtool gcc:gcc make:make readelf:binutils
hl_setup

cat >"$HL_TMP/gen.sh" <<'GEN'
mkdir -p src tests
cat >configure.ac <<'X'
AC_INIT([hello], [1.0], [hilbert@example.org])
AC_CONFIG_SRCDIR([src/hello.c])
AC_CONFIG_AUX_DIR([build-aux])
AC_CONFIG_MACRO_DIRS([m4])
AM_INIT_AUTOMAKE([foreign subdir-objects -Wall -Werror])
AM_PROG_AR
AC_PROG_CC
LT_INIT
AC_CHECK_HEADERS([unistd.h])
AC_CONFIG_HEADERS([config.h])
AC_CONFIG_FILES([Makefile])
AC_OUTPUT
X
cat >Makefile.am <<'X'
ACLOCAL_AMFLAGS = -I m4
lib_LTLIBRARIES = libgreet.la
libgreet_la_SOURCES = src/greet.c src/greet.h
include_HEADERS = src/greet.h
bin_PROGRAMS = hello
hello_SOURCES = src/hello.c
hello_LDADD = libgreet.la
TESTS = tests/greets.sh tests/counts.sh
XFAIL_TESTS = tests/counts.sh
EXTRA_DIST = $(TESTS)
X
cat >src/greet.h <<'X'
const char *greet(int n);
X
cat >src/greet.c <<'X'
#include "config.h"
#include <stdio.h>
#include "greet.h"
const char *greet(int n) {
    static char buf[64];
    snprintf(buf, sizeof buf, "hello from a libtool library, %d", n);
    return buf;
}
X
cat >src/hello.c <<'X'
#include "config.h"
#include <stdio.h>
#include <stdlib.h>
#include "greet.h"
int main(int argc, char **argv) {
    printf("%s\n", greet(argc > 1 ? atoi(argv[1]) : 0));
    return 0;
}
X
cat >tests/greets.sh <<'X'
#!/bin/sh
./hello 7 | grep -qx 'hello from a libtool library, 7'
X
cat >tests/counts.sh <<'X'
#!/bin/sh
# expected to fail (XFAIL_TESTS)
./hello 1 | grep -q 'library, 2'
X
chmod +x tests/*.sh
GEN

differ "autoreconf, configure, make, make check, make distcheck" '
export TMPDIR="$D/tmp" && mkdir -p "$TMPDIR" && mkdir pkg && cd pkg && sh "'"$HL_TMP"'/gen.sh" || exit 2
step() { echo "== $1"; shift; "$@" >>"$D/log" 2>&1 || { echo "failed: $*"; tail -n 40 "$D/log"; exit 1; }; }
step autoreconf autoreconf -fi
step configure ./configure --prefix="$D/inst"
step make make
echo "== run"; ./hello 42
echo "== check"; make check 2>&1 | grep -E "^(PASS|FAIL|XFAIL|XPASS|ERROR|SKIP|# )"
grep -h "^[A-Z]*:" tests/*.trs | sort
step install make install
LD_LIBRARY_PATH="$D/inst/lib" "$D/inst/bin/hello" 3; ls "$D/inst/lib" "$D/inst/include"
step distcheck make distcheck
echo "== dist"; tar tzf hello-1.0.tar.gz | sort
echo "== generated"; md5sum configure Makefile.in config.h.in | sed "s/  / /"
echo "== files"; find . -path ./autom4te.cache -prune -o -printf "%y %p\n" | LC_ALL=C sort
echo "== tmp"; ls -A "$TMPDIR" | wc -l
'

# The same, checked on its own under the prefix (the comparison above also passes when
# both sides fail alike).
P=/hilbert/differ/d1
like "$(hl readelf -d $P/pkg/.libs/hello 2>&1)" "NEEDED.*libgreet.so.0" "the program is linked against the shared libgreet.so.0"
out=$(hl bash -c "cd $P/pkg && make check" 2>&1); rc=$?
is "$rc" "0" "make check passes under the prefix with the shared library"
like "$out" $'PASS: tests/greets.sh\n.*XFAIL: tests/counts.sh' "make check: the wrapper-run program passes, the XFAIL fails as expected"
is "$(hl bash -c "cd $P/pkg && ./hello 5" 2>&1)" "hello from a libtool library, 5" "libtool's wrapper script runs the uninstalled program (LD_LIBRARY_PATH=.../.libs)"
like "$(hl ls $P/inst/lib 2>&1 | tr '\n' ' ')" "libgreet.so libgreet.so.0 libgreet.so.0.0.0" "the shared library is installed under the prefix"
is "$(hl env LD_LIBRARY_PATH=$P/inst/lib $P/inst/bin/hello 9 2>&1)" "hello from a libtool library, 9" "the installed program runs with LD_LIBRARY_PATH=<prefix>/lib"

done_testing
