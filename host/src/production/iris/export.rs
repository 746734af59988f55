//! The Studio export container: `<Export><Class name="X"><XData name="ProductionDefinition">
//! <Data><![CDATA[...]]></Data>`. Finds the one class holding a production definition and
//! reads the `<Data>` text (split over several CDATA sections where IRIS split it at a
//! literal `]]>`) as the production.
//!
//! A `<Document>` holding System Default Settings ([`super::esd`]) is read into the
//! production's `defaults`; an export of such documents alone is read by
//! [`load_defaults_export`].
//!
//! # Invariants
//! - An export holds exactly one production class; two are an error naming both.
//! - The inner XML is read with the file's line numbers (CDATA split markers hold no
//!   newlines, so the `<Data>` content's lines map 1:1 onto the file's).

use std::path::Path;
use std::sync::Arc;

use quick_xml::events::Event;

use super::reader::{Element, Xml};
use super::{NO_PRODUCTION, esd, mapping};
use crate::production::model::{DefaultSetting, LoadError, ProductionConfig, SourceFormat};

/// One `<Class>` of a Studio export whose `XData ProductionDefinition` was found.
struct ExportedProduction {
    /// The class name (`<Class name="...">`), the production name's default.
    class_name: Option<String>,
    /// The concatenated text and CDATA of `<Data>`: the production XML.
    inner: String,
    /// Newlines in the file before `<Data>`'s content starts.
    base: u32,
    /// Line of the `<XData>` element, for errors about an empty definition.
    line: u32,
}

/// Reads a Studio export: finds the one class with `XData ProductionDefinition`, then parses
/// the `<Data>` text as the production.
pub(super) fn load_export(file: &Arc<Path>, xml: &mut Xml<'_>, export: Element) -> Result<ProductionConfig, LoadError> {
    let (found, defaults) = scan(xml, &export)?;
    let mut found = found.into_iter();
    let Some(first) = found.next() else {
        let message = if defaults.is_empty() {
            NO_PRODUCTION.to_string()
        } else {
            "this export holds System Default Settings and no production: name it in the production's \
             SystemDefaults setting"
                .to_string()
        };
        return Err(LoadError::syntax(file, export.line, message));
    };
    let mut production = production_of(file, first, found.next())?;
    production.defaults = defaults;
    Ok(production)
}

/// Reads the System Default Settings of an export that holds them (and maybe a production,
/// which is not read here).
pub(super) fn load_defaults_export(xml: &mut Xml<'_>, export: Element) -> Result<Vec<DefaultSetting>, LoadError> {
    scan(xml, &export).map(|(_, defaults)| defaults)
}

/// The production classes and the System Default Settings of an export.
fn scan(xml: &mut Xml<'_>, export: &Element) -> Result<(Vec<ExportedProduction>, Vec<DefaultSetting>), LoadError> {
    let mut found: Vec<ExportedProduction> = Vec::new();
    let mut defaults = Vec::new();
    if !export.empty {
        loop {
            let (event, pos) = xml.next()?;
            match event {
                Event::Start(e) if e.name().0 == "Class" => {
                    let class = xml.element(&e, pos, false)?;
                    export_class(xml, &class, &mut found)?;
                }
                Event::Start(e) if e.name().0 == "Document" => {
                    let document = xml.element(&e, pos, false)?;
                    if esd::is_defaults_document(&document) {
                        esd::read_document(xml, &document, &mut defaults)?;
                    } else {
                        xml.skip(&document)?;
                    }
                }
                Event::Start(e) => {
                    let other = xml.element(&e, pos, false)?;
                    xml.skip(&other)?;
                }
                Event::End(_) => break,
                Event::Eof => return Err(xml.unclosed(export)),
                // Empty elements, text, comments: nothing an export needs.
                _ => {}
            }
        }
    }
    xml.expect_end("</Export>")?;
    Ok((found, defaults))
}

/// Reads the production of the export's one production class (`second`: another one).
fn production_of(
    file: &Arc<Path>,
    first: ExportedProduction,
    second: Option<ExportedProduction>,
) -> Result<ProductionConfig, LoadError> {
    if let Some(second) = second {
        return Err(LoadError::syntax(
            file,
            second.line,
            format!(
                "this export holds more than one production class ({} and {}); \
                 export one production per file",
                first.class_name.as_deref().unwrap_or("?"),
                second.class_name.as_deref().unwrap_or("?"),
            ),
        ));
    }
    let mut inner = Xml::new(file, &first.inner, first.base);
    match inner.root()? {
        Some(root) if root.name == "Production" => {
            let production =
                mapping::production(&mut inner, root, SourceFormat::IrisStudioExport, first.class_name.as_deref())?;
            inner.expect_end("</Production>")?;
            Ok(production)
        }
        Some(root) => Err(LoadError::syntax(
            file,
            root.line,
            format!("XData ProductionDefinition holds <{}>, expected <Production>", root.name),
        )),
        None => {
            Err(LoadError::syntax(file, first.line, "XData ProductionDefinition is empty: no <Production> element"))
        }
    }
}

/// Reads one `<Class>` of an export; records it when it has `XData ProductionDefinition`.
fn export_class(xml: &mut Xml<'_>, class: &Element, found: &mut Vec<ExportedProduction>) -> Result<(), LoadError> {
    let class_name = class.nonempty_attr("name").map(str::to_string);
    loop {
        let (event, pos) = xml.next()?;
        match event {
            Event::Start(e) if e.name().0 == "XData" => {
                let xdata = xml.element(&e, pos, false)?;
                if xdata.attr("name") == Some("ProductionDefinition") {
                    export_xdata(xml, &xdata, class_name.clone(), found)?;
                } else {
                    xml.skip(&xdata)?;
                }
            }
            Event::Start(e) => {
                let other = xml.element(&e, pos, false)?;
                xml.skip(&other)?;
            }
            Event::End(_) => return Ok(()),
            Event::Eof => return Err(xml.unclosed(class)),
            _ => {}
        }
    }
}

/// Reads `<XData name="ProductionDefinition">`: collects its `<Data>` text.
fn export_xdata(
    xml: &mut Xml<'_>,
    xdata: &Element,
    class_name: Option<String>,
    found: &mut Vec<ExportedProduction>,
) -> Result<(), LoadError> {
    loop {
        let (event, pos) = xml.next()?;
        match event {
            Event::Start(e) if e.name().0 == "Data" => {
                let data = xml.element(&e, pos, false)?;
                // The inner XML starts right after `<Data>`: its newlines map 1:1 onto
                // the file's (CDATA split markers hold none), so this is the line base.
                let content_start = xml.position();
                let base = xml.line(content_start).saturating_sub(1);
                let inner = xml.text(&data)?;
                found.push(ExportedProduction { class_name: class_name.clone(), inner, base, line: xdata.line });
            }
            Event::Start(e) => {
                let other = xml.element(&e, pos, false)?;
                xml.skip(&other)?;
            }
            Event::End(_) => return Ok(()),
            Event::Eof => return Err(xml.unclosed(xdata)),
            _ => {}
        }
    }
}
