//! C ABI: `extern "C"` entry points over the Rust API (see include/simdconv.h).
