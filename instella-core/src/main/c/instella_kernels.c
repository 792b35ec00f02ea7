/*
 * Native kernels (x86-64): matrix-vector products for block-quantized and BF16 weights, one-row attention over a
 * head-major F32/F16 KV cache, and the GEMM's packing and slab loops.
 *
 * One source, one build per instruction set (see the native-kernels profile in pom.xml; NativeKernels picks the
 * best one the CPU runs from /proc/cpuinfo):
 *   avx2        -mavx2 -mfma -mf16c                                  the base: everything below
 *   avxvnni     avx2 + -mavxvnni                                     Q8_0/Q4_0 dot products with vpdpbusd (VEX)
 *   avx512      avx2 + -mavx512f -mavx512bw -mavx512vl -mavx512dq     GEMM slab loops for NR = 32 (512-bit)
 *   avx512vnni  avx512 + -mavx512vnni                                 both of the above (vpdpbusd, EVEX, 256-bit)
 * What differs between them is chosen here with the compiler's __AVX512F__ / __AVX512VNNI__ / __AVXVNNI__ macros.
 * The integer dot products are exact in every build (the same int32 sums), so the quantized kernels give
 * bit-identical results whichever build runs; the GEMM slab loops are bit-identical to the Java loops at any width.
 *
 * Why native: a Q4_0/Q8_0 matrix-vector product is a stream of 8-bit integer dot products. x86 does them
 * with vpmaddubsw + vpmaddwd (32 products and their pairwise sums in two instructions); the Java Vector
 * API has no such operation, so the Java kernels (Gemv.q4RowsInt/q8RowsInt, which stay the portable
 * path and the reference) spend about twice the instructions per block and run compute-bound, below the
 * memory bandwidth. Called through the FFM API from the Java worker threads, one range of rows per call.
 *
 * Layouts (llama.cpp's): a Q8_0 block is an f16 scale d and 32 int8 values (34 bytes); a Q4_0 block is an
 * f16 scale d and 16 bytes whose low nibbles are values 0..15 and high nibbles values 16..31, each value
 * being d * (nibble - 8) (18 bytes). Activations arrive quantized per block of 32 (int8 xq, float scale xd,
 * and for Q4_0 the block sum xs of xq), token after token.
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>
#include <stdint.h>

static inline float hsum(__m256 a) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

static inline float f16_to_f32(const uint8_t *p) {
    return _cvtsh_ss((uint16_t) (p[0] | (p[1] << 8)));
}

/* 32 unsigned nibbles of a Q4_0 block as bytes 0..15, in value order. */
static inline __m256i q4_nibbles(const uint8_t *qs) {
    __m128i t = _mm_loadu_si128((const __m128i *) qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0F));
}

/*
 * u8 × s8 dot products of 4 neighbouring bytes into each int32 lane, added to acc. With VNNI one vpdpbusd (as
 * llama.cpp's Q8_0/Q4_0 dot products use); without, vpmaddubsw (int16 pair sums, which never saturate here: |u| ≤ 127
 * and |s| ≤ 127, or u ≤ 15) and vpmaddwd. Both give the same exact int32 sums.
 */
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define INSTELLA_VNNI 1
static inline __m256i dot_u8s8(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_epi32(acc, u, s); }
#elif defined(__AVXVNNI__)
#define INSTELLA_VNNI 1
static inline __m256i dot_u8s8(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_avx_epi32(acc, u, s); }
#else
static inline __m256i dot_u8s8(__m256i acc, __m256i u, __m256i s) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
}
#endif

/*
 * Σ nibble·xq as 8 int32 lanes: vpmaddubsw multiplies the unsigned nibbles with the signed activations
 * (|pair sum| ≤ 2·15·127, no saturation), vpmaddwd adds neighbouring pairs. The −8 offset of every value is
 * applied once per block outside: Σ (n−8)·x = Σ n·x − 8·Σ x.
 */
static inline __m256 q4_dot(const uint8_t *qs, const int8_t *x) {
    return _mm256_cvtepi32_ps(dot_u8s8(_mm256_setzero_si256(), q4_nibbles(qs), _mm256_loadu_si256((const __m256i *) x)));
}

/* Σ w·x for signed bytes: |w|·sign(x, w), as vpmaddubsw needs one unsigned operand (|w| ≤ 127 in Q8_0). */
static inline __m256 q8_dot(const int8_t *w, const int8_t *x) {
    __m256i wv = _mm256_loadu_si256((const __m256i *) w);
    __m256i xv = _mm256_loadu_si256((const __m256i *) x);
    return _mm256_cvtepi32_ps(dot_u8s8(_mm256_setzero_si256(), _mm256_sign_epi8(wv, wv), _mm256_sign_epi8(xv, wv)));
}

/*
 * out[i*m + j] = W[j]·x_i (+ bias[j]) for rows j in [j0, j1) and tokens i < n of a Q4_0 matrix W [m, k].
 * Four blocks per step with four accumulators (consecutive FMAs do not wait on each other) and a software
 * prefetch 512 bytes ahead in the row: measured on 8192 × 2048 from DRAM, 2 threads, 24.5 GB/s against
 * 19.8 GB/s for one block per step without prefetch. One row at a time: interleaving two rows' streams
 * measured at less than half the speed on the same machine.
 */
void instella_q4_0_rows(const uint8_t *w, int64_t k, int64_t m, int32_t j0, int32_t j1,
                        const int8_t *xq, const float *xd, const int32_t *xs, int32_t n,
                        const float *bias, float *out) {
    const int64_t blocks = k / 32, row_bytes = 18 * blocks;
    for (int32_t j = j0; j < j1; j++) {
        const uint8_t *row = w + j * row_bytes;
        for (int32_t i = 0; i < n; i++) {
            const int8_t *x = xq + i * k;
            const float *dx = xd + i * blocks;
            const int32_t *sx = xs + i * blocks;
            __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
            __m128 offset4 = _mm_setzero_ps();
            float offset = 0.0f;
            int64_t b = 0;
            for (; b + 3 < blocks; b += 4) {
                const uint8_t *p = row + 18 * b;
                _mm_prefetch((const char *) p + 512, _MM_HINT_T0);
                float d0 = f16_to_f32(p) * dx[b], d1 = f16_to_f32(p + 18) * dx[b + 1];
                float d2 = f16_to_f32(p + 36) * dx[b + 2], d3 = f16_to_f32(p + 54) * dx[b + 3];
                acc0 = _mm256_fmadd_ps(q4_dot(p + 2, x + 32 * b), _mm256_set1_ps(d0), acc0);
                acc1 = _mm256_fmadd_ps(q4_dot(p + 20, x + 32 * b + 32), _mm256_set1_ps(d1), acc1);
                acc2 = _mm256_fmadd_ps(q4_dot(p + 38, x + 32 * b + 64), _mm256_set1_ps(d2), acc2);
                acc3 = _mm256_fmadd_ps(q4_dot(p + 56, x + 32 * b + 96), _mm256_set1_ps(d3), acc3);
                offset4 = _mm_fmadd_ps(_mm_setr_ps(d0, d1, d2, d3),
                                       _mm_cvtepi32_ps(_mm_loadu_si128((const __m128i *) (sx + b))), offset4);
            }
            for (; b < blocks; b++) {
                const uint8_t *p = row + 18 * b;
                float d0 = f16_to_f32(p) * dx[b];
                acc0 = _mm256_fmadd_ps(q4_dot(p + 2, x + 32 * b), _mm256_set1_ps(d0), acc0);
                offset += d0 * (float) sx[b];
            }
            __m128 o = _mm_add_ps(offset4, _mm_movehl_ps(offset4, offset4));
            o = _mm_add_ss(o, _mm_movehdup_ps(o));
            offset += _mm_cvtss_f32(o);
            __m256 acc = _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));
            out[i * m + j] = hsum(acc) - 8.0f * offset + (bias ? bias[j] : 0.0f);
        }
    }
}

/*
 * The same product for Q4_0 rows interleaved by eight (Java's DType.Q4_0_R8), groups g in [g0, g1) (rows
 * 8g..8g+7). Per group and block: 8 f16 scales, then 4 chunks of 32 bytes; in chunk c, the 32-bit lane r holds
 * bytes 4c..4c+3 of row r's Q4_0 quant bytes, i.e. values 4c..4c+3 (low nibbles) and 16+4c..16+4c+3 (high
 * nibbles). Broadcasting the matching 4 activations to every lane, vpmaddubsw + vpmaddwd give each row's
 * partial dot product in its own lane: eight vpmaddubsw per block for 8 rows (Σ of their int16 results stays
 * within ±8·2·15·127 < 2^15), one vpmaddwd, one conversion, and the 8 rows' scales come in one vcvtph2ps. No
 * horizontal sums and a fraction of the per-block scalar work of instella_q4_0_rows: measured in cache 2.4×
 * its speed, and from DRAM over the model's 16 layers (2 threads) 28.6 GB/s against 23.4. Written as four
 * independent int16 sums, two blocks per step and activations broadcast straight from memory, it ran 16% faster
 * in cache (one core) than as one chain of additions, and in paired runs over the 16 layers (2 threads) took
 * about 0.9 of the time.
 */
static inline __m256i broadcast4(const int8_t *x) {
    int32_t t;
    memcpy(&t, x, 4); /* a vpbroadcastd from memory, no store-and-reload through the stack */
    return _mm256_set1_epi32(t);
}

/* One block of one 8-row group: each row's dot product with x in its lane, times dx, less the −8 offset's share. */
static inline __m256 q4_0_r8_block(const uint8_t *p, const int8_t *x, float dx, int32_t sx, __m256i low) {
    __m256i v0 = _mm256_loadu_si256((const __m256i *) (p + 16));
    __m256i v1 = _mm256_loadu_si256((const __m256i *) (p + 48));
    __m256i v2 = _mm256_loadu_si256((const __m256i *) (p + 80));
    __m256i v3 = _mm256_loadu_si256((const __m256i *) (p + 112));
#ifdef INSTELLA_VNNI
    /* Two independent chains of four vpdpbusd (int32 sums, equal to the int16 ones below). */
    __m256i s0 = dot_u8s8(_mm256_setzero_si256(), _mm256_and_si256(v0, low), broadcast4(x));
    __m256i s1 = dot_u8s8(_mm256_setzero_si256(), _mm256_and_si256(v2, low), broadcast4(x + 8));
    s0 = dot_u8s8(s0, _mm256_and_si256(v1, low), broadcast4(x + 4));
    s1 = dot_u8s8(s1, _mm256_and_si256(v3, low), broadcast4(x + 12));
    s0 = dot_u8s8(s0, _mm256_and_si256(_mm256_srli_epi16(v0, 4), low), broadcast4(x + 16));
    s1 = dot_u8s8(s1, _mm256_and_si256(_mm256_srli_epi16(v2, 4), low), broadcast4(x + 24));
    s0 = dot_u8s8(s0, _mm256_and_si256(_mm256_srli_epi16(v1, 4), low), broadcast4(x + 20));
    s1 = dot_u8s8(s1, _mm256_and_si256(_mm256_srli_epi16(v3, 4), low), broadcast4(x + 28));
    __m256 dot = _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1));
#else
    /* Four independent int16 sums (exact: see above) instead of one chain of seven additions. */
    __m256i l01 = _mm256_add_epi16(_mm256_maddubs_epi16(_mm256_and_si256(v0, low), broadcast4(x)),
                                   _mm256_maddubs_epi16(_mm256_and_si256(v1, low), broadcast4(x + 4)));
    __m256i l23 = _mm256_add_epi16(_mm256_maddubs_epi16(_mm256_and_si256(v2, low), broadcast4(x + 8)),
                                   _mm256_maddubs_epi16(_mm256_and_si256(v3, low), broadcast4(x + 12)));
    __m256i h01 = _mm256_add_epi16(_mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v0, 4), low), broadcast4(x + 16)),
                                   _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v1, 4), low), broadcast4(x + 20)));
    __m256i h23 = _mm256_add_epi16(_mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v2, 4), low), broadcast4(x + 24)),
                                   _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v3, 4), low), broadcast4(x + 28)));
    __m256i s = _mm256_add_epi16(_mm256_add_epi16(l01, l23), _mm256_add_epi16(h01, h23));
    __m256 dot = _mm256_cvtepi32_ps(_mm256_madd_epi16(s, _mm256_set1_epi16(1)));
#endif
    /* Σ (n − 8)·x·dx = dx·Σ n·x − 8·dx·Σ x, the second term the same for all 8 rows. */
    return _mm256_fmadd_ps(dot, _mm256_set1_ps(dx), _mm256_set1_ps(-8.0f * dx * (float) sx));
}

