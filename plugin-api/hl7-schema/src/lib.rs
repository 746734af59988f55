//! HL7 v2 schemas for HIE: the built-in categories 2.1 to 2.8.2, IRIS custom categories,
//! DocType resolution, IRIS virtual property paths, and field metadata.
//!
//! # Pieces
//!
//! - [`Registry`] / [`Category`]: schema categories. Built-ins are embedded JSON
//!   (`data/*.json`, docs/hl7-schemas.md) parsed once per version on first use; custom
//!   categories come from IRIS exports ([`Registry::load_xml`]) and overlay their base.
//! - [`DocType`]: `category:structure` (`2.5:ADT_A01`), from MSH-9 with [`Category::resolve`];
//!   [`doc_name`] gives IRIS's DocName (`ADT_A04`).
//! - [`VirtualPath`]: the syntax of every path form (`PID:5(1).1`, `PID:PatientName.FamilyName`,
//!   `PIDgrpgrp(1).ORCgrp(1).OBXgrp(2).OBX:5`, `OBX(*)`, `PID:3()`, `PID-3.1`, ...).
//! - [`CompiledPath`]: a path compiled against a DocType or category (names → numbers, group
//!   names → element positions, once); evaluation on a [`hie_hl7::Message`] ([`CompiledPath::get`],
//!   [`CompiledPath::count`], [`CompiledPath::resolve`], [`CompiledPath::for_each`]) does not
//!   allocate for values that need no decoding.
//! - [`SegmentMap`]: where each segment of a message sits in its structure; built once per
//!   message and passed to every group-path evaluation.
//! - Metadata ([`Category::item`], [`field_name`], [`symbolic_path`], ...): names, types,
//!   optionality, repetition, lengths and tables by number.
//! - [`convert`]: loss-free HL7 v2 ⇄ JSON and HL7 v2 ⇄ XML (v2.xml style), named by the
//!   schema when one is known (docs/hl7-conversions.md).
//!
//! # Typical use
//!
//! ```
//! use hie_hl7_schema::{CompileOptions, CompiledPath, Keys, Registry, SegmentMap};
//!
//! let msg = hie_hl7::parse(b"MSH|^~\\&|LAB|H|EPR|H|20240101||ORU^R01|1|P|2.5\rPID|1||123||Doe^John\r\
//! OBR|1\rOBX|1|NM|K^Potassium||4.1\rOBX|2|NM|NA^Sodium||140\r").unwrap();
//! let registry = Registry::new();
//! let doc = registry.resolve_message(None, &msg).unwrap();          // 2.5:ORU_R01 (from MSH-12)
//! assert_eq!(doc.to_string(), "2.5:ORU_R01");
//! let map = SegmentMap::build(&msg, doc.structure());               // once per message
//! let opts = CompileOptions::new().doc_type(&doc);
//! let obx5 = CompiledPath::parse("PIDgrpgrp(1).ORCgrp(1).OBXgrp(2).OBX:ObservationValue", &opts).unwrap();
//! assert_eq!(obx5.get(&msg, Some(&map), Keys::NONE).as_deref(), Some("140"));
//! let n = CompiledPath::parse("PIDgrpgrp(1).ORCgrp(1).OBXgrp(*)", &opts).unwrap();
//! assert_eq!(n.count(&msg, Some(&map), Keys::NONE), 2);
//! let name = CompiledPath::parse("PIDgrpgrp(1).PIDgrp.PID:PatientName(1).GivenName", &opts).unwrap();
//! assert_eq!(name.get(&msg, Some(&map), Keys::NONE).as_deref(), Some("John"));
//! ```
//!
//! # Invariants
//!
//! - Nothing here panics on input (messages, paths, schema files); errors are values.
//! - Names (segments, groups, fields, components) match ASCII-case-insensitively.
//! - All schema lookups and allocation for a path happen when it is compiled; see [`eval`]
//!   for what evaluation may allocate.

#![warn(missing_docs)]

pub mod builtin;
pub mod compile;
pub mod conformance;
pub mod convert;
mod custom;
mod definition;
pub mod doctype;
pub mod error;
pub mod eval;
pub mod field_path;
pub mod matcher;
pub mod meta;
pub mod model;
pub mod path;
pub mod registry;
pub mod write;

