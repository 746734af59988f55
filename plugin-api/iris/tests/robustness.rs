//! Nothing input-derived makes the crate panic: random expressions, patterns, formats,
//! containers, and mutated messages through every fixture rule and DTL.

mod common;

use hie_iris::dtl::DtlInput;
use hie_iris::env::{NoFiles, Services};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const TOKENS: &[&str] = &[
    "HL7.{",
    "}",
    "PID",
    ":",
    "3",
    "(",
    ")",
    "*",
    "\"",
    "\"x\"",
    "1",
    ".5",
    "E",
    "=",
    "!=",
    "<",
    ">",
    "[",
    "]",
    "_",
    "&",
    "&&",
    "||",
    "!",
    "'",
    "+",
    "-",
    "/",
    "\\",
    "#",
    "?",
    "3N",
    ",",
    "Contains",
    "In",
    "Lookup",
    "Piece",
    "$P",
    "..",
    "ToUpper",
    "source.{",
    "target.{",
    "aux.",
    "k1",
    "Segment.{",
    "[OBX:3.1]",
    "OBXgrp()",
    " ",
    "##class",
    "Document.",
    "$S",
    ":",
    "9999999999999999999999999",
    "-",
    "Round",
    "Pad",
    "ConvertDateTime",
    "%Y",
    "Matches",
    "If",
];

fn random_text(rng: &mut Rng, n: usize) -> String {
    (0..n).map(|_| rng.pick(TOKENS)).collect()
}

const RULE_PATHS: &[&str] = &[
    "HL7.{PID:3(1).1}",
    "HL7.{OBX(2):5}",
    "HL7.{PID:PatientName(1).FamilyName}",
    "HL7.{PV1:50}",
    "HL7.{OBX(*)}",
    "[OBX:3.1]",
    "HL7.(PID:3().4)",
    "Source",
    "DocName",
    "DocType",
    "HL7.{PIDgrpgrp(1).PIDgrp.PID:5}",
    "HL7.{ZZZ:1}",
];
const DTL_PATHS: &[&str] = &[
    "source.{PID:3(1).1}",
    "source.{OBX(2):5}",
    "source.{PID:PatientName(1).FamilyName}",
    "target.{PV1:50}",
    "source.{OBX(\"*\")}",
    "source.{PID:5}",
    "target.{MSH:10}",
    "aux.RuleUserData",
    "source.{ZZZ:1}",
];
const FUNCS: &[(&str, usize)] = &[
    ("Contains", 2),
    ("In", 2),
    ("Matches", 2),
    ("Like", 2),
    ("Lookup", 3),
    ("Piece", 3),
    ("SubString", 3),
    ("Length", 2),
    ("If", 3),
    ("Round", 2),
    ("Min", 3),
    ("Max", 2),
    ("Pad", 3),
    ("Strip", 2),
    ("Translate", 3),
    ("ReplaceStr", 3),
    ("ConvertDateTime", 3),
    ("CurrentDateTime", 1),
    ("IntersectsList", 2),
    ("Exists", 2),
    ("ToUpper", 1),
    ("Not", 1),
    ("InFile", 2),
];
const OPS: &[&str] = &["=", "!=", "<", ">", "<=", ">=", "_", "+", "-", "*", "/", "&&", "||", "["];
const DTL_OPS: &[&str] =
    &["=", "'=", "<", ">", "_", "+", "-", "*", "/", "\\", "#", "&&", "||", "[", "]", "]]", "'<", "&", "!"];
const LITS: &[&str] = &[
    "\"\"",
    "\"F\"",
    "\"3N\"",
    "\"%Y\"",
    "0",
    "1",
    "-3",
    "68.50",
    "1E3",
    "\"a,b\"",
    "\"<a><b>\"",
    "\"*W\"",
    "\"\"\"\"\"",
];

fn expr_text(rng: &mut Rng, depth: u32, dtl: bool) -> String {
    let roll = rng.next() % 10;
    if depth == 0 || roll < 3 {
        return if rng.next().is_multiple_of(2) {
            rng.pick(LITS).to_owned()
        } else {
            rng.pick(if dtl { DTL_PATHS } else { RULE_PATHS }).to_owned()
        };
    }
    match roll {
        3..=5 => {
            let op = rng.pick(if dtl { DTL_OPS } else { OPS });
            format!("{}{op}{}", expr_text(rng, depth - 1, dtl), expr_text(rng, depth - 1, dtl))
        }
        6 => format!("({})", expr_text(rng, depth - 1, dtl)),
        7 => format!("{}{}", if dtl { "'" } else { "!" }, expr_text(rng, depth - 1, dtl)),
        8 if rng.next().is_multiple_of(5) => random_text(rng, 4),
        _ => {
            let (name, n) = FUNCS[(rng.next() % FUNCS.len() as u64) as usize];
            let args: Vec<String> = (0..n).map(|_| expr_text(rng, depth - 1, dtl)).collect();
            format!("{}{name}({})", if dtl { ".." } else { "" }, args.join(","))
        }
    }
}