void instella_q4_0_r8_rows(const uint8_t *w, int64_t k, int64_t m, int32_t g0, int32_t g1,
                           const int8_t *xq, const float *xd, const int32_t *xs, int32_t n,
                           const float *bias, float *out) {
    const int64_t blocks = k / 32, group_bytes = 144 * blocks;
    const __m256i low = _mm256_set1_epi8(0x0F);
    for (int32_t g = g0; g < g1; g++) {
        for (int32_t i = 0; i < n; i++) {
            const uint8_t *p = w + g * group_bytes;
            const int8_t *x = xq + i * k;
            const float *dx = xd + i * blocks;
            const int32_t *sx = xs + i * blocks;
            /* Even blocks into acc0, odd into acc1, two blocks per step (no branch on the parity). */
            __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
            int64_t b = 0;
            for (; b + 1 < blocks; b += 2, p += 288) {
                _mm_prefetch((const char *) p + 1024, _MM_HINT_T0);
                _mm_prefetch((const char *) p + 1088, _MM_HINT_T0);
                _mm_prefetch((const char *) p + 1152, _MM_HINT_T0);
                __m256 t0 = q4_0_r8_block(p, x + 32 * b, dx[b], sx[b], low);
                __m256 t1 = q4_0_r8_block(p + 144, x + 32 * b + 32, dx[b + 1], sx[b + 1], low);
                acc0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) p)), t0, acc0);
                acc1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (p + 144))), t1, acc1);
            }
            if (b < blocks) {
                __m256 t0 = q4_0_r8_block(p, x + 32 * b, dx[b], sx[b], low);
                acc0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) p)), t0, acc0);
            }
            __m256 acc = _mm256_add_ps(acc0, acc1);
            if (bias) acc = _mm256_add_ps(acc, _mm256_loadu_ps(bias + 8 * g));
            _mm256_storeu_ps(out + i * m + 8 * g, acc);
        }
    }
}

/*
 * Q4_0 or Q8_0 [m, k] (blocks of block_bytes: 18 or 34) → Q4_0_R8 / Q8_0_R8 for row groups [g0, g1): the byte
 * permutation of Quant.repackR8 (the Java reference), done here at load time because it touches every byte of the
 * language model's quantized weights (about 600 MB for Q4_0).
 */
static void repack_r8(const uint8_t *src, uint8_t *dst, int64_t k, int32_t g0, int32_t g1, int block_bytes) {
    const int64_t blocks = k / 32;
    const int chunks = (block_bytes - 2) / 4;
    for (int64_t g = g0; g < g1; g++) {
        for (int64_t b = 0; b < blocks; b++) {
            uint8_t *out = dst + (g * blocks + b) * 8 * block_bytes;
            for (int r = 0; r < 8; r++) {
                const uint8_t *in = src + ((g * 8 + r) * blocks + b) * block_bytes;
                memcpy(out + 2 * r, in, 2);
                for (int c = 0; c < chunks; c++) memcpy(out + 16 + 32 * c + 4 * r, in + 2 + 4 * c, 4);
            }
        }
    }
}

void instella_repack_q4_0_r8(const uint8_t *src, uint8_t *dst, int64_t k, int32_t g0, int32_t g1) {
    repack_r8(src, dst, k, g0, g1, 18);
}

void instella_repack_q8_0_r8(const uint8_t *src, uint8_t *dst, int64_t k, int32_t g0, int32_t g1) {
    repack_r8(src, dst, k, g0, g1, 34);
}

/* out[i*m + j] = W[j]·x_i (+ bias[j]) for rows j in [j0, j1) and tokens i < n of a Q8_0 matrix W [m, k]. */
void instella_q8_0_rows(const uint8_t *w, int64_t k, int64_t m, int32_t j0, int32_t j1,
                        const int8_t *xq, const float *xd, int32_t n,
                        const float *bias, float *out) {
    const int64_t blocks = k / 32, row_bytes = 34 * blocks;
    for (int32_t j = j0; j < j1; j++) {
        const uint8_t *row = w + j * row_bytes;
        for (int32_t i = 0; i < n; i++) {
            const int8_t *x = xq + i * k;
            const float *dx = xd + i * blocks;
            __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
            int64_t b = 0;
            for (; b + 1 < blocks; b += 2) {
                const uint8_t *p0 = row + 34 * b, *p1 = p0 + 34;
                _mm_prefetch((const char *) p0 + 512, _MM_HINT_T0);
                acc0 = _mm256_fmadd_ps(q8_dot((const int8_t *) p0 + 2, x + 32 * b), _mm256_set1_ps(f16_to_f32(p0) * dx[b]), acc0);
                acc1 = _mm256_fmadd_ps(q8_dot((const int8_t *) p1 + 2, x + 32 * b + 32), _mm256_set1_ps(f16_to_f32(p1) * dx[b + 1]), acc1);
            }
            for (; b < blocks; b++) {
                const uint8_t *p0 = row + 34 * b;
                acc0 = _mm256_fmadd_ps(q8_dot((const int8_t *) p0 + 2, x + 32 * b), _mm256_set1_ps(f16_to_f32(p0) * dx[b]), acc0);
            }
            out[i * m + j] = hsum(_mm256_add_ps(acc0, acc1)) + (bias ? bias[j] : 0.0f);
        }
    }
}

/*
 * The same product for Q8_0 rows interleaved by eight (Java's DType.Q8_0_R8), groups g in [g0, g1) (rows 8g..8g+7):
 * per group and block 8 f16 scales, then 8 chunks of 32 bytes whose 32-bit lane r holds bytes 4c..4c+3 of row r's
 * 32 int8 values. As for Q4_0_R8, the 4 matching activations broadcast to every lane give each row's partial dot
 * product in its own lane: per block eight dot products for 8 rows, one conversion, the 8 scales in one vcvtph2ps,
 * where instella_q8_0_rows needs a dot product, a conversion and a scalar scale per row and block, and a horizontal
 * sum per row. Signed × signed as |w| · sign(x, w) (vpmaddubsw and vpdpbusd take one unsigned operand; the same
 * exact int32 sums in every build). Per block and output: acc = fma((float) isum, d_w · d_x, acc), even blocks and
 * odd blocks in two accumulators, added at the end. Measured from DRAM over the 16 layers' matrices of OLMo-1B
 * (C harness, 2 threads, Zen 5, 8 paired runs, best of 6 each): 24.8–31.6 ms against 31.0–42.4 for
 * instella_q8_0_rows, faster in every pair, with the weights offset by +128 instead (vpdpbusd on w + 128, less
 * 128·Σx); this form, which keeps the layout a plain permutation, measured alike where the host allowed (best
 * 25.6 ms), and in instella bench it took Q8_0 decode from 20.8 to 25.0–28.0 tok/s.
 */
static inline __m256i q8_0_r8_chunk(__m256i acc, const uint8_t *p, const int8_t *x) {
    __m256i w = _mm256_loadu_si256((const __m256i *) p);
    return dot_u8s8(acc, _mm256_abs_epi8(w), _mm256_sign_epi8(broadcast4(x), w));
}

/* One block of one 8-row group added into acc: each row's exact int32 dot product with x, times d_w · dx, in its lane. */
static inline __m256 q8_0_r8_block(const uint8_t *p, const int8_t *x, float dx, __m256 acc) {
    __m256i s0 = _mm256_setzero_si256(), s1 = s0; /* two chains: even and odd chunks */
#pragma GCC unroll 4
    for (int c = 0; c < 8; c += 2) {
        s0 = q8_0_r8_chunk(s0, p + 16 + 32 * c, x + 4 * c);
        s1 = q8_0_r8_chunk(s1, p + 48 + 32 * c, x + 4 * c + 4);
    }
    __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) p)), _mm256_set1_ps(dx));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), d, acc);
}

void instella_q8_0_r8_rows(const uint8_t *w, int64_t k, int64_t m, int32_t g0, int32_t g1,
                           const int8_t *xq, const float *xd, int32_t n, const float *bias, float *out) {
    const int64_t blocks = k / 32, group_bytes = 272 * blocks;
    for (int32_t g = g0; g < g1; g++) {
        for (int32_t i = 0; i < n; i++) {
            const uint8_t *p = w + g * group_bytes;
            const int8_t *x = xq + i * k;
            const float *dx = xd + i * blocks;
            __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
            int64_t b = 0;
            for (; b + 1 < blocks; b += 2, p += 544) {
                /* the 8.5 cache lines of the next two blocks 2 KB ahead (1 KB and 2 KB measured alike) */
                for (int t = 0; t < 9; t++) _mm_prefetch((const char *) p + 2048 + 64 * t, _MM_HINT_T0);
                acc0 = q8_0_r8_block(p, x + 32 * b, dx[b], acc0);
                acc1 = q8_0_r8_block(p + 272, x + 32 * b + 32, dx[b + 1], acc1);
            }
            if (b < blocks) acc0 = q8_0_r8_block(p, x + 32 * b, dx[b], acc0);
            __m256 acc = _mm256_add_ps(acc0, acc1);
            if (bias) acc = _mm256_add_ps(acc, _mm256_loadu_ps(bias + 8 * g));
            _mm256_storeu_ps(out + i * m + 8 * g, acc);
        }
    }
}

/* Two bf16 weights per 32-bit lane: the even one is the low half shifted up, the odd one the high half masked. */
static inline __m256 bf16_even(__m256i w) { return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)); }
static inline __m256 bf16_odd(__m256i w) { return _mm256_castsi256_ps(_mm256_and_si256(w, _mm256_set1_epi32((int32_t) 0xFFFF0000))); }

/*
 * out[j] = W[j]·x (+ bias[j]) for rows j in [j0, j1) of a BF16 matrix W [m, k] and one token, k a multiple of 32.
 * x comes split like the Java kernel's (Gemv.splitEvenOdd): per 16 values, the 8 even ones then the 8 odd
 * ones, so a 32-bit load of two bf16 weights widens with one shift (even) and one mask (odd).
 *
 * Up to k = 4096 (split x of at most 16 KB) one row at a time. Longer rows (the MLP's down projection, k = 8192:
 * 32 KB of x, all of L1) go four rows at a time, each x vector loaded once for the four: one row at a time, x
 * kept being evicted by the streaming weights, and that projection read at ~20 GB/s against ~29 for four rows
 * (C harness, all 16 layers, 2 threads); for k = 2048 four rows measured slower than one.
 */
static void bf16_rows_256(const uint16_t *w, int64_t k, int32_t j0, int32_t j1, const float *xs, const float *bias,
                          float *out) {
    int32_t j = j0;
    if (k > 4096) {
        for (; j + 4 <= j1; j += 4) {
            const uint16_t *r0 = w + (int64_t) j * k, *r1 = r0 + k, *r2 = r1 + k, *r3 = r2 + k;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int64_t c = 0; c < k; c += 16) {
                __m256 xe = _mm256_loadu_ps(xs + c), xo = _mm256_loadu_ps(xs + c + 8);
                __m256i w0 = _mm256_loadu_si256((const __m256i *) (r0 + c)), w1 = _mm256_loadu_si256((const __m256i *) (r1 + c));
                __m256i w2 = _mm256_loadu_si256((const __m256i *) (r2 + c)), w3 = _mm256_loadu_si256((const __m256i *) (r3 + c));
                a0 = _mm256_fmadd_ps(bf16_odd(w0), xo, _mm256_fmadd_ps(bf16_even(w0), xe, a0));
                a1 = _mm256_fmadd_ps(bf16_odd(w1), xo, _mm256_fmadd_ps(bf16_even(w1), xe, a1));
                a2 = _mm256_fmadd_ps(bf16_odd(w2), xo, _mm256_fmadd_ps(bf16_even(w2), xe, a2));
                a3 = _mm256_fmadd_ps(bf16_odd(w3), xo, _mm256_fmadd_ps(bf16_even(w3), xe, a3));
            }
            out[j] = hsum(a0) + (bias ? bias[j] : 0.0f);
            out[j + 1] = hsum(a1) + (bias ? bias[j + 1] : 0.0f);
            out[j + 2] = hsum(a2) + (bias ? bias[j + 2] : 0.0f);
            out[j + 3] = hsum(a3) + (bias ? bias[j + 3] : 0.0f);
        }
    }
    for (; j < j1; j++) {
        const uint16_t *r = w + (int64_t) j * k;
        __m256 e0 = _mm256_setzero_ps(), o0 = e0, e1 = e0, o1 = e0;
        for (int64_t c = 0; c < k; c += 32) {
            __m256i w0 = _mm256_loadu_si256((const __m256i *) (r + c));
            __m256i w1 = _mm256_loadu_si256((const __m256i *) (r + c + 16));
            e0 = _mm256_fmadd_ps(bf16_even(w0), _mm256_loadu_ps(xs + c), e0);
            o0 = _mm256_fmadd_ps(bf16_odd(w0), _mm256_loadu_ps(xs + c + 8), o0);
            e1 = _mm256_fmadd_ps(bf16_even(w1), _mm256_loadu_ps(xs + c + 16), e1);
            o1 = _mm256_fmadd_ps(bf16_odd(w1), _mm256_loadu_ps(xs + c + 24), o1);
        }
        out[j] = hsum(_mm256_add_ps(_mm256_add_ps(e0, o0), _mm256_add_ps(e1, o1))) + (bias ? bias[j] : 0.0f);
    }
}

