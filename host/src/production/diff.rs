//! The difference between two productions, item by item: what applying the new one has
//! to start, restart, stop and leave alone. Start-up is the diff from an empty production
//! (every item added); a reload is the diff from the items running now.
//!
//! # Invariants
//! - Pure: it compares plans and touches nothing. The engine acts on it
//!   (`engine/reconfigure.rs`).
//! - Items are matched by name and compared by structural equality
//!   ([`ItemPlan::runs_like`]): an item's location in its file never makes it changed.
//! - Every item of either side is in exactly one list.
//! - `added` and `removed` are in start order within their own plan (operations, then
//!   processes, then services; file order within a kind); whoever stops items goes in
//!   reverse. `changed` is in the start order of the new side; `unchanged` in the new
//!   side's file order.
//! - [`PlanDiff::flip`] swaps the sides: the diff that undoes this one. It keeps each
//!   list's order, so an undo restarts changed items in the order they were replaced.

use super::plan::ItemPlan;
use hie_plugin_api::ItemKind;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// An item in both plans whose configuration differs.
#[derive(Clone, Debug)]
pub struct Change {
    /// How it runs in the old plan.
    pub old: ItemPlan,
    /// How it runs in the new plan.
    pub new: ItemPlan,
}

/// What changes from one production to another (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct PlanDiff {
    /// Items only in the new plan.
    pub added: Vec<ItemPlan>,
    /// Items in both that must be restarted with their new configuration.
    pub changed: Vec<Change>,
    /// Items only in the old plan.
    pub removed: Vec<ItemPlan>,
    /// Items in both that run alike, by name.
    pub unchanged: Vec<Arc<str>>,
}

/// Where items of `kind` come in the start order: operations, processes, services (so
/// that whatever an item sends to is running before it).
pub fn start_rank(kind: ItemKind) -> u8 {
    match kind {
        ItemKind::Operation => 0,
        ItemKind::Process => 1,
        ItemKind::Service => 2,
    }
}

impl PlanDiff {
    /// What changes from the items of `old` to those of `new`.
    pub fn new(old: &[ItemPlan], new: &[ItemPlan]) -> PlanDiff {
        let before: HashMap<&str, &ItemPlan> = old.iter().map(|i| (&*i.name, i)).collect();
        let after: HashSet<&str> = new.iter().map(|i| &*i.name).collect();
        let mut diff = PlanDiff::default();
        for item in new {
            match before.get(&*item.name) {
                None => diff.added.push(item.clone()),
                Some(was) if !was.runs_like(item) => {
                    diff.changed.push(Change { old: (*was).clone(), new: item.clone() })
                }
                Some(_) => diff.unchanged.push(item.name.clone()),
            }
        }
        diff.removed = old.iter().filter(|i| !after.contains(&*i.name)).cloned().collect();
        // Stable sorts: file order within a kind.
        diff.added.sort_by_key(|p| start_rank(p.kind));
        diff.changed.sort_by_key(|c| start_rank(c.new.kind));
        diff.removed.sort_by_key(|p| start_rank(p.kind));
        diff
    }

    /// The diff that undoes this one: added and removed swap, each change runs backwards.
    pub fn flip(self) -> PlanDiff {
        PlanDiff {
            added: self.removed,
            changed: self.changed.into_iter().map(|c| Change { old: c.new, new: c.old }).collect(),
            removed: self.added,
            unchanged: self.unchanged,
        }
    }

    /// Whether nothing needs to start, restart or stop.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::LoadedPack;
    use crate::production::model::Location;
    use crate::production::plan::EngineSettings;
    use std::path::Path;

    fn pack(sha: &str) -> Arc<LoadedPack> {
        Arc::new(LoadedPack::fake("hie-test", sha))
    }

    fn item(name: &str, kind: ItemKind, line: u32) -> ItemPlan {
        let file: Arc<Path> = Arc::from(Path::new("production.yaml"));
        ItemPlan {
            name: name.into(),
            class: format!("Test.{kind:?}"),
            kind,
            adapter: String::new(),
            enabled: true,
            pack: pack("aaaa"),
            adapter_pack: None,
            settings: [("Port".to_string(), "1".to_string())].into(),
            engine: EngineSettings::default(),
            location: Location::new(&file, line),
            catalog: None,
        }
    }

    fn names(items: &[ItemPlan]) -> Vec<&str> {
        items.iter().map(|i| &*i.name).collect()
    }

    fn changed(diff: &PlanDiff) -> Vec<&str> {
        diff.changed.iter().map(|c| &*c.new.name).collect()
    }

    fn unchanged(diff: &PlanDiff) -> Vec<&str> {
        diff.unchanged.iter().map(|n| &**n).collect()
    }

    #[test]
    fn start_up_adds_every_item_in_start_order() {
        let new = [
            item("In", ItemKind::Service, 1),
            item("Route", ItemKind::Process, 2),
            item("OutA", ItemKind::Operation, 3),
            item("OutB", ItemKind::Operation, 4),
        ];
        let diff = PlanDiff::new(&[], &new);
        assert_eq!(names(&diff.added), ["OutA", "OutB", "Route", "In"]);
        assert!(diff.changed.is_empty() && diff.removed.is_empty() && diff.unchanged.is_empty());
        assert!(!diff.is_empty());
    }

    #[test]
    fn the_same_plan_changes_nothing() {
        let old = [item("In", ItemKind::Service, 1), item("Out", ItemKind::Operation, 2)];
        let diff = PlanDiff::new(&old, &old);
        assert!(diff.is_empty());
        assert_eq!(unchanged(&diff), ["In", "Out"]);
    }

