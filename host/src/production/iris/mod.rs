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

use std::path::{Path, PathBuf};
use std::sync::Arc;

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

use super::model::{ItemConfig, LoadError, Location, ProductionConfig, Setting, SettingTarget, SourceFormat};

/// Message when a file holds none of the three containers.
const NO_PRODUCTION: &str = "no <Production> element found (expected a bare <Production>, \
     a UDL class with XData ProductionDefinition, or a Studio export)";

/// Child elements `<Production>` accepts (IRIS rejects others on import too).
const PRODUCTION_CHILDREN: &str = "Description, ActorPoolSize, Setting, Item";

/// Loads an IRIS production from `text`, read from `file`, detecting which of the three
/// containers (bare XML, UDL class, Studio export) it is.
pub fn load_iris(file: &Arc<Path>, text: &str) -> Result<ProductionConfig, LoadError> {
    // A BOM is not XML content; dropping it does not change line numbers.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim_start().starts_with('<') {
        return load_xml_document(file, text);
    }
    let Some(xdata) = find_xdata_production_definition(text) else {
        return Err(syntax(file, 1, NO_PRODUCTION));
    };
    let Some(start) = find_production_start(text, xdata) else {
        let line = line_of(text, xdata);
        return Err(syntax(file, line, "XData ProductionDefinition has no <Production> element"));
    };
    let class_name = udl_class_name(&text[..xdata]);
    let base = count_newlines(&text[..start]);
    let mut xml = Xml::new(file, &text[start..], base);
    match xml.root()? {
        Some(root) if root.name == "Production" => {
            // The class text goes on after `</Production>`, so stop at the root's end.
            xml.production(root, SourceFormat::IrisUdl, class_name.as_deref())
        }
        _ => Err(syntax(file, base.saturating_add(1), NO_PRODUCTION)),
    }
}

/// Loads a file that starts with `<`: a bare `<Production>` or a Studio `<Export>`.
fn load_xml_document(file: &Arc<Path>, text: &str) -> Result<ProductionConfig, LoadError> {
    let mut xml = Xml::new(file, text, 0);
    let Some(root) = xml.root()? else {
        return Err(syntax(file, 1, NO_PRODUCTION));
    };
    match root.name.as_str() {
        "Production" => {
            let production = xml.production(root, SourceFormat::IrisXml, None)?;
            xml.expect_end("</Production>")?;
            Ok(production)
        }
        "Export" => load_export(file, &mut xml, root),
        _ => Err(syntax(file, root.line, NO_PRODUCTION)),
    }
}

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
fn load_export(file: &Arc<Path>, xml: &mut Xml<'_>, export: Element) -> Result<ProductionConfig, LoadError> {
    let mut found: Vec<ExportedProduction> = Vec::new();
    if !export.empty {
        loop {
            let (event, pos) = xml.next()?;
            match event {
                Event::Start(e) if e.name().0 == "Class" => {
                    let class = xml.element(&e, pos, false)?;
                    xml.export_class(&class, &mut found)?;
                }
                Event::Start(e) => {
                    let other = xml.element(&e, pos, false)?;
                    xml.skip(&other)?;
                }
                Event::End(_) => break,
                Event::Eof => return Err(xml.unclosed(&export)),
                // Empty elements, text, comments: nothing an export needs.
                _ => {}
            }
        }
    }
    xml.expect_end("</Export>")?;
    let mut found = found.into_iter();
    let Some(first) = found.next() else {
        return Err(syntax(file, export.line, NO_PRODUCTION));
    };
    if let Some(second) = found.next() {
        return Err(syntax(
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
            let production = inner.production(root, SourceFormat::IrisStudioExport, first.class_name.as_deref())?;
            inner.expect_end("</Production>")?;
            Ok(production)
        }
        Some(root) => Err(syntax(
            file,
            root.line,
            format!("XData ProductionDefinition holds <{}>, expected <Production>", root.name),
        )),
        None => Err(syntax(file, first.line, "XData ProductionDefinition is empty: no <Production> element")),
    }
}

/// A start tag already read: its name, attributes and where it is.
struct Element {
    /// Element name as written (with prefix, if any).
    name: String,
    /// Attributes in order, values entity-decoded and normalised.
    attrs: Vec<(String, String)>,
    /// `<x/>`: no content and no end tag follow.
    empty: bool,
    /// Line of the `<` that starts the element.
    line: u32,
}

impl Element {
    /// The attribute called `name`, if present.
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The attribute called `name` if present and not empty.
    fn nonempty_attr(&self, name: &str) -> Option<&str> {
        self.attr(name).filter(|v| !v.trim().is_empty())
    }
}

/// Maps byte offsets in a text to 1-based lines in the file it came from.
struct LineMap<'a> {
    /// The text the offsets index.
    text: &'a str,
    /// Newlines in the file before `text` starts.
    base: u32,
    /// Offset up to which newlines have been counted (offsets mostly grow).
    counted_to: usize,
    /// Newlines in `text[..counted_to]`.
    counted: u32,
}

