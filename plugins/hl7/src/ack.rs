//! ACK and NACK building as the services configure it, the way IRIS does it
//! (docs/iris-settings.md §9.1): AckMode, LocalFacilityApplication, UseAckCommitCodes,
//! NackErrorCode and AddNackERR.

use hie_plugin_api::hl7::{self, ack};
use hie_plugin_api::settings::{SettingError, SettingKind, SettingsSource, parse_choice};
use hie_plugin_api::{Error, SettingDef};

/// IRIS `AckMode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckMode {
    /// Nothing is written back.
    Never,
    /// An ACK once the message is committed.
    Immed,
    /// IRIS waits for the target's reply; HIE acknowledges as `Immed` (on_init warns).
    App,
    /// As MSH-15/16 ask (enhanced mode); both empty: as `Immed`.
    Msh,
    /// One byte, 0x06 or 0x15, instead of an ACK message (TCP only, §9.1.9).
    Byte,
}

/// The AckMode values of the TCP service.
pub const TCP_ACK_MODES: &[&str] = &["Never", "Immed", "App", "Msh", "Byte"];
/// The AckMode values of the file service (no `Byte`: there is no connection to write it on).
pub const FILE_ACK_MODES: &[&str] = &["Never", "Immed", "App", "Msh"];

impl AckMode {
    fn from_choice(choice: &str) -> AckMode {
        match choice {
            "Never" => AckMode::Never,
            "App" => AckMode::App,
            "Msh" => AckMode::Msh,
            "Byte" => AckMode::Byte,
            _ => AckMode::Immed,
        }
    }
}

/// The ACK settings every HL7 service declares, with IRIS's defaults (AckMode's default
/// and values differ by class).
pub fn ack_settings(default_mode: &'static str, modes: &[&str], doc: &'static str) -> Vec<SettingDef> {
    vec![
        SettingDef::host("AckMode", default_mode, doc).kind(SettingKind::choice(modes)),
        SettingDef::host(
            "LocalFacilityApplication",
            "ISC:EnsembleHL7",
            "FACILITY:APPLICATION placed in ACKs' MSH-4/MSH-3",
        ),
        SettingDef::host(
            "UseAckCommitCodes",
            "1",
            "MSA-1 CA/CE/CR (not AA/AE/AR) for messages whose MSH-12 is 2.3 or later, as IRIS",
        )
        .kind(SettingKind::Bool),
        SettingDef::host("AddNackERR", "1", "add an ERR segment to NACKs (HIE's default; IRIS's is believed 0)")
            .kind(SettingKind::Bool),
        SettingDef::host(
            "NackErrorCode",
            "ContentE",
            "MSA-1 letter of NACKs: ContentE (E content errors, R system errors), ContentR, AllE, AllR",
        )
        .kind(SettingKind::choice(&ack::NackErrorCode::NAMES)),
    ]
}

/// How a service acknowledges, from its Host settings.
#[derive(Clone, Debug)]
pub struct AckPolicy {
    /// IRIS `AckMode`.
    pub mode: AckMode,
    /// IRIS `LocalFacilityApplication` (`FACILITY:APPLICATION` for the ACK's MSH-4/MSH-3).
    pub local: String,
    /// `UseAckCommitCodes`: CA/CE/CR for MSH-12 ≥ 2.3.
    pub commit_codes: bool,
    /// `AddNackERR`: an ERR segment in NACKs.
    pub add_err: bool,
    /// `NackErrorCode`: E or R per kind of error.
    pub nack_code: ack::NackErrorCode,
}

/// A setting error that names the setting (the host adds the item).
fn bad(e: impl std::fmt::Display) -> Error {
    Error::failed(e.to_string())
}

impl AckPolicy {
    /// Reads the policy from settings; a value that does not read is an error, never a
    /// default (validation reports it first, with the item and line).
    pub fn from_settings(s: &impl SettingsSource, default_mode: &str, modes: &[&str]) -> Result<AckPolicy, Error> {
        let choices: Vec<String> = modes.iter().map(|m| m.to_string()).collect();
        let mode = s.present("AckMode").unwrap_or_else(|| default_mode.to_string());
        let mode = parse_choice(&mode, &choices).map_err(|e| bad(e.named("AckMode")))?;
        let nack = s.present("NackErrorCode").unwrap_or_else(|| "ContentE".into());
        let nack_code = ack::NackErrorCode::from_name(&nack).ok_or_else(|| {
            let expected = format!("one of {}", ack::NackErrorCode::NAMES.join(", "));
            bad(SettingError::new(&nack, expected).named("NackErrorCode"))
        })?;
        Ok(AckPolicy {
            mode: AckMode::from_choice(mode),
            local: s.present("LocalFacilityApplication").unwrap_or_else(|| "ISC:EnsembleHL7".into()),
            commit_codes: s.bool_or("UseAckCommitCodes", true).map_err(bad)?,
            add_err: s.bool_or("AddNackERR", true).map_err(bad)?,
            nack_code,
        })
    }

