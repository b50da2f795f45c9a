#!/usr/bin/env bash
# An autotools package built entirely inside the prefix, and natively for comparison (lib.sh:
# differ): a generated package (configure.ac, Makefile.am, a libtool library, a program and a
# `make check` test script) goes through autoreconf -i, ./configure, make, make check and
# make distcheck (which unpacks the tarball, builds it out of tree from a read-only source
# tree, installs, uninstalls and cleans), with TMPDIR under the prefix too. Compared: the
# program's output, the test results, the distribution's file list, the generated configure
# and Makefile.in, and the list of every file the build produced.
# The library is static (LT_INIT([disable-shared])): a program under the prefix linked to a
# shared library under the prefix does not start, because the dynamic loader searches
# DT_RUNPATH and LD_LIBRARY_PATH on the host (SEMANTICS.md, "What escapes the shim").
# timeout: 900
. "$(dirname "$0")/../lib.sh"
need autoreconf:autoconf automake:automake libtoolize:libtool gcc:gcc make:make
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
LT_INIT([disable-shared])
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
step autoreconf autoreconf -i
step configure ./configure --prefix="$D/inst"
step make make
echo "== run"; ./hello 42
echo "== check"; make check 2>&1 | grep -E "^(PASS|FAIL|XFAIL|XPASS|ERROR|SKIP|# )"
grep -h "^[A-Z]*:" tests/*.trs | sort
step install make install
"$D/inst/bin/hello" 3; ls "$D/inst/lib" "$D/inst/include"
step distcheck make distcheck
echo "== dist"; tar tzf hello-1.0.tar.gz | sort
echo "== generated"; md5sum configure Makefile.in config.h.in | sed "s/  / /"
echo "== files"; find . -path ./autom4te.cache -prune -o -printf "%y %p\n" | LC_ALL=C sort
echo "== tmp"; ls -A "$TMPDIR" | wc -l
'

skip "shared libtool libraries under the prefix: the dynamic loader looks for them on the host (SEMANTICS.md)"

done_testing
