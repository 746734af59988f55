//! The syntax of IRIS virtual property paths (and HIE's short paths), without any schema.
//!
//! Accepted document forms ([`VirtualPath::parse`]):
//!
//! | text | form |
//! |---|---|
//! | `MSH:9.1`, `PID:3(2).1`, `PID:5(1).1.2` | numeric IRIS path |
//! | `MSH:ReceivingFacility.namespaceID`, `PID:PatientName(1).familylastname` | symbolic IRIS path |
//! | `PIDgrpgrp(1).ORCgrp(2).OBXgrp(3).OBX:5` | segment through its groups |
//! | `PIDgrpgrp(1).ORCgrp(1).OBXgrp(k1).OBX` | a key variable as index (DTL/rule loops) |
//! | `OBXgrp()`, `PID:3().4` | `()`: every repetition / instance |
//! | `PID:3(*)`, `PID:3("*")`, `OBX(*)` | `(*)`: the count (last step only) |
//! | `PID`, `PIDgrpgrp(1).ORCgrp(1).OBR` | a whole segment (or group) |
//! | `3:5` | field 5 of the 3rd segment of the message |
//! | `PID-3.1`, `OBX(2)-5`, `PID.3` | HIE short paths, exactly as [`hie_hl7::Path`] parses them |
//!
//! Segment-relative forms ([`VirtualPath::parse_relative`], for `Segment.{...}` and segment
//! DTLs): `3.1`, `13`, `PatientName(1).FamilyName`, `AbnormalFlags`.
//!
//! # Invariants
//!
//! - Parsing never consults a schema and never panics; a refused text gives a
//!   [`PathSyntaxError`] with the 1-based character position.
//! - Within the field part, names and numbers are not mixed (`MSH:MessageType.1` is refused, as
//!   IRIS refuses it). Within the segment part, a number is only accepted alone (`3:5`).
//! - Only the field step (and segment/group steps) take an index; components do not repeat.
//! - A count `(*)` is only accepted on the last step of the path, and never together with `()`.
//! - Numbers are 1 to [`hie_hl7::path::MAX_INDEX`].

use std::fmt;

use hie_hl7::path::MAX_INDEX;

use crate::error::PathSyntaxError;

/// A parsed path. Keep it and compile it once per schema with [`crate::CompiledPath`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualPath {
    text: String,
    form: PathForm,
}

/// The three shapes a path can have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathForm {
    /// An HIE short path (`PID-3.1`, `OBX(2)-5`, `PID.3`): the n-th segment of that name in the
    /// message, whatever the structure.
    Short(hie_hl7::Path),
    /// An IRIS document path: segment part, then an optional field part (empty = the whole
    /// segment or group).
    Document {
        /// The segment part.
        segment: SegmentPart,
        /// The field part: field, component, subcomponent (0 to 3 steps).
        fields: Vec<FieldStep>,
    },
    /// A segment-relative path (`3.1`, `PatientName(1).FamilyName`): only a field part.
    Relative {
        /// The field part (1 to 3 steps).
        fields: Vec<FieldStep>,
    },
}

/// The segment part of a document path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentPart {
    /// Named steps: `PIDgrpgrp(1).ORCgrp(1).OBXgrp(2).OBX`, or just `PID`.
    Steps(Vec<SegmentStep>),
    /// A segment number in the message (1-based; MSH is 1): `3:5`.
    Number(usize),
}

/// One step of the segment part: a segment or group name with its index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentStep {
    /// The name as written (`PIDgrpgrp`, `OBX`).
    pub name: String,
    /// The index in parentheses, if any.
    pub index: Index,
}

/// One step of the field part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldStep {
    /// The field/component/subcomponent number or name.
    pub name: StepName,
    /// The index: only the field step (the first) may have one (the repetition).
    pub index: Index,
}

/// A numbered or named field-part step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepName {
    /// A 1-based number.
    Number(usize),
    /// A symbolic name, matched case-insensitively against the schema.
    Name(String),
}

/// The index in parentheses after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Index {
    /// No parentheses: the first occurrence (for a field: all repetitions when nothing follows,
    /// the first repetition when a component follows).
    None,
    /// `(n)`: the n-th (1-based).
    Number(usize),
    /// `(k1)`: a key variable, bound when the path is evaluated.
    Key(String),
    /// `()`: every occurrence.
    All,
    /// `(*)` or `("*")`: the number of occurrences.
    Count,
}

