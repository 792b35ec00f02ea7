/*
 * Checks the native kernels of one build against scalar C references: compiled with the kernel source it tests
 * (instella_kernels_aarch64.c under qemu-aarch64, or instella_kernels.c on x86-64) by Aarch64KernelsTest.
 *   - Q8_0/Q4_0/Q4_0_R8/Q8_0_R8 rows, BF16 rows, attention: within float rounding of the exact (double) result or
 *     of the plain Q8_0/Q4_0 kernel; the R8 repacks: byte permutations, Q8_0_R8's against a reference;
 *   - GEMM slab loops and packers: bit-identical to the references, which follow Gemm.slab / Gemm.pack step by step
 *     (fmaf is the correctly rounded fused multiply-add, as FloatVector.fma);
 *   - int8 GEMM (Q8_0, Q4_0, Q4_0_R8, Q8_0_R8) and small-prompt BF16 product (4 and 8 lanes on aarch64, 8 on x86-64 with AVX2):
 *     bit-identical to references that follow Int8Gemm.rows / SmallGemm.rows step by step; 1–17 activation rows,
 *     1–5 blocks and more, depth tails, bias or none, sub-ranges of units and rows;
 *   - with file arguments: the cases PrefillTwinCases wrote (inputs and the Java twins' own outputs), bit-identical.
 * Prints "checksum <hex>": a hash of the slab (panels of 16), packer, int8 GEMM and 8-lane small-prompt outputs on
 * fixed inputs, the same on every architecture when the kernels are bit-identical to the Java loops. Exit status 1 on
 * any mismatch.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void instella_q4_0_rows(const uint8_t *w, int64_t k, int64_t m, int32_t j0, int32_t j1, const int8_t *xq, const float *xd,
                        const int32_t *xs, int32_t n, const float *bias, float *out);
void instella_q8_0_rows(const uint8_t *w, int64_t k, int64_t m, int32_t j0, int32_t j1, const int8_t *xq, const float *xd,
                        int32_t n, const float *bias, float *out);
void instella_q4_0_r8_rows(const uint8_t *w, int64_t k, int64_t m, int32_t g0, int32_t g1, const int8_t *xq,
                           const float *xd, const int32_t *xs, int32_t n, const float *bias, float *out);
void instella_repack_q4_0_r8(const uint8_t *src, uint8_t *dst, int64_t k, int32_t g0, int32_t g1);
void instella_bf16_rows(const uint16_t *w, int64_t k, int32_t j0, int32_t j1, const float *xs, const float *bias, float *out);
void instella_attend_f32(const float *q, const float *k, const float *v, int32_t len, int32_t hd, float scale, float *scores, float *out);
void instella_attend_f16(const float *q, const uint16_t *k, const uint16_t *v, int32_t len, int32_t hd, float scale, float *scores, float *out);
void instella_gemm_slab(const float *a, int64_t lda, int32_t n, const float *slab, int32_t kc, int32_t cols, float *c,
                        int64_t ldc, int32_t first, const float *bias);
#ifdef __aarch64__
void instella_gemm_slab8(const float *a, int64_t lda, int32_t n, const float *slab, int32_t kc, int32_t cols, float *c,
                         int64_t ldc, int32_t first, const float *bias);
#endif
void instella_pack_bf16(const uint16_t *w, int64_t k, int32_t j0, int32_t cols, int32_t pc, int32_t kc, float *slab, int32_t nr);
void instella_pack_q8_0(const uint8_t *w, int64_t k, int32_t j0, int32_t cols, int32_t pc, int32_t kc, float *slab, int32_t nr);
void instella_pack_q4_0(const uint8_t *w, int64_t k, int32_t j0, int32_t cols, int32_t pc, int32_t kc, float *slab, int32_t nr);
int32_t instella_kernels_version(void);
void instella_int8_gemm(const uint8_t *w, int32_t type, int64_t k, int64_t m, int32_t u0, int32_t u1, const int8_t *xq,
                        const float *xd, const int32_t *xs, int32_t n, const float *bias, float *out, uint8_t *scratch);
void instella_bf16_small(const uint16_t *w, int64_t k, int64_t m, int32_t j0, int32_t j1, const float *xs, int64_t ldx,
                         int32_t n, int32_t lanes, const float *bias, float *out, float *scratch);

/* Q8_0_R8 (Q8_0 rows interleaved by eight): its repack, decode product and int8 GEMM type 3. */
void instella_repack_q8_0_r8(const uint8_t *src, uint8_t *dst, int64_t k, int32_t g0, int32_t g1);
void instella_q8_0_r8_rows(const uint8_t *w, int64_t k, int64_t m, int32_t g0, int32_t g1, const int8_t *xq,
                           const float *xd, int32_t n, const float *bias, float *out);

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next32(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (uint32_t) (rng >> 16);
}
static float uniform(void) { return (float) ((next32() & 0xFFFFFF) / 8388608.0 - 1.0); }

static int failures = 0, checks = 0;
static uint64_t hash = 1469598103934665603ull;
static void hash_bytes(const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) { hash ^= b[i]; hash *= 1099511628211ull; }
}

static void close_to(const char *what, int i, double got, double want, double tol) {
    checks++;
    if (!(fabs(got - want) <= tol)) {
        if (failures++ < 20) fprintf(stderr, "FAIL %s [%d]: got %.9g want %.9g (tol %.3g)\n", what, i, got, want, tol);
    }
}

