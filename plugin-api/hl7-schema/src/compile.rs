//! Compiling a [`VirtualPath`] against a schema into a [`CompiledPath`]: names become numbers
//! and group steps become element positions, once.
//!
//! # Invariants
//!
//! - All schema lookups and all allocation happen here. A `CompiledPath` holds only numbers
//!   (field, component, subcomponent, element positions), segment IDs as `[u8; 3]`, key-variable
//!   names and the structure it was compiled against; evaluating it ([`crate::eval`]) never
//!   allocates unless the result itself must be built (a decoded escape, a count as text).
//! - Segment and group names, and field/component names, match ASCII-case-insensitively. A
//!   duplicate sibling `ROLi2` is also reachable as `ROL2`. A choice level may be skipped
//!   (`OBRuniongrp.OBR` = `OBRuniongrp.OBRunion.OBR`).
//! - With a DocType and [`SegmentScope::Structure`] (the default, IRIS's behaviour) every
//!   document path goes through the structure: `OBX(1):5` on `2.5:ORU_R01` is refused because
//!   OBX is not at the top level. An unknown final step whose name starts with `Z` is accepted
//!   and addresses a Z-segment that the matcher found outside the structure at that level.
//! - Without a DocType (or with [`SegmentScope::Message`]) a single segment step means the
//!   n-th segment of that name in the message; group steps need a DocType. Symbolic names come
//!   from the DocType's category, else [`CompileOptions::category`], else the newest built-in
//!   version ([`crate::builtin::LATEST`]).
//! - Short paths (`PID-3.1`, `OBX(2)-5`) always mean the n-th segment of that name in the
//!   message, exactly as [`hie_hl7::Message::get`] reads them.

use std::sync::Arc;

use crate::builtin::{BUILTIN_VERSIONS, LATEST, builtin};
use crate::doctype::DocType;
use crate::error::CompileError;
use crate::model::{Category, Element, MessageStructure};
use crate::path::{FieldStep, Index, PathForm, SegmentPart, SegmentStep, StepName, VirtualPath};

/// How a single-step segment path (`PID:5`, `OBX(2):5`) is resolved when a DocType is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SegmentScope {
    /// IRIS: the step is an element at the top level of the structure; a segment inside a
    /// group must be addressed through its groups.
    #[default]
    Structure,
    /// HIE: the n-th segment of that name anywhere in the message (what HIE paths have always
    /// meant). Group paths still go through the structure.
    Message,
}

/// What a path is compiled against. Build with [`CompileOptions::new`] and the setters.
#[derive(Debug, Clone, Copy, Default)]
pub struct CompileOptions<'a> {
    /// The message's DocType: needed for group paths, and the source of symbolic names.
    pub doc_type: Option<&'a DocType>,
    /// The category for symbolic names when there is no DocType.
    pub category: Option<&'a Category>,
    /// The segment ID for segment-relative paths (`OBX` for `Segment.{AbnormalFlags}`).
    pub segment: Option<&'a str>,
    /// How single segment steps resolve when a DocType is known.
    pub scope: SegmentScope,
}

impl<'a> CompileOptions<'a> {
    /// No DocType, no category, IRIS scope.
    pub fn new() -> CompileOptions<'a> {
        CompileOptions::default()
    }

    /// Compiles against this DocType.
    pub fn doc_type(mut self, doc_type: &'a DocType) -> Self {
        self.doc_type = Some(doc_type);
        self
    }

    /// Takes symbolic names from this category when there is no DocType.
    pub fn category(mut self, category: &'a Category) -> Self {
        self.category = Some(category);
        self
    }

    /// The segment ID a relative path applies to.
    pub fn segment(mut self, segment: &'a str) -> Self {
        self.segment = Some(segment);
        self
    }

    /// Sets the segment scope.
    pub fn scope(mut self, scope: SegmentScope) -> Self {
        self.scope = scope;
        self
    }
}

/// An index after compilation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Idx {
    /// The n-th (1-based); no index is `Num(1)`.
    Num(usize),
    /// A key variable bound at evaluation.
    Key(Box<str>),
    /// Every occurrence.
    All,
    /// The count (only on the last step).
    Count,
}

impl Idx {
    fn from_index(i: &Index) -> Idx {
        match i {
            Index::None => Idx::Num(1),
            Index::Number(n) => Idx::Num(*n),
            Index::Key(k) => Idx::Key(k.as_str().into()),
            Index::All => Idx::All,
            Index::Count => Idx::Count,
        }
    }
}

