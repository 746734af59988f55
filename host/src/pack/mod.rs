//! Plugin packs: finding, staging, loading and checking the `.so` files item classes come from.
//!
//! # Invariants
//! - A pack is never loaded from where it was deployed: it is copied to
//!   `<data-dir>/packs/<stem>-<sha256 prefix>.so` first and loaded from there. glibc
//!   deduplicates `dlopen` by path and overwriting a mapped file crashes the process, so
//!   each content gets its own path and a mapped file is never touched again.
//! - Loaded libraries are never unloaded (abi_stable leaks them on purpose).
//! - One bad pack never stops the others from loading: failures are collected with a
//!   short, readable reason.

mod loader;
pub mod trust;

pub use loader::{PackFailure, load_pack, load_staged, pack_candidates, sha256_file, sha256_hex, stage_pack};
pub use trust::Trust;

use hie_plugin_api::abi::{ItemKind, PackRootRef, SettingTarget};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// One setting a class declares.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SettingInfo {
    /// Name as IRIS spells it.
    pub name: String,
    /// Host or Adapter.
    #[serde(serialize_with = "ser_target")]
    pub target: SettingTarget,
    /// Default value.
    pub default: String,
    /// One-line doc.
    pub doc: String,
    /// Implemented (false: accepted and reported by validate).
    pub supported: bool,
}

fn ser_target<S: serde::Serializer>(t: &SettingTarget, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match t {
        SettingTarget::Host => "Host",
        SettingTarget::Adapter => "Adapter",
    })
}

fn ser_kind<S: serde::Serializer>(k: &ItemKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind_name(*k))
}

/// The name of an item kind as configs and the API spell it.
pub fn kind_name(k: ItemKind) -> &'static str {
    match k {
        ItemKind::Service => "service",
        ItemKind::Process => "process",
        ItemKind::Operation => "operation",
    }
}

/// A class a loaded pack provides.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ClassInfo {
    /// Class name.
    pub name: String,
    /// Service, process or operation.
    #[serde(serialize_with = "ser_kind")]
    pub kind: ItemKind,
    /// Host adapter it pairs with, or empty.
    pub adapter: String,
    /// One-line doc.
    pub doc: String,
    /// Declared settings.
    pub settings: Vec<SettingInfo>,
}

impl ClassInfo {
    /// The declared setting called `name`.
    pub fn setting(&self, name: &str) -> Option<&SettingInfo> {
        self.settings.iter().find(|s| s.name == name)
    }
}

/// Kinds of class settings: class → setting → kind.
pub type SettingKinds = BTreeMap<String, BTreeMap<String, hie_plugin_api::settings::SettingKind>>;

/// A setting kind as the ABI carries it, read back.
pub fn kind_from_ffi(s: &hie_plugin_api::abi::adapter::TypedSettingSpec) -> hie_plugin_api::settings::SettingKind {
    use hie_plugin_api::abi::adapter::SettingKindFfi as K;
    use hie_plugin_api::settings::SettingKind;
    match s.kind {
        K::Text => SettingKind::Text,
        K::Bool => SettingKind::Bool,
        K::Int => SettingKind::Int { min: s.min, max: s.max },
        K::Port => SettingKind::Port,
        K::Seconds => SettingKind::Seconds { forever: false },
        K::SecondsOrForever => SettingKind::Seconds { forever: true },
        K::Number => SettingKind::Number,
        K::Choice => SettingKind::Choice(s.choices.iter().map(|c| c.to_string()).collect()),
        K::List => SettingKind::List,
    }
}

/// A pack's adapter as the registry knows it.
pub fn adapter_spec_from_ffi(
    a: &hie_plugin_api::abi::adapter::AdapterSpecFfi,
    provider: crate::adapter::registry::Provider,
) -> crate::adapter::registry::AdapterSpec {
    use crate::adapter::registry::{AdapterSetting, AdapterSpec, Claim, Direction};
    use hie_plugin_api::abi::adapter::{AdapterDirection, ClaimKind};
    AdapterSpec {
        name: a.name.to_string(),
        direction: match a.direction {
            AdapterDirection::Inbound => Direction::Inbound,
            AdapterDirection::Outbound => Direction::Outbound,
        },
        doc: a.doc.to_string(),
        settings: a
            .settings
            .iter()
            .map(|s| AdapterSetting {
                name: s.name.to_string(),
                kind: kind_from_ffi(s),
                default: s.default.to_string(),
                required: s.required,
                doc: s.doc.to_string(),
            })
            .collect(),
        claims: a
            .claims
            .iter()
            .map(|c| match c.kind {
                ClaimKind::ListenPort => Claim::ListenPort {
                    port: c.setting.to_string(),
                    interface: Some(c.interface_setting.to_string()).filter(|s| !s.is_empty()),
                },
                ClaimKind::Directory => Claim::Directory { setting: c.setting.to_string() },
            })
            .collect(),
        provider,
    }
}

