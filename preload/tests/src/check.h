/* The assertion of the shim's C test programs: prints one FAIL line (test name, line,
 * message, errno) and marks the run failed; the program decides its exit status from
 * `failed`. Each program defines `name` (the current test) and `failed`. */
#ifndef HL_TEST_CHECK_H
#define HL_TEST_CHECK_H
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define CHECK(cond, ...)                                                               \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            printf("FAIL %s line %d: ", name, __LINE__);                               \
            printf(__VA_ARGS__);                                                       \
            printf(" (errno %d %s)\n", errno, strerror(errno));                        \
            failed = 1;                                                                \
        }                                                                              \
    } while (0)

#endif