static void same_bits(const char *what, const float *got, const float *want, size_t n) {
    checks++;
    if (memcmp(got, want, n * sizeof(float)) != 0) {
        for (size_t i = 0; i < n; i++) {
            if (memcmp(got + i, want + i, 4) != 0) {
                if (failures++ < 20) fprintf(stderr, "FAIL %s: element %zu is %.9g, want %.9g (bit-identical)\n", what, i, got[i], want[i]);
                return;
            }
        }
    }
}

/* IEEE half → float for the normal halves made here. */
static float half(uint16_t h) {
    int e = (h >> 10) & 0x1F, m = h & 0x3FF;
    float v = ldexpf(1.0f + m / 1024.0f, e - 15);
    return (h & 0x8000) ? -v : v;
}
static uint16_t random_half(void) { return (uint16_t) (((next32() & 1) << 15) | ((8 + next32() % 6) << 10) | (next32() & 0x3FF)); }

static float bf16f(uint16_t b) { uint32_t u = (uint32_t) b << 16; float f; memcpy(&f, &u, 4); return f; }

/* Random Q8_0 (q4 = 0) or Q4_0 (q4 = 1) matrix [m, k]. */
static uint8_t *random_quant(int m, int k, int q4) {
    int bb = q4 ? 18 : 34;
    uint8_t *w = malloc((size_t) m * (k / 32) * bb);
    for (int b = 0; b < m * (k / 32); b++) {
        uint16_t d = random_half();
        memcpy(w + (size_t) b * bb, &d, 2);
        for (int i = 2; i < bb; i++) w[(size_t) b * bb + i] = q4 ? (uint8_t) next32() : (uint8_t) (int8_t) ((int) (next32() % 255) - 127);
    }
    return w;
}

/* The value at [row][col] of a quantized matrix (Packing's dequantisation: one rounding). */
static float quant_at(const uint8_t *w, int k, int row, int col, int q4) {
    int bb = q4 ? 18 : 34;
    const uint8_t *blk = w + ((size_t) row * (k / 32) + col / 32) * bb;
    uint16_t d;
    memcpy(&d, blk, 2);
    int i = col % 32;
    if (!q4) return (float) (int8_t) blk[2 + i] * half(d);
    int nib = i < 16 ? (blk[2 + i] & 0xF) : (blk[2 + i - 16] >> 4);
    return (float) (nib - 8) * half(d);
}

static void test_quant_rows(int q4, int m, int k, int n, int with_bias) {
    uint8_t *w = random_quant(m, k, q4);
    int blocks = k / 32;
    int8_t *xq = malloc((size_t) n * k);
    float *xd = malloc(sizeof(float) * n * blocks), *bias = with_bias ? malloc(sizeof(float) * m) : NULL;
    int32_t *xs = malloc(sizeof(int32_t) * n * blocks);
    for (int i = 0; i < n * k; i++) xq[i] = (int8_t) ((int) (next32() % 255) - 127);
    for (int b = 0; b < n * blocks; b++) {
        xd[b] = fabsf(uniform()) * 0.02f + 1e-3f;
        int s = 0;
        for (int i = 0; i < 32; i++) s += xq[b * 32 + i];
        xs[b] = s;
    }
    if (bias) for (int j = 0; j < m; j++) bias[j] = uniform();
    float *out = calloc((size_t) n * m, sizeof(float));
    if (q4) instella_q4_0_rows(w, k, m, 0, m, xq, xd, xs, n, bias, out);
    else instella_q8_0_rows(w, k, m, 0, m, xq, xd, n, bias, out);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < m; j++) {
            double want = bias ? bias[j] : 0, scale = 0;
            for (int b = 0; b < blocks; b++) {
                uint16_t d;
                memcpy(&d, w + ((size_t) j * blocks + b) * (q4 ? 18 : 34), 2);
                long dot = 0;
                for (int t = 0; t < 32; t++) dot += (long) lrintf(quant_at(w, k, j, 32 * b + t, q4) / half(d)) * xq[i * k + 32 * b + t];
                want += (double) dot * half(d) * xd[i * blocks + b];
                scale += fabs((double) dot * half(d) * xd[i * blocks + b]);
            }
            close_to(q4 ? "q4_0_rows" : "q8_0_rows", i * m + j, out[i * m + j], want, 1e-5 * scale + 1e-6);
        }
    }
    if (q4 && m % 8 == 0) {
        uint8_t *r8 = malloc((size_t) m * blocks * 18);
        instella_repack_q4_0_r8(w, r8, k, 0, m / 8);
        float *out8 = calloc((size_t) n * m, sizeof(float));
        instella_q4_0_r8_rows(r8, k, m, 0, m / 8, xq, xd, xs, n, bias, out8);
        for (int i = 0; i < n * m; i++) close_to("q4_0_r8_rows", i, out8[i], out[i], 1e-4 * (1 + fabs(out[i])));
        free(r8);
        free(out8);
    }
    free(w); free(xq); free(xd); free(xs); free(bias); free(out);
}

