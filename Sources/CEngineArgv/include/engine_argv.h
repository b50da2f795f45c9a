#ifndef HILBERT_ENGINE_ARGV_H
#define HILBERT_ENGINE_ARGV_H
/* See argv.c: replaces the Swift runtime's CommandLine.cpp in the engine only. */
char **_swift_stdlib_getUnsafeArgvArgc(int *out_argc);
void _swift_stdlib_overrideUnsafeArgvArgc(char **argv, int argc);
#endif
