//! Finding pack files, staging them under a content hash and loading them.

use super::{ClassInfo, LoadedPack, SettingInfo};
use abi_stable::library::{LibraryError, lib_header_from_path};
use hie_plugin_api::ABI_VERSION;
use hie_plugin_api::abi::PackRootRef;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A pack that could not be loaded.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PackFailure {
    /// The file.
    pub path: PathBuf,
    /// Short reason for operators (one line).
    pub reason: String,
    /// Full detail (e.g. abi_stable's layout dump), for the debug log.
    #[serde(skip)]
    pub detail: String,
}

impl std::fmt::Display for PackFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

/// Every `*.so` file directly in each directory (not recursive), sorted by name.
/// Missing directories are skipped.
pub fn pack_candidates(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.extension().is_some_and(|e| e == "so")
                    && p.is_file()
                    && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        files.sort();
        out.extend(files);
    }
    out
}

/// Hex SHA-256 of a file, read in chunks (packs can be large; reload checks hash them
/// all on every directory event).
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Copies `path` to `<stage_dir>/<stem>-<sha256[..16]>.so` (unless that copy exists) and
/// returns the staged path and the full hash. The copy is written to a temporary name
/// and renamed, so a staged file is always complete.
pub fn stage_pack(path: &Path, stage_dir: &Path) -> std::io::Result<(PathBuf, String)> {
    let bytes = std::fs::read(path)?;
    let sha = sha256_hex(&bytes);
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("pack");
    std::fs::create_dir_all(stage_dir)?;
    let staged = stage_dir.join(format!("{stem}-{}.so", &sha[..16]));
    if !staged.exists() {
        let tmp = stage_dir.join(format!(".{stem}-{}.so.tmp-{}", &sha[..16], std::process::id()));
        std::fs::write(&tmp, &bytes)?;
        std::fs::rename(&tmp, &staged)?;
    }
    Ok((staged, sha))
}

/// Loads the pack at `path`: stages it, opens it, checks its layout and ABI version and
/// reads its manifest. `Ok(None)` when the file is not a HIE pack at all (no root module).
///
/// With `trust`, a pack outside the `hie` binary's own directory loads only if its
/// signature verifies ([`super::trust`]).
pub fn load_pack(
    path: &Path,
    stage_dir: &Path,
    generation: u64,
    trust: Option<&super::Trust>,
) -> Result<Option<LoadedPack>, PackFailure> {
    let fail = |reason: String, detail: String| PackFailure { path: path.to_path_buf(), reason, detail };
    let (staged, sha256) =
        stage_pack(path, stage_dir).map_err(|e| fail(format!("cannot stage pack: {e}"), String::new()))?;
    if let Some(t) = trust
        && !installed_with_the_host(path)
    {
        t.check(path, &sha256).map_err(|r| fail(r, String::new()))?;
    }
    load_staged(path, &staged, sha256, generation)
}

/// Whether `path` is a pack beside the running `hie` binary (installed with it).
fn installed_with_the_host(path: &Path) -> bool {
    let dir = |p: &Path| p.parent().and_then(|d| d.canonicalize().ok());
    match (std::env::current_exe().ok(), path.canonicalize().ok()) {
        (Some(exe), Some(p)) => dir(&exe).is_some() && dir(&exe) == dir(&p),
        _ => false,
    }
}

/// Loads an already staged pack file (workers load the engine's staged copy directly).
pub fn load_staged(
    source: &Path,
    staged: &Path,
    sha256: String,
    generation: u64,
) -> Result<Option<LoadedPack>, PackFailure> {
    let fail = |reason: String, detail: String| PackFailure { path: source.to_path_buf(), reason, detail };
    let header = match lib_header_from_path(staged) {
        Ok(h) => h,
        Err(LibraryError::GetSymbolError { .. }) => return Ok(None),
        Err(e) => return Err(fail(summarise(&e), e.to_string())),
    };
    let root: PackRootRef = header.init_root_module::<PackRootRef>().map_err(|e| fail(summarise(&e), e.to_string()))?;
    // A 1.1 pack's root is wider: the layout check says whether this one is.
    let root11 = header.check_layout::<hie_plugin_api::abi::adapter::PackRootRef>().ok();
    let manifest = (root.manifest())();
    if manifest.abi_version != ABI_VERSION {
        return Err(fail(
            format!(
                "pack {} {} was built for HIE ABI {} but this host speaks ABI {}; rebuild it against hie-plugin-api for ABI {}",
                manifest.name, manifest.version, manifest.abi_version, ABI_VERSION, ABI_VERSION
            ),
            String::new(),
        ));
    }
    let ext =
        read_manifest_ext(root11.as_ref(), &manifest.name, &manifest.version).map_err(|r| fail(r, String::new()))?;
    let classes = manifest
        .classes
        .iter()
        .map(|c| ClassInfo {
            name: c.name.to_string(),
            kind: c.kind,
            adapter: c.adapter.to_string(),
            doc: c.doc.to_string(),
            settings: c
                .settings
                .iter()
                .map(|s| SettingInfo {
                    name: s.name.to_string(),
                    target: s.target,
                    default: s.default.to_string(),
                    doc: s.doc.to_string(),
                    supported: s.supported,
                })
                .collect(),
        })
        .collect();
    Ok(Some(LoadedPack {
        name: manifest.name.to_string(),
        version: manifest.version.to_string(),
        abi_version: manifest.abi_version,
        sdk_version: manifest.sdk_version.to_string(),
        source_path: source.to_path_buf(),
        staged_path: staged.to_path_buf(),
        sha256,
        generation,
        classes,
        abi_minor: ext.abi_minor,
        vendor: ext.vendor,
        min_host_version: ext.min_host_version,
        adapters: ext.adapters,
        setting_kinds: ext.setting_kinds,
        root,
        root11,
    }))
}

