//! `thread_pool` and `single_process` execution modes: each instance lives on its own OS
//! thread, fed by a crossbeam channel. Plugin code may block freely.
//!
//! Supervision: a panic in host code becomes an error result and the thread goes on. A
//! call that runs past `HangTimeout` is answered with a worker-crash result (the message
//! goes back to its queue, quarantined after `MaxWorkerCrashes`) and its thread is
//! replaced by a fresh one with a new instance. A thread cannot be killed: the stuck one
//! is abandoned and ends when its call returns.

use super::{Executor, InstanceFactory};
use crate::engine::call::{CallResult, FailureKind};
use crate::lock::LockExt;
use crate::message::Envelope;
use crossbeam_channel::{Receiver, Sender};
use futures::future::BoxFuture;
use hie_plugin_api::abi::{ErrorKind, PluginError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// One call for an item thread.
struct Job {
    /// The message.
    env: Envelope,
    /// Where the result goes.
    reply: oneshot::Sender<CallResult>,
}

/// The call a thread is running.
struct Running {
    /// Since when.
    since: Instant,
    /// Where its result goes; taken by the watchdog when the call hangs.
    reply: oneshot::Sender<CallResult>,
}

/// What the watchdog sees of one thread.
#[derive(Default)]
struct Slot {
    /// The call in progress, if any.
    current: Mutex<Option<Running>>,
}

/// Runs calls on dedicated threads.
pub struct ThreadExecutor {
    /// Jobs for the threads; dropping it ends them.
    jobs: Mutex<Option<Sender<Job>>>,
    /// Everything the watchdog needs to replace a thread.
    shared: Arc<Shared>,
    /// The hang watchdog.
    watchdog: Option<tokio::task::JoinHandle<()>>,
}

/// State shared with the watchdog.
struct Shared {
    /// Builds instances for replacement threads.
    factory: InstanceFactory,
    /// The item name, for thread names and logs.
    item: String,
    /// The job queue the threads read.
    rx: Receiver<Job>,
    /// The threads and their slots.
    threads: Mutex<Vec<(Arc<Slot>, JoinHandle<()>)>>,
}

/// A started thread: its slot, its handle, and where it reports whether its instance started.
type Spawned = (Arc<Slot>, JoinHandle<()>, std::sync::mpsc::Receiver<Result<(), PluginError>>);

fn spawn_thread(shared: &Shared, n: usize) -> std::io::Result<Spawned> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let factory = shared.factory.clone();
    let rx = shared.rx.clone();
    let slot = Arc::new(Slot::default());
    let my_slot = slot.clone();
    let item = shared.item.clone();
    let handle = std::thread::Builder::new().name(format!("hie-{}-{n}", shared.item)).spawn(move || {
        let made = factory().and_then(|mut i| i.start().map(|_| i));
        let mut instance = match made {
            Ok(i) => {
                let _ = ready_tx.send(Ok(()));
                i
            }
            Err(e) => {
                let _ = ready_tx.send(Err(e));
                return;
            }
        };
        while let Ok(job) = rx.recv() {
            *my_slot.current.lock_unpoisoned() = Some(Running { since: Instant::now(), reply: job.reply });
            // Plugin panics are caught by the SDK; this catches the host's own.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| instance.run(&job.env)))
                .unwrap_or_else(|_| CallResult::host_failure(FailureKind::Panicked, "process", "host code panicked on the item thread"));
            let running = my_slot.current.lock_unpoisoned().take();
            match running {
                Some(r) => {
                    let _ = r.reply.send(result);
                }
                None => {
                    // The watchdog gave up on this call and replaced the thread.
                    tracing::warn!(item = %item, "a call that hung has finished on an abandoned thread; the thread ends");
                    return;
                }
            }
        }
        instance.stop();
    })?;
    Ok((slot, handle, ready_rx))
}