impl VirtualPath {
    /// Parses a document path (see the module documentation for the forms).
    pub fn parse(text: &str) -> Result<VirtualPath, PathSyntaxError> {
        let trimmed = text.trim();
        let lead = text.len() - text.trim_start().len();
        let form = Parser { full: text, text: trimmed, offset: lead }.document()?;
        Ok(VirtualPath { text: trimmed.to_owned(), form })
    }

    /// Parses a segment-relative path (`3.1`, `PatientName(1).FamilyName`), as used in
    /// `Segment.{...}` inside a rule foreach and in segment-level DTLs.
    pub fn parse_relative(text: &str) -> Result<VirtualPath, PathSyntaxError> {
        let trimmed = text.trim();
        let lead = text.len() - text.trim_start().len();
        let p = Parser { full: text, text: trimmed, offset: lead };
        if trimmed.is_empty() {
            return Err(p.err(0, "empty path"));
        }
        let fields = p.field_part(0, trimmed.len())?;
        let form = PathForm::Relative { fields };
        check_count(&p, &form)?;
        Ok(VirtualPath { text: trimmed.to_owned(), form })
    }

    /// The path text (trimmed).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The parsed form.
    pub fn form(&self) -> &PathForm {
        &self.form
    }

    /// The field part (empty for short paths and whole-segment paths).
    pub fn fields(&self) -> &[FieldStep] {
        match &self.form {
            PathForm::Short(_) => &[],
            PathForm::Document { fields, .. } | PathForm::Relative { fields } => fields,
        }
    }

    /// The segment steps (empty for short, numbered and relative paths).
    pub fn segment_steps(&self) -> &[SegmentStep] {
        match &self.form {
            PathForm::Document { segment: SegmentPart::Steps(s), .. } => s,
            _ => &[],
        }
    }

    /// True when the field part uses names (so compiling needs a schema).
    pub fn is_symbolic(&self) -> bool {
        self.fields().iter().any(|f| matches!(f.name, StepName::Name(_)))
    }

    /// True when the segment part has more than one step (groups), so resolving it needs a
    /// DocType and a [`crate::SegmentMap`].
    pub fn has_groups(&self) -> bool {
        self.segment_steps().len() > 1
    }

    /// True when the path asks for a count (`(*)`).
    pub fn is_count(&self) -> bool {
        self.indexes().any(|i| matches!(i, Index::Count))
    }

    /// True when the path has `()` somewhere (selects every occurrence).
    pub fn is_multi(&self) -> bool {
        self.indexes().any(|i| matches!(i, Index::All))
    }

    /// The key variables the path uses (`k1` in `OBXgrp(k1)`), in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.indexes().filter_map(|i| match i {
            Index::Key(k) => Some(k.as_str()),
            _ => None,
        })
    }

    fn indexes(&self) -> impl Iterator<Item = &Index> {
        self.segment_steps().iter().map(|s| &s.index).chain(self.fields().iter().map(|f| &f.index))
    }
}

impl fmt::Display for VirtualPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for VirtualPath {
    type Err = PathSyntaxError;

    fn from_str(s: &str) -> Result<VirtualPath, PathSyntaxError> {
        VirtualPath::parse(s)
    }
}

/// Parser state: `text` is the trimmed path, `offset` its start inside `full` (for columns).
struct Parser<'t> {
    full: &'t str,
    text: &'t str,
    offset: usize,
}

