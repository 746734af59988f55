//! Classes an IRIS production may name that HIE cannot run, with the reason, so `hie
//! validate` says "not available in HIE: <reason>" instead of calling a standard IRIS
//! class a custom one (docs/iris-settings.md §10).
//!
//! Two sources: a table of IRIS class names and packages (the Java and .NET gateways,
//! PEX, Workflow, ...), and the production's own class files. A custom class that
//! `Extends Ens.BusinessProcessBPL` (or another ObjectScript-only base) in a `.cls` file
//! beside the production (its directory and `rules/`, `dtl/`, `classes/`) or in the
//! Studio export itself is reported with that base's reason.
//!
//! # Invariants
//! - Consulted only for a class no loaded pack provides: a pack that provides one of
//!   these names always wins.
//! - Reading class files is bounded (files over [`MAX_FILE`] bytes, and files beyond
//!   [`MAX_FILES`], are not read) and never fails validation: an unreadable file is
//!   skipped, and the class is then reported as unknown.

use std::path::Path;

/// Class files read at most when looking for a custom class's base.
const MAX_FILES: usize = 512;
/// Largest class file read, in bytes.
const MAX_FILE: u64 = 8 * 1024 * 1024;

/// IRIS class names (exact) or packages (ending in `.`) HIE cannot provide, and why.
const TABLE: &[(&str, &str)] = &[
    ("EnsLib.JavaGateway.", "it runs a JVM through IRIS's Java gateway with generated ObjectScript proxy classes"),
    ("EnsLib.DotNetGateway.", "it runs .NET code through IRIS's .NET gateway with generated proxy classes"),
    ("%Net.Remote.", "it is IRIS's gateway to Java and .NET, with generated proxy classes"),
    ("EnsLib.PEX.", "PEX hosts are Java, .NET or Python code run by IRIS's External Language Servers"),
    ("grongier.pex.", "Interoperability-on-Python hosts call IRIS's embedded Python `iris` module"),
    ("iop.", "Interoperability-on-Python hosts call IRIS's embedded Python `iris` module"),
    ("EnsLib.Workflow.", "Workflow tasks live in IRIS's database and are worked through its portal, users and roles"),
    ("EnsLib.RecordMap.", "it needs the ObjectScript record classes IRIS generates from RecordMap definitions"),
    ("EnsLib.SOAP.", "SOAP hosts run WSDL-generated ObjectScript proxy classes"),
    ("EnsLib.REST.", "REST hosts are ObjectScript URL maps and methods"),
    ("EnsLib.DICOM.", "it needs IRIS's DICOM stack (association contexts and DICOM documents)"),
    ("EnsLib.ITK.", "the NHS ITK framework is ObjectScript SOAP/WS-Addressing classes (deprecated by InterSystems)"),
    ("EnsLib.JMS.", "it is implemented over IRIS's Java External Language Server"),
    ("EnsLib.Kafka.", "it is implemented over IRIS's Java External Language Server"),
    ("EnsLib.SAP.", "it is implemented over IRIS's Java External Language Server"),
    ("EnsLib.CloudStorage.", "it is implemented over IRIS's Java External Language Server"),
    ("HS.", "it needs IRIS for Health (FHIR server, SDA3, HealthShare data)"),
    (
        "Ens.Alerting.",
        "managed alerts are ObjectScript rules over alerts stored in IRIS; route Ens.Alert to alert operations",
    ),
    ("Ens.Enterprise.", "enterprise monitoring is part of the IRIS runtime; HIE has its own API and metrics"),
    ("Ens.Alarm", "it is part of the IRIS runtime; HIE has its own timers"),
    ("Ens.ScheduleHandler", "it is part of the IRIS runtime; HIE has its own schedules"),
    ("Ens.MonitorService", "it is part of the IRIS runtime; HIE has its own monitoring (API, /metrics, alerts)"),
    ("Ens.ProductionMonitorService", "it is part of the IRIS runtime; HIE has its own monitoring (API, /metrics)"),
    ("EnsLib.Testing.Service", "it is part of the IRIS runtime (the Testing Service page)"),
    (
        "Ens.BusinessProcessBPL",
        "BPL is compiled to ObjectScript and keeps its context in IRIS; re-express it as routing rules or a pack process",
    ),
    (
        "Ens.BusinessProcess",
        "it is ObjectScript's abstract business process (OnRequest); port its logic to a pack class",
    ),
    (
        "Ens.BusinessService",
        "it is ObjectScript's abstract business service (OnProcessInput); port its logic to a pack class",
    ),
    (
        "Ens.BusinessOperation",
        "it is ObjectScript's abstract business operation (OnMessage); port its logic to a pack class",
    ),
];

