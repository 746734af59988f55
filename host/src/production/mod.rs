//! Productions: the files that say which items run, with which classes and settings.
//!
//! A production file is one of:
//!
//! - IRIS XML: a bare `<Production>` document, a UDL class file
//!   (`Class X Extends Ens.Production { XData ProductionDefinition { ... } }`) or a Studio
//!   export (`<Export><Class>...<XData name="ProductionDefinition">`), read by `iris/`;
//! - YAML or JSON in HIE's own shape, read by `yaml/`.
//!
//! All load into the format-independent [`model`], where every item and setting keeps its
//! file and line. Loading only fails on files that cannot be read or are not shaped like a
//! production; problems with values are left to validation, which reports them all at once.
//!
//! Validation ([`validate`]) turns a model into a [`plan::ProductionPlan`]; [`diff`] says
//! what changes from one plan to another, which is what the engine applies at start-up and
//! on every reload.

mod adapters;
pub mod catalog;
pub mod defaults;
pub mod diagnostics;
pub mod diff;
pub mod migration;
pub mod model;
pub mod plan;
pub mod sets;
pub mod validate;

mod iris;
mod yaml;

pub use model::*;

use std::path::Path;
use std::sync::Arc;

/// Reads and loads the production file at `path`, choosing the loader by extension
/// (`.xml`/`.cls`: IRIS; `.yaml`/`.yml`: YAML; `.json`: JSON) or, for other extensions,
/// by content, then reads the System Default Settings files it names
/// ([`read_defaults_files`]).
pub fn load(path: &Path) -> Result<ProductionConfig, LoadError> {
    load_with_defaults(path, &[])
}

/// [`load`], then the System Default Settings exports in `extra` (`--defaults FILE`).
pub fn load_with_defaults(path: &Path, extra: &[std::path::PathBuf]) -> Result<ProductionConfig, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io { file: path.to_path_buf(), source })?;
    let mut config = load_str(path, &text)?;
    read_defaults_files(&mut config, extra)?;
    Ok(config)
}

/// Adds to `config.defaults`, after those of its own export, the System Default Settings
/// exports its `SystemDefaults` setting names (comma-separated, relative to the
/// production's directory) and then those in `extra` (`hie run --defaults FILE`, relative
/// to the working directory). Every path that loads a production file (`hie validate`,
/// `hie run`, reloads) calls this, so they all see the same settings.
pub fn read_defaults_files(config: &mut ProductionConfig, extra: &[std::path::PathBuf]) -> Result<(), LoadError> {
    if let Some(setting) = config.setting(defaults::FILES_SETTING).cloned() {
        let dir = catalog::production_dir(&config.file);
        for name in setting.value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let file = dir.join(name);
            let text = std::fs::read_to_string(&file).map_err(|e| LoadError::Syntax {
                location: setting.location.clone(),
                message: format!("SystemDefaults: cannot read {}: {e}", file.display()),
            })?;
            config.defaults.extend(load_defaults_str(&file, &text)?);
        }
    }
    for file in extra {
        let text =
            std::fs::read_to_string(file).map_err(|source| LoadError::Io { file: file.to_path_buf(), source })?;
        config.defaults.extend(load_defaults_str(file, &text)?);
    }
    Ok(())
}

/// Reads a System Default Settings export (what `SystemDefaults` names).
pub fn load_defaults_str(path: &Path, text: &str) -> Result<Vec<DefaultSetting>, LoadError> {
    iris::load_defaults(&Arc::from(path), text)
}

/// Loads a production from `text` as if read from `path` (the path picks the loader and
/// appears in every location).
pub fn load_str(path: &Path, text: &str) -> Result<ProductionConfig, LoadError> {
    let file: Arc<Path> = Arc::from(path);
    let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("xml" | "cls") => iris::load_iris(&file, text),
        Some("yaml" | "yml") => yaml::load_yaml(&file, text, SourceFormat::Yaml),
        Some("json") => yaml::load_yaml(&file, text, SourceFormat::Json),
        _ => {
            let start = text.trim_start_matches('\u{feff}').trim_start();
            if start.starts_with('<') || text.contains("XData ProductionDefinition") {
                iris::load_iris(&file, text)
            } else if start.starts_with('{') {
                yaml::load_yaml(&file, text, SourceFormat::Json)
            } else {
                yaml::load_yaml(&file, text, SourceFormat::Yaml)
            }
        }
    }
}
