//! The character cursor both expression parsers read with: literals, identifiers and the
//! bodies of `{...}`, `(...)` and `[...]` paths.
//!
//! # Invariants
//!
//! - The cursor only moves forward and never indexes past the end; every reader returns
//!   `None`/an error instead of panicking.
//! - String literals use doubled quotes (`"a""b"` is `a"b`); numeric literals are returned in
//!   ObjectScript canonical form (`68.50` → `68.5`).

use crate::num::Num;

/// Most operands plus operators one expression may have (keeps trees shallow enough to
/// evaluate and drop without deep recursion).
pub const MAX_NODES: usize = 1000;

/// Deepest nesting of parentheses, unary operators and calls in one expression.
pub const MAX_NEST: usize = 64;

/// Counts nodes and nesting while parsing; errors past [`MAX_NODES`] / [`MAX_NEST`].
#[derive(Debug, Default)]
pub struct Budget {
    nodes: usize,
    nest: usize,
}

impl Budget {
    /// One more node.
    pub fn node(&mut self) -> Result<(), ExprError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(ExprError::Syntax(format!("expression has more than {MAX_NODES} operands and operators")));
        }
        Ok(())
    }

    /// Enters a nested construct.
    pub fn enter(&mut self) -> Result<(), ExprError> {
        self.nest += 1;
        if self.nest > MAX_NEST {
            return Err(ExprError::Syntax(format!("expression nested deeper than {MAX_NEST} levels")));
        }
        Ok(())
    }

    /// Leaves a nested construct.
    pub fn leave(&mut self) {
        self.nest = self.nest.saturating_sub(1);
    }
}

/// Why an expression was refused; the compilers turn it into a [`crate::LoadError`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExprError {
    /// A construct HIE does not evaluate (`##class`, `$ZDATE`, `Rule`, ...).
    Unsupported(String),
    /// A function that is not in the function set.
    UnknownFunction(String),
    /// Any other syntax or placement problem.
    Syntax(String),
}

/// A cursor over an expression's characters.
pub struct Cursor {
    chars: Vec<char>,
    /// Current position (index into the characters).
    pub pos: usize,
}

impl Cursor {
    /// A cursor at the start of `text`.
    pub fn new(text: &str) -> Cursor {
        Cursor { chars: text.chars().collect(), pos: 0 }
    }

    /// The character at the cursor.
    pub fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    /// The character `n` places ahead.
    pub fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.pos + n).copied()
    }

    /// True when the text at the cursor starts with `s`.
    pub fn looking_at(&self, s: &str) -> bool {
        (self.pos..).zip(s.chars()).all(|(i, c)| self.chars.get(i) == Some(&c))
    }

    /// Like [`Cursor::looking_at`], ignoring ASCII case.
    pub fn looking_at_ci(&self, s: &str) -> bool {
        (self.pos..).zip(s.chars()).all(|(i, c)| self.chars.get(i).is_some_and(|x| x.eq_ignore_ascii_case(&c)))
    }

    /// Consumes `s` when the text starts with it.
    pub fn eat(&mut self, s: &str) -> bool {
        if self.looking_at(s) {
            self.pos += s.chars().count();
            true
        } else {
            false
        }
    }

    /// Moves `n` characters forward.
    pub fn advance(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.chars.len());
    }

    /// Skips whitespace.
    pub fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// True at the end.
    pub fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    /// The rest of the text (for messages).
    pub fn rest(&self) -> String {
        self.chars[self.pos.min(self.chars.len())..].iter().take(30).collect()
    }

    /// Reads a double-quoted string literal at the cursor (which is on the opening quote).
    pub fn string(&mut self) -> Result<String, ExprError> {
        self.pos += 1;
        let mut s = String::new();
        loop {
            match self.peek() {
                None => return Err(ExprError::Syntax("unterminated string literal (missing \")".into())),
                Some('"') if self.peek_at(1) == Some('"') => {
                    s.push('"');
                    self.pos += 2;
                }
                Some('"') => {
                    self.pos += 1;
                    return Ok(s);
                }
                Some(c) => {
                    s.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// True when a numeric literal starts at the cursor.
    pub fn at_number(&self) -> bool {
        match self.peek() {
            Some(c) if c.is_ascii_digit() => true,
            Some('.') => self.peek_at(1).is_some_and(|c| c.is_ascii_digit()),
            _ => false,
        }
    }

    /// Reads an unsigned numeric literal, returned in canonical form.
    pub fn number(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
        }
        if matches!(self.peek(), Some('E' | 'e')) {
            let save = self.pos;
            self.pos += 1;
            if matches!(self.peek(), Some('+' | '-')) {
                self.pos += 1;
            }
            if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
            } else {
                self.pos = save;
            }
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        Num::parse_prefix(&text).to_string()
    }

    /// True when an identifier starts at the cursor.
    pub fn at_ident(&self) -> bool {
        self.peek().is_some_and(|c| c.is_ascii_alphabetic() || c == '%')
    }

    /// Reads an identifier (`[A-Za-z%][A-Za-z0-9]*`; `_` is the concatenation operator).
    pub fn ident(&mut self) -> String {
        let start = self.pos;
        if self.at_ident() {
            self.pos += 1;
            while self.peek().is_some_and(|c| c.is_ascii_alphanumeric()) {
                self.pos += 1;
            }
        }
        self.chars[start..self.pos].iter().collect()
    }

    /// Reads the body of a bracketed path up to the matching `close` (the cursor is just
    /// after the opening bracket); nested `open`/`close` pairs and quoted text are kept.
    pub fn bracketed(&mut self, open: char, close: char) -> Result<String, ExprError> {
        let start = self.pos;
        let mut depth = 0usize;
        let mut quoted = false;
        while let Some(c) = self.peek() {
            if c == '"' {
                quoted = !quoted;
            } else if !quoted && c == open {
                depth += 1;
            } else if !quoted && c == close {
                if depth == 0 {
                    let body: String = self.chars[start..self.pos].iter().collect();
                    self.pos += 1;
                    return Ok(body);
                }
                depth -= 1;
            }
            self.pos += 1;
        }
        Err(ExprError::Syntax(format!("missing '{close}' after '{open}'")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_paths() {
        let mut c = Cursor::new("\"2A1N1\"\" \"\"1N2A\" 68.50 1E3 PIDgrp(1).OBX:5} x");
        assert_eq!(c.string().unwrap(), "2A1N1\" \"1N2A");
        c.skip_ws();
        assert_eq!(c.number(), "68.5");
        c.skip_ws();
        assert_eq!(c.number(), "1000");
        c.skip_ws();
        assert_eq!(c.bracketed('{', '}').unwrap(), "PIDgrp(1).OBX:5");
        c.skip_ws();
        assert_eq!(c.ident(), "x");
        assert!(c.at_end());
        assert!(Cursor::new("\"abc").string().is_err());
        let mut p = Cursor::new("PID:3");
        assert!(p.bracketed('{', '}').is_err());
    }
}
