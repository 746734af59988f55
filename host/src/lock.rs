//! Taking the host's std locks whether or not they are poisoned: [`LockExt`] for a
//! `Mutex`, [`RwLockExt`] for an `RwLock`, [`CondvarExt`] for a `Condvar` wait.
//!
//! Why poisoning is ignored: std poisons a lock when a thread panics while holding it.
//! In the host such a panic is a host bug, and it is contained where it happens (a
//! consumer puts its message back and restarts, `host_guard` turns a callback's panic
//! into an error, an item thread reports it as the call's failure). Treating the poison
//! as fatal would spread that one contained failure to every later user of the lock: an
//! engine that stops taking and acknowledging messages, which is worse than the bug.
//!
//! # Invariants
//! - What a host lock guards stays consistent at every point where the code holding it
//!   can panic (updates are single steps: a replace, an insert, a counter). That is what
//!   makes the data safe to use after a panic, and code under these locks must keep it so.
//! - Every std lock in the host is taken through these traits; none unwraps its poison.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError};
use std::time::Duration;

/// [`Mutex::lock`], poisoned or not (see the module docs).
pub trait LockExt<T: ?Sized> {
    /// Locks the mutex, ignoring poison.
    fn lock_unpoisoned(&self) -> MutexGuard<'_, T>;
    /// Locks the mutex if no one holds it, ignoring poison; `None` when it is held.
    fn try_lock_unpoisoned(&self) -> Option<MutexGuard<'_, T>>;
}

impl<T: ?Sized> LockExt<T> for Mutex<T> {
    fn lock_unpoisoned(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn try_lock_unpoisoned(&self) -> Option<MutexGuard<'_, T>> {
        match self.try_lock() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }
}

/// [`RwLock::read`] and [`RwLock::write`], poisoned or not (see the module docs).
pub trait RwLockExt<T: ?Sized> {
    /// Locks for reading, ignoring poison.
    fn read_unpoisoned(&self) -> RwLockReadGuard<'_, T>;
    /// Locks for writing, ignoring poison.
    fn write_unpoisoned(&self) -> RwLockWriteGuard<'_, T>;
}

impl<T: ?Sized> RwLockExt<T> for RwLock<T> {
    fn read_unpoisoned(&self) -> RwLockReadGuard<'_, T> {
        self.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_unpoisoned(&self) -> RwLockWriteGuard<'_, T> {
        self.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// [`Condvar::wait`], poisoned or not (see the module docs).
pub trait CondvarExt {
    /// Waits on the condition variable, ignoring poison.
    fn wait_unpoisoned<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T>;
    /// Waits on the condition variable for at most `timeout`, ignoring poison.
    fn wait_timeout_unpoisoned<'a, T>(&self, guard: MutexGuard<'a, T>, timeout: Duration) -> MutexGuard<'a, T>;
}

impl CondvarExt for Condvar {
    fn wait_unpoisoned<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.wait(guard).unwrap_or_else(PoisonError::into_inner)
    }

    fn wait_timeout_unpoisoned<'a, T>(&self, guard: MutexGuard<'a, T>, timeout: Duration) -> MutexGuard<'a, T> {
        match self.wait_timeout(guard, timeout) {
            Ok((g, _)) => g,
            Err(e) => e.into_inner().0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Panics while holding each lock, so it is poisoned.
    fn poison<L: Send + Sync + 'static>(lock: &Arc<L>, hold: fn(&L)) {
        let l = lock.clone();
        let _ = std::thread::spawn(move || {
            hold(&l);
        })
        .join();
    }

    #[test]
    fn a_poisoned_lock_still_serves_its_data() {
        let m = Arc::new(Mutex::new(1));
        poison(&m, |m| {
            let mut g = m.lock().unwrap();
            *g = 2;
            panic!("host bug while holding the lock");
        });
        assert!(m.is_poisoned());
        *m.lock_unpoisoned() += 1;
        assert_eq!(*m.lock_unpoisoned(), 3);

        let rw = Arc::new(RwLock::new(vec![1]));
        poison(&rw, |rw| {
            let _g = rw.write().unwrap();
            panic!("host bug while holding the lock");
        });
        assert!(rw.is_poisoned());
        rw.write_unpoisoned().push(2);
        assert_eq!(*rw.read_unpoisoned(), [1, 2]);
    }

    #[test]
    fn a_wait_on_a_poisoned_mutex_returns_its_guard() {
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let p = pair.clone();
        let _ = std::thread::spawn(move || {
            let _g = p.0.lock().unwrap();
            panic!("host bug while holding the lock");
        })
        .join();
        let p = pair.clone();
        let waker = std::thread::spawn(move || {
            *p.0.lock_unpoisoned() = true;
            p.1.notify_all();
        });
        let mut ready = pair.0.lock_unpoisoned();
        while !*ready {
            ready = pair.1.wait_unpoisoned(ready);
        }
        waker.join().expect("waker");
        assert!(*ready);
    }
}
