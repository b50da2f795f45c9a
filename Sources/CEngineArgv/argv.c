/* The Swift runtime's argv entry points, defined in the engine so that the linker does not
 * take CommandLine.cpp.o from the static Swift runtime: that object's static initializer reads
 * and parses /proc/self/maps (to find argv beside environ) in every process that loads the
 * engine, tens of microseconds of each short process's first touch. glibc passes argc/argv to the
 * initializers of a dlopen()ed library, which is all this needs. Nothing in the engine reads
 * CommandLine; these keep it correct if something ever does. The CLI (an executable) does
 * not link this target. */
#include "engine_argv.h"

static char *empty_argv[] = {0};
static char **saved_argv = empty_argv;
static int saved_argc;

__attribute__((constructor)) static void hl_grab_argv(int argc, char **argv, char **envp) {
    (void)envp;
    if (argv && argc > 0) {
        saved_argv = argv;
        saved_argc = argc;
    }
}

char **_swift_stdlib_getUnsafeArgvArgc(int *out_argc) {
    *out_argc = saved_argc;
    return saved_argv;
}

void _swift_stdlib_overrideUnsafeArgvArgc(char **argv, int argc) {
    saved_argv = argv;
    saved_argc = argc;
}
