//! The trait plugin authors implement.

use crate::context::Context;
use crate::error::Error;
use crate::message::Message;
use crate::outcome::{ErrorAction, Outcome};

/// An item class's behaviour. Implement [`Item::process`]; every hook has a default.
///
/// The host calls the hooks in this order, in every execution mode:
///
/// 1. `on_init` once after construction (an error refuses the item: the production or
///    the hot swap that created it does not go ahead). `hie validate`, and `hie run`
///    before it starts anything, build each enabled item once this far and tear it down
///    (`on_teardown`), to find what would stop it starting: so the class's constructor
///    and `on_init` read settings and files and check them, and leave connections,
///    threads and sends to `on_start`;
/// 2. `on_start` when the item starts taking messages;
/// 3. per message: `on_before_process`, `process`, `on_after_process`; if any of them
///    fails (returns an error or panics), `on_process_error` decides what happens;
/// 4. `on_stop` when the item stops taking messages (in-flight work is done);
/// 5. `on_teardown` once before the instance is dropped.
///
/// One instance is only ever called from one thread at a time; the host runs several
/// instances for concurrency. A panic anywhere is caught by the SDK and handled as an
/// error of kind `Panicked`.
pub trait Item: std::marker::Send + 'static {
    /// Called once after construction.
    fn on_init(&mut self, _ctx: &Context<'_>) -> Result<(), Error> {
        Ok(())
    }

    /// Called when the item starts taking messages.
    fn on_start(&mut self, _ctx: &Context<'_>) -> Result<(), Error> {
        Ok(())
    }

    /// Called when the item stops taking messages.
    fn on_stop(&mut self, _ctx: &Context<'_>) -> Result<(), Error> {
        Ok(())
    }

    /// Called once before the instance is dropped.
    fn on_teardown(&mut self, _ctx: &Context<'_>) -> Result<(), Error> {
        Ok(())
    }

    /// Called before `process`; an error skips `process`.
    fn on_before_process(&mut self, _ctx: &Context<'_>, _msg: &Message<'_>) -> Result<(), Error> {
        Ok(())
    }

    /// Processes one message.
    fn process(&mut self, ctx: &Context<'_>, msg: &Message<'_>) -> Result<Outcome, Error>;

    /// Called after a successful `process`.
    fn on_after_process(&mut self, _ctx: &Context<'_>, _msg: &Message<'_>, _outcome: &Outcome) -> Result<(), Error> {
        Ok(())
    }

    /// Decides what happens after an error in `process` or a hook.
    fn on_process_error(&mut self, _ctx: &Context<'_>, _msg: &Message<'_>, _error: &Error) -> ErrorAction {
        ErrorAction::Default
    }
}
