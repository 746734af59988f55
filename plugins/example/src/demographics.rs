//! The demographics (PDS) pattern: a process enriches ADT messages with data from a
//! lookup service, calling a lookup operation synchronously before forwarding.
//!
//! - `HIE.Example.DemographicsLookup` (operation, HTTP adapter): `GET <URL>/Patient/<NHS
//!   number>` on a demographics service; replies with the JSON it got (`{}` when the
//!   patient is unknown).
//! - `HIE.Example.ADTEnricher` (process): sends each message to its `LookupTarget` with
//!   `send_sync`, writes family name, given name, date of birth and GP practice from
//!   the answer into PID-5.1, PID-5.2, PID-7 and PD1-3.10, and forwards the result. When
//!   the lookup fails or times out it forwards the message unchanged with a warning
//!   (`OnLookupFailure=forward`) or fails it (`fail`).

use hie_plugin_api::hl7::{self, MessageBuf, Path};
use hie_plugin_api::{
    ClassDef, Context, Error, ErrorKind, Item, ItemKind, Message, Outcome, Send, SettingDef, adapters,
};
use std::time::Duration;

/// The NHS number in PID-3 (identifier type NH, or authority NHS), if any.
pub fn nhs_number(msg: &hl7::Message<'_>) -> Option<String> {
    let field = msg.find_segment("PID", 1)?.field(3)?;
    field.repetitions().find_map(|rep| {
        let value = |n| rep.component(n).map(|c| c.value().into_owned()).unwrap_or_default();
        let nhs = value(5).eq_ignore_ascii_case("NH") || value(4).eq_ignore_ascii_case("NHS");
        (nhs && !value(1).is_empty()).then(|| value(1).replace(' ', ""))
    })
}

/// `HIE.Example.DemographicsLookup`.
pub fn lookup_class() -> ClassDef {
    ClassDef::new("HIE.Example.DemographicsLookup", ItemKind::Operation, |_ctx| Ok(Box::new(Lookup)))
        .adapter(adapters::HTTP_OUTBOUND)
        .doc("looks a patient up by NHS number on an HTTP demographics service; replies with its JSON")
        .settings([
            SettingDef::adapter("HTTPServer", "127.0.0.1", "demographics service host"),
            SettingDef::adapter("HTTPPort", "80", "demographics service port"),
            SettingDef::adapter("URL", "", "path prefix, e.g. /pds"),
            SettingDef::adapter("ConnectTimeout", "5", "seconds to wait for a connection"),
            SettingDef::adapter("ResponseTimeout", "30", "seconds to wait for the answer"),
            SettingDef::adapter(
                "SSLConfig",
                "",
                "HTTPS: a TLS configuration (<TLSDir>/<name>.ca to verify the service)",
            ),
        ])
}

struct Lookup;

impl Item for Lookup {
    fn process(&mut self, ctx: &Context<'_>, msg: &Message<'_>) -> Result<Outcome, Error> {
        let parsed = msg.hl7()?;
        let Some(nhs) = nhs_number(&parsed) else {
            return Ok(Outcome::completed().reply(b"{}".to_vec()).warn("no NHS number in PID-3: nothing to look up"));
        };
        match ctx.adapter_call(&[], &[("Method", "GET"), ("Path", &format!("/Patient/{nhs}"))]) {
            Ok(answer) => Ok(Outcome::completed().reply(answer.body)),
            Err(e) if e.message.contains("HTTP 404") => Ok(Outcome::completed().reply(b"{}".to_vec())),
            Err(e) => Err(e),
        }
    }
}

/// `HIE.Example.ADTEnricher`.
pub fn enricher_class() -> ClassDef {
    ClassDef::new("HIE.Example.ADTEnricher", ItemKind::Process, |ctx| {
        let lookup = ctx.setting_or("LookupTarget", "");
        if lookup.is_empty() {
            return Err(Error::failed("LookupTarget must name the lookup operation"));
        }
        Ok(Box::new(Enricher {
            lookup,
            timeout: Duration::from_millis(ctx.setting_i64("LookupTimeoutMs", 2000).max(1) as u64),
            fail_on_lookup_error: ctx.setting_or("OnLookupFailure", "forward").eq_ignore_ascii_case("fail"),
            targets: ctx.setting_list("TargetConfigNames"),
        }))
    })
    .doc("enriches ADT messages with demographics from a synchronous lookup, then forwards them")
    .settings([
        SettingDef::host("LookupTarget", "", "the lookup operation to call (send_sync)"),
        SettingDef::host("LookupTimeoutMs", "2000", "how long to wait for the lookup"),
        SettingDef::host("OnLookupFailure", "forward", "forward (unchanged, with a warning) or fail"),
        SettingDef::host("TargetConfigNames", "", "where enriched messages go"),
    ])
}

struct Enricher {
    lookup: String,
    timeout: Duration,
    fail_on_lookup_error: bool,
    targets: Vec<String>,
}

/// Applies the lookup answer to the message.
fn enrich(parsed: &hl7::Message<'_>, answer: &serde_json::Value) -> Result<Vec<u8>, Error> {
    let mut buf = MessageBuf::from_message(parsed);
    let mut set = |path: &str, key: &str| -> Result<(), Error> {
        if let Some(v) = answer.get(key).and_then(|v| v.as_str()) {
            let p: Path = path.parse().map_err(|e: hl7::PathError| Error::failed(e.to_string()))?;
            buf.set(&p, v).map_err(|e| Error::failed(e.to_string()))?;
        }
        Ok(())
    };
    set("PID-5.1", "family")?;
    set("PID-5.2", "given")?;
    set("PID-7", "birth_date")?;
    set("PD1-3.10", "gp_practice")?;
    Ok(buf.to_bytes())
}

impl Item for Enricher {
    fn process(&mut self, ctx: &Context<'_>, msg: &Message<'_>) -> Result<Outcome, Error> {
        let parsed = msg.hl7()?;
        let (body, warning) = match ctx.send_sync(Send::forward(self.lookup.clone()), Some(self.timeout)) {
            Ok(reply) => {
                let answer: serde_json::Value = serde_json::from_slice(&reply).unwrap_or(serde_json::Value::Null);
                ctx.count("lookups", 1);
                (enrich(&parsed, &answer)?, None)
            }
            Err(e) if self.fail_on_lookup_error => {
                return Ok(Outcome::fail(format!("lookup via {} failed: {e}", self.lookup)));
            }
            Err(e) => {
                ctx.count("lookup_failures", 1);
                let kind = if e.kind == ErrorKind::Timeout { "timed out" } else { "failed" };
                (msg.body().to_vec(), Some(format!("lookup via {} {kind} ({e}); forwarded unenriched", self.lookup)))
            }
        };
        let mut out = Outcome::completed().reply(body.clone());
        for t in &self.targets {
            out = out.send(Send::new(t.clone(), body.clone()));
        }
        if let Some(w) = warning {
            out = out.warn(w);
        }
        Ok(out)
    }
}
