//! Synchronous calls between items: callers waiting for a reply, by request id.

use crate::message::MessageId;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::oneshot;

/// Where a waiting caller gets the reply, or the target's failure.
type Waiter = oneshot::Sender<Result<Vec<u8>, String>>;

/// Callers blocked in `send_sync`, by the request header id they wait on.
#[derive(Default)]
pub struct Calls {
    /// Waiting callers.
    waiters: Mutex<HashMap<MessageId, Waiter>>,
}

impl Calls {
    /// Registers a caller waiting on `request`.
    pub fn register(&self, request: MessageId) -> oneshot::Receiver<Result<Vec<u8>, String>> {
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().unwrap_or_else(|e| e.into_inner()).insert(request, tx);
        rx
    }

    /// The caller gave up (timeout).
    pub fn cancel(&self, request: MessageId) {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner()).remove(&request);
    }

    /// Delivers the reply (or the target's failure) to `request`'s caller. `false` when
    /// nobody waits any more (the reply is then only recorded).
    pub fn complete(&self, request: MessageId, reply: Result<Vec<u8>, String>) -> bool {
        let waiter = self.waiters.lock().unwrap_or_else(|e| e.into_inner()).remove(&request);
        match waiter {
            Some(tx) => tx.send(reply).is_ok(),
            None => false,
        }
    }
}
