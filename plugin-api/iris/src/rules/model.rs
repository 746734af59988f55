//! The compiled form of a routing rule definition (`Ens.Rule.Model.*`).
//!
//! # Invariants
//!
//! - A [`RuleDefinition`] only exists after every expression, path, constraint and action
//!   of the file compiled: evaluation never meets an unsupported construct.
//! - Rule numbers (`rule#n`) count the `<rule>` elements of a rule set from 1, disabled ones
//!   included, as IRIS numbers them in the rule log.
//! - `foreach` only appears inside `when`/`otherwise` of a rule, never inside another
//!   `foreach`.

use chrono::NaiveDateTime;

use crate::expr::Expr;
use crate::vpath::VPath;

/// What kind of rule the class is, from `RuleAssistClass` (or, when absent, `context`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleType {
    /// `EnsLib.HL7.MsgRouter.RuleAssist` / `RuleAssistCompatible`: HL7 message routing.
    Hl7Routing,
    /// `EnsLib.MsgRouter.RuleAssist`: general message routing (e.g. `Ens.AlertRequest`).
    GeneralRouting,
    /// `EnsLib.MsgRouter.VDocRuleAssist` (and compatible, and the segmented EDI assist).
    VDocRouting,
    /// `Ens.Rule.GeneralBusinessRuleAssist`: a general business rule (called from BPL).
    General,
    /// Any other assist class, kept as written.
    Other,
}

impl RuleType {
    /// The rule type for a `RuleAssistClass` value, or from the `context` class when the
    /// parameter is missing.
    pub fn from_assist(assist: Option<&str>, context: &str) -> RuleType {
        match assist.unwrap_or("") {
            "EnsLib.HL7.MsgRouter.RuleAssist" | "EnsLib.HL7.MsgRouter.RuleAssistCompatible" => RuleType::Hl7Routing,
            "EnsLib.MsgRouter.RuleAssist" => RuleType::GeneralRouting,
            "EnsLib.MsgRouter.VDocRuleAssist"
            | "EnsLib.MsgRouter.VDocRuleAssistCompatible"
            | "EnsLib.EDI.MsgRouter.SegmentedRuleAssist" => RuleType::VDocRouting,
            "Ens.Rule.GeneralBusinessRuleAssist" => RuleType::General,
            "" => match context {
                "EnsLib.HL7.MsgRouter.RoutingEngine" => RuleType::Hl7Routing,
                "EnsLib.MsgRouter.RoutingEngine" => RuleType::GeneralRouting,
                "EnsLib.MsgRouter.VDocRoutingEngine" | "EnsLib.EDI.MsgRouter.SegmentedRoutingEngine" => {
                    RuleType::VDocRouting
                }
                _ => RuleType::General,
            },
            _ => RuleType::Other,
        }
    }
}

/// A routing rule definition.
#[derive(Debug)]
pub struct RuleDefinition {
    /// The class name (`Pkg.MyRule`).
    pub class: String,
    /// `ruleDefinition/@alias` (usually empty).
    pub alias: String,
    /// `ruleDefinition/@context`.
    pub context: String,
    /// `ruleDefinition/@production` (an editor hint).
    pub production: String,
    /// The `RuleAssistClass` parameter, if set.
    pub rule_assist: Option<String>,
    /// The rule type.
    pub rule_type: RuleType,
    /// The class description.
    pub description: Option<String>,
    /// `<variable>`s, evaluated once per message in order.
    pub variables: Vec<Variable>,
    /// The rule sets, in document order.
    pub rule_sets: Vec<RuleSet>,
    /// Compiled-path cache of the evaluator.
    pub(crate) paths: crate::access::PathCache,
}

