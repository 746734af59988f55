//! IRIS message structure definition strings (`MSH~EVN~PID~[~PD1~]~{~NK1~}~<~A~|~B~>`) to
//! structure elements (docs/iris-formats.md §5.2, docs/hl7-schemas.md "Naming").
//!
//! # Invariants
//!
//! - `[ ... ]` makes its content optional, `{ ... }` repeating, `< a | b >` a choice. A bracket
//!   around exactly one element changes that element's cardinality; around several it forms a
//!   group named after its first element plus `grp` (a group first: that group's name plus
//!   `grp`). A choice is named after its first alternative plus `union`; an alternative of
//!   several elements is a group.
//! - Siblings that would share a name keep it for the first and get `name + "i" + k` for the
//!   k-th (the generator's rule, `ROLi2`).
//! - Segment names may carry a category prefix (`base:PID`, `2.5:PID`); the prefix is kept out
//!   of the element name and recorded as `from_base` when it is not the bare local name.
//! - Tildes separate tokens, but brackets glued to names (`[PD1]`) are accepted too. Never
//!   panics; errors say what was expected and at which token.

use crate::model::{Element, GroupElement, SegmentElement};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token<'d> {
    Open(char),
    Close(char),
    Bar,
    Name(&'d str),
}

fn tokenize(def: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in def.char_indices() {
        let token = match c {
            '~' | ' ' | '\t' | '\r' | '\n' => None,
            '[' | '{' | '<' => Some(Token::Open(c)),
            ']' | '}' | '>' => Some(Token::Close(c)),
            '|' => Some(Token::Bar),
            _ => {
                start.get_or_insert(i);
                continue;
            }
        };
        if let Some(s) = start.take() {
            out.push(Token::Name(&def[s..i]));
        }
        out.extend(token);
    }
    if let Some(s) = start {
        out.push(Token::Name(&def[s..]));
    }
    out
}

/// Parses a definition string into top-level elements.
pub(crate) fn parse_definition(def: &str) -> Result<Vec<Element>, String> {
    let tokens = tokenize(def);
    let mut p = DefParser { tokens: &tokens, pos: 0, depth: 0 };
    let items = p.sequence()?;
    if let Some(t) = p.tokens.get(p.pos) {
        return Err(format!("unexpected {} at token {}", describe(t), p.pos + 1));
    }
    if items.is_empty() {
        return Err("empty definition".into());
    }
    Ok(items)
}

fn describe(t: &Token<'_>) -> String {
    match t {
        Token::Open(c) | Token::Close(c) => format!("'{c}'"),
        Token::Bar => "'|'".into(),
        Token::Name(n) => format!("{n:?}"),
    }
}

/// Deepest bracket nesting accepted (the built-in structures nest at most 6 deep); keeps a
/// hostile definition from exhausting the stack.
const MAX_DEPTH: usize = 32;

struct DefParser<'t, 'd> {
    tokens: &'t [Token<'d>],
    pos: usize,
    depth: usize,
}

impl DefParser<'_, '_> {
    /// Elements until a closing bracket, a bar or the end.
    fn sequence(&mut self) -> Result<Vec<Element>, String> {
        let mut items = Vec::new();
        while let Some(t) = self.tokens.get(self.pos) {
            match t {
                Token::Close(_) | Token::Bar => break,
                Token::Name(n) => {
                    self.pos += 1;
                    items.push(segment(n)?);
                }
                Token::Open(c) => {
                    let c = *c;
                    self.pos += 1;
                    items.push(self.bracket(c)?);
                }
            }
        }
        rename_duplicates(&mut items);
        Ok(items)
    }

    fn expect_close(&mut self, want: char) -> Result<(), String> {
        match self.tokens.get(self.pos) {
            Some(Token::Close(c)) if *c == want => {
                self.pos += 1;
                Ok(())
            }
            Some(t) => Err(format!("expected '{want}' but found {} at token {}", describe(t), self.pos + 1)),
            None => Err(format!("missing '{want}' at the end")),
        }
    }

    fn bracket(&mut self, open: char) -> Result<Element, String> {
        if self.depth >= MAX_DEPTH {
            return Err(format!("brackets nested deeper than {MAX_DEPTH} levels at token {}", self.pos));
        }
        self.depth += 1;
        let r = self.bracket_inner(open);
        self.depth -= 1;
        r
    }

    fn bracket_inner(&mut self, open: char) -> Result<Element, String> {
        if open == '<' {
            return self.choice();
        }
        let close = if open == '[' { ']' } else { '}' };
        let items = self.sequence()?;
        self.expect_close(close)?;
        if items.is_empty() {
            return Err(format!("empty '{open}{close}' before token {}", self.pos));
        }
        let mut el =
            if items.len() == 1 { items.into_iter().next().ok_or("empty bracket")? } else { group(items, false) };
        match (open, &mut el) {
            ('[', Element::Segment(s)) => s.min = 0,
            ('[', Element::Group(g)) => g.min = 0,
            (_, Element::Segment(s)) => s.max = None,
            (_, Element::Group(g)) => g.max = None,
        }
        Ok(el)
    }