impl ThreadExecutor {
    /// Starts `threads` threads, each creating and starting its own instance. Fails (and
    /// stops the others) if any instance fails to initialise.
    pub fn start(
        factory: &InstanceFactory,
        item: &str,
        threads: usize,
        hang_timeout: Option<Duration>,
        runtime: &tokio::runtime::Handle,
    ) -> Result<ThreadExecutor, PluginError> {
        let (tx, rx) = crossbeam_channel::bounded::<Job>(threads.max(1) * 2);
        let shared =
            Arc::new(Shared { factory: factory.clone(), item: item.to_string(), rx, threads: Mutex::new(Vec::new()) });
        let mut first_error = None;
        for n in 0..threads.max(1) {
            match spawn_thread(&shared, n) {
                Ok((slot, handle, ready)) => {
                    shared.threads.lock_unpoisoned().push((slot, handle));
                    match ready.recv() {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            first_error = Some(e);
                            break;
                        }
                        Err(_) => {
                            first_error = Some(PluginError::new(ErrorKind::Failed, "item thread ended during start"));
                            break;
                        }
                    }
                }
                Err(e) => {
                    first_error = Some(PluginError::new(ErrorKind::Failed, format!("cannot spawn thread: {e}")));
                    break;
                }
            }
        }
        if let Some(e) = first_error {
            drop(tx);
            let threads = std::mem::take(&mut *shared.threads.lock_unpoisoned());
            for (_, h) in threads {
                let _ = h.join();
            }
            return Err(e);
        }
        let watchdog = hang_timeout.map(|limit| runtime.spawn(watchdog(shared.clone(), limit)));
        Ok(ThreadExecutor { jobs: Mutex::new(Some(tx)), shared, watchdog })
    }
}

/// Answers hung calls with a crash result and replaces their threads.
async fn watchdog(shared: Arc<Shared>, limit: Duration) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut spawned = 1000;
    loop {
        tick.tick().await;
        let hung: Vec<usize> = {
            let threads = shared.threads.lock_unpoisoned();
            threads
                .iter()
                .enumerate()
                .filter(|(_, (slot, _))| {
                    slot.current.lock_unpoisoned().as_ref().is_some_and(|r| r.since.elapsed() > limit)
                })
                .map(|(i, _)| i)
                .collect()
        };
        for i in hung {
            let slot = shared.threads.lock_unpoisoned()[i].0.clone();
            let Some(running) = slot.current.lock_unpoisoned().take() else { continue };
            tracing::warn!(item = %shared.item, limit_s = limit.as_secs(), "a call ran longer than HangTimeout: its thread is abandoned and replaced");
            let _ = running.reply.send(CallResult::host_failure(
                FailureKind::WorkerCrashed,
                "process",
                format!("the call ran longer than HangTimeout ({}s); its thread was replaced", limit.as_secs()),
            ));
            spawned += 1;
            let s = shared.clone();
            let n = spawned;
            let replacement = tokio::task::spawn_blocking(move || {
                let (slot, handle, ready) = spawn_thread(&s, n).ok()?;
                ready.recv().ok()?.ok()?;
                Some((slot, handle))
            })
            .await
            .ok()
            .flatten();
            match replacement {
                Some(entry) => {
                    // The abandoned thread's handle is dropped: it ends on its own.
                    let _old = std::mem::replace(&mut shared.threads.lock_unpoisoned()[i], entry);
                }
                None => tracing::error!(item = %shared.item, "could not start a replacement thread"),
            }
        }
    }
}

impl Executor for ThreadExecutor {
    fn invoke(&self, env: Envelope) -> BoxFuture<'static, CallResult> {
        let sender = self.jobs.lock_unpoisoned().clone();
        Box::pin(async move {
            let Some(sender) = sender else {
                return CallResult::host_failure(FailureKind::Failed, "process", "item is shut down");
            };
            let (tx, rx) = oneshot::channel();
            let job = Job { env, reply: tx };
            // The channel is bounded: when full, wait for room off the async workers.
            let sent = match sender.try_send(job) {
                Ok(()) => true,
                Err(crossbeam_channel::TrySendError::Full(job)) => {
                    tokio::task::spawn_blocking(move || sender.send(job).is_ok()).await.unwrap_or(false)
                }
                Err(crossbeam_channel::TrySendError::Disconnected(_)) => false,
            };
            if !sent {
                return CallResult::host_failure(FailureKind::Failed, "process", "item threads are gone");
            }
            rx.await.unwrap_or_else(|_| {
                CallResult::host_failure(FailureKind::WorkerCrashed, "process", "item thread ended during the call")
            })
        })
    }

    fn shutdown(&self) -> BoxFuture<'static, ()> {
        let sender = self.jobs.lock_unpoisoned().take();
        if let Some(w) = &self.watchdog {
            w.abort();
        }
        let threads: Vec<(Arc<Slot>, JoinHandle<()>)> = std::mem::take(&mut *self.shared.threads.lock_unpoisoned());
        Box::pin(async move {
            drop(sender);
            let _ = tokio::task::spawn_blocking(move || {
                for (_, t) in threads {
                    let _ = t.join();
                }
            })
            .await;
        })
    }
}
