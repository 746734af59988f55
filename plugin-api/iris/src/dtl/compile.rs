//! Compiling a `<transform>` element tree into a [`Transform`].
//!
//! # Invariants
//!
//! - `code` and `sql` blocks and `language='python'` are `UnsupportedDtlAction`; `clear`,
//!   `append` and `insert` assigns are `UnsupportedAssignAction` (HL7 virtual documents do
//!   not have them); any other unknown element is `Invalid`. The first offending action in
//!   document order is reported.
//! - Every local variable and loop key an expression or path reads is assigned (or is a
//!   `foreach` key) somewhere in the transform; reading one that never is, is a load error
//!   (IRIS fails at run time with `<UNDEFINED>`).

use std::collections::HashSet;

use crate::container::Definition;
use crate::dtl::expr::{Sides, parse, side_path};
use crate::dtl::model::{ActionKind, AssignTo, Create, DtlAction, ObjRef, Params, Transform};
use crate::error::LoadError;
use crate::expr::{Expr, Var};
use crate::lex::ExprError;
use crate::rules::model::Expression;
use crate::vpath::VPath;
use crate::xml::Node;

struct Ctx<'a> {
    class: &'a str,
    sides: Sides,
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

    fn map_expr_err(&self, n: &Node, label: &str, text: &str, e: ExprError) -> LoadError {
        let class = self.class.to_owned();
        let item = label.to_owned();
        let line = n.line;
        match e {
            ExprError::Unsupported(construct) => LoadError::UnsupportedExpression { class, item, construct, line },
            ExprError::UnknownFunction(name) => LoadError::UnknownFunction { class, item, name, line },
            ExprError::Syntax(m) => LoadError::Expression { class, item, line, message: format!("{text:?}: {m}") },
        }
    }

    fn expr(&self, n: &Node, label: &str, text: &str) -> Result<Expression, LoadError> {
        match parse(text, self.sides) {
            Ok(expr) => Ok(Expression { text: text.to_owned(), expr }),
            Err(e) => Err(self.map_expr_err(n, label, text, e)),
        }
    }

    fn attr<'n>(&self, n: &'n Node, name: &str) -> Result<&'n str, LoadError> {
        n.attr(name).ok_or_else(|| self.invalid(n, format!("missing attribute {name}")))
    }

    fn unsupported(&self, n: &Node, action: &str) -> LoadError {
        LoadError::UnsupportedDtlAction { class: self.class.to_owned(), action: action.to_owned(), line: n.line }
    }
}

fn flag(v: Option<&str>) -> bool {
    v.is_some_and(|v| crate::num::truthy(v.trim()))
}

/// Compiles a DTL read from a container.
pub fn compile(def: &Definition) -> Result<Transform, LoadError> {
    let root = &def.root;
    let class = def.class.as_str();
    let pre = Ctx { class, sides: Sides::default() };
    if root.name != "transform" {
        return Err(pre.invalid(root, "expected <transform>"));
    }
    match root.attr("language").map(str::trim).unwrap_or("objectscript") {
        "" | "objectscript" => {}
        "python" => return Err(pre.unsupported(root, "language python")),
        other => return Err(pre.invalid(root, format!("unknown language {other:?}"))),
    }
    let create = match root.attr("create").map(str::trim).unwrap_or("new") {
        "" | "new" => Create::New,
        "copy" => Create::Copy,
        "existing" => Create::Existing,
        other => return Err(pre.invalid(root, format!("create must be new, copy or existing, not {other:?}"))),
    };
    let source_class = pre.attr(root, "sourceClass")?.trim().to_owned();
    let target_class = pre.attr(root, "targetClass")?.trim().to_owned();
    for (what, c) in [("sourceClass", &source_class), ("targetClass", &target_class)] {
        if c != super::model::MESSAGE_CLASS && c != super::model::SEGMENT_CLASS {
            return Err(pre
                .invalid(root, format!("{what} {c:?}: HIE runs DTLs over EnsLib.HL7.Message and EnsLib.HL7.Segment")));
        }
    }
    let sides = Sides {
        source_is_segment: source_class == super::model::SEGMENT_CLASS,
        target_is_segment: target_class == super::model::SEGMENT_CLASS,
    };
    let ctx = Ctx { class, sides };
    let doc_type = |name: &str| root.attr(name).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    let params = Params {
        ignore_missing_source: flag(def.parameter("IGNOREMISSINGSOURCE")),
        report_errors: flag(def.parameter("REPORTERRORS")),
        treat_empty_repeating_field_as_null: flag(def.parameter("TREATEMPTYREPEATINGFIELDASNULL")),
        generate_empty_segments: flag(def.parameter("GENERATEEMPTYSEGMENTS")),
    };
    let actions = actions(&ctx, root)?;
    check_variables(&ctx, &actions)?;
    Ok(Transform {
        class: class.to_owned(),
        source_class,
        target_class,
        source_doc_type: doc_type("sourceDocType"),
        target_doc_type: doc_type("targetDocType"),
        create,
        params,
        actions,
        line: root.line,
        paths: Default::default(),
    })
}

