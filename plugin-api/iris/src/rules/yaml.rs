//! Converting an IRIS rule definition to HIE's YAML rule format (`plugins/hl7/src/rules.rs`),
//! for `hie rules convert`.
//!
//! The YAML format has one implicit rule set, one `when` per rule, numeric HL7 paths, the
//! operands `Source` and `DocType` (`code^event`), the operators `=`, `!=`, `contains`,
//! `starts-with`, `in`, `not-in`, `exists`, and `and`/`or`/`not`. An IRIS rule with several
//! `when`s and an `otherwise` becomes one YAML rule per clause, each clause's condition
//! excluding the earlier ones (`not (c1) and c2`), so exactly the same clause fires.
//! Constraints become conditions (`source` → `Source`, `docName` → `DocType`, `msgClass
//! EnsLib.HL7.Message` → always). A file-level `otherwise` with no send is added, because an
//! IRIS router sends nothing when no rule fires (a YAML file without one sends such messages
//! to the BadMessageHandler).
//!
//! # Invariants
//!
//! - The conversion is exact for routing or it is refused: [`convert`] gives `yaml: None` and
//!   notes saying what has no YAML equivalent (effective dates, several rule sets,
//!   docCategory/docType constraints, symbolic or group paths, numeric comparisons,
//!   functions other than the string tests, foreach, assign, variables).
//! - `trace` and `debug` are dropped with a note: they do not change routing.
//! - `delete` maps to `delete: true`; in YAML it also stops evaluation, which routes the same
//!   (a deleted message is sent nowhere).

use crate::expr::{Base, BinOp, Expr, Form, PathRef, UnOp, Var};
use crate::functions::Func;
use crate::num::truthy;
use crate::rules::model::{Action, ConstraintField, Rule, RuleDefinition};
use crate::vpath::{Index, StepName};

/// The result of a conversion.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Conversion {
    /// The YAML text, when the rule is expressible.
    pub yaml: Option<String>,
    /// Why it is not (or what was dropped).
    pub notes: Vec<String>,
}

/// The YAML text for `def`, when it is expressible in HIE's YAML rule format.
pub fn to_yaml(def: &RuleDefinition) -> Option<String> {
    convert(def).yaml
}

/// A condition in the YAML language, or a constant.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Cond {
    Always,
    Never,
    Text(String),
}

fn and(a: Cond, b: Cond) -> Cond {
    match (a, b) {
        (Cond::Never, _) | (_, Cond::Never) => Cond::Never,
        (Cond::Always, x) | (x, Cond::Always) => x,
        (Cond::Text(a), Cond::Text(b)) => Cond::Text(format!("({a}) and ({b})")),
    }
}

fn or(a: Cond, b: Cond) -> Cond {
    match (a, b) {
        (Cond::Always, _) | (_, Cond::Always) => Cond::Always,
        (Cond::Never, x) | (x, Cond::Never) => x,
        (Cond::Text(a), Cond::Text(b)) => Cond::Text(format!("({a}) or ({b})")),
    }
}

fn not(a: Cond) -> Cond {
    match a {
        Cond::Always => Cond::Never,
        Cond::Never => Cond::Always,
        Cond::Text(t) => Cond::Text(format!("not ({t})")),
    }
}