static void test_bf16_rows(int m, int k) {
    uint16_t *w = malloc(sizeof(uint16_t) * m * k);
    float *x = malloc(sizeof(float) * k), *xs = malloc(sizeof(float) * k), *out = malloc(sizeof(float) * m), *bias = malloc(sizeof(float) * m);
    for (int i = 0; i < m * k; i++) w[i] = (uint16_t) ((next32() & 0x807F) | 0x3C00); /* ±[2^-7, 2^-6) */
    for (int i = 0; i < k; i++) x[i] = uniform();
    for (int j = 0; j < m; j++) bias[j] = uniform();
    for (int c = 0; c < k; c += 16) for (int e = 0; e < 8; e++) { xs[c + e] = x[c + 2 * e]; xs[c + 8 + e] = x[c + 2 * e + 1]; }
    instella_bf16_rows(w, k, 0, m, xs, bias, out);
    for (int j = 0; j < m; j++) {
        double want = bias[j], scale = 0;
        for (int t = 0; t < k; t++) { want += (double) bf16f(w[j * k + t]) * x[t]; scale += fabs((double) bf16f(w[j * k + t]) * x[t]); }
        close_to("bf16_rows", j, out[j], want, 1e-5 * scale + 1e-6);
    }
    free(w); free(x); free(xs); free(out); free(bias);
}

static void test_attend(int len, int hd, int f16) {
    float *q = malloc(sizeof(float) * hd), *k = malloc(sizeof(float) * len * hd), *v = malloc(sizeof(float) * len * hd);
    uint16_t *kh = malloc(2 * (size_t) len * hd), *vh = malloc(2 * (size_t) len * hd);
    float *scores = malloc(sizeof(float) * len), *out = malloc(sizeof(float) * hd);
    for (int i = 0; i < hd; i++) q[i] = uniform();
    for (int i = 0; i < len * hd; i++) {
        kh[i] = random_half(); vh[i] = random_half();
        k[i] = f16 ? half(kh[i]) * 8 : uniform(); v[i] = f16 ? half(vh[i]) : uniform();
        if (f16) { kh[i] = (uint16_t) (kh[i] + (3 << 10)); k[i] = half(kh[i]); }
    }
    float scale = 1.0f / sqrtf((float) hd);
    if (f16) instella_attend_f16(q, kh, vh, len, hd, scale, scores, out);
    else instella_attend_f32(q, k, v, len, hd, scale, scores, out);
    double *p = malloc(sizeof(double) * len), mx = -INFINITY, sum = 0;
    for (int j = 0; j < len; j++) {
        double s = 0;
        for (int d = 0; d < hd; d++) s += (double) q[d] * k[j * hd + d];
        p[j] = s * scale;
        if (p[j] > mx) mx = p[j];
    }
    for (int j = 0; j < len; j++) { p[j] = exp(p[j] - mx); sum += p[j]; }
    for (int d = 0; d < hd; d++) {
        double o = 0;
        for (int j = 0; j < len; j++) o += p[j] / sum * v[j * hd + d];
        close_to(f16 ? "attend_f16" : "attend_f32", d, out[d], o, 1e-5);
    }
    free(q); free(k); free(v); free(kh); free(vh); free(scores); free(out); free(p);
}

/* Gemm.slab for panels of nr: 6-row tiles from bias/zero/C, leftover rows from zero then + bias or + C. */
static void slab_reference(int NR, const float *a, int lda, int n, const float *slab, int kc, int cols, float *c, int ldc,
                           int first, const float *bias) {
    int panels = (cols + NR - 1) / NR;
    for (int ic = 0; ic < n; ic += 48) {
        int mc = n - ic < 48 ? n - ic : 48;
        for (int p = 0; p < panels; p++) {
            int jp = p * NR, nr = cols - jp < NR ? cols - jp : NR;
            const float *b = slab + (size_t) p * NR * kc;
            int ir = 0;
            for (; ir + 6 <= mc; ir += 6) {
                for (int r = 0; r < 6; r++) {
                    for (int q = 0; q < nr; q++) {
                        float *cv = c + (size_t) (ic + ir + r) * ldc + jp + q;
                        float acc;
                        if (!first) acc = *cv;
                        else if (nr == NR) acc = bias ? bias[jp + q] : 0.0f;
                        else acc = 0.0f; /* partial panel: the tile starts from zero, the bias is added after */
                        for (int t = 0; t < kc; t++) acc = fmaf(a[(size_t) (ic + ir + r) * lda + t], b[t * NR + q], acc);
                        *cv = (first && nr != NR) ? acc + (bias ? bias[jp + q] : 0.0f) : acc;
                    }
                }
            }
            for (; ir < mc; ir++) {
                for (int q = 0; q < nr; q++) {
                    float acc = 0.0f;
                    for (int t = 0; t < kc; t++) acc = fmaf(a[(size_t) (ic + ir) * lda + t], b[t * NR + q], acc);
                    float *cv = c + (size_t) (ic + ir) * ldc + jp + q;
                    if (first) *cv = acc + (bias ? bias[jp + q] : 0.0f);
                    else *cv += acc;
                }
            }
        }
    }
}

typedef void (*slab_fn)(const float *, int64_t, int32_t, const float *, int32_t, int32_t, float *, int64_t, int32_t, const float *);