    #[test]
    fn added_removed_changed_and_unchanged() {
        let old = [
            item("In", ItemKind::Service, 1),
            item("Gone", ItemKind::Operation, 2),
            item("Out", ItemKind::Operation, 3),
            item("Route", ItemKind::Process, 4),
        ];
        let mut out = item("Out", ItemKind::Operation, 3);
        out.settings.insert("Port".into(), "2".into());
        let mut route = item("Route", ItemKind::Process, 4);
        route.engine.concurrency = 4;
        let new = [item("In", ItemKind::Service, 1), route, item("New", ItemKind::Operation, 5), out];
        let diff = PlanDiff::new(&old, &new);
        assert_eq!(names(&diff.added), ["New"]);
        assert_eq!(names(&diff.removed), ["Gone"]);
        assert_eq!(changed(&diff), ["Out", "Route"], "start order: operations before processes");
        assert_eq!(diff.changed[0].old.setting("Port"), Some("1"));
        assert_eq!(diff.changed[0].new.setting("Port"), Some("2"));
        assert_eq!(unchanged(&diff), ["In"]);
    }

    #[test]
    fn removed_items_are_in_start_order() {
        let old = [
            item("In", ItemKind::Service, 1),
            item("Route", ItemKind::Process, 2),
            item("Out", ItemKind::Operation, 3),
        ];
        let diff = PlanDiff::new(&old, &[]);
        assert_eq!(names(&diff.removed), ["Out", "Route", "In"]);
    }

    #[test]
    fn a_move_in_the_file_is_not_a_change() {
        let old = [item("In", ItemKind::Service, 1)];
        let new = [item("In", ItemKind::Service, 40)];
        assert!(PlanDiff::new(&old, &new).is_empty());
    }

    #[test]
    fn every_part_of_how_an_item_runs_counts() {
        let base = item("X", ItemKind::Operation, 1);
        let variants: Vec<(&str, Box<dyn Fn(&mut ItemPlan)>)> = vec![
            ("class", Box::new(|p| p.class = "Other".into())),
            ("enabled", Box::new(|p| p.enabled = false)),
            ("pack build", Box::new(|p| p.pack = pack("bbbb"))),
            ("setting value", Box::new(|p| drop(p.settings.insert("Port".into(), "9".into())))),
            ("new setting", Box::new(|p| drop(p.settings.insert("Extra".into(), String::new())))),
            ("engine setting", Box::new(|p| p.engine.retry_interval = std::time::Duration::from_secs(1))),
            ("adapter", Box::new(|p| p.adapter = "MLLP".into())),
            ("adapter pack", Box::new(|p| p.adapter_pack = Some(pack("cccc")))),
        ];
        for (what, change) in variants {
            let mut new = base.clone();
            change(&mut new);
            let diff = PlanDiff::new(std::slice::from_ref(&base), &[new]);
            assert_eq!(changed(&diff), ["X"], "{what} must restart the item");
        }
    }

    #[test]
    fn pack_hash_counts_not_the_pack_load() {
        let old = item("X", ItemKind::Operation, 1);
        // The same build loaded again (another generation, another staged copy) is the same.
        let mut same_build = old.clone();
        let mut reloaded = LoadedPack::fake("hie-test", "aaaa");
        reloaded.generation = 7;
        same_build.pack = Arc::new(reloaded);
        assert!(PlanDiff::new(std::slice::from_ref(&old), &[same_build]).is_empty());
        let mut new_build = old.clone();
        new_build.pack = pack("dddd");
        let diff = PlanDiff::new(std::slice::from_ref(&old), &[new_build]);
        assert_eq!(changed(&diff), ["X"]);
        assert_eq!(diff.changed[0].old.pack.sha256, "aaaa");
        assert_eq!(diff.changed[0].new.pack.sha256, "dddd");
        // An adapter pack's build counts the same way.
        let mut with_adapter = old.clone();
        with_adapter.adapter_pack = Some(pack("eeee"));
        let mut adapter_rebuilt = with_adapter.clone();
        adapter_rebuilt.adapter_pack = Some(pack("ffff"));
        let diff = PlanDiff::new(&[with_adapter.clone()], &[adapter_rebuilt]);
        assert_eq!(changed(&diff), ["X"]);
        assert!(PlanDiff::new(&[with_adapter.clone()], &[with_adapter]).is_empty());
    }

    #[test]
    fn flip_undoes_the_diff() {
        let old = [
            item("In", ItemKind::Service, 1),
            item("Gone", ItemKind::Operation, 2),
            item("Out", ItemKind::Operation, 3),
        ];
        let mut out = item("Out", ItemKind::Operation, 3);
        out.settings.insert("Port".into(), "2".into());
        let new = [item("In", ItemKind::Service, 1), item("New", ItemKind::Process, 4), out];
        let diff = PlanDiff::new(&old, &new);
        let undo = diff.clone().flip();
        assert_eq!(names(&undo.added), ["Gone"]);
        assert_eq!(names(&undo.removed), ["New"]);
        assert_eq!(changed(&undo), ["Out"]);
        assert_eq!(undo.changed[0].old.setting("Port"), Some("2"));
        assert_eq!(undo.changed[0].new.setting("Port"), Some("1"), "an undo restarts the old configuration");
        assert_eq!(unchanged(&undo), ["In"]);
        // The same as diffing the other way round.
        let back = PlanDiff::new(&new, &old);
        assert_eq!(names(&undo.added), names(&back.added));
        assert_eq!(names(&undo.removed), names(&back.removed));
        assert_eq!(changed(&undo), changed(&back));
        assert_eq!(unchanged(&undo), unchanged(&back));
        // And flipping twice is the diff itself.
        let again = undo.flip();
        assert_eq!(names(&again.added), names(&diff.added));
        assert_eq!(names(&again.removed), names(&diff.removed));
        assert_eq!(again.changed[0].new.setting("Port"), Some("2"));
    }
}
