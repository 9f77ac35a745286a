/*
 * C ABI test: drives libsimdconv through include/simdconv.h and checks it against a naive loop.
 * Run by tests/c_abi.rs as `abi_test VERSION ISA`: VERSION is the expected simdconv_version(), ISA the expected
 * simdconv_isa(). With ISA = "unavailable" (and SIMDCONV_ISA naming an ISA this CPU lacks) it checks that
 * creating a plan fails with SIMDCONV_STATUS_UNSUPPORTED instead. Exit status 0 means every check passed.
 */
#include "simdconv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond, ...)                                                                                             \
    do {                                                                                                             \
        if (!(cond)) {                                                                                               \
            failures++;                                                                                              \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                                     \
            fprintf(stderr, __VA_ARGS__);                                                                            \
            fputc('\n', stderr);                                                                                     \
        }                                                                                                            \
    } while (0)

static uint32_t out_dim(uint32_t in, uint32_t pad0, uint32_t pad1, uint32_t k, uint32_t dil, uint32_t stride) {
    return (in + pad0 + pad1 - dil * (k - 1) - 1) / stride + 1;
}

static size_t act_index(const simdconv_conv2d_desc *d, size_t H, size_t W, size_t C, size_t n, size_t c, size_t h,
                        size_t w) {
    return d->layout == SIMDCONV_LAYOUT_NHWC ? ((n * H + h) * W + w) * C + c : ((n * C + c) * H + h) * W + w;
}

static size_t weight_index(const simdconv_conv2d_desc *d, size_t o, size_t i, size_t ky, size_t kx) {
    size_t I = d->in_channels / d->groups, KH = d->kernel_height, KW = d->kernel_width;
    switch (d->weight_layout) {
    case SIMDCONV_WEIGHT_LAYOUT_OIHW:
        return ((o * I + i) * KH + ky) * KW + kx;
    case SIMDCONV_WEIGHT_LAYOUT_OHWI:
        return ((o * KH + ky) * KW + kx) * I + i;
    default:
        return ((ky * KW + kx) * I + i) * d->out_channels + o;
    }
}

/* Naive direct convolution in double; `mag` receives the sum of absolute terms per output (error scale). */
static void reference(const simdconv_conv2d_desc *d, const float *x, const float *wt, const float *bias,
                      const float *res, double *y, double *mag) {
    uint32_t OH = out_dim(d->in_height, d->pad_top, d->pad_bottom, d->kernel_height, d->dilation_height,
                          d->stride_height);
    uint32_t OW = out_dim(d->in_width, d->pad_left, d->pad_right, d->kernel_width, d->dilation_width,
                          d->stride_width);
    size_t I = d->in_channels / d->groups, O = d->out_channels / d->groups;
    for (size_t n = 0; n < d->batch; n++)
        for (size_t o = 0; o < d->out_channels; o++)
            for (size_t oy = 0; oy < OH; oy++)
                for (size_t ox = 0; ox < OW; ox++) {
                    size_t g = o / O, yi = act_index(d, OH, OW, d->out_channels, n, o, oy, ox);
                    double acc = bias ? bias[o] : 0.0, m = bias ? fabs(bias[o]) : 0.0;
                    for (size_t i = 0; i < I; i++)
                        for (size_t ky = 0; ky < d->kernel_height; ky++)
                            for (size_t kx = 0; kx < d->kernel_width; kx++) {
                                long iy = (long)(oy * d->stride_height + ky * d->dilation_height) - (long)d->pad_top;
                                long ix = (long)(ox * d->stride_width + kx * d->dilation_width) - (long)d->pad_left;
                                if (iy < 0 || ix < 0 || iy >= (long)d->in_height || ix >= (long)d->in_width)
                                    continue;
                                double t = (double)x[act_index(d, d->in_height, d->in_width, d->in_channels, n,
                                                               g * I + i, (size_t)iy, (size_t)ix)] *
                                           (double)wt[weight_index(d, o, i, ky, kx)];
                                acc += t;
                                m += fabs(t);
                            }
                    if (res) {
                        acc += res[yi];
                        m += fabs(res[yi]);
                    }
                    if (acc < d->output_min) acc = d->output_min;
                    if (acc > d->output_max) acc = d->output_max;
                    y[yi] = acc;
                    mag[yi] = m;
                }
}

static unsigned long long rng = 88172645463325252ULL;