static void test_slab(int NR, slab_fn kernel, int n, int cols, int kc, int first, int with_bias) {
    rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t) n << 32 | (uint64_t) cols << 16 | (uint64_t) kc); /* same inputs for every NR */
    int lda = kc + 3, ldc = cols + 5, panels = (cols + NR - 1) / NR;
    float *a = malloc(sizeof(float) * n * lda), *slab = malloc(sizeof(float) * panels * NR * kc);
    float *c = malloc(sizeof(float) * n * ldc), *want = malloc(sizeof(float) * n * ldc), *bias = with_bias ? malloc(sizeof(float) * cols) : NULL;
    for (int i = 0; i < n * lda; i++) a[i] = uniform();
    for (int i = 0; i < panels * NR * kc; i++) slab[i] = uniform();
    for (int i = 0; i < n * ldc; i++) c[i] = want[i] = uniform();
    if (bias) for (int j = 0; j < cols; j++) bias[j] = uniform();
    kernel(a, lda, n, slab, kc, cols, c, ldc, first, bias);
    slab_reference(NR, a, lda, n, slab, kc, cols, want, ldc, first, bias);
    char what[64];
    snprintf(what, sizeof what, "gemm_slab NR=%d n=%d cols=%d kc=%d", NR, n, cols, kc);
    same_bits(what, c, want, (size_t) n * ldc);
    if (NR == 16) hash_bytes(c, sizeof(float) * n * ldc);
    free(a); free(slab); free(c); free(want); free(bias);
}

static void test_pack(int kind, int nr, int m, int k, int j0, int cols, int pc, int kc) {
    uint8_t *w;
    rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t) kind << 40 | (uint64_t) m << 24 | (uint64_t) k << 8 | (uint64_t) cols);
    if (kind == 0) {
        w = malloc(2 * (size_t) m * k);
        for (int i = 0; i < m * k; i++) { uint16_t b = (uint16_t) next32(); if (((b >> 7) & 0xFF) == 0xFF) b &= 0xBFFF; memcpy(w + 2 * i, &b, 2); }
    } else {
        w = random_quant(m, k, kind == 2);
    }
    int panels = (cols + nr - 1) / nr;
    size_t size = (size_t) panels * nr * kc;
    float *got = malloc(sizeof(float) * size), *want = malloc(sizeof(float) * size);
    for (size_t i = 0; i < size; i++) got[i] = NAN;
    if (kind == 0) instella_pack_bf16((const uint16_t *) w, k, j0, cols, pc, kc, got, nr);
    else if (kind == 1) instella_pack_q8_0(w, k, j0, cols, pc, kc, got, nr);
    else instella_pack_q4_0(w, k, j0, cols, pc, kc, got, nr);
    for (int p = 0; p < panels; p++) {
        for (int t = 0; t < kc; t++) {
            for (int q = 0; q < nr; q++) {
                int r = p * nr + q;
                float v = 0.0f;
                if (r < cols) {
                    if (kind == 0) { uint16_t b; memcpy(&b, w + 2 * ((size_t) (j0 + r) * k + pc + t), 2); v = bf16f(b); }
                    else v = quant_at(w, k, j0 + r, pc + t, kind == 2);
                }
                want[(size_t) p * nr * kc + t * nr + q] = v;
            }
        }
    }
    char what[64];
    snprintf(what, sizeof what, "pack %s nr=%d cols=%d kc=%d", kind == 0 ? "bf16" : kind == 1 ? "q8_0" : "q4_0", nr, cols, kc);
    same_bits(what, got, want, size);
    if (nr == 16) hash_bytes(got, sizeof(float) * size);
    free(w); free(got); free(want);
}

/* Int8Gemm.scratchBytes: the scratch the Java side hands the native int8 GEMM. */
static size_t int8_scratch_bytes(int k) {
    size_t unit = 2 * (size_t) (k / 32) * 304;
    return unit > 256 * 1024 ? unit : 256 * 1024;
}

/*
 * Int8Gemm.rows step by step: per output, acc = fmaf((float) isum, d_w · d_x, acc) over the blocks in order from 0,
 * isum the exact Σ w·x (Q4_0: nibble − 8), then acc (+ bias). q4 picks Q4_0 (w in Q4_0 rows) or Q8_0.
 */
static void int8_reference(const uint8_t *w, int q4, int k, int m, const int8_t *xq, const float *xd, int n,
                           const float *bias, float *out) {
    int blocks = k / 32, bb = q4 ? 18 : 34;
    for (int j = 0; j < m; j++) {
        for (int i = 0; i < n; i++) {
            float acc = 0.0f;
            for (int b = 0; b < blocks; b++) {
                const uint8_t *blk = w + ((size_t) j * blocks + b) * bb;
                uint16_t d;
                memcpy(&d, blk, 2);
                int isum = 0;
                for (int t = 0; t < 32; t++) {
                    int wv = q4 ? (t < 16 ? (blk[2 + t] & 0xF) : (blk[2 + t - 16] >> 4)) - 8 : (int8_t) blk[2 + t];
                    isum += wv * xq[(size_t) i * k + 32 * b + t];
                }
                acc = fmaf((float) isum, half(d) * xd[i * blocks + b], acc);
            }
            out[(size_t) i * m + j] = bias ? acc + bias[j] : acc;
        }
    }
}

/*
 * instella_int8_gemm for type 0 (Q8_0), 1 (Q4_0) and, where m is a multiple of 8, 2 (Q4_0_R8, repacked from the same
 * Q4_0 matrix) against int8_reference, bit-identical; the units in two calls (the split at unit `split`).
 */