/// Which segment(s) a compiled path selects.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// The segments called `name` anywhere in the message.
    ByName { name: [u8; 3], index: Idx },
    /// The segment at this 0-based position.
    ByNumber(usize),
    /// Through the structure: element positions from the top.
    Tree { steps: Box<[TreeStep]>, ends_in_group: bool, unexpected: Option<[u8; 3]> },
    /// A segment given at evaluation (relative paths).
    Relative,
}

/// One compiled structure step: child element position and index.
#[derive(Debug, Clone)]
pub(crate) struct TreeStep {
    pub(crate) element: u16,
    pub(crate) index: Idx,
}

/// The compiled field part.
#[derive(Debug, Clone)]
pub(crate) struct FieldSel {
    pub(crate) field: usize,
    /// `None`: the whole field (all repetitions).
    pub(crate) rep: Option<Idx>,
    pub(crate) comp: Option<usize>,
    pub(crate) sub: Option<usize>,
}

/// A path compiled against a schema: evaluate it on many messages without further lookups.
///
/// Compile once per (DocType or category, path) and cache it; evaluation is in
/// [`crate::eval`] (`get`, `get_raw`, `count`, `resolve`, `for_each`, and the `*_in` variants
/// for segment-relative paths).
#[derive(Debug, Clone)]
pub struct CompiledPath {
    pub(crate) text: Box<str>,
    pub(crate) target: Target,
    pub(crate) field: Option<FieldSel>,
    pub(crate) count: bool,
    pub(crate) multi: bool,
    pub(crate) segment_id: Option<[u8; 3]>,
    pub(crate) structure: Option<Arc<MessageStructure>>,
}

impl CompiledPath {
    /// Compiles `path` (see the module documentation for the rules).
    pub fn compile(path: &VirtualPath, opts: &CompileOptions<'_>) -> Result<CompiledPath, CompileError> {
        Compiler { path, opts }.run()
    }

    /// Parses `text` as a document path and compiles it.
    pub fn parse(text: &str, opts: &CompileOptions<'_>) -> Result<CompiledPath, CompileError> {
        CompiledPath::compile(&VirtualPath::parse(text)?, opts)
    }

    /// Parses `text` as a segment-relative path and compiles it (`opts.segment` names the
    /// segment type when the path uses names).
    pub fn parse_relative(text: &str, opts: &CompileOptions<'_>) -> Result<CompiledPath, CompileError> {
        CompiledPath::compile(&VirtualPath::parse_relative(text)?, opts)
    }

    /// The square-bracket form `[SEG:field]` (every segment called SEG, regardless of the
    /// structure): `text` is what is inside the brackets, e.g. `OBX:3.1`.
    pub fn square_bracket(text: &str, opts: &CompileOptions<'_>) -> Result<CompiledPath, CompileError> {
        let mut cp = CompiledPath::parse(text, &opts.scope(SegmentScope::Message))?;
        if let Target::ByName { index, .. } = &mut cp.target
            && *index == Idx::Num(1)
        {
            *index = Idx::All;
            cp.multi = true;
        }
        Ok(cp)
    }

    /// The path text it was compiled from.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// True when evaluation needs a [`crate::SegmentMap`] (the path goes through the structure).
    pub fn needs_segment_map(&self) -> bool {
        matches!(self.target, Target::Tree { .. })
    }

    /// The structure a structure path was compiled against (maps must be built for it).
    pub fn structure(&self) -> Option<&Arc<MessageStructure>> {
        self.structure.as_ref()
    }

    /// The segment ID the path ends on when known (`OBX` for `...OBXgrp().OBX:5`); use it to
    /// compile `Segment.{...}` paths inside a foreach over this path.
    pub fn segment_id(&self) -> Option<&str> {
        self.segment_id.as_ref().and_then(|s| std::str::from_utf8(s).ok())
    }

    /// True when the path ends in `(*)`.
    pub fn is_count(&self) -> bool {
        self.count
    }

    /// True when the path has `()` (it may select several nodes).
    pub fn is_multi(&self) -> bool {
        self.multi
    }

    /// True when the path ends on a group (`...OBXgrp()`), not a segment or value.
    pub fn is_group(&self) -> bool {
        matches!(self.target, Target::Tree { ends_in_group: true, .. })
    }

    /// True when the path has no field part (a whole segment or group).
    pub fn is_whole_segment(&self) -> bool {
        self.field.is_none()
    }

    /// True for segment-relative paths (evaluate them with the `*_in` methods).
    pub fn is_relative(&self) -> bool {
        matches!(self.target, Target::Relative)
    }

