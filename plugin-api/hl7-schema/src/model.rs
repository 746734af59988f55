//! The schema model: categories, message structures, segments, fields, data types, tables.
//!
//! # Invariants
//!
//! - A [`Category`] is immutable once built and shared as `Arc<Category>`. A custom category
//!   holds its base as `Arc<Category>`, so a category and its whole base chain live as long as
//!   anything refers to them (a [`crate::DocType`], a [`crate::CompiledPath`], a map).
//! - Lookups (`segment`, `structure`, `data_type`, `table`, `event_structure`) look in the
//!   category first and then along the base chain: a local definition overrides the base's.
//!   A name prefixed `base:` skips the local definitions; a name prefixed with a category name
//!   in the chain (`2.5:PID`) starts at that category. Lookups never allocate.
//! - Field, component and element names are compared ASCII-case-insensitively everywhere; the
//!   stored case is a display form only.
//! - Numbers are 1-based where HL7's are: `SegmentDef::field(1)` is field 1 (for MSH, MSH-1,
//!   the field separator), `DataType::component(1)` is component 1.
//! - `max`/`max_repeats` of `None` means unbounded.

use std::collections::HashMap;
use std::sync::Arc;

/// Optionality of a field or component (HL7's R/O/C/B/X/W codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Optionality {
    /// `R`: required.
    Required,
    /// `O`: optional.
    Optional,
    /// `C`: conditional (the condition itself is not in the data).
    Conditional,
    /// `B`: kept for backward compatibility.
    BackwardCompatible,
    /// `X`: not used (not supported) in this context.
    NotUsed,
    /// `W`: withdrawn from the standard.
    Withdrawn,
}

impl Optionality {
    /// Parses an HL7 optionality code; anything unknown or empty reads as `Optional`.
    pub fn from_code(code: &str) -> Optionality {
        match code.trim() {
            "R" | "r" => Optionality::Required,
            "C" | "c" => Optionality::Conditional,
            "B" | "b" => Optionality::BackwardCompatible,
            "X" | "x" => Optionality::NotUsed,
            "W" | "w" => Optionality::Withdrawn,
            _ => Optionality::Optional,
        }
    }

    /// The one-letter HL7 code (`"R"`, `"O"`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            Optionality::Required => "R",
            Optionality::Optional => "O",
            Optionality::Conditional => "C",
            Optionality::BackwardCompatible => "B",
            Optionality::NotUsed => "X",
            Optionality::Withdrawn => "W",
        }
    }
}

/// One schema category: a built-in HL7 version (`2.5`) or a custom IRIS category (`HIE_2.5`).
#[derive(Debug)]
pub struct Category {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) base: Option<Arc<Category>>,
    pub(crate) builtin: bool,
    /// `TYPE^EVENT` (or `TYPE^*`) → structure name (may carry a `base:` prefix).
    pub(crate) events: HashMap<String, String>,
    pub(crate) structures: HashMap<String, Arc<MessageStructure>>,
    pub(crate) segments: HashMap<String, SegmentDef>,
    pub(crate) types: HashMap<String, DataType>,
    pub(crate) tables: HashMap<String, Table>,
}

impl Category {
    /// The category name: the version for built-ins (`"2.5"`), the IRIS name for custom ones.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The description of a custom category, if it has one.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The base category a custom category inherits from (`None` for built-ins).
    pub fn base(&self) -> Option<&Arc<Category>> {
        self.base.as_ref()
    }

    /// True for the built-in HL7 versions.
    pub fn is_builtin(&self) -> bool {
        self.builtin
    }

    /// The built-in HL7 version at the root of the base chain (`"2.5"` for `HIE_2.5`), or
    /// `None` when the chain does not end in a built-in.
    pub fn version(&self) -> Option<&str> {
        self.chain().find(|c| c.builtin).map(|c| c.name.as_str())
    }

    /// This category followed by its base chain.
    pub fn chain(&self) -> impl Iterator<Item = &Category> {
        std::iter::successors(Some(self), |c| c.base.as_deref())
    }

