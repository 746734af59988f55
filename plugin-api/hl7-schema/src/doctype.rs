//! DocTypes (`2.5:ADT_A01`), their resolution from MSH-9 as IRIS does it, and DocNames.
//!
//! # Invariants
//!
//! - A [`DocType`] always names a structure that exists: it holds the structure and the
//!   category that defines it (for a custom category that inherits the structure, that is the
//!   base: `HIE_2.5` + `ADT^A01` gives `2.5:ADT_A01`, docs/iris-formats.md §5.4).
//! - Resolution order ([`Category::resolve`]): (1) the message-type map of the category and
//!   its base chain, `MSH-9.1^MSH-9.2` (IRIS MessageType `ADT_A04`); (2) the structure named in
//!   MSH-9.3; (3) the structure named `MSH-9.1_MSH-9.2`; (4) the map's `MSH-9.1^*` entry
//!   (`ACK^*`, `ORU^*`, `QRY^*`); (5) a structure named `MSH-9.1` alone (`ACK`). Otherwise no
//!   DocType.
//! - Equality, hashing and `Display` use the names only (`2.5:ADT_A01`).

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use hie_hl7::Message;

use crate::model::{Category, MessageStructure};

/// A message's schema: `category:structure`, e.g. `2.5:ADT_A01`.
#[derive(Clone)]
pub struct DocType {
    category: Arc<Category>,
    structure: Arc<MessageStructure>,
}

/// Which rule of [`Category::resolve`] gave the DocType.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolvedBy {
    /// The message-type map (`ADT^A04` → `ADT_A01`).
    MessageType,
    /// The structure named in MSH-9.3.
    StructureField,
    /// A structure named `TYPE_EVENT` (`ADT_A04`).
    TypeEvent,
    /// The map's `TYPE^*` entry (`ACK^*`).
    AnyEvent,
    /// A structure named like the message code alone (`ACK`).
    TypeOnly,
}

impl DocType {
    /// The DocType for structure `structure` (`ADT_A01`, `base:ADT_A01`) as seen from
    /// `category`: the structure is looked up in the category and then its base chain, and the
    /// DocType's category is the one that defines it. `None` when no such structure exists.
    pub fn new(category: &Arc<Category>, structure: &str) -> Option<DocType> {
        let (start, bare) = arc_scope(category, structure)?;
        arc_chain(start)
            .find_map(|c| c.structures.get(bare).map(|s| DocType { category: Arc::clone(c), structure: Arc::clone(s) }))
    }

    /// The category that defines the structure.
    pub fn category(&self) -> &Arc<Category> {
        &self.category
    }

    /// The message structure.
    pub fn structure(&self) -> &Arc<MessageStructure> {
        &self.structure
    }

    /// The category name (`2.5`, `HIE_2.5`).
    pub fn category_name(&self) -> &str {
        self.category.name()
    }

    /// The structure name (`ADT_A01`).
    pub fn structure_name(&self) -> &str {
        &self.structure.name
    }
}

impl fmt::Display for DocType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.category.name(), self.structure.name)
    }
}

impl fmt::Debug for DocType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocType({self})")
    }
}

impl PartialEq for DocType {
    fn eq(&self, other: &DocType) -> bool {
        self.category.name() == other.category.name() && self.structure.name == other.structure.name
    }
}

impl Eq for DocType {}

impl Hash for DocType {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.category.name().hash(state);
        self.structure.name.hash(state);
    }
}

/// The category followed by its base chain, as `Arc`s.
pub(crate) fn arc_chain(c: &Arc<Category>) -> impl Iterator<Item = &Arc<Category>> {
    std::iter::successors(Some(c), |c| c.base.as_ref())
}

