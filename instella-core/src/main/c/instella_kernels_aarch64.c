/*
 * Native kernels for Linux aarch64 (NEON): the same exported functions, arguments and results as the x86-64 source
 * (instella_kernels.c, whose comments describe the layouts), so NativeKernels drives both the same way. Only the
 * opt-in BF16 compute kernels (vdpbf16ps, AVX-512 BF16) have no aarch64 version.
 *
 * Two builds (see the native-kernels profiles in pom.xml; NativeKernels picks from /proc/cpuinfo "Features"):
 *   neondot  -march=armv8.2-a+dotprod   Q8_0/Q4_0 dot products with sdot (vdotq_s32), 16 int8 products per instruction
 *   neon     -march=armv8-a             the same with widening multiplies (smull) and pairwise adds
 * Both give the same exact int32 sums (dot4). What is here:
 *   decode     Q8_0, Q4_0, Q4_0_R8, Q8_0_R8 and BF16 matrix-vector products, attention over F32/F16 caches, the
 *              Q4_0_R8 and Q8_0_R8 repacks;
 *   prefill    the GEMM slab loops for panels of 8 (the Java GEMM at 4 float lanes, NEON's width) and 16 (8 lanes)
 *              and their packers; the int8 GEMM for Q8_0/Q4_0/Q4_0_R8/Q8_0_R8 (instella_int8_gemm: 4 activation rows
 *              × 8 weight rows per tile, weights in the R8 layouts, one row per int32 lane); the small-prompt BF16
 *              product (instella_bf16_small, 4 or 8 lanes: the Java kernels' width on aarch64, or 256 bits forced).
 * The prefill kernels are bit-identical to their Java twins (Gemm.slab, Int8Gemm.rows, SmallGemm.rows) and to the x86
 * builds: each output is the same chain of fused multiply-adds in the same order. Compiled with -ffp-contract=off: no
 * product here may be fused unless the Java twin fuses it too (vfmaq_f32 / fmaf where Java uses fma).
 *
 * Not tuned yet (next steps), nothing here has been timed on ARM hardware: the packers are plain C (the compiler
 * vectorises what it can); the GEMM tile is 6 × 8 or 6 × 16 (32 registers allow 8 × 12); attention is a direct port
 * of the AVX2 kernel at 4 lanes; the int8 GEMM's tile is 4 × 8 (one weight group; x86 AVX-512 does 4 × 16), the Q4_0
 * panel repack is byte copies, and the neon build's Q4_0 sums could stay in int16 longer (as the x86 AVX2 build does)
 * instead of widening every dot4; the int8 kernels could use i8mm (smmla, 2 × 8 by 8 × 2 per instruction) where the
 * CPU has it; the small-prompt tile is 4 × 4 at 4 lanes, 2 × 4 at 8.
 */
#include <arm_neon.h>
#include <math.h>
#include <string.h>
#include <stdint.h>

static inline float f16_to_f32(const uint8_t *p) {
    __fp16 h;
    memcpy(&h, p, 2);
    return (float) h;
}

/* Per int32 lane, acc + the sum of the 4 products of the matching bytes of a and b (signed × signed). */
static inline int32x4_t dot4(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, a, b);
#else
    int32x4_t lo = vpaddlq_s16(vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    int32x4_t hi = vpaddlq_s16(vmull_high_s8(a, b));
    return vaddq_s32(acc, vpaddq_s32(lo, hi));
#endif
}

/* The 32 values of a Q4_0 block as signed bytes (nibble − 8), in value order: low nibbles 0..15, high 16..31. */
static inline void q4_values(const uint8_t *qs, int8x16_t *lo, int8x16_t *hi) {
    uint8x16_t v = vld1q_u8(qs);
    const int8x16_t eight = vdupq_n_s8(8);
    *lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0F))), eight);
    *hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), eight);
}

/*
 * out[i*m + j] = W[j]·x_i (+ bias[j]) for rows [j0, j1) and tokens i < n of a Q4_0 matrix W [m, k], activations
 * quantized per block (xq, scales xd; xs, the block sums, is not needed: the −8 is applied to the nibbles).
 */
void instella_q4_0_rows(const uint8_t *w, int64_t k, int64_t m, int32_t j0, int32_t j1,
                        const int8_t *xq, const float *xd, const int32_t *xs, int32_t n,
                        const float *bias, float *out) {
    (void) xs;
    const int64_t blocks = k / 32, row_bytes = 18 * blocks;
    for (int32_t j = j0; j < j1; j++) {
        const uint8_t *row = w + j * row_bytes;
        for (int32_t i = 0; i < n; i++) {
            const int8_t *x = xq + i * k;
            const float *dx = xd + i * blocks;
            float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = acc0;
            int64_t b = 0;
            for (; b + 1 < blocks; b += 2) {
                const uint8_t *p0 = row + 18 * b, *p1 = p0 + 18;
                __builtin_prefetch(p0 + 512);
                int8x16_t l0, h0, l1, h1;
                q4_values(p0 + 2, &l0, &h0);
                q4_values(p1 + 2, &l1, &h1);
                int32x4_t s0 = dot4(dot4(vdupq_n_s32(0), l0, vld1q_s8(x + 32 * b)), h0, vld1q_s8(x + 32 * b + 16));
                int32x4_t s1 = dot4(dot4(vdupq_n_s32(0), l1, vld1q_s8(x + 32 * b + 32)), h1, vld1q_s8(x + 32 * b + 48));
                acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(s0), f16_to_f32(p0) * dx[b]);
                acc1 = vfmaq_n_f32(acc1, vcvtq_f32_s32(s1), f16_to_f32(p1) * dx[b + 1]);
            }
            for (; b < blocks; b++) {
                const uint8_t *p0 = row + 18 * b;
                int8x16_t l0, h0;
                q4_values(p0 + 2, &l0, &h0);
                int32x4_t s0 = dot4(dot4(vdupq_n_s32(0), l0, vld1q_s8(x + 32 * b)), h0, vld1q_s8(x + 32 * b + 16));
                acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(s0), f16_to_f32(p0) * dx[b]);
            }
            out[i * m + j] = vaddvq_f32(vaddq_f32(acc0, acc1)) + (bias ? bias[j] : 0.0f);
        }
    }
}

/* As instella_q4_0_rows for a Q8_0 matrix. */
void instella_q8_0_rows(const uint8_t *w, int64_t k, int64_t m, int32_t j0, int32_t j1,
                        const int8_t *xq, const float *xd, int32_t n,
                        const float *bias, float *out) {
    const int64_t blocks = k / 32, row_bytes = 34 * blocks;
    for (int32_t j = j0; j < j1; j++) {
        const uint8_t *row = w + j * row_bytes;
        for (int32_t i = 0; i < n; i++) {
            const int8_t *x = xq + i * k;
            const float *dx = xd + i * blocks;
            float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = acc0;
            int64_t b = 0;
            for (; b + 1 < blocks; b += 2) {
                const uint8_t *p0 = row + 34 * b, *p1 = p0 + 34;
                __builtin_prefetch(p0 + 512);
                const int8_t *q0 = (const int8_t *) p0 + 2, *q1 = (const int8_t *) p1 + 2;
                int32x4_t s0 = dot4(dot4(vdupq_n_s32(0), vld1q_s8(q0), vld1q_s8(x + 32 * b)), vld1q_s8(q0 + 16), vld1q_s8(x + 32 * b + 16));
                int32x4_t s1 = dot4(dot4(vdupq_n_s32(0), vld1q_s8(q1), vld1q_s8(x + 32 * b + 32)), vld1q_s8(q1 + 16), vld1q_s8(x + 32 * b + 48));
                acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(s0), f16_to_f32(p0) * dx[b]);
                acc1 = vfmaq_n_f32(acc1, vcvtq_f32_s32(s1), f16_to_f32(p1) * dx[b + 1]);
            }
            for (; b < blocks; b++) {
                const uint8_t *p0 = row + 34 * b;
                const int8_t *q0 = (const int8_t *) p0 + 2;
                int32x4_t s0 = dot4(dot4(vdupq_n_s32(0), vld1q_s8(q0), vld1q_s8(x + 32 * b)), vld1q_s8(q0 + 16), vld1q_s8(x + 32 * b + 16));
                acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(s0), f16_to_f32(p0) * dx[b]);
            }
            out[i * m + j] = vaddvq_f32(vaddq_f32(acc0, acc1)) + (bias ? bias[j] : 0.0f);
        }
    }
}

