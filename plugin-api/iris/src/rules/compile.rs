//! Compiling a `<ruleDefinition>` element tree into a [`RuleDefinition`].
//!
//! # Invariants
//!
//! - Every element is known or the load fails: `delegate` is `UnsupportedRuleAction`, a
//!   `foreach` inside a `foreach` is `NestedForeach`, anything unknown is `Invalid`; a
//!   silently ignored action would change routing.
//! - Every error names the class, the rule (`rule#n` when unnamed) and the file line.
//! - `comment` elements and `comment` attributes are ignored.

use chrono::{NaiveDate, NaiveDateTime};

use crate::container::Definition;
use crate::error::LoadError;
use crate::lex::ExprError;
use crate::rules::expr::{Scope, parse};
use crate::rules::model::{
    Action, AssignTarget, Constraint, ConstraintField, Expression, Foreach, Rule, RuleDefinition, RuleSet, RuleType,
    SendAction, Variable, When,
};
use crate::vpath::VPath;
use crate::xml::Node;

struct Ctx<'a> {
    class: &'a str,
    variables: Vec<String>,
}

/// Where in the file we are, for errors.
#[derive(Clone)]
struct At {
    rule: String,
}

impl Ctx<'_> {
    fn invalid(&self, n: &Node, message: impl Into<String>) -> LoadError {
        LoadError::Invalid {
            class: self.class.to_owned(),
            element: n.name.clone(),
            line: n.line,
            message: message.into(),
        }
    }

    fn expr(&self, at: &At, n: &Node, text: &str, in_foreach: bool) -> Result<Expression, LoadError> {
        let scope = Scope { in_foreach, variables: &self.variables };
        let item = format!("rule {:?}", at.rule);
        let class = self.class.to_owned();
        let line = n.line;
        match parse(text, scope) {
            Ok(expr) => Ok(Expression { text: text.to_owned(), expr }),
            Err(ExprError::Unsupported(construct)) => {
                Err(LoadError::UnsupportedExpression { class, item, construct, line })
            }
            Err(ExprError::UnknownFunction(name)) => Err(LoadError::UnknownFunction { class, item, name, line }),
            Err(ExprError::Syntax(m)) => {
                Err(LoadError::Expression { class, item, line, message: format!("<{}> {text:?}: {m}", n.name) })
            }
        }
    }

    fn attr<'n>(&self, n: &'n Node, name: &str) -> Result<&'n str, LoadError> {
        n.attr(name).ok_or_else(|| self.invalid(n, format!("missing attribute {name}")))
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim() {
        "" | "false" | "0" => Some(false),
        "true" | "1" => Some(true),
        _ => None,
    }
}

/// `YYYY-MM-DDTHH:MM:SS`, `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DD`; empty is `None`.
fn parse_date(s: &str) -> Result<Option<NaiveDateTime>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(Some(t));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(Some(t));
    }
    Err(format!("{s:?} is not a date (expected YYYY-MM-DDTHH:MM:SS)"))
}

/// Compiles a rule definition read from a container.
pub fn compile(def: &Definition) -> Result<RuleDefinition, LoadError> {
    let root = &def.root;
    let class = def.class.as_str();
    let mut ctx = Ctx { class, variables: Vec::new() };
    let context = root.attr("context").unwrap_or("").to_owned();
    let mut variables = Vec::new();
    let mut rule_sets = Vec::new();
    let top = At { rule: "ruleDefinition".into() };
    for n in root.elements() {
        match n.name.as_str() {
            "variable" => {
                let name = ctx.attr(n, "name")?.to_owned();
                let value = ctx.expr(&top, n, n.attr("value").unwrap_or("\"\""), false)?;
                ctx.variables.push(name.clone());
                variables.push(Variable { name, value });
            }
            "ruleSet" => rule_sets.push(rule_set(&ctx, n)?),
            "comment" | "description" => {}
            _ => {
                return Err(ctx.invalid(n, "unexpected element in <ruleDefinition> (expected <ruleSet> or <variable>)"));
            }
        }
    }
    if root.name != "ruleDefinition" {
        return Err(ctx.invalid(root, "expected <ruleDefinition>"));
    }
    let rule_assist = def.parameter("RuleAssistClass").map(str::to_owned);
    Ok(RuleDefinition {
        class: class.to_owned(),
        alias: root.attr("alias").unwrap_or("").to_owned(),
        rule_type: RuleType::from_assist(rule_assist.as_deref(), &context),
        context,
        production: root.attr("production").unwrap_or("").to_owned(),
        rule_assist,
        description: def.description.clone(),
        variables,
        rule_sets,
        paths: Default::default(),
    })
}