static void test_int8_gemm(int m, int k, int n, int with_bias, int split) {
    rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t) m << 40 | (uint64_t) k << 16 | (uint64_t) n << 4 | (uint64_t) with_bias);
    int blocks = k / 32, units = (m + 15) / 16;
    int8_t *xq = malloc((size_t) n * k);
    float *xd = malloc(sizeof(float) * n * blocks), *bias = with_bias ? malloc(sizeof(float) * m) : NULL;
    int32_t *xs = malloc(sizeof(int32_t) * n * blocks);
    for (int i = 0; i < n * k; i++) xq[i] = (int8_t) ((int) (next32() % 255) - 127);
    for (int b = 0; b < n * blocks; b++) {
        xd[b] = fabsf(uniform()) * 0.02f + 1e-3f;
        int s = 0;
        for (int i = 0; i < 32; i++) s += xq[b * 32 + i];
        xs[b] = s;
    }
    if (bias) for (int j = 0; j < m; j++) bias[j] = uniform();
    uint8_t *scratch = malloc(int8_scratch_bytes(k));
    float *got = malloc(sizeof(float) * n * m), *want = malloc(sizeof(float) * n * m);
    for (int type = 0; type < 3; type++) {
        if (type == 2 && m % 8 != 0) continue;
        uint8_t *w = random_quant(m, k, type != 0), *r8 = NULL;
        if (type == 0) for (int b = 0; b < m * blocks; b++) w[(size_t) b * 34 + 2 + next32() % 32] = 0x80; /* −128 too */
        if (type == 2) {
            r8 = malloc((size_t) m * blocks * 18);
            instella_repack_q4_0_r8(w, r8, k, 0, m / 8);
        }
        for (int i = 0; i < n * m; i++) got[i] = NAN;
        int s = split < units ? split : units;
        instella_int8_gemm(type == 2 ? r8 : w, type, k, m, 0, s, xq, xd, xs, n, bias, got, scratch);
        instella_int8_gemm(type == 2 ? r8 : w, type, k, m, s, units, xq, xd, xs, n, bias, got, scratch);
        int8_reference(w, type != 0, k, m, xq, xd, n, bias, want);
        char what[96];
        snprintf(what, sizeof what, "int8_gemm %s m=%d k=%d n=%d bias=%d", type == 0 ? "Q8_0" : type == 1 ? "Q4_0" : "Q4_0_R8",
                 m, k, n, with_bias);
        same_bits(what, got, want, (size_t) n * m);
        hash_bytes(got, sizeof(float) * n * m);
        free(w);
        free(r8);
    }
    free(xq); free(xd); free(xs); free(bias); free(scratch); free(got); free(want);
}

/*
 * The Q8_0_R8 layout, byte by byte: group g (rows 8g..8g+7), block b at (g · blocks + b) · 272: bytes 2r, 2r+1 = row
 * r's f16 scale; chunk c (at 16 + 32c), bytes 4r..4r+3 = quant bytes 4c..4c+3 of row r.
 */
static void q8_0_r8_reference(const uint8_t *src, uint8_t *dst, int k, int g0, int g1) {
    int blocks = k / 32;
    for (int g = g0; g < g1; g++) {
        for (int b = 0; b < blocks; b++) {
            uint8_t *o = dst + ((size_t) g * blocks + b) * 272;
            for (int r = 0; r < 8; r++) {
                const uint8_t *in = src + ((size_t) (8 * g + r) * blocks + b) * 34;
                o[2 * r] = in[0];
                o[2 * r + 1] = in[1];
                for (int c = 0; c < 8; c++) {
                    for (int t = 0; t < 4; t++) o[16 + 32 * c + 4 * r + t] = in[2 + 4 * c + t];
                }
            }
        }
    }
}

/* Random activations quantized per block: xq int8 [n·k] (−127..127), scales xd, block sums xs. */
static void random_activations(int n, int k, int8_t *xq, float *xd, int32_t *xs) {
    for (int i = 0; i < n * k; i++) xq[i] = (int8_t) ((int) (next32() % 255) - 127);
    for (int b = 0; b < n * (k / 32); b++) {
        xd[b] = fabsf(uniform()) * 0.02f + 1e-3f;
        int s = 0;
        for (int i = 0; i < 32; i++) s += xq[b * 32 + i];
        xs[b] = s;
    }
}

/*
 * instella_repack_q8_0_r8 (in two calls: groups [0, split) and [split, m/8)) against the reference permutation, byte
 * for byte; instella_q8_0_r8_rows against instella_q8_0_rows on the same matrix and activations, within 1e-5 of
 * Σ|w·x| per output (groups in two calls too, other outputs untouched); instella_int8_gemm type 3 bit-identical to type
 * 0 on the unpermuted matrix (and so to Int8Gemm.rows, int8_reference).
 */