/*
 * Q4_0 rows interleaved by eight (Q4_0_R8), groups [g0, g1): per block 8 f16 scales, then 4 chunks of 32 bytes whose
 * 32-bit lane r holds 4 quant bytes of row r. With the 4 matching activations broadcast, one dot4 gives rows 0–3 (or
 * 4–7) each its partial sum in its own lane: no horizontal sums.
 */
void instella_q4_0_r8_rows(const uint8_t *w, int64_t k, int64_t m, int32_t g0, int32_t g1,
                           const int8_t *xq, const float *xd, const int32_t *xs, int32_t n,
                           const float *bias, float *out) {
    (void) xs;
    const int64_t blocks = k / 32, group_bytes = 144 * blocks;
    const uint8x16_t low = vdupq_n_u8(0x0F);
    const int8x16_t eight = vdupq_n_s8(8);
    for (int32_t g = g0; g < g1; g++) {
        for (int32_t i = 0; i < n; i++) {
            const uint8_t *p = w + g * group_bytes;
            const int8_t *x = xq + i * k;
            const float *dx = xd + i * blocks;
            float32x4_t acc03 = vdupq_n_f32(0.0f), acc47 = acc03;
            for (int64_t b = 0; b < blocks; b++, p += 144) {
                __builtin_prefetch(p + 1024);
                int32x4_t s03 = vdupq_n_s32(0), s47 = s03;
                const int8_t *xb = x + 32 * b;
                for (int c = 0; c < 4; c++) {
                    uint8x16_t v03 = vld1q_u8(p + 16 + 32 * c), v47 = vld1q_u8(p + 32 + 32 * c);
                    int32_t xl, xh;
                    memcpy(&xl, xb + 4 * c, 4);
                    memcpy(&xh, xb + 16 + 4 * c, 4);
                    int8x16_t bl = vreinterpretq_s8_s32(vdupq_n_s32(xl)), bh = vreinterpretq_s8_s32(vdupq_n_s32(xh));
                    s03 = dot4(s03, vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v03, low)), eight), bl);
                    s47 = dot4(s47, vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v47, low)), eight), bl);
                    s03 = dot4(s03, vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v03, 4)), eight), bh);
                    s47 = dot4(s47, vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v47, 4)), eight), bh);
                }
                float16x8_t d = vreinterpretq_f16_u8(vld1q_u8(p));
                float32x4_t d03 = vmulq_n_f32(vcvt_f32_f16(vget_low_f16(d)), dx[b]);
                float32x4_t d47 = vmulq_n_f32(vcvt_high_f32_f16(d), dx[b]);
                acc03 = vfmaq_f32(acc03, vcvtq_f32_s32(s03), d03);
                acc47 = vfmaq_f32(acc47, vcvtq_f32_s32(s47), d47);
            }
            if (bias) {
                acc03 = vaddq_f32(acc03, vld1q_f32(bias + 8 * g));
                acc47 = vaddq_f32(acc47, vld1q_f32(bias + 8 * g + 4));
            }
            vst1q_f32(out + i * m + 8 * g, acc03);
            vst1q_f32(out + i * m + 8 * g + 4, acc47);
        }
    }
}

/* Q4_0 [m, k] → Q4_0_R8 for row groups [g0, g1): the byte permutation of Quant.repackQ4_0R8. */
void instella_repack_q4_0_r8(const uint8_t *src, uint8_t *dst, int64_t k, int32_t g0, int32_t g1) {
    const int64_t blocks = k / 32;
    for (int64_t g = g0; g < g1; g++) {
        for (int64_t b = 0; b < blocks; b++) {
            uint8_t *o = dst + (g * blocks + b) * 144;
            for (int r = 0; r < 8; r++) {
                const uint8_t *in = src + ((g * 8 + r) * blocks + b) * 18;
                memcpy(o + 2 * r, in, 2);
                for (int c = 0; c < 4; c++) memcpy(o + 16 + 32 * c + 4 * r, in + 2 + 4 * c, 4);
            }
        }
    }
}

/* dot4 against the 4 activation bytes of 32-bit lane `lane` of x, broadcast (sdot's indexed form where it exists). */
#if defined(__ARM_FEATURE_DOTPROD)
#define DOT4_LANE(acc, w, x, lane) vdotq_laneq_s32(acc, w, x, lane)
#else
#define DOT4_LANE(acc, w, x, lane) dot4(acc, w, vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(x), lane)))
#endif

/*
 * One Q8_0_R8 block (p: 8 scales, then 8 chunks of 32 bytes, lane r of a chunk = 4 quant bytes of row r) against 32
 * activations xb: the exact int32 sums of rows 0–3 (*s03) and 4–7 (*s47). Two chains per half (even and odd chunks),
 * added at the end, so four dot products are in flight.
 */
static inline __attribute__((always_inline)) void q8_r8_block(const uint8_t *p, const int8_t *xb, int32x4_t *s03,
                                                              int32x4_t *s47) {
    const int8_t *q = (const int8_t *) p + 16;
    const int8x16_t x0 = vld1q_s8(xb), x1 = vld1q_s8(xb + 16);
    const int32x4_t z = vdupq_n_s32(0);
    int32x4_t e03 = DOT4_LANE(z, vld1q_s8(q), x0, 0), e47 = DOT4_LANE(z, vld1q_s8(q + 16), x0, 0);
    int32x4_t o03 = DOT4_LANE(z, vld1q_s8(q + 32), x0, 1), o47 = DOT4_LANE(z, vld1q_s8(q + 48), x0, 1);
    e03 = DOT4_LANE(e03, vld1q_s8(q + 64), x0, 2);
    e47 = DOT4_LANE(e47, vld1q_s8(q + 80), x0, 2);
    o03 = DOT4_LANE(o03, vld1q_s8(q + 96), x0, 3);
    o47 = DOT4_LANE(o47, vld1q_s8(q + 112), x0, 3);
    e03 = DOT4_LANE(e03, vld1q_s8(q + 128), x1, 0);
    e47 = DOT4_LANE(e47, vld1q_s8(q + 144), x1, 0);
    o03 = DOT4_LANE(o03, vld1q_s8(q + 160), x1, 1);
    o47 = DOT4_LANE(o47, vld1q_s8(q + 176), x1, 1);
    e03 = DOT4_LANE(e03, vld1q_s8(q + 192), x1, 2);
    e47 = DOT4_LANE(e47, vld1q_s8(q + 208), x1, 2);
    o03 = DOT4_LANE(o03, vld1q_s8(q + 224), x1, 3);
    o47 = DOT4_LANE(o47, vld1q_s8(q + 240), x1, 3);
    *s03 = vaddq_s32(e03, o03);
    *s47 = vaddq_s32(e47, o47);
}

