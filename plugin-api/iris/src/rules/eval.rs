//! Evaluating a routing rule definition for one message (EnsLib.HL7.MsgRouter.RoutingEngine,
//! EnsLib.MsgRouter.RoutingEngine semantics, `docs/iris-formats.md` §1.4).
//!
//! # Invariants
//!
//! - Exactly one rule set runs: the first in document order whose effective dates (both
//!   inclusive) contain "now"; none in effect means nothing fires.
//! - Every rule whose constraints match and one of whose `when`s is true (else its
//!   `otherwise`) fires, top to bottom, until a `return` (also from inside a `foreach`).
//! - `delete` marks the message discarded and does not stop evaluation by itself; a
//!   discarded message has no sends (the decision's `sends` is emptied).
//! - A condition that fails to evaluate is false; the error is recorded in the decision.

use std::cell::RefCell;
use std::collections::HashMap;

use hie_hl7::Message;
use hie_hl7_schema::{DocType, Keys, Node};

use crate::access::{self, Mode, View};
use crate::env::{Aux, Services};
use crate::error::EvalError;
use crate::expr::{Base, Env, Expr, Form, PathRef, Var, eval, eval_bool};
use crate::rules::model::{Action, AssignTarget, ConstraintField, Foreach, Rule, RuleDefinition, When};

/// The message body a rule sees.
#[derive(Clone, Copy, Debug)]
pub enum Body<'a> {
    /// An HL7 message (`EnsLib.HL7.Message`).
    Hl7(&'a Message<'a>),
    /// An object body (e.g. `Ens.AlertRequest`) as JSON: `Document.X` reads key `X`.
    Object(&'a serde_json::Value),
}

/// Everything one evaluation reads.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// The body.
    pub body: Body<'a>,
    /// The body class (`EnsLib.HL7.Message`, `Ens.AlertRequest`, ...).
    pub msg_class: &'a str,
    /// The message's DocType (from its service's MessageSchemaCategory), if any.
    pub doc_type: Option<&'a DocType>,
    /// The DocName (`ADT_A08`: MSH-9.1 `_` MSH-9.2), empty for non-HL7 bodies.
    pub doc_name: &'a str,
    /// The sending item (the header's SourceConfigName).
    pub source: &'a str,
    /// Lookup tables, files and the clock.
    pub services: Services<'a>,
}

/// The class name of HL7 bodies.
pub const HL7_MESSAGE_CLASS: &str = "EnsLib.HL7.Message";

/// One `send` the router performs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Send {
    /// Target items, in attribute order.
    pub targets: Vec<String>,
    /// The DTL class, `None` for the message itself.
    pub transform: Option<String>,
    /// The rule that sent (its label).
    pub rule: String,
    /// The reason, e.g. `rule#4(Admissions and updates):when#1`.
    pub reason: String,
    /// `RuleActionUserData` when the send ran.
    pub rule_action_user_data: String,
}

/// A rule that fired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fired {
    /// The rule's label (name or `rule#n`).
    pub rule: String,
    /// `rule#n(name):when#m` or `rule#n(name):otherwise`.
    pub reason: String,
}

/// What the rule decided for one message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// The rule set that ran (`None`: no rule set in effect).
    pub rule_set: Option<String>,
    /// The sends, in order (empty when the message was deleted).
    pub sends: Vec<Send>,
    /// A `delete` ran: the message is Discarded.
    pub deleted: bool,
    /// The rule whose `return` ended evaluation.
    pub returned_by: Option<String>,
    /// `trace` texts, in order.
    pub traces: Vec<String>,
    /// `debug` texts (the rule log shows them when RuleLogging has `d`).
    pub debugs: Vec<String>,
    /// `assign`s as `(property, value)`, in order.
    pub assigns: Vec<(String, String)>,
    /// The rules that fired, in order.
    pub fired: Vec<Fired>,
    /// `RuleUserData` at the end of the evaluation.
    pub rule_user_data: String,
    /// Evaluation errors (a failing condition counts as false).
    pub errors: Vec<String>,
}

impl Decision {
    /// The sends as `(target, transform)` pairs, one per target, in order.
    pub fn flat_sends(&self) -> Vec<(String, Option<String>)> {
        self.sends.iter().flat_map(|s| s.targets.iter().map(|t| (t.clone(), s.transform.clone()))).collect()
    }

    /// The `aux` a send's transform gets.
    pub fn aux(&self, send: &Send, business_rule_name: &str) -> Aux {
        Aux {
            business_rule_name: business_rule_name.to_owned(),
            rule_reason: send.reason.clone(),
            rule_user_data: self.rule_user_data.clone(),
            rule_action_user_data: send.rule_action_user_data.clone(),
        }
    }
}

enum Flow {
    Next,
    Return,
}

struct State<'a> {
    def: &'a RuleDefinition,
    input: &'a Input<'a>,
    view: Option<View<'a>>,
    d: Decision,
    action_user_data: String,
    reason: String,
    rule: String,
    locals: HashMap<String, String>,
    segment: Option<(usize, String)>,
    /// Paths that did not compile for this message (they read as "").
    notes: RefCell<Vec<String>>,
}

