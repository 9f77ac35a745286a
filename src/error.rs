//! Error type shared by the Rust API and the C ABI status codes.

use std::fmt;

/// Why a plan could not be built or a run could not be carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A parameter, a shape or a buffer is invalid; the message says which.
    InvalidArgument(String),
    /// The request is valid but cannot be served here (e.g. a forced ISA this CPU lacks).
    Unsupported(String),
    /// An allocation failed.
    OutOfMemory,
    /// A bug inside the library (a caught panic); please report it.
    Internal(String),
}

impl Error {
    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::Unsupported(m) => write!(f, "unsupported: {m}"),
            Error::OutOfMemory => write!(f, "out of memory"),
            Error::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::collections::TryReserveError> for Error {
    fn from(_: std::collections::TryReserveError) -> Self {
        Error::OutOfMemory
    }
}

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;