/*
 * Q8_0 rows interleaved by eight (Q8_0_R8), groups [g0, g1): per block (272 bytes) 8 f16 scales, then 8 chunks of 32
 * bytes whose 32-bit lane r holds quant bytes 4c..4c+3 of row r (chunk c): the int8 GEMM's Q8_0 panel layout, kept in
 * memory. As instella_q4_0_r8_rows: one dot4 per chunk and half gives rows 0–3 (4–7) their partial sums, one row per
 * lane; per block acc = fma((float) isum, d_w · d_x, acc), two blocks per step into separate accumulators.
 */
void instella_q8_0_r8_rows(const uint8_t *w, int64_t k, int64_t m, int32_t g0, int32_t g1,
                           const int8_t *xq, const float *xd, int32_t n, const float *bias, float *out) {
    const int64_t blocks = k / 32, group_bytes = 272 * blocks;
    for (int32_t g = g0; g < g1; g++) {
        for (int32_t i = 0; i < n; i++) {
            const uint8_t *p = w + g * group_bytes;
            const int8_t *x = xq + i * k;
            const float *dx = xd + i * blocks;
            float32x4_t a03 = vdupq_n_f32(0.0f), a47 = a03, b03 = a03, b47 = a03;
            int64_t b = 0;
            for (; b + 1 < blocks; b += 2, p += 544) {
                __builtin_prefetch(p + 1088);
                __builtin_prefetch(p + 1088 + 256);
                int32x4_t s03, s47, t03, t47;
                q8_r8_block(p, x + 32 * b, &s03, &s47);
                q8_r8_block(p + 272, x + 32 * b + 32, &t03, &t47);
                float16x8_t d = vreinterpretq_f16_u8(vld1q_u8(p)), e = vreinterpretq_f16_u8(vld1q_u8(p + 272));
                a03 = vfmaq_f32(a03, vcvtq_f32_s32(s03), vmulq_n_f32(vcvt_f32_f16(vget_low_f16(d)), dx[b]));
                a47 = vfmaq_f32(a47, vcvtq_f32_s32(s47), vmulq_n_f32(vcvt_high_f32_f16(d), dx[b]));
                b03 = vfmaq_f32(b03, vcvtq_f32_s32(t03), vmulq_n_f32(vcvt_f32_f16(vget_low_f16(e)), dx[b + 1]));
                b47 = vfmaq_f32(b47, vcvtq_f32_s32(t47), vmulq_n_f32(vcvt_high_f32_f16(e), dx[b + 1]));
            }
            if (b < blocks) {
                int32x4_t s03, s47;
                q8_r8_block(p, x + 32 * b, &s03, &s47);
                float16x8_t d = vreinterpretq_f16_u8(vld1q_u8(p));
                a03 = vfmaq_f32(a03, vcvtq_f32_s32(s03), vmulq_n_f32(vcvt_f32_f16(vget_low_f16(d)), dx[b]));
                a47 = vfmaq_f32(a47, vcvtq_f32_s32(s47), vmulq_n_f32(vcvt_high_f32_f16(d), dx[b]));
            }
            a03 = vaddq_f32(a03, b03);
            a47 = vaddq_f32(a47, b47);
            if (bias) {
                a03 = vaddq_f32(a03, vld1q_f32(bias + 8 * g));
                a47 = vaddq_f32(a47, vld1q_f32(bias + 8 * g + 4));
            }
            vst1q_f32(out + i * m + 8 * g, a03);
            vst1q_f32(out + i * m + 8 * g + 4, a47);
        }
    }
}

static void i8_panel_q8(const uint8_t *w, int64_t k, int64_t m, int64_t row0, uint8_t *dst);

/*
 * Q8_0 [m, k] → Q8_0_R8 for row groups [g0, g1): a byte permutation (Quant's Java reference), group g's blocks at
 * dst + g · 272 · blocks; the int8 GEMM's per-call Q8_0 panel transpose, once.
 */
void instella_repack_q8_0_r8(const uint8_t *src, uint8_t *dst, int64_t k, int32_t g0, int32_t g1) {
    const int64_t blocks = k / 32;
    for (int64_t g = g0; g < g1; g++) i8_panel_q8(src, k, 8 * (int64_t) g1, 8 * g, dst + g * 272 * blocks);
}

/*
 * out[j] = W[j]·x (+ bias[j]) for rows [j0, j1) of a BF16 matrix W [m, k], k a multiple of 32, x split as the
 * Java side splits it for the native kernel (Gemv.splitEvenOdd with 8 lanes): per 16 values the 8 even ones, then
 * the 8 odd ones. A 32-bit lane holds an even weight (low half: shift up) and an odd one (high half: mask).
 */
void instella_bf16_rows(const uint16_t *w, int64_t k, int32_t j0, int32_t j1, const float *xs, const float *bias,
                        float *out) {
    const uint32x4_t high = vdupq_n_u32(0xFFFF0000u);
    for (int32_t j = j0; j < j1; j++) {
        const uint32_t *r = (const uint32_t *) (w + (int64_t) j * k);
        float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t c = 0; c < k; c += 16) {
            uint32x4_t w0 = vld1q_u32(r + c / 2), w1 = vld1q_u32(r + c / 2 + 4);
            a0 = vfmaq_f32(a0, vreinterpretq_f32_u32(vshlq_n_u32(w0, 16)), vld1q_f32(xs + c));
            a1 = vfmaq_f32(a1, vreinterpretq_f32_u32(vshlq_n_u32(w1, 16)), vld1q_f32(xs + c + 4));
            a2 = vfmaq_f32(a2, vreinterpretq_f32_u32(vandq_u32(w0, high)), vld1q_f32(xs + c + 8));
            a3 = vfmaq_f32(a3, vreinterpretq_f32_u32(vandq_u32(w1, high)), vld1q_f32(xs + c + 12));
        }
        out[j] = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3))) + (bias ? bias[j] : 0.0f);
    }
}

/* e^x for 4 lanes: the Cephes expf of VectorMath.exp and the x86 exp8, inputs clamped to [−87.3, 88]. */
static inline float32x4_t exp4(float32x4_t x) {
    x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-87.33654f)), vdupq_n_f32(88.0f));
    const float32x4_t round = vdupq_n_f32(12582912.0f);
    float32x4_t n = vsubq_f32(vfmaq_f32(round, x, vdupq_n_f32(1.44269504088896341f)), round);
    float32x4_t r = vfmaq_f32(x, n, vdupq_n_f32(-0.693359375f));
    r = vfmaq_f32(r, n, vdupq_n_f32(2.12194440e-4f));
    float32x4_t p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), r, vdupq_n_f32(1.9875691500e-4f));
    p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
    p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
    float32x4_t y = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), p, vmulq_f32(r, r));
    int32x4_t bits = vshlq_n_s32(vaddq_s32(vcvtnq_s32_f32(n), vdupq_n_s32(127)), 23);
    return vmulq_f32(y, vreinterpretq_f32_s32(bits));
}

static inline float32x4_t load_f32(const float *p) { return vld1q_f32(p); }
static inline float32x4_t load_f16(const uint16_t *p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }

