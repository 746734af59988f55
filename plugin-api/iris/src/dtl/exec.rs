//! Running a DTL over HL7 v2: source in, target out, actions in document order.
//!
//! # Invariants
//!
//! - `create='copy'` starts from the source bytes, `new` from an MSH with the default
//!   delimiters `|^~\&`, `existing` from the target the caller passes.
//! - Expressions read `source.{...}` from the unchanged source and `target.{...}` from the
//!   target as it is at that moment.
//! - With `REPORTERRORS=1` the first failing action ends the run with a [`DtlError`] naming
//!   it; with 0 the error is recorded in [`DtlOutput::errors`] and the run goes on.
//! - Subtransforms nest at most [`MAX_DEPTH`] deep.

use std::collections::HashMap;
use std::sync::Arc;

use hie_hl7::{Delimiters, MessageBuf};
use hie_hl7_schema::{DocType, Registry};

use crate::dtl::doc::{Doc, RawKind, Val};
use crate::dtl::model::{ActionKind, AssignTo, Create, DtlAction, ObjRef, Transform};
use crate::env::{Aux, Services};
use crate::error::EvalError;
use crate::expr::{Base, Env, Expr, Form, PathRef, Var, eval, eval_bool};
use crate::num::num;
use crate::vpath::{Index, VPath};

/// Deepest subtransform nesting.
pub const MAX_DEPTH: usize = 16;

/// Finds DTL classes by name (for subtransforms).
pub trait TransformProvider: Send + Sync {
    /// The transform class `name`, if loaded.
    fn transform(&self, name: &str) -> Option<Arc<Transform>>;
}

/// A provider with no transforms.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoTransforms;

impl TransformProvider for NoTransforms {
    fn transform(&self, _name: &str) -> Option<Arc<Transform>> {
        None
    }
}

impl TransformProvider for HashMap<String, Arc<Transform>> {
    fn transform(&self, name: &str) -> Option<Arc<Transform>> {
        self.get(name).cloned()
    }
}

/// What a run reads.
#[derive(Clone, Copy)]
pub struct DtlInput<'a> {
    /// The source message.
    pub source: &'a [u8],
    /// The source's DocType when the transform declares no `sourceDocType`.
    pub doc_type: Option<&'a DocType>,
    /// The target for `create='existing'`.
    pub target: Option<&'a [u8]>,
    /// `aux` from the rule that sent (None outside a rule).
    pub aux: Option<&'a Aux>,
    /// Lookup tables, files and the clock.
    pub services: Services<'a>,
    /// Schema categories (DocTypes, symbolic names).
    pub schemas: &'a Registry,
    /// Other DTLs, for subtransforms.
    pub transforms: &'a dyn TransformProvider,
}

/// A run's result.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DtlOutput {
    /// The target message bytes.
    pub bytes: Vec<u8>,
    /// `trace` texts, in order (subtransforms' included).
    pub traces: Vec<String>,
    /// Errors of failed actions when `REPORTERRORS` is 0.
    pub errors: Vec<String>,
}

/// A failed run: which transform and action, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{class}, line {line}: {action}: {error}")]
pub struct DtlError {
    /// The DTL class.
    pub class: String,
    /// The action (`assign target.{PID:8}`, `transform` for setup).
    pub action: String,
    /// File line of the action.
    pub line: u32,
    /// What went wrong.
    pub error: EvalError,
}

enum Flow {
    Next,
    Break,
}

struct Exec<'r> {
    t: &'r Transform,
    input: &'r DtlInput<'r>,
    depth: usize,
    source: &'r Doc,
    target: Doc,
    aux: Option<Aux>,
    locals: HashMap<String, String>,
    /// The iteration of an assign's `()` shortcut.
    all_index: Option<usize>,
    out: DtlOutput,
}

