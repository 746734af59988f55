//! Swapping a pack under running items (pack reload): the items whose code comes from
//! the pack get new instances, the items whose adapter comes from it get new adapters.
//!
//! # Invariants
//! - Everything new is built before anything is swapped: new executors (instances
//!   initialised and started) and new outbound adapters. If any fails, nothing is
//!   swapped and the error names the item; the running version keeps serving.
//! - The new pack must still provide each class and adapter its items use, and accept
//!   their adapter settings; otherwise the swap is refused naming item and reason.
//! - Old instances finish their in-flight messages, then stop; an outbound adapter is
//!   replaced between calls (`outbound_slot`); an inbound adapter is stopped and started
//!   on the new version (its senders see the gap, which the report gives per item).
//! - `multi_process` items roll their workers one at a time onto the new pack (code and
//!   adapter alike); a worker that fails to start sends the whole roll back.
//! - All or nothing past the build too: when moving one item fails (a roll, an inbound
//!   adapter that does not start), the items already moved go back to what they ran.
//! - Nothing here touches queues or the journal: what was committed stays committed.

use super::Engine;
use super::executor::Executor;
use super::item::ItemRuntime;
use crate::adapter::OutboundAdapter;
use crate::pack::LoadedPack;
use crate::production::plan::ExecutionMode;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a pack swap did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SwapReport {
    /// Items now running the new pack (their code, their adapter or both).
    pub swapped: Vec<String>,
    /// Of those, the items whose adapter moved to the new pack.
    pub adapters: Vec<String>,
    /// Services whose inbound adapter was restarted in this process: how long, in
    /// milliseconds, they took no input.
    pub inbound_gap_ms: BTreeMap<String, u64>,
}

/// What changes for one item.
struct Prepared {
    /// The item.
    rt: Arc<ItemRuntime>,
    /// Its code moves to the new pack.
    code: bool,
    /// Its adapter moves to the new pack.
    adapter: bool,
    /// The executor built on the new pack (in-process items whose code moves).
    executor: Option<Arc<dyn Executor>>,
    /// The outbound adapter built from the new pack (in-process operations whose
    /// adapter moves).
    outbound: Option<Arc<dyn OutboundAdapter>>,
}

impl Engine {
    /// Moves the items listed in `items` onto `pack`: the code of those whose class comes
    /// from the pack's file, the adapter of those whose adapter does. All or nothing.
    pub async fn swap_pack(&self, pack: Arc<LoadedPack>, items: &[String]) -> Result<SwapReport, String> {
        let inner = &self.inner;
        let mut prepared: Vec<Prepared> = Vec::new();
        for name in items {
            let Some(rt) = inner.item(name) else { continue };
            match prepare(self, &rt, &pack).await {
                Ok(Some(p)) => prepared.push(p),
                Ok(None) => {}
                Err(e) => {
                    discard(prepared).await;
                    return Err(e);
                }
            }
        }
        let mut report = SwapReport::default();
        let mut done: Vec<Undo> = Vec::new();
        let mut rest = prepared.into_iter();
        while let Some(p) = rest.next() {
            let undo =
                Undo { rt: p.rt.clone(), code: p.rt.pack(), adapter: p.rt.adapter_pack(), moved: (p.code, p.adapter) };
            if let Err(e) = apply(self, &pack, p, &mut report).await {
                // All or nothing: what was built for the others is dropped, and the items
                // already moved go back to the version they ran, newest first.
                discard(rest.collect()).await;
                for u in done.into_iter().rev() {
                    u.run(self).await;
                }
                return Err(e);
            }
            done.push(undo);
        }
        inner.refresh_plan_packs();
        Ok(report)
    }
}

/// Moves one prepared item onto `pack`. On failure the item runs what it ran before.
async fn apply(engine: &Engine, pack: &Arc<LoadedPack>, p: Prepared, report: &mut SwapReport) -> Result<(), String> {
    let inner = &engine.inner;
    let name = p.rt.plan.name.to_string();
    if p.rt.plan.engine.execution_mode == ExecutionMode::MultiProcess {
        if let Some(ex) = p.rt.executor() {
            let code = if p.code { pack.clone() } else { p.rt.pack() };
            let adapter = if p.adapter { Some(pack.clone()) } else { p.rt.adapter_pack() };
            // A roll that fails goes back whole on its own.
            ex.roll(code, adapter).await.map_err(|e| format!("item {name}: {e}"))?;
        }
        if p.code {
            p.rt.set_pack(pack.clone());
        }
        if p.adapter {
            p.rt.set_adapter_pack(Some(pack.clone()));
        }
    } else {
        let old_code = p.rt.pack();
        let mut code_moved = false;
        if let Some(ex) = p.executor {
            let old = p.rt.swap_executor(ex);
            p.rt.set_pack(pack.clone());
            code_moved = true;
            if let Some(old) = old {
                // The old instances finish what they have in flight, then stop.
                inner.runtime.spawn(async move { old.shutdown().await });
            }
        }
        if p.adapter {
            // A failed start puts the old adapter back on its own.
            match p.rt.move_adapter(inner, pack.clone(), p.outbound).await {
                Ok(Some(gap)) => {
                    report.inbound_gap_ms.insert(name.clone(), gap.as_millis() as u64);
                }
                Ok(None) => {}
                Err(e) => {
                    if code_moved {
                        Undo { rt: p.rt.clone(), code: old_code, adapter: None, moved: (true, false) }
                            .run(engine)
                            .await;
                    }
                    return Err(format!("item {name}: the new pack's adapter failed to start: {e}"));
                }
            }
        }
    }
    if p.adapter {
        report.adapters.push(name.clone());
    }
    report.swapped.push(name);
    Ok(())
}