/* Softmax over scores[0, len) in place after the max shift; returns 1 / Σ. */
static float softmax_in_place(float *scores, int32_t len) {
    float m = -INFINITY;
    int32_t j = 0;
    if (len >= 4) {
        float32x4_t mx = vld1q_f32(scores);
        for (j = 4; j + 4 <= len; j += 4) mx = vmaxq_f32(mx, vld1q_f32(scores + j));
        m = vmaxvq_f32(mx);
    }
    for (; j < len; j++) m = scores[j] > m ? scores[j] : m;
    float32x4_t vm = vdupq_n_f32(m), sum = vdupq_n_f32(0.0f);
    for (j = 0; j + 4 <= len; j += 4) {
        float32x4_t e = exp4(vsubq_f32(vld1q_f32(scores + j), vm));
        vst1q_f32(scores + j, e);
        sum = vaddq_f32(sum, e);
    }
    float s = vaddvq_f32(sum);
    for (; j < len; j++) {
        float e = expf(scores[j] - m);
        scores[j] = e;
        s += e;
    }
    return 1.0f / s;
}

/*
 * Decode attention for one query row of one head over len contiguous key/value rows of hd values (F32 or F16, the
 * KV cache's head-major layout): out = softmax(scale · q·kⱼ) · V. hd is a multiple of 8; the value pass keeps up to
 * 64 outputs in 16 registers across all rows.
 */
#define ATTEND(NAME, T, LOAD)                                                                                 \
void NAME(const float *q, const T *k, const T *v, int32_t len, int32_t hd, float scale, float *scores,         \
          float *out) {                                                                                       \
    for (int32_t j = 0; j < len; j++) {                                                                       \
        const T *kr = k + (int64_t) j * hd;                                                                   \
        float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0;                                                          \
        for (int32_t d = 0; d < hd; d += 8) {                                                                 \
            a0 = vfmaq_f32(a0, vld1q_f32(q + d), LOAD(kr + d));                                               \
            a1 = vfmaq_f32(a1, vld1q_f32(q + d + 4), LOAD(kr + d + 4));                                       \
        }                                                                                                     \
        scores[j] = vaddvq_f32(vaddq_f32(a0, a1)) * scale;                                                    \
    }                                                                                                         \
    float32x4_t inv = vdupq_n_f32(softmax_in_place(scores, len));                                             \
    int32_t d0 = 0;                                                                                           \
    for (; d0 + 64 <= hd; d0 += 64) {                                                                         \
        float32x4_t o[16];                                                                                    \
        for (int i = 0; i < 16; i++) o[i] = vdupq_n_f32(0.0f);                                                \
        for (int32_t j = 0; j < len; j++) {                                                                   \
            const T *vr = v + (int64_t) j * hd + d0;                                                          \
            float p = scores[j];                                                                              \
            for (int i = 0; i < 16; i++) o[i] = vfmaq_n_f32(o[i], LOAD(vr + 4 * i), p);                       \
        }                                                                                                     \
        for (int i = 0; i < 16; i++) vst1q_f32(out + d0 + 4 * i, vmulq_f32(o[i], inv));                       \
    }                                                                                                         \
    for (; d0 < hd; d0 += 4) {                                                                                \
        float32x4_t o = vdupq_n_f32(0.0f);                                                                    \
        for (int32_t j = 0; j < len; j++) o = vfmaq_n_f32(o, LOAD(v + (int64_t) j * hd + d0), scores[j]);     \
        vst1q_f32(out + d0, vmulq_f32(o, inv));                                                               \
    }                                                                                                         \
}

ATTEND(instella_attend_f32, float, load_f32)
ATTEND(instella_attend_f16, uint16_t, load_f16)

/*
 * The GEMM's loops over one packed slab (Gemm.slab, see instella_gemm_slab in the x86 source): C[n × cols] (+)=
 * A[n × kc] · slab, panels of NR columns. 6-row tiles start from the bias (or zero, or C) and chain one FMA per depth
 * step; leftover rows chain from zero and add the bias (first slab) or C at the end, exactly as Gemm.micro6 and
 * Gemm.microRow do, so every output's rounding sequence is the Java one.
 */
#define GEMM_MR 6
#define GEMM_MC 48

#define GEMM_KERNELS(NR)                                                                                           \
static inline void gemm_micro6_##NR(const float *a, int64_t lda, const float *b, int32_t kc, float *c, int64_t ldc,  \
                                    int first, const float *bias) {                                                \
    float32x4_t acc[GEMM_MR][(NR) / 4];                                                                            \
    for (int i = 0; i < GEMM_MR; i++) {                                                                            \
        for (int v = 0; v < (NR) / 4; v++) {                                                                       \
            acc[i][v] = first ? (bias ? vld1q_f32(bias + 4 * v) : vdupq_n_f32(0.0f)) : vld1q_f32(c + i * ldc + 4 * v); \
        }                                                                                                          \
    }                                                                                                              \
    for (int32_t t = 0; t < kc; t++) {                                                                             \
        float32x4_t bv[(NR) / 4];                                                                                  \
        for (int v = 0; v < (NR) / 4; v++) bv[v] = vld1q_f32(b + (int64_t) t * (NR) + 4 * v);                      \
        for (int i = 0; i < GEMM_MR; i++) {                                                                        \
            float av = a[i * lda + t];                                                                             \
            for (int v = 0; v < (NR) / 4; v++) acc[i][v] = vfmaq_n_f32(acc[i][v], bv[v], av);                      \
        }                                                                                                          \
    }                                                                                                              \
    for (int i = 0; i < GEMM_MR; i++) {                                                                            \
        for (int v = 0; v < (NR) / 4; v++) vst1q_f32(c + i * ldc + 4 * v, acc[i][v]);                              \
    }                                                                                                              \
}                                                                                                                  \
                                                                                                                   \
static inline void gemm_micro_rows_##NR(const float *a, int64_t lda, int r, const float *b, int32_t kc, float *c,   \
                                        int64_t ldc, int32_t nr, int first, const float *bias) {                   \
    float32x4_t acc[GEMM_MR - 1][(NR) / 4];                                                                        \
    for (int i = 0; i < r; i++) for (int v = 0; v < (NR) / 4; v++) acc[i][v] = vdupq_n_f32(0.0f);                 \
    for (int32_t t = 0; t < kc; t++) {                                                                             \
        float32x4_t bv[(NR) / 4];                                                                                  \
        for (int v = 0; v < (NR) / 4; v++) bv[v] = vld1q_f32(b + (int64_t) t * (NR) + 4 * v);                      \
        for (int i = 0; i < r; i++) {                                                                              \
            float av = a[i * lda + t];                                                                             \
            for (int v = 0; v < (NR) / 4; v++) acc[i][v] = vfmaq_n_f32(acc[i][v], bv[v], av);                      \
        }                                                                                                          \
    }                                                                                                              \
    for (int i = 0; i < r; i++) {                                                                                  \
        float tile[NR];                                                                                            \
        for (int v = 0; v < (NR) / 4; v++) vst1q_f32(tile + 4 * v, acc[i][v]);                                     \
        float *ci = c + i * ldc;                                                                                   \
        for (int32_t q = 0; q < nr; q++) {                                                                         \
            if (first) ci[q] = tile[q] + (bias ? bias[q] : 0.0f);                                                  \
            else ci[q] += tile[q];                                                                                 \
        }                                                                                                          \
    }                                                                                                              \
}                                                                                                                  \
                                                                                                                   \
