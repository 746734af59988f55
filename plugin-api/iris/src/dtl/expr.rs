//! The DTL value language: ObjectScript expressions, evaluated **strictly left to right with
//! no operator precedence** (`1+2*3` is 9; `a="X"&&b="Y"` is `((a="X")&&b)="Y"`).
//!
//! Operands: string and numeric literals, `(expr)`, `source.{path}`, `target.{path}`,
//! `source.Prop` (DocType, DocTypeCategory, DocTypeName, Name), `aux.Prop`, local variables
//! and loop keys, `..Function(args)` (the function set), the intrinsics `$PIECE/$P`,
//! `$EXTRACT/$E`, `$LENGTH/$L`, `$TRANSLATE/$TR`, `$ZCONVERT/$ZCVT`, `$CHAR/$C`,
//! `$REPLACE`, `$ZSTRIP`, `$SELECT/$S`, and `$ISOBJECT(aux)`. Operators: `_ + - * / \ # **`,
//! `= < > <= >=`, `[ ] ]]`, `?pattern`, each with its `'` negation, `& &&` (and), `! ||`
//! (or), unary `' - +`.
//!
//! # Invariants
//!
//! - `##class(...)`, other `$` functions and method calls are refused as
//!   [`ExprError::Unsupported`]; an unknown `..Name` is [`ExprError::UnknownFunction`]; a
//!   bare function name without `..` is refused (it is an undefined variable in IRIS).
//! - Paths are parsed for the document kind: field-only paths when the side is a segment.

use crate::expr::{Base, BinOp, Expr, Form, PathRef, UnOp, Var};
use crate::functions::Func;
use crate::lex::{Budget, Cursor, ExprError};
use crate::pattern::Pattern;
use crate::rules::expr::check_call;
use crate::vpath::VPath;

/// What the parser needs to know about the transform.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sides {
    /// The source is a segment (`EnsLib.HL7.Segment`): paths are field-only.
    pub source_is_segment: bool,
    /// The target is a segment.
    pub target_is_segment: bool,
}

/// Parses a DTL expression.
pub fn parse(text: &str, sides: Sides) -> Result<Expr, ExprError> {
    let mut p = Parser { c: Cursor::new(text), sides, budget: Budget::default() };
    p.c.skip_ws();
    if p.c.at_end() {
        return Err(ExprError::Syntax("empty expression".into()));
    }
    let e = p.expr()?;
    p.c.skip_ws();
    if !p.c.at_end() {
        return Err(ExprError::Syntax(format!("unexpected {:?} after a complete expression", p.c.rest())));
    }
    Ok(e)
}

/// Parses the path inside `source.{...}` / `target.{...}` for a side.
pub fn side_path(body: &str, segment: bool) -> Result<VPath, ExprError> {
    let p = if segment { VPath::parse_field(body) } else { VPath::parse_message(body) };
    p.map_err(ExprError::Syntax)
}

struct Parser {
    c: Cursor,
    sides: Sides,
    budget: Budget,
}

enum Op {
    Bin(BinOp),
    Match(bool),
}

impl Parser {
    fn expr(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.unary()?;
        loop {
            self.c.skip_ws();
            let Some(op) = self.operator() else { break };
            self.budget.node()?;
            self.c.skip_ws();
            left = match op {
                Op::Bin(b) => Expr::Binary(b, Box::new(left), Box::new(self.unary()?)),
                Op::Match(negated) => Expr::Match(Box::new(left), self.pattern()?, negated),
            };
        }
        Ok(left)
    }

    fn operator(&mut self) -> Option<Op> {
        let c = &mut self.c;
        let negated = c.looking_at("'") && matches!(c.peek_at(1), Some('=' | '<' | '>' | '[' | ']' | '?'));
        if negated {
            c.advance(1);
        }
        let op = if c.eat("**") {
            BinOp::Pow
        } else if c.eat("&&") || c.eat("&") {
            BinOp::And
        } else if c.eat("||") || c.eat("!") {
            BinOp::Or
        } else if c.eat("_") {
            BinOp::Concat
        } else if c.eat("+") {
            BinOp::Add
        } else if c.eat("-") {
            BinOp::Sub
        } else if c.eat("*") {
            BinOp::Mul
        } else if c.eat("/") {
            BinOp::Div
        } else if c.eat("\\") {
            BinOp::IntDiv
        } else if c.eat("#") {
            BinOp::Mod
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
        } else if c.eat("]]") {
            BinOp::SortsAfter
        } else if c.eat("]") {
            BinOp::Follows
        } else if c.eat("?") {
            return Some(Op::Match(negated));
        } else {
            return None;
        };
        if !negated {
            return Some(Op::Bin(op));
        }
        Some(Op::Bin(match op {
            BinOp::Eq => BinOp::Ne,
            BinOp::Lt => BinOp::Ge,
            BinOp::Gt => BinOp::Le,
            BinOp::Contains => BinOp::NotContains,
            BinOp::Follows => BinOp::NotFollows,
            BinOp::SortsAfter => BinOp::NotSortsAfter,
            other => other,
        }))
    }

