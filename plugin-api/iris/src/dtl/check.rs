//! Static checks of a loaded DTL against the schemas: every `source.{...}` and
//! `target.{...}` path must resolve against the transform's declared DocTypes.
//!
//! # Invariants
//!
//! - Only declared DocTypes are checked (`sourceDocType`, `targetDocType`; a `copy` target
//!   without `targetDocType` uses the source's); a side without one is not checked, since its
//!   paths can only be resolved against the message that arrives.
//! - A declared DocType that the registry does not know is itself an error.
//! - Paths are compiled exactly as the run compiles them (loop keys stay keys).

use std::sync::Arc;

use hie_hl7_schema::{Category, DocType, Registry};

use crate::access::{Mode, PathCache};
use crate::dtl::model::{ActionKind, AssignTo, Create, DtlAction, ObjRef, Transform};
use crate::error::LoadError;
use crate::expr::{Base, Expr};
use crate::vpath::VPath;

/// What one side's paths compile against.
enum Side {
    Unknown,
    Message(DocType),
    Segment(String, Option<Arc<Category>>),
}

fn side(t: &Transform, reg: &Registry, name: Option<&str>, segment: bool) -> Result<Side, LoadError> {
    let Some(name) = name else { return Ok(Side::Unknown) };
    let bad = |m: String| LoadError::Invalid {
        class: t.class.clone(),
        element: "transform".into(),
        line: t.line,
        message: m,
    };
    if segment {
        let (cat, seg) =
            name.rsplit_once(':').ok_or_else(|| bad(format!("segment DocType {name:?} must be category:segment")))?;
        let category = reg.category(cat).ok_or_else(|| bad(format!("unknown schema category {cat:?} in {name:?}")))?;
        if category.segment(seg).is_none() {
            return Err(bad(format!("category {cat} has no segment {seg}")));
        }
        return Ok(Side::Segment(seg.to_owned(), Some(category)));
    }
    reg.doc_type(name).map(Side::Message).ok_or_else(|| bad(format!("unknown DocType {name:?}")))
}

struct Checker<'a> {
    t: &'a Transform,
    source: Side,
    target: Side,
    cache: PathCache,
}

impl Checker<'_> {
    fn path(&self, a: &DtlAction, on_source: bool, p: &VPath) -> Result<(), LoadError> {
        let side = if on_source { &self.source } else { &self.target };
        let compiled = match side {
            Side::Unknown => return Ok(()),
            Side::Message(d) => self.cache.get(&p.text, Mode::Document, Some(d), None),
            Side::Segment(id, cat) => self.cache.get(&p.text, Mode::Relative(id.clone()), None, cat.as_deref()),
        };
        match compiled.as_ref() {
            Ok(_) => Ok(()),
            Err(m) => Err(LoadError::Expression {
                class: self.t.class.clone(),
                item: a.label.clone(),
                line: a.line,
                message: format!("{}.{{{}}}: {m}", if on_source { "source" } else { "target" }, p.text),
            }),
        }
    }

    fn expr(&self, a: &DtlAction, e: &Expr) -> Result<(), LoadError> {
        let mut result = Ok(());
        e.walk(&mut |x| {
            if let (Ok(()), Expr::Path(p)) = (&result, x) {
                result = self.path(a, p.base == Base::Source, &p.path);
            }
        });
        result
    }

    fn actions(&self, actions: &[DtlAction]) -> Result<(), LoadError> {
        for a in actions {
            match &a.kind {
                ActionKind::Assign { to, value, .. } => {
                    self.expr(a, &value.expr)?;
                    if let AssignTo::Target(p) = to {
                        self.path(a, false, p)?;
                    }
                }
                ActionKind::If { condition, then, otherwise } => {
                    self.expr(a, &condition.expr)?;
                    self.actions(then)?;
                    self.actions(otherwise)?;
                }
                ActionKind::Foreach { on_source, path, body, .. } => {
                    self.path(a, *on_source, path)?;
                    self.actions(body)?;
                }
                ActionKind::Subtransform { source, target, aux, .. } => {
                    for (on_source, o) in [(true, source), (false, target)] {
                        if let ObjRef::Segment(p) = o {
                            self.path(a, on_source, p)?;
                        }
                    }
                    if let Some(x) = aux {
                        self.expr(a, &x.expr)?;
                    }
                }
                ActionKind::Trace(e) => self.expr(a, &e.expr)?,
                ActionKind::Switch { cases, default } => {
                    for (c, body) in cases {
                        self.expr(a, &c.expr)?;
                        self.actions(body)?;
                    }
                    self.actions(default)?;
                }
                ActionKind::Group(body) => self.actions(body)?,
                ActionKind::Break => {}
            }
        }
        Ok(())
    }
}

impl Transform {
    /// Checks every path against the declared DocTypes in `reg` (see the module
    /// documentation). The host calls it after loading, once the schemas are loaded.
    pub fn check(&self, reg: &Registry) -> Result<(), LoadError> {
        let source = side(self, reg, self.source_doc_type.as_deref(), self.source_is_segment())?;
        let target_name = match (&self.target_doc_type, self.create) {
            (Some(t), _) => Some(t.as_str()),
            (None, Create::Copy) => self.source_doc_type.as_deref(),
            (None, _) => None,
        };
        let target = side(self, reg, target_name, self.target_is_segment())?;
        Checker { t: self, source, target, cache: PathCache::default() }.actions(&self.actions)
    }
}
