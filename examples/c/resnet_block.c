/* A ResNet-50 bottleneck block through the simdconv C API: 1x1 reduce + ReLU -> 3x3 (pad 1) + ReLU ->
 * 1x1 expand + residual + ReLU, NHWC activations, OHWI weights. Each layer is checked against a naive loop and
 * timed, then the whole block. Usage: resnet_block [size] [channels] [threads]  (default 28 128 1).
 * Build after `cargo build --release`, from the repository root:
 *   cc -std=c99 -O2 -Iinclude examples/c/resnet_block.c -Ltarget/release -Wl,-rpath,target/release -lsimdconv -lm */
#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "simdconv.h"

typedef struct {
    simdconv_conv2d_desc d;
    float *w, *b;
    simdconv_conv2d *conv;
} layer;

static unsigned rng = 12345u;
static float frand(float scale) {
    rng = rng * 1664525u + 1013904223u;
    return ((float)(rng >> 8) / (float)(1u << 24) * 2.0f - 1.0f) * scale;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int make(layer *l, unsigned hw, unsigned cin, unsigned cout, unsigned k) {
    simdconv_conv2d_desc d = {
        .batch = 1, .in_height = hw, .in_width = hw, .in_channels = cin, .out_channels = cout,
        .kernel_height = k, .kernel_width = k, .stride_height = 1, .stride_width = 1,
        .dilation_height = 1, .dilation_width = 1,
        .pad_top = k / 2, .pad_left = k / 2, .pad_bottom = k / 2, .pad_right = k / 2,
        .groups = 1, .layout = SIMDCONV_LAYOUT_NHWC, .weight_layout = SIMDCONV_WEIGHT_LAYOUT_OHWI,
        .output_min = 0.0f, .output_max = INFINITY, /* ReLU */
    };
    size_t nw = (size_t)cout * k * k * cin;
    l->d = d;
    l->w = malloc(nw * sizeof(float));
    l->b = malloc(cout * sizeof(float));
    if (!l->w || !l->b) return 1;
    for (size_t i = 0; i < nw; i++) l->w[i] = frand(sqrtf(3.0f / (float)(k * k * cin)));
    for (unsigned i = 0; i < cout; i++) l->b[i] = frand(0.1f);
    int32_t st = simdconv_conv2d_create(&l->d, l->w, l->b, &l->conv);
    if (st != SIMDCONV_STATUS_SUCCESS) fprintf(stderr, "create: %s\n", simdconv_status_string(st));
    return st != SIMDCONV_STATUS_SUCCESS;
}

/* Naive NHWC/OHWI convolution (stride 1, "same" padding), bias, optional residual, ReLU; in double. */
static void naive(const layer *l, const float *x, const float *res, float *y) {
    const simdconv_conv2d_desc *d = &l->d;
    int hw = (int)d->in_height, k = (int)d->kernel_height, p = k / 2;
    for (int oy = 0; oy < hw; oy++)
        for (int ox = 0; ox < hw; ox++)
            for (unsigned o = 0; o < d->out_channels; o++) {
                double acc = l->b[o];
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        int iy = oy + ky - p, ix = ox + kx - p;
                        if (iy < 0 || ix < 0 || iy >= hw || ix >= hw) continue;
                        for (unsigned i = 0; i < d->in_channels; i++)
                            acc += (double)x[((size_t)iy * hw + ix) * d->in_channels + i] *
                                   l->w[(((size_t)o * k + ky) * k + kx) * d->in_channels + i];
                    }
                size_t oi = ((size_t)oy * hw + ox) * d->out_channels + o;
                if (res) acc += res[oi];
                y[oi] = acc > 0.0 ? (float)acc : 0.0f;
            }
}

static int check(const char *name, const float *got, const float *want, size_t n) {
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]) / (1.0 + fabs(want[i]));
        if (e > worst) worst = e;
    }
    printf("%-22s max rel. error %.2e %s\n", name, worst, worst < 1e-4 ? "ok" : "FAIL");
    return worst >= 1e-4;
}

