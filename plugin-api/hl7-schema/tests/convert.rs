//! HL7 v2 ⇄ JSON and HL7 v2 ⇄ XML: loss-free round trips over every sample message, the
//! tricky corners of HL7 (escapes, custom separators, nulls, empty repetitions, Z-segments,
//! unknown versions, charsets), malformed input, and mutated messages that must never panic.
//! JSON gives back `normalise(m)`, XML `normalise_xml(m)` (HL7 v2.xml escapes: a lone
//! escape character comes back as `\E\`).

#![allow(clippy::unwrap_used)] // Test assertions.

mod common;

use common::{SAMPLES, hl7_files, sample};
use hie_hl7::{Message, parse, split_messages};
use hie_hl7_schema::convert::{
    ConvertError, from_json, from_json_value, from_xml, normalise, normalise_xml, to_json, to_json_pretty, to_xml,
    to_xml_pretty,
};
use hie_hl7_schema::{DocType, Registry};

/// Every conversion of `msg` (JSON and XML, compact and pretty) gives back `normalise(msg)`
/// (JSON) or `normalise_xml(msg)` (XML).
fn assert_round_trips(msg: &Message<'_>, doc: Option<&DocType>, what: &str) {
    let expected = normalise(msg);
    let expected_xml = normalise_xml(msg);
    for json in [to_json(msg, doc), to_json_pretty(msg, doc)] {
        let back = from_json(&json).unwrap_or_else(|e| panic!("{what}: {e}\n{json}"));
        assert_eq!(String::from_utf8_lossy(&back), String::from_utf8_lossy(&expected), "{what} (JSON)");
        assert_eq!(back, expected, "{what} (JSON bytes)");
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(from_json_value(&value).unwrap(), expected, "{what} (JSON value)");
    }
    for xml in [to_xml(msg, doc), to_xml_pretty(msg, doc)] {
        let back = from_xml(&xml).unwrap_or_else(|e| panic!("{what}: {e}\n{xml}"));
        assert_eq!(String::from_utf8_lossy(&back), String::from_utf8_lossy(&expected_xml), "{what} (XML)");
        assert_eq!(back, expected_xml, "{what} (XML bytes)");
    }
    // What comes back parses into the same segments, and converting that again is stable.
    let again = parse(&expected).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(again.segment_count(), msg.segment_count(), "{what}");
    for (a, b) in again.segments().zip(msg.segments()) {
        assert_eq!(a.raw(), b.raw(), "{what}");
    }
    assert_eq!(to_json(&again, doc), to_json(msg, doc), "{what}");
    assert_eq!(to_xml(&again, doc), to_xml(msg, doc), "{what}");
    // The XML normalisation changes no item's meaning: the same XML, and stable.
    let again = parse(&expected_xml).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(again.segment_count(), msg.segment_count(), "{what}");
    assert_eq!(to_xml(&again, doc), to_xml(msg, doc), "{what}");
    assert_eq!(normalise_xml(&again), expected_xml, "{what}");
}

fn round_trip_both(bytes: &[u8], what: &str) -> String {
    let msg = parse(bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
    let doc = Registry::new().resolve_message(None, &msg);
    assert_round_trips(&msg, None, what);
    assert_round_trips(&msg, doc.as_ref(), what);
    to_json(&msg, doc.as_ref())
}

#[test]
fn every_sample_message_round_trips_with_and_without_a_schema() {
    let registry = Registry::new();
    let files = hl7_files(SAMPLES);
    assert_eq!(files.len(), 11);
    let mut resolved = 0;
    let mut messages = 0;
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        // Batches and multi-message files: one conversion per message.
        for (i, m) in split_messages(&bytes).unwrap().into_iter().enumerate() {
            let msg = parse(m).unwrap();
            let doc = registry.resolve_message(None, &msg);
            resolved += usize::from(doc.is_some());
            messages += 1;
            assert_round_trips(&msg, None, &format!("{name} #{i} without schema"));
            assert_round_trips(&msg, doc.as_ref(), &format!("{name} #{i} with {doc:?}"));
            // The samples' escapes are all well formed: XML gives them back byte for byte.
            assert_eq!(normalise_xml(&msg), normalise(&msg), "{name} #{i}");
        }
    }
    assert_eq!(messages, 11);
    assert!(resolved >= 10, "only {resolved} samples resolved a DocType");
}