    fn choice(&mut self) -> Result<Element, String> {
        let mut alternatives = Vec::new();
        loop {
            let mut seq = self.sequence()?;
            if seq.is_empty() {
                return Err(format!("empty choice alternative at token {}", self.pos + 1));
            }
            alternatives.push(if seq.len() == 1 { seq.remove(0) } else { group(seq, false) });
            match self.tokens.get(self.pos) {
                Some(Token::Bar) => self.pos += 1,
                _ => break,
            }
        }
        self.expect_close('>')?;
        rename_duplicates(&mut alternatives);
        Ok(group(alternatives, true))
    }
}

fn segment(token: &str) -> Result<Element, String> {
    let (prefix, name) = match token.rsplit_once(':') {
        Some((p, n)) => (Some(p), n),
        None => (None, token),
    };
    if name.len() != 3 || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!("{token:?} is not a segment name (3 letters or digits)"));
    }
    let id = name.to_ascii_uppercase();
    Ok(Element::Segment(SegmentElement {
        name: id.clone(),
        segment: id,
        min: 1,
        max: Some(1),
        any: false,
        from_base: prefix.is_some(),
    }))
}

fn group(items: Vec<Element>, choice: bool) -> Element {
    let first = items.first().map(|e| e.name().to_owned()).unwrap_or_default();
    let name = if choice { format!("{first}union") } else { format!("{first}grp") };
    Element::Group(GroupElement { name, hl7_name: None, min: 1, max: Some(1), choice, items })
}

/// `ROL, ROL` → `ROL, ROLi2`.
fn rename_duplicates(items: &mut [Element]) {
    for i in 1..items.len() {
        let (before, rest) = items.split_at_mut(i);
        let Some(cur) = rest.first_mut() else { continue };
        let base = cur.name().to_owned();
        let k = 1 + before.iter().filter(|e| e.name() == base || dup_base(e.name()) == Some(base.as_str())).count();
        if k > 1 {
            let renamed = format!("{base}i{k}");
            match cur {
                Element::Segment(s) => s.name = renamed,
                Element::Group(g) => g.name = renamed,
            }
        }
    }
}

/// `ROLi2` → `ROL`.
fn dup_base(name: &str) -> Option<&str> {
    let (base, k) = name.rsplit_once('i')?;
    (!k.is_empty() && k.bytes().all(|b| b.is_ascii_digit())).then_some(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(items: &[Element]) -> String {
        items
            .iter()
            .map(|e| {
                let card = format!("{}..{}", e.min(), e.max().map_or("*".into(), |m| m.to_string()));
                match e {
                    Element::Segment(s) => format!("{}[{card}]", s.name),
                    Element::Group(g) => format!("{}[{card}]({})", g.name, shape(&g.items)),
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn brackets_set_cardinality_or_form_named_groups() {
        let items = parse_definition(
            "base:MSH~[~{~base:SFT~}~]~base:EVN~base:PID~[~base:PD1~]~[~{~base:NK1~}~]~base:PV1~[~ZPI~]",
        )
        .unwrap();
        assert_eq!(shape(&items), "MSH[1..1] SFT[0..*] EVN[1..1] PID[1..1] PD1[0..1] NK1[0..*] PV1[1..1] ZPI[0..1]");
        let oru = parse_definition("MSH~{~[~PID~[~PD1~]~[~PV1~[~PV2~]~]~]~{~[~ORC~]~OBR~{~[~OBX~[~{~NTE~}~]~]~}~}~}")
            .unwrap();
        assert_eq!(
            shape(&oru),
            "MSH[1..1] PIDgrpgrp[1..*](PIDgrp[0..1](PID[1..1] PD1[0..1] PV1grp[0..1](PV1[1..1] PV2[0..1])) \
             ORCgrp[1..*](ORC[0..1] OBR[1..1] OBXgrp[0..*](OBX[1..1] NTE[0..*])))"
        );
    }

    #[test]
    fn choices_are_unions_and_duplicates_get_an_i_suffix() {
        let items = parse_definition("MSH~ROL~[~ROL~]~{~ORC~<~OBR~|~RQD~|~RXO~NTE~>~}").unwrap();
        assert_eq!(
            shape(&items),
            "MSH[1..1] ROL[1..1] ROLi2[0..1] ORCgrp[1..*](ORC[1..1] OBRunion[1..1](OBR[1..1] RQD[1..1] RXOgrp[1..1](RXO[1..1] NTE[1..1])))"
        );
        assert!(items[0].as_segment().is_some_and(|s| !s.from_base));
        assert_eq!(shape(&parse_definition("MSH[PD1]{NK1}").unwrap()), "MSH[1..1] PD1[0..1] NK1[1..*]");
    }

    #[test]
    fn malformed_definitions_say_what_is_wrong() {
        assert!(parse_definition("").unwrap_err().contains("empty"));
        assert!(parse_definition("MSH~[~PID").unwrap_err().contains("missing ']'"));
        assert!(parse_definition("MSH~]").unwrap_err().contains("unexpected"));
        assert!(parse_definition("MSH~{~]").unwrap_err().contains("expected '}'"));
        assert!(parse_definition("MSH~PATIENT").unwrap_err().contains("not a segment name"));
        assert!(parse_definition("MSH~[~]").unwrap_err().contains("empty"));
        assert!(parse_definition("MSH~<~A01~|~>").is_err());
        let deep = format!("MSH~{}PID{}", "[~".repeat(10_000), "~]".repeat(10_000));
        assert!(parse_definition(&deep).unwrap_err().contains("nested deeper"));
    }
}
