//! IRIS routing rules (`Ens.Rule.Definition`): the compiled model, the expression language,
//! evaluation for one message, and conversion to HIE's YAML rule format.
//!
//! # Invariants
//!
//! - Loading either yields a fully compiled [`RuleDefinition`] or a [`crate::LoadError`]
//!   naming the class, the rule and the line; nothing is half-loaded.
//! - Evaluation ([`RuleDefinition::evaluate`]) never fails: problems are recorded in
//!   [`Decision::errors`].

mod compile;
pub mod eval;
pub mod expr;
pub mod model;
pub mod yaml;

pub use compile::compile;
pub use eval::{Body, Decision, Fired, HL7_MESSAGE_CLASS, Input, Send};
pub use model::{
    Action, AssignTarget, Constraint, ConstraintField, Expression, Foreach, Rule, RuleDefinition, RuleSet, RuleType,
    SendAction, Variable, When,
};
pub use yaml::{Conversion, convert, to_yaml};
