//! `hie-bench routing`: the per-message cost of what a router does with a message, in
//! process, against parsing alone measured in the same run (issue 12): an imported IRIS
//! rule against its YAML twin (`hie rules convert` of it), the fixture ADT router (rule
//! sets, constraints, DocType), a DTL, `Validation` dm-z and with every field check, and
//! each HL7 ⇄ JSON / XML conversion.

use super::Opts;
use hie_hl7_schema::convert;
use hie_iris::IrisClass;
use hie_iris::catalog::{self, Catalog};
use hie_iris::dtl::DtlInput;
use hie_iris::env::{Aux, DirFileReader, Services};
use hie_iris::rules::{Body, HL7_MESSAGE_CLASS, Input};
use hie_pack_hl7::rules::{Facts, RuleSet};
use hie_pack_hl7::validation::Validation;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

/// One rule class with a YAML form: the twin is its conversion.
const TWIN: &str = r#"<ruleDefinition alias="" context="EnsLib.HL7.MsgRouter.RoutingEngine"><ruleSet name="Main">
<rule name="test patients"><constraint name="source" value="PAS_ADT_In"></constraint>
<when condition="StartsWith(HL7.{PID:5.1},&quot;TEST&quot;)"><delete></delete><return></return></when></rule>
<rule name="admissions"><constraint name="docName" value="ADT_A01,ADT_A04,ADT_A08"></constraint>
<when condition="HL7.{PV1:2}=&quot;I&quot;"><send transform="" target="EPR_Out"></send></when>
<when condition="HL7.{PV1:2}=&quot;O&quot;"><send transform="" target="Archive"></send></when>
<otherwise><send transform="" target="Unrouted"></send></otherwise></rule>
<rule name="audit"><when condition="1"><send transform="" target="Audit"></send></when></rule>
</ruleSet></ruleDefinition>"#;

/// Microseconds per call of `f` over `iterations` rounds of the messages.
fn per_message(messages: &[Vec<u8>], iterations: usize, mut f: impl FnMut(&[u8])) -> f64 {
    for m in messages {
        f(m);
    }
    let start = Instant::now();
    for _ in 0..iterations {
        for m in messages {
            f(m);
        }
    }
    start.elapsed().as_secs_f64() * 1e6 / (iterations * messages.len()) as f64
}

