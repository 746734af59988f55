//! The error type plugin code returns.

use crate::abi::PluginError;
use abi_stable::std_types::RString;

pub use crate::abi::ErrorKind;

/// An error from plugin code (or from a host call it made).
#[derive(Clone, Debug)]
pub struct Error {
    /// What kind of failure, so the host can react without parsing text.
    pub kind: ErrorKind,
    /// Human-readable description, recorded in the journal and the log.
    pub message: String,
}

impl Error {
    /// An ordinary failure.
    pub fn failed(message: impl Into<String>) -> Self {
        Error { kind: ErrorKind::Failed, message: message.into() }
    }

    /// The message could not be understood (malformed, wrong type).
    pub fn invalid_message(message: impl Into<String>) -> Self {
        Error { kind: ErrorKind::InvalidMessage, message: message.into() }
    }

    /// An error of a given kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into() }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<PluginError> for Error {
    fn from(e: PluginError) -> Self {
        Error { kind: e.kind, message: e.message.into_string() }
    }
}

impl From<Error> for PluginError {
    fn from(e: Error) -> Self {
        PluginError { kind: e.kind, message: RString::from(e.message) }
    }
}

impl From<hie_hl7::ParseError> for Error {
    fn from(e: hie_hl7::ParseError) -> Self {
        Error::invalid_message(e.to_string())
    }
}
