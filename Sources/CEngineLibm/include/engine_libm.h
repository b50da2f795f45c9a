#ifndef HILBERT_ENGINE_LIBM_H
#define HILBERT_ENGINE_LIBM_H
/* See libm.c: the engine's math functions, resolved from libm on first use. */
#endif