impl RuleDefinition {
    /// Every send action, in document order (rule-set actions, clauses, foreach bodies).
    pub fn send_actions(&self) -> Vec<&SendAction> {
        fn walk<'a>(actions: &'a [Action], out: &mut Vec<&'a SendAction>) {
            for a in actions {
                match a {
                    Action::Send(s) => out.push(s),
                    Action::Rule(r) => {
                        for w in &r.whens {
                            walk(&w.actions, out);
                        }
                        if let Some(o) = &r.otherwise {
                            walk(o, out);
                        }
                    }
                    Action::Foreach(f) => {
                        for w in &f.whens {
                            walk(&w.actions, out);
                        }
                        if let Some(o) = &f.otherwise {
                            walk(o, out);
                        }
                    }
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        for set in &self.rule_sets {
            walk(&set.items, &mut out);
        }
        out
    }

    /// Every target item named anywhere (for checking against the production), deduplicated,
    /// in first-use order.
    pub fn targets(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for s in self.send_actions() {
            for t in &s.targets {
                if !out.contains(&t.as_str()) {
                    out.push(t);
                }
            }
        }
        out
    }

    /// Every transform (DTL class) named anywhere, deduplicated, in first-use order.
    pub fn transforms(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for s in self.send_actions() {
            if let Some(t) = &s.transform
                && !out.contains(&t.as_str())
            {
                out.push(t);
            }
        }
        out
    }
}

/// A rule-definition `<variable>`.
#[derive(Clone, Debug)]
pub struct Variable {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: Expression,
}

/// An expression with the text it was compiled from.
#[derive(Clone, Debug)]
pub struct Expression {
    /// As written (XML-decoded).
    pub text: String,
    /// Compiled.
    pub expr: Expr,
}

/// A rule set.
#[derive(Clone, Debug)]
pub struct RuleSet {
    /// Its name (may be empty).
    pub name: String,
    /// `effectiveBegin` (inclusive), `None` = open.
    pub effective_begin: Option<NaiveDateTime>,
    /// `effectiveEnd` (inclusive), `None` = open.
    pub effective_end: Option<NaiveDateTime>,
    /// Rules and actions, in order.
    pub items: Vec<Action>,
    /// File line.
    pub line: u32,
}

impl RuleSet {
    /// True when `now` is within the effective dates (both bounds inclusive).
    pub fn is_effective(&self, now: NaiveDateTime) -> bool {
        self.effective_begin.is_none_or(|b| b <= now) && self.effective_end.is_none_or(|e| now <= e)
    }

    /// The rules of the set (not the bare actions).
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.items.iter().filter_map(|a| match a {
            Action::Rule(r) => Some(r),
            _ => None,
        })
    }
}

/// A constraint field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConstraintField {
    /// `source`: the sending item.
    Source,
    /// `msgClass`: the body class.
    MsgClass,
    /// `docCategory`: the DocType's category.
    DocCategory,
    /// `docName`: the message type name.
    DocName,
    /// `docType`: the whole DocType.
    DocType,
}

/// A rule constraint; an empty value list matches everything.
#[derive(Clone, Debug)]
pub struct Constraint {
    /// The field.
    pub field: ConstraintField,
    /// The values (comma list, trimmed, empties dropped).
    pub values: Vec<String>,
}

/// A rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Its name (may be empty).
    pub name: String,
    /// Its number in the rule set (1-based).
    pub number: usize,
    /// Skipped entirely when true.
    pub disabled: bool,
    /// All must match.
    pub constraints: Vec<Constraint>,
    /// `when` clauses in order (first true wins).
    pub whens: Vec<When>,
    /// `otherwise` actions, when present.
    pub otherwise: Option<Vec<Action>>,
    /// File line.
    pub line: u32,
}

impl Rule {
    /// The name for logs: the name, or `rule#n`.
    pub fn label(&self) -> String {
        if self.name.is_empty() { format!("rule#{}", self.number) } else { self.name.clone() }
    }
}

/// A `when` clause.
#[derive(Clone, Debug)]
pub struct When {
    /// The condition.
    pub condition: Expression,
    /// Its actions.
    pub actions: Vec<Action>,
    /// File line.
    pub line: u32,
}

/// A `send`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendAction {
    /// Target items, in attribute order.
    pub targets: Vec<String>,
    /// The DTL class, `None` for the message itself.
    pub transform: Option<String>,
    /// File line.
    pub line: u32,
}

/// What an `assign` may set in a routing rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssignTarget {
    /// `RuleUserData`: kept for the rest of the evaluation, passed as `aux.RuleUserData`.
    RuleUserData,
    /// `RuleActionUserData`: reset at each `when`/`otherwise`.
    RuleActionUserData,
}

/// A `foreach` over the repetitions of a segment or group.
#[derive(Clone, Debug)]
pub struct Foreach {
    /// `propertypath` as written.
    pub text: String,
    /// The path inside `HL7.{...}` (exactly one `()`).
    pub path: VPath,
    /// `when`s tried per repetition.
    pub whens: Vec<When>,
    /// `otherwise`, when present.
    pub otherwise: Option<Vec<Action>>,
    /// File line.
    pub line: u32,
}

/// An action (or a rule, inside a rule set).
#[derive(Clone, Debug)]
pub enum Action {
    /// A rule (only directly in a rule set).
    Rule(Rule),
    /// `send`.
    Send(SendAction),
    /// `delete`.
    Delete,
    /// `return`.
    Return,
    /// `trace`.
    Trace(Expression),
    /// `debug`.
    Debug(Expression),
    /// `assign`.
    Assign(AssignTarget, Expression),
    /// `foreach`.
    Foreach(Foreach),
}
