//! IRIS production loader.
//!
//! Three containers carry the same `<Production>` XML (schema `Ens.Schema.Production`):
//!
//! - a bare `<Production>` document (optionally with an XML declaration);
//! - a UDL class file, `Class X Extends <any base> { XData ProductionDefinition { <Production> } }`,
//!   where the XData body is raw XML inside the class text;
//! - a Studio export,
//!   `<Export><Class name="X"><XData name="ProductionDefinition"><Data><![CDATA[...]]></Data>`,
//!   where the inner XML may be split over several CDATA sections (IRIS splits at every
//!   literal `]]>`).
//!
//! Every item and setting keeps the line it starts on in the real file: for UDL and Studio
//! exports the inner XML's lines are shifted by where it starts in the file.
//!
//! `reader` is the line-tracking XML reader, `mapping` reads the production schema onto the
//! model, `export` unwraps a Studio export; this module tells the containers apart and
//! finds the XML in a UDL class.

mod esd;
mod export;
mod mapping;
mod reader;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;

use reader::Xml;

use super::model::{DefaultSetting, LoadError, ProductionConfig, SourceFormat};

/// Message when a file holds none of the three containers.
const NO_PRODUCTION: &str = "no <Production> element found (expected a bare <Production>, \
     a UDL class with XData ProductionDefinition, or a Studio export)";

/// Loads an IRIS production from `text`, read from `file`, detecting which of the three
/// containers (bare XML, UDL class, Studio export) it is.
pub fn load_iris(file: &Arc<Path>, text: &str) -> Result<ProductionConfig, LoadError> {
    // A BOM is not XML content; dropping it does not change line numbers.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim_start().starts_with('<') {
        return load_xml_document(file, text);
    }
    let Some(xdata) = find_xdata_production_definition(text) else {
        return Err(LoadError::syntax(file, 1, NO_PRODUCTION));
    };
    let Some(start) = find_production_start(text, xdata) else {
        let line = line_of(text, xdata);
        return Err(LoadError::syntax(file, line, "XData ProductionDefinition has no <Production> element"));
    };
    let class_name = udl_class_name(&text[..xdata]);
    let base = count_newlines(&text[..start]);
    let mut xml = Xml::new(file, &text[start..], base);
    match xml.root()? {
        Some(root) if root.name == "Production" => {
            // The class text goes on after `</Production>`, so stop at the root's end.
            mapping::production(&mut xml, root, SourceFormat::IrisUdl, class_name.as_deref())
        }
        _ => Err(LoadError::syntax(file, base.saturating_add(1), NO_PRODUCTION)),
    }
}

/// Reads the System Default Settings of an IRIS export (`<Export>` with one or more
/// `<Document name="....ESD">`, with or without a production class).
pub fn load_defaults(file: &Arc<Path>, text: &str) -> Result<Vec<DefaultSetting>, LoadError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut xml = Xml::new(file, text, 0);
    match xml.root()? {
        Some(root) if root.name == "Export" => export::load_defaults_export(&mut xml, root),
        Some(root) => Err(LoadError::syntax(
            file,
            root.line,
            format!(
                "<{}>: a System Default Settings file is an IRIS <Export> holding Ens.Config.DefaultSettings.ESD",
                root.name
            ),
        )),
        None => Err(LoadError::syntax(file, 1, "no <Export> element: not a System Default Settings export")),
    }
}

/// Loads a file that starts with `<`: a bare `<Production>` or a Studio `<Export>`.
fn load_xml_document(file: &Arc<Path>, text: &str) -> Result<ProductionConfig, LoadError> {
    let mut xml = Xml::new(file, text, 0);
    let Some(root) = xml.root()? else {
        return Err(LoadError::syntax(file, 1, NO_PRODUCTION));
    };
    match root.name.as_str() {
        "Production" => {
            let production = mapping::production(&mut xml, root, SourceFormat::IrisXml, None)?;
            xml.expect_end("</Production>")?;
            Ok(production)
        }
        "Export" => export::load_export(file, &mut xml, root),
        _ => Err(LoadError::syntax(file, root.line, NO_PRODUCTION)),
    }
}