static float next_float(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)(rng % 2001) / 1000.0f - 1.0f;
}

static float *random_floats(size_t n) {
    float *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    for (size_t i = 0; i < n; i++) p[i] = next_float();
    return p;
}

static void compare(const char *what, const float *got, const double *want, const double *mag, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double tol = 1e-5 * mag[i] + 1e-6;
        if (!(fabs((double)got[i] - want[i]) <= tol)) {
            CHECK(0, "%s: output[%zu] = %.9g, expected %.9g (tolerance %.3g)", what, i, got[i], want[i], tol);
            return;
        }
    }
}

/* Runs one descriptor through run, run_residual (separate and in-place residual) on 1 and all threads. */
static void check_conv(const char *what, simdconv_conv2d_desc d) {
    uint32_t OH = out_dim(d.in_height, d.pad_top, d.pad_bottom, d.kernel_height, d.dilation_height, d.stride_height);
    uint32_t OW = out_dim(d.in_width, d.pad_left, d.pad_right, d.kernel_width, d.dilation_width, d.stride_width);
    size_t nx = (size_t)d.batch * d.in_height * d.in_width * d.in_channels;
    size_t ny = (size_t)d.batch * OH * OW * d.out_channels;
    size_t nw = (size_t)d.out_channels * (d.in_channels / d.groups) * d.kernel_height * d.kernel_width;
    float *x = random_floats(nx), *w = random_floats(nw), *b = random_floats(d.out_channels);
    float *r = random_floats(ny), *y = random_floats(ny);
    double *want = malloc(ny * sizeof *want), *mag = malloc(ny * sizeof *mag);
    if (!want || !mag) exit(2);

    simdconv_conv2d *conv = NULL;
    int32_t st = simdconv_conv2d_create(&d, w, b, &conv);
    CHECK(st == SIMDCONV_STATUS_SUCCESS && conv != NULL, "%s: create -> %d (%s)", what, st,
          simdconv_status_string(st));
    if (!conv) return;

    for (uint32_t threads = 0; threads < 2; threads++) {
        reference(&d, x, w, b, NULL, want, mag);
        st = simdconv_conv2d_run(conv, x, y, threads);
        CHECK(st == SIMDCONV_STATUS_SUCCESS, "%s: run -> %d", what, st);
        compare(what, y, want, mag, ny);

        reference(&d, x, w, b, r, want, mag);
        st = simdconv_conv2d_run_residual(conv, x, r, y, threads);
        CHECK(st == SIMDCONV_STATUS_SUCCESS, "%s: run_residual -> %d", what, st);
        compare(what, y, want, mag, ny);

        memcpy(y, r, ny * sizeof *y); /* in place: the residual is the output buffer itself */
        st = simdconv_conv2d_run_residual(conv, x, y, y, threads);
        CHECK(st == SIMDCONV_STATUS_SUCCESS, "%s: in-place run_residual -> %d", what, st);
        compare(what, y, want, mag, ny);
    }
    /* Input overlapping output is rejected. */
    CHECK(simdconv_conv2d_run(conv, y, y, 1) == SIMDCONV_STATUS_INVALID_ARGUMENT, "%s: overlap accepted", what);
    CHECK(simdconv_conv2d_run(conv, NULL, y, 1) == SIMDCONV_STATUS_INVALID_ARGUMENT, "%s: NULL input", what);
    simdconv_conv2d_destroy(conv);
    free(x), free(w), free(b), free(r), free(y), free(want), free(mag);
}

static simdconv_conv2d_desc base_desc(void) {
    simdconv_conv2d_desc d;
    memset(&d, 0, sizeof d);
    d.batch = 1;
    d.in_height = 6;
    d.in_width = 5;
    d.in_channels = 4;
    d.out_channels = 7;
    d.kernel_height = 3;
    d.kernel_width = 3;
    d.stride_height = d.stride_width = 1;
    d.dilation_height = d.dilation_width = 1;
    d.pad_top = d.pad_left = d.pad_bottom = d.pad_right = 1;
    d.groups = 1;
    d.layout = SIMDCONV_LAYOUT_NHWC;
    d.weight_layout = SIMDCONV_WEIGHT_LAYOUT_OHWI;
    d.output_min = -INFINITY;
    d.output_max = INFINITY;
    return d;
}