impl<'a> LineMap<'a> {
    /// A map for `text`, which starts after `base` newlines of the file.
    fn new(text: &'a str, base: u32) -> Self {
        LineMap { text, base, counted_to: 0, counted: 0 }
    }

    /// The file line of byte `pos` of the text.
    fn line(&mut self, pos: usize) -> u32 {
        let pos = pos.min(self.text.len());
        if pos < self.counted_to {
            self.counted_to = 0;
            self.counted = 0;
        }
        let more = self
            .text
            .as_bytes()
            .get(self.counted_to..pos)
            .map_or(0, |bytes| bytes.iter().filter(|&&b| b == b'\n').count());
        self.counted = self.counted.saturating_add(u32::try_from(more).unwrap_or(u32::MAX));
        self.counted_to = pos;
        self.base.saturating_add(self.counted).saturating_add(1)
    }
}

/// A quick-xml reader over one XML text plus the bookkeeping to report file lines.
struct Xml<'a> {
    /// The event reader.
    reader: Reader<&'a [u8]>,
    /// Offsets to lines.
    lines: LineMap<'a>,
    /// The production file, for locations.
    file: &'a Arc<Path>,
}

impl<'a> Xml<'a> {
    /// A reader over `text`, which starts after `base` newlines of `file`.
    fn new(file: &'a Arc<Path>, text: &'a str, base: u32) -> Self {
        // Defaults keep whitespace text, so the offset before each read is where the next
        // event starts: that is what gives every element its line.
        Xml { reader: Reader::from_str(text), lines: LineMap::new(text, base), file }
    }

    /// The file line of byte `pos` of this text.
    fn line(&mut self, pos: usize) -> u32 {
        self.lines.line(pos)
    }

    /// A syntax error at byte `pos` of this text.
    fn error_at(&mut self, pos: usize, message: impl Into<String>) -> LoadError {
        let line = self.line(pos);
        syntax(self.file, line, message)
    }

    /// The next event and the offset where it starts.
    fn next(&mut self) -> Result<(Event<'a>, usize), LoadError> {
        let pos = offset(self.reader.buffer_position());
        match self.reader.read_event() {
            Ok(event) => Ok((event, pos)),
            Err(e) => {
                let at = offset(self.reader.error_position());
                Err(self.error_at(at, format!("malformed XML: {}", readable_xml_error(&e))))
            }
        }
    }

    /// Reads a start tag's name and attributes.
    fn element(&mut self, e: &BytesStart<'_>, pos: usize, empty: bool) -> Result<Element, LoadError> {
        let line = self.line(pos);
        let name = e.name().0.to_string();
        let mut attrs = Vec::new();
        for attr in e.attributes() {
            let attr = attr
                .map_err(|err| syntax(self.file, line, format!("malformed XML: bad attribute in <{name}>: {err}")))?;
            let value = attr.normalized_value(XmlVersion::Implicit1_0).map_err(|err| {
                syntax(
                    self.file,
                    line,
                    format!("malformed XML: attribute {} of <{name}>: {}", attr.key.0, readable_xml_error(&err)),
                )
            })?;
            attrs.push((attr.key.0.to_string(), value.into_owned()));
        }
        Ok(Element { name, attrs, empty, line })
    }

    /// Skips prolog (declaration, comments, doctype, whitespace) and returns the root
    /// element, or `None` when the text has no element at all.
    fn root(&mut self) -> Result<Option<Element>, LoadError> {
        loop {
            let (event, pos) = self.next()?;
            match event {
                Event::Start(e) => return self.element(&e, pos, false).map(Some),
                Event::Empty(e) => return self.element(&e, pos, true).map(Some),
                Event::Text(t) if t.trim().is_empty() => {}
                Event::Text(_) | Event::CData(_) | Event::GeneralRef(_) => {
                    return Err(self.error_at(pos, "malformed XML: text before the root element"));
                }
                Event::End(_) => {
                    return Err(self.error_at(pos, "malformed XML: end tag before any start tag"));
                }
                Event::Eof => return Ok(None),
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
            }
        }
    }

    /// After the root element: only whitespace, comments and processing instructions may follow.
    fn expect_end(&mut self, root_end: &str) -> Result<(), LoadError> {
        loop {
            let (event, pos) = self.next()?;
            match event {
                Event::Eof => return Ok(()),
                Event::Text(t) if t.trim().is_empty() => {}
                Event::Comment(_) | Event::PI(_) => {}
                _ => {
                    return Err(self.error_at(pos, format!("malformed XML: content after {root_end}")));
                }
            }
        }
    }