/// Number of `\n` in `text`.
fn count_newlines(text: &str) -> u32 {
    u32::try_from(text.bytes().filter(|&b| b == b'\n').count()).unwrap_or(u32::MAX)
}

/// 1-based line of byte `pos` in `text`.
fn line_of(text: &str, pos: usize) -> u32 {
    count_newlines(text.get(..pos).unwrap_or(text)).saturating_add(1)
}

/// Whether `c` can be part of a class or XData name.
fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '.' || c == '%' || c == '_'
}

/// Offset just after `XData ProductionDefinition` in a UDL class text, if present.
fn find_xdata_production_definition(text: &str) -> Option<usize> {
    for (at, keyword) in text.match_indices("XData") {
        if text[..at].chars().next_back().is_some_and(is_name_char) {
            continue;
        }
        let rest = &text[at + keyword.len()..];
        let name = rest.trim_start();
        // UDL needs whitespace between the keyword and the name.
        if name.len() == rest.len() {
            continue;
        }
        if let Some(after) = name.strip_prefix("ProductionDefinition")
            && !after.chars().next().is_some_and(is_name_char)
        {
            return Some(text.len() - after.len());
        }
    }
    None
}

/// Offset of the `<Production` start tag at or after `from`.
fn find_production_start(text: &str, from: usize) -> Option<usize> {
    let tail = text.get(from..)?;
    tail.match_indices("<Production")
        .find(|(at, m)| tail[at + m.len()..].chars().next().is_some_and(|c| c.is_whitespace() || c == '>' || c == '/'))
        .map(|(at, _)| from + at)
}

/// The class name from a UDL header (`Class X Extends Y`), skipping doc comments and
/// `Include`/`Import` lines before it.
fn udl_class_name(header: &str) -> Option<String> {
    header.lines().find_map(|line| {
        let rest = line.trim_start().strip_prefix("Class")?;
        if !rest.starts_with(char::is_whitespace) {
            return None;
        }
        let name: String = rest.trim_start().chars().take_while(|&c| is_name_char(c)).collect();
        (!name.is_empty()).then_some(name)
    })
}

#[cfg(test)]
mod udl_tests {
    use super::*;

    #[test]
    fn the_production_definition_is_found_by_whole_words() {
        let text =
            "Class A Extends Ens.Production\n{\nXData MyProductionDefinitionX {}\nXData  ProductionDefinition\n{";
        let at = find_xdata_production_definition(text).expect("found");
        assert_eq!(&text[at..], "\n{");
        assert_eq!(line_of(text, at), 4);
        assert_eq!(find_xdata_production_definition("MyXData ProductionDefinition {"), None);
        assert_eq!(find_xdata_production_definition("XDataProductionDefinition {"), None);
        assert_eq!(find_xdata_production_definition("XData ProductionDefinitions {"), None);
    }

    #[test]
    fn the_production_start_tag_is_found_by_its_whole_name() {
        let text = "{ <ProductionItems> <Production\nName=\"x\">";
        assert_eq!(find_production_start(text, 0), Some(20));
        assert_eq!(find_production_start("<Production/>", 0), Some(0));
        assert_eq!(find_production_start("<Production>", 1), None);
        assert_eq!(find_production_start("x", 5), None);
    }

    #[test]
    fn the_class_name_comes_from_the_class_header() {
        let header = "/// Class comment\nInclude Ensemble\n\nClass Demo.Production Extends Ens.Production\n{\n";
        assert_eq!(udl_class_name(header).as_deref(), Some("Demo.Production"));
        assert_eq!(udl_class_name("Classes are\nnot a header"), None);
        assert_eq!(count_newlines("a\nb\r\n"), 2);
    }
}
