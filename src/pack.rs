//! Weight packing, done once at plan time: panels laid out the way the micro-kernels stream them.

use crate::driver::AlignedBuf;
use crate::error::Result;
use crate::params::Conv2dParams;

/// Panels of `width` output channels: `[groups][cout_g / width][bias width][k][width]`, zero-padded.
///
/// `k` runs over `(tap, ci)` when `tap_major` (NHWC, matching im2col rows) and over `(ci, tap)` otherwise (NCHW,
/// matching OIHW order). Returns the buffer, the panel stride and the group stride (in floats).
pub(crate) fn pack_panels(
    p: &Conv2dParams,
    weights: &[f32],
    bias: Option<&[f32]>,
    width: usize,
    tap_major: bool,
) -> Result<(AlignedBuf, usize, usize)> {
    let cin_g = p.c_in / p.groups;
    let cout_g = p.c_out / p.groups;
    let taps = p.kernel_height * p.kernel_width;
    let k = taps * cin_g;
    let panels = cout_g.div_ceil(width);
    let panel_stride = (k + 1) * width;
    let group_stride = panels * panel_stride;
    let mut buf = AlignedBuf::zeroed(group_stride * p.groups)?;
    let dst = buf.as_mut_slice();
    for g in 0..p.groups {
        for q in 0..panels {
            let panel = &mut dst[g * group_stride + q * panel_stride..][..panel_stride];
            for j in 0..width.min(cout_g - q * width) {
                let o = g * cout_g + q * width + j;
                if let Some(b) = bias {
                    panel[j] = b[o];
                }
                for ci in 0..cin_g {
                    for tap in 0..taps {
                        let (ky, kx) = (tap / p.kernel_width, tap % p.kernel_width);
                        let kk = if tap_major { tap * cin_g + ci } else { ci * taps + tap };
                        panel[width + kk * width + j] = weights[p.weight_index(o, ci, ky, kx)];
                    }
                }
            }
        }
    }
    Ok((buf, panel_stride, group_stride))
}
