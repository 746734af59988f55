//! The rule expression language (conditions and `trace`/`assign`/`debug` values), parsed
//! into [`Expr`] with IRIS's documented precedence.
//!
//! Precedence, tightest first (Developing Business Rules, "Operators"; see
//! `docs/iris-formats.md` §1.6.2): unary `!` `-` `+`; comparisons `=` `!=` (`<>`) `<` `>`
//! `<=` `>=`, `[` and the word operators (`Contains`, `In`, `Matches`, ...); `*` `/`; `+`
//! `-`; `&` `_` (both concatenate); `&&`; `||`. Comparisons therefore bind tighter than
//! arithmetic and concatenation: `a_"^"_b="X"` is `a_"^"_(b="X")`. HIE follows the documented
//! table (open question 5 of the reference); real rules parenthesise such mixes.
//!
//! # Invariants
//!
//! - Every function name is resolved at parse time: unknown names are
//!   [`ExprError::UnknownFunction`], `Rule()`, `##class` and `$` intrinsics are
//!   [`ExprError::Unsupported`]; arities and literal patterns/formats are checked.
//! - `Segment` is only accepted inside a `foreach`; unknown variables are refused.

use crate::expr::{Base, BinOp, Expr, Form, PathRef, UnOp, Var};
use crate::functions::{Func, check_literals};
use crate::lex::{Budget, Cursor, ExprError};
use crate::vpath::VPath;

/// What the parser needs to know about where the expression stands.
#[derive(Clone, Copy, Debug, Default)]
pub struct Scope<'a> {
    /// Inside a `foreach` (`Segment` is defined).
    pub in_foreach: bool,
    /// Names of the rule definition's `<variable>`s.
    pub variables: &'a [String],
}

/// The word operators and the functions they stand for.
const WORD_OPS: &[(&str, Func)] = &[
    ("DoesNotContain", Func::DoesNotContain),
    ("DoesNotStartWith", Func::DoesNotStartWith),
    ("DoesNotIntersectList", Func::DoesNotIntersectList),
    ("DoesNotMatch", Func::DoesNotMatch),
    ("Contains", Func::Contains),
    ("StartsWith", Func::StartsWith),
    ("NotInFile", Func::NotInFile),
    ("InFile", Func::InFile),
    ("NotIn", Func::NotIn),
    ("In", Func::In),
    ("NotLike", Func::NotLike),
    ("Like", Func::Like),
    ("Matches", Func::Matches),
    ("IntersectsList", Func::IntersectsList),
];

/// Parses a rule expression.
pub fn parse(text: &str, scope: Scope<'_>) -> Result<Expr, ExprError> {
    let mut p = Parser { c: Cursor::new(text), scope, budget: Budget::default() };
    p.c.skip_ws();
    if p.c.at_end() {
        return Err(ExprError::Syntax("empty expression".into()));
    }
    let e = p.level(0)?;
    p.c.skip_ws();
    if !p.c.at_end() {
        return Err(ExprError::Syntax(format!("unexpected {:?} after a complete expression", p.c.rest())));
    }
    Ok(e)
}

struct Parser<'a> {
    c: Cursor,
    scope: Scope<'a>,
    budget: Budget,
}

fn bin(op: BinOp, l: Expr, r: Expr) -> Expr {
    Expr::Binary(op, Box::new(l), Box::new(r))
}