    /// MSH-7 of the ACKs this service builds.
    fn timestamp() -> String {
        chrono::Local::now().format("%Y%m%d%H%M%S").to_string()
    }

    /// Whether to answer at all for `msg` given success or failure.
    fn wants_reply(&self, msg: Option<&hl7::Message<'_>>, success: bool) -> bool {
        match self.mode {
            AckMode::Never => false,
            AckMode::Msh => msg.is_none_or(|m| {
                let mode = ack::AckMode::of(m);
                mode.wants_accept_ack(success) || mode.wants_application_ack(success)
            }),
            AckMode::Immed | AckMode::App | AckMode::Byte => true,
        }
    }

    /// MSA-1 for `outcome` of a message of MSH-12 `version` (§9.1.3, §9.1.4).
    pub fn code(&self, version: Option<&str>, outcome: ack::AckOutcome) -> ack::AckCode {
        ack::iris_ack_code(outcome, self.nack_code, self.commit_codes, version)
    }

    /// The one-byte answer of `AckMode=Byte`, when that is the mode.
    fn byte(&self, accepted: bool) -> Option<Vec<u8>> {
        (self.mode == AckMode::Byte).then(|| vec![if accepted { ack::ACK_BYTE } else { ack::NAK_BYTE }])
    }

    /// The positive ACK for an accepted message, if one is due.
    pub fn accept(&self, msg: &hl7::Message<'_>) -> Option<Vec<u8>> {
        if !self.wants_reply(Some(msg), true) {
            return None;
        }
        if let Some(b) = self.byte(true) {
            return Some(b);
        }
        let code = self.code(msg.version(), ack::AckOutcome::Accepted);
        Some(ack::AckBuilder::new(msg, code, &Self::timestamp()).local_facility_application(&self.local).build())
    }

    /// A NACK for input that could not be parsed (a content error), with ERR when
    /// AddNackERR is set.
    pub fn reject_unparseable(&self, body: &[u8], error: &hl7::ParseError) -> Option<Vec<u8>> {
        if !self.wants_reply(None, false) {
            return None;
        }
        if let Some(b) = self.byte(false) {
            return Some(b);
        }
        let code = self.code(ack::msh_version_of(body).as_deref(), ack::AckOutcome::ContentError);
        let mut e = ack::AckError::from_parse_error(error);
        if !self.add_err {
            e.location = None;
        }
        Some(ack::nack_for_unparseable(body, code, &e, &Self::timestamp(), None))
    }

    /// A NACK for a parsed message with a content problem.
    pub fn reject(&self, msg: &hl7::Message<'_>, code: u16, text: &str) -> Option<Vec<u8>> {
        self.reject_at(msg, code, text, None)
    }

