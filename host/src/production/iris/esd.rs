//! System Default Settings documents: `<Document name="Ens.Config.DefaultSettings.ESD">`
//! (the extension in any case) holding `<defaultSettings><item production= item= class=
//! setting= value=>`, inside a Studio export beside the production class or alone.
//!
//! # Invariants
//! - Entries keep their file and line; their values are entity-decoded by the reader.
//! - What IRIS saves and ignores is read and kept, never an error: an entry naming no
//!   item or setting, `Deployable`, a `description`. A missing `production`, `item` or
//!   `class` reads as `*`; an entry without a `setting` is an error naming its line.

use quick_xml::events::Event;

use super::reader::{Element, Xml};
use crate::production::model::{DefaultSetting, LoadError, Location};

/// True for the `<Document>` of a System Default Settings export.
pub(super) fn is_defaults_document(document: &Element) -> bool {
    document.attr("name").is_some_and(|n| n.to_ascii_lowercase().ends_with(".esd"))
}

/// Reads a `<Document>` (already opened) into `out`.
pub(super) fn read_document(
    xml: &mut Xml<'_>,
    document: &Element,
    out: &mut Vec<DefaultSetting>,
) -> Result<(), LoadError> {
    if document.empty {
        return Ok(());
    }
    loop {
        let (event, pos) = xml.next()?;
        match event {
            Event::Start(e) if e.name().0 == "defaultSettings" => {
                let list = xml.element(&e, pos, false)?;
                read_list(xml, &list, out)?;
            }
            Event::Start(e) => {
                let other = xml.element(&e, pos, false)?;
                xml.skip(&other)?;
            }
            Event::End(_) => return Ok(()),
            Event::Eof => return Err(xml.unclosed(document)),
            _ => {}
        }
    }
}

/// Reads the `<item>` entries of `<defaultSettings>`.
fn read_list(xml: &mut Xml<'_>, list: &Element, out: &mut Vec<DefaultSetting>) -> Result<(), LoadError> {
    loop {
        let (event, pos) = xml.next()?;
        let (e, empty) = match event {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => return Ok(()),
            Event::Eof => return Err(xml.unclosed(list)),
            _ => continue,
        };
        let element = xml.element(&e, pos, empty)?;
        if element.name == "item" {
            out.push(entry(xml, &element)?);
        }
        if !empty {
            // `<Deployable>` and anything else inside: no effect at run time.
            xml.skip(&element)?;
        }
    }
}

fn entry(xml: &Xml<'_>, item: &Element) -> Result<DefaultSetting, LoadError> {
    let field = |name: &str| item.attr(name).map(str::trim).filter(|v| !v.is_empty()).unwrap_or("*").to_string();
    let Some(setting) = item.nonempty_attr("setting") else {
        return Err(LoadError::syntax(
            xml.file(),
            item.line,
            "a System Default Settings <item> has no setting attribute",
        ));
    };
    Ok(DefaultSetting {
        production: field("production"),
        item: field("item"),
        class: field("class"),
        setting: setting.trim().to_string(),
        value: item.attr("value").unwrap_or_default().to_string(),
        location: Location::new(xml.file(), item.line),
    })
}