impl Transform {
    /// Runs the transform on a source message.
    pub fn run(&self, input: &DtlInput<'_>) -> Result<DtlOutput, DtlError> {
        let setup = |error: EvalError| DtlError {
            class: self.class.clone(),
            action: "transform".into(),
            line: self.line,
            error,
        };
        let buf = MessageBuf::parse(input.source)
            .map_err(|e| setup(EvalError::Other(format!("the source does not parse: {e}"))))?;
        let source_doc = match &self.source_doc_type {
            Some(name) if !self.source_is_segment() => Some(resolve_doc_type(input.schemas, name).map_err(setup)?),
            _ => input.doc_type.cloned(),
        };
        let source = if self.source_is_segment() {
            let content = buf.segment_raw(buf.segment_count().saturating_sub(1)).unwrap_or_default().to_vec();
            Doc::segment(buf.delimiters(), &content, self.segment_category(input.schemas, true)).map_err(setup)?
        } else {
            Doc::message(buf, source_doc)
        };
        let target = match (self.create, input.target) {
            (Create::Existing, Some(t)) => Some(t),
            (Create::Existing, None) => {
                return Err(setup(EvalError::Other("create='existing' needs a target message".into())));
            }
            _ => None,
        };
        let target = match target {
            Some(bytes) => {
                let buf = MessageBuf::parse(bytes)
                    .map_err(|e| setup(EvalError::Other(format!("the target does not parse: {e}"))))?;
                Some(self.target_doc_from(input.schemas, buf, &source).map_err(setup)?)
            }
            None => None,
        };
        let (doc, traces, errors) = self.run_docs(input, 0, &source, target, input.aux.cloned())?;
        Ok(DtlOutput { bytes: doc.bytes(), traces, errors })
    }

    fn segment_category(&self, schemas: &Registry, source: bool) -> Option<Arc<hie_hl7_schema::Category>> {
        let dt = if source { &self.source_doc_type } else { &self.target_doc_type };
        let cat = dt.as_deref().and_then(|d| d.rsplit_once(':').map(|(c, _)| c)).unwrap_or("");
        if cat.is_empty() { None } else { schemas.category(cat) }
    }

    fn target_doc_from(&self, schemas: &Registry, buf: MessageBuf, source: &Doc) -> Result<Doc, EvalError> {
        if self.target_is_segment() {
            let content = buf.segment_raw(buf.segment_count().saturating_sub(1)).unwrap_or_default().to_vec();
            return Doc::segment(buf.delimiters(), &content, self.segment_category(schemas, false));
        }
        let doc = match &self.target_doc_type {
            Some(name) => Some(resolve_doc_type(schemas, name)?),
            None => source.doc.clone(),
        };
        Ok(Doc::message(buf, doc))
    }

    /// Runs over prepared documents; returns the target, traces and recorded errors.
    fn run_docs(
        &self,
        input: &DtlInput<'_>,
        depth: usize,
        source: &Doc,
        target: Option<Doc>,
        aux: Option<Aux>,
    ) -> Result<(Doc, Vec<String>, Vec<String>), DtlError> {
        let setup = |error: EvalError| DtlError {
            class: self.class.clone(),
            action: "transform".into(),
            line: self.line,
            error,
        };
        let target = match (self.create, target) {
            (Create::Existing, Some(t)) => t,
            (Create::Existing, None) => return Err(setup(EvalError::Other("create='existing' needs a target".into()))),
            (Create::Copy, _) => {
                let mut t = self.target_doc_from(input.schemas, source.buf.clone(), source).map_err(setup)?;
                if self.target_is_segment() != source.seg.is_some() {
                    return Err(setup(EvalError::Other("create='copy' between a segment and a message".into())));
                }
                if t.seg.is_some() {
                    t.seg = source.seg.clone();
                }
                t
            }
            (Create::New, _) => {
                if self.target_is_segment() {
                    let id = self.target_doc_type.as_deref().and_then(|d| d.rsplit_once(':')).map_or("ZZZ", |(_, s)| s);
                    Doc::segment(source.buf.delimiters(), id.as_bytes(), self.segment_category(input.schemas, false))
                        .map_err(setup)?
                } else {
                    let buf = MessageBuf::with_delimiters(Delimiters::default());
                    self.target_doc_from(input.schemas, buf, source).map_err(setup)?
                }
            }
        };
        let mut ex = Exec {
            t: self,
            input,
            depth,
            source,
            target,
            aux,
            locals: HashMap::new(),
            all_index: None,
            out: DtlOutput::default(),
        };
        ex.actions(&self.actions)?;
        Ok((ex.target, ex.out.traces, ex.out.errors))
    }
}

