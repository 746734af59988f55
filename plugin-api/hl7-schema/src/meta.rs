//! Field, component and subcomponent metadata by number: names, data types, optionality,
//! repetition, length and table, for validation, console hover text and conversions.
//!
//! # Invariants
//!
//! - Lookups go through the category's base chain (a custom category sees its base's
//!   segments and types) and never allocate.
//! - Numbers are 1-based; MSH-1 is the field separator (as in [`hie_hl7::Path`]).
//! - A component's or subcomponent's metadata comes from the data type of the level above;
//!   `None` when that type is primitive or unknown (`varies`).

use crate::model::{Category, ComponentDef, DataType, FieldDef, Optionality};

/// Metadata of one field, component or subcomponent, borrowed from the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemInfo<'c> {
    /// The IRIS property name (`PatientName`, `FamilyName`).
    pub name: &'c str,
    /// The description (`Patient Name`).
    pub description: &'c str,
    /// The data type name (`XPN`).
    pub data_type: &'c str,
    /// Optionality, when known (always known for fields).
    pub optionality: Option<Optionality>,
    /// Maximum repetitions for a field (`Some(1)`: does not repeat; `None`: unbounded).
    /// Always `Some(1)` for components and subcomponents.
    pub max_repeats: Option<u32>,
    /// Maximum length, when known.
    pub max_length: Option<u32>,
    /// The code table, when the item has one.
    pub table: Option<&'c str>,
}

impl<'c> ItemInfo<'c> {
    fn from_field(f: &'c FieldDef) -> ItemInfo<'c> {
        ItemInfo {
            name: &f.name,
            description: &f.description,
            data_type: strip_scope(&f.data_type),
            optionality: Some(f.optionality),
            max_repeats: f.max_repeats,
            max_length: f.max_length,
            table: f.table.as_deref(),
        }
    }

    fn from_component(c: &'c ComponentDef) -> ItemInfo<'c> {
        ItemInfo {
            name: &c.name,
            description: &c.description,
            data_type: strip_scope(&c.data_type),
            optionality: c.optionality,
            max_repeats: Some(1),
            max_length: c.max_length,
            table: c.table.as_deref(),
        }
    }
}

fn strip_scope(name: &str) -> &str {
    name.rsplit_once(':').map_or(name, |(_, n)| n)
}

impl Category {
    /// Field `n` of segment `segment`.
    pub fn field(&self, segment: &str, n: usize) -> Option<&FieldDef> {
        self.segment(segment)?.field(n)
    }

    /// The data type of field `n` of `segment`.
    pub fn field_type(&self, segment: &str, n: usize) -> Option<&DataType> {
        let f = self.field(segment, n)?;
        self.data_type(&f.data_type)
    }

    /// Component `c` of field `n` of `segment` (from the field's data type).
    pub fn component(&self, segment: &str, n: usize, c: usize) -> Option<&ComponentDef> {
        self.field_type(segment, n)?.component(c)
    }

    /// Subcomponent `s` of component `c` of field `n` of `segment`.
    pub fn subcomponent(&self, segment: &str, n: usize, c: usize, s: usize) -> Option<&ComponentDef> {
        let comp = self.component(segment, n, c)?;
        self.data_type(&comp.data_type)?.component(s)
    }

    /// Metadata of a field (`component: None`), component or subcomponent.
    pub fn item(
        &self,
        segment: &str,
        field: usize,
        component: Option<usize>,
        subcomponent: Option<usize>,
    ) -> Option<ItemInfo<'_>> {
        match (component, subcomponent) {
            (None, _) => self.field(segment, field).map(ItemInfo::from_field),
            (Some(c), None) => self.component(segment, field, c).map(ItemInfo::from_component),
            (Some(c), Some(s)) => self.subcomponent(segment, field, c, s).map(ItemInfo::from_component),
        }
    }

    /// The number of the field called `name` (case-insensitive) in `segment`.
    pub fn field_number(&self, segment: &str, name: &str) -> Option<usize> {
        self.segment(segment)?.field_by_name(name).map(|(n, _)| n)
    }
}

/// The IRIS name of field `n` of `segment` in `category` (`PID`, 5 → `PatientName`).
pub fn field_name<'c>(category: &'c Category, segment: &str, n: usize) -> Option<&'c str> {
    category.field(segment, n).map(|f| f.name.as_str())
}

