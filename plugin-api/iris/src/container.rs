//! Reading rule and DTL definitions out of their containers: UDL class text (`.cls`),
//! Studio/Portal exports (`<Export><Class>...`), and bare XML (`<ruleDefinition>` or
//! `<transform>` as the root).
//!
//! # Invariants
//!
//! - Only classes that hold an `XData RuleDefinition` or `XData DTL` (or whose superclass is
//!   `Ens.Rule.Definition` / `Ens.DataTransformDTL`) are returned; other classes and documents
//!   of an export are skipped.
//! - Every [`Definition`] carries the file line its XML starts on, so errors in the XML point
//!   at lines of the original file; CDATA sections of an export are joined before the inner
//!   XML is parsed (a `]]>` split across two sections is restored).
//! - Parameters are kept as written (name and value), quotes removed.

use crate::error::LoadError;
use crate::xml::{self, Node};

/// What a class defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `Ens.Rule.Definition`: `XData RuleDefinition`.
    Rule,
    /// `Ens.DataTransformDTL`: `XData DTL`.
    Dtl,
}

/// One rule or DTL definition, before compilation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Definition {
    /// The class name (the caller's fallback name for bare XML).
    pub class: String,
    /// Rule or DTL.
    pub kind: Kind,
    /// Class parameters (`RuleAssistClass`, `IGNOREMISSINGSOURCE`, ...).
    pub parameters: Vec<(String, String)>,
    /// The class description (`///` lines or `<Description>`), if any.
    pub description: Option<String>,
    /// The `<ruleDefinition>` or `<transform>` element.
    pub root: Node,
}

impl Definition {
    /// The parameter `name` (case-sensitive, as ObjectScript), if the class sets it.
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

fn container(line: u32, message: impl Into<String>) -> LoadError {
    LoadError::Container { line, message: message.into() }
}

fn xml_err(class: &str, e: xml::XmlError) -> LoadError {
    LoadError::Xml { class: class.to_owned(), line: e.line, message: e.message }
}

fn kind_of_root(name: &str) -> Option<Kind> {
    match name {
        "ruleDefinition" => Some(Kind::Rule),
        "transform" => Some(Kind::Dtl),
        _ => None,
    }
}

/// Reads every rule and DTL definition in `text`. `fallback_name` names a bare XML
/// definition (normally the file name without `.xml`).
pub fn read(text: &str, fallback_name: &str) -> Result<Vec<Definition>, LoadError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text.trim_start();
    if first.starts_with('<') {
        let root = xml::parse_document(text, 0).map_err(|e| xml_err(fallback_name, e))?;
        if root.name == "Export" {
            return read_export(&root);
        }
        let Some(kind) = kind_of_root(&root.name) else {
            return Err(container(
                root.line,
                format!(
                    "<{}> is not a rule or DTL document (expected <Export>, <ruleDefinition> or <transform>)",
                    root.name
                ),
            ));
        };
        return Ok(vec![Definition {
            class: fallback_name.to_owned(),
            kind,
            parameters: Vec::new(),
            description: None,
            root,
        }]);
    }
    read_udl(text)
}

fn read_export(root: &Node) -> Result<Vec<Definition>, LoadError> {
    let mut out = Vec::new();
    for class in root.elements().filter(|e| e.name == "Class") {
        let name = class.attr("name").unwrap_or("").to_owned();
        let mut parameters = Vec::new();
        for p in class.elements().filter(|e| e.name == "Parameter") {
            let value = p.child("Default").map(Node::text).unwrap_or_default();
            parameters.push((p.attr("name").unwrap_or("").to_owned(), value));
        }
        let description = class.child("Description").map(Node::text);
        for xdata in class.elements().filter(|e| e.name == "XData") {
            let kind = match xdata.attr("name") {
                Some("RuleDefinition") => Kind::Rule,
                Some("DTL") => Kind::Dtl,
                _ => continue,
            };
            let Some(data) = xdata.child("Data") else {
                return Err(LoadError::Invalid {
                    class: name,
                    element: "XData".into(),
                    line: xdata.line,
                    message: "has no <Data>".into(),
                });
            };
            let inner = data.text();
            let root = xml::parse_document(&inner, data.line.saturating_sub(1)).map_err(|e| xml_err(&name, e))?;
            check_root(&name, kind, &root)?;
            out.push(Definition {
                class: name.clone(),
                kind,
                parameters: parameters.clone(),
                description: description.clone(),
                root,
            });
        }
    }
    Ok(out)
}