/// The version of this host, which a pack's `min_host_version` is compared with.
pub const HOST_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What a 1.1 manifest adds, read into host types (1.0 packs: all empty, minor 0).
#[derive(Default)]
struct ManifestExt {
    abi_minor: u32,
    vendor: String,
    min_host_version: String,
    adapters: Vec<crate::adapter::registry::AdapterSpec>,
    setting_kinds: super::SettingKinds,
}

/// Reads the pack's 1.1 manifest, if it has one, and refuses a pack that needs a newer
/// ABI minor or a newer host than this one, saying which.
fn read_manifest_ext(
    root: Option<&hie_plugin_api::abi::adapter::PackRootRef>,
    name: &str,
    version: &str,
) -> Result<ManifestExt, String> {
    let Some(f) = root.and_then(|r| r.manifest_ext()) else { return Ok(ManifestExt::default()) };
    let ext = f();
    if ext.abi_minor > hie_plugin_api::ABI_MINOR {
        return Err(format!(
            "pack {name} {version} needs plugin ABI {ABI_VERSION}.{} but this host provides {ABI_VERSION}.{}: upgrade HIE{}",
            ext.abi_minor,
            hie_plugin_api::ABI_MINOR,
            if ext.min_host_version.is_empty() {
                String::new()
            } else {
                format!(" to {} or later", ext.min_host_version)
            }
        ));
    }
    let min_host = ext.min_host_version.to_string();
    if !min_host.is_empty() && version_less(HOST_VERSION, &min_host) {
        return Err(format!(
            "pack {name} {version} needs HIE {min_host} or later; this host is {HOST_VERSION}: upgrade HIE"
        ));
    }
    let provider = crate::adapter::registry::Provider::Pack { name: name.to_string(), version: version.to_string() };
    let adapters = ext.adapters.iter().map(|a| super::adapter_spec_from_ffi(a, provider.clone())).collect();
    let mut setting_kinds = super::SettingKinds::new();
    for k in ext.class_settings.iter() {
        setting_kinds
            .entry(k.class.to_string())
            .or_default()
            .insert(k.setting.name.to_string(), super::kind_from_ffi(&k.setting));
    }
    Ok(ManifestExt {
        abi_minor: ext.abi_minor,
        vendor: ext.vendor.to_string(),
        min_host_version: min_host,
        adapters,
        setting_kinds,
    })
}

/// Whether dotted version `a` is lower than `b` (numeric parts; missing parts are 0).
fn version_less(a: &str, b: &str) -> bool {
    let parts = |v: &str| -> Vec<u64> { v.split(['.', '-']).map(|p| p.parse().unwrap_or(0)).take(3).collect() };
    let (a, b) = (parts(a), parts(b));
    for i in 0..3 {
        let (x, y) = (a.get(i).copied().unwrap_or(0), b.get(i).copied().unwrap_or(0));
        if x != y {
            return x < y;
        }
    }
    false
}

/// Turns abi_stable's error (a layout dump of several KB for ABI mismatches) into one line.
fn summarise(e: &LibraryError) -> String {
    match e {
        LibraryError::AbiInstability(_) => {
            let text = e.to_string();
            // The dump ends with the first mismatch found, as "Error:..." followed by
            // "Expected:"/"Found:" lines: that is what an operator needs.
            let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            let start = lines.iter().rposition(|l| l.starts_with("Error:") || l.contains("Error:")).unwrap_or(0);
            let mut tail: Vec<&str> = lines[start..].iter().take(5).copied().collect();
            if tail.is_empty() {
                tail.push("layout mismatch");
            }
            let mut summary = format!(
                "incompatible pack: its plugin interface does not match this host's (built against a different hie-plugin-api?): {}",
                tail.join(" ")
            );
            truncate_chars(&mut summary, 400);
            summary
        }
        LibraryError::IncompatibleVersionNumber { expected_version, actual_version, .. } => {
            format!("incompatible pack: interface version {actual_version}, this host needs {expected_version}")
        }
        LibraryError::InvalidAbiHeader(_) => {
            "incompatible pack: built with an incompatible abi_stable version".to_string()
        }
        LibraryError::OpenError { err, .. } => format!("cannot open shared library: {err}"),
        LibraryError::RootModule { err, .. } => format!("the pack's root module failed to initialise: {err}"),
        other => {
            let mut s = other.to_string().trim().replace('\n', " ");
            truncate_chars(&mut s, 300);
            s
        }
    }
}

/// Shortens `s` to at most `max` bytes without cutting a character.
fn truncate_chars(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_compare_by_number_not_text() {
        assert!(super::version_less("0.1.0", "0.2.0"));
        assert!(super::version_less("0.9.9", "0.10.0"));
        assert!(!super::version_less("1.0.0", "1.0"));
        assert!(!super::version_less("2.0.0", "1.9.9"));
    }
}
