/*
 * simdconv: hand-tuned SIMD fp32 2-D convolution for CPU inference, C interface.
 *
 * Fill a simdconv_conv2d_desc, plan once with simdconv_conv2d_create (it validates the descriptor, picks the
 * kernels for this CPU and copies and packs the weights), run with simdconv_conv2d_run or
 * simdconv_conv2d_run_residual as often as needed, release with simdconv_conv2d_destroy.
 * Link with -lsimdconv (libsimdconv.so, or libsimdconv.a plus -lpthread -ldl -lm).
 *
 * Contract
 *  - Status: every function that can fail returns SIMDCONV_STATUS_SUCCESS (0) or a distinct non-zero
 *    SIMDCONV_STATUS_* code; simdconv_status_string(code) describes it.
 *  - Computation: output = clamp(conv(input, weights) + bias [+ residual], output_min, output_max), input, residual
 *    and output in desc->layout, weights in desc->weight_layout.
 *  - Extents: weights hold out_channels * (in_channels / groups) * kernel_height * kernel_width floats; bias holds
 *    out_channels floats or is NULL; input holds batch * in_height * in_width * in_channels floats; output and
 *    residual hold batch * out_height * out_width * out_channels floats, where
 *    out_height = (in_height + pad_top + pad_bottom - dilation_height * (kernel_height - 1) - 1) / stride_height + 1
 *    and likewise out_width. The library never reads or writes outside these extents.
 *  - Ownership: simdconv_conv2d_create copies and packs weights and bias; the caller may free or overwrite them as
 *    soon as it returns. On failure it sets *out to NULL (when out is not NULL).
 *  - Threads: a handle is immutable once created. simdconv_conv2d_run and simdconv_conv2d_run_residual may be
 *    called concurrently from several threads on one handle, each with its own output. num_threads: 0 = all cores,
 *    1 = the calling thread only; results are bitwise identical for every value. simdconv_conv2d_destroy must not
 *    race with a run on the same handle; destroying NULL is a no-op.
 *  - Pointers: any 4-byte-aligned float pointer is accepted; a misaligned one is an invalid argument.
 *    input and output must not overlap. residual may be exactly output (in-place residual add) or disjoint from
 *    it; a partial overlap is an invalid argument. Overlaps are checked on address ranges.
 *  - SIMDCONV_STATUS_INVALID_ARGUMENT for: a NULL desc, weights, out, handle, input, output or residual; any zero
 *    dimension, stride or dilation; groups not dividing both in_channels and out_channels; a dilated kernel larger
 *    than the padded input; an unknown layout or weight_layout code; a NaN clamp bound or output_min > output_max;
 *    sizes overflowing 64-bit arithmetic.
 *  - SIMDCONV_STATUS_UNSUPPORTED: the environment variable SIMDCONV_ISA names an ISA this CPU or build lacks
 *    (simdconv_isa() then returns "unavailable").
 *  - SIMDCONV_STATUS_OUT_OF_MEMORY: allocating packed weights or scratch failed; the library does not abort.
 *  - SIMDCONV_STATUS_INTERNAL_ERROR: a library bug (a caught panic); no panic or unwind crosses this interface and
 *    the library remains usable.
 *  - Strings returned by simdconv_isa and simdconv_status_string are static and NUL-terminated; do not free them.
 */

#ifndef SIMDCONV_H
#define SIMDCONV_H

/* Generated from src/ffi.rs by cbindgen (cbindgen.toml); do not edit by hand. */

#include <stdint.h>

/**
 * The call succeeded.
 */
#define SIMDCONV_STATUS_SUCCESS 0

/**
 * A pointer, a descriptor field or a buffer is invalid (NULL, misaligned, overlapping, zero or inconsistent
 * dimensions, unknown codes, NaN or inverted clamp bounds, sizes overflowing 64-bit arithmetic).
 */
#define SIMDCONV_STATUS_INVALID_ARGUMENT 1