/// A double-quoted value of the YAML condition language.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A YAML scalar holding exactly `s`: single-quoted, or double-quoted with escapes when `s`
/// has a character a single-quoted scalar cannot carry unchanged (a line break folds; a
/// control character, NUL included, is not allowed in YAML text at all).
fn scalar(s: &str) -> String {
    let plain = |c: char| c == '\t' || (!c.is_control() && c != '\u{feff}' && c != '\u{fffe}' && c != '\u{ffff}');
    if s.chars().all(plain) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    let mut out = String::with_capacity(s.len() + 8);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if plain(c) => out.push(c),
            c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02X}", c as u32)),
            c => out.push_str(&format!("\\u{:04X}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// The YAML operand for an expression: `Source`, `DocType` (from DocName) or a numeric path.
fn operand(e: &Expr) -> Result<(String, bool), String> {
    match e {
        Expr::Var(Var::Source) => Ok(("Source".into(), false)),
        Expr::Var(Var::DocName) => Ok(("DocType".into(), true)),
        Expr::Path(PathRef { base: Base::Document, form: Form::Curly, path }) => {
            let numeric_field =
                !path.field.is_empty() && path.field.iter().all(|s| matches!(s.name, StepName::Number(_)));
            let single = path.segment.len() == 1 && matches!(path.segment[0].name, StepName::Name(_));
            let plain = path.steps().all(|s| matches!(s.index, Index::None | Index::Num(_)));
            if !(numeric_field && single && plain) {
                return Err(format!("path {} (YAML paths are numeric SEG:field paths without groups)", path.text));
            }
            let p: hie_hl7::Path = path.render().parse().map_err(|e| format!("path {}: {e}", path.text))?;
            Ok((p.to_string(), false))
        }
        other => Err(format!("operand {} has no YAML equivalent", describe(other))),
    }
}

fn describe(e: &Expr) -> String {
    match e {
        Expr::Var(v) => format!("{v:?}"),
        Expr::Path(p) => p.path.text.clone(),
        Expr::Call(f, _) => format!("{}()", f.name()),
        Expr::Binary(op, ..) => format!("operator {op:?}"),
        Expr::Lit(s) => quoted(s),
        other => format!("{other:?}"),
    }
}

/// DocName `ADT_A01` as the YAML `DocType` value `ADT^A01`.
fn doc_type_value(doc_name: &str) -> String {
    match doc_name.split_once('_') {
        Some((code, event)) => format!("{code}^{event}"),
        None => doc_name.to_owned(),
    }
}

fn compare(op: &str, l: &Expr, r: &Expr) -> Result<Cond, String> {
    let (subject, lit) = match (l, r) {
        (x, Expr::Lit(v)) | (Expr::Lit(v), x) => (x, v),
        _ => {
            return Err(format!(
                "comparison of {} and {} (YAML compares a field with a value)",
                describe(l),
                describe(r)
            ));
        }
    };
    let (name, doc_name) = operand(subject)?;
    let v = if doc_name { doc_type_value(lit) } else { lit.clone() };
    if v.is_empty() && !doc_name {
        let exists = Cond::Text(format!("{name} exists"));
        return Ok(if op == "=" { not(exists) } else { exists });
    }
    Ok(Cond::Text(format!("{name} {op} {}", quoted(&v))))
}

fn list_cond(f: Func, args: &[Option<Expr>]) -> Result<Cond, String> {
    let (Some(Some(subject)), Some(Some(Expr::Lit(list)))) = (args.first(), args.get(1)) else {
        return Err(format!("{}() with a computed list", f.name()));
    };
    if list.contains(",,") {
        return Err(format!("{}() with a custom separator", f.name()));
    }
    let (name, doc_name) = operand(subject)?;
    let items: Vec<String> =
        list.split(',').map(|i| quoted(&if doc_name { doc_type_value(i) } else { i.to_owned() })).collect();
    let op = if f == Func::In { "in" } else { "not-in" };
    Ok(Cond::Text(format!("{name} {op} ({})", items.join(", "))))
}

fn string_test(word: &str, args: &[Option<Expr>], negate: bool) -> Result<Cond, String> {
    let (Some(Some(subject)), Some(Some(Expr::Lit(v)))) = (args.first(), args.get(1)) else {
        return Err(format!("{word} with a computed value"));
    };
    let (name, doc_name) = operand(subject)?;
    if doc_name {
        return Err(format!("DocName {word} (YAML DocType is code^event)"));
    }
    let c = Cond::Text(format!("{name} {word} {}", quoted(v)));
    Ok(if negate { not(c) } else { c })
}

fn cond(e: &Expr) -> Result<Cond, String> {
    match e {
        Expr::Lit(s) => Ok(if truthy(s) { Cond::Always } else { Cond::Never }),
        Expr::Binary(BinOp::And, a, b) => Ok(and(cond(a)?, cond(b)?)),
        Expr::Binary(BinOp::Or, a, b) => Ok(or(cond(a)?, cond(b)?)),
        Expr::Unary(UnOp::Not, a) => Ok(not(cond(a)?)),
        Expr::Binary(BinOp::Eq, a, b) => compare("=", a, b),
        Expr::Binary(BinOp::Ne, a, b) => compare("!=", a, b),
        Expr::Binary(BinOp::Contains, a, b) => {
            string_test("contains", &[Some((**a).clone()), Some((**b).clone())], false)
        }
        Expr::Call(Func::Not, args) => match args.first() {
            Some(Some(a)) => Ok(not(cond(a)?)),
            _ => Err("Not() without an argument".into()),
        },
        Expr::Call(f @ (Func::In | Func::NotIn), args) => list_cond(*f, args),
        Expr::Call(Func::Contains, args) => string_test("contains", args, false),
        Expr::Call(Func::DoesNotContain, args) => string_test("contains", args, true),
        Expr::Call(Func::StartsWith, args) => string_test("starts-with", args, false),
        Expr::Call(Func::DoesNotStartWith, args) => string_test("starts-with", args, true),
        other => Err(format!("{} has no YAML equivalent", describe(other))),
    }
}

fn constraints(r: &Rule) -> Result<Cond, String> {
    let mut c = Cond::Always;
    for k in &r.constraints {
        if k.values.is_empty() {
            continue;
        }
        let one = match k.field {
            ConstraintField::Source => {
                let items: Vec<String> = k.values.iter().map(|v| quoted(v)).collect();
                Cond::Text(if items.len() == 1 {
                    format!("Source = {}", items[0])
                } else {
                    format!("Source in ({})", items.join(", "))
                })
            }
            ConstraintField::DocName => {
                let items: Vec<String> = k.values.iter().map(|v| quoted(&doc_type_value(v))).collect();
                Cond::Text(format!("DocType in ({})", items.join(", ")))
            }
            ConstraintField::MsgClass => {
                if k.values.iter().any(|v| v == crate::rules::HL7_MESSAGE_CLASS) {
                    Cond::Always
                } else {
                    Cond::Never
                }
            }
            ConstraintField::DocCategory | ConstraintField::DocType => {
                return Err(format!(
                    "the {} constraint (YAML rules do not see the message's DocType)",
                    if k.field == ConstraintField::DocCategory { "docCategory" } else { "docType" }
                ));
            }
        };
        c = and(c, one);
    }
    Ok(c)
}

struct Out {
    /// The YAML written so far.
    yaml: String,
    notes: Vec<String>,
}

impl Out {
    /// Writes one YAML rule for a clause; `Err` when an action has no YAML equivalent.
    fn clause(&mut self, name: &str, when: Cond, actions: &[Action], disabled: bool) -> Result<(), String> {
        if when == Cond::Never && !disabled {
            return Ok(());
        }
        let mut sends = Vec::new();
        let (mut delete, mut ret) = (false, false);
        for a in actions {
            match a {
                Action::Send(s) => {
                    for t in &s.targets {
                        sends.push((t.clone(), s.transform.clone()));
                    }
                }
                Action::Delete => delete = true,
                Action::Return => {
                    ret = true;
                    break;
                }
                Action::Trace(e) | Action::Debug(e) => {
                    self.notes.push(format!("{name}: trace/debug {} dropped (it does not change routing)", e.text));
                }
                Action::Assign(..) => return Err(format!("{name}: assign (YAML transforms get no RuleUserData)")),
                Action::Foreach(_) => return Err(format!("{name}: foreach")),
                Action::Rule(_) => return Err(format!("{name}: nested rule")),
            }
        }
        if sends.is_empty() && !delete && !ret {
            return Ok(());
        }
        self.yaml.push_str(&format!("  - name: {}\n", scalar(name)));
        match &when {
            Cond::Text(t) => self.yaml.push_str(&format!("    when: {}\n", scalar(t))),
            Cond::Always => {}
            Cond::Never => self.yaml.push_str("    when: 'Source = \"\" and Source != \"\"'\n"),
        }
        if disabled {
            self.yaml.push_str("    disabled: true\n");
        }
        if !sends.is_empty() {
            self.yaml.push_str("    send:\n");
            for (t, x) in sends {
                self.yaml.push_str(&format!("      - target: {}\n", scalar(&t)));
                if let Some(x) = x {
                    self.yaml.push_str(&format!("        transform: {}\n", scalar(&x)));
                }
            }
        }
        if delete {
            self.yaml.push_str("    delete: true\n");
        }
        if ret {
            self.yaml.push_str("    return: true\n");
        }
        Ok(())
    }

    fn rule(&mut self, r: &Rule) -> Result<(), String> {
        let label = r.label();
        let base = constraints(r).map_err(|e| format!("rule {label:?}: {e}"))?;
        let mut earlier = Cond::Never;
        let many = r.whens.len() > 1 || r.otherwise.is_some();
        for (k, w) in r.whens.iter().enumerate() {
            let c = cond(&w.condition.expr).map_err(|e| format!("rule {label:?} when#{}: {e}", k + 1))?;
            let when = and(base.clone(), and(not(earlier.clone()), c.clone()));
            let name = if many { format!("{label} (when#{})", k + 1) } else { label.clone() };
            self.clause(&name, when, &w.actions, r.disabled)?;
            earlier = or(earlier, c);
        }
        if let Some(actions) = &r.otherwise {
            let when = and(base, not(earlier));
            self.clause(&format!("{label} (otherwise)"), when, actions, r.disabled)?;
        }
        Ok(())
    }
}

/// Converts `def`; see the module documentation for what is expressible.
pub fn convert(def: &RuleDefinition) -> Conversion {
    let mut notes = Vec::new();
    let fail = |mut notes: Vec<String>, why: String| {
        notes.insert(0, format!("not expressible in HIE's YAML rules: {why}"));
        Conversion { yaml: None, notes }
    };
    if !def.variables.is_empty() {
        return fail(notes, "rule-definition <variable>s".into());
    }
    let [set] = def.rule_sets.as_slice() else {
        return fail(notes, format!("{} rule sets (YAML has one, without effective dates)", def.rule_sets.len()));
    };
    if set.effective_begin.is_some() || set.effective_end.is_some() {
        return fail(notes, format!("rule set {:?} has effective dates", set.name));
    }
    let mut out = Out { yaml: String::new(), notes: Vec::new() };
    out.yaml.push_str(&format!(
        "# Converted from the IRIS rule class {} (rule set {:?}).\n",
        def.class.escape_debug(),
        set.name
    ));
    out.yaml.push_str("rules:\n");
    for (i, item) in set.items.iter().enumerate() {
        let r = match item {
            Action::Rule(r) => out.rule(r),
            other => out.clause(&format!("ruleSet action {}", i + 1), Cond::Always, std::slice::from_ref(other), false),
        };
        if let Err(why) = r {
            notes.extend(out.notes);
            return fail(notes, why);
        }
    }
    if out.yaml.ends_with("rules:\n") {
        out.yaml.truncate(out.yaml.len() - 1);
        out.yaml.push_str(" []\n");
    }
    out.yaml.push_str("# An IRIS router sends nothing when no rule fires.\notherwise:\n  send: []\n");
    notes.extend(out.notes);
    Conversion { yaml: Some(out.yaml), notes }
}