/// The IRIS name of component `c` of field `n` of `segment` (`PID`, 5, 1 → `FamilyName`).
pub fn component_name<'c>(category: &'c Category, segment: &str, n: usize, c: usize) -> Option<&'c str> {
    category.component(segment, n, c).map(|x| x.name.as_str())
}

/// The IRIS name of subcomponent `s` of component `c` of field `n` of `segment`.
pub fn subcomponent_name<'c>(category: &'c Category, segment: &str, n: usize, c: usize, s: usize) -> Option<&'c str> {
    category.subcomponent(segment, n, c, s).map(|x| x.name.as_str())
}

/// The IRIS symbolic path of a place, e.g. (`PID`, 5, Some(1), Some(1)) →
/// `PID:PatientName(1).FamilyName.Surname`: for hover text and for showing numeric paths by
/// name. Levels the schema does not name are left out (the result stops at the deepest
/// named level); `None` when the segment or field is unknown.
pub fn symbolic_path(
    category: &Category,
    segment: &str,
    field: usize,
    repetition: Option<usize>,
    component: Option<usize>,
    subcomponent: Option<usize>,
) -> Option<String> {
    let f = category.field(segment, field)?;
    let mut out = format!("{segment}:{}", f.name);
    if let Some(r) = repetition {
        out.push_str(&format!("({r})"));
    }
    if let Some(c) = component {
        let Some(cd) = category.component(segment, field, c) else { return Some(out) };
        out.push('.');
        out.push_str(&cd.name);
        if let Some(sd) = subcomponent.and_then(|s| category.subcomponent(segment, field, c, s)) {
            out.push('.');
            out.push_str(&sd.name);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::builtin;

    #[test]
    fn field_component_and_subcomponent_metadata_by_number() {
        let c = builtin("2.5").unwrap();
        assert_eq!(field_name(&c, "PID", 5), Some("PatientName"));
        assert_eq!(component_name(&c, "PID", 5, 1), Some("FamilyName"));
        assert_eq!(subcomponent_name(&c, "PID", 5, 1, 1), Some("Surname"));
        assert_eq!(field_name(&c, "MSH", 1), Some("FieldSeparator"));
        let i = c.item("PID", 8, None, None).unwrap();
        assert_eq!((i.name, i.data_type, i.table, i.max_repeats), ("AdministrativeSex", "IS", Some("0001"), Some(1)));
        let i = c.item("PID", 3, None, None).unwrap();
        assert_eq!((i.optionality, i.max_repeats), (Some(Optionality::Required), None));
        let i = c.item("MSH", 3, Some(1), None).unwrap();
        assert_eq!((i.name, i.data_type, i.max_length), ("NamespaceID", "IS", Some(20)));
        assert_eq!(c.field_number("PV1", "patientclass"), Some(2));
        assert!(c.item("PID", 99, None, None).is_none());
        assert!(c.item("OBX", 5, Some(1), None).is_none(), "varies has no components");
    }

    #[test]
    fn symbolic_path_names_every_known_level() {
        let c = builtin("2.5").unwrap();
        assert_eq!(
            symbolic_path(&c, "PID", 5, Some(1), Some(1), Some(1)).as_deref(),
            Some("PID:PatientName(1).FamilyName.Surname")
        );
        assert_eq!(symbolic_path(&c, "OBX", 5, None, Some(1), None).as_deref(), Some("OBX:ObservationValue"));
        assert_eq!(symbolic_path(&c, "ZZZ", 1, None, None, None), None);
    }
}