impl Parser<'_> {
    /// Binary levels 0 (`||`), 1 (`&&`), 2 (`_` `&`), 3 (`+` `-`), 4 (`*` `/`) and 5
    /// (comparisons); 6 is unary.
    fn level(&mut self, lvl: u8) -> Result<Expr, ExprError> {
        if lvl == 6 {
            return self.unary();
        }
        let mut left = self.level(lvl + 1)?;
        loop {
            self.c.skip_ws();
            let Some(op) = self.operator(lvl) else { break };
            self.budget.node()?;
            self.c.skip_ws();
            let right = self.level(lvl + 1)?;
            left = match op {
                Op::Bin(b) => bin(b, left, right),
                Op::Word(f) => {
                    check_call(f, &[Some(&left), Some(&right)])?;
                    Expr::Call(f, vec![Some(left), Some(right)])
                }
            };
        }
        Ok(left)
    }

    /// The operator of level `lvl` at the cursor, consumed.
    fn operator(&mut self, lvl: u8) -> Option<Op> {
        let c = &mut self.c;
        match lvl {
            0 => c.eat("||").then_some(Op::Bin(BinOp::Or)),
            1 => c.eat("&&").then_some(Op::Bin(BinOp::And)),
            2 => {
                if c.looking_at("&&") {
                    None
                } else if c.eat("&") || c.eat("_") {
                    Some(Op::Bin(BinOp::Concat))
                } else {
                    None
                }
            }
            3 => {
                if c.eat("+") {
                    Some(Op::Bin(BinOp::Add))
                } else if c.eat("-") {
                    Some(Op::Bin(BinOp::Sub))
                } else {
                    None
                }
            }
            4 => {
                if c.eat("*") {
                    Some(Op::Bin(BinOp::Mul))
                } else if c.eat("/") {
                    Some(Op::Bin(BinOp::Div))
                } else {
                    None
                }
            }
            5 => self.comparison(),
            _ => None,
        }
    }

    /// Comparison operators sit between `*`/`/` and unary (documented precedence level 1).
    fn comparison(&mut self) -> Option<Op> {
        let c = &mut self.c;
        let op = if c.eat("!=") || c.eat("<>") {
            BinOp::Ne
        } else if c.eat("<=") {
            BinOp::Le
        } else if c.eat(">=") {
            BinOp::Ge
        } else if c.eat("=") {
            BinOp::Eq
        } else if c.eat("<") {
            BinOp::Lt
        } else if c.eat(">") {
            BinOp::Gt
        } else if c.eat("[") {
            BinOp::Contains
        } else {
            for (word, f) in WORD_OPS {
                let n = word.len();
                let boundary = c.peek_at(n).is_none_or(|ch| !ch.is_ascii_alphanumeric());
                if c.looking_at_ci(word) && boundary {
                    c.advance(n);
                    return Some(Op::Word(*f));
                }
            }
            return None;
        };
        Some(Op::Bin(op))
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        self.budget.node()?;
        self.budget.enter()?;
        let r = self.unary_inner();
        self.budget.leave();
        r
    }

    fn unary_inner(&mut self) -> Result<Expr, ExprError> {
        self.c.skip_ws();
        if self.c.looking_at("!") && !self.c.looking_at("!=") {
            self.c.advance(1);
            return Ok(Expr::Unary(UnOp::Not, Box::new(self.unary()?)));
        }
        if self.c.eat("-") {
            return Ok(Expr::Unary(UnOp::Neg, Box::new(self.unary()?)));
        }
        if self.c.eat("+") {
            return Ok(Expr::Unary(UnOp::Plus, Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        self.c.skip_ws();
        let Some(ch) = self.c.peek() else {
            return Err(ExprError::Syntax("expression ends where an operand is expected".into()));
        };
        if ch == '"' {
            return Ok(Expr::Lit(self.c.string()?));
        }
        if self.c.at_number() {
            return Ok(Expr::Lit(self.c.number()));
        }
        if ch == '(' {
            self.c.advance(1);
            let e = self.level(0)?;
            self.c.skip_ws();
            if !self.c.eat(")") {
                return Err(ExprError::Syntax(format!("missing ')' before {:?}", self.c.rest())));
            }
            return Ok(e);
        }
        if ch == '[' {
            self.c.advance(1);
            let body = self.c.bracketed('[', ']')?;
            return Ok(Expr::Path(PathRef { base: Base::Document, form: Form::Square, path: square_path(&body)? }));
        }
        if self.c.looking_at("##") {
            return Err(ExprError::Unsupported("##class".into()));
        }
        if ch == '$' {
            self.c.advance(1);
            let name = self.c.ident();
            return Err(ExprError::Unsupported(format!("${name}")));
        }
        if ch == '.' && self.c.peek_at(1) == Some('.') {
            return Err(ExprError::Unsupported("..method (class method call)".into()));
        }
        if !self.c.at_ident() {
            return Err(ExprError::Syntax(format!("unexpected {:?} where an operand is expected", self.c.rest())));
        }
        let name = self.c.ident();
        if self.c.peek() == Some('(') {
            return self.call(&name);
        }
        self.variable(&name)
    }

    fn call(&mut self, name: &str) -> Result<Expr, ExprError> {
        let f = match Func::from_name(name) {
            Some(f) => f,
            None if name.eq_ignore_ascii_case("Rule") => return Err(ExprError::Unsupported("Rule()".into())),
            None => return Err(ExprError::UnknownFunction(name.to_owned())),
        };
        self.c.advance(1);
        let mut args = Vec::new();
        self.c.skip_ws();
        if !self.c.eat(")") {
            loop {
                self.c.skip_ws();
                if self.c.looking_at(",") || self.c.looking_at(")") {
                    args.push(None);
                } else {
                    args.push(Some(self.level(0)?));
                }
                self.c.skip_ws();
                if self.c.eat(",") {
                    continue;
                }
                if self.c.eat(")") {
                    break;
                }
                return Err(ExprError::Syntax(format!("expected ',' or ')' in the arguments of {name}()")));
            }
        }
        let refs: Vec<Option<&Expr>> = args.iter().map(Option::as_ref).collect();
        check_call(f, &refs)?;
        Ok(Expr::Call(f, args))
    }

    fn variable(&mut self, name: &str) -> Result<Expr, ExprError> {
        let doc = matches!(name, "HL7" | "Document");
        let seg = name == "Segment";
        if (doc || seg) && self.c.peek() == Some('.') {
            if seg && !self.scope.in_foreach {
                return Err(ExprError::Syntax("Segment is only defined inside a foreach".into()));
            }
            let base = if seg { Base::Segment } else { Base::Document };
            match self.c.peek_at(1) {
                Some('{') => {
                    self.c.advance(2);
                    let body = self.c.bracketed('{', '}')?;
                    let path = if seg { VPath::parse_field(&body) } else { VPath::parse_message(&body) };
                    let path = path.map_err(ExprError::Syntax)?;
                    return Ok(Expr::Path(PathRef { base, form: Form::Curly, path }));
                }
                Some('(') if !seg => {
                    self.c.advance(2);
                    let body = self.c.bracketed('(', ')')?;
                    let path = VPath::parse_message(&body).map_err(ExprError::Syntax)?;
                    if !path.has_all() {
                        return Err(ExprError::Syntax(format!("{name}.({body}) needs a () repetition in its path")));
                    }
                    return Ok(Expr::Path(PathRef { base, form: Form::Paren, path }));
                }
                Some('<') => return Err(ExprError::Unsupported(format!("{name}.<xpath>"))),
                _ if name == "Document" => {
                    self.c.advance(1);
                    let prop = self.c.ident();
                    if prop.is_empty() {
                        return Err(ExprError::Syntax("expected a property name after Document.".into()));
                    }
                    if self.c.peek() == Some('(') {
                        return Err(ExprError::Unsupported(format!("Document.{prop}() (method call)")));
                    }
                    let mut full = prop;
                    while self.c.peek() == Some('.') && self.c.peek_at(1).is_some_and(|c| c.is_ascii_alphabetic()) {
                        self.c.advance(1);
                        full.push('.');
                        full.push_str(&self.c.ident());
                    }
                    return Ok(Expr::Var(Var::DocProp(full)));
                }
                _ => {}
            }
        }
        let v = match name {
            "Source" => Var::Source,
            "MsgClass" => Var::MsgClass,
            "DocType" => Var::DocType,
            "DocName" => Var::DocName,
            "RuleUserData" => Var::RuleUserData,
            "RuleActionUserData" => Var::RuleActionUserData,
            "RuleReason" => Var::RuleReason,
            "BusinessRuleName" => Var::BusinessRuleName,
            n if self.scope.variables.iter().any(|v| v == n) => Var::Local(n.to_owned()),
            "HL7" | "Document" | "Segment" => {
                return Err(ExprError::Unsupported(format!("{name} as a whole object (use {name}.{{path}})")));
            }
            _ => {
                return Err(ExprError::Syntax(format!(
                    "unknown variable {name} (rules know Source, MsgClass, DocType, DocName, HL7.{{...}}, \
                     Document.{{...}}, Segment.{{...}}, RuleUserData, RuleActionUserData, RuleReason, \
                     BusinessRuleName and the rule's <variable>s)"
                )));
            }
        };
        Ok(Expr::Var(v))
    }
}

enum Op {
    Bin(BinOp),
    Word(Func),
}

/// Checks arity and literal arguments of a call.
pub fn check_call(f: Func, args: &[Option<&Expr>]) -> Result<(), ExprError> {
    let (min, max) = f.arity();
    if args.len() < min || args.len() > max {
        let want = if min == max { format!("{min}") } else { format!("{min} to {max}") };
        return Err(ExprError::Syntax(format!("{}() takes {want} arguments, got {}", f.name(), args.len())));
    }
    let lits: Vec<Option<&str>> = args.iter().map(|a| a.and_then(Expr::as_lit)).collect();
    check_literals(f, &lits).map_err(ExprError::Syntax)
}

/// `[SEG:field]`: a segment name and a field path, with `()` only in the field part.
fn square_path(body: &str) -> Result<VPath, ExprError> {
    let path = VPath::parse_message(body).map_err(ExprError::Syntax)?;
    let plain_segment = path.segment.len() == 1 && path.segment[0].index == crate::vpath::Index::None;
    if !plain_segment || path.field.is_empty() {
        return Err(ExprError::Syntax(format!("[{body}] must be [SEG:field] (a segment name and a field path)")));
    }
    if path.is_count() {
        return Err(ExprError::Syntax(format!("[{body}]: (*) is not allowed in square-bracket syntax")));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Expr {
        parse(s, Scope { in_foreach: true, variables: &[] }).unwrap()
    }

    fn lit(s: &str) -> Expr {
        Expr::Lit(s.into())
    }

    #[test]
    fn comparisons_bind_tighter_than_concatenation_as_documented() {
        let e = p("\"a\"_\"b\"=\"b\"");
        assert_eq!(e, bin(BinOp::Concat, lit("a"), bin(BinOp::Eq, lit("b"), lit("b"))));
        let e = p("1+2*3");
        assert_eq!(e, bin(BinOp::Add, lit("1"), bin(BinOp::Mul, lit("2"), lit("3"))));
        let e = p("2*3=6");
        assert_eq!(e, bin(BinOp::Mul, lit("2"), bin(BinOp::Eq, lit("3"), lit("6"))));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let e = p("1&&0||1");
        assert_eq!(e, bin(BinOp::Or, bin(BinOp::And, lit("1"), lit("0")), lit("1")));
    }

    #[test]
    fn word_operators_are_calls() {
        assert_eq!(p("\"x\" contains \"y\""), Expr::Call(Func::Contains, vec![Some(lit("x")), Some(lit("y"))]));
        assert_eq!(p("\"x\" NotIn \"y\""), Expr::Call(Func::NotIn, vec![Some(lit("x")), Some(lit("y"))]));
    }

    #[test]
    fn numeric_literals_are_canonical() {
        assert_eq!(p("68.50"), lit("68.5"));
    }

    #[test]
    fn unsupported_constructs_are_named() {
        let s = Scope::default();
        assert_eq!(parse("##class(A.B).C(1)", s), Err(ExprError::Unsupported("##class".into())));
        assert_eq!(parse("EndsWith(\"a\",\"b\")", s), Err(ExprError::UnknownFunction("EndsWith".into())));
        assert_eq!(parse("$ZDATE(1)", s), Err(ExprError::Unsupported("$ZDATE".into())));
        assert_eq!(parse("Rule(\"x\")", s), Err(ExprError::Unsupported("Rule()".into())));
        assert!(matches!(parse("Segment.{3}", s), Err(ExprError::Syntax(_))));
        assert!(matches!(parse("Foo=1", s), Err(ExprError::Syntax(_))));
        assert!(matches!(parse("Matches(\"a\",\"3X\")", s), Err(ExprError::Syntax(_))));
        assert!(matches!(parse("Contains(\"a\")", s), Err(ExprError::Syntax(_))));
        assert!(matches!(parse("(1", s), Err(ExprError::Syntax(_))));
        assert!(matches!(parse("1 2", s), Err(ExprError::Syntax(_))));
    }

    #[test]
    fn huge_or_deep_expressions_are_refused() {
        let s = Scope::default();
        let long = vec!["1"; 2000].join("+");
        assert!(matches!(parse(&long, s), Err(ExprError::Syntax(m)) if m.contains("operands")));
        let deep = "(".repeat(500) + "1" + &")".repeat(500);
        assert!(matches!(parse(&deep, s), Err(ExprError::Syntax(m)) if m.contains("nested")));
        assert!(parse(&"!".repeat(100_000), s).is_err());
    }

    #[test]
    fn paths_of_every_form_parse() {
        assert!(matches!(p("HL7.{PID:5.1}"), Expr::Path(PathRef { form: Form::Curly, .. })));
        assert!(matches!(p("HL7.(PID:3().4)"), Expr::Path(PathRef { form: Form::Paren, .. })));
        assert!(matches!(p("[OBX:3.1]"), Expr::Path(PathRef { form: Form::Square, .. })));
        assert!(matches!(p("HL7.{PID:5.1}[\"X\""), Expr::Binary(BinOp::Contains, ..)));
        assert_eq!(p("Document.SourceConfigName"), Expr::Var(Var::DocProp("SourceConfigName".into())));
        assert!(matches!(p("Segment.{3.1}"), Expr::Path(PathRef { base: Base::Segment, .. })));
    }
}
