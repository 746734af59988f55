//! The probe pack: item classes that behave exactly as a test tells them to.
//!
//! `HIE.Test.Probe` (process) looks at the message body:
//! - contains `PANIC` → panics in `process`;
//! - contains `SEGV` → dereferences a null pointer (kills its process);
//! - contains `ABORT` → aborts;
//! - contains `SLEEP<ms>` → sleeps that long;
//! - contains `SPIN<ms>` → burns CPU that long (benchmarks);
//! - contains `ALLOC<mb>` → allocates and keeps that much memory;
//! - contains `FAIL` → returns an error;
//! - contains `HOOKFAIL` → `on_before_process` fails;
//! - contains `CALL:<item>;` → calls that item with `send_sync` (timeout `CALLMS<ms>`,
//!   default 5000) and appends `ZPC|<reply MSH-10 or ERROR:...>`;
//! - contains `DEFER<ms>` → defers its reply and answers it from another thread later;
//! otherwise it forwards the body with `ZPR|<version>|<pid>|<hooks so far>` appended to
//! its TargetConfigNames and replies with the same body. Every hook call is counted
//! (`/metrics` counters `hook_<name>`), so tests can see which hooks ran where.
//! `HIE.Test.Probe` reads `HIE_PROBE_VERSION` at build time; built with
//! `HIE_PROBE_FAIL_INIT=1` its `on_init` fails, with `=panic` it panics.

use hie_plugin_api::{ClassDef, Context, Error, ErrorAction, Item, ItemKind, Message, Outcome, Send, SettingDef};

const VERSION: &str = match option_env!("HIE_PROBE_VERSION") {
    Some(v) => v,
    None => "dev",
};
const FAIL_INIT: Option<&str> = option_env!("HIE_PROBE_FAIL_INIT");

struct Probe {
    targets: Vec<String>,
    hooks: Vec<&'static str>,
}

impl Probe {
    fn hook(&mut self, ctx: &Context<'_>, name: &'static str) {
        self.hooks.push(name);
        ctx.count(&format!("hook_{name}"), 1);
    }
}

impl Item for Probe {
    fn on_init(&mut self, ctx: &Context<'_>) -> Result<(), Error> {
        self.hook(ctx, "on_init");
        match FAIL_INIT {
            Some("panic") => panic!("probe {VERSION} panics in on_init"),
            Some(_) => Err(Error::failed(format!("probe {VERSION} refuses to initialise"))),
            None => Ok(()),
        }
    }

    fn on_start(&mut self, ctx: &Context<'_>) -> Result<(), Error> {
        self.hook(ctx, "on_start");
        Ok(())
    }

    fn on_stop(&mut self, ctx: &Context<'_>) -> Result<(), Error> {
        self.hook(ctx, "on_stop");
        ctx.info(&format!("probe on_stop in pid {}", std::process::id()));
        Ok(())
    }

    fn on_teardown(&mut self, ctx: &Context<'_>) -> Result<(), Error> {
        self.hook(ctx, "on_teardown");
        ctx.info(&format!("probe on_teardown in pid {}", std::process::id()));
        Ok(())
    }

    fn on_before_process(&mut self, ctx: &Context<'_>, msg: &Message<'_>) -> Result<(), Error> {
        self.hook(ctx, "on_before_process");
        if contains(msg.body(), b"HOOKFAIL") {
            return Err(Error::failed("on_before_process refused the message"));
        }
        Ok(())
    }

