//! The adapter probe pack (ABI 1.1): adapters that behave exactly as a test tells them to.
//!
//! - `HIE.Test.CounterService` on `HIE.Test.CounterInbound`: the adapter submits one HL7
//!   message per `CallInterval` (control ids `CNT-<n>`, counting on from its durable
//!   state `Next`, committed with each message). When the file named by its setting
//!   `CrashFile` exists, it deletes it and then segfaults (`CrashMode=segv`) or panics
//!   (`CrashMode=panic`) in its loop.
//! - `HIE.Test.EchoOperation` on `HIE.Test.EchoOutbound`: the adapter answers each call
//!   with `ECHO:<MSH-10>`; a body containing `SEGV` segfaults, `PANIC` panics, `HANG`
//!   never returns, `RETRY` fails retryably, `FATAL` fails for good.
//!
//! Built with `HIE_ADAPTER_PROBE_VARIANT=future` the pack claims to need ABI 1.99; with
//! `=duplicate` it also declares `EnsLib.SQL.OutboundAdapter`, which the SQL pack has.

use hie_plugin_api::adapter::{
    AdapterDef, AdapterError, Inbound, InboundAdapter, InboundContext, OutboundAdapter, TypedSetting,
};
use hie_plugin_api::settings::SettingKind;
use hie_plugin_api::{
    AdapterResponse, ClassDef, Context, Error, ErrorKind, Item, ItemKind, LogLevel, Message, Outcome, SettingDef,
};
use std::time::Duration;

const VARIANT: Option<&str> = option_env!("HIE_ADAPTER_PROBE_VARIANT");

fn crash(mode: &str, what: &str) {
    if mode == "panic" {
        panic!("adapter probe panics in {what}");
    }
    // SAFETY: deliberately undefined: the test wants this process to die of SIGSEGV.
    unsafe {
        std::ptr::null_mut::<u32>().write_volatile(1);
    }
}

struct Counter {
    interval: Duration,
    crash_file: String,
    crash_mode: String,
}

impl InboundAdapter for Counter {
    fn run(&mut self, ctx: &InboundContext<'_>) -> Result<(), Error> {
        let mut next: u64 = ctx.state("Next").and_then(|v| v.parse().ok()).unwrap_or(1);
        ctx.log(LogLevel::Info, &format!("counter starts at {next}"));
        while !ctx.stop_requested() {
            if !ctx.wait_accepting(Duration::from_millis(200)) {
                continue;
            }
            if !self.crash_file.is_empty() && std::fs::remove_file(&self.crash_file).is_ok() {
                crash(&self.crash_mode, "its inbound loop");
            }
            let body = format!(
                "MSH|^~\\&|CNT|T|HIE|T|20260101120000||ADT^A08|CNT-{next}|P|2.4\rPID|1||{next}^^^T^MR||COUNT^ER\r"
            );
            let after = (next + 1).to_string();
            let done = ctx.submit_with_state(
                vec![Inbound { body: body.into_bytes(), origin: "counter".into(), attributes: vec![] }],
                &[("Next", &after)],
            );
            if done.iter().all(|r| r.accepted) {
                next += 1;
            }
            if !ctx.sleep_or_stop(self.interval) {
                break;
            }
        }
        Ok(())
    }
}

struct Echo;

impl OutboundAdapter for Echo {
    fn call(&self, body: &[u8], _params: &[(&str, &str)]) -> Result<AdapterResponse, AdapterError> {
        let text = String::from_utf8_lossy(body);
        if text.contains("SEGV") {
            crash("segv", "call");
        }
        if text.contains("PANIC") {
            crash("panic", "call");
        }
        if text.contains("HANG") {
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        if text.contains("RETRY") {
            return Err(AdapterError::retryable("the echo service is away"));
        }
        if text.contains("FATAL") {
            return Err(AdapterError::fatal("the echo service refuses this message"));
        }
        let control = text.split('\r').next().and_then(|msh| msh.split('|').nth(9)).unwrap_or("").to_string();
        Ok(AdapterResponse { body: format!("ECHO:{control}").into_bytes(), params: vec![] })
    }
}

/// The counter service: forwards what its adapter submits.
struct Forward {
    targets: Vec<String>,
}

impl Item for Forward {
    fn process(&mut self, _ctx: &Context<'_>, _msg: &Message<'_>) -> Result<Outcome, Error> {
        Ok(Outcome::completed().forward_to(self.targets.iter().cloned()))
    }
}

/// The echo operation: calls its adapter, replies with what it answered.
struct EchoOp;

impl Item for EchoOp {
    fn process(&mut self, ctx: &Context<'_>, msg: &Message<'_>) -> Result<Outcome, Error> {
        match ctx.adapter_call(msg.body(), &[]) {
            Ok(r) => Ok(Outcome::completed().reply(r.body)),
            Err(e) if e.kind == ErrorKind::Disconnected => Ok(Outcome::retry(Duration::from_millis(200), e.message)),
            Err(e) => Ok(Outcome::fail(e.message)),
        }
    }
}

fn classes() -> Vec<ClassDef> {
    vec![
        ClassDef::new("HIE.Test.CounterService", ItemKind::Service, |ctx| {
            Ok(Box::new(Forward { targets: ctx.setting_list("TargetConfigNames") }))
        })
        .adapter("HIE.Test.CounterInbound")
        .settings([SettingDef::host("TargetConfigNames", "", "where to send")]),
        ClassDef::new("HIE.Test.EchoOperation", ItemKind::Operation, |_| Ok(Box::new(EchoOp)))
            .adapter("HIE.Test.EchoOutbound")
            .settings([
                SettingDef::host("Mood", "calm", "typed for validation").kind(SettingKind::choice(&["calm", "grumpy"]))
            ]),
    ]
}

fn adapters() -> Vec<AdapterDef> {
    let mut list = vec![
        AdapterDef::inbound("HIE.Test.CounterInbound", |ctx| {
            use hie_plugin_api::settings::SettingsSource;
            let interval = ctx
                .seconds_or("CallInterval", Some(Duration::from_millis(100)))
                .map_err(|e| Error::failed(e.to_string()))?
                .unwrap_or(Duration::from_millis(100));
            Ok(Box::new(Counter {
                interval,
                crash_file: ctx.setting_or("CrashFile", ""),
                crash_mode: ctx.setting_or("CrashMode", "segv"),
            }))
        })
        .doc("submits a numbered message every CallInterval")
        .settings([
            TypedSetting::new(
                "CallInterval",
                SettingKind::Seconds { forever: false },
                "0.1",
                "seconds between messages",
            ),
            TypedSetting::new("CrashFile", SettingKind::Text, "", "crash once when this file exists"),
            TypedSetting::new("CrashMode", SettingKind::choice(&["segv", "panic"]), "segv", "how to crash"),
        ]),
        AdapterDef::outbound("HIE.Test.EchoOutbound", |_| Ok(Box::new(Echo))).doc("answers ECHO:<MSH-10>"),
    ];
    if VARIANT == Some("duplicate") {
        list.push(AdapterDef::outbound("EnsLib.SQL.OutboundAdapter", |_| Ok(Box::new(Echo))).doc("a second provider"));
    }
    list
}

hie_plugin_api::export_pack! {
    name: "hie-pack-adapter-probe",
    version: env!("CARGO_PKG_VERSION"),
    classes: classes,
    vendor: "HIE tests",
    min_host: "",
    adapters: adapters,
    requires_abi_minor: if VARIANT == Some("future") { 99 } else { 0 },
}
