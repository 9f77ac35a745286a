/* A 3x3 convolution with padding, bias and a fused ReLU through the simdconv C API.
 * Build after `cargo build --release`, from the repository root:
 *   cc -std=c99 -Iinclude examples/c/example.c -Ltarget/release -Wl,-rpath,target/release -lsimdconv -lm
 * or statically: cc -std=c99 -Iinclude examples/c/example.c target/release/libsimdconv.a -lpthread -ldl -lm */
#include <math.h>
#include <stdio.h>

#include "simdconv.h"

int main(void) {
    enum { H = 4, W = 4, C_IN = 3, C_OUT = 2 };
    simdconv_conv2d_desc desc = {
        .batch = 1, .in_height = H, .in_width = W, .in_channels = C_IN, .out_channels = C_OUT,
        .kernel_height = 3, .kernel_width = 3, .stride_height = 1, .stride_width = 1,
        .dilation_height = 1, .dilation_width = 1,
        .pad_top = 1, .pad_left = 1, .pad_bottom = 1, .pad_right = 1,
        .groups = 1,
        .layout = SIMDCONV_LAYOUT_NHWC,
        .weight_layout = SIMDCONV_WEIGHT_LAYOUT_OHWI,
        .output_min = 0.0f, .output_max = INFINITY, /* fused ReLU */
    };
    float weights[C_OUT * 3 * 3 * C_IN], bias[C_OUT] = {0.5f, -1.0f};
    float input[H * W * C_IN], output[H * W * C_OUT];
    for (int i = 0; i < C_OUT * 3 * 3 * C_IN; i++) weights[i] = i < 3 * 3 * C_IN ? 1.0f : -1.0f;
    for (int i = 0; i < H * W * C_IN; i++) input[i] = 1.0f;

    simdconv_conv2d *conv = NULL;
    int32_t status = simdconv_conv2d_create(&desc, weights, bias, &conv);
    if (status != SIMDCONV_STATUS_SUCCESS) {
        fprintf(stderr, "create: %s\n", simdconv_status_string(status));
        return 1;
    }
    /* weights and bias are copied: they may be freed now. 0 threads = all cores. */
    status = simdconv_conv2d_run(conv, input, output, 0);
    simdconv_conv2d_destroy(conv);
    if (status != SIMDCONV_STATUS_SUCCESS) {
        fprintf(stderr, "run: %s\n", simdconv_status_string(status));
        return 1;
    }
    /* Corner pixel: 4 of 9 taps inside the image, 3 channels: 12 + 0.5; channel 1 is clamped to 0. */
    printf("simdconv %u (%s): corner = (%g, %g), centre = (%g, %g)\n", simdconv_version(), simdconv_isa(),
           output[0], output[1], output[(1 * W + 1) * C_OUT], output[(1 * W + 1) * C_OUT + 1]);
    return output[0] == 12.5f && output[1] == 0.0f && output[(1 * W + 1) * C_OUT] == 27.5f ? 0 : 1;
}