static void gemm_leftover_rows_##NR(const float *a, int64_t lda, int r, const float *b, int32_t kc, float *c,       \
                                    int64_t ldc, int32_t nr, int first, const float *bias) {                       \
    switch (r) {                                                                                                   \
        case 1: gemm_micro_rows_##NR(a, lda, 1, b, kc, c, ldc, nr, first, bias); break;                            \
        case 2: gemm_micro_rows_##NR(a, lda, 2, b, kc, c, ldc, nr, first, bias); break;                            \
        case 3: gemm_micro_rows_##NR(a, lda, 3, b, kc, c, ldc, nr, first, bias); break;                            \
        case 4: gemm_micro_rows_##NR(a, lda, 4, b, kc, c, ldc, nr, first, bias); break;                            \
        default: gemm_micro_rows_##NR(a, lda, 5, b, kc, c, ldc, nr, first, bias); break;                           \
    }                                                                                                              \
}                                                                                                                  \
                                                                                                                   \
static void gemm_slab_##NR(const float *a, int64_t lda, int32_t n, const float *slab, int32_t kc, int32_t cols,     \
                           float *c, int64_t ldc, int32_t first, const float *bias) {                              \
    int32_t panels = (cols + (NR) - 1) / (NR);                                                                     \
    float tile[GEMM_MR * (NR)];                                                                                    \
    memset(tile, 0, sizeof tile);                                                                                  \
    for (int32_t ic = 0; ic < n; ic += GEMM_MC) {                                                                  \
        int32_t mc = n - ic < GEMM_MC ? n - ic : GEMM_MC;                                                          \
        for (int32_t p = 0; p < panels; p++) {                                                                     \
            int32_t jp = p * (NR), nr = cols - jp < (NR) ? cols - jp : (NR);                                       \
            const float *b = slab + (int64_t) p * (NR) * kc;                                                       \
            const float *pb = bias ? bias + jp : NULL;                                                             \
            int32_t ir = 0;                                                                                        \
            for (; ir + GEMM_MR <= mc; ir += GEMM_MR) {                                                            \
                const float *ai = a + (int64_t) (ic + ir) * lda;                                                   \
                float *ci = c + (int64_t) (ic + ir) * ldc + jp;                                                    \
                if (nr == (NR)) {                                                                                  \
                    gemm_micro6_##NR(ai, lda, b, kc, ci, ldc, first, pb);                                          \
                } else {                                                                                           \
                    for (int r = 0; r < GEMM_MR; r++) {                                                            \
                        for (int32_t q = 0; q < nr; q++) tile[r * (NR) + q] = ci[r * ldc + q];                     \
                    }                                                                                              \
                    gemm_micro6_##NR(ai, lda, b, kc, tile, (NR), first, NULL);                                     \
                    for (int r = 0; r < GEMM_MR; r++) {                                                            \
                        for (int32_t q = 0; q < nr; q++) {                                                         \
                            ci[r * ldc + q] = tile[r * (NR) + q] + (first && pb ? pb[q] : 0.0f);                   \
                        }                                                                                          \
                    }                                                                                              \
                }                                                                                                  \
            }                                                                                                      \
            if (ir < mc) {                                                                                         \
                gemm_leftover_rows_##NR(a + (int64_t) (ic + ir) * lda, lda, mc - ir, b, kc,                        \
                                        c + (int64_t) (ic + ir) * ldc + jp, ldc, nr, first, pb);                   \
            }                                                                                                      \
        }                                                                                                          \
    }                                                                                                              \
}

GEMM_KERNELS(8)
GEMM_KERNELS(16)

/* Panels of 16 (the Java GEMM at 8 float lanes: -Dinstella.vector.bits=256). */
void instella_gemm_slab(const float *a, int64_t lda, int32_t n, const float *slab, int32_t kc, int32_t cols,
                        float *c, int64_t ldc, int32_t first, const float *bias) {
    gemm_slab_16(a, lda, n, slab, kc, cols, c, ldc, first, bias);
}

/* Panels of 8 (the Java GEMM at NEON's 4 float lanes, the default on aarch64). */
void instella_gemm_slab8(const float *a, int64_t lda, int32_t n, const float *slab, int32_t kc, int32_t cols,
                         float *c, int64_t ldc, int32_t first, const float *bias) {
    gemm_slab_8(a, lda, n, slab, kc, cols, c, ldc, first, bias);
}

/*
 * The packers (Gemm.pack): rows [j0, j0 + cols) × depth [pc, pc + kc) of W [m, k] into panels of nr rows (8 or 16),
 * slab[p][t][q] = W[j0 + p·nr + q][pc + t] widened to float (Q8_0: (float) q · d, Q4_0: (float) (nibble − 8) · d, one
 * rounding each, as Packing does), zero past the last row.
 */
