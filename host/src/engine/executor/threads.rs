//! `thread_pool` and `single_process` execution modes: each instance lives on its own OS
//! thread, fed by a crossbeam channel. Plugin code may block freely.

use super::{Executor, InstanceFactory};
use crate::engine::call::{CallResult, FailureKind};
use crate::message::Envelope;
use crossbeam_channel::{Receiver, Sender};
use futures::future::BoxFuture;
use hie_plugin_api::abi::PluginError;
use std::sync::Mutex;
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// One call for an item thread.
struct Job {
    /// The message.
    env: Envelope,
    /// Where the result goes.
    reply: oneshot::Sender<CallResult>,
}

/// Runs calls on dedicated threads.
pub struct ThreadExecutor {
    /// Jobs for the threads; dropping it ends them.
    jobs: Mutex<Option<Sender<Job>>>,
    /// The threads, joined on shutdown.
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl ThreadExecutor {
    /// Starts `threads` threads, each creating and starting its own instance. Fails (and
    /// stops the others) if any instance fails to initialise.
    pub fn start(factory: &InstanceFactory, item: &str, threads: usize) -> Result<ThreadExecutor, PluginError> {
        let (tx, rx) = crossbeam_channel::bounded::<Job>(threads.max(1) * 2);
        let mut handles = Vec::new();
        let mut first_error = None;
        for n in 0..threads.max(1) {
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            let factory = factory.clone();
            let rx: Receiver<Job> = rx.clone();
            let spawned = std::thread::Builder::new().name(format!("hie-{item}-{n}")).spawn(move || {
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
                    // Plugin panics are caught by the SDK; this catches the host's own.
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| instance.run(&job.env)))
                        .unwrap_or_else(|_| {
                            CallResult::host_failure(FailureKind::Panicked, "process", "host code panicked on the item thread")
                        });
                    let _ = job.reply.send(result);
                }
                instance.stop();
            });
            match spawned {
                Ok(h) => {
                    handles.push(h);
                    match ready_rx.recv() {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            first_error = Some(e);
                            break;
                        }
                        Err(_) => {
                            first_error = Some(PluginError::new(
                                hie_plugin_api::abi::ErrorKind::Failed,
                                "item thread ended during start",
                            ));
                            break;
                        }
                    }
                }
                Err(e) => {
                    first_error =
                        Some(PluginError::new(hie_plugin_api::abi::ErrorKind::Failed, format!("cannot spawn thread: {e}")));
                    break;
                }
            }
        }
        if let Some(e) = first_error {
            drop(tx);
            for h in handles {
                let _ = h.join();
            }
            return Err(e);
        }
        Ok(ThreadExecutor { jobs: Mutex::new(Some(tx)), threads: Mutex::new(handles) })
    }
}

impl Executor for ThreadExecutor {
    fn invoke(&self, env: Envelope) -> BoxFuture<'static, CallResult> {
        let sender = self.jobs.lock().unwrap_or_else(|e| e.into_inner()).clone();
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
        let sender = self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
        let threads: Vec<JoinHandle<()>> = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        Box::pin(async move {
            drop(sender);
            let _ = tokio::task::spawn_blocking(move || {
                for t in threads {
                    let _ = t.join();
                }
            })
            .await;
        })
    }
}