void instella_bf16_rows(const uint16_t *w, int64_t k, int32_t j0, int32_t j1, const float *xs, const float *bias,
                        float *out) {
    /* 256-bit in every build: a 512-bit version (32 weights per load, x re-split per 32) ran 1.45× faster in cache
     * on one Zen 5 core but decoded the full BF16 model at 12.6 tok/s against 19.6 (instella bench, 2 threads). */
    bf16_rows_256(w, k, j0, j1, xs, bias, out);
}

/*
 * e^x for 8 lanes: the same Cephes expf reduction and polynomial as the Java kernels' VectorMath.exp
 * (x = n·ln2 + r, degree-6 polynomial on r, 2^n built in the exponent bits), inputs clamped to [−87.3, 88].
 */
static inline __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.33654f)), _mm256_set1_ps(88.0f));
    const __m256 round = _mm256_set1_ps(12582912.0f);
    __m256 n = _mm256_sub_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), round), round);
    __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-0.693359375f), x);
    r = _mm256_fmadd_ps(n, _mm256_set1_ps(2.12194440e-4f), r);
    __m256 p = _mm256_fmadd_ps(r, _mm256_set1_ps(1.9875691500e-4f), _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    __m256 y = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(bits));
}

/* Key/value rows in the cache's two element types, widened to 8 floats. */
static inline __m256 load_f32(const float *p) { return _mm256_loadu_ps(p); }
static inline __m256 load_f16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) p)); }

/*
 * Softmax over scores[0, len) in place (after the max shift); returns 1 / Σ. The tail past the last whole
 * vector is done with scalar expf.
 */
static float softmax_in_place(float *scores, int32_t len) {
    __m256 mx = _mm256_set1_ps(-INFINITY);
    int32_t j = 0;
    for (; j + 8 <= len; j += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(scores + j));
    float m = -INFINITY;
    float lanes[8];
    _mm256_storeu_ps(lanes, mx);
    for (int i = 0; i < 8; i++) m = lanes[i] > m ? lanes[i] : m;
    for (; j < len; j++) m = scores[j] > m ? scores[j] : m;
    __m256 vm = _mm256_set1_ps(m), sum = _mm256_setzero_ps();
    for (j = 0; j + 8 <= len; j += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(scores + j), vm));
        _mm256_storeu_ps(scores + j, e);
        sum = _mm256_add_ps(sum, e);
    }
    float s = hsum(sum);
    for (; j < len; j++) {
        float e = expf(scores[j] - m);
        scores[j] = e;
        s += e;
    }
    return 1.0f / s;
}

/*
 * Decode attention for one query row of one head, over len key/value rows stored contiguously (hd floats or
 * halves apart, the KV cache's head-major layout): out = softmax(scale · q·kⱼ) · V. Keys are read one row
 * after the other (a sequential stream the hardware prefetcher follows), each dot product with two
 * accumulators; the value pass keeps up to 128 outputs in registers across all rows. hd is a multiple of 8.
 * scores has room for len floats.
 */
#define ATTEND(NAME, T, LOAD)                                                                                 \
void NAME(const float *q, const T *k, const T *v, int32_t len, int32_t hd, float scale, float *scores,         \
          float *out) {                                                                                       \
    for (int32_t j = 0; j < len; j++) {                                                                       \
        const T *kr = k + (int64_t) j * hd;                                                                   \
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();                                          \
        int32_t d = 0;                                                                                        \
        for (; d + 16 <= hd; d += 16) {                                                                       \
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), LOAD(kr + d), a0);                                  \
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d + 8), LOAD(kr + d + 8), a1);                          \
        }                                                                                                     \
        if (d < hd) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), LOAD(kr + d), a0);                         \
        scores[j] = hsum(_mm256_add_ps(a0, a1)) * scale;                                                      \
    }                                                                                                         \
    __m256 inv = _mm256_set1_ps(softmax_in_place(scores, len));                                               \
    int32_t d0 = 0;                                                                                           \
    for (; d0 + 128 <= hd; d0 += 128) {                                                                       \
        __m256 o[16];                                                                                         \
        for (int i = 0; i < 16; i++) o[i] = _mm256_setzero_ps();                                              \
        for (int32_t j = 0; j < len; j++) {                                                                   \
            const T *vr = v + (int64_t) j * hd + d0;                                                          \
            __m256 p = _mm256_set1_ps(scores[j]);                                                             \
            for (int i = 0; i < 16; i++) o[i] = _mm256_fmadd_ps(p, LOAD(vr + 8 * i), o[i]);                   \
        }                                                                                                     \
        for (int i = 0; i < 16; i++) _mm256_storeu_ps(out + d0 + 8 * i, _mm256_mul_ps(o[i], inv));            \
    }                                                                                                         \
    for (; d0 < hd; d0 += 8) {                                                                                \
        __m256 o = _mm256_setzero_ps();                                                                       \
        for (int32_t j = 0; j < len; j++) o = _mm256_fmadd_ps(_mm256_set1_ps(scores[j]), LOAD(v + (int64_t) j * hd + d0), o); \
        _mm256_storeu_ps(out + d0, _mm256_mul_ps(o, inv));                                                    \
    }                                                                                                         \
}

ATTEND(instella_attend_f32, float, load_f32)
ATTEND(instella_attend_f16, uint16_t, load_f16)

/*
 * The GEMM's inner loops (Gemm.linear) over one packed slab: C[n × cols] (+)= A[n × kc] · slab, where the slab
 * holds panels of GEMM_NR weight rows, depth-major (slab[p][t][q] = W[p·NR + q][t], see Gemm.pack). a points at
 * A[0][pc] (row stride lda), c at C[0][j0] (row stride ldc), bias at bias[j0] or is NULL; first says that this is
 * the slab at depth 0, whose products start from the bias (or zero) instead of adding to C.
 *
 * Why native: this is Gemm.micro6/microRow, step for step (each output is the same chain of FMAs in the same order,
 * so the results are bit-identical to the Java kernels). C2 keeps the Java micro-kernel's twelve accumulators in
 * registers but adds bounds checks and separate broadcasts around every step; the compiled C loop is the 14
 * instructions BLIS's Haswell kernel has (2 loads, 6 memory broadcasts, 12 FMAs), about 15–20% faster on one core.
 */
#define GEMM_NR 16
#define GEMM_MR 6
#define GEMM_MC 48
#define GEMM_INLINE static inline __attribute__((always_inline))

/*
 * The two float vectors of a BF16 panel row (instella_pack_bf16_pairs, below): columns 0..h-1 (shifted) and h..nr-1
 * (masked) — exactly a float panel row's two vectors.
 */
#define BP_WIDEN256(p, b0, b1)                                                                                        \
    do {                                                                                                              \
        __m256i v_ = _mm256_loadu_si256((const __m256i *) (p));                                                      \
        b0 = _mm256_castsi256_ps(_mm256_slli_epi32(v_, 16));                                                          \
        b1 = _mm256_castsi256_ps(_mm256_and_si256(v_, _mm256_set1_epi32((int32_t) 0xFFFF0000)));                      \
    } while (0)

/*
 * Depth t of a panel of 16: from a float panel, or (bf16 != 0) from a BF16 panel of pairs. The kernels below take
 * bf16 as a constant (always inlined), so each compiled variant has only its own loads.
 */
#define GEMM_B16(b, bf16, t, b0, b1)                                                                                  \
    do {                                                                                                              \
        if (bf16) {                                                                                                   \
            BP_WIDEN256((const uint16_t *) (b) + (int64_t) (t) * GEMM_NR, b0, b1);                                    \
        } else {                                                                                                      \
            b0 = _mm256_loadu_ps((const float *) (b) + (int64_t) (t) * GEMM_NR);                                      \
            b1 = _mm256_loadu_ps((const float *) (b) + (int64_t) (t) * GEMM_NR + 8);                                  \
        }                                                                                                             \
    } while (0)

GEMM_INLINE void gemm_micro6_any(const float *a, int64_t lda, const void *b, int bf16, int32_t kc, float *c,
                                 int64_t ldc, int first, const float *bias) {
    __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
    if (first) {
        __m256 z0 = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();
        __m256 z1 = bias ? _mm256_loadu_ps(bias + 8) : _mm256_setzero_ps();
        c00 = c10 = c20 = c30 = c40 = c50 = z0;
        c01 = c11 = c21 = c31 = c41 = c51 = z1;
    } else {
        c00 = _mm256_loadu_ps(c); c01 = _mm256_loadu_ps(c + 8);
        c10 = _mm256_loadu_ps(c + ldc); c11 = _mm256_loadu_ps(c + ldc + 8);
        c20 = _mm256_loadu_ps(c + 2 * ldc); c21 = _mm256_loadu_ps(c + 2 * ldc + 8);
        c30 = _mm256_loadu_ps(c + 3 * ldc); c31 = _mm256_loadu_ps(c + 3 * ldc + 8);
        c40 = _mm256_loadu_ps(c + 4 * ldc); c41 = _mm256_loadu_ps(c + 4 * ldc + 8);
        c50 = _mm256_loadu_ps(c + 5 * ldc); c51 = _mm256_loadu_ps(c + 5 * ldc + 8);
    }
    const float *a0 = a, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda, *a4 = a3 + lda, *a5 = a4 + lda;
    for (int32_t t = 0; t < kc; t++) {
        __m256 b0, b1, av;
        GEMM_B16(b, bf16, t, b0, b1);
        av = _mm256_broadcast_ss(a0 + t); c00 = _mm256_fmadd_ps(av, b0, c00); c01 = _mm256_fmadd_ps(av, b1, c01);
        av = _mm256_broadcast_ss(a1 + t); c10 = _mm256_fmadd_ps(av, b0, c10); c11 = _mm256_fmadd_ps(av, b1, c11);
        av = _mm256_broadcast_ss(a2 + t); c20 = _mm256_fmadd_ps(av, b0, c20); c21 = _mm256_fmadd_ps(av, b1, c21);
        av = _mm256_broadcast_ss(a3 + t); c30 = _mm256_fmadd_ps(av, b0, c30); c31 = _mm256_fmadd_ps(av, b1, c31);
        av = _mm256_broadcast_ss(a4 + t); c40 = _mm256_fmadd_ps(av, b0, c40); c41 = _mm256_fmadd_ps(av, b1, c41);
        av = _mm256_broadcast_ss(a5 + t); c50 = _mm256_fmadd_ps(av, b0, c50); c51 = _mm256_fmadd_ps(av, b1, c51);
    }
    _mm256_storeu_ps(c, c00); _mm256_storeu_ps(c + 8, c01);
    _mm256_storeu_ps(c + ldc, c10); _mm256_storeu_ps(c + ldc + 8, c11);
    _mm256_storeu_ps(c + 2 * ldc, c20); _mm256_storeu_ps(c + 2 * ldc + 8, c21);
    _mm256_storeu_ps(c + 3 * ldc, c30); _mm256_storeu_ps(c + 3 * ldc + 8, c31);
    _mm256_storeu_ps(c + 4 * ldc, c40); _mm256_storeu_ps(c + 4 * ldc + 8, c41);
    _mm256_storeu_ps(c + 5 * ldc, c50); _mm256_storeu_ps(c + 5 * ldc + 8, c51);
}

/*
 * The rows left after the 6-row tiles (1 to 5), against a panel with nr valid columns: Gemm.microRow for each row,
 * with the same two accumulator chains per row, but all rows in one pass over the depth. One row at a time, the two
 * chains waited on each other's FMA latency (two leftover rows of 32 cost ~15% of a 32-row product); r rows give 2r
 * independent chains. Each row's arithmetic is microRow's, so the results stay bit-identical.
 */
