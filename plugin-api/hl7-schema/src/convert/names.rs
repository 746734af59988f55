//! What the writers take from the schema: names, data types and shapes by number.
//!
//! # Invariants
//!
//! - Everything here is decoration: it changes names and the shape a value is written in,
//!   never which bytes are written, so a wrong or missing schema cannot lose data.
//! - Lookups follow the DocType's category and its base chain; a segment the structure
//!   takes as `base:XXX` is looked up in the base. Unknown segments, fields, types and
//!   components give empty infos (numbers only, content decides the shape).
//! - OBX-5, whose type is `varies`, takes the data type named in OBX-2 when the schema
//!   knows it (as HL7 v2.xml does).

use hie_hl7::{Message, Segment};

use crate::doctype::DocType;
use crate::matcher::SegmentMap;
use crate::model::{Category, DataType, Element, SegmentDef};

/// A DocType and where each segment of one message sits in its structure.
pub(crate) struct Schema<'d> {
    /// The DocType.
    pub(crate) doc: &'d DocType,
    /// The message's segments mapped onto the structure.
    pub(crate) map: SegmentMap,
}

impl<'d> Schema<'d> {
    /// Maps `msg` onto `doc`'s structure.
    pub(crate) fn new(msg: &Message<'_>, doc: &'d DocType) -> Schema<'d> {
        Schema { doc, map: SegmentMap::build(msg, doc.structure()) }
    }

    /// The schema of segment `index` (0-based) of the message.
    pub(crate) fn segment(&self, index: usize, seg: &Segment<'_>) -> SegInfo<'d> {
        let cat: &'d Category = self.doc.category();
        let name = seg.name();
        let from_base = self.map.element(index).and_then(Element::as_segment).is_some_and(|s| s.from_base);
        let def = if from_base { cat.segment(&format!("base:{name}")) } else { cat.segment(name) };
        let obx2 = match (name, def.and_then(|d| d.field(5))) {
            ("OBX", Some(f)) if f.data_type.eq_ignore_ascii_case("varies") => seg
                .field(2)
                .and_then(|f| f.component(1))
                .and_then(|c| std::str::from_utf8(c.raw()).ok())
                .map(str::trim)
                .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric()))
                .and_then(|t| cat.data_type(t)),
            _ => None,
        };
        SegInfo { cat: Some(cat), def, obx2 }
    }
}

/// The schema of one segment (empty without a schema or for unknown segments).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SegInfo<'c> {
    cat: Option<&'c Category>,
    def: Option<&'c SegmentDef>,
    /// OBX-5's data type from OBX-2.
    obx2: Option<&'c DataType>,
}

impl<'c> SegInfo<'c> {
    /// Field `n` (1-based).
    pub(crate) fn field(&self, n: usize) -> FieldInfo<'c> {
        let (Some(cat), Some(def)) = (self.cat, self.def) else { return FieldInfo::default() };
        let Some(f) = def.field(n) else { return FieldInfo::default() };
        let ty = match self.obx2 {
            Some(t) if n == 5 => Some(t),
            _ => cat.data_type(&f.data_type),
        };
        FieldInfo {
            name: Some(f.name.as_str()).filter(|s| !s.is_empty()),
            repeating: f.is_repeating(),
            part: PartInfo { name: None, ty, cat: Some(cat) },
        }
    }
}

/// The schema of one field.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FieldInfo<'c> {
    /// The IRIS field name (`PatientName`).
    pub(crate) name: Option<&'c str>,
    /// True when the field may repeat (written as an array in JSON).
    pub(crate) repeating: bool,
    /// The field's data type, shared with components.
    pub(crate) part: PartInfo<'c>,
}

/// The schema of a field's type, a component or a subcomponent: its name and data type.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PartInfo<'c> {
    /// The IRIS name (`FamilyName`); `None` for a field's type.
    pub(crate) name: Option<&'c str>,
    /// The data type, when known.
    pub(crate) ty: Option<&'c DataType>,
    cat: Option<&'c Category>,
}

impl<'c> PartInfo<'c> {
    /// True when the data type has components (the value is always written split).
    pub(crate) fn composite(&self) -> bool {
        self.ty.is_some_and(|t| !t.is_primitive())
    }

    /// The data type's name when it can name XML elements (`XPN` for `<XPN.1>`).
    pub(crate) fn type_name(&self) -> Option<&'c str> {
        self.ty.filter(|t| !t.is_primitive()).map(|t| t.name.as_str()).filter(|n| is_xml_name(n))
    }

    /// Component (or subcomponent) `n` of this type.
    pub(crate) fn child(&self, n: usize) -> PartInfo<'c> {
        let (Some(cat), Some(ty)) = (self.cat, self.ty) else { return PartInfo::default() };
        let Some(c) = ty.component(n) else { return PartInfo::default() };
        PartInfo {
            name: Some(c.name.as_str()).filter(|s| !s.is_empty()),
            ty: cat.data_type(&c.data_type),
            cat: Some(cat),
        }
    }
}

/// True for names XML accepts as element names and we can read back: an ASCII letter or
/// `_`, then ASCII letters, digits, `_`, `.` or `-`.
pub(crate) fn is_xml_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    #[test]
    fn names_types_and_obx5_from_obx2() {
        let msg =
            hie_hl7::parse(b"MSH|^~\\&|A|B|C|D|1||ORU^R01|1|P|2.5\rPID|1\rOBR|1\rOBX|1|CE|x||a^b\rZZZ|1\r").unwrap();
        let doc = Registry::new().resolve_message(None, &msg).unwrap();
        let schema = Schema::new(&msg, &doc);
        let pid = schema.segment(1, &msg.segment(1).unwrap()).field(5);
        assert_eq!(pid.name, Some("PatientName"));
        assert!(pid.repeating && pid.part.composite());
        assert_eq!(pid.part.type_name(), Some("XPN"));
        let family = pid.part.child(1);
        assert_eq!(family.name, Some("FamilyName"));
        assert_eq!(family.type_name(), Some("FN"));
        assert_eq!(family.child(1).name, Some("Surname"));
        let obx5 = schema.segment(3, &msg.segment(3).unwrap()).field(5);
        assert_eq!(obx5.part.type_name(), Some("CE"));
        let z = schema.segment(4, &msg.segment(4).unwrap()).field(1);
        assert!(z.name.is_none() && z.part.ty.is_none());
        assert!(SegInfo::default().field(1).part.child(1).name.is_none());
    }

    #[test]
    fn xml_names() {
        assert!(is_xml_name("ORU_R01.PATIENT_RESULT"));
        assert!(is_xml_name("_123"));
        assert!(!is_xml_name("1AB"));
        assert!(!is_xml_name(""));
        assert!(!is_xml_name("A B"));
    }
}