    /// The field, component and subcomponent numbers the path resolved to (`None` parts absent).
    pub fn field_numbers(&self) -> Option<(usize, Option<usize>, Option<usize>)> {
        self.field.as_ref().map(|f| (f.field, f.comp, f.sub))
    }
}

struct Compiler<'p, 'o> {
    path: &'p VirtualPath,
    opts: &'p CompileOptions<'o>,
}

impl Compiler<'_, '_> {
    fn text(&self) -> String {
        self.path.text().to_owned()
    }

    fn run(mut self) -> Result<CompiledPath, CompileError> {
        let mut cp = CompiledPath {
            text: self.path.text().into(),
            target: Target::Relative,
            field: None,
            count: self.path.is_count(),
            multi: self.path.is_multi(),
            segment_id: None,
            structure: None,
        };
        match self.path.form() {
            PathForm::Short(p) => {
                cp.target = Target::ByName { name: p.segment_bytes(), index: Idx::Num(p.occurrence()) };
                cp.segment_id = Some(p.segment_bytes());
                let rep = match (p.repetition(), p.component()) {
                    (Some(r), _) => Some(Idx::Num(r)),
                    (None, Some(_)) => Some(Idx::Num(1)),
                    (None, None) => None,
                };
                cp.field = Some(FieldSel { field: p.field(), rep, comp: p.component(), sub: p.subcomponent() });
            }
            PathForm::Relative { fields } => {
                cp.segment_id = self.opts.segment.and_then(segment_bytes);
                cp.field = Some(self.fields(fields, cp.segment_id, false)?);
            }
            PathForm::Document { segment: SegmentPart::Number(n), fields } => {
                cp.target = Target::ByNumber(n - 1);
                if !fields.is_empty() {
                    if self.path.is_symbolic() {
                        return Err(CompileError::NeedsSegmentType { path: self.text() });
                    }
                    cp.field = Some(self.fields(fields, None, false)?);
                }
            }
            PathForm::Document { segment: SegmentPart::Steps(steps), fields } => {
                self.document(&mut cp, steps, fields)?;
            }
        }
        Ok(cp)
    }

    fn document(
        &mut self,
        cp: &mut CompiledPath,
        steps: &[SegmentStep],
        fields: &[FieldStep],
    ) -> Result<(), CompileError> {
        let doc = self.opts.doc_type;
        let is_segment_id = steps.first().is_some_and(|s| segment_bytes(&s.name).is_some());
        let through_tree = match doc {
            Some(_) => steps.len() > 1 || self.opts.scope == SegmentScope::Structure || !is_segment_id,
            None => false,
        };
        let (Some(doc), true) = (doc, through_tree) else {
            if steps.len() > 1 {
                let step = steps.first().map(|s| s.name.clone()).unwrap_or_default();
                return Err(CompileError::NeedsDocType { path: self.text(), step });
            }
            let Some(step) = steps.first() else {
                return Err(CompileError::NeedsSegmentType { path: self.text() });
            };
            let name = segment_bytes(&step.name).ok_or_else(|| CompileError::UnknownElement {
                path: self.text(),
                name: step.name.clone(),
                parent: "the message".into(),
                available: "3-character segment IDs".into(),
            })?;
            cp.target = Target::ByName { name, index: Idx::from_index(&step.index) };
            cp.segment_id = Some(name);
            if !fields.is_empty() {
                cp.field = Some(self.fields(fields, Some(name), false)?);
            }
            return Ok(());
        };
        let structure = doc.structure();
        let mut items: &[Element] = &structure.items;
        let mut parent = doc.to_string();
        let mut out: Vec<TreeStep> = Vec::with_capacity(steps.len());
        let mut last: Option<&Element> = None;
        let mut unexpected = None;
        for (i, step) in steps.iter().enumerate() {
            let is_last = i + 1 == steps.len();
            if let Some(Element::Segment(s)) = last {
                return Err(CompileError::UnknownElement {
                    path: self.text(),
                    name: step.name.clone(),
                    parent: format!("segment {}", s.name),
                    available: "nothing (a segment has no elements)".into(),
                });
            }
            match find_child(items, &step.name) {
                Some(found) => {
                    let n = found.len();
                    for (k, (pos, el)) in found.into_iter().enumerate() {
                        let index = if k + 1 == n { Idx::from_index(&step.index) } else { Idx::Num(1) };
                        out.push(TreeStep { element: pos, index });
                        last = Some(el);
                    }
                }
                None if is_last && is_z_segment(&step.name) => {
                    unexpected = segment_bytes(&step.name);
                    out.push(TreeStep { element: u16::MAX, index: Idx::from_index(&step.index) });
                    last = None;
                }
                None => return Err(self.unknown_element(step, items, &parent, steps.len() == 1, doc)),
            }
            if let Some(Element::Group(g)) = last {
                items = &g.items;
                parent = g.name.clone();
            }
        }
        let ends_in_group = matches!(last, Some(Element::Group(_)));
        if ends_in_group && !fields.is_empty() {
            return Err(CompileError::GroupHasNoFields {
                path: self.text(),
                name: last.map(|e| e.name().to_owned()).unwrap_or_default(),
            });
        }
        let (seg_id, from_base) = match (last, unexpected) {
            (Some(Element::Segment(s)), _) => (segment_bytes(&s.segment), s.from_base),
            (_, Some(z)) => (Some(z), false),
            _ => (None, false),
        };
        cp.segment_id = seg_id;
        cp.structure = Some(Arc::clone(structure));
        cp.target = Target::Tree { steps: out.into_boxed_slice(), ends_in_group, unexpected };
        if !fields.is_empty() {
            cp.field = Some(self.fields(fields, seg_id, from_base)?);
        }
        Ok(())
    }

