//! The migration report `hie validate` ends with: every class the production uses, how
//! many items use it, and who provides it in HIE — a pack (name and version), nobody
//! because it cannot exist in HIE (and why), nobody yet (a standard IRIS class HIE
//! lacks), or the Trust itself (a custom class to port to a pack). A Trust moving from
//! IRIS sees at once what it must port.
//!
//! # Invariants
//! - Pure: it reads the production and the pack registry, nothing else (the reasons
//!   for unavailable classes come from [`super::validate::unavailable`]).
//! - One row per class, in the order of first use in the production file, so the report
//!   reads like the production.

use super::model::ProductionConfig;
use crate::pack::PackRegistry;
use serde::Serialize;

/// Who provides a class.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Provider {
    /// A loaded pack.
    Pack {
        /// The pack's name.
        pack: String,
        /// Its version.
        version: String,
    },
    /// A standard IRIS class that cannot exist in HIE.
    Unavailable {
        /// Why not.
        reason: String,
    },
    /// A standard IRIS class (`EnsLib.*`, `Ens.*`) that no pack provides yet.
    Missing,
    /// The Trust's own class: port it to a pack.
    Custom,
}

/// One class of the production.
#[derive(Clone, Debug, Serialize)]
pub struct ClassUse {
    /// The IRIS class name.
    pub class: String,
    /// Items of that class.
    pub items: usize,
    /// Of which disabled.
    pub disabled: usize,
    /// Who provides it.
    #[serde(flatten)]
    pub provider: Provider,
}

impl ClassUse {
    /// The provider as one line of text for the table.
    pub fn provided_by(&self) -> String {
        match &self.provider {
            Provider::Pack { pack, version } => format!("{pack} {version}"),
            Provider::Unavailable { reason } => format!("not available in HIE: {reason}"),
            Provider::Missing => "standard IRIS class HIE does not provide yet".to_string(),
            Provider::Custom => "custom class: port it to a pack".to_string(),
        }
    }
}

/// The report for `config` against `packs`.
pub fn report(config: &ProductionConfig, packs: &PackRegistry) -> Vec<ClassUse> {
    let mut rows: Vec<ClassUse> = Vec::new();
    for item in &config.items {
        let class = item.class.trim();
        if let Some(row) = rows.iter_mut().find(|r| r.class == class) {
            row.items += 1;
            row.disabled += usize::from(!item.enabled);
            continue;
        }
        let provider = match packs.class(class) {
            Some((pack, _)) => Provider::Pack { pack: pack.name.clone(), version: pack.version.clone() },
            None => match super::validate::unavailable::reason(class, &item.location.file) {
                Some(reason) => Provider::Unavailable { reason },
                None if class.starts_with("EnsLib.") || class.starts_with("Ens.") => Provider::Missing,
                None => Provider::Custom,
            },
        };
        rows.push(ClassUse { class: class.to_string(), items: 1, disabled: usize::from(!item.enabled), provider });
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> ProductionConfig {
        super::super::load_str(std::path::Path::new("/nonexistent/p.xml"), text).expect("loads")
    }

    #[test]
    fn classes_are_counted_once_each_in_file_order_with_disabled_items_and_who_provides_them() {
        let c = config(
            r#"<Production Name="P">
  <Item Name="A" ClassName="Trust.Custom.Thing" Enabled="true"/>
  <Item Name="B" ClassName="EnsLib.JavaGateway.Service" Enabled="true"/>
  <Item Name="C" ClassName="Trust.Custom.Thing" Enabled="false"/>
  <Item Name="D" ClassName="EnsLib.HL7.Service.TCPAckInService" Enabled="false"/>
</Production>"#,
        );
        let rows = report(&c, &PackRegistry::default());
        let summary: Vec<(&str, usize, usize)> = rows.iter().map(|r| (r.class.as_str(), r.items, r.disabled)).collect();
        assert_eq!(
            summary,
            [
                ("Trust.Custom.Thing", 2, 1),
                ("EnsLib.JavaGateway.Service", 1, 0),
                ("EnsLib.HL7.Service.TCPAckInService", 1, 1)
            ]
        );
        assert_eq!(rows[0].provider, Provider::Custom);
        assert!(matches!(&rows[1].provider, Provider::Unavailable { reason } if reason.contains("Java")));
        assert_eq!(rows[2].provider, Provider::Missing);
        assert!(rows[1].provided_by().starts_with("not available in HIE: "));
    }

    #[test]
    fn a_class_a_loaded_pack_provides_names_the_pack_and_its_version() {
        let c = config(r#"<Production Name="P"><Item Name="A" ClassName="HIE.Fake.Class"/></Production>"#);
        let mut packs = PackRegistry::default();
        let mut pack = crate::pack::LoadedPack::fake("hie-pack-fake", "00");
        pack.version = "2.1.0".into();
        pack.classes.push(crate::pack::ClassInfo {
            name: "HIE.Fake.Class".into(),
            kind: hie_plugin_api::ItemKind::Process,
            adapter: String::new(),
            doc: String::new(),
            settings: Vec::new(),
        });
        packs.add(std::sync::Arc::new(pack));
        let rows = report(&c, &packs);
        assert_eq!(rows[0].provided_by(), "hie-pack-fake 2.1.0");
    }
}
