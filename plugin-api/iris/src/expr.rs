//! The expression tree shared by rule conditions and DTL values, and its evaluation.
//!
//! The two languages parse differently (rules: IRIS's documented precedence; DTL: strictly
//! left to right, see [`crate::rules::expr`] and [`crate::dtl::expr`]) but evaluate the
//! same ObjectScript operators over string values.
//!
//! # Invariants
//!
//! - Values are strings; numbers are canonical numeric strings (see [`crate::num`]).
//! - `=`, `!=` and `[` compare strings exactly; `<`, `>`, `<=`, `>=` and arithmetic use the
//!   numeric prefix of each operand; `&&`/`||` short-circuit and give `1`/`0`.
//! - Evaluation never panics; failures (division by zero, unreadable files, bad run-time
//!   patterns, unreadable paths) are [`EvalError`]s.

use std::cmp::Ordering;

use crate::env::Services;
use crate::error::EvalError;
use crate::functions::{Func, apply};
use crate::num::{Num, bool_str, num, truthy};
use crate::pattern::Pattern;
use crate::vpath::VPath;

/// A variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Var {
    /// `Source`: the sending item.
    Source,
    /// `MsgClass`: the body class.
    MsgClass,
    /// `DocType`: `category:structure`.
    DocType,
    /// `DocName`: the message type name (`ADT_A08`).
    DocName,
    /// `RuleUserData`.
    RuleUserData,
    /// `RuleActionUserData`.
    RuleActionUserData,
    /// `RuleReason`.
    RuleReason,
    /// `BusinessRuleName`.
    BusinessRuleName,
    /// A rule `<variable>`, a DTL temporary or a DTL loop key.
    Local(String),
    /// `aux.Name` (DTL).
    Aux(String),
    /// `Document.Name` (rules) or `source.Name` (DTL): a property of the body object.
    DocProp(String),
}

/// Which document a path reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Base {
    /// `HL7` / `Document` in rules.
    Document,
    /// `Segment` inside a rule `foreach`.
    Segment,
    /// `source` in DTL.
    Source,
    /// `target` in DTL.
    Target,
}

/// How a path is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// `HL7.{path}`: GetValueAt.
    Curly,
    /// `HL7.(path)`: every value of the `()` part, as `<a><b>`.
    Paren,
    /// `[SEG:field]`: every segment SEG regardless of structure, as `<a><b>`.
    Square,
}

/// A property path in an expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathRef {
    /// The document.
    pub base: Base,
    /// The syntax.
    pub form: Form,
    /// The path.
    pub path: VPath,
}

/// A unary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    /// Logical not (`!` in rules, `'` in DTL).
    Not,
    /// Numeric negation.
    Neg,
    /// Numeric conversion (`+x`).
    Plus,
}

/// A binary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `||` (and DTL `!`).
    Or,
    /// `&&` (and DTL `&`).
    And,
    /// `_` (and rule `&`).
    Concat,
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `\`.
    IntDiv,
    /// `#`.
    Mod,
    /// `**`.
    Pow,
    /// `=`.
    Eq,
    /// `!=` / `'=`.
    Ne,
    /// `<`.
    Lt,
    /// `>`.
    Gt,
    /// `<=` / `'>`.
    Le,
    /// `>=` / `'<`.
    Ge,
    /// `[`: left contains right.
    Contains,
    /// `'[`.
    NotContains,
    /// `]`: left follows right (code-point order).
    Follows,
    /// `']`.
    NotFollows,
    /// `]]`: left sorts after right (ObjectScript collation: canonical numbers first).
    SortsAfter,
    /// `']]`.
    NotSortsAfter,
}

/// An expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// A literal (numeric literals are stored in canonical form).
    Lit(String),
    /// A variable.
    Var(Var),
    /// A property path.
    Path(PathRef),
    /// A unary operation.
    Unary(UnOp, Box<Expr>),
    /// A binary operation.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `x?pattern` (negated: `x'?pattern`).
    Match(Box<Expr>, Pattern, bool),
    /// A function call; `None` marks an omitted argument.
    Call(Func, Vec<Option<Expr>>),
    /// `$SELECT(cond:value, ...)`.
    Select(Vec<(Expr, Expr)>),
    /// `$IsObject(aux)`.
    AuxIsObject,
}

impl Expr {
    /// The literal text, when the expression is a literal.
    pub fn as_lit(&self) -> Option<&str> {
        match self {
            Expr::Lit(s) => Some(s),
            _ => None,
        }
    }

    /// Calls `f` on this expression and every sub-expression.
    pub fn walk(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Unary(_, e) | Expr::Match(e, _, _) => e.walk(f),
            Expr::Binary(_, a, b) => {
                a.walk(f);
                b.walk(f);
            }
            Expr::Call(_, args) => args.iter().flatten().for_each(|a| a.walk(f)),
            Expr::Select(pairs) => pairs.iter().for_each(|(c, v)| {
                c.walk(f);
                v.walk(f);
            }),
            Expr::Lit(_) | Expr::Var(_) | Expr::Path(_) | Expr::AuxIsObject => {}
        }
    }
}

/// What an expression reads from: variables, paths and services.
pub trait Env {
    /// The services (lookup tables, files, clock).
    fn services(&self) -> Services<'_>;
    /// The value of a variable.
    fn var(&self, v: &Var) -> Result<String, EvalError>;
    /// The value of a property path.
    fn path(&self, p: &PathRef) -> Result<String, EvalError>;
    /// Whether `aux` is an object (DTL called from a rule).
    fn has_aux(&self) -> bool {
        false
    }
}