impl RuleDefinition {
    /// Evaluates the rule definition for one message.
    pub fn evaluate(&self, input: &Input<'_>) -> Decision {
        let view = match input.body {
            Body::Hl7(m) => Some(View::new(m, input.doc_type)),
            Body::Object(_) => None,
        };
        let mut st = State {
            def: self,
            input,
            view,
            d: Decision::default(),
            action_user_data: String::new(),
            reason: String::new(),
            rule: String::new(),
            locals: HashMap::new(),
            segment: None,
            notes: RefCell::new(Vec::new()),
        };
        for v in &self.variables {
            let value = st.value(&v.value.expr);
            st.locals.insert(v.name.clone(), value);
        }
        let now = input.services.now;
        let Some(set) = self.rule_sets.iter().find(|s| s.is_effective(now)) else {
            return st.d;
        };
        st.d.rule_set = Some(set.name.clone());
        for item in &set.items {
            let flow = match item {
                Action::Rule(r) => st.rule(r),
                other => {
                    st.rule = format!("ruleSet {:?}", set.name);
                    st.reason = "ruleSet".into();
                    st.action(other)
                }
            };
            if let Flow::Return = flow {
                break;
            }
        }
        if st.d.deleted {
            st.d.sends.clear();
        }
        let notes = std::mem::take(&mut *st.notes.borrow_mut());
        st.d.errors.extend(notes);
        st.d
    }
}

impl State<'_> {
    fn value(&mut self, e: &Expr) -> String {
        match eval(e, self) {
            Ok(v) => v,
            Err(err) => {
                self.d.errors.push(format!("{}: {err}", self.rule));
                String::new()
            }
        }
    }

    fn condition(&mut self, w: &When) -> bool {
        match eval_bool(&w.condition.expr, self) {
            Ok(b) => b,
            Err(err) => {
                self.d.errors.push(format!("{}: condition {:?}: {err}", self.rule, w.condition.text));
                false
            }
        }
    }

    fn constraints_match(&self, r: &Rule) -> bool {
        let i = self.input;
        let doc = i.doc_type.map(|d| d.to_string()).unwrap_or_default();
        let cat = i.doc_type.map(|d| d.category_name().to_owned()).unwrap_or_default();
        r.constraints.iter().all(|c| {
            if c.values.is_empty() {
                return true;
            }
            let have = match c.field {
                ConstraintField::Source => i.source,
                ConstraintField::MsgClass => i.msg_class,
                ConstraintField::DocCategory => cat.as_str(),
                ConstraintField::DocName => i.doc_name,
                ConstraintField::DocType => doc.as_str(),
            };
            !have.is_empty() && c.values.iter().any(|v| v == have)
        })
    }

    fn rule(&mut self, r: &Rule) -> Flow {
        if r.disabled || !self.constraints_match(r) {
            return Flow::Next;
        }
        self.rule = r.label();
        let head =
            if r.name.is_empty() { format!("rule#{}", r.number) } else { format!("rule#{}({})", r.number, r.name) };
        for (k, w) in r.whens.iter().enumerate() {
            if self.condition(w) {
                return self.clause(format!("{head}:when#{}", k + 1), &w.actions);
            }
        }
        match &r.otherwise {
            Some(actions) => self.clause(format!("{head}:otherwise"), actions),
            None => Flow::Next,
        }
    }

    fn clause(&mut self, reason: String, actions: &[Action]) -> Flow {
        self.d.fired.push(Fired { rule: self.rule.clone(), reason: reason.clone() });
        self.reason = reason;
        self.action_user_data.clear();
        self.actions(actions)
    }

    fn actions(&mut self, actions: &[Action]) -> Flow {
        for a in actions {
            if let Flow::Return = self.action(a) {
                return Flow::Return;
            }
        }
        Flow::Next
    }

    fn action(&mut self, a: &Action) -> Flow {
        match a {
            Action::Rule(r) => return self.rule(r),
            Action::Send(s) => self.d.sends.push(Send {
                targets: s.targets.clone(),
                transform: s.transform.clone(),
                rule: self.rule.clone(),
                reason: self.reason.clone(),
                rule_action_user_data: self.action_user_data.clone(),
            }),
            Action::Delete => self.d.deleted = true,
            Action::Return => {
                self.d.returned_by = Some(self.rule.clone());
                return Flow::Return;
            }
            Action::Trace(e) => {
                let v = self.value(&e.expr);
                self.d.traces.push(v);
            }
            Action::Debug(e) => {
                let v = self.value(&e.expr);
                self.d.debugs.push(v);
            }
            Action::Assign(target, e) => {
                let v = self.value(&e.expr);
                let name = match target {
                    AssignTarget::RuleUserData => {
                        self.d.rule_user_data = v.clone();
                        "RuleUserData"
                    }
                    AssignTarget::RuleActionUserData => {
                        self.action_user_data = v.clone();
                        "RuleActionUserData"
                    }
                };
                self.d.assigns.push((name.to_owned(), v));
            }
            Action::Foreach(f) => return self.foreach(f),
        }
        Flow::Next
    }

    fn foreach(&mut self, f: &Foreach) -> Flow {
        let Some(view) = &self.view else { return Flow::Next };
        let cp = self.def.paths.get(&f.path.text, Mode::Document, view.doc, None);
        let cp = match cp.as_ref() {
            Ok(cp) => cp,
            Err(e) => {
                self.d.errors.push(format!("{}: foreach {}: {e}", self.rule, f.text));
                return Flow::Next;
            }
        };
        let segments: Vec<(usize, String)> = access::nodes(view, cp, Keys::NONE)
            .into_iter()
            .filter_map(|n| match n {
                Node::Segment(i) => Some(i),
                Node::Group { first, .. } => Some(first),
                Node::Value(_) => None,
            })
            .filter_map(|i| Some((i, view.msg.segment(i)?.name().to_owned())))
            .collect();
        let outer_reason = self.reason.clone();
        let saved = self.segment.take();
        let mut flow = Flow::Next;
        for (n, seg) in segments.into_iter().enumerate() {
            self.segment = Some(seg);
            let fired = f.whens.iter().position(|w| self.condition(w));
            let (label, actions) = match fired {
                Some(k) => (format!("when#{}", k + 1), &f.whens[k].actions),
                None => match &f.otherwise {
                    Some(a) => ("otherwise".to_owned(), a),
                    None => continue,
                },
            };
            self.reason = format!("{outer_reason}:foreach({}):{label}", n + 1);
            if let Flow::Return = self.actions(actions) {
                flow = Flow::Return;
                break;
            }
        }
        self.reason = outer_reason;
        self.segment = saved;
        flow
    }

    fn doc_prop(&self, name: &str) -> String {
        match self.input.body {
            Body::Object(json) => {
                let mut v = json;
                for part in name.split('.') {
                    match v.get(part) {
                        Some(x) => v = x,
                        None => return String::new(),
                    }
                }
                match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::Bool(b) => crate::num::bool_str(*b),
                    other => other.to_string(),
                }
            }
            Body::Hl7(_) => match name {
                "DocType" => self.input.doc_type.map(|d| d.to_string()).unwrap_or_default(),
                "DocTypeCategory" => self.input.doc_type.map(|d| d.category_name().to_owned()).unwrap_or_default(),
                "DocTypeName" => self.input.doc_type.map(|d| d.structure_name().to_owned()).unwrap_or_default(),
                "Name" => self.input.doc_name.to_owned(),
                "Source" => self.input.source.to_owned(),
                _ => String::new(),
            },
        }
    }
}