fn rule_set(ctx: &Ctx<'_>, n: &Node) -> Result<RuleSet, LoadError> {
    let begin = parse_date(n.attr("effectiveBegin").unwrap_or(""))
        .map_err(|m| ctx.invalid(n, format!("effectiveBegin {m}")))?;
    let end =
        parse_date(n.attr("effectiveEnd").unwrap_or("")).map_err(|m| ctx.invalid(n, format!("effectiveEnd {m}")))?;
    let mut items = Vec::new();
    let mut number = 0;
    let set_at = At { rule: format!("ruleSet {:?}", n.attr("name").unwrap_or("")) };
    for c in n.elements() {
        if c.name == "rule" {
            number += 1;
            items.push(Action::Rule(rule(ctx, c, number)?));
        } else if let Some(a) = action(ctx, &set_at, c, Place::RuleSet)? {
            items.push(a);
        }
    }
    Ok(RuleSet {
        name: n.attr("name").unwrap_or("").to_owned(),
        effective_begin: begin,
        effective_end: end,
        items,
        line: n.line,
    })
}

fn rule(ctx: &Ctx<'_>, n: &Node, number: usize) -> Result<Rule, LoadError> {
    let name = n.attr("name").unwrap_or("").to_owned();
    let at = At { rule: if name.is_empty() { format!("rule#{number}") } else { name.clone() } };
    let disabled = parse_bool(n.attr("disabled").unwrap_or(""))
        .ok_or_else(|| ctx.invalid(n, "disabled must be true, false, 1 or 0"))?;
    let mut constraints = Vec::new();
    let mut whens = Vec::new();
    let mut otherwise = None;
    for c in n.elements() {
        match c.name.as_str() {
            "constraint" => {
                let field = match ctx.attr(c, "name")? {
                    "source" => ConstraintField::Source,
                    "msgClass" => ConstraintField::MsgClass,
                    "docCategory" => ConstraintField::DocCategory,
                    "docName" => ConstraintField::DocName,
                    "docType" => ConstraintField::DocType,
                    other => {
                        return Err(ctx.invalid(
                            c,
                            format!("unknown constraint {other:?} (source, msgClass, docCategory, docName, docType)"),
                        ));
                    }
                };
                let values = c.attr("value").unwrap_or("").split(',').map(str::trim).filter(|v| !v.is_empty());
                constraints.push(Constraint { field, values: values.map(str::to_owned).collect() });
            }
            "when" => {
                if otherwise.is_some() {
                    return Err(ctx.invalid(c, "a <when> after <otherwise>"));
                }
                whens.push(when(ctx, &at, c, false)?);
            }
            "otherwise" => {
                if otherwise.is_some() {
                    return Err(ctx.invalid(c, "a rule has at most one <otherwise>"));
                }
                otherwise = Some(actions(ctx, &at, c, Place::Clause)?);
            }
            "comment" => {}
            _ => {
                if c.name == "delegate" {
                    return Err(LoadError::UnsupportedRuleAction {
                        class: ctx.class.to_owned(),
                        rule: at.rule,
                        action: c.name.clone(),
                        line: c.line,
                    });
                }
                return Err(
                    ctx.invalid(c, format!("unexpected element in rule {:?} (constraint, when, otherwise)", at.rule))
                );
            }
        }
    }
    Ok(Rule { name, number, disabled, constraints, whens, otherwise, line: n.line })
}

fn when(ctx: &Ctx<'_>, at: &At, n: &Node, in_foreach: bool) -> Result<When, LoadError> {
    let text = ctx.attr(n, "condition")?;
    if text.trim().is_empty() {
        return Err(ctx.invalid(n, "the condition is empty (IRIS: a condition can never be blank; 1 means always)"));
    }
    let condition = ctx.expr(at, n, text, in_foreach)?;
    let place = if in_foreach { Place::Foreach } else { Place::Clause };
    Ok(When { condition, actions: actions(ctx, at, n, place)?, line: n.line })
}

