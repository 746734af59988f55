//! The IRIS loader end to end: each container, lines in the real file, and the errors.

use super::*;
use crate::production::model::SettingTarget;
use std::path::PathBuf;

/// Loads `text` as if read from `name`.
fn load(name: &str, text: &str) -> Result<ProductionConfig, LoadError> {
    let file: Arc<Path> = Arc::from(Path::new(name));
    load_iris(&file, text)
}

/// The line of a `LoadError::Syntax` and its message.
fn syntax_error(result: Result<ProductionConfig, LoadError>) -> (u32, String) {
    match result {
        Err(LoadError::Syntax { location, message }) => (location.line, message),
        Err(other) => panic!("expected a syntax error, got {other}"),
        Ok(p) => panic!("expected a syntax error, got production {}", p.name),
    }
}

/// The 1-based line of the first line of `text` containing `needle`.
fn line_containing(text: &str, needle: &str) -> u32 {
    let index = text.lines().position(|l| l.contains(needle)).expect("needle in text");
    u32::try_from(index).expect("small") + 1
}

const SAMPLE_06: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../config/samples/iris/06_irisdemo-demo-readmission_risksrv_IRISDemo.Production.cls"
));
const SAMPLE_07: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../config/samples/iris/07_irisdemo-demo-readmission_hisdb_IRISDemo.Production.cls"
));

#[test]
fn udl_sample_06_with_custom_base_class_loads_all_items_and_settings() {
    let p = load("06.cls", SAMPLE_06).expect("sample 06 loads");
    assert_eq!(p.format, SourceFormat::IrisUdl);
    assert_eq!(p.name, "IRISDemo.Production");
    assert_eq!(p.description, "");
    assert_eq!(p.location.line, 6);
    let names: Vec<&str> = p.items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "HIS HL7v2 File Feed Router",
            "LACE SOAP Operation",
            "HIS HL7v2 TCP Feed",
            "Risk Alert Email Operation",
            "Care Team",
            "Readmission Risk Process",
            "Readmission ML Model Consumer",
            "HisDB Encounter Update Operation",
        ]
    );
    let pool = p.setting("ActorPoolSize").expect("ActorPoolSize");
    assert_eq!((pool.value.as_str(), pool.target, pool.location.line), ("2", SettingTarget::Host, 8));

    let router = p.item("HIS HL7v2 File Feed Router").expect("router");
    assert_eq!(router.class, "EnsLib.HL7.MsgRouter.RoutingEngine");
    assert!(router.enabled);
    assert_eq!(router.pool_size.as_deref(), Some("1"));
    assert_eq!(router.location.line, 9);
    assert_eq!(router.pool_size_location.line, 9);
    let validation = router.host_setting("Validation").expect("Validation");
    assert_eq!((validation.value.as_str(), validation.location.line), ("", 10));
    let rule = router.host_setting("BusinessRuleName").expect("rule");
    assert_eq!(rule.value, "IRISDemo.HISHL7v2FileFeedRoutingRule");
    assert_eq!(rule.location.line, 11);

    let feed = p.item("HIS HL7v2 TCP Feed").expect("feed");
    assert_eq!(feed.class, "EnsLib.HL7.Service.TCPService");
    assert_eq!(feed.location.line, line_containing(SAMPLE_06, "Name=\"HIS HL7v2 TCP Feed\""));
    let port = feed.adapter_setting("Port").expect("Port");
    assert_eq!((port.value.as_str(), port.location.line), ("9999", 19));
    assert_eq!(feed.host_setting("TargetConfigNames").map(|s| s.value.as_str()), Some("HIS HL7v2 File Feed Router"));
    let url = p.item("HisDB Encounter Update Operation").and_then(|i| i.adapter_setting("URL"));
    assert_eq!(
        url.map(|s| (s.value.as_str(), s.location.line)),
        Some(("/csp/appint/rest/encounter/updateprobabilities", 40))
    );
    assert!(p.items.iter().all(|i| i.comment.is_empty() && i.category.is_empty()));
}