impl Parser<'_> {
    fn err(&self, at: usize, reason: impl Into<String>) -> PathSyntaxError {
        let byte = (self.offset + at).min(self.full.len());
        let column = self.full.get(..byte).map_or(byte, |s| s.chars().count()) + 1;
        PathSyntaxError { path: self.full.trim().to_owned(), column, reason: reason.into() }
    }

    fn document(&self) -> Result<PathForm, PathSyntaxError> {
        let t = self.text;
        if t.is_empty() {
            return Err(self.err(0, "empty path"));
        }
        if is_short_form(t) {
            return hie_hl7::Path::parse(t).map(PathForm::Short).map_err(|e| self.err(0, e.to_string()));
        }
        let colon = top_level_colon(t);
        let seg_end = colon.unwrap_or(t.len());
        if seg_end == 0 {
            return Err(self.err(0, "missing segment before ':'"));
        }
        let segment = self.segment_part(&t[..seg_end])?;
        let fields = match colon {
            Some(c) if c + 1 >= t.len() => return Err(self.err(t.len(), "nothing after ':' (expected a field)")),
            Some(c) => self.field_part(c + 1, t.len())?,
            None => Vec::new(),
        };
        let form = PathForm::Document { segment, fields };
        check_count(self, &form)?;
        Ok(form)
    }

    fn segment_part(&self, s: &str) -> Result<SegmentPart, PathSyntaxError> {
        if s.bytes().all(|b| b.is_ascii_digit()) {
            let n = self.number(0, s)?;
            return Ok(SegmentPart::Number(n));
        }
        let mut steps = Vec::new();
        for (start, piece) in split_steps(s) {
            let (name, index) = self.step(start, piece)?;
            if name.bytes().all(|b| b.is_ascii_digit()) {
                return Err(self.err(start, "a segment number is only accepted alone (e.g. 3:5), not among names"));
            }
            steps.push(SegmentStep { name: name.to_owned(), index });
        }
        Ok(SegmentPart::Steps(steps))
    }

    /// Parses the field part `text[start..end]`.
    fn field_part(&self, start: usize, end: usize) -> Result<Vec<FieldStep>, PathSyntaxError> {
        let s = &self.text[start..end];
        let mut steps: Vec<FieldStep> = Vec::new();
        for (at, piece) in split_steps(s) {
            let at = start + at;
            let (name, index) = self.step(at, piece)?;
            if !steps.is_empty() && index != Index::None {
                return Err(self.err(at, "only the field takes an index in parentheses; components do not repeat"));
            }
            if steps.len() == 3 {
                return Err(self.err(at, "too many steps: a field part is field(repetition).component.subcomponent"));
            }
            let name = if name.bytes().all(|b| b.is_ascii_digit()) {
                StepName::Number(self.number(at, name)?)
            } else {
                StepName::Name(name.to_owned())
            };
            if let Some(first) = steps.first() {
                let mixed = matches!(first.name, StepName::Number(_)) != matches!(name, StepName::Number(_));
                if mixed {
                    return Err(self.err(at, "names and numbers cannot be mixed in the field part (IRIS rule)"));
                }
            }
            steps.push(FieldStep { name, index });
        }
        Ok(steps)
    }

    /// One `NAME[(index)]` step starting at byte `at` of `self.text`.
    fn step<'p>(&self, at: usize, piece: &'p str) -> Result<(&'p str, Index), PathSyntaxError> {
        let name_len = piece.find('(').unwrap_or(piece.len());
        let name = &piece[..name_len];
        if name.is_empty() {
            return Err(self.err(at, "missing name or number"));
        }
        if let Some(bad) = name.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            return Err(
                self.err(at + bad, format!("unexpected character {:?}", &name[bad..].chars().next().unwrap_or(' ')))
            );
        }
        if name_len == piece.len() {
            return Ok((name, Index::None));
        }
        let inner_start = name_len + 1;
        let Some(close) = piece.rfind(')').filter(|c| *c >= inner_start) else {
            return Err(self.err(at + name_len, "missing ')'"));
        };
        if close + 1 != piece.len() {
            return Err(self.err(at + close + 1, "unexpected text after ')'"));
        }
        let inner = &piece[inner_start..close];
        let index = self.index(at + inner_start, inner)?;
        Ok((name, index))
    }

    fn index(&self, at: usize, inner: &str) -> Result<Index, PathSyntaxError> {
        let t = inner.trim();
        match t {
            "" => Ok(Index::All),
            "*" | "\"*\"" => Ok(Index::Count),
            "-" => Err(self.err(at, "(-) (last element) is only supported for XML documents and collections")),
            _ if t.bytes().all(|b| b.is_ascii_digit()) => Ok(Index::Number(self.number(at, t)?)),
            _ if is_identifier(t) => Ok(Index::Key(t.to_owned())),
            _ => Err(self.err(at, format!("bad index {t:?} (expected a number, a key variable, empty, * or \"*\")"))),
        }
    }

    fn number(&self, at: usize, digits: &str) -> Result<usize, PathSyntaxError> {
        let n = if digits.len() > 5 { MAX_INDEX + 1 } else { digits.parse::<usize>().unwrap_or(MAX_INDEX + 1) };
        if n == 0 {
            return Err(self.err(at, "numbers start at 1"));
        }
        if n > MAX_INDEX {
            return Err(self.err(at, format!("number larger than {MAX_INDEX}")));
        }
        Ok(n)
    }
}

