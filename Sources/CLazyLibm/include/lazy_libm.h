#ifndef HILBERT_LAZY_LIBM_H
#define HILBERT_LAZY_LIBM_H
/* See libm.c: the math functions of the engine and the CLI, resolved from libm on first use. */
#endif