    /// [`AckPolicy::reject`] with the ERL location (`PV1^3`) of the problem in ERR.
    pub fn reject_at(
        &self,
        msg: &hl7::Message<'_>,
        code: u16,
        text: &str,
        location: Option<String>,
    ) -> Option<Vec<u8>> {
        if !self.wants_reply(Some(msg), false) {
            return None;
        }
        if let Some(b) = self.byte(false) {
            return Some(b);
        }
        let ack_code = self.code(msg.version(), ack::AckOutcome::ContentError);
        let mut b =
            ack::AckBuilder::new(msg, ack_code, &Self::timestamp()).local_facility_application(&self.local).text(text);
        if self.add_err {
            let mut e = ack::AckError::new(code, text);
            if let Some(l) = location {
                e = e.with_location(l);
            }
            b = b.error(e);
        }
        Some(b.build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Settings(HashMap<&'static str, &'static str>);
    impl SettingsSource for Settings {
        fn raw(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|v| v.to_string())
        }
    }

    fn policy(pairs: &[(&'static str, &'static str)]) -> Result<AckPolicy, Error> {
        AckPolicy::from_settings(&Settings(pairs.iter().copied().collect()), "Immed", TCP_ACK_MODES)
    }

    fn msa1(reply: &[u8]) -> String {
        hl7::parse(reply)
            .ok()
            .and_then(|m| m.value_str("MSA-1").ok().flatten().map(|v| v.into_owned()))
            .unwrap_or_default()
    }

    const V24: &[u8] = b"MSH|^~\\&|PAS|RXX|EPR|RXX|20260101||ADT^A01|C1|P|2.4\rPID|1\r";
    const V22: &[u8] = b"MSH|^~\\&|PAS|RXX|EPR|RXX|20260101||ADT^A01|C1|P|2.2\rPID|1\r";
    const V24_ENHANCED_ER: &[u8] = b"MSH|^~\\&|PAS|RXX|EPR|RXX|20260101||ADT^A01|C1|P|2.4|||ER|NE\rPID|1\r";

    #[test]
    fn immed_acks_use_commit_codes_by_msh12_alone_unless_use_ack_commit_codes_is_0() {
        let p = policy(&[]).expect("defaults read");
        let m = hl7::parse(V24).expect("v2.4");
        assert_eq!(msa1(&p.accept(&m).expect("an ACK")), "CA", "IRIS default for 2.3+: CA without MSH-15/16");
        assert_eq!(msa1(&p.reject(&m, 101, "bad").expect("a NACK")), "CE");
        let old = hl7::parse(V22).expect("v2.2");
        assert_eq!(msa1(&p.accept(&old).expect("an ACK")), "AA", "before 2.3: AA");
        let legacy = policy(&[("UseAckCommitCodes", "0")]).expect("reads");
        assert_eq!(msa1(&legacy.accept(&m).expect("an ACK")), "AA");
        assert_eq!(msa1(&legacy.reject(&m, 101, "bad").expect("a NACK")), "AE");
    }

    #[test]
    fn nack_error_code_sets_the_content_error_letter_and_add_nack_err_the_err_segment() {
        let m = hl7::parse(V24).expect("v2.4");
        let r = policy(&[("NackErrorCode", "ContentR"), ("UseAckCommitCodes", "0")]).expect("reads");
        let nack = r.reject(&m, 101, "bad").expect("a NACK");
        assert_eq!(msa1(&nack), "AR");
        assert!(nack.windows(4).any(|w| w == b"ERR|"), "AddNackERR defaults to 1 in HIE");
        let all_e = policy(&[("NackErrorCode", "AllE"), ("AddNackERR", "0")]).expect("reads");
        let nack = all_e.reject(&m, 101, "bad").expect("a NACK");
        assert_eq!(msa1(&nack), "CE");
        assert!(!nack.windows(4).any(|w| w == b"ERR|"), "AddNackERR=0: MSH and MSA only");
        let junk = all_e.reject_unparseable(b"junk", &hl7::parse(b"junk").expect_err("junk")).expect("a NACK");
        assert_eq!(msa1(&junk), "AE", "unparseable input is a content error, no version: A prefix");
    }

    #[test]
    fn byte_mode_answers_one_ack_or_nak_byte_and_never_answers_nothing() {
        let m = hl7::parse(V24).expect("v2.4");
        let byte = policy(&[("AckMode", "byte")]).expect("case-insensitive");
        assert_eq!(byte.accept(&m), Some(vec![0x06]));
        assert_eq!(byte.reject(&m, 101, "bad"), Some(vec![0x15]));
        assert_eq!(byte.reject_unparseable(b"x", &hl7::parse(b"x").expect_err("junk")), Some(vec![0x15]));
        let never = policy(&[("AckMode", "Never")]).expect("reads");
        assert_eq!((never.accept(&m), never.reject(&m, 101, "bad")), (None, None));
    }

    #[test]
    fn msh_mode_answers_as_msh15_16_ask_with_the_same_codes() {
        let p = policy(&[("AckMode", "Msh")]).expect("reads");
        let er = hl7::parse(V24_ENHANCED_ER).expect("enhanced");
        assert_eq!(p.accept(&er), None, "MSH-15 ER, MSH-16 NE: no ACK for an accepted message");
        assert_eq!(msa1(&p.reject(&er, 101, "bad").expect("a NACK on error")), "CE");
        assert_eq!(msa1(&p.accept(&hl7::parse(V24).expect("v2.4")).expect("both empty: as Immed")), "CA");
    }

    #[test]
    fn an_unknown_ack_mode_or_nack_error_code_is_an_error_naming_the_setting() {
        let e = policy(&[("AckMode", "Always")]).expect_err("not an AckMode");
        assert!(e.message.contains("AckMode") && e.message.contains("Byte"), "{}", e.message);
        let file = AckPolicy::from_settings(&Settings([("AckMode", "Byte")].into()), "Never", FILE_ACK_MODES);
        assert!(file.is_err(), "the file service has no Byte mode");
        let e = policy(&[("NackErrorCode", "E")]).expect_err("HIE's old value is not IRIS's");
        assert!(e.message.contains("NackErrorCode") && e.message.contains("ContentE"), "{}", e.message);
        assert!(policy(&[("UseAckCommitCodes", "maybe")]).is_err());
    }
}
