/* The real-function table: resolved lazily (wrappers may run before our constructor). */
#include "shim.h"
#include <dlfcn.h>

__asm__(".symver dlsym,dlsym@GLIBC_2.2.5");
__asm__(".symver dlvsym,dlvsym@GLIBC_2.2.5");
/* (No .symver for dlopen here: the shim itself defines dlopen@GLIBC_2.2.5, see wrap_dl.c.) */
__asm__(".symver dladdr,dladdr@GLIBC_2.2.5");

sh_real_fns sh_r;

/* Symbols with several versions in glibc: ask for the current default first. */
static const char *const versioned[][2] = {
    {"realpath", "GLIBC_2.3"},     {"glob", "GLIBC_2.27"},         {"glob64", "GLIBC_2.27"},
    {"nftw", "GLIBC_2.3.3"},       {"nftw64", "GLIBC_2.3.3"},      {"posix_spawn", "GLIBC_2.15"},
    {"posix_spawnp", "GLIBC_2.15"}, {"dlopen", "GLIBC_2.34"},      {"dlmopen", "GLIBC_2.34"},
};

/* glibc < 2.33 exports no stat/lstat/fstat/fstatat/mknod: go through the __x* forms. */
static int fb_stat(const char *p, struct stat *b) { return REAL(__xstat)(1, p, b); }
static int fb_lstat(const char *p, struct stat *b) { return REAL(__lxstat)(1, p, b); }
static int fb_fstat(int fd, struct stat *b) { return REAL(__fxstat)(1, fd, b); }
static int fb_fstatat(int d, const char *p, struct stat *b, int f) { return REAL(__fxstatat)(1, d, p, b, f); }
static int fb_mknodat(int d, const char *p, mode_t m, dev_t dev) { return REAL(__xmknodat)(0, d, p, m, &dev); }
static int fb_mknod(const char *p, mode_t m, dev_t dev) { return REAL(__xmknod)(0, p, m, &dev); }
static void *const fallbacks[][2] = {
    {"stat", (void *)fb_stat},       {"lstat", (void *)fb_lstat},   {"fstat", (void *)fb_fstat},
    {"fstatat", (void *)fb_fstatat}, {"mknod", (void *)fb_mknod},   {"mknodat", (void *)fb_mknodat},
};

static int enosys(void) { errno = ENOSYS; return -1; }

void *sh_resolve(const char *name, void **slot) {
    int saved = errno;
    void *f = NULL;
    for (size_t i = 0; i < sizeof versioned / sizeof versioned[0]; i++)
        if (!strcmp(name, versioned[i][0])) f = dlvsym(RTLD_NEXT, name, versioned[i][1]);
    if (!f) f = dlsym(RTLD_NEXT, name);
    for (size_t i = 0; !f && i < sizeof fallbacks / sizeof fallbacks[0]; i++)
        if (!strcmp(name, (const char *)fallbacks[i][0])) f = fallbacks[i][1];
    /* A missing function (e.g. statx on old glibc) answers ENOSYS instead of crashing. */
    if (!f) f = (void *)enosys;
    __atomic_store_n(slot, f, __ATOMIC_RELEASE);
    errno = saved;
    return f;
}

/* The old versions of the multi-version functions (shim.h), for the wrappers exported under
 * the same old version. A libc without that version (not glibc on x86_64, where every one of
 * them exists since 2.17) gets the default one: there is no older ABI to keep. */
sh_real_old_fns sh_ro;
static const char *const old_versions[][3] = {
#define SH_OLD_ROW(field, name, ver, ret, params) {#field, name, ver},
    SH_REAL_OLD_LIST(SH_OLD_ROW)
#undef SH_OLD_ROW
};

void *sh_resolve_old(const char *field, void **slot) {
    int saved = errno;
    void *f = NULL;
    for (size_t i = 0; !f && i < sizeof old_versions / sizeof old_versions[0]; i++) {
        if (strcmp(field, old_versions[i][0])) continue;
        f = dlvsym(RTLD_NEXT, old_versions[i][1], old_versions[i][2]);
        if (!f) f = dlsym(RTLD_NEXT, old_versions[i][1]);
    }
    if (!f) f = (void *)enosys;
    __atomic_store_n(slot, f, __ATOMIC_RELEASE);
    errno = saved;
    return f;
}

void sh_fill_engine_table(hl_real_table *t) {
#define FILL(name, ret, params)                                                     \
    t->name = (__typeof__(t->name))dlsym(RTLD_NEXT, #name);
    HL_REAL_FUNCTIONS(FILL)
#undef FILL
    t->stat64 = (__typeof__(t->stat64))REAL(stat);
    t->lstat64 = (__typeof__(t->lstat64))REAL(lstat);
    t->fstat64 = (__typeof__(t->fstat64))REAL(fstat);
    t->fstatat64 = (__typeof__(t->fstatat64))REAL(fstatat);
}
