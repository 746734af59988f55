//! IRIS virtual property paths as written in rules and DTLs (`PIDgrpgrp(1).ORCgrp(k1).OBX:5`,
//! `PID:PatientName(1).FamilyName`, `OBX(*)`, `PID:3()`, `NK1(1)`, `13` in a segment DTL).
//!
//! This module only parses the text into steps; an index may still be a loop variable
//! (`k1`) that the evaluator substitutes before the path is resolved against a message.
//!
//! Grammar (`docs/iris-formats.md` §3.1):
//!
//! ```text
//! path      := segpath [ ":" fieldpath ]       (segment-level documents: fieldpath only)
//! segpath   := segstep ( "." segstep )*
//! fieldpath := fieldstep ( "." fieldstep )*    field, component, subcomponent
//! step      := ( NAME | NUMBER ) [ "(" index ")" ]
//! index     := NUMBER | VARIABLE | "" | "*" | "\"*\"" | "-"
//! ```
//!
//! # Invariants
//!
//! - Names and numbers are not mixed within the segment part or within the field part (IRIS
//!   treats such paths as invalid); only the field step (not components) takes an index; at
//!   most one `()` appears in a path; `(-)` (XML documents only) is refused.
//! - Parsing never panics; numbers are capped at [`hie_hl7::path::MAX_INDEX`].

use std::fmt;

use hie_hl7::path::MAX_INDEX;

/// What one step names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepName {
    /// A symbolic name: segment, group, field or component name.
    Name(String),
    /// A number: segment position, field, component or subcomponent number.
    Number(usize),
}

/// The index of a step, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Index {
    /// No parentheses: the first (or only) occurrence.
    None,
    /// `(n)`.
    Num(usize),
    /// `(k1)`: a loop key or variable, substituted at run time.
    Var(String),
    /// `()`: every occurrence (iteration).
    All,
    /// `(*)` or `("*")`: the number of occurrences.
    Count,
}

/// One step of a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// What the step names.
    pub name: StepName,
    /// Its index.
    pub index: Index,
}

/// A parsed path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VPath {
    /// Segment and group steps (empty for segment-level paths).
    pub segment: Vec<Step>,
    /// Field, component and subcomponent steps (empty when the path names a whole segment
    /// or group).
    pub field: Vec<Step>,
    /// The text as written.
    pub text: String,
}

impl fmt::Display for VPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '%'
}

fn parse_index(inner: &str, path: &str) -> Result<Index, String> {
    let t = inner.trim();
    if t.is_empty() {
        return Ok(Index::All);
    }
    if t == "*" || t == "\"*\"" {
        return Ok(Index::Count);
    }
    if t == "-" {
        return Err(format!("path {path:?}: (-) is only defined for XML virtual documents"));
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        let n = if t.len() > 5 { MAX_INDEX + 1 } else { t.parse::<usize>().unwrap_or(MAX_INDEX + 1) };
        if n == 0 || n > MAX_INDEX {
            return Err(format!("path {path:?}: index {t} is out of range (1 to {MAX_INDEX})"));
        }
        return Ok(Index::Num(n));
    }
    let first_ok = t.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '%');
    if first_ok && t.chars().all(is_name_char) {
        return Ok(Index::Var(t.to_owned()));
    }
    Err(format!("path {path:?}: unsupported index ({t}) (expected a number, a loop key, empty or *)"))
}