    /// The literal pattern after `?`.
    fn pattern(&mut self) -> Result<Pattern, ExprError> {
        let mut text = String::new();
        let mut depth = 0usize;
        while let Some(ch) = self.c.peek() {
            if ch == '"' {
                let s = self.c.string()?;
                text.push('"');
                text.push_str(&s.replace('"', "\"\""));
                text.push('"');
                continue;
            }
            let ok = ch.is_ascii_digit()
                || ch == '.'
                || matches!(ch.to_ascii_uppercase(), 'A' | 'C' | 'E' | 'L' | 'N' | 'P' | 'U')
                || ch == '('
                || (depth > 0 && (ch == ',' || ch == ')'));
            if !ok {
                break;
            }
            if ch == '(' {
                depth += 1;
            } else if ch == ')' {
                depth -= 1;
            }
            text.push(ch);
            self.c.advance(1);
        }
        if text.starts_with('@') || text.is_empty() {
            return Err(ExprError::Unsupported("? with an indirect or empty pattern".into()));
        }
        Pattern::parse(&text).map_err(ExprError::Syntax)
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
        if self.c.eat("'") {
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

    fn args(&mut self, name: &str) -> Result<Vec<Option<Expr>>, ExprError> {
        self.c.skip_ws();
        if !self.c.eat("(") {
            return Err(ExprError::Syntax(format!("expected '(' after {name}")));
        }
        let mut args = Vec::new();
        self.c.skip_ws();
        if self.c.eat(")") {
            return Ok(args);
        }
        loop {
            self.c.skip_ws();
            if self.c.looking_at(",") || self.c.looking_at(")") {
                args.push(None);
            } else {
                args.push(Some(self.expr()?));
            }
            self.c.skip_ws();
            if self.c.eat(",") {
                continue;
            }
            if self.c.eat(")") {
                return Ok(args);
            }
            return Err(ExprError::Syntax(format!("expected ',' or ')' in the arguments of {name}")));
        }
    }

    fn call(&mut self, f: Func, name: &str) -> Result<Expr, ExprError> {
        let args = self.args(name)?;
        let refs: Vec<Option<&Expr>> = args.iter().map(Option::as_ref).collect();
        check_call(f, &refs)?;
        Ok(Expr::Call(f, args))
    }

    fn intrinsic(&mut self) -> Result<Expr, ExprError> {
        let name = format!("${}", self.c.ident());
        let upper = name.to_ascii_uppercase();
        if upper == "$S" || upper == "$SELECT" {
            return self.select();
        }
        if upper == "$ISOBJECT" {
            let args = self.args(&name)?;
            return match args.as_slice() {
                [Some(Expr::Var(Var::Aux(p)))] if p.is_empty() => Ok(Expr::AuxIsObject),
                _ => Err(ExprError::Unsupported("$ISOBJECT of anything but aux".into())),
            };
        }
        match Func::from_intrinsic(&name) {
            Some(f) => self.call(f, &name),
            None => Err(ExprError::Unsupported(name)),
        }
    }

    fn select(&mut self) -> Result<Expr, ExprError> {
        self.c.skip_ws();
        if !self.c.eat("(") {
            return Err(ExprError::Syntax("expected '(' after $SELECT".into()));
        }
        let mut pairs = Vec::new();
        loop {
            let cond = self.expr()?;
            self.c.skip_ws();
            if !self.c.eat(":") {
                return Err(ExprError::Syntax("$SELECT needs condition:value pairs".into()));
            }
            let value = self.expr()?;
            pairs.push((cond, value));
            self.c.skip_ws();
            if self.c.eat(",") {
                continue;
            }
            if self.c.eat(")") {
                return Ok(Expr::Select(pairs));
            }
            return Err(ExprError::Syntax("expected ',' or ')' in $SELECT".into()));
        }
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
            let e = self.expr()?;
            self.c.skip_ws();
            if !self.c.eat(")") {
                return Err(ExprError::Syntax(format!("missing ')' before {:?}", self.c.rest())));
            }
            return Ok(e);
        }
        if self.c.looking_at("##") {
            return Err(ExprError::Unsupported("##class".into()));
        }
        if ch == '$' {
            self.c.advance(1);
            return self.intrinsic();
        }
        if self.c.eat("..") {
            let name = self.c.ident();
            if self.c.peek() != Some('(') {
                return Err(ExprError::Unsupported(format!("..{name} (a property of the transform class)")));
            }
            return match Func::from_name(&name) {
                Some(f) => self.call(f, &name),
                None => Err(ExprError::UnknownFunction(name)),
            };
        }
        if !self.c.at_ident() {
            return Err(ExprError::Syntax(format!("unexpected {:?} where an operand is expected", self.c.rest())));
        }
        let name = self.c.ident();
        match name.as_str() {
            "source" | "target" => self.side(&name),
            "aux" => {
                if !self.c.eat(".") {
                    return Ok(Expr::Var(Var::Aux(String::new())));
                }
                let prop = self.c.ident();
                if prop.is_empty() || self.c.peek() == Some('(') || self.c.peek() == Some('.') {
                    return Err(ExprError::Unsupported(format!("aux.{prop}{}", self.c.rest())));
                }
                Ok(Expr::Var(Var::Aux(prop)))
            }
            _ => {
                if self.c.peek() == Some('(') {
                    return Err(ExprError::Syntax(format!(
                        "{name}(...) without '..' is an undefined variable in IRIS (write ..{name}(...))"
                    )));
                }
                if self.c.peek() == Some('.') && self.c.peek_at(1).is_some_and(|c| c.is_ascii_alphabetic()) {
                    return Err(ExprError::Unsupported(format!("{name}.{} (object property)", self.c.rest())));
                }
                Ok(Expr::Var(Var::Local(name)))
            }
        }
    }

    fn side(&mut self, name: &str) -> Result<Expr, ExprError> {
        let (base, segment) = if name == "source" {
            (Base::Source, self.sides.source_is_segment)
        } else {
            (Base::Target, self.sides.target_is_segment)
        };
        if !self.c.eat(".") {
            return Err(ExprError::Unsupported(format!("{name} as a whole object in an expression")));
        }
        if self.c.eat("{") {
            let body = self.c.bracketed('{', '}')?;
            let path = side_path(&body, segment)?;
            return Ok(Expr::Path(PathRef { base, form: Form::Curly, path }));
        }
        let prop = self.c.ident();
        if self.c.peek() == Some('(') {
            return Err(ExprError::Unsupported(format!("{name}.{prop}() (method call)")));
        }
        match prop.as_str() {
            "DocType" | "DocTypeCategory" | "DocTypeName" | "Name" if base == Base::Source => {
                Ok(Expr::Var(Var::DocProp(prop)))
            }
            _ => Err(ExprError::Unsupported(format!("{name}.{prop} (object property)"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Expr {
        parse(s, Sides::default()).unwrap()
    }

    fn lit(s: &str) -> Expr {
        Expr::Lit(s.into())
    }

    fn bin(op: BinOp, a: Expr, b: Expr) -> Expr {
        Expr::Binary(op, Box::new(a), Box::new(b))
    }

    #[test]
    fn strictly_left_to_right() {
        assert_eq!(p("1+2*3"), bin(BinOp::Mul, bin(BinOp::Add, lit("1"), lit("2")), lit("3")));
        let x = p("a=\"X\"&&b=\"Y\"");
        let expected = bin(
            BinOp::Eq,
            bin(
                BinOp::And,
                bin(BinOp::Eq, Expr::Var(Var::Local("a".into())), lit("X")),
                Expr::Var(Var::Local("b".into())),
            ),
            lit("Y"),
        );
        assert_eq!(x, expected);
    }

    #[test]
    fn negated_operators_and_patterns() {
        assert_eq!(p("x'=\"\""), bin(BinOp::Ne, Expr::Var(Var::Local("x".into())), lit("")));
        assert!(matches!(p("x?10N"), Expr::Match(_, _, false)));
        assert!(matches!(p("x'?1\"-\"3N"), Expr::Match(_, _, true)));
        assert_eq!(p("'1"), Expr::Unary(UnOp::Not, Box::new(lit("1"))));
    }

    #[test]
    fn functions_and_intrinsics() {
        assert!(matches!(p("..ToUpper(\"a\")"), Expr::Call(Func::ToUpper, _)));
        assert!(matches!(p("$P(\"a^b\",\"^\",2)"), Expr::Call(Func::ZPiece, _)));
        assert!(matches!(p("$S(1:\"a\",1:\"b\")"), Expr::Select(_)));
        assert_eq!(p("$IsObject(aux)"), Expr::AuxIsObject);
        let s = Sides::default();
        assert_eq!(parse("..EndsWith(1,2)", s), Err(ExprError::UnknownFunction("EndsWith".into())));
        assert_eq!(parse("##class(A).B()", s), Err(ExprError::Unsupported("##class".into())));
        assert_eq!(parse("$ZDATE(1)", s), Err(ExprError::Unsupported("$ZDATE".into())));
        assert!(matches!(parse("ToUpper(1)", s), Err(ExprError::Syntax(_))));
        assert!(matches!(parse("source.GetValueAt(\"x\")", s), Err(ExprError::Unsupported(_))));
    }

    #[test]
    fn huge_or_deep_expressions_are_refused() {
        let s = Sides::default();
        assert!(parse(&vec!["1"; 2000].join("_"), s).is_err());
        assert!(parse(&("(".repeat(500) + "1" + &")".repeat(500)), s).is_err());
        assert!(parse(&"'".repeat(100_000), s).is_err());
    }

    #[test]
    fn segment_sides_take_field_paths() {
        let s = Sides { source_is_segment: true, target_is_segment: true };
        assert!(parse("source.{PatientName(1).FamilyName}", s).is_ok());
        assert!(parse("source.{PID:5}", s).is_err());
        assert!(matches!(p("source.{PIDgrpgrp(1).ORCgrp(1).OBXgrp(k1).OBX:5}"), Expr::Path(_)));
    }
}
