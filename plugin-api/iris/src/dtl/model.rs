//! The compiled form of a DTL transform (`Ens.DataTransformDTL`, `<transform>`).
//!
//! # Invariants
//!
//! - A [`Transform`] only exists when every action and expression compiled; disabled actions
//!   are dropped at load.
//! - `assign` targets are `target.{path}` (set or remove) or local variables; `clear`,
//!   `append` and `insert` never reach this model (refused for HL7 documents).
//! - Every action keeps its file line and a label (`assign target.{PID:8}`) for errors.

use crate::access::PathCache;
use crate::rules::model::Expression;
use crate::vpath::VPath;

/// `create`: how the target starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Create {
    /// An empty target of targetDocType (default).
    New,
    /// A copy of the source.
    Copy,
    /// The target the caller passes (subtransforms, chained calls).
    Existing,
}

/// Class parameters that change behaviour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Params {
    /// `IGNOREMISSINGSOURCE`: a subtransform whose source is absent is not called.
    pub ignore_missing_source: bool,
    /// `REPORTERRORS`: errors fail the transform (else they are traced and it goes on).
    pub report_errors: bool,
    /// `TREATEMPTYREPEATINGFIELDASNULL`: a foreach over an empty repeating field does not run.
    pub treat_empty_repeating_field_as_null: bool,
    /// `GENERATEEMPTYSEGMENTS` (recorded; wholesale copies of absent segments write nothing).
    pub generate_empty_segments: bool,
}

/// A DTL transform.
#[derive(Debug)]
pub struct Transform {
    /// The class name.
    pub class: String,
    /// `sourceClass` (`EnsLib.HL7.Message`, `EnsLib.HL7.Segment`).
    pub source_class: String,
    /// `targetClass`.
    pub target_class: String,
    /// `sourceDocType` (`2.5:ADT_A01`, `2.5:PID`), if given.
    pub source_doc_type: Option<String>,
    /// `targetDocType`, if given.
    pub target_doc_type: Option<String>,
    /// `create`.
    pub create: Create,
    /// Class parameters.
    pub params: Params,
    /// The actions, in order.
    pub actions: Vec<DtlAction>,
    /// File line of `<transform>`.
    pub line: u32,
    /// Compiled-path cache.
    pub(crate) paths: PathCache,
}

impl Transform {
    /// True when the source is a segment (`EnsLib.HL7.Segment`).
    pub fn source_is_segment(&self) -> bool {
        self.source_class == SEGMENT_CLASS
    }

    /// True when the target is a segment.
    pub fn target_is_segment(&self) -> bool {
        self.target_class == SEGMENT_CLASS
    }

    /// Every subtransform class this transform calls (directly), in order.
    pub fn subtransforms(&self) -> Vec<&str> {
        let mut out = Vec::new();
        walk(&self.actions, &mut |a| {
            if let ActionKind::Subtransform { class, .. } = &a.kind {
                out.push(class.as_str());
            }
        });
        out
    }
}

fn walk<'a>(actions: &'a [DtlAction], f: &mut dyn FnMut(&'a DtlAction)) {
    for a in actions {
        f(a);
        match &a.kind {
            ActionKind::If { then, otherwise, .. } => {
                walk(then, f);
                walk(otherwise, f);
            }
            ActionKind::Foreach { body, .. } | ActionKind::Group(body) => walk(body, f),
            ActionKind::Switch { cases, default } => {
                for (_, body) in cases {
                    walk(body, f);
                }
                walk(default, f);
            }
            _ => {}
        }
    }
}

/// The HL7 message class.
pub const MESSAGE_CLASS: &str = "EnsLib.HL7.Message";
/// The HL7 segment class (segment-level DTLs).
pub const SEGMENT_CLASS: &str = "EnsLib.HL7.Segment";

/// What an `assign` writes.
#[derive(Clone, Debug)]
pub enum AssignTo {
    /// `target.{path}`.
    Target(VPath),
    /// A local variable.
    Local(String),
}

/// `source`/`target` as a whole, or one of their segments, for a subtransform.
#[derive(Clone, Debug)]
pub enum ObjRef {
    /// `source` / `target`.
    Whole,
    /// `source.{PID}` / `target.{PID}`: a segment path.
    Segment(VPath),
}

/// One action.
#[derive(Clone, Debug)]
pub struct DtlAction {
    /// What it does.
    pub kind: ActionKind,
    /// File line.
    pub line: u32,
    /// For errors: `assign target.{PID:8}`, `subtransform HIE.Test.DTL.Sub.PIDNormalise`, ...
    pub label: String,
}

/// The kinds of action.
#[derive(Clone, Debug)]
pub enum ActionKind {
    /// `assign action='set'` (or `remove` when `remove` is true).
    Assign {
        /// Where.
        to: AssignTo,
        /// The value (unused for remove).
        value: Expression,
        /// `action='remove'`.
        remove: bool,
    },
    /// `if` with `true` and `false` branches.
    If {
        /// The condition.
        condition: Expression,
        /// `<true>` actions.
        then: Vec<DtlAction>,
        /// `<false>` actions.
        otherwise: Vec<DtlAction>,
    },
    /// `foreach property key`.
    Foreach {
        /// `source` (true) or `target` (false).
        on_source: bool,
        /// The repeating path (one `()`).
        path: VPath,
        /// The loop key variable.
        key: String,
        /// The body.
        body: Vec<DtlAction>,
    },
    /// `subtransform`.
    Subtransform {
        /// The DTL class.
        class: String,
        /// `sourceObj`.
        source: ObjRef,
        /// `targetObj`.
        target: ObjRef,
        /// `aux` (when given): `aux` passes the caller's aux on.
        aux: Option<Expression>,
    },
    /// `trace value`.
    Trace(Expression),
    /// `switch` / `case` / `default`.
    Switch {
        /// `(condition, actions)` in order; the first true runs.
        cases: Vec<(Expression, Vec<DtlAction>)>,
        /// `default` actions.
        default: Vec<DtlAction>,
    },
    /// `break`: leaves the innermost foreach, or ends the transform outside one.
    Break,
    /// `group`: a plain container.
    Group(Vec<DtlAction>),
}