fn parse_steps(part: &str, path: &str, what: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    let chars: Vec<char> = part.chars().collect();
    let mut i = 0;
    loop {
        let start = i;
        while i < chars.len() && is_name_char(chars[i]) {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        if word.is_empty() {
            return Err(format!("path {path:?}: empty {what} step"));
        }
        let name = if word.bytes().all(|b| b.is_ascii_digit()) {
            let n = if word.len() > 5 { MAX_INDEX + 1 } else { word.parse::<usize>().unwrap_or(MAX_INDEX + 1) };
            if n == 0 || n > MAX_INDEX {
                return Err(format!("path {path:?}: number {word} is out of range (1 to {MAX_INDEX})"));
            }
            StepName::Number(n)
        } else {
            StepName::Name(word)
        };
        let mut index = Index::None;
        if chars.get(i) == Some(&'(') {
            let close = chars[i..].iter().position(|&c| c == ')').map(|p| p + i);
            let Some(close) = close else {
                return Err(format!("path {path:?}: missing ')'"));
            };
            let inner: String = chars[i + 1..close].iter().collect();
            index = parse_index(&inner, path)?;
            i = close + 1;
        }
        steps.push(Step { name, index });
        match chars.get(i) {
            None => break,
            Some('.') => i += 1,
            Some(c) => return Err(format!("path {path:?}: unexpected {c:?} in the {what} part")),
        }
    }
    let names = steps.iter().filter(|s| matches!(s.name, StepName::Name(_))).count();
    if names != 0 && names != steps.len() {
        return Err(format!("path {path:?}: names and numbers cannot be mixed in the {what} part"));
    }
    Ok(steps)
}

fn render_steps(steps: &[Step]) -> String {
    let mut out = String::new();
    for (i, s) in steps.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        match &s.name {
            StepName::Name(n) => out.push_str(n),
            StepName::Number(n) => out.push_str(&n.to_string()),
        }
        match &s.index {
            Index::None => {}
            Index::Num(n) => out.push_str(&format!("({n})")),
            Index::Var(v) => out.push_str(&format!("({v})")),
            Index::All => out.push_str("()"),
            Index::Count => out.push_str("(*)"),
        }
    }
    out
}

impl VPath {
    /// The path text rebuilt from its steps (after [`VPath::substitute`], the concrete path).
    pub fn render(&self) -> String {
        let seg = render_steps(&self.segment);
        let field = render_steps(&self.field);
        match (seg.is_empty(), field.is_empty()) {
            (true, _) => field,
            (false, true) => seg,
            (false, false) => format!("{seg}:{field}"),
        }
    }

    /// The segment part rebuilt from its steps (`PIDgrpgrp(1).PIDgrp.PID`).
    pub fn segment_text(&self) -> String {
        render_steps(&self.segment)
    }

    /// The field part rebuilt from its steps (`PatientName(1).FamilyName`).
    pub fn field_text(&self) -> String {
        render_steps(&self.field)
    }