GEMM_INLINE void gemm_micro_rows_any(const float *a, int64_t lda, int r, const void *b, int bf16, int32_t kc, float *c,
                                     int64_t ldc, int32_t nr, int first, const float *bias) {
    __m256 c0[GEMM_MR - 1], c1[GEMM_MR - 1];
    for (int i = 0; i < r; i++) c0[i] = c1[i] = _mm256_setzero_ps();
    for (int32_t t = 0; t < kc; t++) {
        __m256 b0, b1;
        GEMM_B16(b, bf16, t, b0, b1);
        for (int i = 0; i < r; i++) {
            __m256 av = _mm256_broadcast_ss(a + i * lda + t);
            c0[i] = _mm256_fmadd_ps(av, b0, c0[i]);
            c1[i] = _mm256_fmadd_ps(av, b1, c1[i]);
        }
    }
    for (int i = 0; i < r; i++) {
        float tile[GEMM_NR];
        _mm256_storeu_ps(tile, c0[i]);
        _mm256_storeu_ps(tile + 8, c1[i]);
        float *ci = c + i * ldc;
        for (int32_t q = 0; q < nr; q++) {
            if (first) ci[q] = tile[q] + (bias ? bias[q] : 0.0f);
            else ci[q] += tile[q];
        }
    }
}

/* gemm_micro_rows with r known to the compiler, so that its accumulators live in registers. */
GEMM_INLINE void gemm_leftover_rows_any(const float *a, int64_t lda, int r, const void *b, int bf16, int32_t kc,
                                        float *c, int64_t ldc, int32_t nr, int first, const float *bias) {
    switch (r) {
        case 1: gemm_micro_rows_any(a, lda, 1, b, bf16, kc, c, ldc, nr, first, bias); break;
        case 2: gemm_micro_rows_any(a, lda, 2, b, bf16, kc, c, ldc, nr, first, bias); break;
        case 3: gemm_micro_rows_any(a, lda, 3, b, bf16, kc, c, ldc, nr, first, bias); break;
        case 4: gemm_micro_rows_any(a, lda, 4, b, bf16, kc, c, ldc, nr, first, bias); break;
        default: gemm_micro_rows_any(a, lda, 5, b, bf16, kc, c, ldc, nr, first, bias); break;
    }
}

/* The float-panel and BF16-panel variants the slab loops call. */
static void gemm_micro6(const float *a, int64_t lda, const float *b, int32_t kc, float *c, int64_t ldc, int first,
                        const float *bias) {
    gemm_micro6_any(a, lda, b, 0, kc, c, ldc, first, bias);
}

static void gemm_leftover_rows(const float *a, int64_t lda, int r, const float *b, int32_t kc, float *c, int64_t ldc,
                               int32_t nr, int first, const float *bias) {
    gemm_leftover_rows_any(a, lda, r, b, 0, kc, c, ldc, nr, first, bias);
}

static void gemm_micro6_bf16(const float *a, int64_t lda, const uint16_t *b, int32_t kc, float *c, int64_t ldc,
                             int first, const float *bias) {
    gemm_micro6_any(a, lda, b, 1, kc, c, ldc, first, bias);
}

static void gemm_leftover_rows_bf16(const float *a, int64_t lda, int r, const uint16_t *b, int32_t kc, float *c,
                                    int64_t ldc, int32_t nr, int first, const float *bias) {
    gemm_leftover_rows_any(a, lda, r, b, 1, kc, c, ldc, nr, first, bias);
}

/*
 * The slab loops around a 6 × NR micro-kernel (MICRO6) and the leftover rows (LEFTOVER), as Gemm.slab walks them:
 * blocks of GEMM_MC rows of A, panels of NR columns, partial panels through a tile.
 */
#define GEMM_SLAB_LOOPS(NR, MICRO6, LEFTOVER)                                                                     \
    int32_t panels = (cols + (NR) - 1) / (NR);                                                                    \
    float tile[GEMM_MR * (NR)] = {0};                                                                             \
    for (int32_t ic = 0; ic < n; ic += GEMM_MC) {                                                                 \
        int32_t mc = n - ic < GEMM_MC ? n - ic : GEMM_MC;                                                         \
        for (int32_t p = 0; p < panels; p++) {                                                                    \
            int32_t jp = p * (NR), nr = cols - jp < (NR) ? cols - jp : (NR);                                      \
            __typeof__(slab) b = slab + (int64_t) p * (NR) * kc;                                                     \
            const float *pb = bias ? bias + jp : NULL;                                                            \
            int32_t ir = 0;                                                                                       \
            for (; ir + GEMM_MR <= mc; ir += GEMM_MR) {                                                           \
                const float *ai = a + (int64_t) (ic + ir) * lda;                                                  \
                float *ci = c + (int64_t) (ic + ir) * ldc + jp;                                                   \
                if (nr == (NR)) {                                                                                 \
                    MICRO6(ai, lda, b, kc, ci, ldc, first, pb);                                                   \
                } else {                                                                                          \
                    /* Partial panel: compute into a tile, copy the valid columns (as Gemm.slab does). */         \
                    for (int r = 0; r < GEMM_MR; r++) {                                                           \
                        for (int32_t q = 0; q < nr; q++) tile[r * (NR) + q] = ci[r * ldc + q];                    \
                    }                                                                                             \
                    MICRO6(ai, lda, b, kc, tile, (NR), first, NULL);                                              \
                    for (int r = 0; r < GEMM_MR; r++) {                                                           \
                        for (int32_t q = 0; q < nr; q++) {                                                        \
                            ci[r * ldc + q] = tile[r * (NR) + q] + (first && pb ? pb[q] : 0.0f);                  \
                        }                                                                                         \
                    }                                                                                             \
                }                                                                                                 \
            }                                                                                                     \
            if (ir < mc) {                                                                                        \
                LEFTOVER(a + (int64_t) (ic + ir) * lda, lda, mc - ir, b, kc, c + (int64_t) (ic + ir) * ldc + jp,  \
                         ldc, nr, first, pb);                                                                     \
            }                                                                                                     \
        }                                                                                                         \
    }

/* The slab loops for panels of 16 (the Java GEMM at 8 float lanes). */
void instella_gemm_slab(const float *a, int64_t lda, int32_t n, const float *slab, int32_t kc, int32_t cols,
                        float *c, int64_t ldc, int32_t first, const float *bias) {
    GEMM_SLAB_LOOPS(GEMM_NR, gemm_micro6, gemm_leftover_rows)
}

#ifdef __AVX512F__
/*
 * Panels of 32 (the Java GEMM at 16 float lanes, where the JVM prefers 512-bit vectors): the same kernels with
 * 512-bit registers, 12 accumulators of 16 floats. Every output is still one FMA chain over the depth in order,
 * so the results are bit-identical to Gemm.slab at NR = 32.
 */
#define GEMM_NR32 32

#define BP_WIDEN512(p, b0, b1)                                                                                        \
    do {                                                                                                              \
        __m512i v_ = _mm512_loadu_si512((const void *) (p));                                                         \
        b0 = _mm512_castsi512_ps(_mm512_slli_epi32(v_, 16));                                                          \
        b1 = _mm512_castsi512_ps(_mm512_and_si512(v_, _mm512_set1_epi32((int32_t) 0xFFFF0000)));                      \
    } while (0)

/* GEMM_B16 for panels of 32. */
#define GEMM_B32(b, bf16, t, b0, b1)                                                                                  \
    do {                                                                                                              \
        if (bf16) {                                                                                                   \
            BP_WIDEN512((const uint16_t *) (b) + (int64_t) (t) * GEMM_NR32, b0, b1);                                  \
        } else {                                                                                                      \
            b0 = _mm512_loadu_ps((const float *) (b) + (int64_t) (t) * GEMM_NR32);                                    \
            b1 = _mm512_loadu_ps((const float *) (b) + (int64_t) (t) * GEMM_NR32 + 16);                               \
        }                                                                                                             \
    } while (0)

GEMM_INLINE void gemm_micro6_32_any(const float *a, int64_t lda, const void *b, int bf16, int32_t kc, float *c,
                                    int64_t ldc, int first, const float *bias) {
    __m512 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
    if (first) {
        __m512 z0 = bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();
        __m512 z1 = bias ? _mm512_loadu_ps(bias + 16) : _mm512_setzero_ps();
        c00 = c10 = c20 = c30 = c40 = c50 = z0;
        c01 = c11 = c21 = c31 = c41 = c51 = z1;
    } else {
        c00 = _mm512_loadu_ps(c); c01 = _mm512_loadu_ps(c + 16);
        c10 = _mm512_loadu_ps(c + ldc); c11 = _mm512_loadu_ps(c + ldc + 16);
        c20 = _mm512_loadu_ps(c + 2 * ldc); c21 = _mm512_loadu_ps(c + 2 * ldc + 16);
        c30 = _mm512_loadu_ps(c + 3 * ldc); c31 = _mm512_loadu_ps(c + 3 * ldc + 16);
        c40 = _mm512_loadu_ps(c + 4 * ldc); c41 = _mm512_loadu_ps(c + 4 * ldc + 16);
        c50 = _mm512_loadu_ps(c + 5 * ldc); c51 = _mm512_loadu_ps(c + 5 * ldc + 16);
    }
    const float *a0 = a, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda, *a4 = a3 + lda, *a5 = a4 + lda;
    for (int32_t t = 0; t < kc; t++) {
        __m512 b0, b1, av;
        GEMM_B32(b, bf16, t, b0, b1);
        av = _mm512_set1_ps(a0[t]); c00 = _mm512_fmadd_ps(av, b0, c00); c01 = _mm512_fmadd_ps(av, b1, c01);
        av = _mm512_set1_ps(a1[t]); c10 = _mm512_fmadd_ps(av, b0, c10); c11 = _mm512_fmadd_ps(av, b1, c11);
        av = _mm512_set1_ps(a2[t]); c20 = _mm512_fmadd_ps(av, b0, c20); c21 = _mm512_fmadd_ps(av, b1, c21);
        av = _mm512_set1_ps(a3[t]); c30 = _mm512_fmadd_ps(av, b0, c30); c31 = _mm512_fmadd_ps(av, b1, c31);
        av = _mm512_set1_ps(a4[t]); c40 = _mm512_fmadd_ps(av, b0, c40); c41 = _mm512_fmadd_ps(av, b1, c41);
        av = _mm512_set1_ps(a5[t]); c50 = _mm512_fmadd_ps(av, b0, c50); c51 = _mm512_fmadd_ps(av, b1, c51);
    }
    _mm512_storeu_ps(c, c00); _mm512_storeu_ps(c + 16, c01);
    _mm512_storeu_ps(c + ldc, c10); _mm512_storeu_ps(c + ldc + 16, c11);
    _mm512_storeu_ps(c + 2 * ldc, c20); _mm512_storeu_ps(c + 2 * ldc + 16, c21);
    _mm512_storeu_ps(c + 3 * ldc, c30); _mm512_storeu_ps(c + 3 * ldc + 16, c31);
    _mm512_storeu_ps(c + 4 * ldc, c40); _mm512_storeu_ps(c + 4 * ldc + 16, c41);
    _mm512_storeu_ps(c + 5 * ldc, c50); _mm512_storeu_ps(c + 5 * ldc + 16, c51);
}