static void check_errors(void) {
    simdconv_conv2d_desc d = base_desc();
    float w[7 * 4 * 3 * 3] = {0};
    int dummy;
    simdconv_conv2d *conv = (simdconv_conv2d *)&dummy;
    d.stride_height = 0;
    int32_t st = simdconv_conv2d_create(&d, w, NULL, &conv);
    CHECK(st == SIMDCONV_STATUS_INVALID_ARGUMENT, "stride 0: create -> %d", st);
    CHECK(conv == NULL, "failed create left *out non-NULL");
    const char *s = simdconv_status_string(st);
    CHECK(s != NULL && s[0] != '\0', "empty status string");
    CHECK(strcmp(s, simdconv_status_string(SIMDCONV_STATUS_SUCCESS)) != 0, "error and success strings match");
    CHECK(strcmp(simdconv_status_string(12345), "unknown status") == 0, "unknown status string");
    d = base_desc();
    d.layout = 7;
    CHECK(simdconv_conv2d_create(&d, w, NULL, &conv) == SIMDCONV_STATUS_INVALID_ARGUMENT, "layout 7 accepted");
    d = base_desc();
    d.output_min = 1.0f;
    d.output_max = -1.0f;
    CHECK(simdconv_conv2d_create(&d, w, NULL, &conv) == SIMDCONV_STATUS_INVALID_ARGUMENT, "min > max accepted");
    CHECK(simdconv_conv2d_create(NULL, w, NULL, &conv) == SIMDCONV_STATUS_INVALID_ARGUMENT, "NULL desc accepted");
    CHECK(simdconv_conv2d_create(&d, w, NULL, NULL) == SIMDCONV_STATUS_INVALID_ARGUMENT, "NULL out accepted");
    CHECK(simdconv_conv2d_run(NULL, w, w, 1) == SIMDCONV_STATUS_INVALID_ARGUMENT, "NULL handle accepted");
    simdconv_conv2d_destroy(NULL);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s VERSION ISA\n", argv[0]);
        return 2;
    }
    unsigned long version = strtoul(argv[1], NULL, 10);
    const char *isa = simdconv_isa();
    CHECK(simdconv_version() == version, "version %u, expected %lu", simdconv_version(), version);
    CHECK(isa != NULL && strcmp(isa, argv[2]) == 0, "ISA '%s', expected '%s'", isa ? isa : "(null)", argv[2]);
    check_errors();
    /* Helpers that sleep after every call: each threaded run below takes the wake-up path. */
    simdconv_set_spin_us(0);

    if (strcmp(argv[2], "unavailable") == 0) {
        simdconv_conv2d_desc d = base_desc();
        float w[7 * 4 * 3 * 3] = {0};
        int dummy;
        simdconv_conv2d *conv = (simdconv_conv2d *)&dummy;
        int32_t st = simdconv_conv2d_create(&d, w, NULL, &conv);
        CHECK(st == SIMDCONV_STATUS_UNSUPPORTED, "create with an unavailable ISA -> %d", st);
        CHECK(conv == NULL, "failed create left *out non-NULL");
    } else {
        simdconv_conv2d_desc d = base_desc();
        d.batch = 2;
        d.output_min = -0.75f;
        d.output_max = 0.5f;
        check_conv("NHWC/OHWI 3x3 pad 1", d);

        d = base_desc();
        d.in_height = 9;
        d.in_width = 8;
        d.in_channels = 6;
        d.out_channels = 10;
        d.stride_height = 2;
        d.pad_top = 1;
        d.pad_left = 0;
        d.pad_bottom = 2;
        d.pad_right = 1;
        d.groups = 2;
        d.layout = SIMDCONV_LAYOUT_NCHW;
        d.weight_layout = SIMDCONV_WEIGHT_LAYOUT_OIHW;
        d.output_min = -1.0f;
        d.output_max = 0.8f;
        check_conv("NCHW/OIHW 3x3 stride 2x1 asymmetric pad, 2 groups", d);

        d = base_desc();
        d.in_height = 8;
        d.in_width = 9;
        d.out_channels = 17;
        d.dilation_height = d.dilation_width = 2;
        d.pad_top = d.pad_left = d.pad_bottom = d.pad_right = 2;
        d.weight_layout = SIMDCONV_WEIGHT_LAYOUT_HWIO;
        check_conv("NHWC/HWIO 3x3 dilation 2", d);
    }
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("C ABI test passed (simdconv %u, ISA %s)\n", simdconv_version(), isa);
    return 0;
}