static void test_q8_0_r8(int m, int k, int n, int with_bias, int split) {
    rng = 0xC2B2AE3D27D4EB4Full ^ ((uint64_t) m << 40 | (uint64_t) k << 16 | (uint64_t) n << 4 | (uint64_t) with_bias);
    int blocks = k / 32, groups = m / 8, units = (m + 15) / 16;
    uint8_t *w = random_quant(m, k, 0);
    for (int b = 0; b < m * blocks; b++) w[(size_t) b * 34 + 2 + next32() % 32] = 0x80; /* −128 too */
    size_t bytes = (size_t) m * blocks * 34;
    uint8_t *r8 = malloc(bytes), *want8 = malloc(bytes);
    memset(r8, 0xA5, bytes);
    memset(want8, 0x5A, bytes);
    int gs = split < groups ? split : groups;
    instella_repack_q8_0_r8(w, r8, k, 0, gs);
    instella_repack_q8_0_r8(w, r8, k, gs, groups);
    q8_0_r8_reference(w, want8, k, 0, groups);
    char what[96];
    checks++;
    if (memcmp(r8, want8, bytes) != 0) {
        size_t at = 0;
        while (r8[at] == want8[at]) at++;
        if (failures++ < 20) fprintf(stderr, "FAIL repack_q8_0_r8 m=%d k=%d: byte %zu is %d, want %d\n", m, k, at, r8[at], want8[at]);
    }

    int8_t *xq = malloc((size_t) n * k);
    float *xd = malloc(sizeof(float) * n * blocks), *bias = with_bias ? malloc(sizeof(float) * m) : NULL;
    int32_t *xs = malloc(sizeof(int32_t) * n * blocks);
    random_activations(n, k, xq, xd, xs);
    if (bias) for (int j = 0; j < m; j++) bias[j] = uniform();
    float *plain = calloc((size_t) n * m, sizeof(float)), *got = malloc(sizeof(float) * n * m);
    instella_q8_0_rows(w, k, m, 0, m, xq, xd, n, bias, plain);
    for (int i = 0; i < n * m; i++) got[i] = NAN;
    instella_q8_0_r8_rows(r8, k, m, 0, gs, xq, xd, n, bias, got);
    instella_q8_0_r8_rows(r8, k, m, gs, groups, xq, xd, n, bias, got);
    snprintf(what, sizeof what, "q8_0_r8_rows m=%d k=%d n=%d bias=%d", m, k, n, with_bias);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < m; j++) {
            double scale = 0; /* Σ|w·x| of the output */
            for (int b = 0; b < blocks; b++) {
                const uint8_t *blk = w + ((size_t) j * blocks + b) * 34;
                uint16_t d;
                memcpy(&d, blk, 2);
                for (int t = 0; t < 32; t++) scale += fabs((double) (int8_t) blk[2 + t] * half(d) * xq[i * k + 32 * b + t] * xd[i * blocks + b]);
            }
            close_to(what, i * m + j, got[i * m + j], plain[i * m + j], 1e-5 * scale + 1e-6);
        }
    }
    if (groups > 1) { /* a sub-range writes its own outputs only */
        for (int i = 0; i < n * m; i++) got[i] = -1.0f;
        instella_q8_0_r8_rows(r8, k, m, 1, groups, xq, xd, n, bias, got);
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < 8; j++) close_to("q8_0_r8_rows outside [g0, g1)", i * m + j, got[i * m + j], -1.0, 0);
        }
    }

    uint8_t *scratch = malloc(int8_scratch_bytes(k));
    float *type0 = malloc(sizeof(float) * n * m), *ref = malloc(sizeof(float) * n * m);
    int us = split < units ? split : units;
    for (int i = 0; i < n * m; i++) type0[i] = got[i] = NAN;
    instella_int8_gemm(w, 0, k, m, 0, units, xq, xd, xs, n, bias, type0, scratch);
    instella_int8_gemm(r8, 3, k, m, 0, us, xq, xd, xs, n, bias, got, scratch);
    instella_int8_gemm(r8, 3, k, m, us, units, xq, xd, xs, n, bias, got, scratch);
    int8_reference(w, 0, k, m, xq, xd, n, bias, ref);
    snprintf(what, sizeof what, "int8_gemm Q8_0_R8 = Q8_0 m=%d k=%d n=%d bias=%d", m, k, n, with_bias);
    same_bits(what, got, type0, (size_t) n * m);
    snprintf(what, sizeof what, "int8_gemm Q8_0_R8 m=%d k=%d n=%d bias=%d", m, k, n, with_bias);
    same_bits(what, got, ref, (size_t) n * m);
    free(w); free(r8); free(want8); free(xq); free(xd); free(xs); free(bias); free(plain); free(got);
    free(scratch); free(type0); free(ref);
}

/* Q8_0_R8: 1 and 3 tokens (and more for the GEMM), one group and five, 1, 3 and 64 blocks, bias or none. */
static void test_q8_0_r8_kernels(void) {
    int ms[] = {8, 24, 40}, ks[] = {32, 96}, ns[] = {1, 3, 5, 17};
    for (unsigned a = 0; a < 3; a++)
        for (unsigned b = 0; b < 2; b++)
            for (unsigned c = 0; c < 4; c++)
                for (int bias = 0; bias < 2; bias++) test_q8_0_r8(ms[a], ks[b], ns[c], bias, 1 + (int) c % 2);
    test_q8_0_r8(64, 2048, 4, 1, 3);  /* two blocks per step over a long row */
    test_q8_0_r8(200, 2048, 3, 0, 5); /* GEMM: the Q8_0 panels over several chunks */
    test_q8_0_r8(24, 160, 70, 1, 1);  /* more activation rows than I8_MC */
}

/* SmallGemm.split: per 2·lanes values the lanes even ones, then the lanes odd ones; the tail as is; rows ldx apart. */
static void split_rows(const float *x, int n, int k, int lanes, int ldx, float *xs) {
    int chunk = 2 * lanes, bound = k - k % chunk;
    for (int i = 0; i < n; i++) {
        const float *src = x + (size_t) i * k;
        float *dst = xs + (size_t) i * ldx;
        for (int c = 0; c < bound; c += chunk) {
            for (int e = 0; e < lanes; e++) {
                dst[c + e] = src[c + 2 * e];
                dst[c + lanes + e] = src[c + 2 * e + 1];
            }
        }
        memcpy(dst + bound, src + bound, sizeof(float) * (k - bound));
    }
}

/*
 * SmallGemm.rows step by step at `lanes` lanes: lane e chains fma(even, x_even, acc) then fma(odd, x_odd, acc) per
 * 2·lanes values, the lanes added in order from 0 (VectorMath.sumLanes), the tail in order with fma, then + bias.
 */
