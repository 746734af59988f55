//! The IRIS production schema (`Ens.Schema.Production`) mapped onto the model: what
//! `<Production>`, `<Item>` and `<Setting>` hold, with IRIS's defaults (an item named
//! after its class, a setting's `Target` Adapter, `Enabled` true).
//!
//! # Invariants
//! - Only the elements IRIS accepts are accepted; anything else is an error naming its
//!   line, so a misspelt element never silently drops configuration.
//! - Values are kept as written, less the XML whitespace pretty-printing puts around them;
//!   checking them is validation's job.

use std::path::{Path, PathBuf};

use quick_xml::events::Event;

use super::reader::{Element, Xml, trim_xml};
use crate::production::model::{
    ItemConfig, LoadError, Location, ProductionConfig, Setting, SettingTarget, SourceFormat,
};

/// Child elements `<Production>` accepts (IRIS rejects others on import too).
const PRODUCTION_CHILDREN: &str = "Description, ActorPoolSize, Setting, Item";

/// Reads the `<Production>` element `root` (its start tag already read) to its end tag.
pub(super) fn production(
    xml: &mut Xml<'_>,
    root: Element,
    format: SourceFormat,
    class_name: Option<&str>,
) -> Result<ProductionConfig, LoadError> {
    let file = xml.file().clone();
    // IRIS names a class-based production after its class when Name is absent.
    let name = match root.nonempty_attr("Name").or(class_name) {
        Some(name) => name.to_string(),
        None => {
            return Err(LoadError::syntax(&file, root.line, "<Production> has no Name attribute"));
        }
    };
    let mut production = ProductionConfig {
        name,
        description: String::new(),
        file: file.to_path_buf(),
        format,
        settings: Vec::new(),
        plugin_dirs: Vec::new(),
        items: Vec::new(),
        defaults: Vec::new(),
        overrides: Vec::new(),
        location: Location::new(&file, root.line),
    };
    if !root.empty {
        loop {
            let (event, pos) = xml.next()?;
            let (e, empty) = match event {
                Event::Start(e) => (e, false),
                Event::Empty(e) => (e, true),
                Event::End(_) => break,
                Event::Eof => return Err(xml.unclosed(&root)),
                Event::Text(t) => {
                    xml.no_text(pos, &t, &root)?;
                    continue;
                }
                Event::CData(_) | Event::GeneralRef(_) => {
                    return Err(xml.error_at(pos, "unexpected text inside <Production>"));
                }
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_) => {
                    continue;
                }
            };
            let child = xml.element(&e, pos, empty)?;
            match child.name.as_str() {
                "Description" => {
                    production.description = trim_xml(&xml.text(&child)?).to_string();
                }
                "ActorPoolSize" => {
                    let value = trim_xml(&xml.text(&child)?).to_string();
                    production.settings.push(Setting {
                        name: "ActorPoolSize".to_string(),
                        value,
                        target: SettingTarget::Host,
                        location: Location::new(&file, child.line),
                    });
                }
                "Setting" => {
                    let setting = setting(xml, &child)?;
                    if setting.name == "PluginDirs" {
                        production.plugin_dirs.extend(plugin_dirs(&file, &setting.value));
                    }
                    production.settings.push(setting);
                }
                "Item" => {
                    let item = item(xml, &child)?;
                    production.items.push(item);
                }
                "SubProduction" => {
                    return Err(LoadError::syntax(
                        &file,
                        child.line,
                        "SubProduction is not supported: list its items in this production",
                    ));
                }
                other => {
                    return Err(LoadError::syntax(
                        &file,
                        child.line,
                        format!(
                            "unexpected element <{other}> inside <Production> \
                             (expected {PRODUCTION_CHILDREN})"
                        ),
                    ));
                }
            }
        }
    }
    Ok(production)
}

/// Reads `<Setting Name="..." Target="Host|Adapter">value</Setting>` (start tag already
/// read). Target defaults to Adapter, as in IRIS.
fn setting(xml: &mut Xml<'_>, element: &Element) -> Result<Setting, LoadError> {
    let Some(name) = element.nonempty_attr("Name").map(str::to_string) else {
        return Err(LoadError::syntax(xml.file(), element.line, "<Setting> has no Name attribute"));
    };
    let target = match element.attr("Target") {
        None => SettingTarget::Adapter,
        Some(t) if t.eq_ignore_ascii_case("Adapter") => SettingTarget::Adapter,
        Some(t) if t.eq_ignore_ascii_case("Host") => SettingTarget::Host,
        Some(other) => {
            return Err(LoadError::syntax(
                xml.file(),
                element.line,
                format!("setting {name}: Target=\"{other}\" is not valid (expected Host or Adapter)"),
            ));
        }
    };
    // Pretty-printing puts newlines and indentation around values; they are not data.
    let value = trim_xml(&xml.text(element)?).to_string();
    Ok(Setting { name, value, target, location: Location::new(xml.file(), element.line) })
}

