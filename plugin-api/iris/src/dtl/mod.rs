//! DTL transforms (`Ens.DataTransformDTL`): the compiled model, the ObjectScript value
//! language, and execution over HL7 v2 messages.
//!
//! # Invariants
//!
//! - Loading yields a fully compiled [`Transform`] or a [`crate::LoadError`] naming the
//!   class, the action and the line (`code`, `sql`, `language='python'` and HL7
//!   `clear`/`append`/`insert` assigns are refused).
//! - Running ([`Transform::run`]) gives the target bytes and the traces, or a [`DtlError`]
//!   naming the action that failed.

mod check;
mod compile;
pub mod doc;
pub mod exec;
pub mod expr;
pub mod model;

pub use compile::compile;
pub use exec::{DtlError, DtlInput, DtlOutput, MAX_DEPTH, NoTransforms, TransformProvider};
pub use model::{ActionKind, AssignTo, Create, DtlAction, MESSAGE_CLASS, ObjRef, Params, SEGMENT_CLASS, Transform};