static void small_reference(const uint16_t *w, int k, int m, int j0, int j1, const float *xs, int ldx, int n, int lanes,
                            const float *bias, float *out) {
    int chunk = 2 * lanes, bound = k - k % chunk;
    for (int j = j0; j < j1; j++) {
        const uint16_t *row = w + (size_t) j * k;
        for (int i = 0; i < n; i++) {
            const float *x = xs + (size_t) i * ldx;
            float acc[16] = {0};
            for (int c = 0; c < bound; c += chunk) {
                for (int e = 0; e < lanes; e++) {
                    acc[e] = fmaf(bf16f(row[c + 2 * e]), x[c + e], acc[e]);
                    acc[e] = fmaf(bf16f(row[c + 2 * e + 1]), x[c + lanes + e], acc[e]);
                }
            }
            float s = 0.0f;
            for (int e = 0; e < lanes; e++) s += acc[e];
            for (int t = bound; t < k; t++) s = fmaf(x[t], bf16f(row[t]), s);
            out[(size_t) i * m + j] = s + (bias ? bias[j] : 0.0f);
        }
    }
}

/* instella_bf16_small at `lanes` lanes for rows [j0, j1) of W [m, k] against small_reference, bit-identical. */
static void test_bf16_small(int lanes, int m, int k, int n, int j0, int j1, int with_bias) {
    rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t) m << 40 | (uint64_t) k << 16 | (uint64_t) n << 4 | (uint64_t) with_bias);
    int ldx = k + 16;
    uint16_t *w = malloc(sizeof(uint16_t) * m * k);
    float *x = malloc(sizeof(float) * n * k), *xs = malloc(sizeof(float) * n * ldx), *bias = with_bias ? malloc(sizeof(float) * m) : NULL;
    float *got = malloc(sizeof(float) * n * m), *want = malloc(sizeof(float) * n * m), *scratch = malloc(sizeof(float) * 16 * n * lanes);
    /* ±[2^-16, 2^4): sums far from overflow (no NaN, whose sign differs between architectures), many exponents */
    for (int i = 0; i < m * k; i++) w[i] = (uint16_t) ((next32() & 0x807F) | ((0x6F + next32() % 20) << 7));
    for (int i = 0; i < n * k; i++) x[i] = uniform();
    if (bias) for (int j = 0; j < m; j++) bias[j] = uniform();
    for (int i = 0; i < n * ldx; i++) xs[i] = NAN; /* the pad must not be read */
    split_rows(x, n, k, lanes, ldx, xs);
    for (int i = 0; i < n * m; i++) got[i] = want[i] = -1.0f; /* rows outside [j0, j1) stay as they are */
    instella_bf16_small(w, k, m, j0, j1, xs, ldx, n, lanes, bias, got, scratch);
    small_reference(w, k, m, j0, j1, xs, ldx, n, lanes, bias, want);
    char what[96];
    snprintf(what, sizeof what, "bf16_small lanes=%d m=%d k=%d n=%d rows %d..%d bias=%d", lanes, m, k, n, j0, j1, with_bias);
    same_bits(what, got, want, (size_t) n * m);
    if (lanes == 8) hash_bytes(got, sizeof(float) * n * m);
    free(w); free(x); free(xs); free(bias); free(got); free(want); free(scratch);
}

/* The prefill kernels: int8 GEMM (any width) and the small-prompt product at the lanes this build has. */
static void test_prefill_kernels(void) {
    for (int n = 1; n <= 17; n++) {
        test_int8_gemm(40, 32 * (1 + n % 4), n, n % 2, 1);           /* 1–4 blocks, 2.5 units, bias or not */
        test_int8_gemm(37, 96, n, (n + 1) % 2, n % 3);               /* rows past m in the last group (Q8_0, Q4_0) */
    }
    test_int8_gemm(200, 2048, 3, 1, 5);                              /* Q8_0 panels over several chunks */
    test_int8_gemm(24, 160, 70, 0, 1);                               /* more activation rows than I8_MC */
    int lanes_here[] = {
#ifdef __aarch64__
        4,
#endif
        8};
    for (unsigned l = 0; l < sizeof lanes_here / sizeof lanes_here[0]; l++) {
        int lanes = lanes_here[l];
        for (int n = 1; n <= 17; n++) {
            int k = 2 * lanes * (1 + n % 5) + (n % 3 == 0 ? 0 : 2 * n - 1); /* a tail past the last 2·lanes unless n % 3 == 0 */
            test_bf16_small(lanes, 19, k, n, n % 4, 19 - n % 3, n % 2);
        }
        test_bf16_small(lanes, 21, 1030, 5, 0, 21, 1);  /* depth chunks of 512 and a tail */
        test_bf16_small(lanes, 12, 2 * lanes - 1, 3, 0, 12, 0); /* no whole 2·lanes at all */
        test_bf16_small(lanes, 9, 4096, 16, 1, 9, 1);
    }
}

/* ---- Cases written by the Java twins (PrefillTwinCases): inputs and Int8Gemm.rows / SmallGemm.rows outputs. ---- */
static FILE *twin_file;
static void twin_read(void *p, size_t bytes) {
    if (fread(p, 1, bytes, twin_file) != bytes) { fprintf(stderr, "FAIL twin cases: file ends early\n"); exit(1); }
}
static int32_t twin_i32(void) { int32_t v; twin_read(&v, 4); return v; }
static void *twin_array(size_t bytes) { void *p = malloc(bytes ? bytes : 1); twin_read(p, bytes); return p; }

