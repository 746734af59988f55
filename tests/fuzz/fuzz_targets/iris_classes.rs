//! hie-iris: `load_classes` (UDL `.cls`, Studio exports, bare XML) compiles routing rules
//! (`Ens.Rule.Definition`) and DTLs (`Ens.DataTransformDTL`); every rule that loads is
//! evaluated against the fixture messages and every DTL is run on them (subtransforms among
//! the classes of the same input). The same text is also read as a lookup-table export.
//!
//! Invariants: nothing panics (load errors and run errors are values); evaluation is
//! deterministic; a rule that `to_yaml` converts routes exactly as the converted YAML rules
//! do in HIE's own router (plugins/hl7 `RuleSet`), the conversion's documented promise.
#![no_main]

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use hie_fuzz::{fixtures, now, registry};
use hie_iris::dtl::DtlInput;
use hie_iris::env::{NoFiles, Services};
use hie_iris::lookup::LookupTables;
use hie_iris::rules::{Body, HL7_MESSAGE_CLASS, Input};
use hie_iris::{IrisClass, Transform};
use libfuzzer_sys::fuzz_target;

fn tables() -> &'static LookupTables {
    static T: OnceLock<LookupTables> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = LookupTables::new();
        t.import(include_str!("../../../tests/fixtures/iris/lookup/SexCodes.xml")).expect("SexCodes");
        t.import(include_str!("../../../tests/fixtures/iris/lookup/legacy_tables.xml")).expect("legacy tables");
        t
    })
}

const SOURCES: &[&str] = &["PAS_ADT_In", "LAB_In"];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = LookupTables::new().import(text);
    let Ok(classes) = hie_iris::load_classes(text) else { return };
    let reg = registry();
    let services = || Services { lookups: tables(), files: &NoFiles, now: now() };
    let mut rules = Vec::new();
    let mut transforms: HashMap<String, Arc<Transform>> = HashMap::new();
    for class in classes {
        let _ = class.name();
        match class {
            IrisClass::Rule(r) => rules.push(r),
            IrisClass::Dtl(t) => {
                transforms.insert(t.class.clone(), Arc::new(t));
            }
        }
    }
    for (i, f) in fixtures().iter().enumerate() {
        let (msg, doc, doc_name, bytes) = (&f.message, &f.doc_type, &f.doc_name, f.bytes);
        let source = SOURCES[i % SOURCES.len()];
        for rule in rules.iter().take(4) {
            let input = Input {
                body: Body::Hl7(msg),
                msg_class: HL7_MESSAGE_CLASS,
                doc_type: doc.as_ref(),
                doc_name,
                source,
                services: services(),
            };
            let d = rule.evaluate(&input);
            assert_eq!(d, rule.evaluate(&input), "rule evaluation is not deterministic");
            let Some(yaml) = hie_iris::to_yaml(rule) else { continue };
            let set = hie_pack_hl7::rules::RuleSet::parse(&yaml)
                .unwrap_or_else(|e| panic!("to_yaml gave YAML the router refuses: {e}\n{yaml}"));
            if !d.errors.is_empty() {
                continue; // a failing IRIS condition counts as false; YAML has no such case
            }
            let facts = hie_pack_hl7::rules::Facts { message: msg, source };
            let y = set.decide(&facts);
            assert_eq!(y.delete, d.deleted, "delete differs between IRIS and converted YAML:\n{yaml}");
            if !d.deleted {
                let ys: Vec<(String, Option<String>)> =
                    y.sends.iter().map(|s| (s.target.clone(), s.transform.clone())).collect();
                assert_eq!(ys, d.flat_sends(), "sends differ between IRIS and converted YAML:\n{yaml}");
            }
        }
        let mut names: Vec<&String> = transforms.keys().collect();
        names.sort();
        for t in names.into_iter().take(4).filter_map(|n| transforms.get(n)) {
            let input = DtlInput {
                source: bytes,
                doc_type: doc.as_ref(),
                target: Some(bytes),
                aux: None,
                services: services(),
                schemas: reg,
                transforms: &transforms,
            };
            if let Ok(o) = t.run(&input) {
                let _ = hie_hl7::parse(&o.bytes);
            }
        }
    }
});
