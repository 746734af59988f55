//! The `Parameters` setting of the SQL classes: a comma-separated list whose entries are
//! HL7 paths in any form (`MSH-10`, `PID-3(1).1`, IRIS's `PID:3(1).1`,
//! `MSH:ReceivingFacility.namespaceID`, `PIDgrpgrp(1).ORCgrp(1).OBXgrp(2).OBX:5`, each also
//! as `{...}` or `HL7.{...}`), `%Body` (the message text), `%LastKey` (the last key an
//! inbound poll processed) or quoted literals (`'A'`, `"x,y"`).
//!
//! Paths are read with the DocType IRIS gives the message: the session's
//! `MessageSchemaCategory` with MSH-9, else the built-in version of MSH-12 (custom
//! categories are not known to this pack: a path through a custom structure finds no value).

use hie_hl7_schema::{FieldPath, Registry};
use hie_plugin_api::hl7;
use std::sync::{Arc, OnceLock};

/// The message attribute naming the session's schema category.
pub const CATEGORY_ATTRIBUTE: &str = "MessageSchemaCategory";

/// The built-in schemas paths are read with.
fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(Registry::new)
}

/// A parameter's HL7 path: parsed once, compared by its text.
#[derive(Clone, Debug)]
pub struct PathParam(Arc<FieldPath>);

impl PathParam {
    /// The path as written.
    pub fn text(&self) -> &str {
        self.0.text()
    }
}

impl PartialEq for PathParam {
    fn eq(&self, other: &PathParam) -> bool {
        self.text() == other.text()
    }
}

impl Eq for PathParam {}

/// One parameter of a statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Param {
    /// A value from the message at an HL7 path.
    Path(PathParam),
    /// The whole message text.
    Body,
    /// The last `KeyFieldName` value an inbound poll processed.
    LastKey,
    /// A literal.
    Literal(String),
}

/// Splits a `Parameters` value: commas separate entries except inside quotes.
pub fn parse(list: &str) -> Result<Vec<Param>, String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut quoted = false;
    let mut entries: Vec<(String, bool)> = Vec::new();
    for c in list.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '\'' | '"') if current.trim().is_empty() => {
                quote = Some(c);
                quoted = true;
                current.clear();
            }
            (None, ',') => {
                entries.push((std::mem::take(&mut current), quoted));
                quoted = false;
            }
            (None, c) => current.push(c),
        }
    }
    if quote.is_some() {
        return Err(format!("Parameters {list:?}: a quote is not closed"));
    }
    if !current.trim().is_empty() || quoted {
        entries.push((current, quoted));
    }
    for (text, quoted) in entries {
        if quoted {
            out.push(Param::Literal(text));
            continue;
        }
        let t = text.trim();
        out.push(match t {
            "" => return Err(format!("Parameters {list:?}: an entry is empty")),
            t if t.eq_ignore_ascii_case("%Body") => Param::Body,
            t if t.eq_ignore_ascii_case("%LastKey") => Param::LastKey,
            t => {
                let path = FieldPath::parse(t).map_err(|e| format!("Parameters: {t:?} is not an HL7 path ({e})"))?;
                if let Err(e) = path.check_any(registry()) {
                    return Err(format!("Parameters: {t:?} is not a path of the HL7 schema ({e})"));
                }
                Param::Path(PathParam(Arc::new(path)))
            }
        });
    }
    Ok(out)
}

/// The value of each parameter for `body` (`last_key`: for `%LastKey`; `category`: the
/// session's `MessageSchemaCategory`, if known).
pub fn values(params: &[Param], body: &[u8], last_key: &str, category: Option<&str>) -> Result<Vec<String>, String> {
    let parsed = if params.iter().any(|p| matches!(p, Param::Path(_))) {
        Some(hl7::parse(body).map_err(|e| format!("the message is not HL7, so its fields cannot be parameters: {e}"))?)
    } else {
        None
    };
    params
        .iter()
        .map(|p| {
            Ok(match p {
                Param::Body => String::from_utf8_lossy(body).into_owned(),
                Param::LastKey => last_key.to_string(),
                Param::Literal(v) => v.clone(),
                Param::Path(path) => parsed
                    .as_ref()
                    .and_then(|m| path.0.value(m, registry(), category))
                    .map(|v| v.into_owned())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Rewrites IRIS's `?` placeholders as PostgreSQL's `$1, $2, ...` (not inside quotes).
pub fn positional(query: &str) -> (String, usize) {
    let mut out = String::with_capacity(query.len() + 8);
    let mut n = 0;
    let mut quote: Option<char> = None;
    for c in query.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                out.push(c);
            }
            (Some(_), c) => out.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                out.push(c);
            }
            (None, '?') => {
                n += 1;
                out.push_str(&format!("${n}"));
            }
            (None, c) => out.push(c),
        }
    }
    (out, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_paths_body_last_key_and_quoted_literals() {
        let p = parse("MSH-10, %Body, 'A,B', \"x\", %LastKey, PID-3(1).1").expect("parse");
        let path = |t: &str| Param::Path(PathParam(Arc::new(FieldPath::parse(t).expect("path"))));
        assert_eq!(
            p,
            vec![
                path("MSH-10"),
                Param::Body,
                Param::Literal("A,B".into()),
                Param::Literal("x".into()),
                Param::LastKey,
                path("PID-3(1).1")
            ]
        );
        assert!(parse("MSH-10,,PID-3").is_err());
        assert!(parse("'open").is_err());
        assert!(parse("not a path!").is_err());
    }

    #[test]
    fn values_come_from_the_message_and_placeholders_become_positional() {
        let body = b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01|CTRL9|P|2.4\rPID|1||MRN1^^^H||Doe^Jane\r";
        let p = parse("MSH-10,PID-3.1,'lit',%LastKey").expect("parse");
        assert_eq!(values(&p, body, "42", None).expect("values"), vec!["CTRL9", "MRN1", "lit", "42"]);
        // Symbolic names are the message's version's: CX.1 is `ID` in 2.4.
        let iris = parse("MSH:10, {PID:PatientIdentifierList(1).ID}, HL7.{PID:PatientName.GivenName}").expect("parse");
        assert_eq!(values(&iris, body, "", None).expect("values"), vec!["CTRL9", "MRN1", "Jane"]);
        let v25 = parse("PID:PatientIdentifierList(1).IDNumber").expect("a 2.5 name");
        assert_eq!(values(&v25, body, "", None).expect("values"), vec![""], "not a 2.4 name");
        assert!(parse("PID:PatientNmae").expect_err("misspelt").contains("PatientNmae"));
        assert_eq!(positional("INSERT INTO t VALUES (?, '?', ?)"), ("INSERT INTO t VALUES ($1, '?', $2)".into(), 2));
    }
}
