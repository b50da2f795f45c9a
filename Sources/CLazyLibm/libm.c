/* The math functions the static parts of the engine and the CLI reference (the Swift runtime
 * and SQLite's SQL math functions), defined here so that neither needs libm.so: loading it
 * (with its ifunc resolvers) cost every process's first touch ~0.1-0.2 ms (measured), while
 * a process almost never calls one. Each forwards to libm, dlopen()ed on the first call;
 * ceil, which Swift's hash tables call in every process, is computed here. `make` checks
 * that neither binary needs libm: a new math function they use must be added below. */
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

static void *libm_symbol(const char *name) {
    static void *handle;
    void *h = __atomic_load_n(&handle, __ATOMIC_ACQUIRE);
    if (!h) {
        h = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
        if (h) __atomic_store_n(&handle, h, __ATOMIC_RELEASE);
    }
    void *f = h ? dlsym(h, name) : NULL;
    if (!f) { /* a math function has no way to report this */
        static const char msg[] = "hilbert: the engine cannot load libm.so.6 (";
        ssize_t r = write(2, msg, sizeof msg - 1);
        r = write(2, name, strlen(name));
        r = write(2, ")\n", 2);
        (void)r;
        abort();
    }
    return f;
}

#define FORWARD(ret, name, params, args)                                          \
    ret name params {                                                             \
        static ret (*fn) params;                                                  \
        ret (*f) params = __atomic_load_n(&fn, __ATOMIC_ACQUIRE);                 \
        if (!f) {                                                                 \
            f = (ret (*) params)libm_symbol(#name);                               \
            __atomic_store_n(&fn, f, __ATOMIC_RELEASE);                           \
        }                                                                         \
        return f args;                                                            \
    }
#define D1(n) FORWARD(double, n, (double x), (x))
#define F1(n) FORWARD(float, n, (float x), (x))
#define L1(n) FORWARD(long double, n, (long double x), (x))
#define D2(n) FORWARD(double, n, (double x, double y), (x, y))
#define F2(n) FORWARD(float, n, (float x, float y), (x, y))
#define L2(n) FORWARD(long double, n, (long double x, long double y), (x, y))

D1(acos) D1(acosh) D1(asin) D1(asinh) D1(atan) D1(atanh) D1(cos) D1(cosh) D1(exp) D1(exp2)
D1(log) D1(log10) D1(log2) D1(sin) D1(sinh) D1(sqrt) D1(tan) D1(tanh) D1(floor)
D1(nearbyint) D1(rint) D1(round) D1(trunc)
F1(acosf) F1(acoshf) F1(asinf) F1(asinhf) F1(atanf) F1(atanhf) F1(cbrtf) F1(ceilf) F1(cosf)
F1(coshf) F1(erfcf) F1(erff) F1(exp2f) F1(expf) F1(expm1f) F1(floorf) F1(log10f) F1(log1pf)
F1(log2f) F1(logbf) F1(logf) F1(nearbyintf) F1(rintf) F1(roundf) F1(sinf) F1(sinhf) F1(sqrtf)
F1(tanf) F1(tanhf) F1(tgammaf) F1(truncf)
L1(acoshl) L1(acosl) L1(asinhl) L1(asinl) L1(atanhl) L1(atanl) L1(cbrtl) L1(ceill) L1(coshl)
L1(cosl) L1(erfcl) L1(erfl) L1(exp2l) L1(expl) L1(expm1l) L1(floorl) L1(log10l) L1(log1pl)
L1(log2l) L1(logbl) L1(logl) L1(nearbyintl) L1(rintl) L1(roundl) L1(sinhl) L1(sinl)
L1(sqrtl) L1(tanhl) L1(tanl) L1(tgammal) L1(truncl)
D2(atan2) D2(fmod) D2(pow) D2(remainder)
F2(atan2f) F2(fdimf) F2(fmodf) F2(hypotf) F2(nextafterf) F2(powf) F2(remainderf)
L2(atan2l) L2(fdiml) L2(fmaxl) L2(fminl) L2(fmodl) L2(hypotl) L2(nextafterl) L2(powl)
L2(remainderl)
FORWARD(double, fma, (double x, double y, double z), (x, y, z))
FORWARD(float, fmaf, (float x, float y, float z), (x, y, z))
FORWARD(long double, fmal, (long double x, long double y, long double z), (x, y, z))
FORWARD(double, remquo, (double x, double y, int *q), (x, y, q))
FORWARD(float, remquof, (float x, float y, int *q), (x, y, q))
FORWARD(long double, remquol, (long double x, long double y, int *q), (x, y, q))
FORWARD(double, lgamma_r, (double x, int *s), (x, s))
FORWARD(float, lgammaf_r, (float x, int *s), (x, s))
FORWARD(long double, lgammal_r, (long double x, int *s), (x, s))
FORWARD(double, jn, (int n, double x), (n, x))
FORWARD(double, yn, (int n, double x), (n, x))
FORWARD(float, nanf, (const char *tag), (tag))
FORWARD(long double, nanl, (const char *tag), (tag))

/* Exact for every double: beyond 2^52 (and for inf and NaN) x is already integral; below,
 * truncation through int64 is exact, and copysign keeps ceil(-0.5) == -0.0. */
double ceil(double x) {
    if (!(__builtin_fabs(x) < 4503599627370496.0)) return x;
    double t = (double)(int64_t)x;
    if (t < x) t += 1.0;
    return __builtin_copysign(t, x);
}