    fn unknown_element(
        &self,
        step: &SegmentStep,
        items: &[Element],
        parent: &str,
        single: bool,
        doc: &DocType,
    ) -> CompileError {
        if single && let Some(hint) = hint_path(&doc.structure().items, &step.name) {
            return CompileError::NotTopLevel {
                path: self.text(),
                segment: step.name.clone(),
                doc_type: doc.to_string(),
                hint,
            };
        }
        let available = items.iter().map(Element::name).collect::<Vec<_>>().join(", ");
        CompileError::UnknownElement {
            path: self.text(),
            name: step.name.clone(),
            parent: parent.to_owned(),
            available,
        }
    }

    fn fields(
        &mut self,
        steps: &[FieldStep],
        segment: Option<[u8; 3]>,
        from_base: bool,
    ) -> Result<FieldSel, CompileError> {
        let numbers: Vec<usize> = if self.path.is_symbolic() {
            self.resolve_names(steps, segment, from_base)?
        } else {
            steps.iter().map(|s| if let StepName::Number(n) = s.name { n } else { 0 }).collect()
        };
        let field = numbers.first().copied().unwrap_or(1);
        let comp = numbers.get(1).copied();
        let sub = numbers.get(2).copied();
        let rep = match steps.first().map(|s| &s.index) {
            None | Some(Index::None) => comp.map(|_| Idx::Num(1)),
            Some(i) => Some(Idx::from_index(i)),
        };
        Ok(FieldSel { field, rep, comp, sub })
    }