fn xml_attr(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

#[test]
fn random_expressions_never_panic_at_load_or_run() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let msg = common::bytes("messages/adt_a01_ops.hl7");
    let (mut rules_run, mut dtls_run) = (0, 0);
    for i in 0..1500 {
        let expr = if i % 10 == 0 { random_text(&mut rng, 1 + i % 12) } else { expr_text(&mut rng, 4, false) };
        let dexpr = if i % 10 == 0 { expr.clone() } else { expr_text(&mut rng, 4, true) };
        let rule = format!(
            "<ruleDefinition><ruleSet><rule><when condition=\"{}\"><trace value=\"{}\"/></when></rule></ruleSet></ruleDefinition>",
            xml_attr(&expr),
            xml_attr(&expr)
        );
        if let Ok(mut v) = hie_iris::load_classes(&rule)
            && let Some(hie_iris::IrisClass::Rule(r)) = v.pop()
        {
            let m = hie_hl7::parse(&msg).unwrap();
            let input = hie_iris::rules::Input {
                body: hie_iris::rules::Body::Hl7(&m),
                msg_class: hie_iris::rules::HL7_MESSAGE_CLASS,
                doc_type: None,
                doc_name: "ADT_A01",
                source: "S",
                services: Services::with_now(common::now()),
            };
            let _ = r.evaluate(&input);
            rules_run += 1;
        }
        let dtl = format!(
            "<transform sourceClass='EnsLib.HL7.Message' targetClass='EnsLib.HL7.Message' create='copy'><assign property='target.{{PID:5}}' value='{}'/><trace value='{}'/></transform>",
            xml_attr(&dexpr),
            xml_attr(&dexpr)
        );
        if let Ok(mut v) = hie_iris::load_classes(&dtl)
            && let Some(hie_iris::IrisClass::Dtl(t)) = v.pop()
        {
            let reg = hie_hl7_schema::Registry::new();
            let input = DtlInput {
                source: &msg,
                doc_type: None,
                target: None,
                aux: None,
                services: Services::with_now(common::now()),
                schemas: &reg,
                transforms: &hie_iris::dtl::NoTransforms,
            };
            let _ = t.run(&input);
            dtls_run += 1;
        }
        let _ = hie_iris::pattern::Pattern::parse(&expr).map(|p| p.matches(&expr));
        let _ = hie_iris::datetime::convert(&expr, &expr, "%Q%j%a", "");
        let _ = hie_iris::num::num(&expr).checked_div(hie_iris::num::num(&expr));
        let _ = hie_iris::vpath::VPath::parse_message(&expr);
        let _ = hie_iris::container::read(&expr, "x");
    }
    assert!(
        rules_run > 100 && dtls_run > 100,
        "too few random expressions compiled: {rules_run} rules, {dtls_run} DTLs"
    );
}

#[test]
fn mutated_messages_never_panic_in_fixture_rules_or_dtls() {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let reg = common::registry();
    let tables = common::tables();
    let all = common::transforms();
    let rules: Vec<_> = [
        "rules/HIE.Test.Rules.ADTRouter.cls",
        "rules/HIE.Test.Rules.LabRouter.xml",
        "rules/HIE.Test.Rules.Operators.xml",
    ]
    .iter()
    .map(|f| common::rule(f))
    .collect();
    let mut runs = 0;
    let junk: &[&str] = &["|", "^", "~", "&", "\\", "\r", "\n", "X", "", "OBX|", "ZZZ|1\r", "\"\"", "PID|"];
    for base in ["adt_a01_inpatient", "oru_r01_normal", "adt_a28_zpi", "adt_a01_ops"] {
        let original = common::bytes(&format!("messages/{base}.hl7"));
        for _ in 0..150 {
            let mut m = original.clone();
            for _ in 0..(1 + rng.next() % 6) {
                let at = (rng.next() as usize) % (m.len().max(1));
                let cut = ((rng.next() % 4) as usize).min(m.len() - at);
                let ins = rng.pick(junk).as_bytes().to_vec();
                m.splice(at..at + cut, ins);
            }
            let Ok(msg) = hie_hl7::parse(&m) else { continue };
            let doc = common::doc_type(&reg, &msg, "PAS_ADT_In");
            let input = hie_iris::rules::Input {
                body: hie_iris::rules::Body::Hl7(&msg),
                msg_class: hie_iris::rules::HL7_MESSAGE_CLASS,
                doc_type: doc.as_ref(),
                doc_name: "ADT_A01",
                source: "PAS_ADT_In",
                services: Services { lookups: &tables, files: &NoFiles, now: common::now() },
            };
            for r in &rules {
                let _ = r.evaluate(&input);
            }
            runs += 1;
            for t in all.values() {
                let input = DtlInput {
                    source: &m,
                    doc_type: doc.as_ref(),
                    target: Some(&m),
                    aux: None,
                    services: Services { lookups: &tables, files: &NoFiles, now: common::now() },
                    schemas: &reg,
                    transforms: &all,
                };
                let _ = t.run(&input);
            }
        }
    }
    assert!(runs > 100, "too few mutated messages parsed: {runs}");
}