/* Runs every case of the file that this build has a kernel for; returns how many. */
static int test_twin_cases(const char *path) {
    twin_file = fopen(path, "rb");
    char magic[4];
    if (!twin_file) { fprintf(stderr, "FAIL twin cases: cannot open %s\n", path); exit(1); }
    twin_read(magic, 4);
    if (memcmp(magic, "ITWN", 4) != 0) { fprintf(stderr, "FAIL twin cases: %s is not a PrefillTwinCases file\n", path); exit(1); }
    int count = twin_i32(), ran = 0;
    for (int c = 0; c < count; c++) {
        int kind = twin_i32();
        char what[96];
        if (kind == 0) {
            int type = twin_i32(), m = twin_i32(), k = twin_i32(), n = twin_i32(), has_bias = twin_i32(), blocks = n * k / 32;
            int32_t wbytes = twin_i32();
            uint8_t *w = twin_array((size_t) wbytes);
            int8_t *xq = twin_array((size_t) n * k);
            float *xd = twin_array(4 * (size_t) blocks);
            int32_t *xs = twin_array(4 * (size_t) blocks);
            float *bias = has_bias ? twin_array(4 * (size_t) m) : NULL, *want = twin_array(4 * (size_t) n * m);
            float *got = malloc(4 * (size_t) n * m);
            uint8_t *scratch = malloc(int8_scratch_bytes(k));
            instella_int8_gemm(w, type, k, m, 0, (m + 15) / 16, xq, xd, xs, n, bias, got, scratch);
            snprintf(what, sizeof what, "twin int8_gemm type=%d m=%d k=%d n=%d (Int8Gemm.rows)", type, m, k, n);
            same_bits(what, got, want, (size_t) n * m);
            ran++;
            free(w); free(xq); free(xd); free(xs); free(bias); free(want); free(got); free(scratch);
        } else {
            int lanes = twin_i32(), m = twin_i32(), k = twin_i32(), n = twin_i32(), j0 = twin_i32(), j1 = twin_i32();
            int ldx = twin_i32(), has_bias = twin_i32();
            uint16_t *w = twin_array(2 * (size_t) m * k);
            float *xs = twin_array(4 * (size_t) n * ldx);
            float *bias = has_bias ? twin_array(4 * (size_t) m) : NULL, *want = twin_array(4 * (size_t) n * m);
#ifdef __aarch64__
            int here = lanes == 4 || lanes == 8;
#else
            int here = lanes == 8;
#endif
            if (here) {
                float *got = calloc((size_t) n * m, 4), *scratch = malloc(4 * 16 * (size_t) n * lanes);
                instella_bf16_small(w, k, m, j0, j1, xs, ldx, n, lanes, bias, got, scratch);
                snprintf(what, sizeof what, "twin bf16_small lanes=%d m=%d k=%d n=%d (SmallGemm.rows)", lanes, m, k, n);
                same_bits(what, got, want, (size_t) n * m);
                ran++;
                free(got); free(scratch);
            }
            free(w); free(xs); free(bias); free(want);
        }
    }
    fclose(twin_file);
    return ran;
}

int main(int argc, char **argv) {
    if (instella_kernels_version() <= 0) { fprintf(stderr, "FAIL version\n"); return 1; }
    test_quant_rows(0, 37, 64, 1, 0);
    test_quant_rows(0, 64, 2048, 3, 1);
    test_quant_rows(1, 37, 96, 1, 1);
    test_quant_rows(1, 64, 2048, 4, 0);
    test_quant_rows(1, 16, 8192, 1, 1);
    test_bf16_rows(37, 64);
    test_bf16_rows(9, 4128);
    test_attend(1, 64, 0);
    test_attend(37, 64, 0);
    test_attend(130, 128, 1);
    test_attend(19, 72, 1);
    int shapes[][5] = {{48, 128, 256, 1, 1}, {53, 128, 256, 0, 0}, {7, 37, 64, 1, 0}, {100, 16, 5, 0, 1},
                       {1, 130, 32, 1, 1}, {97, 45, 256, 0, 1}, {6, 8, 3, 1, 1}};
    for (unsigned s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        test_slab(16, instella_gemm_slab, shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3], shapes[s][4]);
    }
    uint64_t slab_hash = hash;
#ifdef __aarch64__
    for (unsigned s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        test_slab(8, instella_gemm_slab8, shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3], shapes[s][4]);
    }
#endif
    hash = slab_hash;
    for (int kind = 0; kind < 3; kind++) {
        for (int nr = 8; nr <= 16; nr += 8) {
#ifndef __aarch64__
            if (nr == 8) continue; /* the x86 packers serve panels of 16 and 32 */
#endif
            test_pack(kind, nr, 70, 512, 3, 61, 256, 256);
            test_pack(kind, nr, 40, 96, 0, 40, 32, 64);
            if (kind == 0) test_pack(kind, nr, 33, 50, 1, 21, 7, 37);
        }
    }
    test_prefill_kernels();
    test_q8_0_r8_kernels(); /* not hashed: its int8 GEMM outputs are type 0's, hashed above */
    for (int a = 1; a < argc; a++) printf("twin cases %s: %d run\n", argv[a], test_twin_cases(argv[a]));
    printf("checks %d failures %d\nchecksum %016llx\n", checks, failures, (unsigned long long) hash);
    return failures == 0 ? 0 : 1;
}
