/*
 * sign_x86: the SHA-256 block function with the x86 SHA extensions
 * (SHA-NI), chosen at run time by sign.c when the CPU has them. Compiles to
 * nothing on other targets; the portable code in sign.c is the reference.
 */
#include "sign_impl.h"

#if SIGN_HAVE_X86_SHA
#include <cpuid.h>
#include <immintrin.h>

int
sign_x86_sha_available(void)
{
	unsigned a, b, c, d, ecx1;

	if (!__get_cpuid(1, &a, &b, &ecx1, &d))
		return 0;
	/* Leaf 7, sub-leaf 0: EBX bit 29 is SHA. Leaf 1: ECX bit 9 SSSE3
	 * (pshufb, palignr), bit 19 SSE4.1 (pblendw). */
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return 0;
	return (b >> 29 & 1) && (ecx1 >> 9 & 1) && (ecx1 >> 19 & 1);
}

/* Four rounds: the message words m plus the four round constants at k,
 * two rounds per sha256rnds2 on the ABEF/CDGH halves of the state. */
#define SIGN_X86_ROUNDS(m, k) do { \
	__m128i w_ = _mm_add_epi32((m), \
	    _mm_loadu_si128((const __m128i *)(const void *)(k))); \
	s1 = _mm_sha256rnds2_epu32(s1, s0, w_); \
	s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(w_, 0x0e)); \
} while (0)

/* The next four schedule words (FIPS 180-4 §6.2.2 step 1) into a, from the
 * sixteen before them in a, b, c, d (oldest first): msg1 adds sigma0,
 * the words seven back come from c:d, msg2 adds sigma1. */
#define SIGN_X86_SCHEDULE(a, b, c, d) \
	(a) = _mm_sha256msg2_epu32(_mm_add_epi32( \
	    _mm_sha256msg1_epu32((a), (b)), _mm_alignr_epi8((d), (c), 4)), (d))

__attribute__((target("sha,sse4.1"))) void
sign_x86_sha256_blocks(uint32_t h[8], const uint8_t *p, size_t n)
{
	/* pshufb mask turning each big-endian message word little-endian. */
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL,
	    0x0405060700010203LL);
	__m128i s0, s1, t, m0, m1, m2, m3, save0, save1;
	int i;

	/* The instructions want the state as ABEF and CDGH. */
	t = _mm_loadu_si128((const __m128i *)(void *)&h[0]);
	s1 = _mm_loadu_si128((const __m128i *)(void *)&h[4]);
	t = _mm_shuffle_epi32(t, 0xb1);
	s1 = _mm_shuffle_epi32(s1, 0x1b);
	s0 = _mm_alignr_epi8(t, s1, 8);
	s1 = _mm_blend_epi16(s1, t, 0xf0);
	for (; n > 0; n--, p += 64) {
		save0 = s0;
		save1 = s1;
		m0 = _mm_shuffle_epi8(_mm_loadu_si128(
		    (const __m128i *)(const void *)p), bswap);
		m1 = _mm_shuffle_epi8(_mm_loadu_si128(
		    (const __m128i *)(const void *)(p + 16)), bswap);
		m2 = _mm_shuffle_epi8(_mm_loadu_si128(
		    (const __m128i *)(const void *)(p + 32)), bswap);
		m3 = _mm_shuffle_epi8(_mm_loadu_si128(
		    (const __m128i *)(const void *)(p + 48)), bswap);
		SIGN_X86_ROUNDS(m0, sign_sha256_k);
		SIGN_X86_ROUNDS(m1, sign_sha256_k + 4);
		SIGN_X86_ROUNDS(m2, sign_sha256_k + 8);
		SIGN_X86_ROUNDS(m3, sign_sha256_k + 12);
		for (i = 16; i < 64; i += 16) {
			SIGN_X86_SCHEDULE(m0, m1, m2, m3);
			SIGN_X86_ROUNDS(m0, sign_sha256_k + i);
			SIGN_X86_SCHEDULE(m1, m2, m3, m0);
			SIGN_X86_ROUNDS(m1, sign_sha256_k + i + 4);
			SIGN_X86_SCHEDULE(m2, m3, m0, m1);
			SIGN_X86_ROUNDS(m2, sign_sha256_k + i + 8);
			SIGN_X86_SCHEDULE(m3, m0, m1, m2);
			SIGN_X86_ROUNDS(m3, sign_sha256_k + i + 12);
		}
		s0 = _mm_add_epi32(s0, save0);
		s1 = _mm_add_epi32(s1, save1);
	}
	/* Back from ABEF/CDGH to A..H. The message words stay in registers
	 * (no schedule array in memory to wipe, unlike the portable code). */
	t = _mm_shuffle_epi32(s0, 0x1b);
	s1 = _mm_shuffle_epi32(s1, 0xb1);
	s0 = _mm_blend_epi16(t, s1, 0xf0);
	s1 = _mm_alignr_epi8(s1, t, 8);
	_mm_storeu_si128((__m128i *)(void *)&h[0], s0);
	_mm_storeu_si128((__m128i *)(void *)&h[4], s1);
}

#else
/* ISO C wants at least one declaration in a translation unit. */
typedef int sign_x86_none;
#endif
