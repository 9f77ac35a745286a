//! Depthwise convolution micro-kernel family (groups == c_in), and its NHWC kernel for grouped convolutions of a
//! few channels per group: the registry list that feeds dispatch, edge-sweep tests and benches.
//!
//! NHWC kernels ([`generic::NhwcRow`]) compute one output row of one channel tile with channels in the lanes
//! (the 3x3 stride-2 kernel of AVX-512 and the portable backends two rows where the driver gives them);
//! NCHW kernels ([`generic::NchwPlane`]) compute output rows of one channel plane with pixels in the lanes.
//! Each ISA has specialised 3x3 and 5x5 kernels for strides 1 and 2 and a general kernel for every other shape.

#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
pub mod avx512;
pub mod emu512;
pub mod generic;
#[cfg(target_arch = "aarch64")]
pub mod neon;
pub mod scalar;

pub use generic::{NchwPlane, NhwcRow, PadRows};

use crate::isa::Isa;
use crate::params::Layout;

/// NHWC entry point: one output row of one channel tile.
pub type NhwcFn = unsafe fn(&NhwcRow<'_>);
/// NCHW entry point: a range of output rows of one channel plane.
pub type NchwFn = unsafe fn(&NchwPlane);
/// Prepares NCHW input rows (zero padding, stride phases) for the NCHW kernels.
pub type PadFn = unsafe fn(&PadRows);

/// The kernel shapes with specialised kernels; everything else is `Generic`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DwShape {
    /// 3x3, stride 1, no dilation.
    K3S1,
    /// 3x3, stride 2, no dilation.
    K3S2,
    /// 5x5, stride 1, no dilation.
    K5S1,
    /// 5x5, stride 2, no dilation.
    K5S2,
    /// Any kernel size, stride and dilation.
    Generic,
    /// Grouped convolution with a few input and output channels per group, as many of each (NHWC: the groups
    /// inside one vector, [`generic::nhwc_grouped`]; NCHW: [`generic::nchw_grouped`]): any kernel size, stride and
    /// dilation.
    Grouped,
}

impl DwShape {
    /// The specialised shape for these kernel parameters, or `Generic`.
    pub fn of(kh: usize, kw: usize, sh: usize, sw: usize, dh: usize, dw: usize) -> DwShape {
        match (kh, kw, sh, sw, dh, dw) {
            (3, 3, 1, 1, 1, 1) => DwShape::K3S1,
            (3, 3, 2, 2, 1, 1) => DwShape::K3S2,
            (5, 5, 1, 1, 1, 1) => DwShape::K5S1,
            (5, 5, 2, 2, 1, 1) => DwShape::K5S2,
            _ => DwShape::Generic,
        }
    }
}

/// The entry point of a kernel, by activation layout.
#[derive(Clone, Copy, Debug)]
pub enum DwEntry {
    Nhwc(NhwcFn),
    Nchw(NchwFn),
}

/// One depthwise micro-kernel.
#[derive(Clone, Copy, Debug)]
pub struct DwKernel {
    /// Display name in XNNPACK style, e.g. `f32_dwconv_3x3s1_16c__avx2`, `f32_dwconv2d_chw_3x3s1__avx2`.
    pub name: &'static str,
    pub isa: Isa,
    /// SIMD lanes: channels per vector (NHWC) or output pixels per vector (NCHW).
    pub lanes: usize,
    /// NHWC: vectors of channels per tile (`nv * lanes` channels, the packing width).
    pub nv: usize,
    pub shape: DwShape,
    pub entry: DwEntry,
    /// The same ISA's NCHW row preparation.
    pub pad: PadFn,
    /// NHWC: the kernel takes two output rows a call when the driver gives them ([`generic::NhwcRow`]'s
    /// `out_rows`).
    pub pair: bool,
    /// The fewest channels (`c_in`) the kernel serves; where several kernels serve a shape, the one with the most
    /// that the layer has is chosen ([`select`]).
    pub min_channels: usize,
}

impl DwKernel {
    /// The activation layout the kernel serves.
    pub fn layout(&self) -> Layout {
        match self.entry {
            DwEntry::Nhwc(_) => Layout::Nhwc,
            DwEntry::Nchw(_) => Layout::Nchw,
        }
    }

    /// Whether an NCHW kernel reads the input plane in place (the specialised shapes) rather than rows prepared by
    /// `pad` (the general kernel).
    pub fn reads_in_place(&self) -> bool {
        self.layout() == Layout::Nchw && !matches!(self.shape, DwShape::Generic | DwShape::Grouped)
    }
}

/// Every depthwise kernel compiled into this build, one list per ISA.
pub static REGISTRY: &[&[DwKernel]] = &[
    #[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
    avx512::KERNELS,
    #[cfg(target_arch = "x86_64")]
    avx2::KERNELS,
    #[cfg(target_arch = "x86_64")]
    emu512::v3_512b::KERNELS,
    #[cfg(target_arch = "aarch64")]
    neon::KERNELS,
    scalar::KERNELS,
    emu512::scalar512b::KERNELS,
];

/// Every registered kernel.
pub fn all() -> impl Iterator<Item = &'static DwKernel> {
    REGISTRY.iter().flat_map(|l| l.iter())
}

/// The kernel for `isa`, `layout` and `shape` that serves every channel count (every [`Isa`] has one for each).
pub fn find(isa: Isa, layout: Layout, shape: DwShape) -> Option<&'static DwKernel> {
    all().find(|k| k.isa == isa && k.layout() == layout && k.shape == shape && k.min_channels == 0)
}

/// The kernel for `isa`, `layout` and `shape` for a layer of `channels` input channels: of those that serve that
/// many, the one that asks the most.
pub fn select(isa: Isa, layout: Layout, shape: DwShape, channels: usize) -> Option<&'static DwKernel> {
    all()
        .filter(|k| k.isa == isa && k.layout() == layout && k.shape == shape && channels >= k.min_channels)
        .max_by_key(|k| k.min_channels)
}