#[test]
fn udl_sample_07_loads_items_with_lines() {
    let p = load("07.cls", SAMPLE_07).expect("sample 07 loads");
    assert_eq!(p.format, SourceFormat::IrisUdl);
    assert_eq!(p.items.len(), 3);
    let op = p.item("Readmission Risk HL7 Service").expect("op");
    assert_eq!(op.class, "EnsLib.HL7.Operation.TCPOperation");
    assert_eq!(op.location.line, 9);
    let ip = op.adapter_setting("IPAddress").expect("IPAddress");
    assert_eq!((ip.value.as_str(), ip.location.line), ("risksrv", 10));
    assert_eq!(op.adapter_setting("Port").map(|s| s.location.line), Some(11));
    let process = p.item("Application HL7 Trigger Process").expect("process");
    assert_eq!(process.class, "IRISDemo.BP.HL7AppTrigger.Process");
    assert_eq!(process.location.line, 15);
    assert!(process.settings.is_empty());
}

const BARE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment -->
<Production Name="Demo.Production" TestingEnabled="true" LogGeneralTraceEvents="false">
  <Description>Demo &amp; test</Description>
  <ActorPoolSize>2</ActorPoolSize>
  <Setting Target="Host" Name="Durability">fsync</Setting>
  <Setting Name="PluginDirs">../packs, extra</Setting>
  <Item Name="In" ClassName="EnsLib.HL7.Service.TCPService" PoolSize="3" Enabled="false"
        Foreground="false" Comment="inbound" Category="HL7,ADT" Schedule="" DisableErrorTraps="true">
    <Setting Target="Adapter" Name="Port">2575</Setting>
    <Setting Name="ReadTimeout">
      15
    </Setting>
    <Setting Target="Host" Name="TargetConfigNames">Router</Setting>
    <Setting Target="Host" Name="Empty"/>
    <Setting Target="Host" Name="Separators"><![CDATA[|^~\&]]></Setting>
  </Item>
  <Item ClassName="EnsLib.HL7.MsgRouter.RoutingEngine" Enabled="1"/>
</Production>
"#;

#[test]
fn bare_production_with_declaration_loads() {
    let p = load("/prod/demo.xml", BARE).expect("bare loads");
    assert_eq!(p.format, SourceFormat::IrisXml);
    assert_eq!(p.name, "Demo.Production");
    assert_eq!(p.description, "Demo & test");
    assert_eq!(p.location.line, 3);
    assert_eq!(p.setting("Durability").map(|s| (s.target, s.location.line)), Some((SettingTarget::Host, 6)));
    assert_eq!(p.items.len(), 2);
    let item = &p.items[0];
    assert_eq!((item.name.as_str(), item.enabled), ("In", false));
    assert_eq!(item.pool_size.as_deref(), Some("3"));
    assert_eq!((item.comment.as_str(), item.category.as_str()), ("inbound", "HL7,ADT"));
    assert_eq!(item.location.line, 8);
    let lines: Vec<(&str, u32)> = item.settings.iter().map(|s| (s.name.as_str(), s.location.line)).collect();
    assert_eq!(
        lines,
        [("Port", 10), ("ReadTimeout", 11), ("TargetConfigNames", 14), ("Empty", 15), ("Separators", 16)]
    );
    assert_eq!(item.any_setting("ReadTimeout").map(|s| s.value.as_str()), Some("15"));
    assert_eq!(item.host_setting("Empty").map(|s| s.value.as_str()), Some(""));
    assert_eq!(item.host_setting("Separators").map(|s| s.value.as_str()), Some("|^~\\&"));
    assert_eq!(p.items[1].location.line, 18);
    assert!(p.items[1].enabled);
}

#[test]
fn setting_target_defaults_to_adapter() {
    let p = load("demo.xml", BARE).expect("bare loads");
    let timeout = p.items[0].any_setting("ReadTimeout").expect("ReadTimeout");
    assert_eq!(timeout.target, SettingTarget::Adapter);
    let dirs = p.setting("PluginDirs").expect("production-level PluginDirs kept");
    assert_eq!(dirs.target, SettingTarget::Adapter);
}

#[test]
fn item_name_defaults_to_class_name() {
    let p = load("demo.xml", BARE).expect("bare loads");
    assert_eq!(p.items[1].name, "EnsLib.HL7.MsgRouter.RoutingEngine");
    assert_eq!(p.items[1].class, "EnsLib.HL7.MsgRouter.RoutingEngine");
    assert_eq!(p.items[1].pool_size, None);
    assert_eq!(p.items[1].pool_size_location.line, 18);
}