GEMM_INLINE void gemm_micro_rows_32_any(const float *a, int64_t lda, int r, const void *b, int bf16, int32_t kc,
                                        float *c, int64_t ldc, int32_t nr, int first, const float *bias) {
    __m512 c0[GEMM_MR - 1], c1[GEMM_MR - 1];
    for (int i = 0; i < r; i++) c0[i] = c1[i] = _mm512_setzero_ps();
    for (int32_t t = 0; t < kc; t++) {
        __m512 b0, b1;
        GEMM_B32(b, bf16, t, b0, b1);
        for (int i = 0; i < r; i++) {
            __m512 av = _mm512_set1_ps(a[i * lda + t]);
            c0[i] = _mm512_fmadd_ps(av, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(av, b1, c1[i]);
        }
    }
    for (int i = 0; i < r; i++) {
        float tile[GEMM_NR32];
        _mm512_storeu_ps(tile, c0[i]);
        _mm512_storeu_ps(tile + 16, c1[i]);
        float *ci = c + i * ldc;
        for (int32_t q = 0; q < nr; q++) {
            if (first) ci[q] = tile[q] + (bias ? bias[q] : 0.0f);
            else ci[q] += tile[q];
        }
    }
}

GEMM_INLINE void gemm_leftover_rows_32_any(const float *a, int64_t lda, int r, const void *b, int bf16, int32_t kc,
                                           float *c, int64_t ldc, int32_t nr, int first, const float *bias) {
    switch (r) {
        case 1: gemm_micro_rows_32_any(a, lda, 1, b, bf16, kc, c, ldc, nr, first, bias); break;
        case 2: gemm_micro_rows_32_any(a, lda, 2, b, bf16, kc, c, ldc, nr, first, bias); break;
        case 3: gemm_micro_rows_32_any(a, lda, 3, b, bf16, kc, c, ldc, nr, first, bias); break;
        case 4: gemm_micro_rows_32_any(a, lda, 4, b, bf16, kc, c, ldc, nr, first, bias); break;
        default: gemm_micro_rows_32_any(a, lda, 5, b, bf16, kc, c, ldc, nr, first, bias); break;
    }
}

static void gemm_micro6_32(const float *a, int64_t lda, const float *b, int32_t kc, float *c, int64_t ldc, int first,
                           const float *bias) {
    gemm_micro6_32_any(a, lda, b, 0, kc, c, ldc, first, bias);
}

static void gemm_leftover_rows_32(const float *a, int64_t lda, int r, const float *b, int32_t kc, float *c,
                                  int64_t ldc, int32_t nr, int first, const float *bias) {
    gemm_leftover_rows_32_any(a, lda, r, b, 0, kc, c, ldc, nr, first, bias);
}

static void gemm_micro6_bf16_32(const float *a, int64_t lda, const uint16_t *b, int32_t kc, float *c, int64_t ldc,
                                int first, const float *bias) {
    gemm_micro6_32_any(a, lda, b, 1, kc, c, ldc, first, bias);
}

static void gemm_leftover_rows_bf16_32(const float *a, int64_t lda, int r, const uint16_t *b, int32_t kc, float *c,
                                       int64_t ldc, int32_t nr, int first, const float *bias) {
    gemm_leftover_rows_32_any(a, lda, r, b, 1, kc, c, ldc, nr, first, bias);
}

void instella_gemm_slab32(const float *a, int64_t lda, int32_t n, const float *slab, int32_t kc, int32_t cols,
                          float *c, int64_t ldc, int32_t first, const float *bias) {
    GEMM_SLAB_LOOPS(GEMM_NR32, gemm_micro6_32, gemm_leftover_rows_32)
}
#endif

/*
 * Packs a BF16 weight matrix W [m, k] for the GEMM (Gemm.pack): rows [j0, j0 + cols) × depth [pc, pc + kc) into panels
 * of nr rows (16 or 32: the Java GEMM's NR, two of its float vectors), slab[p][t][q] = W[j0 + p·nr + q][pc + t]
 * widened to float, zero for rows past cols. kc is a multiple of 8 or the tail is done one value at a time.
 *
 * Why native: the Java packer widens a row into a scratch and stores it into the slab one float at a time (stride
 * NR); here 8 values of 8 rows are widened and transposed in registers (unpack/shuffle/permute) and stored as whole
 * vectors. Packing is a fixed cost per weight, so it matters most for short prompts: at 32 prompt rows the Java
 * packer took as long as the products.
 */
static inline void transpose8_store(__m256 r0, __m256 r1, __m256 r2, __m256 r3, __m256 r4, __m256 r5, __m256 r6, __m256 r7,
                                    float *dst, int64_t stride) {
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst + 0 * stride, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + 1 * stride, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 2 * stride, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 3 * stride, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 4 * stride, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 5 * stride, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 6 * stride, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(dst + 7 * stride, _mm256_permute2f128_ps(u3, u7, 0x31));
}

static inline __m256 bf16x8(const uint16_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *) p)), 16));
}

/*
 * The walk shared by the packers: each panel's groups of 8 rows go whole to pack8 (rows row..row+7, depth
 * pc..pc+kc, written at dst with stride nr), or, for the last partial group, one value at a time through value
 * (zero past the matrix).
 */
typedef void (*pack8_fn)(const uint8_t *w, int64_t k, int64_t row, int32_t pc, int32_t kc, float *dst, int32_t nr);
typedef float (*value_fn)(const uint8_t *w, int64_t k, int64_t row, int64_t col);

static void pack_slab(const uint8_t *w, int64_t k, int32_t j0, int32_t cols, int32_t pc, int32_t kc, float *slab,
                      int32_t nr, pack8_fn pack8, value_fn value) {
    int32_t panels = (cols + nr - 1) / nr;
    for (int32_t p = 0; p < panels; p++) {
        float *base = slab + (int64_t) p * nr * kc;
        for (int32_t half = 0; half < nr; half += 8) {
            int32_t r0 = p * nr + half;
            if (r0 + 8 <= cols) {
                pack8(w, k, j0 + r0, pc, kc, base + half, nr);
                continue;
            }
            for (int q = 0; q < 8; q++) {
                int32_t r = r0 + q;
                for (int32_t t = 0; t < kc; t++) base[(int64_t) t * nr + half + q] = r < cols ? value(w, k, j0 + r, pc + t) : 0.0f;
            }
        }
    }
}

static float bf16_value(const uint8_t *w, int64_t k, int64_t row, int64_t col) {
    uint32_t bits = (uint32_t) ((const uint16_t *) w)[row * k + col] << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static void bf16_pack8(const uint8_t *w, int64_t k, int64_t row0, int32_t pc, int32_t kc, float *dst, int32_t nr) {
    const uint16_t *row = (const uint16_t *) w + row0 * k + pc;
    int32_t t = 0;
    for (; t + 8 <= kc; t += 8) {
        transpose8_store(bf16x8(row + t), bf16x8(row + k + t), bf16x8(row + 2 * k + t), bf16x8(row + 3 * k + t),
                         bf16x8(row + 4 * k + t), bf16x8(row + 5 * k + t), bf16x8(row + 6 * k + t),
                         bf16x8(row + 7 * k + t), dst + (int64_t) t * nr, nr);
    }
    for (; t < kc; t++) {
        for (int q = 0; q < 8; q++) dst[(int64_t) t * nr + q] = bf16_value(w, k, row0 + q, pc + t);
    }
}

void instella_pack_bf16(const uint16_t *w, int64_t k, int32_t j0, int32_t cols, int32_t pc, int32_t kc, float *slab,
                        int32_t nr) {
    pack_slab((const uint8_t *) w, k, j0, cols, pc, kc, slab, nr, bf16_pack8, bf16_value);
}

/* ================================================================================================================
 * BF16 panels for the GEMM (Gemm.linear with BF16 weights): the weights are packed as BF16, not widened to float, and
 * the micro-kernel widens them in registers. Packing is a fixed cost per weight and per prompt; at 32 prompt rows the
 * float packer (load 8 bf16, widen, 8×8 float transpose, store twice the bytes) took ~38% of the product's time on
 * the Zen 5 (C driver, one core). Here the transpose moves 16-bit values (twice as many per shuffle, half the bytes
 * stored) and the next slab's weights are prefetched into L2 while this one is multiplied.
 *
 * Layout (nr = 32 or 16 columns, h = nr / 2): per depth t, nr bf16 values where the 32-bit pair e holds
 * W[col e][t] (low half) and W[col e + h][t] (high half). A 32-bit lane shifted left by 16 is then W[col e] as a
 * float and the lane masked with 0xFFFF0000 is W[col e + h]: the two float vectors of the float panel (columns 0..h-1
 * and h..nr-1) in two integer operations, with no permutes. Every output is the float GEMM's chain (same start, same
 * fma order over t), so the results are bit-identical to Gemm.slab and instella_gemm_slab16/32.
 * ================================================================================================================ */

/* 8×8 transpose of 16-bit values in each 128-bit lane: row i of the input holds values t..t+7 of one weight row. */
#define BP_TRANSPOSE8(T, UNLO16, UNHI16, UNLO32, UNHI32, UNLO64, UNHI64, x, o)                                         \
    do {                                                                                                              \
        T a0 = UNLO16(x[0], x[1]), a1 = UNHI16(x[0], x[1]), a2 = UNLO16(x[2], x[3]), a3 = UNHI16(x[2], x[3]);        \
        T a4 = UNLO16(x[4], x[5]), a5 = UNHI16(x[4], x[5]), a6 = UNLO16(x[6], x[7]), a7 = UNHI16(x[6], x[7]);        \
        T b0 = UNLO32(a0, a2), b1 = UNHI32(a0, a2), b2 = UNLO32(a1, a3), b3 = UNHI32(a1, a3);                        \
        T b4 = UNLO32(a4, a6), b5 = UNHI32(a4, a6), b6 = UNLO32(a5, a7), b7 = UNHI32(a5, a7);                        \
        o[0] = UNLO64(b0, b4); o[1] = UNHI64(b0, b4); o[2] = UNLO64(b1, b5); o[3] = UNHI64(b1, b5);                  \
        o[4] = UNLO64(b2, b6); o[5] = UNHI64(b2, b6); o[6] = UNLO64(b3, b7); o[7] = UNHI64(b3, b7);                  \
    } while (0)

/*
 * One block of 8 rows (row[i]: W row i at depth pc, NULL past the matrix) × kc depths, transposed into dst (the block's
 * first column of a panel of nr; depth t at dst + t·nr).
 */
static inline void bp_block(const uint16_t *const *row, int32_t kc, uint16_t *dst, int32_t nr) {
    int whole = 1;
    for (int i = 0; i < 8; i++) whole &= row[i] != NULL;
    int32_t t = 0;
    if (whole) {
        for (; t + 16 <= kc; t += 16) {
            __m256i x[8], o[8];
            for (int i = 0; i < 8; i++) x[i] = _mm256_loadu_si256((const __m256i *) (row[i] + t));
            BP_TRANSPOSE8(__m256i, _mm256_unpacklo_epi16, _mm256_unpackhi_epi16, _mm256_unpacklo_epi32,
                          _mm256_unpackhi_epi32, _mm256_unpacklo_epi64, _mm256_unpackhi_epi64, x, o);
            for (int j = 0; j < 8; j++) {
                _mm_storeu_si128((__m128i *) (dst + (int64_t) (t + j) * nr), _mm256_castsi256_si128(o[j]));
                _mm_storeu_si128((__m128i *) (dst + (int64_t) (t + 8 + j) * nr), _mm256_extracti128_si256(o[j], 1));
            }
        }
        for (; t + 8 <= kc; t += 8) {
            __m128i x[8], o[8];
            for (int i = 0; i < 8; i++) x[i] = _mm_loadu_si128((const __m128i *) (row[i] + t));
            BP_TRANSPOSE8(__m128i, _mm_unpacklo_epi16, _mm_unpackhi_epi16, _mm_unpacklo_epi32, _mm_unpackhi_epi32,
                          _mm_unpacklo_epi64, _mm_unpackhi_epi64, x, o);
            for (int j = 0; j < 8; j++) _mm_storeu_si128((__m128i *) (dst + (int64_t) (t + j) * nr), o[j]);
        }
    }
    for (; t < kc; t++) {
        for (int i = 0; i < 8; i++) dst[(int64_t) t * nr + i] = row[i] != NULL ? row[i][t] : 0;
    }
}

/* Block blk of panel p takes the rows 4·blk, 4·blk + h, 4·blk + 1, 4·blk + 1 + h, ...: its transpose is in pair order. */
static inline void bp_rows(const uint16_t *w, int64_t k, int32_t j0, int32_t cols, int32_t nr, int32_t p, int32_t blk,
                           const uint16_t **row) {
    for (int i = 0; i < 8; i++) {
        int32_t col = p * nr + 4 * blk + (i >> 1) + (i & 1) * (nr / 2);
        row[i] = col < cols ? w + (int64_t) (j0 + col) * k : NULL;
    }
}

/*
 * slab[p][t][·] for rows [j0, j0 + cols) × depth [pc, pc + kc) of W [m, k] (bf16), panels of nr = 16 or 32 columns,
 * zero for columns past cols. The rows' next kc values (the next slab's) are prefetched into L2.
 */
void instella_pack_bf16_pairs(const uint16_t *w, int64_t k, int32_t j0, int32_t cols, int32_t pc, int32_t kc,
                              uint16_t *slab, int32_t nr) {
    const int32_t panels = (cols + nr - 1) / nr;
    const int64_t next = pc + kc, nextEnd = next + kc < k ? next + kc : k;
    for (int32_t p = 0; p < panels; p++) {
        for (int32_t blk = 0; blk < nr / 8; blk++) {
            const uint16_t *row[8], *at[8];
            bp_rows(w, k, j0, cols, nr, p, blk, row);
            for (int i = 0; i < 8; i++) {
                at[i] = row[i] != NULL ? row[i] + pc : NULL;
                if (row[i] != NULL) {
                    for (int64_t c = next; c < nextEnd; c += 32) _mm_prefetch((const char *) (row[i] + c), _MM_HINT_T1);
                }
            }
            bp_block(at, kc, slab + (int64_t) p * nr * kc + 8 * blk, nr);
        }
    }
}

/* The slab loops over BF16 panels: the float-panel kernels above with their BF16 loads (GEMM_B16, GEMM_B32). */
/* instella_gemm_slab (panels of 16) over a slab from instella_pack_bf16_pairs. */
void instella_gemm_slab_bf16(const float *a, int64_t lda, int32_t n, const uint16_t *slab, int32_t kc, int32_t cols,
                             float *c, int64_t ldc, int32_t first, const float *bias) {
    GEMM_SLAB_LOOPS(GEMM_NR, gemm_micro6_bf16, gemm_leftover_rows_bf16)
}

#ifdef __AVX512F__
/* instella_gemm_slab32 over a slab from instella_pack_bf16_pairs (nr = 32). */
void instella_gemm_slab_bf16_32(const float *a, int64_t lda, int32_t n, const uint16_t *slab, int32_t kc, int32_t cols,
                                float *c, int64_t ldc, int32_t first, const float *bias) {
    GEMM_SLAB_LOOPS(GEMM_NR32, gemm_micro6_bf16_32, gemm_leftover_rows_bf16_32)
}
#endif

/*
 * The same packing for Q8_0 and Q4_0 weights (llama.cpp's blocks, see the top of this file), pc and kc multiples of
 * 32: each block of 8 rows × 32 values is dequantized as Packing.dequantizeQ8/dequantizeQ4 do ((float) q · d and
 * (float) (nibble − 8) · d, the same single roundings) and stored as four transposed 8×8 blocks.
 */
static inline __m256 q8_0x8(const int8_t *q, __m256 d) {
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *) q))), d);
}

