//! The production's value paths: the `SearchFields` it indexes and each item's
//! `OrderingKey`, parsed once, with the schemas they are read with.
//!
//! A path takes every form a Trust writes ([`FieldPath`]: `PID-3.1`, `PID:3.1`,
//! `MSH:ReceivingFacility.namespaceID`, `PIDgrpgrp(1).ORCgrp(1).OBXgrp(2).OBX:5`,
//! `HL7.{...}`). A message is read with the DocType IRIS would give it: its session's
//! `MessageSchemaCategory` (the attribute the service set on the first hop) with MSH-9, else
//! the built-in version of MSH-12; custom categories come from the production's
//! `schema/` directory.
//!
//! # Invariants
//! - Built by validation, carried by the plan: a path that does not parse, or a symbolic
//!   name no schema knows, is a validation error, never a silent miss at run time.
//! - Reading is infallible and cheap: a short path needs no schema; any other is compiled
//!   once per structure and kept ([`FieldPath`]).
//! - Depends on hie-hl7 and hie-hl7-schema only: the journal and the engine both use it.

use hie_hl7_schema::{FieldPath, Registry};
use std::collections::HashMap;
use std::sync::Arc;

/// The attribute a service's `MessageSchemaCategory` is recorded under on a session's
/// first hop (and carried by every later hop).
pub const CATEGORY_ATTRIBUTE: &str = "MessageSchemaCategory";

/// The session's schema category, from a header's attributes.
pub fn category_of(attributes: &[(String, String)]) -> Option<&str> {
    attributes.iter().find(|(k, _)| k == CATEGORY_ATTRIBUTE).map(|(_, v)| v.as_str())
}

/// Parses a stored body as items read it: in the charset its service's `DefCharEncoding`
/// chose (the session attribute [`hie_hl7::DEF_CHAR_ENCODING`]), else by MSH-18.
pub fn parse_stored<'a>(
    body: &'a [u8],
    attributes: &[(String, String)],
) -> Result<hie_hl7::Message<'a>, hie_hl7::ParseError> {
    let encoding = attributes
        .iter()
        .find(|(k, _)| k == hie_hl7::DEF_CHAR_ENCODING)
        .and_then(|(_, v)| hie_hl7::DefCharEncoding::parse(v).ok().flatten());
    hie_hl7::parse_as(body, encoding)
}

/// Parsed `SearchFields` and `OrderingKey` paths and the schemas to read them with.
#[derive(Debug, Default)]
pub struct ValuePaths {
    /// Built-in versions plus the production's custom categories (loaded only when a
    /// path needs a schema).
    registry: Arc<Registry>,
    /// `SearchFields`, in the order given; stored under their text.
    search: Vec<FieldPath>,
    /// `OrderingKey` by item name.
    ordering: HashMap<String, FieldPath>,
}

impl ValuePaths {
    /// Paths already parsed, read with `registry`.
    pub fn new(registry: Arc<Registry>, search: Vec<FieldPath>, ordering: HashMap<String, FieldPath>) -> ValuePaths {
        ValuePaths { registry, search, ordering }
    }

    /// The schemas paths are read with.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The `SearchFields` paths.
    pub fn search(&self) -> &[FieldPath] {
        &self.search
    }

    /// The `SearchFields` values of `msg` (session category `category`), as stored for
    /// search: (path text, value), empty values left out.
    pub fn search_values(&self, msg: &hie_hl7::Message<'_>, category: Option<&str>) -> Vec<(String, String)> {
        values_in(&self.search, msg, &self.registry, category)
    }

    /// The `OrderingKey` value of `item` for `body`: `None` when the item has no
    /// `OrderingKey`, an empty key when the body has no value there (or is not HL7).
    pub fn ordering_key(&self, item: &str, body: &[u8], category: Option<&str>) -> Option<String> {
        let path = self.ordering.get(item)?;
        let value =
            hie_hl7::parse(body).ok().and_then(|m| path.value(&m, &self.registry, category).map(|v| v.into_owned()));
        Some(value.unwrap_or_default())
    }
}

/// The values `paths` have in `msg`, as stored for search (empty values left out).
pub fn values_in(
    paths: &[FieldPath],
    msg: &hie_hl7::Message<'_>,
    registry: &Registry,
    category: Option<&str>,
) -> Vec<(String, String)> {
    paths
        .iter()
        .filter_map(|p| {
            let v = p.value(msg, registry, category)?;
            (!v.is_empty()).then(|| (p.text().to_string(), v.into_owned()))
        })
        .collect()
}

/// Checks the names of a symbolic path against `registry`: it must compile against some
/// built-in version or custom category (a Z-segment's fields are only named there; names
/// differ between versions). Paths without names always pass.
pub fn check_names(path: &FieldPath, registry: &Registry) -> Result<(), String> {
    path.check_any(registry).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADT: &[u8] = b"MSH|^~\\&|PAS|H|EPR|WARD|20240101||ADT^A01|9|P|2.4\rPID|1||MRN7^^^H||Doe^Jo\r";

    fn parse_checked(text: &str, registry: &Registry) -> Result<FieldPath, String> {
        let path = FieldPath::parse(text).map_err(|e| e.to_string())?;
        check_names(&path, registry).map(|()| path)
    }

    #[test]
    fn search_values_are_stored_under_the_text_as_written_in_any_path_form() {
        let search = ["PID-3.1", "PID:PatientName.FamilyName", "HL7.{MSH:ReceivingFacility.namespaceID}", "PID-19"]
            .iter()
            .map(|t| parse_checked(t, &Registry::new()).expect("valid path"))
            .collect();
        let paths = ValuePaths::new(Arc::new(Registry::new()), search, HashMap::new());
        let msg = hie_hl7::parse(ADT).expect("parses");
        assert_eq!(
            paths.search_values(&msg, None),
            [
                ("PID-3.1".to_string(), "MRN7".to_string()),
                ("PID:PatientName.FamilyName".to_string(), "Doe".to_string()),
                ("HL7.{MSH:ReceivingFacility.namespaceID}".to_string(), "WARD".to_string()),
            ]
        );
    }

    #[test]
    fn an_ordering_key_is_empty_for_a_body_without_the_value_and_absent_for_an_item_without_a_key() {
        let mut ordering = HashMap::new();
        ordering.insert("Router".to_string(), parse_checked("PID:3.1", &Registry::new()).expect("valid"));
        let paths = ValuePaths::new(Arc::new(Registry::new()), Vec::new(), ordering);
        assert_eq!(paths.ordering_key("Router", ADT, None).as_deref(), Some("MRN7"));
        assert_eq!(paths.ordering_key("Router", b"not hl7", None).as_deref(), Some(""));
        assert_eq!(paths.ordering_key("Other", ADT, None), None);
    }

    #[test]
    fn a_misspelt_symbolic_name_is_refused_with_the_schema_reason() {
        let err = parse_checked("PID:PatientNmae", &Registry::new()).expect_err("unknown field name");
        assert!(err.contains("PatientNmae"), "{err}");
        assert!(parse_checked("PID-3.x", &Registry::new()).is_err());
    }

    #[test]
    fn the_category_attribute_is_found_among_the_session_attributes() {
        let attrs =
            vec![("Peer".to_string(), "1.2.3.4".to_string()), (CATEGORY_ATTRIBUTE.to_string(), "2.5".to_string())];
        assert_eq!(category_of(&attrs), Some("2.5"));
        assert_eq!(category_of(&[]), None);
    }
}
