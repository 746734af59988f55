//! IRIS routing rules (`Ens.Rule.Definition`) and DTL transforms (`Ens.DataTransformDTL`)
//! for HIE: read them from their containers, compile them (every unsupported construct is a
//! load error), and run them over HL7 v2 messages unchanged.
//!
//! # Pieces
//!
//! - [`load_classes`]: UDL `.cls` text, Studio exports (several classes, split CDATA) and
//!   bare XML to compiled [`IrisClass`]es.
//! - [`rules`]: the rule model, IRIS's rule expression language, [`RuleDefinition::evaluate`]
//!   giving a [`rules::Decision`], and [`rules::to_yaml`] for `hie rules convert`.
//! - [`dtl`]: the DTL model, the ObjectScript value language (strictly left to right), and
//!   [`Transform::run`] over HL7 v2 messages.
//! - [`catalog`]: a production's classes, schemas and lookup tables found on disk.
//! - [`lookup`]: lookup tables (`Lookup`, `Exists`, both export formats); [`env`](mod@env): the
//!   services an evaluation uses (tables, `InFile` files, the clock).
//! - Property paths are compiled and evaluated by `hie-hl7-schema` ([`access`]).
//!
//! # Semantics chosen where IRIS is silent (`docs/iris-formats.md` §8)
//!
//! - Rule expressions use the documented precedence: comparisons (and `[`, word operators)
//!   bind tighter than `*` `/`, then `+` `-`, then `_` `&`, then `&&`, then `||`; so
//!   `a_"^"_b="X"` is `a_"^"_(b="X")`. DTL values are strictly left to right.
//! - Rule sets: the first in document order whose bounds (inclusive, local time) hold "now";
//!   none: nothing fires. `delete` wins over every send of the evaluation and does not stop
//!   evaluation by itself; duplicate sends are all kept; `msgClass` compares names exactly.
//! - Leaf values are unescaped on read and escaped on write; composite values (holding a
//!   component/repetition/subcomponent separator) are read raw and written raw.
//! - `[SEG:field]` always gives `<a><b>` (`<>` when nothing matches); `HL7.(path)` gives
//!   `<a><b>` or `""`. `Min`/`Max` ignore empty arguments. `Lookup`'s `defaultOnEmptyInput`
//!   follows the reconstructed table. Relative `InFile` paths are the host's
//!   [`env::FileReader`]'s business ([`env::DirFileReader`]: the rule file's directory).
//! - `aux.X` is `""` outside a rule; `$IsObject(aux)` is 0 there.
//!
//! # Invariants
//!
//! - Rules and messages come from outside: nothing here panics or unwraps on them; errors are
//!   values ([`LoadError`] at load time, [`EvalError`] / [`dtl::DtlError`] at run time).
//! - A class that loads has no unsupported construct left: evaluation never discovers one.

#![warn(missing_docs)]

pub mod access;
pub mod catalog;
pub mod container;
pub mod datetime;
pub mod dtl;
pub mod env;
pub mod error;
pub mod expr;
pub mod functions;
pub mod lex;
pub mod lookup;
pub mod num;
pub mod pattern;
pub mod rules;
pub mod strings;
pub mod vpath;
pub mod xml;

pub use dtl::{DtlError, DtlInput, DtlOutput, Transform, TransformProvider};
pub use env::{Aux, DirFileReader, FileReader, Services};
pub use error::{EvalError, LoadError};
pub use lookup::{LookupProvider, LookupTables};
pub use rules::{Body, Decision, Input, RuleDefinition, to_yaml};

/// One compiled class.
#[derive(Debug)]
pub enum IrisClass {
    /// A routing rule definition.
    Rule(RuleDefinition),
    /// A DTL transform.
    Dtl(Transform),
}

impl IrisClass {
    /// The class name.
    pub fn name(&self) -> &str {
        match self {
            IrisClass::Rule(r) => &r.class,
            IrisClass::Dtl(t) => &t.class,
        }
    }
}

/// The name given to a bare XML definition by [`load_classes`].
pub const UNNAMED: &str = "(unnamed)";

/// Reads and compiles every rule and DTL class in `text` (UDL class, Studio export or bare
/// XML; a bare XML definition is named [`UNNAMED`], see [`load_classes_named`]).
pub fn load_classes(text: &str) -> Result<Vec<IrisClass>, LoadError> {
    load_classes_named(text, UNNAMED)
}

/// [`load_classes`], naming a bare XML definition `fallback_name` (normally the file name
/// without `.xml`, or the router's BusinessRuleName).
pub fn load_classes_named(text: &str, fallback_name: &str) -> Result<Vec<IrisClass>, LoadError> {
    let mut out = Vec::new();
    for def in container::read(text, fallback_name)? {
        out.push(match def.kind {
            container::Kind::Rule => IrisClass::Rule(rules::compile(&def)?),
            container::Kind::Dtl => IrisClass::Dtl(dtl::compile(&def)?),
        });
    }
    Ok(out)
}