    /// Where a possibly prefixed name (`base:PID`, `2.5:PID`, `PID`) starts looking, and the
    /// bare name. `None` when the prefix names no category of the chain.
    pub(crate) fn scope<'n>(&self, name: &'n str) -> Option<(&Category, &'n str)> {
        match name.split_once(':') {
            None => Some((self, name)),
            Some(("base", rest)) => Some((self.base.as_deref()?, rest)),
            Some((prefix, rest)) => Some((self.chain().find(|c| c.name == prefix)?, rest)),
        }
    }

    /// The message structure `name` (`ADT_A01`, `base:ADT_A01`), from this category or its base.
    pub fn structure(&self, name: &str) -> Option<&Arc<MessageStructure>> {
        let (start, bare) = self.scope(name)?;
        start.chain().find_map(|c| c.structures.get(bare))
    }

    /// The category that defines the structure `name` (the first in the chain that has it).
    pub fn structure_owner(&self, name: &str) -> Option<&Category> {
        let (start, bare) = self.scope(name)?;
        start.chain().find(|c| c.structures.contains_key(bare))
    }

    /// The segment definition `name` (`PID`, `ZPI`, `base:PID`), from this category or its base.
    pub fn segment(&self, name: &str) -> Option<&SegmentDef> {
        let (start, bare) = self.scope(name)?;
        start.chain().find_map(|c| c.segments.get(bare))
    }

    /// The data type `name` (`XPN`, `base:CE`, `ZCP`), from this category or its base.
    pub fn data_type(&self, name: &str) -> Option<&DataType> {
        let (start, bare) = self.scope(name)?;
        start.chain().find_map(|c| c.types.get(bare))
    }

    /// The code table `id` (four digits, `"0001"`; `"1"` and `base:0001` are accepted too).
    pub fn table(&self, id: &str) -> Option<&Table> {
        let (start, bare) = self.scope(id)?;
        let found = start.chain().find_map(|c| c.tables.get(bare));
        found.or_else(|| {
            let padded = pad_table_id(bare)?;
            start.chain().find_map(|c| c.tables.get(padded.as_str()))
        })
    }

    /// The structure name the message-type map gives for `key` (`"ADT^A04"`, `"ACK^*"`), from
    /// this category or its base, as written (it may carry a `base:` prefix in custom
    /// categories). Returns the category whose map had the key, too.
    pub fn event_structure(&self, key: &str) -> Option<(&Category, &str)> {
        self.chain().find_map(|c| c.events.get(key).map(|s| (c, s.as_str())))
    }

    /// Names of every structure visible in this category (local and inherited), sorted.
    pub fn structure_names(&self) -> Vec<&str> {
        sorted_names(self.chain().flat_map(|c| c.structures.keys()))
    }

    /// Names of every segment visible in this category (local and inherited), sorted.
    pub fn segment_names(&self) -> Vec<&str> {
        sorted_names(self.chain().flat_map(|c| c.segments.keys()))
    }

    /// Names of every data type visible in this category (local and inherited), sorted.
    pub fn data_type_names(&self) -> Vec<&str> {
        sorted_names(self.chain().flat_map(|c| c.types.keys()))
    }

    /// Every message-type key visible in this category (`ADT^A04`, `ACK^*`), sorted.
    pub fn event_keys(&self) -> Vec<&str> {
        sorted_names(self.chain().flat_map(|c| c.events.keys()))
    }
}

fn sorted_names<'a>(it: impl Iterator<Item = &'a String>) -> Vec<&'a str> {
    let mut v: Vec<&str> = it.map(String::as_str).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// `"1"` → `"0001"`; `None` when `id` is not 1 to 3 digits.
pub(crate) fn pad_table_id(id: &str) -> Option<String> {
    (!id.is_empty() && id.len() < 4 && id.bytes().all(|b| b.is_ascii_digit())).then(|| format!("{id:0>4}"))
}

/// A message structure (`ADT_A01`): a tree of segment and group elements.
#[derive(Debug)]
#[non_exhaustive]
pub struct MessageStructure {
    /// The structure name, e.g. `ADT_A01`.
    pub name: String,
    /// The category that defines it (`2.5`, `HIE_2.5`).
    pub category: String,
    /// Its description, when the source has one.
    pub description: Option<String>,
    /// The top-level elements in order (the first is normally MSH).
    pub items: Vec<Element>,
}