impl Env for State<'_> {
    fn services(&self) -> Services<'_> {
        self.input.services
    }

    fn var(&self, v: &Var) -> Result<String, EvalError> {
        let i = self.input;
        Ok(match v {
            Var::Source => i.source.to_owned(),
            Var::MsgClass => i.msg_class.to_owned(),
            Var::DocType => i.doc_type.map(|d| d.to_string()).unwrap_or_default(),
            Var::DocName => i.doc_name.to_owned(),
            Var::RuleUserData => self.d.rule_user_data.clone(),
            Var::RuleActionUserData => self.action_user_data.clone(),
            Var::RuleReason => self.reason.clone(),
            Var::BusinessRuleName => self.def.class.clone(),
            Var::Local(n) => self.locals.get(n).cloned().unwrap_or_default(),
            Var::DocProp(p) => self.doc_prop(p),
            Var::Aux(_) => String::new(),
        })
    }

    fn path(&self, p: &PathRef) -> Result<String, EvalError> {
        let Some(view) = &self.view else { return Ok(String::new()) };
        let paths = &self.def.paths;
        let text = &p.path.text;
        let err = |e: &String| {
            self.notes.borrow_mut().push(format!("{}: path {text}: {e}", self.rule));
        };
        match (p.base, p.form) {
            (Base::Segment, _) => {
                let Some((index, id)) = &self.segment else { return Ok(String::new()) };
                let cp = paths.get(text, Mode::Relative(id.clone()), view.doc, view.category());
                match cp.as_ref() {
                    Ok(cp) => Ok(access::value_in(view, *index, cp, Keys::NONE)),
                    Err(e) => {
                        err(e);
                        Ok(String::new())
                    }
                }
            }
            (_, Form::Curly) => {
                let cp = paths.get(text, Mode::Document, view.doc, None);
                match cp.as_ref() {
                    Ok(cp) => Ok(access::value(view, cp, Keys::NONE)),
                    Err(e) => {
                        err(e);
                        Ok(String::new())
                    }
                }
            }
            (_, form) => {
                let mode = if form == Form::Square { Mode::Square } else { Mode::Document };
                let cp = paths.get(text, mode, view.doc, None);
                let cp = match cp.as_ref() {
                    Ok(cp) => cp,
                    Err(e) => {
                        err(e);
                        return Ok(String::new());
                    }
                };
                let values: Vec<String> =
                    access::nodes(view, cp, Keys::NONE).into_iter().map(|n| access::node_text(view.msg, n)).collect();
                if form == Form::Paren && values.is_empty() {
                    return Ok(String::new());
                }
                Ok(access::angle_list(&values))
            }
        }
    }
}
