//! Moving messages between items: what happens to a message between its commit at one
//! item and its commit at the next. Each job has its module:
//!
//! - [`route`]: sends become queued headers (targets, transforms, capacity, overflow);
//! - `consumer`: the consumer loop of a process or operation, with its pipelined commits;
//! - [`outcome`]: the outcome policy, a pure function of settings, result and time, used
//!   by the consumers and the intake;
//! - `sync_call`: `send_sync` and deferred replies, and the callers waiting for them.
//!
//! # Invariants
//! - Nothing is pushed onto a queue before the commit that makes it `Queued` is written
//!   ([`Outgoing`] holds the pushes until then), and nothing leaves a queue for good
//!   before the commit that finishes it.
//! - Each state change of a message is one commit, together with whatever it sends.
//! - A send that cannot be routed fails the whole message: nothing is half-sent.

mod consumer;
pub(super) mod outcome;
pub(super) mod route;
mod sync_call;

pub(super) use consumer::consume;
pub(super) use route::{route_sends, store_body};
pub(crate) use sync_call::{Calls, call_sync, deferred_reply};

use crate::journal::Op;
use crate::queue::{Entry, Reservation};

/// Journal ops and queue pushes that one commit produces.
#[derive(Default)]
pub(in crate::engine) struct Outgoing {
    /// Changes to commit.
    pub ops: Vec<Op>,
    /// Entries to push once the commit is durable.
    pub pushes: Vec<(Reservation, Entry)>,
    /// Targets whose queue was full with `QueueOverflow=drop`.
    pub dropped: Vec<String>,
}

impl Outgoing {
    /// Pushes every entry (call after a successful commit).
    pub fn push_all(self) {
        for (r, e) in self.pushes {
            r.push(e);
        }
    }
}