    /// Parses a path into a message (`segpath[:fieldpath]`).
    pub fn parse_message(text: &str) -> Result<VPath, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err("empty property path".to_owned());
        }
        let (seg, field) = match t.split_once(':') {
            Some((s, f)) => (s, Some(f)),
            None => (t, None),
        };
        let segment = parse_steps(seg, t, "segment")?;
        let field = match field {
            Some(f) => parse_steps(f, t, "field")?,
            None => Vec::new(),
        };
        VPath { segment, field, text: t.to_owned() }.checked()
    }

    /// Parses a path into a single segment (`fieldpath` only, e.g. `PatientName(1).FamilyName`
    /// or `13`).
    pub fn parse_field(text: &str) -> Result<VPath, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err("empty property path".to_owned());
        }
        if t.contains(':') {
            return Err(format!("path {t:?}: a segment-level path has no segment part (no ':')"));
        }
        let field = parse_steps(t, t, "field")?;
        VPath { segment: Vec::new(), field, text: t.to_owned() }.checked()
    }

    fn checked(self) -> Result<VPath, String> {
        if self.field.iter().skip(1).any(|s| s.index != Index::None) {
            return Err(format!("path {:?}: only the field takes a repetition index, not its components", self.text));
        }
        if self.field.len() > 3 {
            return Err(format!("path {:?}: a field path goes at most to field.component.subcomponent", self.text));
        }
        let all = self.steps().filter(|s| s.index == Index::All).count();
        if all > 1 {
            return Err(format!("path {:?}: more than one () in a path is not supported", self.text));
        }
        let count = self.steps().filter(|s| s.index == Index::Count).count();
        if count > 1 || (count == 1 && all == 1) {
            return Err(format!("path {:?}: (*) must be the only special index of a path", self.text));
        }
        if count == 1 {
            let last = self.field.first().or(self.segment.last());
            let ok = if self.field.is_empty() {
                self.segment.last().is_some_and(|s| s.index == Index::Count)
            } else {
                self.field.len() == 1 && last.is_some_and(|s| s.index == Index::Count)
            };
            if !ok {
                return Err(format!("path {:?}: (*) counts the last step of a path only", self.text));
            }
        }
        Ok(self)
    }

    /// Every step, segment part first.
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        self.segment.iter().chain(self.field.iter())
    }

    /// True when the path has a `()` step.
    pub fn has_all(&self) -> bool {
        self.steps().any(|s| s.index == Index::All)
    }

    /// True when the path counts (`(*)`).
    pub fn is_count(&self) -> bool {
        self.steps().any(|s| s.index == Index::Count)
    }

    /// Loop variables used in indexes.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.steps().filter_map(|s| match &s.index {
            Index::Var(v) => Some(v.as_str()),
            _ => None,
        })
    }

    /// A copy with every `Index::Var` replaced through `f` (which gives the number).
    pub fn substitute(&self, mut f: impl FnMut(&str) -> usize) -> VPath {
        let mut p = self.clone();
        for s in p.segment.iter_mut().chain(p.field.iter_mut()) {
            if let Index::Var(v) = &s.index {
                s.index = Index::Num(f(v).clamp(1, MAX_INDEX));
            }
        }
        p
    }

    /// A copy with the `()` step given index `n`.
    pub fn with_all_as(&self, n: usize) -> VPath {
        let mut p = self.clone();
        for s in p.segment.iter_mut().chain(p.field.iter_mut()) {
            if s.index == Index::All {
                s.index = Index::Num(n.clamp(1, MAX_INDEX));
            }
        }
        p
    }

    /// A copy with the `()` step turned into a count (`(*)`) and everything after it dropped:
    /// what to ask for to know how many iterations a `()` path has.
    pub fn count_of_all(&self) -> VPath {
        let mut p = self.clone();
        if let Some(i) = p.segment.iter().position(|s| s.index == Index::All) {
            p.segment[i].index = Index::Count;
            p.segment.truncate(i + 1);
            p.field.clear();
        } else if let Some(i) = p.field.iter().position(|s| s.index == Index::All) {
            p.field[i].index = Index::Count;
            p.field.truncate(i + 1);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> StepName {
        StepName::Name(s.to_owned())
    }

    #[test]
    fn group_paths_with_keys_parse() {
        let p = VPath::parse_message("PIDgrpgrp(1).ORCgrp(1).OBXgrp(k1).OBX:5").unwrap();
        assert_eq!(p.segment.len(), 4);
        assert_eq!(p.segment[2], Step { name: name("OBXgrp"), index: Index::Var("k1".into()) });
        assert_eq!(p.field, vec![Step { name: StepName::Number(5), index: Index::None }]);
        let q = p.substitute(|_| 3);
        assert_eq!(q.segment[2].index, Index::Num(3));
        assert_eq!(q.render(), "PIDgrpgrp(1).ORCgrp(1).OBXgrp(3).OBX:5");
        assert_eq!(q.segment_text(), "PIDgrpgrp(1).ORCgrp(1).OBXgrp(3).OBX");
        assert_eq!(VPath::parse_message("ZPI:ContactPreference(\"*\")").unwrap().render(), "ZPI:ContactPreference(*)");
    }

    #[test]
    fn special_indexes_parse() {
        assert!(VPath::parse_message("PID:3(*)").unwrap().is_count());
        assert!(VPath::parse_message("ZPI:ContactPreference(\"*\")").unwrap().is_count());
        assert!(VPath::parse_message("OBX(*)").unwrap().is_count());
        let all = VPath::parse_message("PID:3().4").unwrap();
        assert!(all.has_all());
        assert_eq!(all.count_of_all().text, "PID:3().4");
        assert_eq!(all.count_of_all().field.len(), 1);
        assert_eq!(VPath::parse_message("NK1(1)").unwrap().field, vec![]);
        let f = VPath::parse_field("PatientName(1).FamilyName").unwrap();
        assert!(f.segment.is_empty());
        assert_eq!(f.field[0].index, Index::Num(1));
    }

    #[test]
    fn invalid_paths_are_refused() {
        for p in [
            "MSH:MessageType.1",
            "PID:3.1(2)",
            "PID:3().4()",
            "PID(-)",
            "PID:3(0)",
            "PID:",
            "",
            "PID:3.1.2.3",
            "PID:3(a b)",
        ] {
            assert!(VPath::parse_message(p).is_err(), "{p:?} should be refused");
        }
        assert!(VPath::parse_field("PID:3").is_err());
    }
}