#[test]
fn normalisation_drops_the_bom_and_unifies_terminators_only() {
    let bytes = sample("fhirconv_ADT04-23_v23_bom.hl7");
    let msg = parse(&bytes).unwrap();
    let n = normalise(&msg);
    assert!(n.starts_with(b"MSH|"));
    assert!(!n.contains(&b'\n'));
    assert_eq!(n.iter().filter(|&&b| b == b'\r').count(), msg.segment_count());
    // Blank lines and trailing whitespace lines go; spaces inside a segment stay.
    let msg = parse(b"\xEF\xBB\xBF MSH|^~\\&|A \r\n\r\n  \nPID|1| x \n\n").unwrap();
    assert_eq!(normalise(&msg), b"MSH|^~\\&|A \rPID|1| x \r");
    assert_eq!(from_json(&to_json(&msg, None)).unwrap(), b"MSH|^~\\&|A \rPID|1| x \r");
}

#[test]
fn json_shape_with_a_schema() {
    let msg = parse(b"MSH|^~\\&|LAB|HOSP|||20240101||ORU^R01|MSG1|P|2.5\rPID|1||123^^^MRN~456||Doe^John\r").unwrap();
    let doc = Registry::new().resolve_message(None, &msg).unwrap();
    assert_eq!(
        to_json(&msg, Some(&doc)),
        concat!(
            r#"{"doctype":"2.5:ORU_R01","segments":["#,
            r#"{"segment":"MSH","path":"MSH","1 FieldSeparator":"|","2 EncodingCharacters":"^~\\&","#,
            r#""3 SendingApplication":{"1 NamespaceID":"LAB"},"4 SendingFacility":{"1 NamespaceID":"HOSP"},"#,
            r#""7 DateTimeOfMessage":{"1 Time":"20240101"},"9 MessageType":{"1 MessageCode":"ORU","2 TriggerEvent":"R01"},"#,
            r#""10 MessageControlID":"MSG1","11 ProcessingID":{"1 ProcessingID":"P"},"12 VersionID":{"1 VersionID":"2.5"}},"#,
            r#"{"segment":"PID","path":"PIDgrpgrp(1).PIDgrp.PID","1 SetIDPID":"1","#,
            r#""3 PatientIdentifierList":[{"1 IDNumber":"123","4 AssigningAuthority":{"1 NamespaceID":"MRN"}},{"1 IDNumber":"456"}],"#,
            r#""5 PatientName":[{"1 FamilyName":{"1 Surname":"Doe"},"2 GivenName":"John"}]}]}"#
        )
    );
}

#[test]
fn xml_shape_with_a_schema() {
    let msg = parse(b"MSH|^~\\&|LAB|HOSP|||20240101||ORU^R01|MSG1|P|2.5\rPID|1||123^^^MRN~456||Doe^John\r").unwrap();
    let doc = Registry::new().resolve_message(None, &msg).unwrap();
    assert_eq!(
        to_xml(&msg, Some(&doc)),
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?><ORU_R01 xmlns="urn:hl7-org:v2xml">"#,
            r"<MSH><MSH.1>|</MSH.1><MSH.2>^~\&amp;</MSH.2><MSH.3><HD.1>LAB</HD.1></MSH.3><MSH.4><HD.1>HOSP</HD.1></MSH.4>",
            r"<MSH.7><TS.1>20240101</TS.1></MSH.7><MSH.9><MSG.1>ORU</MSG.1><MSG.2>R01</MSG.2></MSH.9>",
            r"<MSH.10>MSG1</MSH.10><MSH.11><PT.1>P</PT.1></MSH.11><MSH.12><VID.1>2.5</VID.1></MSH.12></MSH>",
            r"<ORU_R01.PATIENT_RESULT><ORU_R01.PATIENT><PID><PID.1>1</PID.1>",
            r"<PID.3><CX.1>123</CX.1><CX.4><HD.1>MRN</HD.1></CX.4></PID.3><PID.3><CX.1>456</CX.1></PID.3>",
            r"<PID.5><XPN.1><FN.1>Doe</FN.1></XPN.1><XPN.2>John</XPN.2></PID.5></PID>",
            r"</ORU_R01.PATIENT></ORU_R01.PATIENT_RESULT></ORU_R01>"
        )
    );
}

