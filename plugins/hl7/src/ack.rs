//! ACK and NACK building as the services configure it (AckMode, LocalFacilityApplication,
//! UseAckCommitCodes).

use hie_plugin_api::Context;
use hie_plugin_api::hl7::{self, ack};

/// How a service acknowledges, from its Host settings.
#[derive(Clone, Debug)]
pub struct AckPolicy {
    /// `Never`, `Immed`, `Msh`, `App` (App is treated as Immed: HIE commits before ACKing).
    pub mode: String,
    /// IRIS `LocalFacilityApplication` (`FACILITY:APPLICATION` for the ACK's MSH-4/MSH-3).
    pub local: String,
    /// Use CA/CE/CR when the sender asked for enhanced acknowledgements.
    pub commit_codes: bool,
    /// Add an ERR segment to NACKs.
    pub add_err: bool,
}

impl AckPolicy {
    /// Reads the policy from settings.
    pub fn from_settings(ctx: &Context<'_>) -> AckPolicy {
        AckPolicy {
            mode: ctx.setting_or("AckMode", "Immed"),
            local: ctx.setting_or("LocalFacilityApplication", "ISC:EnsembleHL7"),
            commit_codes: ctx.setting_bool("UseAckCommitCodes", true),
            add_err: ctx.setting_bool("AddNackERR", true),
        }
    }

    fn timestamp() -> String {
        chrono::Local::now().format("%Y%m%d%H%M%S").to_string()
    }

    /// Whether to answer at all for `msg` given success or failure.
    fn wants_reply(&self, msg: Option<&hl7::Message<'_>>, success: bool) -> bool {
        match self.mode.to_ascii_lowercase().as_str() {
            "never" => false,
            "msh" => match msg {
                Some(m) => {
                    let mode = ack::AckMode::of(m);
                    mode.wants_accept_ack(success) || mode.wants_application_ack(success)
                }
                None => true,
            },
            _ => true,
        }
    }

    fn code(&self, msg: &hl7::Message<'_>, positive: ack::AckCode) -> ack::AckCode {
        let enhanced = matches!(ack::AckMode::of(msg), ack::AckMode::Enhanced { .. });
        if enhanced && self.commit_codes {
            match positive {
                ack::AckCode::AA => ack::AckCode::CA,
                ack::AckCode::AE => ack::AckCode::CE,
                ack::AckCode::AR => ack::AckCode::CR,
                other => other,
            }
        } else {
            positive
        }
    }

    /// The positive ACK for an accepted message, if one is due.
    pub fn accept(&self, msg: &hl7::Message<'_>) -> Option<Vec<u8>> {
        if !self.wants_reply(Some(msg), true) {
            return None;
        }
        let code = self.code(msg, ack::AckCode::AA);
        Some(ack::AckBuilder::new(msg, code, &Self::timestamp()).local_facility_application(&self.local).build())
    }

    /// A NACK (AR/CR) for a message that could not be parsed, with ERR.
    pub fn reject_unparseable(&self, body: &[u8], error: &hl7::ParseError) -> Option<Vec<u8>> {
        if !self.wants_reply(None, false) {
            return None;
        }
        let mut e = ack::AckError::from_parse_error(error);
        if !self.add_err {
            e.location = None;
        }
        Some(ack::nack_for_unparseable(body, ack::AckCode::AR, &e, &Self::timestamp(), None))
    }

    /// A NACK (AE/CE) for a parsed message with a content problem.
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
        let ack_code = self.code(msg, ack::AckCode::AE);
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
