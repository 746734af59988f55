//! Validation of what items ask of their adapters: the adapter exists, its settings read
//! as their kinds, the required ones have values, and no two enabled items claim the
//! same port or directory.
//!
//! # Invariants
//! - Every check here is one the adapter would otherwise fail at start or, worse, get
//!   silently wrong: `validate` exit 0 means the adapters start.
//! - Each problem names the file and line of the setting (or of the item, when the value
//!   is a default), the item and the setting.

use super::diagnostics::Diagnostic;
use super::model::{ItemConfig, Location};
use super::plan::ItemPlan;
use crate::adapter::registry::{AdapterRegistry, Claim};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Component, Path, PathBuf};

/// Checks `plan`'s adapter against the registry and fills in the adapter's defaults for
/// settings neither the item nor its class sets. `config` is the item as written.
pub fn check_adapter(
    plan: &mut ItemPlan,
    config: &ItemConfig,
    registry: &AdapterRegistry,
    diags: &mut Vec<Diagnostic>,
) {
    if plan.adapter.is_empty() {
        return;
    }
    let Some(spec) = registry.get(&plan.adapter) else {
        let known: Vec<&str> = registry.all().map(|a| a.name.as_str()).collect();
        diags.push(
            Diagnostic::error(
                &config.location,
                format!(
                    "class {} needs adapter {:?}, which neither the host nor a loaded pack provides (adapters: {})",
                    plan.class,
                    plan.adapter,
                    known.join(", ")
                ),
            )
            .item(&plan.name)
            .setting("ClassName"),
        );
        return;
    };
    for s in &spec.settings {
        let value = plan.settings.entry(s.name.clone()).or_insert_with(|| s.default.clone()).clone();
        let written = config.any_setting(&s.name);
        let location = written.map(|w| w.location.clone()).unwrap_or_else(|| config.location.clone());
        if value.trim().is_empty() {
            if s.required && plan.enabled {
                diags.push(
                    Diagnostic::error(
                        &location,
                        format!("adapter setting {} is required by {} ({})", s.name, spec.name, s.doc),
                    )
                    .item(&plan.name)
                    .setting(&s.name),
                );
            }
            continue;
        }
        if let Err(e) = s.kind.check(&value) {
            let from = if written.is_some() { "" } else { " (the class default)" };
            diags.push(Diagnostic::error(&location, format!("{e}{from}")).item(&plan.name).setting(&s.name));
        }
    }
}

/// What a claim is, compared across items.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Resource {
    /// A TCP port on an address (`None` = every interface).
    Port(u16, Option<IpAddr>),
    /// A directory, normalised.
    Directory(PathBuf),
}

impl Resource {
    /// Whether two claims cannot both be held.
    fn clashes(&self, other: &Resource) -> bool {
        match (self, other) {
            (Resource::Port(a, ia), Resource::Port(b, ib)) => a == b && (ia.is_none() || ib.is_none() || ia == ib),
            (Resource::Directory(a), Resource::Directory(b)) => a == b,
            _ => false,
        }
    }

    fn describe(&self) -> String {
        match self {
            Resource::Port(p, None) => format!("port {p}"),
            Resource::Port(p, Some(ip)) => format!("port {p} on {ip}"),
            Resource::Directory(d) => format!("directory {}", d.display()),
        }
    }
}

/// The resources `plan` claims, with the setting each comes from.
fn claims_of(plan: &ItemPlan, registry: &AdapterRegistry, base: &Path) -> Vec<(Resource, String)> {
    let Some(spec) = registry.get(&plan.adapter) else { return Vec::new() };
    let mut out = Vec::new();
    for claim in &spec.claims {
        match claim {
            Claim::ListenPort { port, interface } => {
                let Some(p) = plan.setting(port).and_then(|v| v.trim().parse::<u16>().ok()) else { continue };
                let ip = interface
                    .as_deref()
                    .and_then(|i| plan.setting(i))
                    .and_then(|v| crate::adapter::address::local_interface(v).ok().flatten());
                out.push((Resource::Port(p, ip), port.clone()));
            }
            Claim::Directory { setting } => {
                let Some(dir) = plan.setting(setting).map(str::trim).filter(|d| !d.is_empty()) else { continue };
                out.push((Resource::Directory(normalise(&base.join(dir))), setting.clone()));
            }
        }
    }
    out
}

/// A path with `.` and `..` folded (and resolved through the file system when it exists).
fn normalise(path: &Path) -> PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Reports every pair of enabled items claiming one resource, naming both.
pub fn check_claims(
    plans: &[ItemPlan],
    configs: &BTreeMap<&str, &ItemConfig>,
    registry: &AdapterRegistry,
    diags: &mut Vec<Diagnostic>,
) {
    let cwd = std::env::current_dir().unwrap_or_default();
    let mut held: Vec<(Resource, &ItemPlan, String)> = Vec::new();
    for plan in plans.iter().filter(|p| p.enabled) {
        for (resource, setting) in claims_of(plan, registry, &cwd) {
            if let Some((_, first, first_setting)) = held.iter().find(|(r, _, _)| r.clashes(&resource)) {
                let location: Location = configs
                    .get(&*plan.name)
                    .and_then(|c| c.any_setting(&setting))
                    .map(|s| s.location.clone())
                    .unwrap_or_else(|| plan.location.clone());
                diags.push(
                    Diagnostic::error(
                        &location,
                        format!(
                            "{} is already used by item '{}' ({first_setting}, line {}): two items cannot claim the same one",
                            resource.describe(),
                            first.name,
                            first.location.line
                        ),
                    )
                    .item(&plan.name)
                    .setting(&setting),
                );
                continue;
            }
            held.push((resource, plan, setting));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_clash_on_the_same_address_or_when_either_listens_everywhere() {
        let any = Resource::Port(2575, None);
        let lo: IpAddr = "127.0.0.1".parse().expect("ip");
        let other: IpAddr = "10.0.0.1".parse().expect("ip");
        assert!(any.clashes(&Resource::Port(2575, Some(lo))));
        assert!(Resource::Port(2575, Some(lo)).clashes(&Resource::Port(2575, Some(lo))));
        assert!(!Resource::Port(2575, Some(lo)).clashes(&Resource::Port(2575, Some(other))));
        assert!(!any.clashes(&Resource::Port(2576, None)));
    }

    #[test]
    fn directories_compare_after_folding_dots() {
        let a = Resource::Directory(normalise(Path::new("/nonexistent/in/../in/./adt")));
        let b = Resource::Directory(normalise(Path::new("/nonexistent/in/adt")));
        assert!(a.clashes(&b));
    }
}