fn resolve_doc_type(schemas: &Registry, name: &str) -> Result<DocType, EvalError> {
    schemas.doc_type(name).ok_or_else(|| EvalError::Other(format!("unknown DocType {name:?}")))
}

impl Exec<'_> {
    fn fail(&mut self, a: &DtlAction, error: EvalError) -> Result<(), DtlError> {
        if self.t.params.report_errors {
            return Err(DtlError { class: self.t.class.clone(), action: a.label.clone(), line: a.line, error });
        }
        self.out.errors.push(format!("{}, line {}: {}: {error}", self.t.class, a.line, a.label));
        Ok(())
    }

    fn actions(&mut self, actions: &[DtlAction]) -> Result<Flow, DtlError> {
        for a in actions {
            if let Flow::Break = self.action(a)? {
                return Ok(Flow::Break);
            }
        }
        Ok(Flow::Next)
    }

    /// Runs one action; its own evaluation errors go through [`Exec::fail`], errors of nested
    /// actions were handled where they happened.
    fn action(&mut self, a: &DtlAction) -> Result<Flow, DtlError> {
        let result: Result<Flow, EvalError> = match &a.kind {
            ActionKind::If { condition, then, otherwise } => match eval_bool(&condition.expr, self) {
                Ok(b) => return self.actions(if b { then } else { otherwise }),
                Err(e) => Err(e),
            },
            ActionKind::Switch { cases, default } => {
                let mut chosen: Result<&[DtlAction], EvalError> = Ok(default);
                for (c, body) in cases {
                    match eval_bool(&c.expr, self) {
                        Ok(true) => {
                            chosen = Ok(body);
                            break;
                        }
                        Ok(false) => {}
                        Err(e) => {
                            chosen = Err(e);
                            break;
                        }
                    }
                }
                match chosen {
                    Ok(body) => return self.actions(body),
                    Err(e) => Err(e),
                }
            }
            ActionKind::Group(body) => return self.actions(body),
            ActionKind::Foreach { on_source, path, key, body } => {
                return match self.iterations(*on_source, path) {
                    Ok(n) => {
                        for k in 1..=n {
                            self.locals.insert(key.clone(), k.to_string());
                            if let Flow::Break = self.actions(body)? {
                                break;
                            }
                        }
                        Ok(Flow::Next)
                    }
                    Err(e) => self.fail(a, e).map(|()| Flow::Next),
                };
            }
            ActionKind::Break => Ok(Flow::Break),
            ActionKind::Assign { to, value, remove } => self.assign(to, &value.expr, *remove).map(|()| Flow::Next),
            ActionKind::Subtransform { class, source, target, aux } => {
                self.subtransform(class, source, target, aux.as_ref()).map(|()| Flow::Next)
            }
            ActionKind::Trace(e) => eval(&e.expr, self).map(|v| {
                self.out.traces.push(v);
                Flow::Next
            }),
        };
        match result {
            Ok(f) => Ok(f),
            Err(e) => self.fail(a, e).map(|()| Flow::Next),
        }
    }

    /// `path` with loop keys (and an assign shortcut's `()`) replaced by numbers.
    fn concrete(&self, path: &VPath) -> Result<VPath, EvalError> {
        for v in path.variables() {
            if !self.locals.contains_key(v) {
                return Err(EvalError::Other(format!("<UNDEFINED> variable {v}")));
            }
        }
        let mut p = path
            .substitute(|v| usize::try_from(num(self.locals.get(v).map_or("", String::as_str)).to_i64()).unwrap_or(0));
        if let Some(k) = self.all_index {
            p = p.with_all_as(k);
        }
        p.text = p.render();
        Ok(p)
    }

    fn doc(&self, base: Base) -> &Doc {
        if base == Base::Target { &self.target } else { self.source }
    }

    /// The value to write for `expr`: a node copied raw when the expression is one path.
    fn write_value(&self, expr: &Expr) -> Result<Option<Val>, EvalError> {
        if let Expr::Path(PathRef { base: base @ (Base::Source | Base::Target), form: Form::Curly, path }) = expr
            && !path.is_count()
        {
            let p = self.concrete(path)?;
            return Ok(match self.doc(*base).read_raw(&self.t.paths, &p)? {
                Some((bytes, kind)) => Some(Val::Raw(bytes, kind)),
                None if path.field.is_empty() && !self.t.params.generate_empty_segments => None,
                None => Some(Val::Text(String::new())),
            });
        }
        Ok(Some(Val::Text(eval(expr, self)?)))
    }

    fn assign(&mut self, to: &AssignTo, value: &Expr, remove: bool) -> Result<(), EvalError> {
        let path = match to {
            AssignTo::Local(name) => {
                let v = eval(value, self)?;
                self.locals.insert(name.clone(), v);
                return Ok(());
            }
            AssignTo::Target(p) => p,
        };
        if !path.has_all() {
            return self.assign_one(path, value, remove);
        }
        // The () shortcut: one assign per repetition of the source.
        let mut counted = None;
        value.walk(&mut |e| {
            if let Expr::Path(p) = e
                && p.base == Base::Source
                && p.path.has_all()
                && counted.is_none()
            {
                counted = Some(p.path.clone());
            }
        });
        let count_path = counted.unwrap_or_else(|| path.clone());
        let mut n = self.source.count(&self.t.paths, &self.concrete(&count_path)?)?;
        if n == 1 && self.t.params.treat_empty_repeating_field_as_null {
            let first = self.concrete(&count_path.with_all_as(1))?;
            if self.source.read(&self.t.paths, &first)?.is_empty() {
                n = 0;
            }
        }
        for k in 1..=n {
            self.all_index = Some(k);
            let r = self.assign_one(path, value, remove);
            self.all_index = None;
            r?;
        }
        Ok(())
    }

    fn assign_one(&mut self, path: &VPath, value: &Expr, remove: bool) -> Result<(), EvalError> {
        let p = self.concrete(path)?;
        if remove {
            return self.target.remove(&self.t.paths, &p);
        }
        let Some(val) = self.write_value(value)? else { return Ok(()) };
        let cache = &self.t.paths;
        self.target.set(cache, &p, &val)
    }

    /// How many times a foreach runs.
    fn iterations(&self, on_source: bool, path: &VPath) -> Result<usize, EvalError> {
        let all = self.concrete(path)?;
        let doc = if on_source { self.source } else { &self.target };
        let n = doc.count(&self.t.paths, &all)?;
        let field_level = path.field.first().is_some_and(|s| s.index == Index::All);
        if n == 1 && field_level && self.t.params.treat_empty_repeating_field_as_null {
            let first = self.concrete(&path.with_all_as(1))?;
            if doc.read(&self.t.paths, &first)?.is_empty() {
                return Ok(0);
            }
        }
        Ok(n)
    }

    fn subtransform(
        &mut self,
        class: &str,
        source: &ObjRef,
        target: &ObjRef,
        aux: Option<&crate::rules::model::Expression>,
    ) -> Result<(), EvalError> {
        let sub_err = |m: String| EvalError::Subtransform { class: class.to_owned(), message: m };
        if self.depth + 1 >= MAX_DEPTH {
            return Err(sub_err(format!("subtransforms nest deeper than {MAX_DEPTH}")));
        }
        let sub =
            self.input.transforms.transform(class).ok_or_else(|| sub_err("no such DTL class is loaded".into()))?;
        let schemas = self.input.schemas;
        let sub_source = match source {
            ObjRef::Whole => self.source.clone(),
            ObjRef::Segment(p) => {
                let p = self.concrete(p)?;
                match self.source.read_raw(&self.t.paths, &p)? {
                    Some((bytes, RawKind::Segment)) => {
                        Doc::segment(self.source.buf.delimiters(), &bytes, sub.segment_category(schemas, true))?
                    }
                    Some(_) => return Err(sub_err(format!("sourceObj {} is not one segment", p.text))),
                    None if self.t.params.ignore_missing_source => return Ok(()),
                    None => return Err(sub_err(format!("sourceObj {} is absent", p.text))),
                }
            }
        };
        if sub.source_is_segment() != sub_source.seg.is_some() {
            return Err(sub_err("sourceObj does not match the subtransform's sourceClass".into()));
        }
        let sub_target = match (sub.create, target) {
            (Create::Existing, ObjRef::Whole) => Some(self.target.clone()),
            (Create::Existing, ObjRef::Segment(p)) => {
                let p = self.concrete(p)?;
                let content = match self.target.read_raw(&self.t.paths, &p)? {
                    Some((bytes, RawKind::Segment)) => bytes,
                    _ => match p.segment.last().map(|s| &s.name) {
                        Some(crate::vpath::StepName::Name(n)) => n.to_ascii_uppercase().into_bytes(),
                        _ => return Err(sub_err(format!("targetObj {} is not a segment", p.text))),
                    },
                };
                Some(Doc::segment(self.target.buf.delimiters(), &content, sub.segment_category(schemas, false))?)
            }
            _ => None,
        };
        let sub_aux = match aux.map(|a| &a.expr) {
            None | Some(Expr::Var(Var::Aux(_))) => self.aux.clone(),
            Some(_) => None,
        };
        let (result, traces, errors) = sub
            .run_docs(self.input, self.depth + 1, &sub_source, sub_target, sub_aux)
            .map_err(|e| sub_err(e.to_string()))?;
        self.out.traces.extend(traces);
        self.out.errors.extend(errors);
        match target {
            ObjRef::Whole => {
                if result.seg.is_some() {
                    return Err(sub_err("a segment subtransform cannot replace the whole target".into()));
                }
                self.target = result;
            }
            ObjRef::Segment(p) => {
                let p = self.concrete(p)?;
                let content = if result.seg.is_some() {
                    result.segment_content()
                } else {
                    return Err(sub_err("a message subtransform cannot fill one segment".into()));
                };
                let cache = &self.t.paths;
                self.target.set(cache, &p, &Val::Raw(content, RawKind::Segment))?;
            }
        }
        Ok(())
    }
}