static inline float bf16_value(const uint8_t *w, int64_t k, int64_t row, int64_t col) {
    uint16_t h;
    memcpy(&h, w + 2 * (row * k + col), 2);
    uint32_t bits = (uint32_t) h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline float quant_value(const uint8_t *w, int64_t k, int64_t row, int64_t col, int q4) {
    const int64_t block_bytes = q4 ? 18 : 34;
    const uint8_t *blk = w + row * (k / 32 * block_bytes) + (col / 32) * block_bytes;
    float d = f16_to_f32(blk);
    int i = (int) (col % 32);
    if (!q4) return (float) ((const int8_t *) blk)[2 + i] * d;
    int nib = i < 16 ? (blk[2 + i] & 0xF) : (blk[2 + i - 16] >> 4);
    return (float) (nib - 8) * d;
}

/* kind 0: BF16, 1: Q8_0, 2: Q4_0. Row by row (each row's values are contiguous), stored with stride nr. */
static void pack_slab(const uint8_t *w, int kind, int64_t k, int32_t j0, int32_t cols, int32_t pc, int32_t kc, float *slab,
                      int32_t nr) {
    int32_t panels = (cols + nr - 1) / nr;
    for (int32_t p = 0; p < panels; p++) {
        float *base = slab + (int64_t) p * nr * kc;
        for (int32_t q = 0; q < nr; q++) {
            int32_t r = p * nr + q;
            float *dst = base + q;
            if (r >= cols) {
                for (int32_t t = 0; t < kc; t++) dst[(int64_t) t * nr] = 0.0f;
            } else if (kind == 0) {
                for (int32_t t = 0; t < kc; t++) dst[(int64_t) t * nr] = bf16_value(w, k, j0 + r, pc + t);
            } else {
                for (int32_t t = 0; t < kc; t++) dst[(int64_t) t * nr] = quant_value(w, k, j0 + r, pc + t, kind == 2);
            }
        }
    }
}

void instella_pack_bf16(const uint16_t *w, int64_t k, int32_t j0, int32_t cols, int32_t pc, int32_t kc, float *slab,
                        int32_t nr) {
    pack_slab((const uint8_t *) w, 0, k, j0, cols, pc, kc, slab, nr);
}

void instella_pack_q8_0(const uint8_t *w, int64_t k, int32_t j0, int32_t cols, int32_t pc, int32_t kc, float *slab,
                        int32_t nr) {
    pack_slab(w, 1, k, j0, cols, pc, kc, slab, nr);
}

void instella_pack_q4_0(const uint8_t *w, int64_t k, int32_t j0, int32_t cols, int32_t pc, int32_t kc, float *slab,
                        int32_t nr) {
    pack_slab(w, 2, k, j0, cols, pc, kc, slab, nr);
}

/* ============================================================================================================
 * Int8 GEMM for Q8_0 / Q4_0 / Q4_0_R8 / Q8_0_R8 weights (quantized prefill, vision tower) and the small-prompt BF16 product
 * (a few rows, weights read in place): the aarch64 versions of the x86 source's instella_int8_gemm and
 * instella_bf16_small, same arguments. Java twins: Int8Gemm and SmallGemm, bit-identical: every output is one float
 * chain over the blocks (or lanes) in the same order.
 * ============================================================================================================
 *
 * Int8 GEMM. Activations quantized per block of 32 (Gemv.QuantizedActivations: int8 xq, scale xd; the block sums xs
 * are not needed here), n rows of k. Weights go in groups of 8 rows in the Q4_0_R8 layout (32-bit lane r of a 32-byte
 * chunk holds 4 quant bytes of row r: two NEON registers, rows 0–3 and 4–7), so one dot4 against 4 broadcast
 * activation bytes gives 4 rows' partial sums, one row per lane, and each weight chunk loaded serves I8_R activation
 * rows:
 *   Q4_0_R8  in place;
 *   Q4_0     8 rows repacked into that layout per call (the byte permutation of instella_repack_q4_0_r8);
 *   Q8_0_R8  in place: the Q8_0 layout below, made once by instella_repack_q8_0_r8;
 *   Q8_0     8 rows transposed per call into 8 chunks per block (lane r = bytes 4c..4c+3 of row r). sdot multiplies
 *            signed by signed, so no offset or correction is needed (the x86 vpdpbusd is unsigned × signed).
 * Q4_0 nibbles become signed (nibble − 8) before the dot products, so per block and output the exact int32 sum isum is
 * Σ w·x directly (Java: the same integer), and
 *   acc = fma((float) isum, d_w · d_x, acc)
 * in block order from 0, then out = acc (+ bias): Int8Gemm.rows' chain, whatever the vector width. The neon build
 * (no sdot) forms the same int32 sums with widening multiplies (dot4).
 */
#define I8_R 4
#define I8_Q4_GROUP_BLOCK 144 /* 8 f16 scales, 4 chunks of 32 bytes */
#define I8_Q8_GROUP_BLOCK 272 /* 8 f16 scales, 8 chunks of 32 bytes (the Java scratch is sized for x86's 304) */
#define I8_PANEL_BYTES (256 * 1024)
#define I8_MC 64

#define I8_ALWAYS_INLINE static inline __attribute__((always_inline))

/* a, b, c, d (4 × 4 32-bit lanes) transposed: t[j] lane i = row i lane j. */
static inline void transpose4(uint32x4_t a, uint32x4_t b, uint32x4_t c, uint32x4_t d, uint32x4_t t[4]) {
    uint64x2_t ab0 = vreinterpretq_u64_u32(vtrn1q_u32(a, b)), ab1 = vreinterpretq_u64_u32(vtrn2q_u32(a, b));
    uint64x2_t cd0 = vreinterpretq_u64_u32(vtrn1q_u32(c, d)), cd1 = vreinterpretq_u64_u32(vtrn2q_u32(c, d));
    t[0] = vreinterpretq_u32_u64(vtrn1q_u64(ab0, cd0));
    t[1] = vreinterpretq_u32_u64(vtrn1q_u64(ab1, cd1));
    t[2] = vreinterpretq_u32_u64(vtrn2q_u64(ab0, cd0));
    t[3] = vreinterpretq_u32_u64(vtrn2q_u64(ab1, cd1));
}

/* Q8_0 rows row0..row0+7 of W [m, k] (rows ≥ m as zeros) → the transposed panel described above. */
static void i8_panel_q8(const uint8_t *w, int64_t k, int64_t m, int64_t row0, uint8_t *dst) {
    const int64_t blocks = k / 32, row_bytes = 34 * blocks;
    for (int64_t b = 0; b < blocks; b++) {
        uint8_t *o = dst + b * I8_Q8_GROUP_BLOCK;
        uint32x4_t v[8][2];
        for (int r = 0; r < 8; r++) {
            if (row0 + r < m) {
                const uint8_t *p = w + (row0 + r) * row_bytes + 34 * b;
                memcpy(o + 2 * r, p, 2);
                v[r][0] = vreinterpretq_u32_u8(vld1q_u8(p + 2));
                v[r][1] = vreinterpretq_u32_u8(vld1q_u8(p + 18));
            } else {
                o[2 * r] = o[2 * r + 1] = 0;
                v[r][0] = v[r][1] = vdupq_n_u32(0);
            }
        }
        for (int half = 0; half < 2; half++) {     /* rows 0–3, then 4–7 */
            for (int h = 0; h < 2; h++) {          /* chunks 0–3, then 4–7 */
                uint32x4_t t[4];
                transpose4(v[4 * half][h], v[4 * half + 1][h], v[4 * half + 2][h], v[4 * half + 3][h], t);
                for (int c = 0; c < 4; c++) vst1q_u8(o + 16 + 32 * (4 * h + c) + 16 * half, vreinterpretq_u8_u32(t[c]));
            }
        }
    }
}

/* Q4_0 rows row0..row0+7 (rows ≥ m as zeros) → Q4_0_R8 blocks of one group. */
static void i8_panel_q4(const uint8_t *w, int64_t k, int64_t m, int64_t row0, uint8_t *dst) {
    const int64_t blocks = k / 32;
    for (int64_t b = 0; b < blocks; b++) {
        uint8_t *o = dst + b * I8_Q4_GROUP_BLOCK;
        for (int r = 0; r < 8; r++) {
            if (row0 + r < m) {
                const uint8_t *in = w + ((row0 + r) * blocks + b) * 18;
                memcpy(o + 2 * r, in, 2);
                for (int c = 0; c < 4; c++) memcpy(o + 16 + 32 * c + 4 * r, in + 2 + 4 * c, 4);
            } else {
                memset(o + 2 * r, 0, 2);
                for (int c = 0; c < 4; c++) memset(o + 16 + 32 * c + 4 * r, 0, 4);
            }
        }
    }
}

/* The 4 bytes at p in every 32-bit lane (ld1r; p is 4-byte aligned within the activations). */
static inline int8x16_t broadcast4(const int8_t *p) {
    return vreinterpretq_s8_s32(vld1q_dup_s32((const int32_t *) (const void *) p));
}

/*
 * acc[i][h] (h = 0: weight rows 0–3 of the group, 1: rows 4–7) = Σ_b fma(isum, d_w·d_x, ·) for R activation rows
 * (x: row stride k) against one group of 8 weight rows (grp: its blocks, gb bytes each). R and q4 are constants
 * after inlining.
 */
I8_ALWAYS_INLINE void i8_tile(const uint8_t *grp, int64_t blocks, const int8_t *x, int64_t k, const float *xd,
                              float32x4_t acc[I8_R][2], const int R, const int q4) {
    const uint8x16_t low = vdupq_n_u8(0x0F);
    const int8x16_t eight = vdupq_n_s8(8);
    const int64_t gb = q4 ? I8_Q4_GROUP_BLOCK : I8_Q8_GROUP_BLOCK;
    for (int i = 0; i < R; i++) acc[i][0] = acc[i][1] = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *p = grp + b * gb;
        __builtin_prefetch(p + 4 * gb);
        int32x4_t s[I8_R][2];
        for (int i = 0; i < R; i++) s[i][0] = s[i][1] = vdupq_n_s32(0);
        if (q4) {
#pragma GCC unroll 1 /* unrolled, gcc hoists every chunk's broadcasts and spills them: 22 registers per chunk */
            for (int c = 0; c < 4; c++) {
                uint8x16_t v03 = vld1q_u8(p + 16 + 32 * c), v47 = vld1q_u8(p + 32 + 32 * c);
                int8x16_t lo03 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v03, low)), eight);
                int8x16_t hi03 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v03, 4)), eight);
                int8x16_t lo47 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v47, low)), eight);
                int8x16_t hi47 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v47, 4)), eight);
                for (int i = 0; i < R; i++) {
                    const int8_t *xi = x + i * k + 32 * b + 4 * c;
                    int8x16_t bl = broadcast4(xi), bh = broadcast4(xi + 16);
                    s[i][0] = dot4(dot4(s[i][0], lo03, bl), hi03, bh);
                    s[i][1] = dot4(dot4(s[i][1], lo47, bl), hi47, bh);
                }
            }
        } else {
#pragma GCC unroll 1
            for (int c = 0; c < 8; c++) {
                int8x16_t w03 = vld1q_s8((const int8_t *) p + 16 + 32 * c), w47 = vld1q_s8((const int8_t *) p + 32 + 32 * c);
                for (int i = 0; i < R; i++) {
                    int8x16_t bx = broadcast4(x + i * k + 32 * b + 4 * c);
                    s[i][0] = dot4(s[i][0], w03, bx);
                    s[i][1] = dot4(s[i][1], w47, bx);
                }
            }
        }
        float16x8_t d = vreinterpretq_f16_u8(vld1q_u8(p));
        float32x4_t dw03 = vcvt_f32_f16(vget_low_f16(d)), dw47 = vcvt_high_f32_f16(d);
        for (int i = 0; i < R; i++) {
            float dx = xd[i * blocks + b];
            acc[i][0] = vfmaq_f32(acc[i][0], vcvtq_f32_s32(s[i][0]), vmulq_n_f32(dw03, dx));
            acc[i][1] = vfmaq_f32(acc[i][1], vcvtq_f32_s32(s[i][1]), vmulq_n_f32(dw47, dx));
        }
    }
}