fn actions(ctx: &Ctx<'_>, parent: &Node) -> Result<Vec<DtlAction>, LoadError> {
    let mut out = Vec::new();
    for n in parent.elements() {
        if let Some(a) = action(ctx, n)? {
            out.push(a);
        }
    }
    Ok(out)
}

fn action(ctx: &Ctx<'_>, n: &Node) -> Result<Option<DtlAction>, LoadError> {
    if matches!(n.name.as_str(), "annotation" | "comment") {
        return Ok(None);
    }
    if matches!(n.name.as_str(), "code" | "sql") {
        return Err(ctx.unsupported(n, &n.name));
    }
    if flag(n.attr("disabled")) {
        return Ok(None);
    }
    let (kind, label) = match n.name.as_str() {
        "assign" => assign(ctx, n)?,
        "if" => {
            let label = "if".to_owned();
            let condition = ctx.expr(n, &label, ctx.attr(n, "condition")?)?;
            let mut then = Vec::new();
            let mut otherwise = Vec::new();
            for c in n.elements() {
                match c.name.as_str() {
                    "true" => then = actions(ctx, c)?,
                    "false" => otherwise = actions(ctx, c)?,
                    "annotation" => {}
                    _ => return Err(ctx.invalid(c, "an <if> holds <true> and <false>")),
                }
            }
            (ActionKind::If { condition, then, otherwise }, label)
        }
        "foreach" => {
            let property = ctx.attr(n, "property")?.trim();
            let label = format!("foreach {property}");
            let (on_source, path) = side_ref(ctx, n, &label, property)?;
            let path = match path {
                Some(p) if p.has_all() => p,
                _ => return Err(ctx.invalid(n, format!("property {property:?} must be a repeating path with one ()"))),
            };
            let key = ctx.attr(n, "key")?.trim().to_owned();
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '%') {
                return Err(ctx.invalid(n, format!("key {key:?} must be a variable name such as k1")));
            }
            (ActionKind::Foreach { on_source, path, key, body: actions(ctx, n)? }, label)
        }
        "subtransform" => {
            let class = ctx.attr(n, "class")?.trim().to_owned();
            let label = format!("subtransform {class}");
            let obj = |attr: &str, want_source: bool| -> Result<ObjRef, LoadError> {
                let text = ctx.attr(n, attr)?.trim();
                match side_ref(ctx, n, &label, text)? {
                    (on_source, _) if on_source != want_source => Err(ctx.invalid(
                        n,
                        format!("{attr} {text:?} must be {}", if want_source { "source" } else { "target" }),
                    )),
                    (_, None) => Ok(ObjRef::Whole),
                    (_, Some(p)) if p.field.is_empty() && !p.has_all() && !p.is_count() => Ok(ObjRef::Segment(p)),
                    _ => Err(ctx.invalid(n, format!("{attr} {text:?} must be the whole document or one segment"))),
                }
            };
            let source = obj("sourceObj", true)?;
            let target = obj("targetObj", false)?;
            let aux = match n.attr("aux").map(str::trim).filter(|a| !a.is_empty()) {
                Some(a) => Some(ctx.expr(n, &label, a.trim_start_matches('.'))?),
                None => None,
            };
            (ActionKind::Subtransform { class, source, target, aux }, label)
        }
        "trace" => {
            let label = "trace".to_owned();
            (ActionKind::Trace(ctx.expr(n, &label, ctx.attr(n, "value")?)?), label)
        }
        "switch" => {
            let mut cases = Vec::new();
            let mut default = Vec::new();
            for c in n.elements() {
                match c.name.as_str() {
                    "case" => {
                        let cond = ctx.expr(c, "case", ctx.attr(c, "condition")?)?;
                        cases.push((cond, actions(ctx, c)?));
                    }
                    "default" => default = actions(ctx, c)?,
                    "annotation" => {}
                    _ => return Err(ctx.invalid(c, "a <switch> holds <case>s and one <default>")),
                }
            }
            (ActionKind::Switch { cases, default }, "switch".to_owned())
        }
        "break" => (ActionKind::Break, "break".to_owned()),
        "group" => (ActionKind::Group(actions(ctx, n)?), "group".to_owned()),
        other => return Err(ctx.invalid(n, format!("unknown DTL action <{other}>"))),
    };
    Ok(Some(DtlAction { kind, line: n.line, label }))
}

