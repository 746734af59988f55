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
//! - `HIE.Test.LineService` on `HIE.Test.LineInbound`: the adapter owns a TCP listener
//!   (`Port`); each line a sender writes (an HL7 message, segments split by `\r`, ended by
//!   `\n`) is submitted, and after the commit the adapter answers `<version> AA <MSH-10>\n`
//!   (`AR` when refused). It stops listening when the host asks it to stop.
//! - `HIE.Test.MllpOperation` on `HIE.Test.MllpOutbound`: a plain blocking MLLP client
//!   (`IPAddress`, `Port`; a pool of connections, one per concurrent call) that answers
//!   with the receiver's ACK: the same work as the host's MLLP adapter, for measuring what
//!   a pack outbound adapter costs per message.
//! - Every Echo call appends `<version> <MSH-10>` to the file its `LogFile` names, if any.
//!
//! Built with `HIE_ADAPTER_PROBE_VARIANT=future` the pack claims to need ABI 1.99; with
//! `=duplicate` it also declares `EnsLib.SQL.OutboundAdapter`, which the SQL pack has;
//! with `=v2` it is version 0.2.0 and says `v2` where the plain build says `v1`; with
//! `=lineless` (version 0.3.0) it no longer provides `HIE.Test.LineInbound`; with
//! `=badlines` (0.4.0) its `HIE.Test.LineService` refuses to start.

use hie_plugin_api::adapter::{
    AdapterDef, Claim, AdapterError, Inbound, InboundAdapter, InboundContext, OutboundAdapter, TypedSetting,
};
use hie_plugin_api::settings::SettingKind;
use hie_plugin_api::{
    AdapterResponse, ClassDef, Context, Error, ErrorKind, Item, ItemKind, LogLevel, Message, Outcome, SettingDef,
};
use std::time::Duration;

const VARIANT: Option<&str> = option_env!("HIE_ADAPTER_PROBE_VARIANT");

/// What this build calls itself in replies and logs.
const TAG: &str = env!("PROBE_TAG");

/// The pack version: 0.2.0 for the `v2` build.
const VERSION: &str = env!("PROBE_VERSION");

/// MSH-10 of an HL7 message.
fn control_id(text: &str) -> String {
    text.split('\r').next().and_then(|msh| msh.split('|').nth(9)).unwrap_or("").to_string()
}

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

/// Listens on a port; answers each line after its commit.
struct Lines {
    port: u16,
}

impl Lines {
    /// Serves one connection until it closes or the host asks to stop.
    fn serve(&self, ctx: &InboundContext<'_>, stream: std::net::TcpStream) {
        use std::io::{BufRead, Write};
        let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
        let Ok(mut out) = stream.try_clone() else { return };
        let mut reader = std::io::BufReader::new(stream);
        let mut line = Vec::new();
        while !ctx.stop_requested() {
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => return,
                Ok(_) if line.ends_with(b"\n") => {
                    line.pop();
                    let body = std::mem::take(&mut line);
                    let id = control_id(&String::from_utf8_lossy(&body));
                    let done = ctx.submit(vec![Inbound { body, origin: "lines".into(), attributes: vec![] }]);
                    let code = if done.iter().all(|r| r.accepted) { "AA" } else { "AR" };
                    if out.write_all(format!("{TAG} {code} {id}\n").as_bytes()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => return,
            }
        }
    }
}

impl InboundAdapter for Lines {
    fn run(&mut self, ctx: &InboundContext<'_>) -> Result<(), Error> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", self.port))
            .map_err(|e| Error::failed(format!("cannot listen on port {}: {e}", self.port)))?;
        listener.set_nonblocking(true).map_err(|e| Error::failed(e.to_string()))?;
        ctx.log(LogLevel::Info, &format!("{TAG} listening on port {}", self.port));
        while !ctx.stop_requested() {
            match listener.accept() {
                Ok((stream, _)) => {
                    let _ = stream.set_nonblocking(false);
                    self.serve(ctx, stream);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => return Err(Error::failed(format!("accept: {e}"))),
            }
        }
        Ok(())
    }
}

struct Echo {
    log_file: String,
}

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
        let control = control_id(&text);
        if !self.log_file.is_empty() {
            use std::io::Write;
            let logged = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log_file)
                .and_then(|mut f| f.write_all(format!("{TAG} {control}\n").as_bytes()));
            if let Err(e) = logged {
                return Err(AdapterError::retryable(format!("cannot write {}: {e}", self.log_file)));
            }
        }
        Ok(AdapterResponse { body: format!("ECHO:{control}").into_bytes(), params: vec![] })
    }
}

/// A blocking MLLP client with a pool of connections.
struct Mllp {
    addr: String,
    idle: std::sync::Mutex<Vec<std::net::TcpStream>>,
}