static double time_run(const layer *l, const float *x, const float *res, float *y, unsigned threads) {
    double best = 1e30;
    for (int rep = 0; rep < 20; rep++) {
        double t = now();
        int32_t st = res ? simdconv_conv2d_run_residual(l->conv, x, res, y, threads)
                         : simdconv_conv2d_run(l->conv, x, y, threads);
        t = now() - t;
        if (st != SIMDCONV_STATUS_SUCCESS) return -1.0;
        if (t < best) best = t;
    }
    return best;
}

int main(int argc, char **argv) {
    unsigned hw = argc > 1 ? (unsigned)atoi(argv[1]) : 28, c = argc > 2 ? (unsigned)atoi(argv[2]) : 128;
    unsigned threads = argc > 3 ? (unsigned)atoi(argv[3]) : 1, mid = c / 4;
    if (hw == 0 || mid == 0) return 2;
    layer l[3];
    if (make(&l[0], hw, c, mid, 1) || make(&l[1], hw, mid, mid, 3) || make(&l[2], hw, mid, c, 1)) return 1;
    size_t px = (size_t)hw * hw;
    float *x = malloc(px * c * sizeof(float)), *t1 = malloc(px * mid * sizeof(float));
    float *t2 = malloc(px * mid * sizeof(float)), *y = malloc(px * c * sizeof(float));
    float *want = malloc(px * c * sizeof(float));
    if (!x || !t1 || !t2 || !y || !want) return 1;
    for (size_t i = 0; i < px * c; i++) x[i] = frand(1.0f);

    /* Chain the block and check each layer against the naive loop on the same input. */
    int bad = 0;
    if (simdconv_conv2d_run(l[0].conv, x, t1, threads)) return 1;
    naive(&l[0], x, NULL, want);
    bad |= check("1x1 reduce + ReLU", t1, want, px * mid);
    if (simdconv_conv2d_run(l[1].conv, t1, t2, threads)) return 1;
    naive(&l[1], t1, NULL, want);
    bad |= check("3x3 + ReLU", t2, want, px * mid);
    if (simdconv_conv2d_run_residual(l[2].conv, t2, x, y, threads)) return 1;
    naive(&l[2], t2, x, want);
    bad |= check("1x1 expand + res + ReLU", y, want, px * c);

    double flops[3] = {2.0 * px * c * mid, 2.0 * px * 9 * mid * mid, 2.0 * px * mid * c}, total = 0.0;
    double ts[3] = {time_run(&l[0], x, NULL, t1, threads), time_run(&l[1], t1, NULL, t2, threads),
                    time_run(&l[2], t2, x, y, threads)};
    const char *names[3] = {"1x1 reduce", "3x3", "1x1 expand + res"};
    for (int i = 0; i < 3; i++) {
        if (ts[i] < 0) return 1;
        printf("%-22s %8.3f ms %7.1f GFLOP/s\n", names[i], ts[i] * 1e3, flops[i] / ts[i] * 1e-9);
        total += flops[i];
    }
    double best = 1e30;
    for (int rep = 0; rep < 10; rep++) {
        double t = now();
        simdconv_conv2d_run(l[0].conv, x, t1, threads);
        simdconv_conv2d_run(l[1].conv, t1, t2, threads);
        simdconv_conv2d_run_residual(l[2].conv, t2, x, y, threads);
        t = now() - t;
        if (t < best) best = t;
    }
    printf("%-22s %8.3f ms %7.1f GFLOP/s (%s, %u thread(s))\n", "block", best * 1e3, total / best * 1e-9,
           simdconv_isa(), threads);
    for (int i = 0; i < 3; i++) {
        simdconv_conv2d_destroy(l[i].conv);
        free(l[i].w);
        free(l[i].b);
    }
    free(x); free(t1); free(t2); free(y); free(want);
    if (!bad) printf("resnet block ok\n");
    return bad;
}