/// `source`, `target`, `source.{path}` or `target.{path}`: (is source, path).
fn side_ref(ctx: &Ctx<'_>, n: &Node, label: &str, text: &str) -> Result<(bool, Option<VPath>), LoadError> {
    let (on_source, rest) = if let Some(r) = text.strip_prefix("source") {
        (true, r)
    } else if let Some(r) = text.strip_prefix("target") {
        (false, r)
    } else {
        return Err(ctx.invalid(n, format!("{text:?} must be source, target, source.{{path}} or target.{{path}}")));
    };
    if rest.is_empty() {
        return Ok((on_source, None));
    }
    let Some(body) = rest.strip_prefix(".{").and_then(|r| r.strip_suffix('}')) else {
        return Err(ctx.invalid(n, format!("{text:?} must be source, target, source.{{path}} or target.{{path}}")));
    };
    let segment = if on_source { ctx.sides.source_is_segment } else { ctx.sides.target_is_segment };
    let path = side_path(body, segment).map_err(|e| ctx.map_expr_err(n, label, text, e))?;
    Ok((on_source, Some(path)))
}

fn assign(ctx: &Ctx<'_>, n: &Node) -> Result<(ActionKind, String), LoadError> {
    let property = ctx.attr(n, "property")?.trim();
    let label = format!("assign {property}");
    let remove = match n.attr("action").map(str::trim).unwrap_or("set") {
        "" | "set" => false,
        "remove" => true,
        a @ ("clear" | "append" | "insert") => {
            return Err(LoadError::UnsupportedAssignAction {
                class: ctx.class.to_owned(),
                action: a.to_owned(),
                line: n.line,
            });
        }
        other => return Err(ctx.invalid(n, format!("unknown assign action {other:?} (set, remove)"))),
    };
    let to = if property.starts_with("target") || property.starts_with("source") {
        match side_ref(ctx, n, &label, property)? {
            (false, Some(p)) if !p.is_count() => AssignTo::Target(p),
            _ => {
                return Err(
                    ctx.invalid(n, format!("cannot assign to {property:?} (assign to target.{{path}} or a variable)"))
                );
            }
        }
    } else if !property.is_empty() && property.chars().all(|c| c.is_ascii_alphanumeric() || c == '%') {
        AssignTo::Local(property.to_owned())
    } else {
        return Err(ctx.invalid(n, format!("cannot assign to {property:?} (assign to target.{{path}} or a variable)")));
    };
    if n.attr("key").is_some_and(|k| !k.trim().is_empty()) {
        return Err(ctx.invalid(n, "key is for collection properties; an HL7 path carries its index in the path"));
    }
    let text = n.attr("value").unwrap_or("");
    let value = if text.trim().is_empty() {
        if !remove && matches!(to, AssignTo::Local(_)) {
            return Err(ctx.invalid(n, "an assign to a variable needs a value"));
        }
        Expression { text: String::new(), expr: Expr::Lit(String::new()) }
    } else {
        ctx.expr(n, &label, text)?
    };
    Ok((ActionKind::Assign { to, value, remove }, label))
}