/// Reads `<Item ...>` and its `<Setting>` children (start tag already read).
fn item(xml: &mut Xml<'_>, element: &Element) -> Result<ItemConfig, LoadError> {
    let file = xml.file().clone();
    let Some(class) = element.nonempty_attr("ClassName").map(str::to_string) else {
        return Err(LoadError::syntax(&file, element.line, "<Item> has no ClassName attribute"));
    };
    // IRIS names an item after its class when Name is absent.
    let name = element.nonempty_attr("Name").unwrap_or(&class).to_string();
    let enabled = match element.attr("Enabled").map(hie_plugin_api::settings::parse_bool) {
        None => true,
        Some(Ok(b)) => b,
        Some(Err(e)) => {
            let other = e.value;
            return Err(LoadError::syntax(
                &file,
                element.line,
                format!("item {name}: Enabled=\"{other}\" is not a boolean (expected {})", e.expected),
            ));
        }
    };
    let location = Location::new(&file, element.line);
    let mut item = ItemConfig {
        name,
        class,
        enabled,
        pool_size: element.attr("PoolSize").map(str::to_string),
        settings: Vec::new(),
        comment: element.attr("Comment").unwrap_or_default().to_string(),
        category: element.attr("Category").unwrap_or_default().to_string(),
        location: location.clone(),
        pool_size_location: location,
    };
    if element.empty {
        return Ok(item);
    }
    loop {
        let (event, pos) = xml.next()?;
        let (e, empty) = match event {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => return Ok(item),
            Event::Eof => return Err(xml.unclosed(element)),
            Event::Text(t) => {
                xml.no_text(pos, &t, element)?;
                continue;
            }
            Event::CData(_) | Event::GeneralRef(_) => {
                return Err(xml.error_at(pos, format!("unexpected text inside <Item> {}", item.name)));
            }
            Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_) => continue,
        };
        let child = xml.element(&e, pos, empty)?;
        if child.name != "Setting" {
            return Err(LoadError::syntax(
                &file,
                child.line,
                format!("unexpected element <{}> inside <Item> {} (expected Setting)", child.name, item.name),
            ));
        }
        let setting = setting(xml, &child)?;
        item.settings.push(setting);
    }
}

/// The comma-separated `PluginDirs` value as directories relative to the production file's.
fn plugin_dirs(file: &Path, value: &str) -> Vec<PathBuf> {
    let base = file.parent().unwrap_or(Path::new(""));
    value.split(',').map(str::trim).filter(|d| !d.is_empty()).map(|d| base.join(d)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Maps `text`, a `<Production>` starting after `base` lines of `/prod/p.cls`.
    fn map(text: &str, base: u32) -> Result<ProductionConfig, LoadError> {
        let file: Arc<Path> = Arc::from(Path::new("/prod/p.cls"));
        let mut xml = Xml::new(&file, text, base);
        let root = xml.root()?.expect("a root");
        production(&mut xml, root, SourceFormat::IrisUdl, Some("Demo.Production"))
    }

    fn message(e: LoadError) -> String {
        match e {
            LoadError::Syntax { message, .. } => message,
            other => panic!("expected a syntax error, got {other}"),
        }
    }

    #[test]
    fn a_production_maps_onto_the_model_with_iris_defaults() {
        let p = map(
            "<Production>\n\
             <Description>\n  Demo\n</Description>\n\
             <ActorPoolSize>2</ActorPoolSize>\n\
             <Setting Name=\"PluginDirs\" Target=\"host\">../packs, extra</Setting>\n\
             <Item ClassName=\"EnsLib.HL7.Operation.TCPOperation\" PoolSize=\"3\" Comment=\"c\" Category=\"k\">\n\
             <Setting Name=\"IPPort\">2575</Setting>\n\
             </Item>\n\
             <Item Name=\"Off\" ClassName=\"X\" Enabled=\"0\"/>\n\
             </Production>",
            10,
        )
        .expect("maps");
        assert_eq!((p.name.as_str(), p.description.as_str(), p.location.line), ("Demo.Production", "Demo", 11));
        let pool = &p.settings[0];
        assert_eq!((pool.name.as_str(), pool.value.as_str(), pool.target), ("ActorPoolSize", "2", SettingTarget::Host));
        assert_eq!(p.settings[1].target, SettingTarget::Host, "Target is case-insensitive");
        assert_eq!(p.plugin_dirs, [PathBuf::from("/prod/../packs"), PathBuf::from("/prod/extra")]);
        let op = &p.items[0];
        assert_eq!(op.name, "EnsLib.HL7.Operation.TCPOperation", "named after its class");
        assert!(op.enabled);
        assert_eq!((op.pool_size.as_deref(), op.comment.as_str(), op.category.as_str()), (Some("3"), "c", "k"));
        assert_eq!(op.location.line, 17);
        let port = &op.settings[0];
        assert_eq!((port.value.as_str(), port.target, port.location.line), ("2575", SettingTarget::Adapter, 18));
        assert!(!p.items[1].enabled);
        assert!(p.items[1].settings.is_empty());
    }

    #[test]
    fn a_production_needs_a_name_from_itself_or_its_class() {
        let file: Arc<Path> = Arc::from(Path::new("p.xml"));
        let mut xml = Xml::new(&file, "<Production/>", 0);
        let root = xml.root().expect("readable").expect("a root");
        let e = production(&mut xml, root, SourceFormat::IrisXml, None).expect_err("no name");
        assert!(message(e).contains("no Name attribute"));
        assert_eq!(map("<Production Name=\"Own\"/>", 0).expect("maps").name, "Own");
    }

    #[test]
    fn what_iris_does_not_accept_is_refused() {
        for (text, expected) in [
            ("<Production><Items/></Production>", "unexpected element <Items> inside <Production>"),
            ("<Production>text</Production>", "unexpected text inside <Production>"),
            ("<Production><Item ClassName=\"X\"><Other/></Item></Production>", "inside <Item> X (expected Setting)"),
            ("<Production><Setting>1</Setting></Production>", "<Setting> has no Name attribute"),
            ("<Production><Item Name=\"A\"/></Production>", "<Item> has no ClassName attribute"),
            (
                "<Production><Item ClassName=\"X\" Enabled=\"maybe\"/></Production>",
                "Enabled=\"maybe\" is not a boolean",
            ),
        ] {
            let got = message(map(text, 0).expect_err(text));
            assert!(got.contains(expected), "{text}: {got}");
        }
    }
}