/// How to put one item back on what it ran before a swap that did not complete.
struct Undo {
    rt: Arc<ItemRuntime>,
    /// The pack its code ran from.
    code: Arc<LoadedPack>,
    /// The pack its adapter ran from.
    adapter: Option<Arc<LoadedPack>>,
    /// (its code moved, its adapter moved).
    moved: (bool, bool),
}

impl Undo {
    /// Puts the item back; a failure is logged (the item keeps the new version, and its
    /// status says which pack it runs).
    async fn run(self, engine: &Engine) {
        let inner = &engine.inner;
        let item = self.rt.plan.name.to_string();
        let result: Result<(), String> = async {
            if self.rt.plan.engine.execution_mode == ExecutionMode::MultiProcess {
                if let Some(ex) = self.rt.executor() {
                    ex.roll(self.code.clone(), self.adapter.clone()).await?;
                }
                self.rt.set_pack(self.code.clone());
                self.rt.set_adapter_pack(self.adapter.clone());
                return Ok(());
            }
            if self.moved.0 {
                let ex = self.rt.build_executor_with(inner, self.code.clone()).await?;
                if let Some(old) = self.rt.swap_executor(ex) {
                    inner.runtime.spawn(async move { old.shutdown().await });
                }
                self.rt.set_pack(self.code.clone());
            }
            if self.moved.1
                && let Some(adapter) = &self.adapter
            {
                let outbound = self.rt.build_outbound_with(inner, adapter)?;
                self.rt.move_adapter(inner, adapter.clone(), outbound).await?;
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => tracing::warn!(item = %item, "pack swap undone: the item is back on the version it ran"),
            Err(e) => tracing::error!(item = %item, error = %e, "pack swap could not be undone for this item"),
        }
    }
}

/// Checks that `pack` can take over what `rt` runs from its file and builds the new
/// parts; `None` when the item runs nothing from it.
async fn prepare(engine: &Engine, rt: &Arc<ItemRuntime>, pack: &Arc<LoadedPack>) -> Result<Option<Prepared>, String> {
    let inner = &engine.inner;
    let item = &rt.plan.name;
    let code = crate::pack::same_file(&rt.pack().source_path, &pack.source_path);
    let adapter = rt.adapter_pack().is_some_and(|p| crate::pack::same_file(&p.source_path, &pack.source_path));
    if !code && !adapter {
        return Ok(None);
    }
    if code && !pack.classes.iter().any(|c| c.name == rt.plan.class) {
        return Err(format!("the new pack no longer provides class {} used by item {item}", rt.plan.class));
    }
    if adapter {
        check_adapter(rt, pack)?;
    }
    let mut p = Prepared { rt: rt.clone(), code, adapter, executor: None, outbound: None };
    if !rt.plan.enabled || rt.plan.engine.execution_mode == ExecutionMode::MultiProcess {
        return Ok(Some(p));
    }
    if code {
        let ex = rt
            .build_executor_with(inner, pack.clone())
            .await
            .map_err(|e| format!("item {item}: the new pack failed to start: {e}"))?;
        p.executor = Some(ex);
    }
    if adapter {
        match rt.build_outbound_with(inner, pack) {
            Ok(o) => p.outbound = o,
            Err(e) => {
                discard(vec![p]).await;
                return Err(format!("item {item}: the new pack's adapter failed to start: {e}"));
            }
        }
    }
    Ok(Some(p))
}

/// The new pack still provides the item's adapter, in the same direction, and accepts
/// the item's settings for it.
fn check_adapter(rt: &ItemRuntime, pack: &LoadedPack) -> Result<(), String> {
    let item = &rt.plan.name;
    let name = &rt.plan.adapter;
    let Some(spec) = pack.adapters.iter().find(|a| &a.name == name) else {
        return Err(format!("the new pack no longer provides adapter {name} used by item {item}"));
    };
    let was = rt.adapter_pack().and_then(|p| p.adapters.iter().find(|a| &a.name == name).map(|a| a.direction));
    if was.is_some_and(|d| d != spec.direction) {
        return Err(format!("the new pack's adapter {name} changed direction; item {item} cannot use it"));
    }
    for s in &spec.settings {
        let value = rt.plan.settings.get(&s.name).cloned().unwrap_or_else(|| s.default.clone());
        if value.trim().is_empty() {
            if s.required && rt.plan.enabled {
                return Err(format!(
                    "the new pack's adapter {name} requires setting {}, which item {item} does not set",
                    s.name
                ));
            }
            continue;
        }
        if let Err(e) = s.kind.check(&value) {
            return Err(format!("the new pack's adapter {name} refuses item {item}'s setting {}: {e}", s.name));
        }
    }
    Ok(())
}

/// Shuts down what was built for a swap that does not happen.
async fn discard(prepared: Vec<Prepared>) {
    for p in prepared {
        if let Some(ex) = p.executor {
            ex.shutdown().await;
        }
        if let Some(o) = p.outbound {
            o.close().await;
        }
    }
}