/// [`Category::scope`] at the `Arc` level.
fn arc_scope<'c, 'n>(c: &'c Arc<Category>, name: &'n str) -> Option<(&'c Arc<Category>, &'n str)> {
    match name.split_once(':') {
        None => Some((c, name)),
        Some(("base", rest)) => Some((c.base.as_ref()?, rest)),
        Some((prefix, rest)) => Some((arc_chain(c).find(|x| x.name == prefix)?, rest)),
    }
}

/// The MSH-9 parts: code, event, structure (trimmed; empty parts are `None`).
fn split_msh9(msh9: &str) -> (Option<&str>, Option<&str>, Option<&str>) {
    let mut parts = msh9.split('^').map(str::trim).map(|p| (!p.is_empty()).then_some(p));
    let code = parts.next().flatten();
    let event = parts.next().flatten();
    let structure = parts.next().flatten();
    (code, event, structure)
}

impl Category {
    /// The DocType of a message whose MSH-9 is `msh9` (`ADT^A04`, `ADT^A04^ADT_A01`, `ACK`),
    /// in this category; see the module documentation for the rules. `None` when no rule
    /// gives a structure.
    pub fn resolve(self: &Arc<Self>, msh9: &str) -> Option<DocType> {
        self.resolve_detailed(msh9).map(|(d, _)| d)
    }

    /// [`Category::resolve`], also saying which rule matched.
    pub fn resolve_detailed(self: &Arc<Self>, msh9: &str) -> Option<(DocType, ResolvedBy)> {
        let (code, event, structure) = split_msh9(msh9);
        self.resolve_parts(code?, event, structure)
    }

    /// [`Category::resolve`] for a parsed message (MSH-9.1, MSH-9.2 and MSH-9.3, whatever the
    /// message's component separator).
    pub fn resolve_message(self: &Arc<Self>, msg: &Message<'_>) -> Option<DocType> {
        let code = msg.message_code()?.trim();
        let event = msg.trigger_event().map(str::trim).filter(|e| !e.is_empty());
        let structure = msg.message_structure().map(str::trim).filter(|s| !s.is_empty());
        self.resolve_parts(code, event, structure).map(|(d, _)| d)
    }

    /// Resolution from the MSH-9 parts already split.
    pub fn resolve_parts(
        self: &Arc<Self>,
        code: &str,
        event: Option<&str>,
        structure: Option<&str>,
    ) -> Option<(DocType, ResolvedBy)> {
        if code.is_empty() {
            return None;
        }
        if let Some(found) = self.resolve_exact(code, event, structure) {
            return Some(found);
        }
        if has_lower(code) || event.is_some_and(has_lower) || structure.is_some_and(has_lower) {
            let (c, e, s) =
                (code.to_ascii_uppercase(), event.map(str::to_ascii_uppercase), structure.map(str::to_ascii_uppercase));
            return self.resolve_exact(&c, e.as_deref(), s.as_deref());
        }
        None
    }

    fn resolve_exact(
        self: &Arc<Self>,
        code: &str,
        event: Option<&str>,
        structure: Option<&str>,
    ) -> Option<(DocType, ResolvedBy)> {
        if let Some(ev) = event {
            let key = format!("{code}^{ev}");
            if let Some(d) = self.from_event_map(&key) {
                return Some((d, ResolvedBy::MessageType));
            }
        }
        if let Some(d) = structure.and_then(|s| DocType::new(self, s)) {
            return Some((d, ResolvedBy::StructureField));
        }
        if let Some(d) = event.and_then(|ev| DocType::new(self, &format!("{code}_{ev}"))) {
            return Some((d, ResolvedBy::TypeEvent));
        }
        if let Some(d) = self.from_event_map(&format!("{code}^*")) {
            return Some((d, ResolvedBy::AnyEvent));
        }
        DocType::new(self, code).map(|d| (d, ResolvedBy::TypeOnly))
    }

    /// The structure the message-type map gives for `key`, looked up from the category whose
    /// map had the key.
    fn from_event_map(self: &Arc<Self>, key: &str) -> Option<DocType> {
        let owner = arc_chain(self).find(|c| c.events.contains_key(key))?;
        let structure = owner.events.get(key)?;
        DocType::new(owner, structure)
    }
}