/// Why `class` is not available in HIE, from the table alone.
pub fn listed(class: &str) -> Option<&'static str> {
    TABLE
        .iter()
        .find(|(name, _)| if name.ends_with('.') { class.starts_with(name) } else { class == *name })
        .map(|(_, why)| *why)
}

/// Why `class` is not available in HIE: the table, or, for a custom class defined in
/// `production`'s file or in the class files beside it, the reason of its base class.
pub fn reason(class: &str, production: &Path) -> Option<String> {
    if let Some(why) = listed(class) {
        return Some(why.to_string());
    }
    let base = base_class(class, production)?;
    let why = listed(&base)?;
    Some(format!("{class} extends {base}: {why}"))
}

/// The first base class of custom class `class`, read from the production file or the
/// `.cls`/`.xml` files of its directory's class folders.
fn base_class(class: &str, production: &Path) -> Option<String> {
    let dir = production.parent().unwrap_or_else(|| Path::new("."));
    let mut files = vec![production.to_path_buf()];
    for sub in hie_iris::catalog::CLASS_DIRS {
        let d = if sub.is_empty() { dir.to_path_buf() } else { dir.join(sub) };
        files.extend(hie_iris::catalog::files_in(&d, &["cls", "xml"]));
    }
    files.into_iter().take(MAX_FILES).find_map(|f| {
        let small = std::fs::metadata(&f).is_ok_and(|m| m.len() <= MAX_FILE);
        let text = if small { std::fs::read_to_string(&f).ok()? } else { return None };
        udl_base(&text, class).or_else(|| export_base(&text, class))
    })
}

/// `Class <class> Extends (A, B)` or `Extends A` in UDL: the first base.
fn udl_base(text: &str, class: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let rest = line.trim_start().strip_prefix("Class ")?.trim_start().strip_prefix(class)?;
        let rest = rest.trim_start().strip_prefix("Extends")?.trim_start();
        let rest = rest.strip_prefix('(').unwrap_or(rest);
        let first = rest.split([',', ')', ' ', '[', '{']).next()?.trim();
        (!first.is_empty()).then(|| first.to_string())
    })
}

/// `<Class name="<class>"> ... <Super>A,B</Super>` in a Studio export: the first base.
fn export_base(text: &str, class: &str) -> Option<String> {
    let start = text.find(&format!("<Class name=\"{class}\""))?;
    let rest = &text[start..];
    let end = rest.find("</Class>").unwrap_or(rest.len());
    let within = &rest[..end];
    let at = within.find("<Super>")? + "<Super>".len();
    let supers = &within[at..];
    let first = supers[..supers.find("</Super>")?].split(',').next()?.trim();
    (!first.is_empty()).then(|| first.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_pex_and_workflow_classes_are_listed_and_standard_or_custom_ones_are_not() {
        assert!(listed("EnsLib.JavaGateway.Service").is_some_and(|w| w.contains("Java gateway")));
        assert!(listed("EnsLib.PEX.BusinessOperation").is_some());
        assert!(listed("EnsLib.Workflow.Operation").is_some());
        assert!(listed("Ens.BusinessProcessBPL").is_some());
        assert!(listed("Ens.BusinessProcessBPLX").is_none(), "exact names match exactly");
        assert!(listed("EnsLib.HL7.Service.TCPService").is_none());
        assert!(listed("Acme.Custom").is_none());
    }

    #[test]
    fn a_custom_class_is_reported_by_its_base_in_udl_or_in_a_studio_export() {
        let udl =
            "/// x\nClass Trust.ADT.Process Extends (Ens.BusinessProcessBPL, Other) [ ClassType = persistent ]\n{\n}\n";
        assert_eq!(udl_base(udl, "Trust.ADT.Process").as_deref(), Some("Ens.BusinessProcessBPL"));
        assert_eq!(
            udl_base("Class Trust.Op Extends Ens.BusinessOperation\n", "Trust.Op").as_deref(),
            Some("Ens.BusinessOperation")
        );
        assert_eq!(udl_base(udl, "Trust.ADT"), None, "a prefix of the name is not the class");
        let xml = r#"<Export><Class name="Trust.BPL"><Super>Ens.BusinessProcessBPL</Super></Class></Export>"#;
        assert_eq!(export_base(xml, "Trust.BPL").as_deref(), Some("Ens.BusinessProcessBPL"));
        assert_eq!(export_base(xml, "Trust.Other"), None);
    }
}