/**
 * The request is valid but cannot be served on this CPU or build (e.g. `SIMDCONV_ISA` names an ISA it lacks).
 */
#define SIMDCONV_STATUS_UNSUPPORTED 2

/**
 * An allocation failed; nothing was leaked and the library remains usable.
 */
#define SIMDCONV_STATUS_OUT_OF_MEMORY 3

/**
 * A bug inside the library (a caught panic); the library remains usable. Please report it.
 */
#define SIMDCONV_STATUS_INTERNAL_ERROR 4

/**
 * `layout`: `[batch][height][width][channels]`.
 */
#define SIMDCONV_LAYOUT_NHWC 0

/**
 * `layout`: `[batch][channels][height][width]`.
 */
#define SIMDCONV_LAYOUT_NCHW 1

/**
 * `weight_layout`: `[out_channels][I][kernel_height][kernel_width]` (ONNX, PyTorch).
 */
#define SIMDCONV_WEIGHT_LAYOUT_OIHW 0

/**
 * `weight_layout`: `[out_channels][kernel_height][kernel_width][I]` (TFLite, XNNPACK).
 */
#define SIMDCONV_WEIGHT_LAYOUT_OHWI 1

/**
 * `weight_layout`: `[kernel_height][kernel_width][I][out_channels]` (TensorFlow).
 */
#define SIMDCONV_WEIGHT_LAYOUT_HWIO 2

/**
 * `simdconv_conv2d_create_ex` flag: use Winograd F(4x4, 3x3) when the convolution is 3x3 with stride 1, dilation 1
 * and one group (otherwise ignored). Faster, not exact: the error per output is at most `4e-6 * T`, with `T` the
 * sum over input channels of the filter's `sum |w|` times the largest `|x|` of the output's 6x6 input tile (see
 * `PlanOptions::winograd` in the Rust API); a NaN or infinite input reaches every output of its 4x4 tiles.
 */
#define SIMDCONV_CREATE_WINOGRAD 1

/**
 * A planned convolution: validated descriptor, packed weights and bias, chosen kernels. Opaque to C; created by
 * `simdconv_conv2d_create`, released by `simdconv_conv2d_destroy`.
 */
typedef struct simdconv_conv2d simdconv_conv2d;

/**
 * Describes a 2-D fp32 convolution. Output channel `o` belongs to group `o / (out_channels / groups)` and reads
 * input channels `g * I .. (g + 1) * I` with `I = in_channels / groups`, as in ONNX and PyTorch.
 * Output size: `out_height = (in_height + pad_top + pad_bottom - dilation_height * (kernel_height - 1) - 1)
 * / stride_height + 1`, and likewise `out_width`.
 */
typedef struct simdconv_conv2d_desc {
    uint32_t batch;
    uint32_t in_height;
    uint32_t in_width;
    uint32_t in_channels;
    uint32_t out_channels;
    uint32_t kernel_height;
    uint32_t kernel_width;
    uint32_t stride_height;
    uint32_t stride_width;
    uint32_t dilation_height;
    uint32_t dilation_width;
    uint32_t pad_top;
    uint32_t pad_left;
    uint32_t pad_bottom;
    uint32_t pad_right;
    uint32_t groups;
    /**
     * `SIMDCONV_LAYOUT_NHWC` (0) or `SIMDCONV_LAYOUT_NCHW` (1); input, residual and output alike.
     */
    uint32_t layout;
    /**
     * `SIMDCONV_WEIGHT_LAYOUT_OIHW` (0), `_OHWI` (1) or `_HWIO` (2).
     */
    uint32_t weight_layout;
    /**
     * Lower bound of the fused clamp; `-INFINITY` for none.
     */
    float output_min;
    /**
     * Upper bound of the fused clamp; `INFINITY` for none.
     */
    float output_max;
} simdconv_conv2d_desc;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * Plans a convolution: validates `*desc`, then copies and packs `weights` (`out_channels * I * kernel_height *
 * kernel_width` floats in `desc->weight_layout`) and `bias` (`out_channels` floats, or NULL for none). The
 * caller may free or overwrite both afterwards. On success stores a new handle in `*out`; on failure stores NULL
 * there (when `out` is not NULL) and returns the status.
 *
 * # Safety
 * `desc` is NULL or points to a descriptor; `weights` is NULL or holds the floats above; `bias` is NULL or holds
 * `out_channels` floats; `out` is NULL or points to writable storage for one pointer.
 */
