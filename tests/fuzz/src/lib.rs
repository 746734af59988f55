//! Shared helpers of the fuzz targets: input splitting and the fixture data the targets
//! evaluate against (embedded, so a target binary runs from any directory).

use std::sync::OnceLock;

/// Splits `data` at its first NUL byte: `(before, after)`; `after` is empty without one.
pub fn split_nul(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// The lines of `bytes` (LF-separated) as text, invalid UTF-8 replaced.
pub fn lines(bytes: &[u8]) -> impl Iterator<Item = String> + '_ {
    bytes.split(|&b| b == b'\n').map(|l| String::from_utf8_lossy(l).into_owned())
}

/// Fixture messages (tests/fixtures/iris/messages) the rule, DTL and schema targets run on.
pub const MESSAGES: &[&[u8]] = &[
    include_bytes!("../../../tests/fixtures/iris/messages/adt_a01_inpatient.hl7"),
    include_bytes!("../../../tests/fixtures/iris/messages/oru_r01_normal.hl7"),
    include_bytes!("../../../tests/fixtures/iris/messages/adt_a28_zpi.hl7"),
    include_bytes!("../../../tests/fixtures/iris/messages/orm_o01_order.hl7"),
];

/// The custom schema category of the fixtures.
pub const HIE_25_XML: &str = include_str!("../../../tests/fixtures/iris/schema/HIE_2.5.xml");

/// The built-in categories plus the fixtures' `HIE_2.5` (built once per process).
pub fn registry() -> &'static hie_hl7_schema::Registry {
    static R: OnceLock<hie_hl7_schema::Registry> = OnceLock::new();
    R.get_or_init(|| {
        let mut r = hie_hl7_schema::Registry::new();
        r.load_xml(HIE_25_XML, "HIE_2.5.xml").expect("HIE_2.5 loads");
        // Parse the built-in categories the targets use now, not inside a fuzz iteration.
        for v in ["2.3", "2.4", "2.5", "2.5.1", "2.6", "2.8"] {
            let _ = r.category(v);
        }
        r
    })
}

/// The fixtures' clock: 2024-06-01T12:00:00 local.
pub fn now() -> chrono::NaiveDateTime {
    chrono::NaiveDate::from_ymd_opt(2024, 6, 1).and_then(|d| d.and_hms_opt(12, 0, 0)).expect("valid date")
}

/// One fixture message, parsed once per process, with its DocType (category 2.5) and
/// DocName.
pub struct Fixture {
    /// The bytes.
    pub bytes: &'static [u8],
    /// The parsed message.
    pub message: hie_hl7::Message<'static>,
    /// Its DocType in category 2.5.
    pub doc_type: Option<hie_hl7_schema::DocType>,
    /// Its IRIS DocName (`ADT_A01`).
    pub doc_name: String,
}

/// [`MESSAGES`], parsed once.
pub fn fixtures() -> &'static [Fixture] {
    static F: OnceLock<Vec<Fixture>> = OnceLock::new();
    F.get_or_init(|| {
        MESSAGES
            .iter()
            .map(|bytes| {
                let message = hie_hl7::parse(bytes).expect("fixture parses");
                let doc_type = registry().resolve_message(Some("2.5"), &message);
                let doc_name = hie_hl7_schema::message_doc_name(&message).unwrap_or_default();
                Fixture { bytes, message, doc_type, doc_name }
            })
            .collect()
    })
}