    /// Error for an element whose end tag never came.
    fn unclosed(&mut self, element: &Element) -> LoadError {
        syntax(
            self.file,
            element.line,
            format!(
                "malformed XML: <{}> is not closed (no </{}> before the end of the input)",
                element.name, element.name
            ),
        )
    }

    /// Skips the content and end tag of `element`.
    fn skip(&mut self, element: &Element) -> Result<(), LoadError> {
        if element.empty {
            return Ok(());
        }
        // A counter, not recursion: deep nesting in parts we ignore cannot overflow the stack.
        let mut depth = 1usize;
        loop {
            match self.next()?.0 {
                Event::Start(_) => depth += 1,
                Event::End(_) => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                Event::Eof => return Err(self.unclosed(element)),
                _ => {}
            }
        }
    }

    /// The text content of `element` (text, CDATA and entity references concatenated, EOLs
    /// normalised), not trimmed. Child elements are an error: IRIS values are plain text.
    fn text(&mut self, element: &Element) -> Result<String, LoadError> {
        let mut text = String::new();
        if element.empty {
            return Ok(text);
        }
        loop {
            let (event, pos) = self.next()?;
            match event {
                Event::Text(t) => text.push_str(&t.xml10_content()),
                Event::CData(c) => text.push_str(&c.xml10_content()),
                Event::GeneralRef(r) => {
                    let resolved = if r.is_char_ref() {
                        r.resolve_char_ref().ok().flatten()
                    } else {
                        quick_xml::escape::resolve_predefined_entity(&r).and_then(|s| s.chars().next())
                    };
                    match resolved {
                        Some(c) => text.push(c),
                        None => {
                            return Err(
                                self.error_at(pos, format!("malformed XML: unknown or invalid entity &{};", &*r))
                            );
                        }
                    }
                }
                Event::Start(e) | Event::Empty(e) => {
                    return Err(self.error_at(
                        pos,
                        format!(
                            "unexpected element <{}> inside <{}>: its value must be text",
                            e.name().0,
                            element.name
                        ),
                    ));
                }
                Event::End(_) => return Ok(text),
                Event::Eof => return Err(self.unclosed(element)),
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_) => {}
            }
        }
    }

    /// Errors when `element` holds non-whitespace text where only child elements belong.
    fn no_text(&mut self, pos: usize, text: &str, element: &Element) -> Result<(), LoadError> {
        if text.trim().is_empty() {
            Ok(())
        } else {
            Err(self.error_at(pos, format!("unexpected text inside <{}>: {:?}", element.name, text.trim())))
        }
    }

    /// Reads one `<Class>` of an export; records it when it has `XData ProductionDefinition`.
    fn export_class(&mut self, class: &Element, found: &mut Vec<ExportedProduction>) -> Result<(), LoadError> {
        let class_name = class.nonempty_attr("name").map(str::to_string);
        loop {
            let (event, pos) = self.next()?;
            match event {
                Event::Start(e) if e.name().0 == "XData" => {
                    let xdata = self.element(&e, pos, false)?;
                    if xdata.attr("name") == Some("ProductionDefinition") {
                        self.export_xdata(&xdata, class_name.clone(), found)?;
                    } else {
                        self.skip(&xdata)?;
                    }
                }
                Event::Start(e) => {
                    let other = self.element(&e, pos, false)?;
                    self.skip(&other)?;
                }
                Event::End(_) => return Ok(()),
                Event::Eof => return Err(self.unclosed(class)),
                _ => {}
            }
        }
    }

    /// Reads `<XData name="ProductionDefinition">`: collects its `<Data>` text.
    fn export_xdata(
        &mut self,
        xdata: &Element,
        class_name: Option<String>,
        found: &mut Vec<ExportedProduction>,
    ) -> Result<(), LoadError> {
        loop {
            let (event, pos) = self.next()?;
            match event {
                Event::Start(e) if e.name().0 == "Data" => {
                    let data = self.element(&e, pos, false)?;
                    // The inner XML starts right after `<Data>`: its newlines map 1:1 onto
                    // the file's (CDATA split markers hold none), so this is the line base.
                    let content_start = offset(self.reader.buffer_position());
                    let base = self.line(content_start).saturating_sub(1);
                    let inner = self.text(&data)?;
                    found.push(ExportedProduction { class_name: class_name.clone(), inner, base, line: xdata.line });
                }
                Event::Start(e) => {
                    let other = self.element(&e, pos, false)?;
                    self.skip(&other)?;
                }
                Event::End(_) => return Ok(()),
                Event::Eof => return Err(self.unclosed(xdata)),
                _ => {}
            }
        }
    }

    /// Reads the `<Production>` element `root` (its start tag already read) to its end tag.
    fn production(
        &mut self,
        root: Element,
        format: SourceFormat,
        class_name: Option<&str>,
    ) -> Result<ProductionConfig, LoadError> {
        let file = self.file.clone();
        // IRIS names a class-based production after its class when Name is absent.
        let name = match root.nonempty_attr("Name").or(class_name) {
            Some(name) => name.to_string(),
            None => {
                return Err(syntax(&file, root.line, "<Production> has no Name attribute"));
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
            location: Location::new(&file, root.line),
        };
        if !root.empty {
            loop {
                let (event, pos) = self.next()?;
                let (e, empty) = match event {
                    Event::Start(e) => (e, false),
                    Event::Empty(e) => (e, true),
                    Event::End(_) => break,
                    Event::Eof => return Err(self.unclosed(&root)),
                    Event::Text(t) => {
                        self.no_text(pos, &t, &root)?;
                        continue;
                    }
                    Event::CData(_) | Event::GeneralRef(_) => {
                        return Err(self.error_at(pos, "unexpected text inside <Production>"));
                    }
                    Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_) => {
                        continue;
                    }
                };
                let child = self.element(&e, pos, empty)?;
                match child.name.as_str() {
                    "Description" => {
                        production.description = trim_xml(&self.text(&child)?).to_string();
                    }
                    "ActorPoolSize" => {
                        let value = trim_xml(&self.text(&child)?).to_string();
                        production.settings.push(Setting {
                            name: "ActorPoolSize".to_string(),
                            value,
                            target: SettingTarget::Host,
                            location: Location::new(&file, child.line),
                        });
                    }
                    "Setting" => {
                        let setting = self.setting(&child)?;
                        if setting.name == "PluginDirs" {
                            production.plugin_dirs.extend(plugin_dirs(&file, &setting.value));
                        }
                        production.settings.push(setting);
                    }
                    "Item" => {
                        let item = self.item(&child)?;
                        production.items.push(item);
                    }
                    "SubProduction" => {
                        return Err(syntax(
                            &file,
                            child.line,
                            "SubProduction is not supported: list its items in this production",
                        ));
                    }
                    other => {
                        return Err(syntax(
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
    fn setting(&mut self, element: &Element) -> Result<Setting, LoadError> {
        let Some(name) = element.nonempty_attr("Name").map(str::to_string) else {
            return Err(syntax(self.file, element.line, "<Setting> has no Name attribute"));
        };
        let target = match element.attr("Target") {
            None => SettingTarget::Adapter,
            Some(t) if t.eq_ignore_ascii_case("Adapter") => SettingTarget::Adapter,
            Some(t) if t.eq_ignore_ascii_case("Host") => SettingTarget::Host,
            Some(other) => {
                return Err(syntax(
                    self.file,
                    element.line,
                    format!("setting {name}: Target=\"{other}\" is not valid (expected Host or Adapter)"),
                ));
            }
        };
        // Pretty-printing puts newlines and indentation around values; they are not data.
        let value = trim_xml(&self.text(element)?).to_string();
        Ok(Setting { name, value, target, location: Location::new(self.file, element.line) })
    }

    /// Reads `<Item ...>` and its `<Setting>` children (start tag already read).
    fn item(&mut self, element: &Element) -> Result<ItemConfig, LoadError> {
        let file = self.file.clone();
        let Some(class) = element.nonempty_attr("ClassName").map(str::to_string) else {
            return Err(syntax(&file, element.line, "<Item> has no ClassName attribute"));
        };
        // IRIS names an item after its class when Name is absent.
        let name = element.nonempty_attr("Name").unwrap_or(&class).to_string();
        let enabled = match element.attr("Enabled").map(hie_plugin_api::settings::parse_bool) {
            None => true,
            Some(Ok(b)) => b,
            Some(Err(e)) => {
                let other = e.value;
                return Err(syntax(
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
            let (event, pos) = self.next()?;
            let (e, empty) = match event {
                Event::Start(e) => (e, false),
                Event::Empty(e) => (e, true),
                Event::End(_) => return Ok(item),
                Event::Eof => return Err(self.unclosed(element)),
                Event::Text(t) => {
                    self.no_text(pos, &t, element)?;
                    continue;
                }
                Event::CData(_) | Event::GeneralRef(_) => {
                    return Err(self.error_at(pos, format!("unexpected text inside <Item> {}", item.name)));
                }
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_) => continue,
            };
            let child = self.element(&e, pos, empty)?;
            if child.name != "Setting" {
                return Err(syntax(
                    &file,
                    child.line,
                    format!("unexpected element <{}> inside <Item> {} (expected Setting)", child.name, item.name),
                ));
            }
            let setting = self.setting(&child)?;
            item.settings.push(setting);
        }
    }
}

/// A `LoadError::Syntax` at `line` of `file`.
fn syntax(file: &Arc<Path>, line: u32, message: impl Into<String>) -> LoadError {
    LoadError::Syntax { location: Location::new(file, line), message: message.into() }
}

/// A reader offset as an index (offsets never exceed the text length, which fits usize).
fn offset(pos: u64) -> usize {
    usize::try_from(pos).unwrap_or(usize::MAX)
}

/// Number of `\n` in `text`.
fn count_newlines(text: &str) -> u32 {
    u32::try_from(text.bytes().filter(|&b| b == b'\n').count()).unwrap_or(u32::MAX)
}

/// 1-based line of byte `pos` in `text`.
fn line_of(text: &str, pos: usize) -> u32 {
    count_newlines(text.get(..pos).unwrap_or(text)).saturating_add(1)
}

/// `text` without surrounding XML whitespace (space, tab, CR, LF); other Unicode spaces such
/// as NBSP are data.
fn trim_xml(text: &str) -> &str {
    text.trim_matches([' ', '\t', '\r', '\n'])
}

/// quick-xml's error without its category prefix where the message says enough by itself.
fn readable_xml_error(e: &quick_xml::Error) -> String {
    match e {
        quick_xml::Error::Syntax(s) => s.to_string(),
        quick_xml::Error::IllFormed(i) => i.to_string(),
        quick_xml::Error::InvalidAttr(a) => format!("bad attribute: {a}"),
        other => other.to_string(),
    }
}

/// The comma-separated `PluginDirs` value as directories relative to the production file's.
fn plugin_dirs(file: &Path, value: &str) -> Vec<PathBuf> {
    let base = file.parent().unwrap_or(Path::new(""));
    value.split(',').map(str::trim).filter(|d| !d.is_empty()).map(|d| base.join(d)).collect()
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
mod tests {
    use super::*;

    /// Loads `text` as if read from `name`.
    fn load(name: &str, text: &str) -> Result<ProductionConfig, LoadError> {
        let file: Arc<Path> = Arc::from(Path::new(name));
        load_iris(&file, text)
    }

    /// The line of a `LoadError::Syntax` and its message.
    fn syntax_error(result: Result<ProductionConfig, LoadError>) -> (u32, String) {
        match result {
            Err(LoadError::Syntax { location, message }) => (location.line, message),
            Err(other) => panic!("expected a syntax error, got {other}"),
            Ok(p) => panic!("expected a syntax error, got production {}", p.name),
        }
    }

    /// The 1-based line of the first line of `text` containing `needle`.
    fn line_containing(text: &str, needle: &str) -> u32 {
        let index = text.lines().position(|l| l.contains(needle)).expect("needle in text");
        u32::try_from(index).expect("small") + 1
    }

    const SAMPLE_06: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../config/samples/iris/06_irisdemo-demo-readmission_risksrv_IRISDemo.Production.cls"
    ));
    const SAMPLE_07: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../config/samples/iris/07_irisdemo-demo-readmission_hisdb_IRISDemo.Production.cls"
    ));

    #[test]
    fn udl_sample_06_with_custom_base_class_loads_all_items_and_settings() {
        let p = load("06.cls", SAMPLE_06).expect("sample 06 loads");
        assert_eq!(p.format, SourceFormat::IrisUdl);
        assert_eq!(p.name, "IRISDemo.Production");
        assert_eq!(p.description, "");
        assert_eq!(p.location.line, 6);
        let names: Vec<&str> = p.items.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "HIS HL7v2 File Feed Router",
                "LACE SOAP Operation",
                "HIS HL7v2 TCP Feed",
                "Risk Alert Email Operation",
                "Care Team",
                "Readmission Risk Process",
                "Readmission ML Model Consumer",
                "HisDB Encounter Update Operation",
            ]
        );
        let pool = p.setting("ActorPoolSize").expect("ActorPoolSize");
        assert_eq!((pool.value.as_str(), pool.target, pool.location.line), ("2", SettingTarget::Host, 8));

        let router = p.item("HIS HL7v2 File Feed Router").expect("router");
        assert_eq!(router.class, "EnsLib.HL7.MsgRouter.RoutingEngine");
        assert!(router.enabled);
        assert_eq!(router.pool_size.as_deref(), Some("1"));
        assert_eq!(router.location.line, 9);
        assert_eq!(router.pool_size_location.line, 9);
        let validation = router.host_setting("Validation").expect("Validation");
        assert_eq!((validation.value.as_str(), validation.location.line), ("", 10));
        let rule = router.host_setting("BusinessRuleName").expect("rule");
        assert_eq!(rule.value, "IRISDemo.HISHL7v2FileFeedRoutingRule");
        assert_eq!(rule.location.line, 11);

        let feed = p.item("HIS HL7v2 TCP Feed").expect("feed");
        assert_eq!(feed.class, "EnsLib.HL7.Service.TCPService");
        assert_eq!(feed.location.line, line_containing(SAMPLE_06, "Name=\"HIS HL7v2 TCP Feed\""));
        let port = feed.adapter_setting("Port").expect("Port");
        assert_eq!((port.value.as_str(), port.location.line), ("9999", 19));
        assert_eq!(
            feed.host_setting("TargetConfigNames").map(|s| s.value.as_str()),
            Some("HIS HL7v2 File Feed Router")
        );
        let url = p.item("HisDB Encounter Update Operation").and_then(|i| i.adapter_setting("URL"));
        assert_eq!(
            url.map(|s| (s.value.as_str(), s.location.line)),
            Some(("/csp/appint/rest/encounter/updateprobabilities", 40))
        );
        assert!(p.items.iter().all(|i| i.comment.is_empty() && i.category.is_empty()));
    }

    #[test]
    fn udl_sample_07_loads_items_with_lines() {
        let p = load("07.cls", SAMPLE_07).expect("sample 07 loads");
        assert_eq!(p.format, SourceFormat::IrisUdl);
        assert_eq!(p.items.len(), 3);
        let op = p.item("Readmission Risk HL7 Service").expect("op");
        assert_eq!(op.class, "EnsLib.HL7.Operation.TCPOperation");
        assert_eq!(op.location.line, 9);
        let ip = op.adapter_setting("IPAddress").expect("IPAddress");
        assert_eq!((ip.value.as_str(), ip.location.line), ("risksrv", 10));
        assert_eq!(op.adapter_setting("Port").map(|s| s.location.line), Some(11));
        let process = p.item("Application HL7 Trigger Process").expect("process");
        assert_eq!(process.class, "IRISDemo.BP.HL7AppTrigger.Process");
        assert_eq!(process.location.line, 15);
        assert!(process.settings.is_empty());
    }

    const BARE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment -->
<Production Name="Demo.Production" TestingEnabled="true" LogGeneralTraceEvents="false">
  <Description>Demo &amp; test</Description>
  <ActorPoolSize>2</ActorPoolSize>
  <Setting Target="Host" Name="Durability">fsync</Setting>
  <Setting Name="PluginDirs">../packs, extra</Setting>
  <Item Name="In" ClassName="EnsLib.HL7.Service.TCPService" PoolSize="3" Enabled="false"
        Foreground="false" Comment="inbound" Category="HL7,ADT" Schedule="" DisableErrorTraps="true">
    <Setting Target="Adapter" Name="Port">2575</Setting>
    <Setting Name="ReadTimeout">
      15
    </Setting>
    <Setting Target="Host" Name="TargetConfigNames">Router</Setting>
    <Setting Target="Host" Name="Empty"/>
    <Setting Target="Host" Name="Separators"><![CDATA[|^~\&]]></Setting>
  </Item>
  <Item ClassName="EnsLib.HL7.MsgRouter.RoutingEngine" Enabled="1"/>
</Production>
"#;

    #[test]
    fn bare_production_with_declaration_loads() {
        let p = load("/prod/demo.xml", BARE).expect("bare loads");
        assert_eq!(p.format, SourceFormat::IrisXml);
        assert_eq!(p.name, "Demo.Production");
        assert_eq!(p.description, "Demo & test");
        assert_eq!(p.location.line, 3);
        assert_eq!(p.setting("Durability").map(|s| (s.target, s.location.line)), Some((SettingTarget::Host, 6)));
        assert_eq!(p.items.len(), 2);
        let item = &p.items[0];
        assert_eq!((item.name.as_str(), item.enabled), ("In", false));
        assert_eq!(item.pool_size.as_deref(), Some("3"));
        assert_eq!((item.comment.as_str(), item.category.as_str()), ("inbound", "HL7,ADT"));
        assert_eq!(item.location.line, 8);
        let lines: Vec<(&str, u32)> = item.settings.iter().map(|s| (s.name.as_str(), s.location.line)).collect();
        assert_eq!(
            lines,
            [("Port", 10), ("ReadTimeout", 11), ("TargetConfigNames", 14), ("Empty", 15), ("Separators", 16)]
        );
        assert_eq!(item.any_setting("ReadTimeout").map(|s| s.value.as_str()), Some("15"));
        assert_eq!(item.host_setting("Empty").map(|s| s.value.as_str()), Some(""));
        assert_eq!(item.host_setting("Separators").map(|s| s.value.as_str()), Some("|^~\\&"));
        assert_eq!(p.items[1].location.line, 18);
        assert!(p.items[1].enabled);
    }

    #[test]
    fn setting_target_defaults_to_adapter() {
        let p = load("demo.xml", BARE).expect("bare loads");
        let timeout = p.items[0].any_setting("ReadTimeout").expect("ReadTimeout");
        assert_eq!(timeout.target, SettingTarget::Adapter);
        let dirs = p.setting("PluginDirs").expect("production-level PluginDirs kept");
        assert_eq!(dirs.target, SettingTarget::Adapter);
    }

    #[test]
    fn item_name_defaults_to_class_name() {
        let p = load("demo.xml", BARE).expect("bare loads");
        assert_eq!(p.items[1].name, "EnsLib.HL7.MsgRouter.RoutingEngine");
        assert_eq!(p.items[1].class, "EnsLib.HL7.MsgRouter.RoutingEngine");
        assert_eq!(p.items[1].pool_size, None);
        assert_eq!(p.items[1].pool_size_location.line, 18);
    }

    #[test]
    fn plugin_dirs_setting_resolves_relative_to_the_file() {
        let p = load("/prod/demo.xml", BARE).expect("bare loads");
        assert_eq!(p.plugin_dirs, [PathBuf::from("/prod/../packs"), PathBuf::from("/prod/extra")]);
    }

    /// A Studio export whose XData holds a CDATA section of its own, so IRIS split the outer
    /// CDATA at the inner `]]>`.
    const EXPORT: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>
<Export generator=\"IRIS\" version=\"26\" zv=\"IRIS for UNIX 2023.1\" ts=\"2024-01-01 00:00:00\">
<Class name=\"Demo.Production\">
<Super>Demo.BaseProduction</Super>
<TimeChanged>66000,1</TimeChanged>
<XData name=\"Other\"><Data><![CDATA[<Production Name=\"Wrong\"/>]]></Data></XData>
<XData name=\"ProductionDefinition\">
<Data><![CDATA[
<Production Name=\"Demo.Production\">
  <Item Name=\"In\" ClassName=\"EnsLib.HL7.Service.TCPService\">
    <Setting Target=\"Host\" Name=\"Separators\"><![CDATA[|^~\\&]]]]><![CDATA[></Setting>
    <Setting Target=\"Adapter\" Name=\"Port\">2575</Setting>
    <Setting Name=\"Note\">a ]]]]><![CDATA[> b</Setting>
  </Item>
</Production>
]]></Data>
</XData>
</Class>
<Checksum value=\"123\"/>
</Export>
";

    #[test]
    fn studio_export_with_split_cdata_loads_with_file_lines() {
        let p = load("demo.xml", EXPORT).expect("export loads");
        assert_eq!(p.format, SourceFormat::IrisStudioExport);
        assert_eq!(p.name, "Demo.Production");
        assert_eq!(p.location.line, line_containing(EXPORT, "<Production Name=\"Demo.Production\">"));
        let item = p.item("In").expect("item");
        assert_eq!(item.location.line, 10);
        let sep = item.host_setting("Separators").expect("Separators");
        assert_eq!((sep.value.as_str(), sep.location.line), ("|^~\\&", 11));
        let port = item.adapter_setting("Port").expect("Port");
        assert_eq!((port.value.as_str(), port.location.line), ("2575", 12));
        let note = item.adapter_setting("Note").expect("Note");
        assert_eq!((note.value.as_str(), note.location.line), ("a ]]> b", 13));
    }

    #[test]
    fn studio_export_production_name_defaults_to_class_name() {
        let text = EXPORT.replace("<Production Name=\"Demo.Production\">", "<Production>");
        let p = load("demo.xml", &text).expect("export loads");
        assert_eq!(p.name, "Demo.Production");
    }

    #[test]
    fn studio_export_with_escaped_data_instead_of_cdata_loads() {
        let text = "<Export>\n<Class name=\"A.P\">\n<XData name=\"ProductionDefinition\">\n\
                    <Data>&lt;Production&gt;\n&lt;Item ClassName=\"X\"/&gt;\n&lt;/Production&gt;</Data>\n\
                    </XData>\n</Class>\n</Export>\n";
        let p = load("a.xml", text).expect("export loads");
        assert_eq!((p.name.as_str(), p.location.line), ("A.P", 4));
        assert_eq!(p.items[0].location.line, 5);
    }

    #[test]
    fn studio_export_without_production_definition_is_rejected() {
        let text = "<Export><Class name=\"A\"><Super>%RegisteredObject</Super></Class></Export>";
        let (line, message) = syntax_error(load("a.xml", text));
        assert_eq!(line, 1);
        assert!(message.contains("no <Production> element found"), "{message}");
    }

    #[test]
    fn malformed_xml_in_udl_names_the_file_line() {
        let text = "Class A.P Extends Ens.Production\n{\n\nXData ProductionDefinition\n{\n\
                    <Production Name=\"A.P\">\n  <Item Name=\"x\" ClassName=\"Y\">\n  </Itm>\n\
                    </Production>\n}\n}\n";
        let (line, message) = syntax_error(load("a.cls", text));
        assert_eq!(line, 8);
        assert!(message.starts_with("malformed XML:"), "{message}");
        assert!(message.contains("</Item>") && message.contains("</Itm>"), "{message}");
    }

    #[test]
    fn malformed_xml_in_studio_export_names_the_file_line() {
        let text = EXPORT.replace(
            "<Setting Target=\"Adapter\" Name=\"Port\">2575</Setting>",
            "<Setting Name=\"Port\">2575</Setting",
        );
        let (line, message) = syntax_error(load("a.xml", &text));
        assert_eq!(line, 12, "{message}");
        assert!(message.starts_with("malformed XML:"), "{message}");
    }

    #[test]
    fn unclosed_production_is_reported() {
        let (line, message) = syntax_error(load("a.xml", "<Production Name=\"A\">\n  <Item ClassName=\"X\">\n"));
        assert!(line == 1 || line == 2, "{line} {message}");
        assert!(message.contains("not closed") || message.contains("not found"), "{message}");
    }

    #[test]
    fn enabled_must_be_a_boolean() {
        let text = "<Production Name=\"A\">\n<Item ClassName=\"X\" Enabled=\"maybe\"/>\n</Production>";
        let (line, message) = syntax_error(load("a.xml", text));
        assert_eq!(line, 2);
        assert!(message.contains("Enabled=\"maybe\""), "{message}");
        for (spelling, enabled) in [("0", false), ("no", false), ("true", true), ("on", true)] {
            let ok = load("a.xml", &text.replace("maybe", spelling)).expect("a boolean");
            assert_eq!(ok.items[0].enabled, enabled, "{spelling}");
        }
    }

    #[test]
    fn item_without_class_name_is_rejected() {
        let text = "<Production Name=\"A\">\n\n<Item Name=\"X\"/>\n</Production>";
        let (line, message) = syntax_error(load("a.xml", text));
        assert_eq!(line, 3);
        assert!(message.contains("ClassName"), "{message}");
    }

    #[test]
    fn sub_production_is_rejected_with_its_line() {
        let text = "<Production Name=\"A\">\n<SubProduction Name=\"B\"/>\n</Production>";
        let (line, message) = syntax_error(load("a.xml", text));
        assert_eq!(line, 2);
        assert!(message.contains("SubProduction is not supported"), "{message}");
    }

    #[test]
    fn unknown_element_is_rejected_with_its_line() {
        let text = "<Production Name=\"A\">\n<Item ClassName=\"X\">\n<Settings Name=\"B\"/>\n</Item>\n</Production>";
        let (line, message) = syntax_error(load("a.xml", text));
        assert_eq!(line, 3);
        assert!(message.contains("<Settings>"), "{message}");
    }

    #[test]
    fn invalid_target_is_rejected() {
        let text = "<Production Name=\"A\">\n<Setting Name=\"B\" Target=\"Both\">1</Setting>\n</Production>";
        let (line, message) = syntax_error(load("a.xml", text));
        assert_eq!(line, 2);
        assert!(message.contains("Target=\"Both\""), "{message}");
    }

    #[test]
    fn file_without_production_is_rejected() {
        let (line, message) = syntax_error(load("a.cls", "Class A Extends %Persistent\n{\n}\n"));
        assert_eq!(line, 1);
        assert!(message.contains("no <Production> element found"), "{message}");
        let (_, message) = syntax_error(load("a.xml", "<Other/>"));
        assert!(message.contains("no <Production> element found"), "{message}");
        let (_, message) = syntax_error(load("a.xml", ""));
        assert!(message.contains("no <Production> element found"), "{message}");
    }

    #[test]
    fn content_after_bare_production_is_rejected() {
        let text = "<Production Name=\"A\"/>\n<Production Name=\"B\"/>\n";
        let (line, message) = syntax_error(load("a.xml", text));
        assert_eq!(line, 2);
        assert!(message.contains("after </Production>"), "{message}");
    }

    #[test]
    fn udl_with_crlf_and_doc_comments_keeps_lines() {
        let text = "/// A production\r\nInclude Ensemble\r\n\r\nClass My.Prod Extends Ens.Production [ ProcedureBlock ]\r\n{\r\n\r\n\
                    XData ProductionDefinition [ XMLNamespace = \"x\" ]\r\n{\r\n<Production>\r\n\
                    <Item ClassName=\"A.B\" Name=\"N\">\r\n<Setting Name=\"S\">v\r\n w</Setting>\r\n</Item>\r\n</Production>\r\n}\r\n}\r\n";
        let p = load("a.cls", text).expect("loads");
        assert_eq!(p.name, "My.Prod");
        assert_eq!(p.location.line, 9);
        assert_eq!(p.items[0].location.line, 10);
        let s = &p.items[0].settings[0];
        assert_eq!((s.value.as_str(), s.location.line), ("v\n w", 11));
    }
}