#[test]
fn plugin_dirs_setting_resolves_relative_to_the_file() {
    let p = load("/prod/demo.xml", BARE).expect("bare loads");
    assert_eq!(p.plugin_dirs, [PathBuf::from("/prod/../packs"), PathBuf::from("/prod/extra")]);
}

/// A Studio export whose XData holds a CDATA section of its own, so IRIS split the outer
/// CDATA at the inner `]]>`.
const EXPORT: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>
<Export generator=\"IRIS\" version=\"26\" zv=\"IRIS for UNIX 2023.1\" ts=\"2024-01-01 00:00:00\">
<Class name=\"Demo.Production\">
<Super>Demo.BaseProduction</Super>
<TimeChanged>66000,1</TimeChanged>
<XData name=\"Other\"><Data><![CDATA[<Production Name=\"Wrong\"/>]]></Data></XData>
<XData name=\"ProductionDefinition\">
<Data><![CDATA[
<Production Name=\"Demo.Production\">
  <Item Name=\"In\" ClassName=\"EnsLib.HL7.Service.TCPService\">
    <Setting Target=\"Host\" Name=\"Separators\"><![CDATA[|^~\\&]]]]><![CDATA[></Setting>
    <Setting Target=\"Adapter\" Name=\"Port\">2575</Setting>
    <Setting Name=\"Note\">a ]]]]><![CDATA[> b</Setting>
  </Item>
</Production>
]]></Data>
</XData>
</Class>
<Checksum value=\"123\"/>
</Export>
";

#[test]
fn studio_export_with_split_cdata_loads_with_file_lines() {
    let p = load("demo.xml", EXPORT).expect("export loads");
    assert_eq!(p.format, SourceFormat::IrisStudioExport);
    assert_eq!(p.name, "Demo.Production");
    assert_eq!(p.location.line, line_containing(EXPORT, "<Production Name=\"Demo.Production\">"));
    let item = p.item("In").expect("item");
    assert_eq!(item.location.line, 10);
    let sep = item.host_setting("Separators").expect("Separators");
    assert_eq!((sep.value.as_str(), sep.location.line), ("|^~\\&", 11));
    let port = item.adapter_setting("Port").expect("Port");
    assert_eq!((port.value.as_str(), port.location.line), ("2575", 12));
    let note = item.adapter_setting("Note").expect("Note");
    assert_eq!((note.value.as_str(), note.location.line), ("a ]]> b", 13));
}

#[test]
fn studio_export_production_name_defaults_to_class_name() {
    let text = EXPORT.replace("<Production Name=\"Demo.Production\">", "<Production>");
    let p = load("demo.xml", &text).expect("export loads");
    assert_eq!(p.name, "Demo.Production");
}

#[test]
fn studio_export_with_escaped_data_instead_of_cdata_loads() {
    let text = "<Export>\n<Class name=\"A.P\">\n<XData name=\"ProductionDefinition\">\n\
                    <Data>&lt;Production&gt;\n&lt;Item ClassName=\"X\"/&gt;\n&lt;/Production&gt;</Data>\n\
                    </XData>\n</Class>\n</Export>\n";
    let p = load("a.xml", text).expect("export loads");
    assert_eq!((p.name.as_str(), p.location.line), ("A.P", 4));
    assert_eq!(p.items[0].location.line, 5);
}

#[test]
fn studio_export_without_production_definition_is_rejected() {
    let text = "<Export><Class name=\"A\"><Super>%RegisteredObject</Super></Class></Export>";
    let (line, message) = syntax_error(load("a.xml", text));
    assert_eq!(line, 1);
    assert!(message.contains("no <Production> element found"), "{message}");
}

#[test]
fn malformed_xml_in_udl_names_the_file_line() {
    let text = "Class A.P Extends Ens.Production\n{\n\nXData ProductionDefinition\n{\n\
                    <Production Name=\"A.P\">\n  <Item Name=\"x\" ClassName=\"Y\">\n  </Itm>\n\
                    </Production>\n}\n}\n";
    let (line, message) = syntax_error(load("a.cls", text));
    assert_eq!(line, 8);
    assert!(message.starts_with("malformed XML:"), "{message}");
    assert!(message.contains("</Item>") && message.contains("</Itm>"), "{message}");
}