/* Stores R rows of one group's accumulators: out[i*m + row0 + r] for rows row0 + r < m, plus the bias. */
I8_ALWAYS_INLINE void i8_store(float32x4_t acc[I8_R][2], const int R, int64_t row0, int64_t m, const float *bias,
                               float *out) {
    const int rows = m - row0 >= 8 ? 8 : (int) (m - row0);
    float bv[8] = {0};
    if (bias) memcpy(bv, bias + row0, 4 * (size_t) rows);
    const float32x4_t b03 = vld1q_f32(bv), b47 = vld1q_f32(bv + 4);
    for (int i = 0; i < R; i++) {
        float t[8];
        vst1q_f32(t, bias ? vaddq_f32(acc[i][0], b03) : acc[i][0]);
        vst1q_f32(t + 4, bias ? vaddq_f32(acc[i][1], b47) : acc[i][1]);
        memcpy(out + i * m + row0, t, 4 * (size_t) rows);
    }
}

#define I8_RUN(R, Q4)                                                                                                 \
    do {                                                                                                              \
        float32x4_t acc[I8_R][2];                                                                                     \
        i8_tile(grp, blocks, xq + i0 * k, k, xd + i0 * blocks, acc, R, Q4);                                          \
        i8_store(acc, R, row0, m, bias, out + i0 * m);                                                                \
    } while (0)

/* All n activation rows against one group of 8 weight rows (grp, the first at weight row row0). */
static void i8_rows(const uint8_t *grp, int q4, int64_t row0, int64_t k, int64_t m, const int8_t *xq, const float *xd,
                    int32_t n, const float *bias, float *out) {
    const int64_t blocks = k / 32;
    for (int64_t i0 = 0; i0 < n; i0 += I8_R) {
        int r = n - i0 < I8_R ? (int) (n - i0) : I8_R;
        if (q4) {
            switch (r) { case 4: I8_RUN(4, 1); break; case 3: I8_RUN(3, 1); break;
                         case 2: I8_RUN(2, 1); break; default: I8_RUN(1, 1); }
        } else {
            switch (r) { case 4: I8_RUN(4, 0); break; case 3: I8_RUN(3, 0); break;
                         case 2: I8_RUN(2, 0); break; default: I8_RUN(1, 0); }
        }
    }
}

/*
 * out[i*m + j] = W[j]·x_i (+ bias[j]) for i < n and the weight rows of units [u0, u1) (16 rows each: rows 16·u0 ..
 * min(m, 16·u1)) of W [m, k], type 0 = Q8_0, 1 = Q4_0, 2 = Q4_0_R8, 3 = Q8_0_R8 (R8: m a multiple of 8; type 3 gives
 * exactly type 0's outputs for the unpermuted matrix). scratch: at least max(I8_PANEL_BYTES, 2 · (k/32) · 304) bytes
 * (Int8Gemm.scratchBytes; the panels of Q8_0 and Q4_0), unused for the R8 types, read in place. As on x86: units in chunks whose panels fit I8_PANEL_BYTES, each chunk meeting the activations I8_MC rows
 * at a time.
 */
void instella_int8_gemm(const uint8_t *w, int32_t type, int64_t k, int64_t m, int32_t u0, int32_t u1,
                        const int8_t *xq, const float *xd, const int32_t *xs, int32_t n, const float *bias,
                        float *out, uint8_t *scratch) {
    (void) xs;
    const int64_t blocks = k / 32;
    const int q4 = type == 1 || type == 2, in_place = type == 2 || type == 3;
    const int64_t gb = q4 ? I8_Q4_GROUP_BLOCK : I8_Q8_GROUP_BLOCK, unit_bytes = 2 * gb * blocks;
    const int32_t chunk = unit_bytes >= I8_PANEL_BYTES ? 1 : (int32_t) (I8_PANEL_BYTES / unit_bytes);
    for (int32_t uc = u0; uc < u1; uc += chunk) {
        const int32_t ue = u1 - uc < chunk ? u1 : uc + chunk;
        for (int32_t u = uc; u < ue && !in_place; u++) {
            for (int g = 0; g < 2; g++) {
                int64_t row0 = 16 * (int64_t) u + 8 * g;
                if (row0 >= m) break;
                uint8_t *dst = scratch + (u - uc) * unit_bytes + g * gb * blocks;
                if (type == 0) i8_panel_q8(w, k, m, row0, dst);
                else i8_panel_q4(w, k, m, row0, dst);
            }
        }
        for (int32_t i0 = 0; i0 < n; i0 += I8_MC) {
            const int32_t rows = n - i0 < I8_MC ? n - i0 : I8_MC;
            const int8_t *x = xq + (int64_t) i0 * k;
            const float *dx = xd + (int64_t) i0 * blocks;
            float *o = out + (int64_t) i0 * m;
            for (int32_t u = uc; u < ue; u++) {
                for (int g = 0; g < 2; g++) {
                    int64_t row0 = 16 * (int64_t) u + 8 * g;
                    if (row0 >= m) break;
                    const uint8_t *grp = in_place ? w + (row0 / 8) * gb * blocks : scratch + (u - uc) * unit_bytes + g * gb * blocks;
                    i8_rows(grp, q4, row0, k, m, x, dx, rows, bias, o);
                }
            }
        }
    }
}