/// A pack loaded into this process.
#[derive(Clone, serde::Serialize)]
pub struct LoadedPack {
    /// Pack name from its manifest.
    pub name: String,
    /// Pack version from its manifest.
    pub version: String,
    /// ABI generation it was built for.
    pub abi_version: u32,
    /// SDK version it was built with.
    pub sdk_version: String,
    /// Where it was deployed (the file ops manage).
    pub source_path: PathBuf,
    /// The content-hashed copy actually loaded.
    pub staged_path: PathBuf,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// Load generation: increases with every pack load in this engine run.
    pub generation: u64,
    /// Classes the pack provides.
    pub classes: Vec<ClassInfo>,
    /// The ABI minor the pack needs (0 for a 1.0 pack).
    pub abi_minor: u32,
    /// Who made it (ABI 1.1; empty before).
    pub vendor: String,
    /// The oldest host version it runs on (ABI 1.1; empty for any).
    pub min_host_version: String,
    /// The adapters it provides (ABI 1.1).
    pub adapters: Vec<crate::adapter::registry::AdapterSpec>,
    /// Kinds of its classes' settings (ABI 1.1): class → setting → kind.
    #[serde(skip)]
    pub setting_kinds: SettingKinds,
    /// The root module (function table) of the loaded library.
    #[serde(skip)]
    pub root: PackRootRef,
    /// Its 1.1 view, when the pack is a 1.1 pack (adapters).
    #[serde(skip)]
    pub root11: Option<hie_plugin_api::abi::adapter::PackRootRef>,
}

impl std::fmt::Debug for LoadedPack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPack")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("sha256", &self.sha256)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
impl LoadedPack {
    /// A pack with no library behind it (its root module makes nothing), for tests of
    /// code that only reads a pack's identity.
    pub(crate) fn fake(name: &str, sha256: &str) -> LoadedPack {
        use abi_stable::prefix_type::PrefixTypeTrait;
        use abi_stable::std_types::{RResult, RStr, RVec};
        use hie_plugin_api::abi::{ErrorKind, HostCtx, ItemBox, PackManifest, PackRoot, PluginError};
        extern "C" fn manifest() -> PackManifest {
            PackManifest {
                name: "fake".into(),
                version: "0".into(),
                abi_version: hie_plugin_api::ABI_VERSION,
                sdk_version: "0".into(),
                classes: RVec::new(),
            }
        }
        extern "C" fn create_item(_: RStr<'_>, _: RStr<'_>, _: &HostCtx) -> RResult<ItemBox, PluginError> {
            RResult::RErr(PluginError::new(ErrorKind::Failed, "a fake pack makes no items"))
        }
        LoadedPack {
            name: name.to_string(),
            version: "0".into(),
            abi_version: hie_plugin_api::ABI_VERSION,
            sdk_version: "0".into(),
            source_path: PathBuf::from(format!("{name}.so")),
            staged_path: PathBuf::from(format!("{name}-{sha256}.so")),
            sha256: sha256.to_string(),
            generation: 1,
            classes: Vec::new(),
            abi_minor: 0,
            vendor: String::new(),
            min_host_version: String::new(),
            adapters: Vec::new(),
            setting_kinds: SettingKinds::new(),
            root: PackRoot { manifest, create_item }.leak_into_prefix(),
            root11: None,
        }
    }
}

/// Every pack loaded for a production, indexed by class, and every adapter (the host's
/// and the packs').
#[derive(Clone, Debug)]
pub struct PackRegistry {
    /// Loaded packs, in load order.
    pub packs: Vec<Arc<LoadedPack>>,
    /// Packs that failed to load, with why.
    pub failures: Vec<PackFailure>,
    /// Directories that were searched, in order (named in "unknown class" errors).
    pub searched: Vec<PathBuf>,
    /// Class name → the pack that provides it (first loaded wins).
    classes: BTreeMap<String, Arc<LoadedPack>>,
    /// Every adapter classes can pair with.
    pub adapters: crate::adapter::registry::AdapterRegistry,
}