/// Where an action list stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    RuleSet,
    Clause,
    Foreach,
}

fn actions(ctx: &Ctx<'_>, at: &At, n: &Node, place: Place) -> Result<Vec<Action>, LoadError> {
    let mut out = Vec::new();
    for c in n.elements() {
        if let Some(a) = action(ctx, at, c, place)? {
            out.push(a);
        }
    }
    Ok(out)
}

fn action(ctx: &Ctx<'_>, at: &At, n: &Node, place: Place) -> Result<Option<Action>, LoadError> {
    let in_foreach = place == Place::Foreach;
    Ok(Some(match n.name.as_str() {
        "comment" => return Ok(None),
        "send" => {
            let targets: Vec<String> =
                ctx.attr(n, "target")?.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect();
            if targets.is_empty() {
                return Err(ctx.invalid(n, "send has no target"));
            }
            let transform = n.attr("transform").map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned);
            Action::Send(SendAction { targets, transform, line: n.line })
        }
        "delete" => Action::Delete,
        "return" => {
            if !n.text().trim().is_empty() {
                return Err(ctx.invalid(n, "a routing rule's <return> has no value"));
            }
            Action::Return
        }
        "trace" => Action::Trace(ctx.expr(at, n, ctx.attr(n, "value")?, in_foreach)?),
        "debug" => Action::Debug(ctx.expr(at, n, ctx.attr(n, "value")?, in_foreach)?),
        "assign" => {
            let target = match ctx.attr(n, "property")?.trim() {
                "RuleUserData" => AssignTarget::RuleUserData,
                "RuleActionUserData" => AssignTarget::RuleActionUserData,
                other => {
                    return Err(ctx.invalid(
                        n,
                        format!("assign to {other:?} is not supported (a routing rule assigns RuleUserData or RuleActionUserData)"),
                    ));
                }
            };
            Action::Assign(target, ctx.expr(at, n, ctx.attr(n, "value")?, in_foreach)?)
        }
        "foreach" => {
            if in_foreach {
                return Err(LoadError::NestedForeach {
                    class: ctx.class.to_owned(),
                    rule: at.rule.clone(),
                    line: n.line,
                });
            }
            if place == Place::RuleSet {
                return Err(ctx.invalid(n, "a foreach belongs inside a rule's <when> or <otherwise>"));
            }
            Action::Foreach(foreach(ctx, at, n)?)
        }
        "delegate" => {
            return Err(LoadError::UnsupportedRuleAction {
                class: ctx.class.to_owned(),
                rule: at.rule.clone(),
                action: n.name.clone(),
                line: n.line,
            });
        }
        other => {
            return Err(ctx.invalid(
                n,
                format!("unknown rule action <{other}> (send, delete, return, trace, debug, assign, foreach, comment)"),
            ));
        }
    }))
}

fn foreach(ctx: &Ctx<'_>, at: &At, n: &Node) -> Result<Foreach, LoadError> {
    let text = ctx.attr(n, "propertypath")?.trim().to_owned();
    let inner = text
        .strip_prefix("HL7.{")
        .or_else(|| text.strip_prefix("Document.{"))
        .and_then(|s| s.strip_suffix('}'))
        .ok_or_else(|| ctx.invalid(n, format!("propertypath {text:?} must be HL7.{{path}} or Document.{{path}}")))?;
    let path = VPath::parse_message(inner).map_err(|m| ctx.invalid(n, m))?;
    if !path.has_all() || !path.field.is_empty() {
        return Err(
            ctx.invalid(n, format!("propertypath {text:?} must select a repeating segment or group with one ()"))
        );
    }
    let mut whens = Vec::new();
    let mut otherwise = None;
    for c in n.elements() {
        match c.name.as_str() {
            "when" if otherwise.is_none() => whens.push(when(ctx, at, c, true)?),
            "otherwise" if otherwise.is_none() => otherwise = Some(actions(ctx, at, c, Place::Foreach)?),
            "comment" => {}
            "foreach" => {
                return Err(LoadError::NestedForeach {
                    class: ctx.class.to_owned(),
                    rule: at.rule.clone(),
                    line: c.line,
                });
            }
            _ => return Err(ctx.invalid(c, "a foreach holds <when>s and at most one <otherwise>, in that order")),
        }
    }
    Ok(Foreach { text, path, whens, otherwise, line: n.line })
}