    /// Resolves the names in the DocType's category, else the given category, else the
    /// newest built-in version that knows them all (newest first, so [`LATEST`] wins).
    fn resolve_names(
        &mut self,
        steps: &[FieldStep],
        segment: Option<[u8; 3]>,
        from_base: bool,
    ) -> Result<Vec<usize>, CompileError> {
        let path = self.text();
        let Some(seg) = segment.and_then(|s| String::from_utf8(s.to_vec()).ok()) else {
            return Err(CompileError::NeedsSegmentType { path });
        };
        if let Some(d) = self.opts.doc_type {
            return names_in(d.category(), &path, &seg, steps, from_base);
        }
        if let Some(c) = self.opts.category {
            return names_in(c, &path, &seg, steps, from_base);
        }
        let mut first_err = None;
        for v in BUILTIN_VERSIONS.iter().rev() {
            let Some(cat) = builtin(v) else { continue };
            match names_in(&cat, &path, &seg, steps, from_base) {
                Ok(n) => return Ok(n),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        Err(first_err.unwrap_or(CompileError::UnknownSegment { path, segment: seg, category: LATEST.into() }))
    }
}

/// Field, component and subcomponent numbers of `steps` (all names) in `cat`.
fn names_in(
    cat: &Category,
    path: &str,
    seg: &str,
    steps: &[FieldStep],
    from_base: bool,
) -> Result<Vec<usize>, CompileError> {
    let path = path.to_owned();
    let seg = seg.to_owned();
    let lookup = if from_base { format!("base:{seg}") } else { seg.clone() };
    let def = cat.segment(&lookup).or_else(|| cat.segment(&seg)).ok_or_else(|| CompileError::UnknownSegment {
        path: path.clone(),
        segment: seg.clone(),
        category: cat.name().to_owned(),
    })?;
    let mut out = Vec::with_capacity(steps.len());
    let mut ty: Option<&str> = None;
    for (i, step) in steps.iter().enumerate() {
        let StepName::Name(name) = &step.name else { continue };
        if i == 0 {
            let (n, f) = def.field_by_name(name).ok_or_else(|| CompileError::UnknownField {
                path: path.clone(),
                segment: seg.clone(),
                category: cat.name().to_owned(),
                name: name.clone(),
            })?;
            out.push(n);
            ty = Some(&f.data_type);
            continue;
        }
        let type_name = ty.unwrap_or("");
        let unknown = || CompileError::UnknownComponent {
            path: path.clone(),
            data_type: type_name.to_owned(),
            category: cat.name().to_owned(),
            name: name.clone(),
        };
        let dt = cat.data_type(type_name).ok_or_else(unknown)?;
        let (n, c) = dt.component_by_name(name).ok_or_else(unknown)?;
        out.push(n);
        ty = Some(&c.data_type);
    }
    Ok(out)
}

/// `"pid"` → `*b"PID"`; `None` unless 3 ASCII letters/digits.
pub(crate) fn segment_bytes(name: &str) -> Option<[u8; 3]> {
    match name.as_bytes() {
        [a, b, c] if name.bytes().all(|x| x.is_ascii_alphanumeric()) => {
            Some([a.to_ascii_uppercase(), b.to_ascii_uppercase(), c.to_ascii_uppercase()])
        }
        _ => None,
    }
}

fn is_z_segment(name: &str) -> bool {
    segment_bytes(name).is_some_and(|b| b[0] == b'Z')
}

/// The child called `name` (case-insensitive; `ROL2` for `ROLi2`), as one step, or as two
/// steps when it sits inside a choice child that the path skipped.
fn find_child<'s>(items: &'s [Element], name: &str) -> Option<Vec<(u16, &'s Element)>> {
    let direct = |items: &'s [Element]| {
        let exact = items.iter().position(|e| e.name().eq_ignore_ascii_case(name));
        exact.or_else(|| items.iter().position(|e| is_dup_alias(e.name(), name)))
    };
    if let Some(i) = direct(items) {
        return Some(vec![(u16::try_from(i).ok()?, &items[i])]);
    }
    items.iter().enumerate().find_map(|(i, e)| {
        let g = e.as_group().filter(|g| g.choice)?;
        let j = direct(&g.items)?;
        Some(vec![(u16::try_from(i).ok()?, e), (u16::try_from(j).ok()?, &g.items[j])])
    })
}

/// True when `asked` is `element` without the `i` of a duplicate-sibling name (`ROL2` for `ROLi2`).
fn is_dup_alias(element: &str, asked: &str) -> bool {
    let Some(pos) = element.rfind('i') else { return false };
    let (base, rest) = (&element[..pos], &element[pos + 1..]);
    !rest.is_empty()
        && rest.bytes().all(|b| b.is_ascii_digit())
        && asked.len() == base.len() + rest.len()
        && asked[..base.len()].eq_ignore_ascii_case(base)
        && &asked[base.len()..] == rest
}

/// A group path that reaches the first element called `name` (for error hints).
fn hint_path(items: &[Element], name: &str) -> Option<String> {
    for e in items {
        let step = if e.is_repeating() { format!("{}(1)", e.name()) } else { e.name().to_owned() };
        match e {
            Element::Segment(s) if s.name.eq_ignore_ascii_case(name) || s.segment.eq_ignore_ascii_case(name) => {
                return Some(e.name().to_owned());
            }
            Element::Group(g) => {
                if let Some(rest) = hint_path(&g.items, name) {
                    return Some(format!("{step}.{rest}"));
                }
            }
            Element::Segment(_) => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_sibling_alias_drops_the_i() {
        assert!(is_dup_alias("ROLi2", "ROL2"));
        assert!(is_dup_alias("TQ1grpi2", "tq1grp2"));
        assert!(!is_dup_alias("ROLi2", "ROL3"));
        assert!(!is_dup_alias("ROL", "RO"));
        assert!(!is_dup_alias("PIDgrp", "PDgrp"));
    }

    #[test]
    fn segment_ids_are_three_alphanumerics_upper_cased() {
        assert_eq!(segment_bytes("pid"), Some(*b"PID"));
        assert_eq!(segment_bytes("PIDgrp"), None);
        assert!(is_z_segment("ZPI"));
        assert!(!is_z_segment("PID"));
    }
}
