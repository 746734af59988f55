//! A pack built against the 1.0 SDK: a process that stamps each message and forwards it,
//! reading one of its settings and counting what it did, so a test can see it run.

use hie_plugin_api::hl7::{MessageBuf, Path};
use hie_plugin_api::{ClassDef, Context, Error, Item, ItemKind, Message, Outcome, Send, SettingDef};

struct Stamp {
    /// Written into NTE-3 of a new NTE segment.
    text: String,
}

impl Item for Stamp {
    fn process(&mut self, ctx: &Context<'_>, msg: &Message<'_>) -> Result<Outcome, Error> {
        let mut buf = MessageBuf::parse(msg.body())?;
        let path: Path = "ZV1-1".parse().map_err(|e| Error::failed(format!("{e}")))?;
        buf.set(&path, &self.text).map_err(|e| Error::failed(format!("{e}")))?;
        ctx.count("stamped", 1);
        let mut outcome = Outcome::completed();
        for target in ctx.setting_list("TargetConfigNames") {
            outcome = outcome.send(Send::new(target, buf.to_bytes()));
        }
        Ok(outcome)
    }
}

fn stamp_class() -> ClassDef {
    ClassDef::new("HIE.Test.V1Stamp", ItemKind::Process, |ctx| {
        Ok(Box::new(Stamp { text: ctx.setting_or("Stamp", "built against SDK 1.0") }))
    })
    .doc("adds a ZV1 segment carrying its Stamp setting and forwards (built with the 1.0 SDK)")
    .settings([
        SettingDef::host("TargetConfigNames", "", "where to send"),
        SettingDef::host("Stamp", "built against SDK 1.0", "text for ZV1-1"),
    ])
}

hie_plugin_api::export_pack! {
    name: "hie-pack-v1",
    version: env!("CARGO_PKG_VERSION"),
    classes: || vec![stamp_class()],
}