/* Values 8·s .. 8·s+7 of a Q4_0 block: low nibbles of bytes 0..15 are values 0..15, high nibbles values 16..31. */
static inline __m256 q4_0x8(const uint8_t *qs, int s, __m256 d) {
    __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *) (qs + 8 * (s & 1))));
    v = s < 2 ? _mm256_and_si256(v, _mm256_set1_epi32(0xF)) : _mm256_srli_epi32(v, 4);
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(v, _mm256_set1_epi32(8))), d);
}

static inline float quant_value(const uint8_t *w, int64_t k, int64_t row, int64_t col, int q4) {
    const int64_t blockBytes = q4 ? 18 : 34;
    const uint8_t *blk = w + row * (k / 32 * blockBytes) + (col / 32) * blockBytes;
    float d = f16_to_f32(blk);
    int i = (int) (col % 32);
    if (!q4) return (float) ((const int8_t *) blk)[2 + i] * d;
    int nib = i < 16 ? (blk[2 + i] & 0xF) : (blk[2 + i - 16] >> 4);
    return (float) (nib - 8) * d;
}

static inline void quant_pack8(const uint8_t *w, int64_t k, int64_t row0, int32_t pc, int32_t kc, float *dst, int32_t nr,
                               int q4) {
    const int64_t blockBytes = q4 ? 18 : 34, rowBytes = k / 32 * blockBytes;
    for (int32_t t0 = 0; t0 < kc; t0 += 32) {
        const uint8_t *blk[8];
        __m256 d[8];
        for (int q = 0; q < 8; q++) {
            blk[q] = w + (row0 + q) * rowBytes + (int64_t) ((pc + t0) / 32) * blockBytes;
            d[q] = _mm256_set1_ps(f16_to_f32(blk[q]));
        }
        for (int s = 0; s < 4; s++) {
            __m256 v[8];
            for (int q = 0; q < 8; q++) v[q] = q4 ? q4_0x8(blk[q] + 2, s, d[q]) : q8_0x8((const int8_t *) blk[q] + 2 + 8 * s, d[q]);
            transpose8_store(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], dst + (int64_t) (t0 + 8 * s) * nr, nr);
        }
    }
}

static float q8_0_value(const uint8_t *w, int64_t k, int64_t row, int64_t col) { return quant_value(w, k, row, col, 0); }
static float q4_0_value(const uint8_t *w, int64_t k, int64_t row, int64_t col) { return quant_value(w, k, row, col, 1); }
static void q8_0_pack8(const uint8_t *w, int64_t k, int64_t row0, int32_t pc, int32_t kc, float *dst, int32_t nr) {
    quant_pack8(w, k, row0, pc, kc, dst, nr, 0);
}
static void q4_0_pack8(const uint8_t *w, int64_t k, int64_t row0, int32_t pc, int32_t kc, float *dst, int32_t nr) {
    quant_pack8(w, k, row0, pc, kc, dst, nr, 1);
}

void instella_pack_q8_0(const uint8_t *w, int64_t k, int32_t j0, int32_t cols, int32_t pc, int32_t kc, float *slab,
                        int32_t nr) {
    pack_slab(w, k, j0, cols, pc, kc, slab, nr, q8_0_pack8, q8_0_value);
}

void instella_pack_q4_0(const uint8_t *w, int64_t k, int32_t j0, int32_t cols, int32_t pc, int32_t kc, float *slab,
                        int32_t nr) {
    pack_slab(w, k, j0, cols, pc, kc, slab, nr, q4_0_pack8, q4_0_value);
}

/* ============================================================================================================
 * Int8 GEMM for Q8_0 / Q4_0 / Q4_0_R8 / Q8_0_R8 weights (quantized prefill and vision tower), and the small-prompt BF16
 * product (1–64 rows, weights read in place). Java twins: Int8Gemm and SmallGemm (io.instella.core.kernels),
 * bit-identical: every output is one float chain over the blocks (or lanes) in the same order.
 * ============================================================================================================
 *
 * Int8 GEMM. Activations come quantized per block of 32 as for the decode kernels (Gemv.QuantizedActivations:
 * int8 xq, scale xd, block sum xs), n rows of k. Weights are read in groups of 8 rows in the Q4_0_R8 layout
 * (32-bit lane r of a 32-byte chunk holds 4 quant bytes of row r), so one vpdpbusd against 4 broadcast activation
 * bytes gives 8 rows' partial sums, one row per lane, and each weight chunk loaded serves I8_R activation rows:
 *   Q4_0_R8  in place;
 *   Q4_0     8 rows repacked into that layout per call (the byte permutation of instella_repack_q4_0_r8);
 *   Q8_0     8 rows transposed per call into 8 chunks per block (lane r = bytes 4c..4c+3 of row r; Q8_0_R8: copied,
 *            it is that layout already), with each row's 128·Σw per block: the activations enter vpdpbusd as
 *            unsigned x + 128 (x ^ 0x80), so Σ w·x = Σ w·(x + 128) − 128·Σ w.
 * Per block and output, the exact int32 sum isum (Q4_0: Σ nibble·x − 8·Σ x) becomes
 *   acc = fma((float) isum, d_w · d_x, acc)
 * in block order from 0, then out = acc (+ bias). Without VNNI (AVX2): Q4_0 sums up to 8 vpmaddubsw results in int16
 * (8 · 2 · 15 · 127 < 2^15) and widens once per block; Q8_0 uses |w| · sign(x, w) per vpmaddubsw (one result per
 * int16, 2 · 127² < 2^15) and widens each. The int32 sums are the same in every build.
 */
#define I8_R 4
#if defined(__AVX512VL__)
#define I8_G 2 /* 32 vector registers: 4 activation rows × 16 weight rows per tile */
#else
#define I8_G 1
#endif
#define I8_Q4_GROUP_BLOCK 144
#define I8_Q8_GROUP_BLOCK 304

#define I8_ALWAYS_INLINE static inline __attribute__((always_inline))

#ifdef INSTELLA_VNNI
#define I8_Q4_ACC(s, u, x) ((s) = dot_u8s8((s), (u), (x)))
#define I8_Q4_FINISH(s) (s)
#else
#define I8_Q4_ACC(s, u, x) ((s) = _mm256_add_epi16((s), _mm256_maddubs_epi16((u), (x))))
#define I8_Q4_FINISH(s) _mm256_madd_epi16((s), _mm256_set1_epi16(1))
#endif

/* 128·Σw per row of one panel block (o + 16, 8 int32) from its 8 chunks (o + 48). */
static void i8_panel_q8_sums(uint8_t *o) {
    __m256i sum = _mm256_setzero_si256();
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    for (int c = 0; c < 8; c++) {
        __m256i ch = _mm256_loadu_si256((const __m256i *) (o + 48 + 32 * c));
        sum = _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, ch), ones16));
    }
    _mm256_storeu_si256((__m256i *) (o + 16), _mm256_slli_epi32(sum, 7));
}

/* Q8_0 rows row0..row0+7 of W [m, k] (rows ≥ m as zeros) → the transposed panel described above. */
static void i8_panel_q8(const uint8_t *w, int64_t k, int64_t m, int64_t row0, uint8_t *dst) {
    const int64_t blocks = k / 32, row_bytes = 34 * blocks;
    for (int64_t b = 0; b < blocks; b++) {
        uint8_t *o = dst + b * I8_Q8_GROUP_BLOCK;
        __m256i v[8];
        for (int r = 0; r < 8; r++) {
            if (row0 + r < m) {
                const uint8_t *p = w + (row0 + r) * row_bytes + 34 * b;
                memcpy(o + 2 * r, p, 2);
                v[r] = _mm256_loadu_si256((const __m256i *) (p + 2));
            } else {
                o[2 * r] = o[2 * r + 1] = 0;
                v[r] = _mm256_setzero_si256();
            }
        }
        transpose8_store(_mm256_castsi256_ps(v[0]), _mm256_castsi256_ps(v[1]), _mm256_castsi256_ps(v[2]),
                         _mm256_castsi256_ps(v[3]), _mm256_castsi256_ps(v[4]), _mm256_castsi256_ps(v[5]),
                         _mm256_castsi256_ps(v[6]), _mm256_castsi256_ps(v[7]), (float *) (o + 48), 8);
        i8_panel_q8_sums(o);
    }
}

/* Rows row0..row0+7 of a Q8_0_R8 matrix (row0 a multiple of 8, all rows present) → the same panel: a copy. */
static void i8_panel_q8_r8(const uint8_t *w, int64_t k, int64_t row0, uint8_t *dst) {
    const int64_t blocks = k / 32;
    const uint8_t *src = w + (row0 / 8) * 272 * blocks;
    for (int64_t b = 0; b < blocks; b++) {
        uint8_t *o = dst + b * I8_Q8_GROUP_BLOCK;
        memcpy(o, src + 272 * b, 16);
        memcpy(o + 48, src + 272 * b + 16, 256);
        i8_panel_q8_sums(o);
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

/*
 * acc[i][g] = Σ_b fma(isum, d_w·d_x, ·) for R activation rows (x: row stride k) against G groups of 8 weight rows
 * (grp[g]: the group's blocks, gb bytes each). q4 picks the layout and the sum; R, G, q4 are constants after inlining.
 */
I8_ALWAYS_INLINE void i8_tile(const uint8_t *const *grp, int64_t blocks, const int8_t *x, int64_t k,
                              const float *xd, const int32_t *xs, __m256 acc[I8_R][I8_G], const int R, const int G,
                              const int q4) {
    const __m256i low = _mm256_set1_epi8(0x0F), flip = _mm256_set1_epi8((char) 0x80);
    const int64_t gb = q4 ? I8_Q4_GROUP_BLOCK : I8_Q8_GROUP_BLOCK;
    for (int i = 0; i < R; i++)
        for (int g = 0; g < G; g++) acc[i][g] = _mm256_setzero_ps();
    for (int64_t b = 0; b < blocks; b++) {
        __m256i s[I8_R][I8_G];
        for (int i = 0; i < R; i++)
            for (int g = 0; g < G; g++) s[i][g] = _mm256_setzero_si256();
        if (q4) {
            for (int c = 0; c < 4; c++) {
                __m256i lo[I8_G], hi[I8_G];
                for (int g = 0; g < G; g++) {
                    __m256i ch = _mm256_loadu_si256((const __m256i *) (grp[g] + b * gb + 16 + 32 * c));
                    lo[g] = _mm256_and_si256(ch, low);
                    hi[g] = _mm256_and_si256(_mm256_srli_epi16(ch, 4), low);
                }
                for (int i = 0; i < R; i++) {
                    const int8_t *xi = x + i * k + 32 * b + 4 * c;
                    __m256i bl = broadcast4(xi), bh = broadcast4(xi + 16);
                    for (int g = 0; g < G; g++) {
                        I8_Q4_ACC(s[i][g], lo[g], bl);
                        I8_Q4_ACC(s[i][g], hi[g], bh);
                    }
                }
            }
        } else {
            for (int c = 0; c < 8; c++) {
                __m256i wv[I8_G];
                for (int g = 0; g < G; g++) wv[g] = _mm256_loadu_si256((const __m256i *) (grp[g] + b * gb + 48 + 32 * c));
#ifdef INSTELLA_VNNI
                for (int i = 0; i < R; i++) {
                    __m256i bx = _mm256_xor_si256(broadcast4(x + i * k + 32 * b + 4 * c), flip);
                    for (int g = 0; g < G; g++) s[i][g] = dot_u8s8(s[i][g], bx, wv[g]);
                }
#else
                (void) flip;
                __m256i aw[I8_G];
                for (int g = 0; g < G; g++) aw[g] = _mm256_sign_epi8(wv[g], wv[g]);
                for (int i = 0; i < R; i++) {
                    __m256i bx = broadcast4(x + i * k + 32 * b + 4 * c);
                    for (int g = 0; g < G; g++) {
                        __m256i p = _mm256_maddubs_epi16(aw[g], _mm256_sign_epi8(bx, wv[g]));
                        s[i][g] = _mm256_add_epi32(s[i][g], _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
                    }
                }
#endif
            }
        }
        __m256 dw[I8_G];
        __m256i corr[I8_G];
        for (int g = 0; g < G; g++) {
            dw[g] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (grp[g] + b * gb)));
#ifdef INSTELLA_VNNI
            corr[g] = q4 ? _mm256_setzero_si256() : _mm256_loadu_si256((const __m256i *) (grp[g] + b * gb + 16));
#else
            corr[g] = _mm256_setzero_si256(); /* Q8_0 without VNNI multiplies signed values directly */
#endif
        }
        for (int i = 0; i < R; i++) {
            __m256 dx = _mm256_set1_ps(xd[i * blocks + b]);
            __m256i c8 = _mm256_set1_epi32(8 * xs[i * blocks + b]);
            for (int g = 0; g < G; g++) {
                __m256i isum = q4 ? _mm256_sub_epi32(I8_Q4_FINISH(s[i][g]), c8) : _mm256_sub_epi32(s[i][g], corr[g]);
                acc[i][g] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(dw[g], dx), acc[i][g]);
            }
        }
    }
}

