/* Credential changes: counted, so the engine re-reads uid/gid/groups only after the
 * program changed them (permission checks use the credentials of the moment of the call,
 * and reading them costs three system calls per operation otherwise). */
#include "shim.h"
#include <grp.h>

static unsigned long generation = 1;

unsigned long sh_cred_generation(void) { return __atomic_load_n(&generation, __ATOMIC_ACQUIRE); }

static int changed(int rc) {
    if (rc == 0 && !sh_in_vfork()) __atomic_add_fetch(&generation, 1, __ATOMIC_ACQ_REL);
    return rc;
}

#define CRED1(name, T) \
    EXPORT int name(T a) { return changed(REAL(name)(a)); }
#define CRED2(name, T) \
    EXPORT int name(T a, T b) { return changed(REAL(name)(a, b)); }
#define CRED3(name, T) \
    EXPORT int name(T a, T b, T c) { return changed(REAL(name)(a, b, c)); }

CRED1(setuid, uid_t)
CRED1(seteuid, uid_t)
CRED1(setgid, gid_t)
CRED1(setegid, gid_t)
CRED2(setreuid, uid_t)
CRED2(setregid, gid_t)
CRED3(setresuid, uid_t)
CRED3(setresgid, gid_t)

EXPORT int setgroups(size_t n, const gid_t *list) { return changed(REAL(setgroups)(n, list)); }
EXPORT int initgroups(const char *user, gid_t group) { return changed(REAL(initgroups)(user, group)); }

/* setfsuid/setfsgid return the previous id, not a status: count every call. */
EXPORT int setfsuid(uid_t u) { int r = REAL(setfsuid)(u); changed(0); return r; }
EXPORT int setfsgid(gid_t g) { int r = REAL(setfsgid)(g); changed(0); return r; }
