/*
 * Checks the native kernels of one build against scalar C references: compiled with the kernel source it tests
 * (instella_kernels_aarch64.c under qemu-aarch64, or instella_kernels.c on x86-64) by Aarch64KernelsTest.
 *   - Q8_0/Q4_0/Q4_0_R8 rows, BF16 rows, attention: within float rounding of the exact (double) result;
 *   - GEMM slab loops and packers: bit-identical to the references, which follow Gemm.slab / Gemm.pack step by step
 *     (fmaf is the correctly rounded fused multiply-add, as FloatVector.fma).
 * Prints "checksum <hex>": a hash of the slab (panels of 16) and packer outputs on fixed inputs, the same on every
 * architecture when the kernels are bit-identical to the Java loops. Exit status 1 on any mismatch.
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

int main(void) {
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
    printf("checks %d failures %d\nchecksum %016llx\n", checks, failures, (unsigned long long) hash);
    return failures == 0 ? 0 : 1;
}