/// Runs the routing benchmark.
pub fn routing(opts: &Opts) -> Result<(), String> {
    let fixtures = PathBuf::from(opts.req("fixtures")?);
    let iterations: usize = opts.num("iterations", Some(2000))?;
    let messages: Vec<Vec<u8>> = ["adt_a01_inpatient", "adt_a04_outpatient", "adt_a03_discharge", "adt_a01_emergency"]
        .iter()
        .map(|m| std::fs::read(fixtures.join(format!("messages/{m}.hl7"))).map_err(|e| format!("{m}: {e}")))
        .collect::<Result<_, _>>()?;
    let schemas = catalog::load_schemas(&fixtures)?;
    let lookups = catalog::load_lookups(&fixtures)?;
    let files = DirFileReader::new(fixtures.join("rules"));
    let now = chrono::Local::now().naive_local();
    let services = Services { lookups: &lookups, files: &files, now };

    let twin = match hie_iris::load_classes_named(TWIN, "Bench.Twin").map_err(|e| e.to_string())?.pop() {
        Some(IrisClass::Rule(r)) => r,
        _ => return Err("the twin rule did not load as a rule".into()),
    };
    let yaml = hie_iris::to_yaml(&twin).ok_or("the twin rule has no YAML form")?;
    let yaml = RuleSet::parse(&yaml)?;
    let mut catalog = Catalog::load(&fixtures, None, "HIE.Test.Rules.ADTRouter")?;
    let (adt, _) = catalog.take_rule("HIE.Test.Rules.ADTRouter", None).ok_or("no ADT router fixture")?;
    let dtl = catalog.transforms.get("HIE.Test.DTL.ADTToEPR").ok_or("no ADTToEPR fixture")?.clone();
    let validation = Validation::parse("dm-z")?.ok_or("dm-z validates")?;

    let evaluate = |rule: &hie_iris::RuleDefinition, m: &[u8]| {
        let Ok(msg) = hie_hl7::parse(m) else { return };
        let doc = schemas.resolve_message(Some("2.5"), &msg);
        let name = hie_hl7_schema::message_doc_name(&msg).unwrap_or_default();
        let input = Input {
            body: Body::Hl7(&msg),
            msg_class: HL7_MESSAGE_CLASS,
            doc_type: doc.as_ref(),
            doc_name: &name,
            source: "PAS_ADT_In",
            services,
        };
        black_box(rule.evaluate(&input));
    };
    let parse = per_message(&messages, iterations, |m| {
        black_box(hie_hl7::parse(m).ok());
    });
    let yaml_us = per_message(&messages, iterations, |m| {
        if let Ok(msg) = hie_hl7::parse(m) {
            black_box(yaml.decide(&Facts { message: &msg, source: "PAS_ADT_In" }));
        }
    });
    let twin_us = per_message(&messages, iterations, |m| evaluate(&twin, m));
    let adt_us = per_message(&messages, iterations, |m| evaluate(&adt, m));
    let aux = Aux::default();
    let dtl_us = per_message(&messages, iterations / 4 + 1, |m| {
        let Ok(msg) = hie_hl7::parse(m) else { return };
        let doc = schemas.resolve_message(Some("2.5"), &msg);
        black_box(
            dtl.run(&DtlInput {
                source: m,
                doc_type: doc.as_ref(),
                target: None,
                aux: Some(&aux),
                services,
                schemas: &schemas,
                transforms: &catalog.transforms,
            })
            .ok(),
        );
    });
    let validate_us = per_message(&messages, iterations, |m| {
        if let Ok(msg) = hie_hl7::parse(m) {
            let doc = schemas.resolve_message(Some("2.5"), &msg);
            black_box(validation.check(&msg, doc.as_ref()).is_ok());
        }
    });
    let full = Validation::parse("dm-znrlaty")?.ok_or("field flags validate")?;
    let full_us = per_message(&messages, iterations, |m| {
        if let Ok(msg) = hie_hl7::parse(m) {
            let doc = schemas.resolve_message(Some("2.5"), &msg);
            black_box(full.check(&msg, doc.as_ref()).is_ok());
        }
    });
    let docs = |m: &[u8], f: fn(&hie_hl7::Message<'_>, Option<&hie_hl7_schema::DocType>) -> String| {
        hie_hl7::parse(m).map(|msg| f(&msg, schemas.resolve_message(Some("2.5"), &msg).as_ref())).unwrap_or_default()
    };
    let jsons: Vec<Vec<u8>> = messages.iter().map(|m| docs(m, convert::to_json).into_bytes()).collect();
    let xmls: Vec<Vec<u8>> = messages.iter().map(|m| docs(m, convert::to_xml).into_bytes()).collect();
    let to_json_us = per_message(&messages, iterations, |m| {
        black_box(docs(m, convert::to_json));
    });
    let to_xml_us = per_message(&messages, iterations, |m| {
        black_box(docs(m, convert::to_xml));
    });
    let from_json_us = per_message(&jsons, iterations, |j| {
        black_box(std::str::from_utf8(j).ok().map(convert::from_json));
    });
    let from_xml_us = per_message(&xmls, iterations, |x| {
        black_box(std::str::from_utf8(x).ok().map(convert::from_xml));
    });
    println!("| per message (parse included) | µs | × parse alone |");
    println!("|---|---:|---:|");
    for (what, us) in [
        ("parse alone (baseline)", parse),
        ("YAML rules (the twin's conversion)", yaml_us),
        ("IRIS rule, the twin", twin_us),
        ("IRIS rule, the fixture ADT router (2 rule sets, DocType)", adt_us),
        ("DTL HIE.Test.DTL.ADTToEPR (copy, subtransform, lookups)", dtl_us),
        ("Validation dm-z (DocType, segment structure)", validate_us),
        ("Validation dm-z plus every field check (n r l a t y)", full_us),
        ("HL7 → JSON (HIE.Transform.HL7ToJSON)", to_json_us),
        ("JSON → HL7 (JSONToHL7; the JSON parse included)", from_json_us),
        ("HL7 → XML (HL7ToXML)", to_xml_us),
        ("XML → HL7 (XMLToHL7; the XML parse included)", from_xml_us),
    ] {
        println!("| {what} | {us:.2} | {:.1}× |", us / parse);
    }
    println!("\n{} messages × {iterations} rounds (DTL: {} rounds), one thread.", messages.len(), iterations / 4 + 1);
    Ok(())
}
