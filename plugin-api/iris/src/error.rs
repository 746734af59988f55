//! Errors: [`LoadError`] when a class is read and compiled, [`EvalError`] when a rule or a
//! DTL runs.
//!
//! # Invariants
//!
//! - Every [`LoadError`] names the class (the class name, or the name the caller gave a bare
//!   XML file) and a 1-based file line; errors inside a rule also name the rule (`rule#n`
//!   for an unnamed one), errors inside a DTL name the action.
//! - The named variants (`UnsupportedRuleAction`, `UnsupportedExpression`, `UnknownFunction`,
//!   `NestedForeach`, `UnsupportedDtlAction`, `UnsupportedAssignAction`) are the load errors
//!   the IRIS fixtures README specifies; their fields are stable API.

/// A class that could not be loaded. Nothing of the text is usable when this is returned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The text is not a UDL class, a Studio export or a bare rule/DTL document.
    #[error("line {line}: {message}")]
    Container {
        /// File line.
        line: u32,
        /// What is wrong.
        message: String,
    },
    /// The XML is malformed.
    #[error("{class}, line {line}: {message}")]
    Xml {
        /// Class name.
        class: String,
        /// File line.
        line: u32,
        /// What is wrong.
        message: String,
    },
    /// An element is not valid where it stands (unknown element, missing or bad attribute).
    #[error("{class}, line {line}: <{element}>: {message}")]
    Invalid {
        /// Class name.
        class: String,
        /// The element.
        element: String,
        /// File line.
        line: u32,
        /// What is wrong.
        message: String,
    },
    /// A routing-rule action HIE does not run (`delegate`, ...).
    #[error("{class}, line {line}: rule {rule:?}: the rule action <{action}> is not supported by HIE")]
    UnsupportedRuleAction {
        /// Class name.
        class: String,
        /// The rule's name (`rule#n` when unnamed).
        rule: String,
        /// The element name, e.g. `delegate`.
        action: String,
        /// File line.
        line: u32,
    },
    /// An expression construct HIE does not evaluate (`##class`, `$function`, `Rule()`, ...).
    #[error("{class}, line {line}: {item}: {construct} in an expression is not supported by HIE")]
    UnsupportedExpression {
        /// Class name.
        class: String,
        /// Where: `rule "name"` or the DTL action (`<assign> target.{PID:8}`).
        item: String,
        /// The construct, e.g. `##class`.
        construct: String,
        /// File line.
        line: u32,
    },
    /// A call of a function that is not in the IRIS function set.
    #[error("{class}, line {line}: {item}: unknown function {name}() (not an Ens.Util.FunctionSet function)")]
    UnknownFunction {
        /// Class name.
        class: String,
        /// Where (as for `UnsupportedExpression`).
        item: String,
        /// The function name as written.
        name: String,
        /// File line.
        line: u32,
    },
    /// A `foreach` inside a `foreach` in a routing rule (IRIS does not allow it).
    #[error("{class}, line {line}: rule {rule:?}: a foreach cannot contain another foreach")]
    NestedForeach {
        /// Class name.
        class: String,
        /// The rule's name.
        rule: String,
        /// File line of the inner foreach.
        line: u32,
    },
    /// A DTL action HIE does not run (`code`, `sql`, `language python`, ...).
    #[error("{class}, line {line}: the DTL action <{action}> is not supported by HIE")]
    UnsupportedDtlAction {
        /// Class name.
        class: String,
        /// The action, e.g. `code`.
        action: String,
        /// File line.
        line: u32,
    },
    /// An `assign` action kind that is not defined for HL7 targets (`append`, `clear`,
    /// `insert`).
    #[error(
        "{class}, line {line}: <assign action='{action}'> is not supported on HL7 documents \
         (IRIS: use SET with an empty string to clear a value)"
    )]
    UnsupportedAssignAction {
        /// Class name.
        class: String,
        /// The assign action.
        action: String,
        /// File line.
        line: u32,
    },
    /// An expression or path that does not parse or does not fit its place.
    #[error("{class}, line {line}: {item}: {message}")]
    Expression {
        /// Class name.
        class: String,
        /// Where (as for `UnsupportedExpression`).
        item: String,
        /// File line.
        line: u32,
        /// What is wrong.
        message: String,
    },
}

impl LoadError {
    /// The file line the error refers to.
    pub fn line(&self) -> u32 {
        match self {
            LoadError::Container { line, .. }
            | LoadError::Xml { line, .. }
            | LoadError::Invalid { line, .. }
            | LoadError::UnsupportedRuleAction { line, .. }
            | LoadError::UnsupportedExpression { line, .. }
            | LoadError::UnknownFunction { line, .. }
            | LoadError::NestedForeach { line, .. }
            | LoadError::UnsupportedDtlAction { line, .. }
            | LoadError::UnsupportedAssignAction { line, .. }
            | LoadError::Expression { line, .. } => *line,
        }
    }

    /// The class the error is in (empty for container errors).
    pub fn class(&self) -> &str {
        match self {
            LoadError::Container { .. } => "",
            LoadError::Xml { class, .. }
            | LoadError::Invalid { class, .. }
            | LoadError::UnsupportedRuleAction { class, .. }
            | LoadError::UnsupportedExpression { class, .. }
            | LoadError::UnknownFunction { class, .. }
            | LoadError::NestedForeach { class, .. }
            | LoadError::UnsupportedDtlAction { class, .. }
            | LoadError::UnsupportedAssignAction { class, .. }
            | LoadError::Expression { class, .. } => class,
        }
    }
}

/// Why an expression could not be evaluated at run time.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// Division by zero (`<DIVIDE>`).
    #[error("<DIVIDE>: division by zero")]
    DivideByZero,
    /// A pattern or regular expression computed at run time is malformed.
    #[error("invalid pattern {pattern:?}: {message}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// What is wrong.
        message: String,
    },
    /// A file for `InFile` could not be read.
    #[error("InFile: {message}")]
    File {
        /// The path as written.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A property path could not be read or written.
    #[error("property path {path}: {message}")]
    Path {
        /// The path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A subtransform failed or could not be found.
    #[error("subtransform {class}: {message}")]
    Subtransform {
        /// The DTL class.
        class: String,
        /// What went wrong.
        message: String,
    },
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl From<crate::num::NumError> for EvalError {
    fn from(_: crate::num::NumError) -> EvalError {
        EvalError::DivideByZero
    }
}