impl Mllp {
    fn exchange(stream: &mut std::net::TcpStream, body: &[u8]) -> std::io::Result<Vec<u8>> {
        use std::io::{Read, Write};
        let mut frame = Vec::with_capacity(body.len() + 3);
        frame.push(0x0b);
        frame.extend_from_slice(body);
        frame.extend_from_slice(&[0x1c, 0x0d]);
        stream.write_all(&frame)?;
        let mut reply = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            reply.extend_from_slice(&buf[..n]);
            if let Some(end) = reply.windows(2).position(|w| w == [0x1c, 0x0d]) {
                let start = usize::from(reply.first() == Some(&0x0b));
                return Ok(reply[start..end].to_vec());
            }
        }
    }
}

impl OutboundAdapter for Mllp {
    fn call(&self, body: &[u8], _params: &[(&str, &str)]) -> Result<AdapterResponse, AdapterError> {
        let pooled = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut stream = match pooled {
            Some(s) => s,
            None => std::net::TcpStream::connect(&self.addr)
                .map_err(|e| AdapterError::retryable(format!("connect {}: {e}", self.addr)))?,
        };
        let _ = stream.set_nodelay(true);
        match Mllp::exchange(&mut stream, body) {
            Ok(ack) => {
                self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(stream);
                Ok(AdapterResponse { body: ack, params: vec![] })
            }
            Err(e) => Err(AdapterError::retryable(format!("{}: {e}", self.addr))),
        }
    }

    fn close(&self) {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
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
        ClassDef::new("HIE.Test.MllpOperation", ItemKind::Operation, |_| Ok(Box::new(EchoOp)))
            .adapter("HIE.Test.MllpOutbound"),
        ClassDef::new("HIE.Test.LineService", ItemKind::Service, |ctx| {
            if VARIANT == Some("badlines") {
                return Err(Error::failed("badlines: this version of HIE.Test.LineService refuses to start"));
            }
            Ok(Box::new(Forward { targets: ctx.setting_list("TargetConfigNames") }))
        })
        .adapter("HIE.Test.LineInbound")
        .settings([SettingDef::host("TargetConfigNames", "", "where to send")]),
        ClassDef::new("HIE.Test.EchoOperation", ItemKind::Operation, |_| Ok(Box::new(EchoOp)))
            .adapter("HIE.Test.EchoOutbound")
            .settings([
                SettingDef::host("Mood", "calm", "typed for validation").kind(SettingKind::choice(&["calm", "grumpy"]))
            ]),
    ]
}

fn adapters() -> Vec<AdapterDef> {
    let lines = AdapterDef::inbound("HIE.Test.LineInbound", |ctx| {
        use hie_plugin_api::settings::SettingsSource;
        let port = ctx.int_or("Port", 0).map_err(|e| Error::failed(e.to_string()))?;
        let port = u16::try_from(port).map_err(|_| Error::failed(format!("Port {port} is not a port")))?;
        Ok(Box::new(Lines { port }))
    })
    .doc("answers each line a sender writes after its commit")
    .settings([TypedSetting::required("Port", SettingKind::Port, "the port to listen on")])
    .claims(Claim::ListenPort { port: "Port", interface: None });
    let mllp = AdapterDef::outbound("HIE.Test.MllpOutbound", |ctx| {
        use hie_plugin_api::settings::SettingsSource;
        let port = ctx.int_or("Port", 0).map_err(|e| Error::failed(e.to_string()))?;
        Ok(Box::new(Mllp {
            addr: format!("{}:{port}", ctx.setting_or("IPAddress", "127.0.0.1")),
            idle: std::sync::Mutex::new(Vec::new()),
        }))
    })
    .doc("a blocking MLLP client")
    .settings([
        TypedSetting::new("IPAddress", SettingKind::Text, "127.0.0.1", "the receiver's address"),
        TypedSetting::required("Port", SettingKind::Port, "the receiver's port"),
    ]);
    let mut list = vec![
        mllp,
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
        AdapterDef::outbound("HIE.Test.EchoOutbound", |ctx| Ok(Box::new(Echo { log_file: ctx.setting_or("LogFile", "") })))
            .doc("answers ECHO:<MSH-10>")
            .settings([TypedSetting::new("LogFile", SettingKind::Text, "", "append each call here")]),
    ];
    if VARIANT != Some("lineless") {
        list.push(lines);
    }
    if VARIANT == Some("duplicate") {
        list.push(AdapterDef::outbound("EnsLib.SQL.OutboundAdapter", |_| Ok(Box::new(Echo { log_file: String::new() }))).doc("a second provider"));
    }
    list
}

hie_plugin_api::export_pack! {
    name: "hie-pack-adapter-probe",
    version: VERSION,
    classes: classes,
    vendor: "HIE tests",
    min_host: "",
    adapters: adapters,
    requires_abi_minor: if VARIANT == Some("future") { 99 } else { 0 },
}
