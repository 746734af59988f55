//! A template adapter pack (ABI 1.1). Copy it, then change the names and the code.
//!
//! - `Vendor.Template.UdpOperation` on the adapter `Vendor.Template.UdpOutbound`: sends each
//!   message as one UDP datagram to `Host:Port` (a syslog-style receiver, say).
//! - `Vendor.Template.HeartbeatService` on the adapter `Vendor.Template.HeartbeatInbound`:
//!   submits a small HL7 message every `CallInterval` seconds, counting from where it
//!   left off (its durable state, committed with each message).
//!
//! What the host does for you: queues, retries (`RetryInterval`, `FailureTimeout`),
//! `ReplyCodeActions`, the circuit breaker, the journal, worker processes
//! (`ExecutionMode: multi_process` runs these adapters in a child process, so a crash in
//! them cannot take the engine down), logging and settings. What you do: move bytes.

use hie_plugin_api::adapter::{
    AdapterDef, AdapterError, Claim, Inbound, InboundAdapter, InboundContext, OutboundAdapter, TypedSetting,
};
use hie_plugin_api::settings::{SettingKind, SettingsSource};
use hie_plugin_api::{
    AdapterResponse, ClassDef, Context, Error, ErrorKind, Item, ItemKind, LogLevel, Message, Outcome, SettingDef,
};
use std::net::UdpSocket;
use std::time::Duration;

// ---- the outbound adapter: one blocking call per message ------------------------------

/// Sends datagrams. Called from several threads when the item's PoolSize is above 1.
struct Udp {
    socket: UdpSocket,
    target: String,
}

impl OutboundAdapter for Udp {
    fn call(&self, body: &[u8], _params: &[(&str, &str)]) -> Result<AdapterResponse, AdapterError> {
        match self.socket.send_to(body, &self.target) {
            Ok(n) => Ok(AdapterResponse { body: Vec::new(), params: vec![("BytesSent".into(), n.to_string())] }),
            // The network may come back: the engine retries the message.
            Err(e) => Err(AdapterError::retryable(format!("cannot send to {}: {e}", self.target))),
        }
    }
}

fn udp_adapter() -> AdapterDef {
    AdapterDef::outbound("Vendor.Template.UdpOutbound", |ctx| {
        let port = ctx.int_or("Port", 514).map_err(|e| Error::failed(e.to_string()))?;
        let socket =
            UdpSocket::bind("0.0.0.0:0").map_err(|e| Error::failed(format!("cannot open a UDP socket: {e}")))?;
        Ok(Box::new(Udp { socket, target: format!("{}:{port}", ctx.setting_or("Host", "127.0.0.1")) }))
    })
    .doc("sends each message as one UDP datagram")
    .settings([
        TypedSetting::required("Host", SettingKind::Text, "receiver's host name or address"),
        TypedSetting::new("Port", SettingKind::Port, "514", "receiver's UDP port"),
    ])
}

/// The operation class: hands each message to its adapter.
struct UdpOperation;

impl Item for UdpOperation {
    fn process(&mut self, ctx: &Context<'_>, msg: &Message<'_>) -> Result<Outcome, Error> {
        match ctx.adapter_call(msg.body(), &[]) {
            Ok(_) => Ok(Outcome::completed()),
            Err(e) if e.kind == ErrorKind::Disconnected => Ok(Outcome::retry(Duration::from_secs(5), e.message)),
            Err(e) => Ok(Outcome::fail(e.message)),
        }
    }
}

// ---- the inbound adapter: a blocking loop on a host thread ------------------------------

struct Heartbeat {
    interval: Duration,
}

impl InboundAdapter for Heartbeat {
    fn run(&mut self, ctx: &InboundContext<'_>) -> Result<(), Error> {
        // Where we left off: committed with the last message, so a restart goes on from there.
        let mut beat: u64 = ctx.state("Beat").and_then(|v| v.parse().ok()).unwrap_or(1);
        while !ctx.stop_requested() {
            // Hold input while the item is paused.
            if !ctx.wait_accepting(Duration::from_secs(1)) {
                continue;
            }
            let body = format!("MSH|^~\\&|HEARTBEAT|VENDOR|HIE|HIE|||ADT^A08|HB{beat}|P|2.4\rEVN|A08\r");
            let next = (beat + 1).to_string();
            let done = ctx.submit_with_state(
                vec![Inbound { body: body.into_bytes(), origin: "heartbeat".into(), attributes: vec![] }],
                &[("Beat", &next)],
            );
            // Only a committed message may let go of its source (here: advance the count).
            if done.iter().all(|d| d.accepted) {
                beat += 1;
            } else {
                ctx.log(LogLevel::Warn, "the engine did not commit the heartbeat; trying again");
            }
            if !ctx.sleep_or_stop(self.interval) {
                break;
            }
        }
        Ok(())
    }
}

fn heartbeat_adapter() -> AdapterDef {
    AdapterDef::inbound("Vendor.Template.HeartbeatInbound", |ctx| {
        let interval = ctx
            .seconds_or("CallInterval", Some(Duration::from_secs(60)))
            .map_err(|e| Error::failed(e.to_string()))?
            .unwrap_or(Duration::from_secs(60));
        Ok(Box::new(Heartbeat { interval }))
    })
    .doc("submits a heartbeat message every CallInterval")
    .settings([TypedSetting::new(
        "CallInterval",
        SettingKind::Seconds { forever: false },
        "60",
        "seconds between heartbeats",
    )])
}

/// The service class: sends what its adapter submits to its targets.
struct Forward {
    targets: Vec<String>,
}

impl Item for Forward {
    fn process(&mut self, _ctx: &Context<'_>, _msg: &Message<'_>) -> Result<Outcome, Error> {
        Ok(Outcome::completed().forward_to(self.targets.iter().cloned()))
    }
}

// ---- the pack ---------------------------------------------------------------------------

fn classes() -> Vec<ClassDef> {
    vec![
        ClassDef::new("Vendor.Template.UdpOperation", ItemKind::Operation, |_| Ok(Box::new(UdpOperation)))
            .adapter("Vendor.Template.UdpOutbound")
            .doc("sends each message as a UDP datagram"),
        ClassDef::new("Vendor.Template.HeartbeatService", ItemKind::Service, |ctx| {
            Ok(Box::new(Forward { targets: ctx.setting_list("TargetConfigNames") }))
        })
        .adapter("Vendor.Template.HeartbeatInbound")
        .doc("emits a heartbeat message every CallInterval")
        .settings([SettingDef::host("TargetConfigNames", "", "where heartbeats go")]),
    ]
}

/// Unused here; shows how an adapter that listens declares its port, so two items can
/// never be configured on the same one.
#[allow(dead_code)]
fn listening_claim() -> Claim {
    Claim::ListenPort { port: "Port", interface: Some("LocalInterface") }
}

hie_plugin_api::export_pack! {
    name: "hie-pack-template",
    version: env!("CARGO_PKG_VERSION"),
    classes: classes,
    vendor: "Your Company Ltd",
    min_host: "0.1.0",
    adapters: || vec![udp_adapter(), heartbeat_adapter()],
}