impl Env for Exec<'_> {
    fn services(&self) -> Services<'_> {
        self.input.services
    }

    fn var(&self, v: &Var) -> Result<String, EvalError> {
        Ok(match v {
            Var::Local(n) => {
                return self
                    .locals
                    .get(n)
                    .cloned()
                    .ok_or_else(|| EvalError::Other(format!("<UNDEFINED> variable {n}")));
            }
            Var::Aux(p) => self.aux.as_ref().and_then(|a| a.get(p)).unwrap_or("").to_owned(),
            Var::DocProp(p) => {
                let d = self.source.doc.as_ref();
                match p.as_str() {
                    "DocType" => d.map(|d| d.to_string()).unwrap_or_default(),
                    "DocTypeCategory" => d.map(|d| d.category_name().to_owned()).unwrap_or_default(),
                    "DocTypeName" => d.map(|d| d.structure_name().to_owned()).unwrap_or_default(),
                    "Name" => {
                        let bytes = self.source.bytes();
                        hie_hl7::parse(&bytes)
                            .ok()
                            .and_then(|m| hie_hl7_schema::message_doc_name(&m))
                            .unwrap_or_default()
                    }
                    _ => String::new(),
                }
            }
            _ => String::new(),
        })
    }

    fn path(&self, p: &PathRef) -> Result<String, EvalError> {
        let concrete = self.concrete(&p.path)?;
        self.doc(p.base).read(&self.t.paths, &concrete)
    }

    fn has_aux(&self) -> bool {
        self.aux.is_some()
    }
}
