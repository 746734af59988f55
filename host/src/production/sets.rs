//! `hie run --set ITEM.SETTING=VALUE`: a node's own value for one item's setting, over
//! the item's setting as written and every System Default Setting. Two engines that share
//! one production file on one machine need their own listener ports, say.
//!
//! # Invariants
//! - An override is applied on every load, start-up and reloads alike, by the same
//!   [`super::defaults::apply`] that applies System Default Settings; its location is
//!   `--set:N` (the Nth `--set`), so validation and `--explain` name it.
//! - Item names may hold dots (`Ens.Alert`); setting names never do: the setting is what
//!   follows the last dot before the `=`.

use super::model::{DefaultSetting, Location};
use std::path::Path;
use std::sync::Arc;

/// Reads the `index`th (0-based) `--set` argument.
pub fn parse(text: &str, index: usize) -> Result<DefaultSetting, String> {
    let (key, value) =
        text.split_once('=').ok_or_else(|| format!("--set {text:?}: expected ITEM.SETTING=VALUE (no '=')"))?;
    let (item, setting) = key
        .rsplit_once('.')
        .filter(|(i, s)| !i.trim().is_empty() && !s.trim().is_empty())
        .ok_or_else(|| format!("--set {text:?}: expected ITEM.SETTING=VALUE (no ITEM. before the setting)"))?;
    let file: Arc<Path> = Arc::from(Path::new("--set"));
    Ok(DefaultSetting {
        production: "*".into(),
        item: item.trim().to_string(),
        class: "*".into(),
        setting: setting.trim().to_string(),
        value: value.to_string(),
        location: Location::new(&file, index as u32 + 1),
    })
}

/// Reads every `--set` argument, naming the first that does not read.
pub fn parse_all(args: &[String]) -> Result<Vec<DefaultSetting>, String> {
    args.iter().enumerate().map(|(i, a)| parse(a, i)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_splits_at_the_last_dot_before_the_equals_so_item_names_may_hold_dots() {
        let s = parse("Ens.Alert.SMTPPort=2525", 0).expect("reads");
        assert_eq!((s.item.as_str(), s.setting.as_str(), s.value.as_str()), ("Ens.Alert", "SMTPPort", "2525"));
        assert_eq!(s.location.to_string(), "--set:1");
        let s = parse("ADT_In.Port=", 2).expect("an empty value is a value");
        assert_eq!((s.value.as_str(), s.location.line), ("", 3));
        assert!(parse("ADT_In.Port", 0).unwrap_err().contains("no '='"));
        assert!(parse("Port=9000", 0).unwrap_err().contains("no ITEM."));
        assert!(parse(".Port=9000", 0).is_err());
    }
}