fn has_lower(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_lowercase())
}

/// IRIS's DocName for an MSH-9 value: `MSH-9.1_MSH-9.2` (`ADT^A04^ADT_A01` → `ADT_A04`), or
/// just MSH-9.1 when there is no event. `None` when MSH-9.1 is empty.
pub fn doc_name(msh9: &str) -> Option<String> {
    let (code, event, _) = split_msh9(msh9);
    let code = code?;
    Some(match event {
        Some(e) => format!("{code}_{e}"),
        None => code.to_owned(),
    })
}

/// [`doc_name`] for a parsed message.
pub fn message_doc_name(msg: &Message<'_>) -> Option<String> {
    let code = msg.message_code()?.trim();
    if code.is_empty() {
        return None;
    }
    Some(match msg.trigger_event().map(str::trim).filter(|e| !e.is_empty()) {
        Some(e) => format!("{code}_{e}"),
        None => code.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::builtin;

    fn r(cat: &str, msh9: &str) -> Option<String> {
        builtin(cat).and_then(|c| c.resolve(msh9)).map(|d| d.to_string())
    }

    #[test]
    fn event_map_gives_the_structure() {
        assert_eq!(r("2.5", "ADT^A04").as_deref(), Some("2.5:ADT_A01"));
        assert_eq!(r("2.5", "ADT^A08^ADT_A01").as_deref(), Some("2.5:ADT_A01"));
        assert_eq!(r("2.5", "ORU^R01").as_deref(), Some("2.5:ORU_R01"));
        assert_eq!(r("2.5", " adt ^ a04 ").as_deref(), Some("2.5:ADT_A01"));
    }

    #[test]
    fn fallbacks_use_msh9_3_then_type_event_then_any_event() {
        let c = builtin("2.5").unwrap();
        let (d, by) = c.resolve_detailed("ADT^Z99^ADT_A05").unwrap();
        assert_eq!((d.to_string().as_str(), by), ("2.5:ADT_A05", ResolvedBy::StructureField));
        let (d, by) = c.resolve_detailed("ACK^A01").unwrap();
        assert_eq!((d.to_string().as_str(), by), ("2.5:ACK", ResolvedBy::AnyEvent));
        let (d, by) = c.resolve_detailed("ACK").unwrap();
        assert_eq!((d.to_string().as_str(), by), ("2.5:ACK", ResolvedBy::AnyEvent));
        assert_eq!(r("2.5", "ZZZ^Z01"), None);
        assert_eq!(r("2.5", ""), None);
        assert_eq!(r("2.5", "^A01"), None);
    }

    #[test]
    fn doc_name_is_code_underscore_event() {
        assert_eq!(doc_name("ADT^A04^ADT_A01").as_deref(), Some("ADT_A04"));
        assert_eq!(doc_name("ACK").as_deref(), Some("ACK"));
        assert_eq!(doc_name(""), None);
        let m = hie_hl7::parse(b"MSH|^~\\&|A|B|C|D|20240101||ADT^A08^ADT_A01|1|P|2.5\r").unwrap();
        assert_eq!(message_doc_name(&m).as_deref(), Some("ADT_A08"));
        assert_eq!(builtin("2.5").unwrap().resolve_message(&m).map(|d| d.to_string()).as_deref(), Some("2.5:ADT_A01"));
    }

    #[test]
    fn doc_types_compare_by_name() {
        let c = builtin("2.5").unwrap();
        assert_eq!(c.resolve("ADT^A01"), DocType::new(&c, "ADT_A01"));
        assert_ne!(c.resolve("ADT^A01"), c.resolve("ADT^A03"));
        assert!(DocType::new(&c, "NOPE_X").is_none());
        assert!(DocType::new(&c, "base:ADT_A01").is_none());
    }
}