/// ObjectScript's `]]` collation: canonical numbers (numerically) before other strings
/// (by code point).
fn sorts_after(a: &str, b: &str) -> bool {
    let (na, nb) = (Num::is_canonical(a) && !a.is_empty(), Num::is_canonical(b) && !b.is_empty());
    match (na, nb) {
        (true, true) => num(a) > num(b),
        (true, false) => false,
        (false, true) => true,
        (false, false) => a > b,
    }
}

fn binary(op: BinOp, l: &str, r: &str) -> Result<String, EvalError> {
    let numeric = |ord: fn(Ordering) -> bool| bool_str(ord(num(l).cmp(&num(r))));
    Ok(match op {
        BinOp::Or | BinOp::And => strict_logic(op, l, r),
        BinOp::Concat => format!("{l}{r}"),
        BinOp::Add => (num(l) + num(r)).to_string(),
        BinOp::Sub => (num(l) - num(r)).to_string(),
        BinOp::Mul => (num(l) * num(r)).to_string(),
        BinOp::Div => num(l).checked_div(num(r))?.to_string(),
        BinOp::IntDiv => num(l).int_div(num(r))?.to_string(),
        BinOp::Mod => num(l).modulo(num(r))?.to_string(),
        BinOp::Pow => num(l).pow(num(r))?.to_string(),
        BinOp::Eq => bool_str(l == r),
        BinOp::Ne => bool_str(l != r),
        BinOp::Lt => numeric(|o| o == Ordering::Less),
        BinOp::Gt => numeric(|o| o == Ordering::Greater),
        BinOp::Le => numeric(|o| o != Ordering::Greater),
        BinOp::Ge => numeric(|o| o != Ordering::Less),
        BinOp::Contains => bool_str(l.contains(r)),
        BinOp::NotContains => bool_str(!l.contains(r)),
        BinOp::Follows => bool_str(l > r),
        BinOp::NotFollows => bool_str(l <= r),
        BinOp::SortsAfter => bool_str(sorts_after(l, r)),
        BinOp::NotSortsAfter => bool_str(!sorts_after(l, r)),
    })
}

/// `&&`/`||` are evaluated in [`eval`] (they short-circuit); this is their strict form.
fn strict_logic(op: BinOp, l: &str, r: &str) -> String {
    match op {
        BinOp::And => bool_str(truthy(l) && truthy(r)),
        _ => bool_str(truthy(l) || truthy(r)),
    }
}

/// Most nested evaluation depth; parsed trees are never deeper (see
/// [`crate::lex::MAX_NODES`]), so this only guards hand-built trees.
const MAX_DEPTH: usize = crate::lex::MAX_NODES + 100;

/// Evaluates `e`.
pub fn eval(e: &Expr, env: &dyn Env) -> Result<String, EvalError> {
    eval_at(e, env, 0)
}

fn eval_at(e: &Expr, env: &dyn Env, depth: usize) -> Result<String, EvalError> {
    if depth > MAX_DEPTH {
        return Err(EvalError::Other("expression nested too deeply".into()));
    }
    let ev = |x: &Expr| eval_at(x, env, depth + 1);
    match e {
        Expr::Lit(s) => Ok(s.clone()),
        Expr::Var(v) => env.var(v),
        Expr::Path(p) => env.path(p),
        Expr::Unary(op, x) => {
            let v = ev(x)?;
            Ok(match op {
                UnOp::Not => bool_str(!truthy(&v)),
                UnOp::Neg => (-num(&v)).to_string(),
                UnOp::Plus => num(&v).to_string(),
            })
        }
        Expr::Binary(BinOp::And, a, b) => Ok(bool_str(truthy(&ev(a)?) && truthy(&ev(b)?))),
        Expr::Binary(BinOp::Or, a, b) => Ok(bool_str(truthy(&ev(a)?) || truthy(&ev(b)?))),
        Expr::Binary(op, a, b) => {
            let l = ev(a)?;
            let r = ev(b)?;
            binary(*op, &l, &r)
        }
        Expr::Match(x, p, negated) => Ok(bool_str(p.matches(&ev(x)?) != *negated)),
        Expr::Call(f, args) => {
            let mut vals = Vec::with_capacity(args.len());
            for a in args {
                vals.push(match a {
                    Some(a) => Some(ev(a)?),
                    None => None,
                });
            }
            apply(*f, &vals, &env.services())
        }
        Expr::Select(pairs) => {
            for (c, v) in pairs {
                if truthy(&ev(c)?) {
                    return ev(v);
                }
            }
            Err(EvalError::Other("<SELECT>: no $SELECT condition is true".into()))
        }
        Expr::AuxIsObject => Ok(bool_str(env.has_aux())),
    }
}

/// Evaluates `e` as a condition (true when its numeric value is not zero).
pub fn eval_bool(e: &Expr, env: &dyn Env) -> Result<bool, EvalError> {
    Ok(truthy(&eval(e, env)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_follow_objectscript() {
        assert_eq!(binary(BinOp::Gt, "68.5", "9").unwrap(), "1");
        assert_eq!(binary(BinOp::Eq, "68.5", "68.50").unwrap(), "0");
        assert_eq!(binary(BinOp::Lt, "", "1").unwrap(), "1");
        assert_eq!(binary(BinOp::Contains, "O'BRIEN", "BRIEN").unwrap(), "1");
        assert_eq!(binary(BinOp::Sub, "172", "68.5").unwrap(), "103.5");
        assert_eq!(binary(BinOp::Div, "1", "0"), Err(EvalError::DivideByZero));
        assert_eq!(binary(BinOp::SortsAfter, "B", "10").unwrap(), "1");
        assert_eq!(binary(BinOp::SortsAfter, "9", "10").unwrap(), "0");
        assert_eq!(binary(BinOp::Follows, "9", "10").unwrap(), "1");
    }
}