fn check_variables(ctx: &Ctx<'_>, actions: &[DtlAction]) -> Result<(), LoadError> {
    let mut defined = HashSet::new();
    collect_defined(actions, &mut defined);
    check_reads(ctx, actions, &defined)
}

fn collect_defined(actions: &[DtlAction], out: &mut HashSet<String>) {
    for a in actions {
        match &a.kind {
            ActionKind::Assign { to: AssignTo::Local(n), .. } => {
                out.insert(n.clone());
            }
            ActionKind::Foreach { key, body, .. } => {
                out.insert(key.clone());
                collect_defined(body, out);
            }
            ActionKind::If { then, otherwise, .. } => {
                collect_defined(then, out);
                collect_defined(otherwise, out);
            }
            ActionKind::Switch { cases, default } => {
                cases.iter().for_each(|(_, b)| collect_defined(b, out));
                collect_defined(default, out);
            }
            ActionKind::Group(b) => collect_defined(b, out),
            _ => {}
        }
    }
}

fn undefined(ctx: &Ctx<'_>, a: &DtlAction, name: &str) -> LoadError {
    LoadError::Expression {
        class: ctx.class.to_owned(),
        item: a.label.clone(),
        line: a.line,
        message: format!("variable {name} is never assigned (IRIS fails with <UNDEFINED>)"),
    }
}

fn check_expr(ctx: &Ctx<'_>, a: &DtlAction, e: &Expression, defined: &HashSet<String>) -> Result<(), LoadError> {
    let mut missing = None;
    e.expr.walk(&mut |x| match x {
        Expr::Var(Var::Local(n)) if !defined.contains(n) => missing = missing.take().or(Some(n.clone())),
        Expr::Path(p) => {
            for v in p.path.variables() {
                if !defined.contains(v) {
                    missing = missing.take().or(Some(v.to_owned()));
                }
            }
        }
        _ => {}
    });
    match missing {
        Some(n) => Err(undefined(ctx, a, &n)),
        None => Ok(()),
    }
}

fn check_path(ctx: &Ctx<'_>, a: &DtlAction, p: &VPath, defined: &HashSet<String>) -> Result<(), LoadError> {
    match p.variables().find(|v| !defined.contains(*v)) {
        Some(v) => Err(undefined(ctx, a, v)),
        None => Ok(()),
    }
}

fn check_reads(ctx: &Ctx<'_>, actions: &[DtlAction], defined: &HashSet<String>) -> Result<(), LoadError> {
    for a in actions {
        match &a.kind {
            ActionKind::Assign { to, value, .. } => {
                check_expr(ctx, a, value, defined)?;
                if let AssignTo::Target(p) = to {
                    check_path(ctx, a, p, defined)?;
                }
            }
            ActionKind::If { condition, then, otherwise } => {
                check_expr(ctx, a, condition, defined)?;
                check_reads(ctx, then, defined)?;
                check_reads(ctx, otherwise, defined)?;
            }
            ActionKind::Foreach { path, body, .. } => {
                check_path(ctx, a, path, defined)?;
                check_reads(ctx, body, defined)?;
            }
            ActionKind::Subtransform { source, target, aux, .. } => {
                for o in [source, target] {
                    if let ObjRef::Segment(p) = o {
                        check_path(ctx, a, p, defined)?;
                    }
                }
                if let Some(x) = aux {
                    check_expr(ctx, a, x, defined)?;
                }
            }
            ActionKind::Trace(e) => check_expr(ctx, a, e, defined)?,
            ActionKind::Switch { cases, default } => {
                for (c, body) in cases {
                    check_expr(ctx, a, c, defined)?;
                    check_reads(ctx, body, defined)?;
                }
                check_reads(ctx, default, defined)?;
            }
            ActionKind::Group(b) => check_reads(ctx, b, defined)?,
            ActionKind::Break => {}
        }
    }
    Ok(())
}
