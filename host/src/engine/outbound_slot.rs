//! The outbound adapter an operation calls, replaceable between calls.
//!
//! # Invariants
//! - A call runs start to finish on the adapter it started on: a swap puts the new
//!   adapter in place for the next call and never interrupts one in flight.
//! - The old adapter is closed only once no call holds it (or, for a call that never
//!   returns, after a grace period), so its connections end cleanly.
//!
//! Callers hold the `Arc` they got from [`OutboundSlot::current`] for the whole call;
//! that is what "a call holds it" means here.

use crate::adapter::OutboundAdapter;
use crate::lock::RwLockExt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How long a replaced adapter waits for its last call before it is closed anyway.
const RETIRE_GRACE: Duration = Duration::from_secs(120);

/// How often a replaced adapter checks whether its calls have finished.
const RETIRE_POLL: Duration = Duration::from_millis(10);

/// An operation's outbound adapter, shared by every instance of the item.
pub struct OutboundSlot {
    /// The adapter new calls go to.
    current: RwLock<Arc<dyn OutboundAdapter>>,
}

impl OutboundSlot {
    /// A slot holding `adapter`.
    pub fn new(adapter: Arc<dyn OutboundAdapter>) -> OutboundSlot {
        OutboundSlot { current: RwLock::new(adapter) }
    }

    /// The adapter to use for one call (hold it until the call returns).
    pub fn current(&self) -> Arc<dyn OutboundAdapter> {
        self.current.read_unpoisoned().clone()
    }

    /// Puts `new` in place for the next call; the old adapter is closed on `runtime`
    /// once the calls holding it return.
    pub fn replace(&self, new: Arc<dyn OutboundAdapter>, runtime: &tokio::runtime::Handle, item: &str) {
        let old = std::mem::replace(&mut *self.current.write_unpoisoned(), new);
        let item = item.to_string();
        runtime.spawn(async move { retire(old, &item).await });
    }

    /// Closes the adapter in place (item stop).
    pub async fn close(&self) {
        self.current().close().await;
    }
}

/// Waits for the calls holding `old` to return, then closes it.
async fn retire(old: Arc<dyn OutboundAdapter>, item: &str) {
    let since = Instant::now();
    while Arc::strong_count(&old) > 1 {
        if since.elapsed() > RETIRE_GRACE {
            tracing::warn!(item, "a call on the replaced outbound adapter has not returned; closing it anyway");
            break;
        }
        tokio::time::sleep(RETIRE_POLL).await;
    }
    old.close().await;
    tracing::info!(item, waited_ms = since.elapsed().as_millis() as u64, "replaced outbound adapter closed");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::AdapterResult;
    use futures::future::BoxFuture;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts calls and closes; a call takes `delay`.
    struct Counting {
        calls: Arc<AtomicUsize>,
        closed: Arc<AtomicUsize>,
        delay: Duration,
    }

    impl OutboundAdapter for Counting {
        fn call(&self, _body: Vec<u8>, _params: Vec<(String, String)>) -> BoxFuture<'static, AdapterResult> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let delay = self.delay;
            Box::pin(async move {
                tokio::time::sleep(delay).await;
                Ok((b"ok".to_vec(), Vec::new()))
            })
        }
        fn close(&self) -> BoxFuture<'static, ()> {
            self.closed.fetch_add(1, Ordering::SeqCst);
            Box::pin(async {})
        }
    }

    /// An adapter and its (calls, closes) counters; the test keeps only the counters, so
    /// the slot and the calls are the adapter's only holders.
    fn counting(delay_ms: u64) -> (Arc<dyn OutboundAdapter>, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let (calls, closed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let a = Counting { calls: calls.clone(), closed: closed.clone(), delay: Duration::from_millis(delay_ms) };
        (Arc::new(a), calls, closed)
    }

    #[tokio::test]
    async fn a_call_in_flight_finishes_on_the_old_adapter_which_closes_only_afterwards() {
        let (old, old_calls, old_closed) = counting(300);
        let (new, new_calls, new_closed) = counting(0);
        let slot = OutboundSlot::new(old);
        let held = slot.current();
        let in_flight = tokio::spawn(async move { held.call(Vec::new(), Vec::new()).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        slot.replace(new, &tokio::runtime::Handle::current(), "Out");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(old_closed.load(Ordering::SeqCst), 0, "not closed while a call holds it");
        slot.current().call(Vec::new(), Vec::new()).await.expect("the next call");
        assert_eq!(new_calls.load(Ordering::SeqCst), 1, "the next call goes to the new adapter");
        in_flight.await.expect("join").expect("the call in flight completes");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(old_closed.load(Ordering::SeqCst), 1, "closed once its last call returned");
        assert_eq!(old_calls.load(Ordering::SeqCst), 1);
        assert_eq!(new_closed.load(Ordering::SeqCst), 0, "the adapter in place stays open");
    }
}
