//! Commits gathered on an intake thread and written by that thread.
//!
//! An MLLP service serves its connections on its own thread, with a current-thread tokio
//! runtime. A commit made there is not handed to the writer thread: it joins this
//! thread's list, and when the runtime is about to park (every connection is waiting for
//! its commit, nothing else is ready) the thread writes the whole list itself, as one
//! record batch with at most one sync ([`super::Journal::write_gathered`]). No thread is
//! woken on the ACK path, and messages arriving together on many connections share a
//! write: the group commit, without a hand-off.

use super::writer::Pending;
use std::cell::RefCell;

thread_local! {
    /// `Some` on a thread that gathers its commits.
    static GATHERED: RefCell<Option<Vec<Pending>>> = const { RefCell::new(None) };
}

/// Makes commits made on this thread gathered until it ends. The thread must call
/// [`super::Journal::write_gathered`] whenever it would otherwise wait (its runtime's
/// `on_thread_park` hook), or its commits never complete.
pub fn gather_on_this_thread() {
    GATHERED.with(|g| *g.borrow_mut() = Some(Vec::new()));
}

/// Takes the commit into this thread's list, or gives it back when the thread does not
/// gather.
pub(super) fn offer(commit: Pending) -> Option<Pending> {
    GATHERED.with(|g| match g.borrow_mut().as_mut() {
        Some(list) => {
            list.push(commit);
            None
        }
        None => Some(commit),
    })
}

/// Empties this thread's list.
pub(super) fn take() -> Vec<Pending> {
    GATHERED.with(|g| g.borrow_mut().as_mut().map(std::mem::take).unwrap_or_default())
}
