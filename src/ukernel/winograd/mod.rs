//! Winograd F(4x4, 3x3) transform family: the input and output transforms around the GEMM micro-kernels, one
//! registry entry per ISA (channels in the lanes).
//!
//! The 36 products per tile run through the GEMM family ([`crate::ukernel::gemm`]); see [`generic`] for the
//! matrices, the pointer contracts and the order of operations.

#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
pub mod avx512;
pub mod emu512;
pub mod generic;
#[cfg(target_arch = "aarch64")]
pub mod neon;
pub mod scalar;

pub use generic::{InputFn, InputTile, OutputFn, OutputTile};

use crate::isa::Isa;

/// One ISA's Winograd transforms.
#[derive(Clone, Copy, Debug)]
pub struct WinoKernel {
    /// Display name in XNNPACK style, e.g. `f32_winograd_f4x4_3x3__avx2`.
    pub name: &'static str,
    pub isa: Isa,
    /// SIMD lanes: channels per vector.
    pub lanes: usize,
    pub input: InputFn,
    pub output: OutputFn,
}

/// Every Winograd transform kernel compiled into this build.
pub static REGISTRY: &[&WinoKernel] = &[
    #[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
    &avx512::KERNEL,
    #[cfg(target_arch = "x86_64")]
    &avx2::KERNEL,
    #[cfg(target_arch = "x86_64")]
    &emu512::v3_512b::KERNEL,
    #[cfg(target_arch = "aarch64")]
    &neon::KERNEL,
    &scalar::KERNEL,
    &emu512::scalar512b::KERNEL,
];

/// The transforms for `isa` (every [`Isa`] has one).
pub fn for_isa(isa: Isa) -> Option<&'static WinoKernel> {
    REGISTRY.iter().copied().find(|k| k.isa == isa)
}