/// One element of a message structure: a segment or a group.
#[derive(Debug)]
pub enum Element {
    /// A segment reference.
    Segment(SegmentElement),
    /// A group (or a choice) of elements.
    Group(GroupElement),
}

impl Element {
    /// The IRIS name of the element: the segment's name (`PID`, `ROLi2`) or the group's
    /// (`PIDgrp`, `OBRunion`).
    pub fn name(&self) -> &str {
        match self {
            Element::Segment(s) => &s.name,
            Element::Group(g) => &g.name,
        }
    }

    /// Minimum occurrences (0 = optional).
    pub fn min(&self) -> u32 {
        match self {
            Element::Segment(s) => s.min,
            Element::Group(g) => g.min,
        }
    }

    /// Maximum occurrences; `None` = unbounded.
    pub fn max(&self) -> Option<u32> {
        match self {
            Element::Segment(s) => s.max,
            Element::Group(g) => g.max,
        }
    }

    /// True when the element may occur more than once.
    pub fn is_repeating(&self) -> bool {
        self.max().is_none_or(|m| m > 1)
    }

    /// True when the element must occur at least once.
    pub fn is_required(&self) -> bool {
        self.min() > 0
    }

    /// The group, if this element is one.
    pub fn as_group(&self) -> Option<&GroupElement> {
        match self {
            Element::Group(g) => Some(g),
            Element::Segment(_) => None,
        }
    }

    /// The segment reference, if this element is one.
    pub fn as_segment(&self) -> Option<&SegmentElement> {
        match self {
            Element::Segment(s) => Some(s),
            Element::Group(_) => None,
        }
    }
}

/// A segment reference inside a message structure.
#[derive(Debug)]
#[non_exhaustive]
pub struct SegmentElement {
    /// The IRIS name of this position: the segment ID, or `ID + "i" + k` for the k-th
    /// sibling with the same ID (`ROLi2`, see docs/hl7-schemas.md).
    pub name: String,
    /// The segment ID (`ROL`). For an "any segment" element this is `Hxx`.
    pub segment: String,
    /// Minimum occurrences (0 or 1).
    pub min: u32,
    /// Maximum occurrences; `None` = unbounded.
    pub max: Option<u32>,
    /// True for HL7's "any segment" (`Hxx`) position, which any one segment may fill.
    pub any: bool,
    /// True when a custom definition wrote the segment as `base:XXX`: its definition comes
    /// from the base category even if the custom category redefines `XXX`.
    pub from_base: bool,
}

/// A group (or choice) inside a message structure.
#[derive(Debug)]
#[non_exhaustive]
pub struct GroupElement {
    /// The IRIS name (`PIDgrpgrp`, `ORCgrp`, `OBRunion`).
    pub name: String,
    /// HL7's name as v2.xml spells it (`ORU_R01.PATIENT_RESULT`), when known.
    pub hl7_name: Option<String>,
    /// Minimum occurrences.
    pub min: u32,
    /// Maximum occurrences; `None` = unbounded.
    pub max: Option<u32>,
    /// True for a choice ("union"): exactly one of the items occurs.
    pub choice: bool,
    /// The elements of the group, never empty.
    pub items: Vec<Element>,
}

/// A segment definition: its fields in order.
#[derive(Debug)]
#[non_exhaustive]
pub struct SegmentDef {
    /// The segment ID (`PID`).
    pub name: String,
    /// The description (`Patient Identification`), when known.
    pub description: Option<String>,
    /// The fields; `fields[0]` is field 1.
    pub fields: Vec<FieldDef>,
}

impl SegmentDef {
    /// Field `n` (1-based).
    pub fn field(&self, n: usize) -> Option<&FieldDef> {
        self.fields.get(n.checked_sub(1)?)
    }

    /// The field called `name` (case-insensitive) and its 1-based number. The first of
    /// duplicate names wins.
    pub fn field_by_name(&self, name: &str) -> Option<(usize, &FieldDef)> {
        self.fields.iter().enumerate().find(|(_, f)| f.name.eq_ignore_ascii_case(name)).map(|(i, f)| (i + 1, f))
    }
}

