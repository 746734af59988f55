//! Custom schema categories from IRIS exports (docs/iris-formats.md §5).
//!
//! Read: `<Category name base description>` (inside `<Export><Document>` or bare, several per
//! file allowed), `<MessageType name structure returntype>`, `<MessageStructure name
//! definition description>`, `<SegmentStructure name description>` with
//! `<SegmentSubStructure piece description datatype max_length|length required ifrepeating
//! codetable .../>`, `<DataStructure>`/`<DataType>` with `<DataSubStructure>`/`<DataSubType>`,
//! and `<CodeTable name description>` with `<Enumerate value description/>`. Everything else
//! (`MessageGroup`, `MessageEvent`, unknown elements and attributes) is ignored.
//!
//! # Invariants
//!
//! - Errors name the file, the 1-based line and the element; nothing is half-loaded (the
//!   caller gets every category of the file or an error).
//! - A custom category overlays its base: definitions it does not have are looked up in the
//!   base chain at use time, so it inherits everything it does not redefine.
//! - Category prefixes on referenced names (`base:CE`, `2.5:CE`) are dropped from data type
//!   and table names (lookups go local first, then along the base chain); on segments inside
//!   a structure definition they are kept as `from_base`.
//! - Field names are the description without non-alphanumerics (IRIS's rule for custom
//!   segments); `MessageType name="ADT_A28"` is the event key `ADT^A28` (`ACK` alone:
//!   `ACK^*`). Pieces are placed by number; a gap is filled with an unnamed optional ST field.

use std::collections::HashMap;
use std::sync::Arc;

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};

use crate::builtin::BUILTIN_VERSIONS;
use crate::definition::parse_definition;
use crate::error::SchemaError;
use crate::model::{
    Category, ComponentDef, DataType, FieldDef, MessageStructure, Optionality, SegmentDef, Table, pad_table_id,
    property_name,
};

/// One `SegmentSubStructure` / `DataSubStructure` before it becomes a field or component.
struct Piece {
    piece: usize,
    name: String,
    description: String,
    data_type: String,
    optionality: Optionality,
    max_repeats: Option<u32>,
    max_length: Option<u32>,
    table: Option<String>,
}

/// What the reader is inside of.
enum Open {
    Segment { name: String, description: Option<String>, pieces: Vec<Piece> },
    Type { name: String, description: Option<String>, pieces: Vec<Piece> },
    Table { id: String, description: Option<String>, values: Vec<(String, String)> },
}

struct Loader<'x, 'f> {
    xml: &'x str,
    file: &'f str,
    line: usize,
    line_pos: usize,
}

impl Loader<'_, '_> {
    /// 1-based line of byte `pos` (positions only move forward).
    fn line_at(&mut self, pos: usize) -> usize {
        let pos = pos.min(self.xml.len());
        if pos > self.line_pos {
            self.line += self.xml.as_bytes()[self.line_pos..pos].iter().filter(|&&b| b == b'\n').count();
            self.line_pos = pos;
        }
        self.line
    }

    fn invalid(&self, line: usize, element: &str, message: impl Into<String>) -> SchemaError {
        SchemaError::Invalid { file: self.file.to_owned(), line, element: element.to_owned(), message: message.into() }
    }
}

/// Attributes of one element, unescaped.
struct Attrs {
    element: String,
    list: Vec<(String, String)>,
}

impl Attrs {
    fn get(&self, key: &str) -> Option<&str> {
        self.list.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.trim())
    }

    fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }
}

fn read_attrs(e: &BytesStart<'_>) -> Result<Attrs, String> {
    let element = e.local_name().as_ref().to_owned();
    let mut list = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|err| err.to_string())?;
        let key = a.key.local_name().as_ref().to_owned();
        let value = a.normalized_value(XmlVersion::Implicit1_0).map_err(|err| err.to_string())?.into_owned();
        list.push((key, value));
    }
    Ok(Attrs { element, list })
}

/// `base:CE` → `CE`.
fn bare(name: &str) -> &str {
    name.rsplit_once(':').map_or(name, |(_, n)| n).trim()
}

fn table_id(name: &str) -> String {
    let b = bare(name);
    pad_table_id(b).unwrap_or_else(|| b.to_owned())
}