impl Default for PackRegistry {
    fn default() -> Self {
        PackRegistry {
            packs: Vec::new(),
            failures: Vec::new(),
            searched: Vec::new(),
            classes: BTreeMap::new(),
            adapters: crate::adapter::registry::AdapterRegistry::with_host_adapters(),
        }
    }
}

impl PackRegistry {
    /// Adds a loaded pack; a class already provided by an earlier pack keeps the earlier one
    /// (and the clash is recorded as a failure so operators see it).
    pub fn add(&mut self, pack: Arc<LoadedPack>) {
        for class in &pack.classes {
            match self.classes.get(&class.name) {
                Some(existing) if existing.sha256 != pack.sha256 => {
                    self.failures.push(PackFailure {
                        path: pack.source_path.clone(),
                        reason: format!(
                            "class {} is also provided by pack {} ({}); keeping the first",
                            class.name,
                            existing.name,
                            existing.source_path.display()
                        ),
                        detail: String::new(),
                    });
                }
                Some(_) => {}
                None => {
                    self.classes.insert(class.name.clone(), pack.clone());
                }
            }
        }
        for adapter in &pack.adapters {
            let same_pack = self.adapters.get(&adapter.name).is_some_and(|a| a.provider == adapter.provider);
            if same_pack {
                continue;
            }
            if let Err(reason) = self.adapters.register(adapter.clone()) {
                self.failures.push(PackFailure { path: pack.source_path.clone(), reason, detail: String::new() });
            }
        }
        self.packs.push(pack);
    }

    /// The pack that provides adapter `name`, if a pack (rather than the host) does.
    pub fn adapter_pack(&self, name: &str) -> Option<&Arc<LoadedPack>> {
        let crate::adapter::registry::Provider::Pack { name: pack, version } = &self.adapters.get(name)?.provider
        else {
            return None;
        };
        self.packs.iter().rev().find(|p| &p.name == pack && &p.version == version)
    }

    /// The pack and class info for `class`.
    pub fn class(&self, class: &str) -> Option<(&Arc<LoadedPack>, &ClassInfo)> {
        let pack = self.classes.get(class)?;
        let info = pack.classes.iter().find(|c| c.name == class)?;
        Some((pack, info))
    }

    /// Every class name, sorted.
    pub fn class_names(&self) -> impl Iterator<Item = &str> {
        self.classes.keys().map(|s| s.as_str())
    }

    /// Replaces the pack loaded from `old_source` with `new` (hot reload): its classes
    /// and its adapters.
    pub fn replace(&mut self, old_source: &std::path::Path, new: Arc<LoadedPack>) {
        for old in self.packs.iter().filter(|p| p.source_path == old_source) {
            self.adapters.remove_provider(&crate::adapter::registry::Provider::Pack {
                name: old.name.clone(),
                version: old.version.clone(),
            });
        }
        self.packs.retain(|p| p.source_path != old_source);
        self.classes.retain(|_, p| p.source_path != old_source);
        self.add(new);
    }
}

/// Loads every pack found in `dirs` (staging copies in `stage_dir`). Files that are not
/// HIE packs are skipped; packs that fail are recorded with a short reason and the rest
/// still load. `generation` numbers the loads.
pub fn scan(
    dirs: &[PathBuf],
    stage_dir: &std::path::Path,
    generation: &std::sync::atomic::AtomicU64,
    trust: Option<&Trust>,
) -> PackRegistry {
    let mut registry = PackRegistry { searched: dirs.to_vec(), ..Default::default() };
    let mut seen_hashes = std::collections::HashSet::new();
    for path in pack_candidates(dirs) {
        let g = generation.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match load_pack(&path, stage_dir, g, trust) {
            Ok(Some(pack)) => {
                if !seen_hashes.insert(pack.sha256.clone()) {
                    // The same file found twice (e.g. binary dir and --plugins): load once.
                    continue;
                }
                tracing::info!(pack = %pack.name, version = %pack.version, path = %path.display(), classes = pack.classes.len(), "pack loaded");
                registry.add(Arc::new(pack));
            }
            Ok(None) => tracing::debug!(path = %path.display(), "not a HIE pack; skipped"),
            Err(failure) => {
                tracing::warn!(path = %path.display(), reason = %failure.reason, "pack rejected");
                tracing::debug!(path = %path.display(), detail = %failure.detail, "pack rejection detail");
                registry.failures.push(failure);
            }
        }
    }
    registry
}

/// Whether two paths name the same file (after resolving `.` and symlinks when possible).
pub fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}
