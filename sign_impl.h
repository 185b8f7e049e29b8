/*
 * sign_impl: what sign.c shares with the SHA-256 block function written for
 * one CPU (sign_x86.c), and nothing else includes.
 */
#ifndef HOOKD_SIGN_IMPL_H
#define HOOKD_SIGN_IMPL_H

#include <stddef.h>
#include <stdint.h>

/* The 64 round constants of SHA-256 (FIPS 180-4 §4.2.2), defined once in
 * sign.c for every implementation. */
extern const uint32_t sign_sha256_k[64];

/* The SHA extensions of x86 (SHA-NI) exist only on x86 and only gcc and
 * clang take the target attribute they need; elsewhere sign_x86.c compiles
 * to nothing and the portable code is all there is. */
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define SIGN_HAVE_X86_SHA 1

/* 1 when this CPU has the SHA extensions, SSSE3 and SSE4.1 (cpuid leaves 1
 * and 7), 0 otherwise. Costs a cpuid, which traps to the hypervisor on a
 * virtual machine: call it once and keep the answer. */
int sign_x86_sha_available(void);

/* Process n whole 64-byte blocks at p into the state h (FIPS 180-4 §6.2.2)
 * with the SHA-NI instructions; only when sign_x86_sha_available() said 1.
 * Cannot fail. */
void sign_x86_sha256_blocks(uint32_t h[8], const uint8_t *p, size_t n);
#else
#define SIGN_HAVE_X86_SHA 0
#endif

#endif