fn check_root(class: &str, kind: Kind, root: &Node) -> Result<(), LoadError> {
    if kind_of_root(&root.name) == Some(kind) {
        return Ok(());
    }
    let want = match kind {
        Kind::Rule => "ruleDefinition",
        Kind::Dtl => "transform",
    };
    Err(LoadError::Invalid {
        class: class.to_owned(),
        element: root.name.clone(),
        line: root.line,
        message: format!("expected <{want}> as the XData's root element"),
    })
}

/// Line number (1-based) of byte offset `pos`.
fn line_at(text: &str, pos: usize) -> u32 {
    let pos = pos.min(text.len());
    text.as_bytes()[..pos].iter().filter(|&&b| b == b'\n').count() as u32 + 1
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '%' | '_')
}

/// The word starting at `pos` (after whitespace) and the offset after it.
fn word_at(text: &str, pos: usize) -> (&str, usize) {
    let rest = &text[pos..];
    let skip = rest.len() - rest.trim_start().len();
    let start = pos + skip;
    let len = text[start..].find(|c: char| !is_name_char(c)).unwrap_or(text.len() - start);
    (&text[start..start + len], start + len)
}

/// Byte offsets of lines whose first word is `keyword`, with the offset after the keyword.
fn member_lines<'t>(text: &'t str, keyword: &'t str) -> impl Iterator<Item = usize> + 't {
    let mut offset = 0;
    text.split_inclusive('\n').filter_map(move |line| {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim_start();
        let lead = line.len() - trimmed.len();
        let after = trimmed.strip_prefix(keyword)?;
        after.starts_with([' ', '\t']).then_some(start + lead + keyword.len())
    })
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    match v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => v.to_owned(),
    }
}

