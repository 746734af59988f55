//! HIE's YAML routing rules (plugins/hl7/src/rules.rs, `EnsLib.HL7.MsgRouter.RoutingEngine`):
//! `RuleSet::parse` of a rules file, then `decide` for the fixture messages; every line of
//! the input also goes through `parse_condition`.
//!
//! Invariants: nothing panics; every send of a decision names a target of the rule set and
//! comes from a rule that fired; a decision with no fired rule sends nothing.
#![no_main]

use hie_fuzz::fixtures;
use hie_pack_hl7::rules::{Facts, RuleSet, parse_condition};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for line in text.lines().take(16) {
        let c = line.split_once("when:").map_or(line, |(_, c)| c);
        if let Ok(cond) = parse_condition(c.trim()) {
            for f in fixtures() {
                let _ = cond.eval(&Facts { message: &f.message, source: "PAS_ADT_In" });
            }
        }
    }
    let Ok(set) = RuleSet::parse(text) else { return };
    let targets = set.targets();
    let _ = set.transforms();
    for (i, f) in fixtures().iter().enumerate() {
        let d = set.decide(&Facts { message: &f.message, source: ["PAS_ADT_In", "LAB_In"][i % 2] });
        assert!(d.fired.len() <= set.rules.len() + 1);
        if d.fired.is_empty() {
            assert!(d.sends.is_empty() && !d.delete);
        }
        for s in &d.sends {
            assert!(targets.contains(&s.target.as_str()), "send to {:?} named by no rule", s.target);
        }
    }
});
