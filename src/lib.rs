//! simdconv: hand-tuned SIMD fp32 convolution kernels for CPU inference, with a safe Rust API and a C ABI.
//!
//! Plan once with [`Conv2d::new`] (validates, picks kernels for the detected ISA, packs weights), then
//! [`Conv2d::run`] many times. [`reference`](mod@reference) is the naive oracle every path is tested against.
//!
//! ```
//! use simdconv::{Conv2d, Conv2dParams};
//! // 1x1 convolution, 4x4 image, 8 -> 16 channels, NHWC activations, OHWI weights.
//! let p = Conv2dParams::new(4, 4, 8, 16, 1, 1);
//! let w = vec![0.5f32; 16 * 8];
//! let conv = Conv2d::new(p, &w, None).unwrap();
//! let x = vec![1.0f32; conv.input_len()];
//! let mut y = vec![0.0f32; conv.output_len()];
//! conv.run(&x, &mut y).unwrap();
//! assert!(y.iter().all(|&v| v == 4.0));
//! ```

pub mod api;
mod driver;
pub mod error;
pub mod ffi;
pub mod isa;
mod pack;
pub mod params;
pub mod plan;
pub mod reference;
mod simd;
pub mod ukernel;

pub use api::{Conv2d, OutputShape, PlanOptions};
pub use driver::set_spin_time;
pub use error::{Error, Result};
pub use isa::{Isa, force_isa, isa};
pub use params::{Conv2dParams, Layout, Shape, WeightLayout};
pub use plan::KernelChoice;

/// Library version as `major * 10000 + minor * 100 + patch`.
pub const fn version() -> u32 {
    const fn parse(s: &str) -> u32 {
        let b = s.as_bytes();
        let mut i = 0;
        let mut v = 0u32;
        while i < b.len() {
            v = v * 10 + (b[i] - b'0') as u32;
            i += 1;
        }
        v
    }
    parse(env!("CARGO_PKG_VERSION_MAJOR")) * 10000
        + parse(env!("CARGO_PKG_VERSION_MINOR")) * 100
        + parse(env!("CARGO_PKG_VERSION_PATCH"))
}

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