#[test]
fn json_keeps_escape_sequences_raw() {
    let bytes = b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\r\
OBX|1|TX|||a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\X0D0A\\g\\H\\bold\\N\\\\.br\\\\Zfoo\\ C:\\temp \\\r";
    let json = round_trip_both(bytes, "escapes");
    assert!(
        json.contains(r#""a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\X0D0A\\g\\H\\bold\\N\\\\.br\\\\Zfoo\\ C:\\temp \\""#),
        "{json}"
    );
    // JSON gives back every byte, the lone escape characters included.
    let msg = parse(bytes).unwrap();
    assert_eq!(from_json(&to_json(&msg, None)).unwrap(), msg.as_bytes());
}

#[test]
fn delimiter_escapes_become_literal_characters_and_formatting_escapes_become_escape_elements() {
    let bytes = b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\r\
OBX|1|TX|||a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\X0D0A\\g\\H\\bold\\N\\\\.br\\\\.sp 2\\\\.in+4\\\\Zfoo\\\r";
    round_trip_both(bytes, "v2.xml escapes");
    let msg = parse(bytes).unwrap();
    let xml = to_xml(&msg, None);
    assert!(
        xml.contains(concat!(
            r#"<OBX.5>a|b^c&amp;d~e\f<escape V="X0D0A"/>g<escape V="H"/>bold<escape V="N"/>"#,
            r#"<escape V=".br"/><escape V=".sp 2"/><escape V=".in+4"/><escape V="Zfoo"/></OBX.5>"#
        )),
        "{xml}"
    );
    // Every sequence is well formed: the round trip is byte-exact.
    assert_eq!(from_xml(&xml).unwrap(), msg.as_bytes());
    // With a schema OBX-5 is a TX; the value is the same. Pretty output adds no whitespace inside.
    let doc = Registry::new().resolve_message(None, &msg).unwrap();
    let pretty = to_xml_pretty(&msg, Some(&doc));
    assert!(pretty.contains(r#"<OBX.5>a|b^c&amp;d~e\f<escape V="X0D0A"/>g<escape V="H"/>"#), "{pretty}");
    assert_eq!(from_xml(&pretty).unwrap(), msg.as_bytes());
    // A sample: ORU's `\T\` is an `&` in the XML.
    let bytes = sample("fhirconv_ORU-R01-01_v251.hl7");
    let msg = parse(&bytes).unwrap();
    let xml = to_xml(&msg, None);
    assert!(xml.contains("E.coli O157:H7 &amp; other STECs"), "{xml}");
    assert!(!xml.contains(r"\T\"), "{xml}");
    assert_eq!(from_xml(&xml).unwrap(), normalise(&msg));
}

#[test]
fn a_lone_escape_character_comes_back_as_the_escape_escape() {
    let bytes = b"MSH|^~\\&|A\rNTE|1|C:\\temp\\F\\x|a\\|\\Q\\|\\\\|x^\\X0\\&\\.sp-1\\\r";
    let msg = parse(bytes).unwrap();
    let xml = to_xml(&msg, None);
    assert!(xml.contains(r"<NTE.2>C:\temp|x</NTE.2><NTE.3>a\</NTE.3><NTE.4>\Q\</NTE.4><NTE.5>\\</NTE.5>"), "{xml}");
    assert!(xml.contains(r"<NTE.6.2><NTE.6.2.1>\X0\</NTE.6.2.1><NTE.6.2.2>\.sp-1\</NTE.6.2.2></NTE.6.2>"), "{xml}");
    let expected: &[u8] = b"MSH|^~\\&|A\rNTE|1|C:\\E\\temp\\F\\x|a\\E\\|\\E\\Q\\E\\|\\E\\\\E\\|\
x^\\E\\X0\\E\\&\\E\\.sp-1\\E\\\r";
    assert_eq!(String::from_utf8_lossy(&from_xml(&xml).unwrap()), String::from_utf8_lossy(expected));
    assert_eq!(normalise_xml(&msg), expected);
    round_trip_both(bytes, "lone escapes");
    // JSON keeps them as they are.
    assert_eq!(from_json(&to_json(&msg, None)).unwrap(), msg.as_bytes());
    // HL7 reads the same text from both.
    let back = parse(expected).unwrap();
    for n in 2..=5 {
        let path = format!("NTE-{n}");
        assert_eq!(back.value_str(&path).unwrap(), msg.value_str(&path).unwrap(), "{path}");
    }
}

#[test]
fn literal_separators_in_xml_text_are_escaped_on_the_way_back() {
    let xml = r#"<X><MSH><MSH.1>|</MSH.1><MSH.2>^~\&amp;</MSH.2></MSH>
        <NTE><NTE.3>Fasting &amp; rested | 5^6 ~ C:\temp</NTE.3><NTE.4><escape V="H"/>x<escape V=".br"/></NTE.4></NTE></X>"#;
    assert_eq!(
        String::from_utf8(from_xml(xml).unwrap()).unwrap(),
        "MSH|^~\\&\rNTE|||Fasting \\T\\ rested \\F\\ 5\\S\\6 \\R\\ C:\\E\\temp|\\H\\x\\.br\\\r"
    );
    // With the message's own delimiters; `|` and `\` are ordinary characters there.
    let xml = "<X><MSH><MSH.1>*</MSH.1><MSH.2>!@$%#</MSH.2></MSH><NTE><NTE.1>a*b!c@d$e%f#g|h\\i</NTE.1></NTE></X>";
    assert_eq!(from_xml(xml).unwrap(), b"MSH*!@$%#\rNTE*a$F$b$S$c$R$d$E$e$T$f#g|h\\i\r");
    // JSON still refuses a separator of the value's level, naming the escape to write.
    let e = from_json(r#"{"segments":[{"segment":"MSH","1":"|","2":"^~\\&"},{"segment":"NTE","3":"a|b"}]}"#);
    assert!(e.unwrap_err().to_string().contains("write it as the escape sequence \\F\\"));
}

#[test]
fn custom_separators_and_the_truncation_character() {
    let json = round_trip_both(b"MSH|^~\\&#|A|B|C|D|20240101||ADT^A01|1|P|2.7\rPID|1||12#3^^^X~\\P\\||A&B\r", "trunc");
    assert!(json.contains(r#""2 EncodingCharacters":"^~\\&#""#), "{json}");
    let bytes = b"MSH*!@$%*APP*FAC*R*RF*20240101**ADT!A01*1*P*2.5\rPID*1**7!!!MRN@8**Doe!J%r$F$x\r";
    let json = round_trip_both(bytes, "MSH*!@$%");
    assert!(json.contains(r#""1 FieldSeparator":"*","2 EncodingCharacters":"!@$%""#), "{json}");
    assert!(
        json.contains(r#""5 PatientName":[{"1 FamilyName":{"1 Surname":"Doe"},"2 GivenName":{"1":"J","2":"r$F$x"}}]"#),
        "{json}"
    );
    let msg = parse(bytes).unwrap();
    let xml = to_xml(&msg, None);
    assert!(xml.contains("<MSH.1>*</MSH.1><MSH.2>!@$%</MSH.2>"), "{xml}");
    // A value holding a separator of its level is refused with the escape to use instead.
    let bad = json.replace(r#""1 Surname":"Doe""#, r#""1 Surname":"Do%e""#);
    let e = from_json(&bad).unwrap_err();
    assert!(e.to_string().contains("subcomponent separator '%'; write it as the escape sequence $T$"), "{e}");
}

#[test]
fn empty_fields_hl7_nulls_and_trailing_empties_are_kept() {
    let bytes = b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\rPID|1||\"\"||^^|\"\"^x^^|\rPV1\rPV2|\rNK1|||\r";
    let json = round_trip_both(bytes, "nulls");
    let msg = parse(bytes).unwrap();
    let plain = to_json(&msg, None);
    assert!(
        plain.contains(r#"{"segment":"PID","1":"1","3":"\"\"","5":{"3":""},"6":{"1":"\"\"","2":"x","4":""},"7":""}"#),
        "{plain}"
    );
    // `PV1` has no fields, `PV2|` one empty field, `NK1|||` three.
    assert!(plain.contains(r#"{"segment":"PV1"},{"segment":"PV2","1":""},{"segment":"NK1","3":""}"#), "{plain}");
    // With the schema, CX is composite and PID-3 repeats: the null is component 1 of repetition 1.
    assert!(json.contains(r#""3 PatientIdentifierList":[{"1 IDNumber":"\"\""}]"#), "{json}");
    let xml = to_xml(&msg, None);
    assert!(xml.contains(r#"<PID.3>""</PID.3><PID.5><PID.5.3/></PID.5>"#), "{xml}");
    assert!(xml.contains("<PV1></PV1><PV2><PV2.1/></PV2><NK1><NK1.3/></NK1>"), "{xml}");
}

#[test]
fn repetitions_with_empty_members() {
    let bytes = b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\rPID|1||~a~~|~||x~\r";
    round_trip_both(bytes, "empty repetitions");
    let msg = parse(bytes).unwrap();
    let plain = to_json(&msg, None);
    assert!(plain.contains(r#""3":["","a","",""],"4":["",""],"6":["x",""]"#), "{plain}");
    let xml = to_xml(&msg, None);
    assert!(xml.contains("<PID.3/><PID.3>a</PID.3><PID.3/><PID.3/><PID.4/><PID.4/><PID.6>x</PID.6><PID.6/>"), "{xml}");
}

#[test]
fn z_segments_and_unexpected_segments_keep_their_place() {
    let bytes = b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\rEVN|A01\rPID|1||7\rZPI|1|extra^x\rPV1|1|I\rZZ9\r";
    let json = round_trip_both(bytes, "Z-segments");
    assert!(json.contains(r#"{"segment":"ZPI","path":"ZPI","1":"1","2":{"1":"extra","2":"x"}}"#), "{json}");
    let msg = parse(bytes).unwrap();
    let doc = Registry::new().resolve_message(None, &msg).unwrap();
    let xml = to_xml(&msg, Some(&doc));
    assert!(
        xml.contains("<ZPI><ZPI.1>1</ZPI.1><ZPI.2><ZPI.2.1>extra</ZPI.2.1><ZPI.2.2>x</ZPI.2.2></ZPI.2></ZPI>"),
        "{xml}"
    );
    assert!(xml.contains("<ZZ9></ZZ9></ADT_A01>"), "{xml}");
}

#[test]
fn unknown_version_gives_numbers_only() {
    let bytes = b"MSH|^~\\&|A|B|C|D|20240101||ZZZ^Z99|1|P|9.9\rZAB|1|x^y\r";
    let msg = parse(bytes).unwrap();
    assert!(Registry::new().resolve_message(None, &msg).is_none());
    let json = round_trip_both(bytes, "unknown version");
    assert_eq!(
        json,
        r#"{"segments":[{"segment":"MSH","1":"|","2":"^~\\&","3":"A","4":"B","5":"C","6":"D","7":"20240101","9":{"1":"ZZZ","2":"Z99"},"10":"1","11":"P","12":"9.9"},{"segment":"ZAB","1":"1","2":{"1":"x","2":"y"}}]}"#
    );
    let xml = to_xml(&msg, None);
    assert!(
        xml.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?><ZZZ_Z99 xmlns="urn:hl7-org:v2xml"><MSH>"#),
        "{xml}"
    );
}

#[test]
fn non_utf8_messages_round_trip_byte_exact() {
    // Declared Latin-1, Latin-9, and undeclared invalid UTF-8 (read as Latin-1).
    let msh = format!("MSH|^~\\&{}", "|".repeat(16));
    let cases: [Vec<u8>; 3] = [
        [msh.as_bytes(), b"8859/1\rPID|1||M\xfcller\r"].concat(),
        [msh.as_bytes(), b"8859/15\rPID|1||\xa4 \xbd\r"].concat(),
        b"MSH|^~\\&|A\rPID|1||\xff\xfe\xc3\r".to_vec(),
    ];
    for (i, bytes) in cases.iter().enumerate() {
        let json = round_trip_both(bytes, &format!("charset case {i}"));
        assert!(json.contains("\"encoding\":\"iso-8859-1"), "{json}");
    }
    let msg = parse(&cases[1]).unwrap();
    assert!(to_json(&msg, None).contains(r#""3":"€ œ""#));
    assert!(to_xml(&msg, None).contains(r#"encoding="iso-8859-15""#));
    // A character the declared encoding lacks is an error, not a `?`.
    let e = from_json(r#"{"encoding":"iso-8859-1","segments":[{"segment":"MSH","1":"|","2":"^~\\&","3":"€"}]}"#);
    assert!(matches!(e, Err(ConvertError::Unencodable { ch: '€', .. })), "{e:?}");
}

#[test]
fn control_characters_become_hex_escapes_in_xml_only() {
    let bytes = b"MSH|^~\\&|A\rPID|1|a\x01b\x1fc\td\r";
    let msg = parse(bytes).unwrap();
    assert_eq!(from_json(&to_json(&msg, None)).unwrap(), normalise(&msg));
    let xml = to_xml(&msg, None);
    assert!(xml.contains(r#"<PID.2>a<escape V="X01"/>b<escape V="X1F"/>c	d</PID.2>"#), "{xml}");
    assert_eq!(from_xml(&xml).unwrap(), b"MSH|^~\\&|A\rPID|1|a\\X01\\b\\X1F\\c\td\r");
    assert_eq!(from_xml(&xml).unwrap(), normalise_xml(&msg));
}

#[test]
fn readers_need_no_schema_and_accept_hand_written_input() {
    let json = r#"{"segments":[
        {"segment":"MSH","2":"^~\\&","1":"|","9 MessageType":"ADT^A01"},
        {"segment":"PID","5 anything":[{"2":"John","1":{"1":"Doe"}}],"3":"a~b"}]}"#;
    assert_eq!(from_json(json).unwrap(), b"MSH|^~\\&|||||||ADT^A01\rPID|||a~b||Doe^John\r");
    let xml = r#"<v2:X xmlns:v2="urn:hl7-org:v2xml"><v2:MSH><v2:MSH.1>|</v2:MSH.1><v2:MSH.2>^~\&amp;</v2:MSH.2></v2:MSH>
        <v2:G><v2:PID><v2:PID.3><![CDATA[a&b]]></v2:PID.3><v2:PID.5><v2:XPN.1>Doe</v2:XPN.1><v2:XPN.2>J<v2:escape V="H"/>
</v2:XPN.2></v2:PID.5></v2:PID></v2:G></v2:X>"#;
    // XML text is literal (`&` is `\T\`); a line break inside a value is an error.
    assert!(matches!(from_xml(xml), Err(ConvertError::LineBreak { .. })), "{:?}", from_xml(xml));
    let xml = xml.replace("/>\n", "/>");
    assert_eq!(from_xml(&xml).unwrap(), b"MSH|^~\\&\rPID|||a\\T\\b||Doe^J\\H\\\r");
}

#[test]
fn malformed_json_gives_errors() {
    let msh = r#"{"segment":"MSH","1":"|","2":"^~\\&"}"#;
    let bad = [
        String::new(),
        "null".into(),
        "{".into(),
        r#"{"segments":{}}"#.into(),
        r#"{"segments":[1]}"#.into(),
        r#"{"segments":[{"segment":"PID"}]}"#.into(),
        format!(r#"{{"segments":[{msh},{{"segment":"PID","1":{{}}}}]}}"#),
        format!(r#"{{"segments":[{msh},{{"segment":"PID","1":[]}}]}}"#),
        format!(r#"{{"segments":[{msh},{{"segment":"PID","1":null}}]}}"#),
        format!(r#"{{"segments":[{msh},{{"segment":"PID","1":"a\rb"}}]}}"#),
        format!(r#"{{"segments":[{msh},{{"segment":"PID","99999999":"x"}}]}}"#),
        format!(r#"{{"segments":[{msh},{{"segment":"P|D"}}]}}"#),
        format!(r#"{{"segments":[{msh},{{"segment":"PID","1":"a","segment":"PID"}}]}}"#),
        format!(r#"{{"segments":[{msh}],"segments":[]}}"#),
        r#"{"segments":[{"segment":"MSH","1":"||","2":"^~\\&"}]}"#.into(),
        r#"{"segments":[{"segment":"MSH","1":"|","2":{"1":"^"}}]}"#.into(),
        r#"{"segments":[{"segment":"MSH","1":"|","2":"^~\\"}]}"#.into(),
        r#"{"encoding":"ebcdic","segments":[]}"#.into(),
        "[".repeat(10_000),
        format!(r#"{{"segments":[{msh},{{"segment":"PID","1":{}}}]}}"#, "[".repeat(10_000)),
    ];
    for b in &bad {
        let e = from_json(b).expect_err(b);
        assert!(!e.to_string().is_empty());
    }
    let e = from_json(&format!(r#"{{"segments":[{msh},{{"segment":"PID","99999999":"x"}}]}}"#)).unwrap_err();
    assert!(matches!(e, ConvertError::TooLarge { .. }), "{e}");
    // Every truncation of a real conversion is an error, never a panic.
    let bytes = sample("pyhl7_rep_subcomponents.hl7");
    let msg = parse(&bytes).unwrap();
    let json = to_json(&msg, None);
    for cut in (0..json.len()).filter(|&i| json.is_char_boundary(i)) {
        assert!(from_json(&json[..cut]).is_err(), "{}", &json[..cut]);
    }
}

#[test]
fn malformed_xml_gives_errors() {
    let msh = r"<MSH><MSH.1>|</MSH.1><MSH.2>^~\&amp;</MSH.2></MSH>";
    let bad = [
        String::new(),
        "<".into(),
        "<X>".into(),
        "<X></Y>".into(),
        format!("<X>{msh}<PID><PID.1>a</PID.1></PID>"),
        format!("<X>{msh}<PID><PID.1 a=>a</PID.1></PID></X>"),
        format!("<X>{msh}<PID><PID.1>&bogus;</PID.1></PID></X>"),
        format!("<X>{msh}<PID><PID.1>&#0;</PID.1></PID></X>"),
        format!("<X>{msh}<PID><PID.1>&#xD;</PID.1></PID></X>"),
        format!("<X>{msh}<PID><PID.0/></PID></X>"),
        format!("<X>{msh}<PID><XPN.1/></PID></X>"),
        format!("<X>{msh}<PID><PID.1><A/></PID.1></PID></X>"),
        format!("<X>{msh}<PID>x</PID></X>"),
        format!("<X>{msh}</X>trailing"),
        "<X><PID/></X>".into(),
        "<X><MSH><MSH.1>|</MSH.1><MSH.2><A.1>^</A.1></MSH.2></MSH></X>".into(),
        format!("{}{}", "<G>".repeat(10_000), "</G>".repeat(9_999)),
    ];
    for b in &bad {
        let e = from_xml(b).expect_err(b);
        assert!(!e.to_string().is_empty());
    }
    let e = from_xml(&format!("<X>{msh}\n<PID>\n  <PID.1>a</PID.2>\n</PID></X>")).unwrap_err();
    let ConvertError::Xml { position, .. } = e else { panic!("{e}") };
    assert_eq!(position.line, 3);
    let bytes = sample("pyhl7_rep_subcomponents.hl7");
    let msg = parse(&bytes).unwrap();
    let xml = to_xml(&msg, None);
    for cut in (0..xml.len()).filter(|&i| xml.is_char_boundary(i)) {
        assert!(from_xml(&xml[..cut]).is_err(), "{}", &xml[..cut]);
    }
}

#[path = "../../hl7/tests/mutate/mod.rs"]
mod mutate;

use mutate::Rng;

const INTERESTING: &[u8] = b"\r\n|^~\\&#\"MSHXFZ.\x01\x0B\x1C\x00\xFF\xC3\xA4 <>{}[]:,";

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    mutate::mutate(rng, input, INTERESTING)
}

#[test]
fn mutated_messages_never_panic_and_still_round_trip() {
    let registry = Registry::new();
    let mut rng = Rng(0x5EED_C0DE_2024_0001);
    let inputs: Vec<Vec<u8>> = hl7_files(SAMPLES)
        .iter()
        .flat_map(|f| {
            let bytes = std::fs::read(f).unwrap();
            split_messages(&bytes).unwrap().into_iter().map(<[u8]>::to_vec).collect::<Vec<_>>()
        })
        .collect();
    let mut parsed = 0;
    for round in 0..1_200 {
        let input = &inputs[round % inputs.len()];
        let bytes = mutate(&mut rng, input);
        let Ok(msg) = parse(&bytes) else { continue };
        parsed += 1;
        let doc = registry.resolve_message(None, &msg);
        let expected = normalise(&msg);
        for d in [None, doc.as_ref()] {
            let json = to_json(&msg, d);
            assert_eq!(from_json(&json).as_ref(), Ok(&expected), "round {round}: {json}");
            let xml = to_xml(&msg, d);
            let back = from_xml(&xml).unwrap_or_else(|e| panic!("round {round}: {e}\n{xml}"));
            assert_eq!(back, normalise_xml(&msg), "round {round}: {xml}");
            // The normalised message has the same XML.
            let again = parse(&back).unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert_eq!(to_xml(&again, d), xml, "round {round}");
            // Mutated conversions: errors or bytes, never a panic.
            let _ = from_json(&String::from_utf8_lossy(&mutate(&mut rng, json.as_bytes())));
            let _ = from_xml(&String::from_utf8_lossy(&mutate(&mut rng, xml.as_bytes())));
        }
    }
    assert!(parsed > 500, "only {parsed} mutated messages parsed");
}
