//! # hie-host: the HIE engine
//!
//! The `hie` binary is a thin CLI over this library. The library loads plugin packs,
//! reads and validates productions, and runs them: queues, journal, adapters, executors
//! and the management API.
//!
//! ## Crate map
//! - [`production`]: production files (IRIS XML, YAML, JSON) → model → validated plan.
//! - [`pack`]: finding, staging and loading plugin packs (the ABI boundary, host side).
//! - [`engine`]: running a plan: items, executors, intake, dispatch, sync calls.
//! - [`queue`]: per-item queues (engine-owned, journal-backed).
//! - [`journal`]: the commit log (durability, group commit) and the SQLite message
//!   warehouse built behind it.
//! - [`adapter`]: MLLP, file and HTTP I/O for services and operations.
//! - [`api`]: HTTP management API and Prometheus metrics.
//! - [`reload`]: hot reload of the production file and of plugin packs.
//! - [`message`]: headers, statuses, priorities.
//! - [`lock`]: taking the host's std locks whether or not a panic poisoned them.
//! - [`worker`]: the worker-process side of the `multi_process` execution mode.
//!
//! ## Invariants (see ARCHITECTURE.md for the reasoning)
//! 1. A message is acknowledged only after the commit that stores it returned.
//! 2. Queues belong to the engine, never to an item instance.
//! 3. No plugin panic crosses the FFI boundary; host callbacks catch their own panics.
//! 4. Bad input (HL7, config, packs) produces an answer or a diagnostic, never a crash.

pub mod adapter;
pub mod api;
pub mod audit;
pub mod engine;
pub mod journal;
pub mod lock;
pub mod message;
pub mod pack;
pub mod production;
pub mod queue;
pub mod reload;
pub mod value_paths;
pub mod worker;