/// A field definition.
#[derive(Debug)]
#[non_exhaustive]
pub struct FieldDef {
    /// The IRIS property name (`PatientName`): the description without non-alphanumerics.
    pub name: String,
    /// The description (`Patient Name`).
    pub description: String,
    /// The data type name (`XPN`, `varies`, `WD` for withdrawn; may carry `base:`).
    pub data_type: String,
    /// Optionality.
    pub optionality: Optionality,
    /// Maximum repetitions; `Some(1)` does not repeat, `None` = unbounded.
    pub max_repeats: Option<u32>,
    /// Maximum length, when the source gives one.
    pub max_length: Option<u32>,
    /// The code table (four digits, `"0001"`), if any.
    pub table: Option<String>,
}

impl FieldDef {
    /// True when the field may repeat.
    pub fn is_repeating(&self) -> bool {
        self.max_repeats.is_none_or(|m| m > 1)
    }
}

/// A data type: primitive (no components) or composite.
#[derive(Debug)]
#[non_exhaustive]
pub struct DataType {
    /// The type name (`XPN`).
    pub name: String,
    /// The description (`Extended Person Name`), when known.
    pub description: Option<String>,
    /// The components; `components[0]` is component 1. Empty for primitive types.
    pub components: Vec<ComponentDef>,
}

impl DataType {
    /// True when the type has no components.
    pub fn is_primitive(&self) -> bool {
        self.components.is_empty()
    }

    /// Component `n` (1-based).
    pub fn component(&self, n: usize) -> Option<&ComponentDef> {
        self.components.get(n.checked_sub(1)?)
    }

    /// The component called `name` (case-insensitive) and its 1-based number.
    pub fn component_by_name(&self, name: &str) -> Option<(usize, &ComponentDef)> {
        self.components.iter().enumerate().find(|(_, c)| c.name.eq_ignore_ascii_case(name)).map(|(i, c)| (i + 1, c))
    }
}

/// A component (or subcomponent) definition.
#[derive(Debug)]
#[non_exhaustive]
pub struct ComponentDef {
    /// The IRIS name (`FamilyName`, `namespaceID`).
    pub name: String,
    /// The description.
    pub description: String,
    /// The data type name (may carry `base:`).
    pub data_type: String,
    /// Optionality, when the source gives it.
    pub optionality: Option<Optionality>,
    /// Maximum length, when the source gives one.
    pub max_length: Option<u32>,
    /// The code table (four digits), if any.
    pub table: Option<String>,
}

/// A code table.
#[derive(Debug)]
#[non_exhaustive]
pub struct Table {
    /// The table number, four digits (`"0001"`), or the custom name.
    pub id: String,
    /// The description (`Administrative Sex`).
    pub description: Option<String>,
    /// Code → description, sorted by code. A description may be empty.
    pub values: Vec<(String, String)>,
}

impl Table {
    /// The description of `code`, or `None` when the table does not list it.
    pub fn value(&self, code: &str) -> Option<&str> {
        self.values.iter().find(|(c, _)| c == code).map(|(_, d)| d.as_str())
    }

    /// True when the table lists `code`.
    pub fn contains(&self, code: &str) -> bool {
        self.value(code).is_some()
    }
}

/// Strips every character that is not A-Z, a-z or 0-9: IRIS's rule for property names
/// (`"Set ID - PID"` → `"SetIDPID"`).
pub fn property_name(description: &str) -> String {
    description.chars().filter(char::is_ascii_alphanumeric).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn property_name_strips_non_alphanumerics() {
        assert_eq!(property_name("Set ID - PID"), "SetIDPID");
        assert_eq!(property_name("Date/Time of Birth"), "DateTimeofBirth");
    }

    #[test]
    fn optionality_codes_round_trip_and_unknown_is_optional() {
        for c in ["R", "O", "C", "B", "X", "W"] {
            assert_eq!(Optionality::from_code(c).code(), c);
        }
        assert_eq!(Optionality::from_code(""), Optionality::Optional);
        assert_eq!(Optionality::from_code("Q"), Optionality::Optional);
    }

    #[test]
    fn table_ids_are_padded_to_four_digits() {
        assert_eq!(pad_table_id("136").as_deref(), Some("0136"));
        assert_eq!(pad_table_id("0136"), None);
        assert_eq!(pad_table_id("ZZ1"), None);
    }
}