#[test]
fn malformed_xml_in_studio_export_names_the_file_line() {
    let text = EXPORT
        .replace("<Setting Target=\"Adapter\" Name=\"Port\">2575</Setting>", "<Setting Name=\"Port\">2575</Setting");
    let (line, message) = syntax_error(load("a.xml", &text));
    assert_eq!(line, 12, "{message}");
    assert!(message.starts_with("malformed XML:"), "{message}");
}

#[test]
fn unclosed_production_is_reported() {
    let (line, message) = syntax_error(load("a.xml", "<Production Name=\"A\">\n  <Item ClassName=\"X\">\n"));
    assert!(line == 1 || line == 2, "{line} {message}");
    assert!(message.contains("not closed") || message.contains("not found"), "{message}");
}

#[test]
fn enabled_must_be_a_boolean() {
    let text = "<Production Name=\"A\">\n<Item ClassName=\"X\" Enabled=\"maybe\"/>\n</Production>";
    let (line, message) = syntax_error(load("a.xml", text));
    assert_eq!(line, 2);
    assert!(message.contains("Enabled=\"maybe\""), "{message}");
    for (spelling, enabled) in [("0", false), ("no", false), ("true", true), ("on", true)] {
        let ok = load("a.xml", &text.replace("maybe", spelling)).expect("a boolean");
        assert_eq!(ok.items[0].enabled, enabled, "{spelling}");
    }
}

#[test]
fn item_without_class_name_is_rejected() {
    let text = "<Production Name=\"A\">\n\n<Item Name=\"X\"/>\n</Production>";
    let (line, message) = syntax_error(load("a.xml", text));
    assert_eq!(line, 3);
    assert!(message.contains("ClassName"), "{message}");
}

#[test]
fn sub_production_is_rejected_with_its_line() {
    let text = "<Production Name=\"A\">\n<SubProduction Name=\"B\"/>\n</Production>";
    let (line, message) = syntax_error(load("a.xml", text));
    assert_eq!(line, 2);
    assert!(message.contains("SubProduction is not supported"), "{message}");
}

#[test]
fn unknown_element_is_rejected_with_its_line() {
    let text = "<Production Name=\"A\">\n<Item ClassName=\"X\">\n<Settings Name=\"B\"/>\n</Item>\n</Production>";
    let (line, message) = syntax_error(load("a.xml", text));
    assert_eq!(line, 3);
    assert!(message.contains("<Settings>"), "{message}");
}

#[test]
fn invalid_target_is_rejected() {
    let text = "<Production Name=\"A\">\n<Setting Name=\"B\" Target=\"Both\">1</Setting>\n</Production>";
    let (line, message) = syntax_error(load("a.xml", text));
    assert_eq!(line, 2);
    assert!(message.contains("Target=\"Both\""), "{message}");
}

#[test]
fn file_without_production_is_rejected() {
    let (line, message) = syntax_error(load("a.cls", "Class A Extends %Persistent\n{\n}\n"));
    assert_eq!(line, 1);
    assert!(message.contains("no <Production> element found"), "{message}");
    let (_, message) = syntax_error(load("a.xml", "<Other/>"));
    assert!(message.contains("no <Production> element found"), "{message}");
    let (_, message) = syntax_error(load("a.xml", ""));
    assert!(message.contains("no <Production> element found"), "{message}");
}

#[test]
fn content_after_bare_production_is_rejected() {
    let text = "<Production Name=\"A\"/>\n<Production Name=\"B\"/>\n";
    let (line, message) = syntax_error(load("a.xml", text));
    assert_eq!(line, 2);
    assert!(message.contains("after </Production>"), "{message}");
}

#[test]
fn udl_with_crlf_and_doc_comments_keeps_lines() {
    let text = "/// A production\r\nInclude Ensemble\r\n\r\nClass My.Prod Extends Ens.Production [ ProcedureBlock ]\r\n{\r\n\r\n\
                    XData ProductionDefinition [ XMLNamespace = \"x\" ]\r\n{\r\n<Production>\r\n\
                    <Item ClassName=\"A.B\" Name=\"N\">\r\n<Setting Name=\"S\">v\r\n w</Setting>\r\n</Item>\r\n</Production>\r\n}\r\n}\r\n";
    let p = load("a.cls", text).expect("loads");
    assert_eq!(p.name, "My.Prod");
    assert_eq!(p.location.line, 9);
    assert_eq!(p.items[0].location.line, 10);
    let s = &p.items[0].settings[0];
    assert_eq!((s.value.as_str(), s.location.line), ("v\n w", 11));
}
