//! The `Parameters` setting of the SQL classes: a comma-separated list whose entries are
//! HL7 paths (`MSH-10`, `PID-3(1).1`), `%Body` (the message text), `%LastKey` (the last
//! key an inbound poll processed) or quoted literals (`'A'`, `"x,y"`).

use hie_plugin_api::hl7;

/// One parameter of a statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Param {
    /// A value from the message at an HL7 path.
    Path(String),
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
                t.parse::<hl7::Path>().map_err(|e| format!("Parameters: {t:?} is not an HL7 path ({e})"))?;
                Param::Path(t.to_string())
            }
        });
    }
    Ok(out)
}

/// The value of each parameter for `body` (`last_key`: for `%LastKey`).
pub fn values(params: &[Param], body: &[u8], last_key: &str) -> Result<Vec<String>, String> {
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
                    .and_then(|m| m.value_str(path).ok().flatten())
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
        assert_eq!(
            p,
            vec![
                Param::Path("MSH-10".into()),
                Param::Body,
                Param::Literal("A,B".into()),
                Param::Literal("x".into()),
                Param::LastKey,
                Param::Path("PID-3(1).1".into())
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
        assert_eq!(values(&p, body, "42").expect("values"), vec!["CTRL9", "MRN1", "lit", "42"]);
        assert_eq!(positional("INSERT INTO t VALUES (?, '?', ?)"), ("INSERT INTO t VALUES ($1, '?', $2)".into(), 2));
    }
}