/* Stores R × G accumulators: out[i*m + row0 + 8g + r] for rows < m, plus the bias. */
I8_ALWAYS_INLINE void i8_store(__m256 acc[I8_R][I8_G], int R, int G, int64_t row0, int64_t m, const float *bias,
                               float *out) {
    for (int g = 0; g < G; g++) {
        int64_t r0 = row0 + 8 * g;
        int rows = r0 >= m ? 0 : (m - r0 >= 8 ? 8 : (int) (m - r0));
        if (rows == 0) continue;
        __m256 bv = _mm256_setzero_ps();
        if (bias) {
            float t[8] = {0};
            memcpy(t, bias + r0, 4 * (size_t) rows);
            bv = _mm256_loadu_ps(t);
        }
        for (int i = 0; i < R; i++) {
            __m256 v = bias ? _mm256_add_ps(acc[i][g], bv) : acc[i][g];
            float *o = out + i * m + r0;
            if (rows == 8) {
                _mm256_storeu_ps(o, v);
            } else {
                float t[8];
                _mm256_storeu_ps(t, v);
                memcpy(o, t, 4 * (size_t) rows);
            }
        }
    }
}

#define I8_RUN(R, G, Q4)                                                                                              \
    do {                                                                                                              \
        __m256 acc[I8_R][I8_G];                                                                                       \
        i8_tile(grp, blocks, xq + i0 * k, k, xd + i0 * blocks, xs + i0 * blocks, acc, R, G, Q4);                    \
        i8_store(acc, R, G, row0, m, bias, out + i0 * m);                                                             \
    } while (0)

/* All n activation rows against the groups in grp (G of them, the first at weight row row0). */
static void i8_rows(const uint8_t *const *grp, int G, int q4, int64_t row0, int64_t k, int64_t m, const int8_t *xq,
                    const float *xd, const int32_t *xs, int32_t n, const float *bias, float *out) {
    const int64_t blocks = k / 32;
    (void) G;
    for (int32_t i0 = 0; i0 < n; i0 += I8_R) {
        int r = n - i0 < I8_R ? n - i0 : I8_R;
#if I8_G == 2
        if (G == 2) {
            if (q4) {
                switch (r) { case 4: I8_RUN(4, 2, 1); break; case 3: I8_RUN(3, 2, 1); break;
                             case 2: I8_RUN(2, 2, 1); break; default: I8_RUN(1, 2, 1); }
            } else {
                switch (r) { case 4: I8_RUN(4, 2, 0); break; case 3: I8_RUN(3, 2, 0); break;
                             case 2: I8_RUN(2, 2, 0); break; default: I8_RUN(1, 2, 0); }
            }
            continue;
        }
#endif
        if (q4) {
            switch (r) { case 4: I8_RUN(4, 1, 1); break; case 3: I8_RUN(3, 1, 1); break;
                         case 2: I8_RUN(2, 1, 1); break; default: I8_RUN(1, 1, 1); }
        } else {
            switch (r) { case 4: I8_RUN(4, 1, 0); break; case 3: I8_RUN(3, 1, 0); break;
                         case 2: I8_RUN(2, 1, 0); break; default: I8_RUN(1, 1, 0); }
        }
    }
}

/*
 * out[i*m + j] = W[j]·x_i (+ bias[j]) for i < n and the weight rows of units [u0, u1) (16 rows each: rows 16·u0 ..
 * min(m, 16·u1)) of W [m, k], type 0 = Q8_0, 1 = Q4_0, 2 = Q4_0_R8, 3 = Q8_0_R8 (m a multiple of 8 for 2 and 3).
 * scratch: at least max(I8_PANEL_BYTES, 2 · (k/32) · 304) bytes (the per-call panels of Q8_0, Q4_0 and Q8_0_R8:
 * the latter copied, with the sums of 128·w added), unused for Q4_0_R8.
 * Units go in chunks whose panels fit I8_PANEL_BYTES, and each chunk meets the activations I8_MC rows at a time, so
 * those rows stay in L2 while the chunk's units use them (one unit at a time over all rows re-read the whole
 * activation matrix from L3 per unit).
 */
#define I8_PANEL_BYTES (256 * 1024)
#define I8_MC 64

void instella_int8_gemm(const uint8_t *w, int32_t type, int64_t k, int64_t m, int32_t u0, int32_t u1,
                        const int8_t *xq, const float *xd, const int32_t *xs, int32_t n, const float *bias,
                        float *out, uint8_t *scratch) {
    const int64_t blocks = k / 32;
    const int q4 = type == 1 || type == 2;
    const int64_t gb = q4 ? I8_Q4_GROUP_BLOCK : I8_Q8_GROUP_BLOCK, unit_bytes = 2 * gb * blocks;
    const int32_t chunk = unit_bytes >= I8_PANEL_BYTES ? 1 : (int32_t) (I8_PANEL_BYTES / unit_bytes);
    for (int32_t uc = u0; uc < u1; uc += chunk) {
        const int32_t ue = u1 - uc < chunk ? u1 : uc + chunk;
        for (int32_t u = uc; u < ue && type != 2; u++) {
            for (int g = 0; g < 2; g++) {
                int64_t row0 = 16 * (int64_t) u + 8 * g;
                if (row0 >= m) break;
                uint8_t *dst = scratch + (u - uc) * unit_bytes + g * gb * blocks;
                if (type == 0) i8_panel_q8(w, k, m, row0, dst);
                else if (type == 3) i8_panel_q8_r8(w, k, row0, dst);
                else i8_panel_q4(w, k, m, row0, dst);
            }
        }
        for (int32_t i0 = 0; i0 < n; i0 += I8_MC) {
            const int32_t rows = n - i0 < I8_MC ? n - i0 : I8_MC;
            const int8_t *x = xq + (int64_t) i0 * k;
            const float *dx = xd + (int64_t) i0 * blocks;
            const int32_t *sx = xs + (int64_t) i0 * blocks;
            float *o = out + (int64_t) i0 * m;
            for (int32_t u = uc; u < ue; u++) {
                const uint8_t *grp[2];
                int groups = 0;
                for (int g = 0; g < 2; g++) {
                    int64_t row0 = 16 * (int64_t) u + 8 * g;
                    if (row0 >= m) break;
                    grp[g] = type == 2 ? w + (row0 / 8) * gb * blocks : scratch + (u - uc) * unit_bytes + g * gb * blocks;
                    groups++;
                }
                int64_t row0 = 16 * (int64_t) u;
                if (I8_G == 2 && groups == 2) {
                    i8_rows(grp, 2, q4, row0, k, m, x, dx, sx, rows, bias, o);
                } else {
                    for (int g = 0; g < groups; g++) i8_rows(grp + g, 1, q4, row0 + 8 * g, k, m, x, dx, sx, rows, bias, o);
                }
            }
        }
    }
}

/*
 * Small prompts, BF16 weights read in place: out[i*m + j] = W[j]·x_i (+ bias[j]) for rows j in [j0, j1) and i < n,
 * each weight vector loaded and widened once for SG_R activation rows. x comes split even/odd per 2·lanes values
 * (Gemv.splitEvenOdd with lanes = 8 or 16; row stride ldx). Per output: lanes partial sums, per 2·lanes values
 * acc = fma(even, x_even, acc) then fma(odd, x_odd, acc); the lanes added in order from lane 0 (VectorMath.sumLanes);
 * the tail past the last whole 2·lanes values in order with fma; then + bias. SmallGemm is the Java twin.
 *
 * Blocking (measured: rows 4 KB apart — k = 2048 bf16 weights, x split at 8 KB strides — share L1 sets, so the tile's
 * weight rows and x rows evicted each other and the loop ran at ~90 GFLOP/s on one core whatever the tile): x rows
 * padded apart by the caller, SG_JB weight rows at a time, depth in chunks of SG_KC values; per chunk, each tile of SG_R activation
 * rows (x: SG_R · SG_KC floats, L1) meets all SG_JB rows' chunk (SG_JB · SG_KC bf16, L1), so x comes from L2 once
 * per SG_JB weight rows rather than once per tile. The partial sums (lanes floats per output) wait in scratch
 * between chunks: stored and reloaded exactly, so each output is still one chain in order.
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
 * Keeps a loaded vector in a register: without it gcc folds the x loads into every FMA that reads them (one load per
 * FMA, J times per x vector) and the loop ran load-bound at ~85 GFLOP/s on one core.
 */
#define SG_IN_REGISTER(v) __asm__("" : "+v"(v))

/* Partial sums of (row j + a, activation row i) live at acc + (a · n + i) · lanes. */
#define SG_TILE(NAME, VEC, LANES, ZERO, LOADPS, STOREPS, FMA, LOADW, EVEN, ODD)                                       \
    I8_ALWAYS_INLINE void NAME(const uint16_t *w, int64_t k, int64_t j, const float *xs, int64_t c0, int64_t c1,     \
                               int64_t ldx, float *acc, int32_t n, int first, const int J, const int R) {                          \
        VEC a[4][SG_R];                                                                                               \
        for (int r = 0; r < J; r++)                                                                                   \
            for (int i = 0; i < R; i++) a[r][i] = first ? ZERO() : LOADPS(acc + ((int64_t) r * n + i) * LANES);       \
        for (int64_t c = c0; c < c1; c += 2 * LANES) {                                                                \
            VEC xe[SG_R], xo[SG_R];                                                                                   \
            for (int i = 0; i < R; i++) {                                                                             \
                xe[i] = LOADPS(xs + i * ldx + c);                                                                     \
                xo[i] = LOADPS(xs + i * ldx + c + LANES);                                                             \
                SG_IN_REGISTER(xe[i]);                                                                                \
                SG_IN_REGISTER(xo[i]);                                                                                \
            }                                                                                                         \
            for (int r = 0; r < J; r++) {                                                                             \
                VEC e, o;                                                                                             \
                LOADW(w + (j + r) * k + c, e, o);                                                                     \
                for (int i = 0; i < R; i++) {                                                                         \
                    a[r][i] = FMA(e, xe[i], a[r][i]);                                                                 \
                    a[r][i] = FMA(o, xo[i], a[r][i]);                                                                 \
                }                                                                                                     \
            }                                                                                                         \
        }                                                                                                             \
        for (int r = 0; r < J; r++)                                                                                   \
            for (int i = 0; i < R; i++) STOREPS(acc + ((int64_t) r * n + i) * LANES, a[r][i]);                        \
    }

#define SG_LOADW8(p, e, o)                                                                                            \
    do {                                                                                                              \
        __m256i wv_ = _mm256_loadu_si256((const __m256i *) (p));                                                     \
        SG_IN_REGISTER(wv_);                                                                                          \
        e = bf16_even(wv_);                                                                                           \
        o = bf16_odd(wv_);                                                                                            \
    } while (0)
SG_TILE(sg_tile8, __m256, 8, _mm256_setzero_ps, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_fmadd_ps, SG_LOADW8, , )

#ifdef __AVX512F__
#define SG_LOADW16(p, e, o)                                                                                           \
    do {                                                                                                              \
        __m512i wv_ = _mm512_loadu_si512((const void *) (p));                                                        \
        SG_IN_REGISTER(wv_);                                                                                          \
        e = _mm512_castsi512_ps(_mm512_slli_epi32(wv_, 16));                                                          \
        o = _mm512_castsi512_ps(_mm512_and_si512(wv_, _mm512_set1_epi32((int32_t) 0xFFFF0000)));                      \
    } while (0)