/*
 * Small prompts, BF16 weights read in place: out[i*m + j] = W[j]·x_i (+ bias[j]) for rows j in [j0, j1) and i < n,
 * each weight vector loaded and widened once for SG_R activation rows. x comes split even/odd per 2·lanes values
 * (SmallGemm.split, as Gemv.splitEvenOdd, with lanes = 4: NEON's width, the default on aarch64; or 8 where
 * -Dinstella.vector.bits=256 forces it); row stride ldx. Per output: lanes partial sums, per 2·lanes values
 * acc = fma(even, x_even, acc) then fma(odd, x_odd, acc); the lanes added in order from lane 0 (VectorMath.sumLanes);
 * the tail past the last whole 2·lanes values in order with fma; then + bias. SmallGemm.rows is the Java twin.
 * The blocking is the x86 kernel's (SG_JB weight rows, depth chunks of SG_KC values, partial sums stored exactly in
 * scratch between chunks): each output stays one chain in order.
 */
#define SG_R 4
#define SG_JB 8
#define SG_KC 512

static inline float sg_bf16(uint16_t v) {
    uint32_t bits = (uint32_t) v << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/*
 * Partial sums of (row j + a, activation row i) live at acc + (a · n + i) · LANES: V = LANES / 4 registers each.
 * One 128-bit load of weights holds 8 bf16 values: 4 even ones (low halves: shift up) and 4 odd ones (high: mask).
 */
I8_ALWAYS_INLINE void sg_tile(const uint16_t *w, int64_t k, int64_t j, const float *xs, int64_t c0, int64_t c1,
                              int64_t ldx, float *acc, int32_t n, int first, const int J, const int R, const int V) {
    const int LANES = 4 * V;
    const uint32x4_t high = vdupq_n_u32(0xFFFF0000u);
    float32x4_t a[4][SG_R][2];
    for (int r = 0; r < J; r++)
        for (int i = 0; i < R; i++)
            for (int v = 0; v < V; v++)
                a[r][i][v] = first ? vdupq_n_f32(0.0f) : vld1q_f32(acc + ((int64_t) r * n + i) * LANES + 4 * v);
    for (int64_t c = c0; c < c1; c += 2 * LANES) {
        float32x4_t xe[SG_R][2], xo[SG_R][2];
        for (int i = 0; i < R; i++) {
            for (int v = 0; v < V; v++) {
                xe[i][v] = vld1q_f32(xs + i * ldx + c + 4 * v);
                xo[i][v] = vld1q_f32(xs + i * ldx + c + LANES + 4 * v);
            }
        }
        for (int r = 0; r < J; r++) {
            float32x4_t e[2], o[2];
            for (int v = 0; v < V; v++) {
                uint32x4_t wv = vld1q_u32((const uint32_t *) (w + (j + r) * k + c) + 4 * v);
                e[v] = vreinterpretq_f32_u32(vshlq_n_u32(wv, 16));
                o[v] = vreinterpretq_f32_u32(vandq_u32(wv, high));
            }
            for (int i = 0; i < R; i++) {
                for (int v = 0; v < V; v++) {
                    a[r][i][v] = vfmaq_f32(a[r][i][v], e[v], xe[i][v]);
                    a[r][i][v] = vfmaq_f32(a[r][i][v], o[v], xo[i][v]);
                }
            }
        }
    }
    for (int r = 0; r < J; r++)
        for (int i = 0; i < R; i++)
            for (int v = 0; v < V; v++) vst1q_f32(acc + ((int64_t) r * n + i) * LANES + 4 * v, a[r][i][v]);
}

#define SG_CALL(JJ, V)                                                                                                \
    switch (r) {                                                                                                      \
        case 4: sg_tile(w, k, j, x0, c0, c1, ldx, ac, n, first, JJ, 4, V); break;                                     \
        case 3: sg_tile(w, k, j, x0, c0, c1, ldx, ac, n, first, JJ, 3, V); break;                                     \
        case 2: sg_tile(w, k, j, x0, c0, c1, ldx, ac, n, first, JJ, 2, V); break;                                     \
        default: sg_tile(w, k, j, x0, c0, c1, ldx, ac, n, first, JJ, 1, V);                                           \
    }

/* JMAX weight rows per tile: 4 at 4 lanes (16 accumulators, 8 x registers), 2 at 8 lanes (NEON has 32 registers). */
#define SG_BLOCKS(JMAX, V)                                                                                            \
    do {                                                                                                              \
        const int LANES = 4 * (V);                                                                                    \
        const int64_t kv = k - k % (2 * LANES);                                                                       \
        for (int64_t jb = j0; jb < j1; jb += SG_JB) {                                                                 \
            const int64_t je = j1 - jb < SG_JB ? j1 : jb + SG_JB;                                                     \
            for (int64_t c0 = 0;; c0 += SG_KC) {                                                                      \
                const int64_t c1 = kv - c0 < SG_KC ? kv : c0 + SG_KC;                                                 \
                const int first = c0 == 0;                                                                            \
                for (int32_t i0 = 0; i0 < n; i0 += SG_R) {                                                            \
                    const int r = n - i0 < SG_R ? n - i0 : SG_R;                                                      \
                    const float *x0 = xs + (int64_t) i0 * ldx;                                                        \
                    for (int64_t j = jb; j < je;) {                                                                   \
                        float *ac = scratch + ((j - jb) * n + i0) * LANES;                                            \
                        if (je - j >= (JMAX)) {                                                                       \
                            SG_CALL(JMAX, V)                                                                          \
                            j += (JMAX);                                                                              \
                        } else {                                                                                      \
                            SG_CALL(1, V)                                                                             \
                            j += 1;                                                                                   \
                        }                                                                                             \
                    }                                                                                                 \
                }                                                                                                     \
                if (c1 >= kv) break;                                                                                  \
            }                                                                                                         \
            for (int64_t j = jb; j < je; j++) {                                                                       \
                const uint16_t *row = w + j * k;                                                                      \
                for (int32_t i = 0; i < n; i++) {                                                                     \
                    const float *t = scratch + ((j - jb) * n + i) * LANES;                                            \
                    float s = 0.0f;                                                                                   \
                    for (int l = 0; l < LANES; l++) s += t[l];                                                        \
                    const float *x = xs + (int64_t) i * ldx;                                                          \
                    for (int64_t c = kv; c < k; c++) s = fmaf(x[c], sg_bf16(row[c]), s);                              \
                    out[(int64_t) i * m + j] = s + (bias ? bias[j] : 0.0f);                                           \
                }                                                                                                     \
            }                                                                                                         \
        }                                                                                                             \
    } while (0)

/*
 * lanes = 4 (NEON's float vector length, the Java kernels' default on aarch64) or 8 (forced 256-bit Java vectors);
 * ldx: the row stride of xs. scratch: SG_JB · n · lanes floats (Java passes 16 · n · lanes). Other lane counts
 * are refused on the Java side (NativeKernels.Isa.hasSmallLanes).
 */
void instella_bf16_small(const uint16_t *w, int64_t k, int64_t m, int32_t j0, int32_t j1, const float *xs,
                         int64_t ldx, int32_t n, int32_t lanes, const float *bias, float *out, float *scratch) {
    if (lanes == 8) SG_BLOCKS(2, 2);
    else SG_BLOCKS(4, 1);
}

/* Lets the loader check that it has the library it expects (the same version as the x86 source). */
int32_t instella_kernels_version(void) { return 10; }