use std::borrow::Cow;

use hie_hl7::Message;

pub use builtin::{BUILTIN_VERSIONS, LATEST, builtin, builtin_for_version};
pub use compile::{CompileOptions, CompiledPath, SegmentScope};
pub use conformance::Missing;
pub use doctype::{DocType, ResolvedBy, doc_name, message_doc_name};
pub use error::{CompileError, PathSyntaxError, SchemaError};
pub use eval::{Keys, Location, Node};
pub use field_path::FieldPath;
pub use matcher::{Placement, SegmentMap, Step};
pub use meta::{ItemInfo, component_name, field_name, subcomponent_name, symbolic_path};
pub use model::{
    Category, ComponentDef, DataType, Element, FieldDef, GroupElement, MessageStructure, Optionality, SegmentDef,
    SegmentElement, Table, property_name,
};
pub use path::{FieldStep, Index, PathForm, SegmentPart, SegmentStep, StepName, VirtualPath};
pub use registry::Registry;
pub use write::{WriteError, WriteTarget};

/// One-off resolution: compiles `path` for `doc` (IRIS scope), maps the message, and returns
/// every location the path selects. For repeated use, keep a [`CompiledPath`] and a
/// [`SegmentMap`] instead.
pub fn resolve(msg: &Message<'_>, doc: Option<&DocType>, path: &VirtualPath) -> Result<Vec<Location>, CompileError> {
    let (cp, map) = prepare(msg, doc, path)?;
    Ok(cp.resolve(msg, map.as_ref(), Keys::NONE))
}

/// One-off read of the decoded value at `path` (see [`CompiledPath::get`]).
pub fn get<'a>(
    msg: &Message<'a>,
    doc: Option<&DocType>,
    path: &VirtualPath,
) -> Result<Option<Cow<'a, str>>, CompileError> {
    let (cp, map) = prepare(msg, doc, path)?;
    Ok(cp.get(msg, map.as_ref(), Keys::NONE))
}

/// One-off count (see [`CompiledPath::count`]).
pub fn count(msg: &Message<'_>, doc: Option<&DocType>, path: &VirtualPath) -> Result<usize, CompileError> {
    let (cp, map) = prepare(msg, doc, path)?;
    Ok(cp.count(msg, map.as_ref(), Keys::NONE))
}

fn prepare(
    msg: &Message<'_>,
    doc: Option<&DocType>,
    path: &VirtualPath,
) -> Result<(CompiledPath, Option<SegmentMap>), CompileError> {
    let mut opts = CompileOptions::new();
    if let Some(d) = doc {
        opts = opts.doc_type(d);
    }
    let cp = CompiledPath::compile(path, &opts)?;
    let map = match (cp.needs_segment_map(), doc) {
        (true, Some(d)) => Some(SegmentMap::build(msg, d.structure())),
        _ => None,
    };
    Ok((cp, map))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared<T: Send + Sync>() {}

    #[test]
    fn schema_types_can_be_shared_between_threads() {
        shared::<Registry>();
        shared::<Category>();
        shared::<DocType>();
        shared::<CompiledPath>();
        shared::<SegmentMap>();
        shared::<VirtualPath>();
    }

    #[test]
    fn one_off_helpers_compile_map_and_evaluate() {
        let msg =
            hie_hl7::parse(b"MSH|^~\\&|A|B|C|D|20240101||ORU^R01|1|P|2.5\rPID|1||7\rOBR|1\rOBX|1|NM|X||5\r").unwrap();
        let doc = Registry::new().resolve_message(None, &msg).unwrap();
        let p = VirtualPath::parse("PIDgrpgrp(1).ORCgrp(1).OBXgrp(1).OBX:5").unwrap();
        assert_eq!(get(&msg, Some(&doc), &p).unwrap().as_deref(), Some("5"));
        assert_eq!(resolve(&msg, Some(&doc), &p).unwrap().len(), 1);
        assert_eq!(count(&msg, Some(&doc), &VirtualPath::parse("PIDgrpgrp(1).ORCgrp(*)").unwrap()).unwrap(), 1);
        assert!(get(&msg, None, &p).is_err());
    }
}