SG_TILE(sg_tile16, __m512, 16, _mm512_setzero_ps, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_fmadd_ps, SG_LOADW16, , )
#endif

#define SG_CALL(TILE, JJ)                                                                                             \
    switch (r) {                                                                                                      \
        case 4: TILE(w, k, j, x0, c0, c1, ldx, ac, n, first, JJ, 4); break;                                                \
        case 3: TILE(w, k, j, x0, c0, c1, ldx, ac, n, first, JJ, 3); break;                                                \
        case 2: TILE(w, k, j, x0, c0, c1, ldx, ac, n, first, JJ, 2); break;                                                \
        default: TILE(w, k, j, x0, c0, c1, ldx, ac, n, first, JJ, 1);                                                      \
    }

#define SG_BLOCKS(TILE, JMAX, LANES)                                                                                  \
    do {                                                                                                              \
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
                        if (je - j >= JMAX) {                                                                         \
                            SG_CALL(TILE, JMAX)                                                                       \
                            j += JMAX;                                                                                \
                        } else {                                                                                      \
                            SG_CALL(TILE, 1)                                                                          \
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
 * lanes = 8 (every build) or 16 (the AVX-512 builds): the Java kernels' float vector length; ldx: the row stride of xs
 * (k plus a pad: rows 4 KB apart would all fall in the same L1 sets). scratch: SG_JB · n · lanes floats.
 */
void instella_bf16_small(const uint16_t *w, int64_t k, int64_t m, int32_t j0, int32_t j1, const float *xs,
                         int64_t ldx, int32_t n, int32_t lanes, const float *bias, float *out, float *scratch) {
    (void) lanes;
#ifdef __AVX512F__
    if (lanes == 16) {
        SG_BLOCKS(sg_tile16, 4, 16);
        return;
    }
#endif
    SG_BLOCKS(sg_tile8, 2, 8);
}

/* Lets the loader check that it has the library it expects. */
int32_t instella_kernels_version(void) { return 10; }

/* ================================================================================================================
 * Opt-in BF16 compute (vdpbf16ps, AVX-512 BF16): only called when -Dinstella.bf16dot=true / INSTELLA_BF16_DOT=1 asks
 * for it (Bf16Dot.java) and the CPU has avx512_bf16; never at the default, which stays bit-identical to the float
 * kernels above. Activations arrive already rounded to BF16 (round to nearest even, as torch rounds, done in Java)
 * and each vdpbf16ps adds two exact BF16 products per float lane: x·W in half the instructions of the float GEMM
 * (which widens W to float and uses one FMA per product), at the cost of rounding x to 8 significant bits.
 *
 * Compiled into the AVX-512 builds with a target pragma (gcc >= 10 knows avx512bf16), so no extra build is needed:
 * the CPU flag is checked at run time before these symbols are looked up.
 * ================================================================================================================ */
#if defined(__AVX512F__) && defined(__AVX512VL__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 10
#pragma GCC push_options
#pragma GCC target("avx512bf16")

/* Panel width of the BF16 GEMM: 32 output columns (two zmm of floats), depth in pairs. */
#define BF16DOT_NR 32
#define BF16DOT_MR 6
#define BF16DOT_MC 48

static inline __m512i bcast_pair(const uint16_t *p) {
    int32_t t;
    memcpy(&t, p, 4);
    return _mm512_set1_epi32(t);
}

/*
 * C[r × nr] (+)= A[r × 2kp] · B for one panel: B holds kp depth pairs of BF16DOT_NR columns (slab[t][q] = the 32-bit
 * pair W[q][2t], W[q][2t+1]), A rows are BF16 (row stride lda). Partial panels (nr < 32) use masked loads/stores.
 */
static inline void bf16dot_tile(const uint16_t *a, int64_t lda, int r, const uint32_t *b, int32_t kp, float *c,
                                int64_t ldc, int32_t nr, int first, const float *bias) {
    __mmask16 m0 = nr >= 16 ? (__mmask16) 0xFFFF : (__mmask16) ((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? (__mmask16) 0xFFFF : nr <= 16 ? 0 : (__mmask16) ((1u << (nr - 16)) - 1);
    __m512 c0[BF16DOT_MR], c1[BF16DOT_MR];
    for (int i = 0; i < r; i++) {
        if (first) {
            c0[i] = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
            c1[i] = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
        } else {
            c0[i] = _mm512_maskz_loadu_ps(m0, c + i * ldc);
            c1[i] = _mm512_maskz_loadu_ps(m1, c + i * ldc + 16);
        }
    }
    for (int32_t t = 0; t < kp; t++) {
        __m512bh b0 = (__m512bh) _mm512_loadu_si512(b + (int64_t) t * BF16DOT_NR);
        __m512bh b1 = (__m512bh) _mm512_loadu_si512(b + (int64_t) t * BF16DOT_NR + 16);
        for (int i = 0; i < r; i++) {
            __m512bh av = (__m512bh) bcast_pair(a + i * lda + 2 * t);
            c0[i] = _mm512_dpbf16_ps(c0[i], av, b0);
            c1[i] = _mm512_dpbf16_ps(c1[i], av, b1);
        }
    }
    for (int i = 0; i < r; i++) {
        _mm512_mask_storeu_ps(c + i * ldc, m0, c0[i]);
        _mm512_mask_storeu_ps(c + i * ldc + 16, m1, c1[i]);
    }
}

/* bf16dot_tile with r known to the compiler, so that its accumulators stay in registers. */
static void bf16dot_rows_tile(const uint16_t *a, int64_t lda, int r, const uint32_t *b, int32_t kp, float *c,
                              int64_t ldc, int32_t nr, int first, const float *bias) {
    switch (r) {
        case 1: bf16dot_tile(a, lda, 1, b, kp, c, ldc, nr, first, bias); break;
        case 2: bf16dot_tile(a, lda, 2, b, kp, c, ldc, nr, first, bias); break;
        case 3: bf16dot_tile(a, lda, 3, b, kp, c, ldc, nr, first, bias); break;
        case 4: bf16dot_tile(a, lda, 4, b, kp, c, ldc, nr, first, bias); break;
        case 5: bf16dot_tile(a, lda, 5, b, kp, c, ldc, nr, first, bias); break;
        default: bf16dot_tile(a, lda, 6, b, kp, c, ldc, nr, first, bias); break;
    }
}

/*
 * C[n × cols] (+)= A[n × kc] · slab for one packed slab of the BF16 GEMM (Bf16Dot.gemm): a points at A[0][pc] in
 * BF16 (row stride lda), slab from instella_bf16dot_pack, c at C[0][j0] (row stride ldc), bias at bias[j0] or NULL;
 * kc even. Blocks of 48 rows of A, panels of 32 columns, 6-row tiles (12 zmm accumulators), then the leftover rows.
 */
void instella_bf16dot_gemm_slab(const uint16_t *a, int64_t lda, int32_t n, const uint32_t *slab, int32_t kc,
                                int32_t cols, float *c, int64_t ldc, int32_t first, const float *bias) {
    int32_t panels = (cols + BF16DOT_NR - 1) / BF16DOT_NR, kp = kc / 2;
    for (int32_t ic = 0; ic < n; ic += BF16DOT_MC) {
        int32_t mc = n - ic < BF16DOT_MC ? n - ic : BF16DOT_MC;
        for (int32_t p = 0; p < panels; p++) {
            int32_t jp = p * BF16DOT_NR, nr = cols - jp < BF16DOT_NR ? cols - jp : BF16DOT_NR;
            const uint32_t *b = slab + (int64_t) p * BF16DOT_NR * kp;
            const float *pb = bias ? bias + jp : NULL;
            for (int32_t ir = 0; ir < mc; ir += BF16DOT_MR) {
                int r = mc - ir < BF16DOT_MR ? mc - ir : BF16DOT_MR;
                bf16dot_rows_tile(a + (int64_t) (ic + ir) * lda, lda, r, b, kp, c + (int64_t) (ic + ir) * ldc + jp, ldc,
                                  nr, first, pb);
            }
        }
    }
}

/*
 * Packs BF16 weight rows [j0, j0 + cols) × depth [pc, pc + kc) of W [m, k] (kc even) into panels of 32 rows, depth in
 * pairs: slab[p][t][q] = the 32 bits holding W[j0 + 32p + q][pc + 2t] (low half) and [pc + 2t + 1] (high half), zero
 * past the last row. Blocks of 8 rows × 8 pairs are one 8×8 transpose of 32-bit lanes (transpose8_store).
 */
void instella_bf16dot_pack(const uint16_t *w, int64_t k, int32_t j0, int32_t cols, int32_t pc, int32_t kc,
                           uint32_t *slab) {
    int32_t panels = (cols + BF16DOT_NR - 1) / BF16DOT_NR, kp = kc / 2;
    for (int32_t p = 0; p < panels; p++) {
        uint32_t *base = slab + (int64_t) p * BF16DOT_NR * kp;
        for (int32_t g = 0; g < BF16DOT_NR; g += 8) {
            int32_t r0 = p * BF16DOT_NR + g;
            if (r0 + 8 <= cols) {
                const uint16_t *row = w + (int64_t) (j0 + r0) * k + pc;
                int32_t t = 0;
                for (; t + 8 <= kp; t += 8) {
                    const uint16_t *s = row + 2 * t;
                    transpose8_store(_mm256_loadu_ps((const float *) s), _mm256_loadu_ps((const float *) (s + k)),
                                     _mm256_loadu_ps((const float *) (s + 2 * k)), _mm256_loadu_ps((const float *) (s + 3 * k)),
                                     _mm256_loadu_ps((const float *) (s + 4 * k)), _mm256_loadu_ps((const float *) (s + 5 * k)),
                                     _mm256_loadu_ps((const float *) (s + 6 * k)), _mm256_loadu_ps((const float *) (s + 7 * k)),
                                     (float *) (base + (int64_t) t * BF16DOT_NR + g), BF16DOT_NR);
                }
                for (; t < kp; t++) {
                    for (int q = 0; q < 8; q++) memcpy(base + (int64_t) t * BF16DOT_NR + g + q, row + q * k + 2 * t, 4);
                }
            } else {
                for (int q = 0; q < 8; q++) {
                    int32_t r = r0 + q;
                    const uint16_t *row = w + (int64_t) (j0 + r) * k + pc;
                    for (int32_t t = 0; t < kp; t++) {
                        uint32_t v = 0;
                        if (r < cols) memcpy(&v, row + 2 * t, 4);
                        base[(int64_t) t * BF16DOT_NR + g + q] = v;
                    }
                }
            }
        }
    }
}

/*
 * out[i*m + j] = W[j]·x_i (+ bias[j]) for rows [j0, j1) of a BF16 matrix W [m, k] and n tokens of BF16 activations
 * xb (k values each, k a multiple of 64): 256-bit vdpbf16ps straight on the stored weights (two values per lane, in
 * storage order: no split of x, no widening), four accumulators. Not used for decode by MatMul: decode is
 * memory-bound and this measured 0.91-1.04x of instella_bf16_rows on the model's shapes (Bf16Dot).
 */
void instella_bf16dot_rows(const uint16_t *w, int64_t k, int64_t m, int32_t j0, int32_t j1, const uint16_t *xb,
                           int32_t n, const float *bias, float *out) {
    for (int32_t j = j0; j < j1; j++) {
        const uint16_t *r = w + (int64_t) j * k;
        for (int32_t i = 0; i < n; i++) {
            const uint16_t *x = xb + (int64_t) i * k;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int64_t c = 0; c < k; c += 64) {
                a0 = _mm256_dpbf16_ps(a0, (__m256bh) _mm256_loadu_si256((const __m256i *) (r + c)),
                                      (__m256bh) _mm256_loadu_si256((const __m256i *) (x + c)));
                a1 = _mm256_dpbf16_ps(a1, (__m256bh) _mm256_loadu_si256((const __m256i *) (r + c + 16)),
                                      (__m256bh) _mm256_loadu_si256((const __m256i *) (x + c + 16)));
                a2 = _mm256_dpbf16_ps(a2, (__m256bh) _mm256_loadu_si256((const __m256i *) (r + c + 32)),
                                      (__m256bh) _mm256_loadu_si256((const __m256i *) (x + c + 32)));
                a3 = _mm256_dpbf16_ps(a3, (__m256bh) _mm256_loadu_si256((const __m256i *) (r + c + 48)),
                                      (__m256bh) _mm256_loadu_si256((const __m256i *) (x + c + 48)));
            }
            out[i * m + j] = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3))) + (bias ? bias[j] : 0.0f);
        }
    }
}

#pragma GCC pop_options
#endif