/// `PID-...`, `OBX(2)-...`, `PID.3`: the forms [`hie_hl7::Path`] owns.
fn is_short_form(t: &str) -> bool {
    let b = t.as_bytes();
    if b.len() < 4 || !b[..3].iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let mut i = 3;
    if b[i] == b'(' {
        match b[i..].iter().position(|&c| c == b')') {
            Some(p) => i += p + 1,
            None => return false,
        }
    }
    match (b.get(i), b.get(i + 1)) {
        (Some(b'-'), _) => true,
        (Some(b'.'), Some(d)) => d.is_ascii_digit(),
        _ => false,
    }
}

/// The first `:` outside parentheses and quotes.
fn top_level_colon(t: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quoted = false;
    for (i, c) in t.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth = depth.saturating_sub(1),
            ':' if !quoted && depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

/// Splits on `.` outside parentheses and quotes; yields (byte offset, piece).
fn split_steps(s: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut depth = 0usize;
    let mut quoted = false;
    let mut cuts = Vec::new();
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth = depth.saturating_sub(1),
            '.' if !quoted && depth == 0 => cuts.push(i),
            _ => {}
        }
    }
    let mut start = 0;
    let mut out = Vec::with_capacity(cuts.len() + 1);
    for c in cuts {
        out.push((start, &s[start..c]));
        start = c + 1;
    }
    out.push((start, &s[start..]));
    out.into_iter()
}