/// Parses every `<Category>` of an export. `lookup` finds a base category that is not in
/// this file (a category earlier in the file may be the base of a later one).
pub(crate) fn load(
    xml: &str,
    file: &str,
    lookup: &dyn Fn(&str) -> Option<Arc<Category>>,
) -> Result<Vec<Arc<Category>>, SchemaError> {
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut ld = Loader { xml, file, line: 1, line_pos: 0 };
    let mut done: Vec<Arc<Category>> = Vec::new();
    let mut cat: Option<Category> = None;
    let mut open: Option<Open> = None;
    loop {
        let event = match reader.read_event() {
            Ok(e) => e,
            Err(err) => {
                let line = ld.line_at(usize::try_from(reader.error_position()).unwrap_or(usize::MAX));
                return Err(SchemaError::Xml { file: file.to_owned(), line, message: err.to_string() });
            }
        };
        let end = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX).saturating_sub(1);
        let line = ld.line_at(end);
        match event {
            Event::Eof => break,
            Event::Start(ref e) | Event::Empty(ref e) => {
                let self_closing = matches!(event, Event::Empty(_));
                let attrs = read_attrs(e).map_err(|m| ld.invalid(line, e.local_name().as_ref(), m))?;
                let closes_category = self_closing && attrs.element == "Category";
                if attrs.element == "Category"
                    && let Some(c) = cat.take()
                {
                    done.push(Arc::new(c));
                }
                start(&mut ld, line, attrs, self_closing, &mut cat, &mut open, &done, lookup)?;
                if closes_category && let Some(c) = cat.take() {
                    done.push(Arc::new(c));
                }
            }
            Event::End(e) => {
                let name = e.local_name();
                match name.as_ref() {
                    "Category" => {
                        if let Some(c) = cat.take() {
                            done.push(Arc::new(c));
                        }
                    }
                    "SegmentStructure" | "DataStructure" | "DataType" | "CodeTable" => close(&mut cat, open.take()),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    if let Some(c) = cat.take() {
        done.push(Arc::new(c));
    }
    if done.is_empty() {
        return Err(SchemaError::NoCategory { file: file.to_owned() });
    }
    Ok(done)
}

/// Handles a start (or self-closing) tag.
#[allow(clippy::too_many_arguments)]
fn start(
    ld: &mut Loader<'_, '_>,
    line: usize,
    a: Attrs,
    self_closing: bool,
    cat: &mut Option<Category>,
    open: &mut Option<Open>,
    done: &[Arc<Category>],
    lookup: &dyn Fn(&str) -> Option<Arc<Category>>,
) -> Result<(), SchemaError> {
    let el = a.element.clone();
    let need = |key: &str| {
        a.non_empty(key).map(str::to_owned).ok_or_else(|| ld.invalid(line, &el, format!("missing attribute {key:?}")))
    };
    if el == "Category" {
        let name = need("name")?;
        if BUILTIN_VERSIONS.contains(&name.as_str()) {
            return Err(SchemaError::BuiltinName { file: ld.file.to_owned(), line, name });
        }
        let base = match a.non_empty("base") {
            None => None,
            Some(b) => {
                let found = done.iter().find(|c| c.name() == b).cloned().or_else(|| lookup(b));
                Some(found.ok_or_else(|| SchemaError::UnknownBase {
                    file: ld.file.to_owned(),
                    line,
                    category: name.clone(),
                    base: b.to_owned(),
                })?)
            }
        };
        *cat = Some(Category {
            name,
            description: a.non_empty("description").map(str::to_owned),
            base,
            builtin: false,
            events: HashMap::new(),
            structures: HashMap::new(),
            segments: HashMap::new(),
            types: HashMap::new(),
            tables: HashMap::new(),
        });
        return Ok(());
    }
    let Some(c) = cat.as_mut() else { return Ok(()) };
    match el.as_str() {
        "MessageType" => {
            let name = need("name")?;
            let structure = a.non_empty("structure").map_or_else(|| name.clone(), str::to_owned);
            let key = match name.split_once('_') {
                Some((t, e)) => format!("{}^{}", t.trim(), e.trim()),
                None => format!("{}^*", name.trim()),
            };
            c.events.insert(key, structure);
        }
        "MessageStructure" => {
            let name = need("name")?;
            let def = need("definition")?;
            let items = parse_definition(&def).map_err(|message| SchemaError::Definition {
                file: ld.file.to_owned(),
                line,
                structure: name.clone(),
                message,
            })?;
            let s = MessageStructure {
                name: name.clone(),
                category: c.name.clone(),
                description: a.non_empty("description").map(str::to_owned),
                items,
            };
            c.structures.insert(name, Arc::new(s));
        }
        "SegmentStructure" => {
            let name = bare(&need("name")?).to_owned();
            let o =
                Open::Segment { name, description: a.non_empty("description").map(str::to_owned), pieces: Vec::new() };
            if self_closing { close(cat, Some(o)) } else { *open = Some(o) }
        }
        "DataStructure" | "DataType" => {
            let name = bare(&need("name")?).to_owned();
            let o = Open::Type { name, description: a.non_empty("description").map(str::to_owned), pieces: Vec::new() };
            if self_closing { close(cat, Some(o)) } else { *open = Some(o) }
        }
        "CodeTable" => {
            let id = table_id(&need("name")?);
            let o = Open::Table { id, description: a.non_empty("description").map(str::to_owned), values: Vec::new() };
            if self_closing { close(cat, Some(o)) } else { *open = Some(o) }
        }
        "SegmentSubStructure" | "DataSubStructure" | "DataSubType" => {
            let piece = piece(ld, line, &a)?;
            match open {
                Some(Open::Segment { pieces, .. } | Open::Type { pieces, .. }) => pieces.push(piece),
                _ => return Err(ld.invalid(line, &el, "outside a SegmentStructure or DataStructure")),
            }
        }
        "Enumerate" => {
            let value = a.get("value").unwrap_or("").to_owned();
            let desc = a.get("description").unwrap_or("").to_owned();
            if let Some(Open::Table { values, .. }) = open {
                values.push((value, desc));
            }
        }
        _ => {}
    }
    Ok(())
}

fn piece(ld: &Loader<'_, '_>, line: usize, a: &Attrs) -> Result<Piece, SchemaError> {
    let el = &a.element;
    let n = a
        .non_empty("piece")
        .ok_or_else(|| ld.invalid(line, el, "missing attribute \"piece\""))?
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=hie_hl7::path::MAX_INDEX).contains(n))
        .ok_or_else(|| {
            ld.invalid(line, el, format!("piece {:?} is not a number from 1", a.get("piece").unwrap_or("")))
        })?;
    let description = a.get("description").unwrap_or("").to_owned();
    let repeating = matches!(a.get("ifrepeating"), Some("1" | "true" | "yes"));
    let max_repeats = match a.non_empty("repeat_count").and_then(|r| r.parse::<u32>().ok()) {
        Some(r) if r > 0 => Some(r),
        _ if repeating => None,
        _ => Some(1),
    };
    let max_length = a.non_empty("max_length").or_else(|| a.non_empty("length")).and_then(|l| l.parse::<u32>().ok());
    Ok(Piece {
        piece: n,
        name: property_name(&description),
        description,
        data_type: a.non_empty("datatype").map_or("ST", bare).to_owned(),
        optionality: Optionality::from_code(a.get("required").unwrap_or("O")),
        max_repeats,
        max_length,
        table: a.non_empty("codetable").map(table_id),
    })
}

/// Pieces sorted by number, gaps filled.
fn ordered(mut pieces: Vec<Piece>) -> Vec<Piece> {
    pieces.sort_by_key(|p| p.piece);
    pieces.dedup_by_key(|p| p.piece);
    let mut out = Vec::with_capacity(pieces.len());
    for p in pieces {
        while out.len() + 1 < p.piece {
            out.push(Piece {
                piece: out.len() + 1,
                name: String::new(),
                description: String::new(),
                data_type: "ST".into(),
                optionality: Optionality::Optional,
                max_repeats: Some(1),
                max_length: None,
                table: None,
            });
        }
        out.push(p);
    }
    out
}

fn close(cat: &mut Option<Category>, open: Option<Open>) {
    let (Some(c), Some(o)) = (cat.as_mut(), open) else { return };
    match o {
        Open::Segment { name, description, pieces } => {
            let fields = ordered(pieces)
                .into_iter()
                .map(|p| FieldDef {
                    name: p.name,
                    description: p.description,
                    data_type: p.data_type,
                    optionality: p.optionality,
                    max_repeats: p.max_repeats,
                    max_length: p.max_length,
                    table: p.table,
                })
                .collect();
            c.segments.insert(name.clone(), SegmentDef { name, description, fields });
        }
        Open::Type { name, description, pieces } => {
            let components = ordered(pieces)
                .into_iter()
                .map(|p| ComponentDef {
                    name: p.name,
                    description: p.description,
                    data_type: p.data_type,
                    optionality: Some(p.optionality),
                    max_length: p.max_length,
                    table: p.table,
                })
                .collect();
            c.types.insert(name.clone(), DataType { name, description, components });
        }
        Open::Table { id, description, mut values } => {
            values.sort_by(|a, b| a.0.cmp(&b.0));
            c.tables.insert(id.clone(), Table { id, description, values });
        }
    }
}