fn read_udl(text: &str) -> Result<Vec<Definition>, LoadError> {
    let Some(class_at) = member_lines(text, "Class").next() else {
        return Err(container(1, "not a class definition: no `Class <name> Extends ...` line, <Export> or XML root"));
    };
    let (class, _) = word_at(text, class_at);
    if class.is_empty() {
        return Err(container(line_at(text, class_at), "the Class line has no class name"));
    }
    let class = class.to_owned();
    let description = {
        let before = &text[..class_at];
        let lines: Vec<&str> = before
            .lines()
            .rev()
            .skip_while(|l| !l.trim_start().starts_with("///"))
            .take_while(|l| l.trim_start().starts_with("///"))
            .collect();
        let d: Vec<&str> = lines.iter().rev().map(|l| l.trim_start().trim_start_matches('/').trim()).collect();
        (!d.is_empty()).then(|| d.join("\n"))
    };
    let mut parameters = Vec::new();
    for at in member_lines(text, "Parameter") {
        let (name, after) = word_at(text, at);
        let line_end = text[after..].find('\n').map_or(text.len(), |p| after + p);
        let rest = &text[after..line_end];
        let value = rest.split_once('=').map(|(_, v)| v.trim().trim_end_matches(';')).unwrap_or("");
        parameters.push((name.to_owned(), unquote(value)));
    }
    let mut out = Vec::new();
    for at in member_lines(text, "XData") {
        let (name, after) = word_at(text, at);
        let kind = match name {
            "RuleDefinition" => Kind::Rule,
            "DTL" => Kind::Dtl,
            _ => continue,
        };
        let line = line_at(text, at);
        let Some(open) = text[after..].find('{').map(|p| after + p) else {
            return Err(container(line, format!("XData {name} has no {{ block")));
        };
        let Some(lt) = text[open..].find('<').map(|p| open + p) else {
            return Err(container(line, format!("XData {name} holds no XML")));
        };
        let base = line_at(text, lt) - 1;
        let (root, end) = xml::parse_element(&text[lt..], base).map_err(|e| xml_err(&class, e))?;
        let after_xml = lt + end;
        let tail = text.get(after_xml..).unwrap_or("").trim_start();
        if !tail.starts_with('}') {
            return Err(container(
                line_at(text, after_xml),
                format!("XData {name} of {class}: expected '}}' after the XML element"),
            ));
        }
        check_root(&class, kind, &root)?;
        out.push(Definition {
            class: class.clone(),
            kind,
            parameters: parameters.clone(),
            description: description.clone(),
            root,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UDL: &str = "/// A rule.\n/// Second line.\nClass My.Rule Extends (Ens.Rule.Definition, Other)\n{\n\nParameter RuleAssistClass = \"EnsLib.HL7.MsgRouter.RuleAssist\";\n\nXData RuleDefinition [ XMLNamespace = \"http://www.intersystems.com/rule\" ]\n{\n<ruleDefinition alias=\"\">\n<ruleSet name=\"a\"><rule><when condition=\"HL7.{PID:5}=&quot;}&quot;\"/></rule></ruleSet>\n</ruleDefinition>\n}\n\n}\n";

    #[test]
    fn udl_class_with_braces_in_attributes() {
        let d = read(UDL, "x").unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].class, "My.Rule");
        assert_eq!(d[0].kind, Kind::Rule);
        assert_eq!(d[0].parameter("RuleAssistClass"), Some("EnsLib.HL7.MsgRouter.RuleAssist"));
        assert_eq!(d[0].description.as_deref(), Some("A rule.\nSecond line."));
        assert_eq!(d[0].root.line, 10);
        assert_eq!(d[0].root.child("ruleSet").map(|n| n.line), Some(11));
    }

    #[test]
    fn export_with_two_classes_and_split_cdata() {
        let text = "<Export>\n<Class name=\"A\"><Super>Ens.DataTransformDTL</Super>\n<XData name=\"DTL\"><Data><![CDATA[\n<transform><code><![CDATA[ x ]]]]><![CDATA[></code></transform>]]></Data></XData></Class>\n<Class name=\"B\"><Super>Ens.Rule.Definition</Super><XData name=\"RuleDefinition\"><Data><![CDATA[<ruleDefinition/>]]></Data></XData></Class>\n<Document name=\"T.LUT\"><lookupTable/></Document>\n</Export>";
        let d = read(text, "x").unwrap();
        assert_eq!(
            d.iter().map(|d| (d.class.as_str(), d.kind)).collect::<Vec<_>>(),
            [("A", Kind::Dtl), ("B", Kind::Rule)]
        );
        assert_eq!(d[0].root.line, 4);
        assert_eq!(d[0].root.child("code").map(Node::text).as_deref(), Some(" x "));
    }

    #[test]
    fn bare_xml_takes_the_fallback_name() {
        let d = read("<?xml version=\"1.0\"?>\n<transform create='new'/>", "Pkg.T").unwrap();
        assert_eq!((d[0].class.as_str(), d[0].kind), ("Pkg.T", Kind::Dtl));
        assert!(matches!(read("<foo/>", "x"), Err(LoadError::Container { .. })));
        assert!(matches!(read("hello", "x"), Err(LoadError::Container { .. })));
    }

    #[test]
    fn malformed_inner_xml_names_the_class_and_line() {
        let bad = UDL.replace("</ruleDefinition>", "</ruleSet>");
        let e = read(&bad, "x").unwrap_err();
        assert!(matches!(&e, LoadError::Xml { class, .. } if class == "My.Rule"), "{e:?}");
    }
}
