//! YAML (and JSON) production loader.
//!
//! JSON is read by the same YAML parser (JSON is YAML's flow style). yaml-rust2's event
//! parser gives each event a line, so this module builds its own small tree of
//! mappings/sequences/scalars, each with its line, and reads the production from it:
//!
//! ```yaml
//! name: Demo Production          # or `production:`
//! description: optional text
//! durability: fsync              # production setting "Durability" (Host)
//! plugin_dirs: [../packs]        # relative to this file's directory
//! settings: {PurgeKeepDays: 7}   # other production settings (Host)
//! items:
//!   - id: HL7_Receiver           # or `name:`
//!     class: EnsLib.HL7.Service.TCPService
//!     enabled: true
//!     execution_mode: async      # Host setting ExecutionMode (likewise queue_type,
//!                                # queue_size, queue_window, queue_overflow, overflow_target,
//!                                # worker_threads, ordering_key)
//!     concurrency: 4             # pool size (or pool_size / PoolSize)
//!     comment: text
//!     category: text
//!     adapter_settings: {Port: 2575}
//!     host_settings: {TargetConfigNames: [HL7_Router, Audit]}
//! ```
//!
//! Scalars are kept as written (`2575` is "2575", `true` is "true"; `~`, `null` and an
//! empty value are ""); a list as a setting value is joined with ",". Unknown keys are
//! errors, so a typo never silently drops a setting.
//!
//! `tree` is the line-tracking YAML reader; `mapping` reads HIE's production shape from
//! its tree.

mod mapping;
#[cfg(test)]
mod tests;
mod tree;

use std::path::Path;
use std::sync::Arc;

use super::model::{LoadError, ProductionConfig, SourceFormat};

/// Loads a production from YAML or JSON `text` read from `file`; `format` records which.
pub fn load_yaml(file: &Arc<Path>, text: &str, format: SourceFormat) -> Result<ProductionConfig, LoadError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Tabs outside strings are plain whitespace in JSON but YAML rejects them as
    // indentation; inside JSON strings they must be escaped, so replacing them is lossless.
    let json_text;
    let text = if format == SourceFormat::Json && text.contains('\t') {
        json_text = text.replace('\t', " ");
        json_text.as_str()
    } else {
        text
    };
    let root = tree::parse_tree(file, text, format)?;
    let reader = mapping::TreeReader { file };
    reader.production(root, format)
}
