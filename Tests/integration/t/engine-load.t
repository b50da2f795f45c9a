#!/usr/bin/env bash
# What a process pays for loading the engine (README, "Per-process cost"): the engine brings
# no libm (its math functions forward to libm on first use, Sources/CLazyLibm/libm.c), no
# RUNPATH and no CommandLine.cpp. The forwarding functions agree with libm bit for bit.
. "$(dirname "$0")/../lib.sh"
hl_setup
need cc

hl sh -c 'echo data > /hilbert/f'
maps=$(hl cat /hilbert/f /proc/self/maps 2>&1)
like "$maps" "libHilbertEngine" "cat of a prefix file loaded the engine"
is "$(printf '%s\n' "$maps" | grep -c 'libm\.so')" "0" "... and not libm"
is "$(readelf -d "$HL_ENGINE" | grep -cE 'RUNPATH|RPATH|NEEDED.*libm')" "0" "the engine has no RUNPATH and needs no libm"
is "$(grep -c /proc/self/maps "$HL_ENGINE")" "0" "the engine does not carry the Swift runtime's /proc/self/maps reader"

cat > "$HL_TMP/libm-test.c" <<'C'
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
static int failures;
static void *m;
static uint64_t bits(double x) { uint64_t b; memcpy(&b, &x, 8); return b; }
static void same(const char *what, double ours, double theirs) {
    if (bits(ours) != bits(theirs) && !(isnan(ours) && isnan(theirs))) {
        if (failures++ < 5) printf("%s: ours %a libm %a\n", what, ours, theirs);
    }
}
int main(void) {
    m = dlopen("libm.so.6", RTLD_NOW);
    double (*lceil)(double) = (double (*)(double))dlsym(m, "ceil");
    double (*lpow)(double, double) = (double (*)(double, double))dlsym(m, "pow");
    float (*lfmodf)(float, float) = (float (*)(float, float))dlsym(m, "fmodf");
    double (*llgamma_r)(double, int *) = (double (*)(double, int *))dlsym(m, "lgamma_r");
    double (*lremquo)(double, double, int *) = (double (*)(double, double, int *))dlsym(m, "remquo");
    long double (*lpowl)(long double, long double) = (long double (*)(long double, long double))dlsym(m, "powl");
    double (*ljn)(int, double) = (double (*)(int, double))dlsym(m, "jn");
    double special[] = {0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 1.5, -1.5, 0x1p52, -0x1p52, 0x1p52 + 1,
                        0x1p52 - 0.5, -(0x1p52 - 0.5), 0x1p53, 1e300, -1e300, 0x1p-1074, -0x1p-1074,
                        INFINITY, -INFINITY, NAN, 4503599627370495.5, -4503599627370495.5};
    for (size_t i = 0; i < sizeof special / sizeof *special; i++) same("ceil", ceil(special[i]), lceil(special[i]));
    uint64_t s = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < 2000000; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        double x; memcpy(&x, &s, 8);
        same("ceil", ceil(x), lceil(x));
        double y = (double)(int64_t)(s >> 11) / 0x1p20 - 0x1p31;
        same("ceil", ceil(y), lceil(y));
    }
    same("pow", pow(1.7, 3.3), lpow(1.7, 3.3));
    same("fmodf", fmodf(7.5f, 2.25f), lfmodf(7.5f, 2.25f));
    int s1 = 0, s2 = 0, q1 = 0, q2 = 0;
    same("lgamma_r", lgamma_r(-2.5, &s1), llgamma_r(-2.5, &s2));
    if (s1 != s2) { failures++; printf("lgamma_r sign %d %d\n", s1, s2); }
    same("remquo", remquo(29.0, 3.0, &q1), lremquo(29.0, 3.0, &q2));
    if (q1 != q2) { failures++; printf("remquo quotient %d %d\n", q1, q2); }
    if (powl(1.5L, 40.0L) != lpowl(1.5L, 40.0L)) { failures++; printf("powl differs\n"); }
    same("jn", jn(3, 2.5), ljn(3, 2.5));
    printf("%d differences\n", failures);
    return failures != 0;
}
C
if cc -O2 -fno-builtin -o "$HL_TMP/libm-test" "$HL_TMP/libm-test.c" "$HL_REPO/Sources/CLazyLibm/libm.c" -ldl 2>"$HL_TMP/cc.err"; then
    is "$("$HL_TMP/libm-test" 2>&1)" "0 differences" "the engine's ceil and forwarded math functions agree with libm bit for bit"
else
    nok "the libm forwarding test compiles" "$(cat "$HL_TMP/cc.err")"
fi
done_testing