    fn process(&mut self, ctx: &Context<'_>, msg: &Message<'_>) -> Result<Outcome, Error> {
        self.hook(ctx, "process");
        let body = msg.body();
        if contains(body, b"PANIC") {
            panic!("probe was asked to panic");
        }
        if contains(body, b"SEGV") {
            // SAFETY: deliberately invalid, to crash the process running this item.
            unsafe { std::ptr::null_mut::<u64>().write_volatile(1) };
        }
        if contains(body, b"ABORT") {
            std::process::abort();
        }
        if let Some(ms) = number_after(body, b"SPIN") {
            let until = std::time::Instant::now() + std::time::Duration::from_millis(ms);
            let mut x: u64 = 1;
            while std::time::Instant::now() < until {
                for _ in 0..1000 {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                }
            }
            std::hint::black_box(x);
        }
        if let Some(mb) = number_after(body, b"ALLOC") {
            let mut v = vec![0u8; (mb as usize) << 20];
            for i in (0..v.len()).step_by(4096) {
                v[i] = 1;
            }
            std::mem::forget(v);
            std::thread::sleep(std::time::Duration::from_millis(1500));
        }
        if let Some(ms) = number_after(body, b"SLEEP") {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        // A caller strips its CALL marker from what it sends, so the callee sees the rest
        // (e.g. DEFER) and the caller never acts on the callee's markers.
        let mut called = None;
        if let Some(target) = text_after(body, b"CALL:") {
            let timeout = std::time::Duration::from_millis(number_after(body, b"CALLMS").unwrap_or(5000));
            let marker = format!("CALL:{target};");
            let text = String::from_utf8_lossy(body).replace(&marker, "");
            called = Some(match ctx.send_sync(Send::new(target, text.into_bytes()), Some(timeout)) {
                Ok(reply) => {
                    let text = String::from_utf8_lossy(&reply).to_string();
                    let id = text.split('\r').next().and_then(|msh| msh.split('|').nth(9)).unwrap_or("").to_string();
                    format!("{id}^{}", if text.contains("ZDF|") { "deferred" } else { "direct" })
                }
                Err(e) => format!("ERROR:{}", e.message.replace('|', "/").replace('\r', " ").replace('^', " ")),
            });
        } else if let Some(ms) = number_after(body, b"DEFER") {
            let token = ctx.defer_reply()?;
            let host = ctx.raw().clone();
            let mut reply = body.to_vec();
            reply.extend_from_slice(format!("ZDF|{VERSION}|{}\r", std::process::id()).as_bytes());
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(ms));
                let _ = hie_plugin_api::send_deferred_reply(&host, &token, reply);
            });
            return Ok(Outcome::completed());
        }
        if contains(body, b"FAIL") && !contains(body, b"HOOKFAIL") {
            return Err(Error::failed("probe was asked to fail"));
        }
        let mut out = body.to_vec();
        while out.last().is_some_and(|b| *b == b'\r' || *b == b'\n') {
            out.pop();
        }
        out.extend_from_slice(format!("\rZPR|{VERSION}|{}|{}\r", std::process::id(), self.hooks.join(",")).as_bytes());
        if let Some(c) = called {
            out.extend_from_slice(format!("ZPC|{c}\r").as_bytes());
        }
        self.hooks.clear();
        let mut outcome = Outcome::completed().reply(out.clone());
        for t in &self.targets {
            outcome = outcome.send(Send::new(t.clone(), out.clone()));
        }
        Ok(outcome)
    }

    fn on_after_process(&mut self, ctx: &Context<'_>, _msg: &Message<'_>, _o: &Outcome) -> Result<(), Error> {
        self.hook(ctx, "on_after_process");
        Ok(())
    }

    fn on_process_error(&mut self, ctx: &Context<'_>, _msg: &Message<'_>, _e: &Error) -> ErrorAction {
        self.hook(ctx, "on_process_error");
        ErrorAction::Default
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn text_after(hay: &[u8], key: &[u8]) -> Option<String> {
    let pos = hay.windows(key.len()).position(|w| w == key)? + key.len();
    let text: String = hay[pos..].iter().take_while(|b| !b";|\r^".contains(b)).map(|b| *b as char).collect();
    (!text.is_empty()).then_some(text)
}

fn number_after(hay: &[u8], key: &[u8]) -> Option<u64> {
    let pos = hay.windows(key.len()).position(|w| w == key)? + key.len();
    let digits: String = hay[pos..].iter().take_while(|b| b.is_ascii_digit()).map(|b| *b as char).collect();
    digits.parse().ok()
}

fn probe() -> ClassDef {
    ClassDef::new("HIE.Test.Probe", ItemKind::Process, |ctx| {
        Ok(Box::new(Probe { targets: ctx.setting_list("TargetConfigNames"), hooks: Vec::new() }))
    })
    .doc("test item that misbehaves on demand and reports its version")
    .settings([SettingDef::host("TargetConfigNames", "", "where to forward")])
}

/// The probe as an MLLP business service: its reply (the body with `ZPR`, and `ZPC` for a
/// call) goes back to the sender, so a test sees what service code did on the intake
/// thread, e.g. a `send_sync`.
fn probe_service() -> ClassDef {
    ClassDef::new("HIE.Test.ProbeService", ItemKind::Service, |ctx| {
        Ok(Box::new(Probe { targets: ctx.setting_list("TargetConfigNames"), hooks: Vec::new() }))
    })
    .adapter(hie_plugin_api::adapters::TCP_MLLP_INBOUND)
    .doc("test service that behaves like HIE.Test.Probe and replies with what it did")
    .settings([
        SettingDef::host("TargetConfigNames", "", "where to forward"),
        SettingDef::adapter("Port", "", "TCP port to listen on"),
    ])
}

hie_plugin_api::export_pack! {
    name: "hie-pack-probe",
    version: VERSION,
    classes: || vec![probe(), probe_service()],
}