int32_t simdconv_conv2d_create(const struct simdconv_conv2d_desc *desc,
                               const float *weights,
                               const float *bias,
                               struct simdconv_conv2d **out);

/**
 * `simdconv_conv2d_create` with option `flags`: a bitwise OR of `SIMDCONV_CREATE_*` values (0 for none, which
 * equals `simdconv_conv2d_create`). Unknown flag bits are an invalid argument.
 *
 * # Safety
 * As `simdconv_conv2d_create`.
 */
int32_t simdconv_conv2d_create_ex(const struct simdconv_conv2d_desc *desc,
                                  const float *weights,
                                  const float *bias,
                                  uint32_t flags,
                                  struct simdconv_conv2d **out);

/**
 * Runs the convolution: `output = clamp(conv(input) + bias)`. `input` holds `batch * in_height * in_width *
 * in_channels` floats and `output` `batch * out_height * out_width * out_channels` floats, both in
 * `desc->layout`; they must not overlap. `num_threads`: 0 = all cores, 1 = the calling thread only; results are
 * bitwise identical for any value. Safe to call concurrently on one handle.
 *
 * # Safety
 * `conv` is NULL or a live handle; `input` and `output` are NULL or hold the floats above.
 */
int32_t simdconv_conv2d_run(const struct simdconv_conv2d *conv,
                            const float *input,
                            float *output,
                            uint32_t num_threads);

/**
 * Like `simdconv_conv2d_run` with an output-shaped `residual` added after the bias and before the clamp:
 * `output = clamp(conv(input) + bias + residual)`. `residual` may be `output` itself (in-place residual add) or
 * a buffer disjoint from it; a partial overlap is an invalid argument.
 *
 * # Safety
 * As `simdconv_conv2d_run`; `residual` is NULL or holds as many floats as `output`.
 */
int32_t simdconv_conv2d_run_residual(const struct simdconv_conv2d *conv,
                                     const float *input,
                                     const float *residual,
                                     float *output,
                                     uint32_t num_threads);

/**
 * Releases a handle and its packed weights. NULL is a no-op. The handle must not be in use by another thread.
 *
 * # Safety
 * `conv` is NULL or a live handle from `simdconv_conv2d_create`, not used again afterwards.
 */
void simdconv_conv2d_destroy(struct simdconv_conv2d *conv);

/**
 * The name of the ISA that new plans use (`"avx512"`, `"avx2"`, `"neon"`, `"portable"`, ...), or
 * `"unavailable"` when the `SIMDCONV_ISA` environment variable names an unknown ISA or one this CPU lacks (then
 * `simdconv_conv2d_create` fails). A static NUL-terminated string; do not free it.
 */
const char *simdconv_isa(void);

/**
 * A static NUL-terminated description of a status code (`"unknown status"` for unknown codes); do not free it.
 */
const char *simdconv_status_string(int32_t status);

/**
 * Sets how long the library's idle helper threads spin (busy-wait, yielding to the OS) after a threaded call
 * before they sleep, in microseconds, from their next wait on; overrides the `SIMDCONV_SPIN_US` environment
 * variable and the 2000 us default. 0 makes them sleep after every call (no core is held between calls; each
 * threaded call then pays a wake-up). Thread-safe; results never depend on it.
 */
void simdconv_set_spin_us(uint32_t microseconds);

/**
 * The library version as `major * 10000 + minor * 100 + patch`.
 */
uint32_t simdconv_version(void);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* SIMDCONV_H */
