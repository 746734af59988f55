//! `HIE.Process.Passthrough`: forwards every message to its TargetConfigNames.

use hie_plugin_api::{ClassDef, Context, Error, Item, ItemKind, Message, Outcome, SettingDef};

/// The class.
pub fn passthrough() -> ClassDef {
    ClassDef::new("HIE.Process.Passthrough", ItemKind::Process, |ctx| {
        Ok(Box::new(Passthrough { targets: ctx.setting_list("TargetConfigNames") }))
    })
    .doc("forwards every message unchanged to each of its TargetConfigNames")
    .settings([SettingDef::host("TargetConfigNames", "", "comma-separated items that receive every message")])
}

struct Passthrough {
    targets: Vec<String>,
}

impl Item for Passthrough {
    fn process(&mut self, _ctx: &Context<'_>, _msg: &Message<'_>) -> Result<Outcome, Error> {
        Ok(Outcome::completed().forward_to(self.targets.iter().cloned()))
    }
}