fn is_identifier(t: &str) -> bool {
    let mut chars = t.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '%' || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `(*)` only on the last step, never with `()`.
fn check_count(p: &Parser<'_>, form: &PathForm) -> Result<(), PathSyntaxError> {
    let (segs, fields): (&[SegmentStep], &[FieldStep]) = match form {
        PathForm::Short(_) => return Ok(()),
        PathForm::Document { segment: SegmentPart::Steps(s), fields } => (s, fields),
        PathForm::Document { fields, .. } | PathForm::Relative { fields } => (&[], fields),
    };
    let all: Vec<&Index> = segs.iter().map(|s| &s.index).chain(fields.iter().map(|f| &f.index)).collect();
    let Some(pos) = all.iter().position(|i| matches!(i, Index::Count)) else {
        return Ok(());
    };
    let last_step = pos + 1 == segs.len() + fields.len();
    if !last_step {
        return Err(p.err(p.text.len(), "(*) (count) is only allowed on the last step of a path"));
    }
    if all.iter().any(|i| matches!(i, Index::All)) {
        return Err(p.err(p.text.len(), "(*) (count) and () (every occurrence) cannot be combined"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> VirtualPath {
        VirtualPath::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> PathSyntaxError {
        VirtualPath::parse(s).expect_err(s)
    }

    fn seg(name: &str, index: Index) -> SegmentStep {
        SegmentStep { name: name.into(), index }
    }

    fn num(n: usize, index: Index) -> FieldStep {
        FieldStep { name: StepName::Number(n), index }
    }

    fn name(n: &str, index: Index) -> FieldStep {
        FieldStep { name: StepName::Name(n.into()), index }
    }

    #[test]
    fn numeric_iris_paths_parse_to_segment_and_field_steps() {
        let v = p("PID:3(2).1");
        assert_eq!(
            v.form(),
            &PathForm::Document {
                segment: SegmentPart::Steps(vec![seg("PID", Index::None)]),
                fields: vec![num(3, Index::Number(2)), num(1, Index::None)],
            }
        );
        assert_eq!(p("MSH:9.1").fields().len(), 2);
        assert_eq!(p("PID:5(1).1.2").fields().len(), 3);
        assert!(!p("PID:5(1).1.2").is_symbolic());
    }

    #[test]
    fn symbolic_paths_keep_names_as_written() {
        let v = p("PID:PatientName(1).familylastname");
        assert_eq!(v.fields(), &[name("PatientName", Index::Number(1)), name("familylastname", Index::None)]);
        assert!(v.is_symbolic());
        assert_eq!(p("MSH:ReceivingFacility.namespaceID").fields().len(), 2);
    }

    #[test]
    fn group_paths_with_indexes_keys_all_and_count() {
        let v = p("PIDgrpgrp(1).ORCgrp(2).OBXgrp(3).OBX:5");
        assert_eq!(
            v.segment_steps(),
            &[
                seg("PIDgrpgrp", Index::Number(1)),
                seg("ORCgrp", Index::Number(2)),
                seg("OBXgrp", Index::Number(3)),
                seg("OBX", Index::None)
            ]
        );
        assert!(v.has_groups());
        let k = p("PIDgrpgrp(1).ORCgrp(1).OBXgrp(k1).OBX:3.1");
        assert_eq!(k.keys().collect::<Vec<_>>(), ["k1"]);
        assert!(p("PIDgrpgrp(1).ORCgrp(1).OBXgrp()").is_multi());
        assert!(p("PIDgrpgrp(1).ORCgrp(1).OBXgrp(*)").is_count());
        assert!(p("PIDgrpgrp(1).ORCgrp(1).OBXgrp(\"*\")").is_count());
        assert!(p("PID:3(*)").is_count());
        assert!(p("PID:3().4").is_multi());
        assert_eq!(p("OBX(*)").segment_steps(), &[seg("OBX", Index::Count)]);
    }

    #[test]
    fn whole_segment_and_numbered_segment_paths() {
        assert_eq!(p("PID").fields(), &[]);
        assert_eq!(
            p("3:5").form(),
            &PathForm::Document { segment: SegmentPart::Number(3), fields: vec![num(5, Index::None)] }
        );
    }

    #[test]
    fn short_paths_are_handed_to_hie_hl7() {
        for s in ["PID-3.1", "OBX(2)-5", "PID.3", "pid-3(2).1.2"] {
            let v = p(s);
            assert_eq!(v.form(), &PathForm::Short(hie_hl7::Path::parse(s).unwrap()), "{s}");
        }
        // `PID:3.1` is the IRIS form (same numbers, structure-aware resolution).
        assert!(matches!(p("PID:3.1").form(), PathForm::Document { .. }));
        assert!(matches!(p("PIDgrp.PID").form(), PathForm::Document { .. }));
    }

    #[test]
    fn relative_paths_have_only_a_field_part() {
        let v = VirtualPath::parse_relative("PatientName(1).FamilyName").unwrap();
        assert_eq!(
            v.form(),
            &PathForm::Relative {
                fields: vec![name("PatientName", Index::Number(1)), name("FamilyName", Index::None)]
            }
        );
        assert_eq!(VirtualPath::parse_relative(" 13 ").unwrap().fields(), &[num(13, Index::None)]);
        assert!(VirtualPath::parse_relative("3.1").is_ok());
        assert!(VirtualPath::parse_relative("").is_err());
        assert!(VirtualPath::parse_relative("3(*).1").is_err());
    }

    #[test]
    fn bad_paths_are_refused_with_a_position() {
        assert_eq!(err("").reason, "empty path");
        assert!(err("MSH:MessageType.1").reason.contains("mixed"));
        assert!(err("PID:").reason.contains("nothing after"));
        assert!(err(":5").reason.contains("missing segment"));
        assert!(err("PID:3(2").reason.contains("missing ')'"));
        assert!(err("PID:3(0)").reason.contains("start at 1"));
        assert!(err("PID:3(99999999)").reason.contains("larger"));
        assert!(err("PID:3.1.2.3").reason.contains("too many"));
        assert!(err("PID:3.1(2)").reason.contains("components do not repeat"));
        assert!(err("PID:3(-)").reason.contains("XML"));
        assert!(err("PID:3(a b)").reason.contains("bad index"));
        assert!(err("OBXgrp(*).OBX").reason.contains("last step"));
        assert!(err("OBXgrp().OBX:5(*)").reason.contains("combined"));
        assert!(err("PID:Patient-Name").reason.contains("unexpected character"));
        assert!(err("PIDgrp.3:5").reason.contains("segment number"));
        assert!(err("PID:3)x").reason.contains("unexpected character"));
        let e = err("PID:3(2)x");
        assert_eq!(e.column, 9);
        assert!(e.to_string().contains("PID:3(2)x"), "{e}");
        assert!(err("PI-3").reason.contains("unexpected character"));
    }
}
