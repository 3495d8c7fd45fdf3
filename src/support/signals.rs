//! Turning SIGINT, SIGTERM and SIGHUP into a flag the long-running steps poll.
//!
//! An install interrupted by a signal must roll back like any other failure:
//! the handler only records the signal (async-signal-safe), and replication and
//! extraction check [`interrupted`] between files, returning an error that the
//! install's revert guard turns into a rollback. SIGKILL cannot be caught: a
//! killed install leaves a zone root marked `omicron1:state=installing`, which
//! zoneadm shows as *incomplete* and `uninstall -F` removes.

use std::sync::atomic::{AtomicI32, Ordering};

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

static RECEIVED: AtomicI32 = AtomicI32::new(0);

extern "C" fn record(signal: nix::libc::c_int) {
    RECEIVED.store(signal, Ordering::SeqCst);
}

/// Installs the handlers. Call once, early in `main`, before threads start.
pub fn install_handlers() {
    let action = SigAction::new(
        SigHandler::Handler(record),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores into an atomic, which is async-signal-safe.
        if let Err(e) = unsafe { sigaction(signal, &action) } {
            tracing::warn!("cannot handle {signal}: {e}");
        }
    }
}

/// The signal received, if any.
pub fn interrupted() -> Option<Signal> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        n => Signal::try_from(n).ok(),
    }
}

/// An error for a step that stopped because of a signal.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by {0}")]
pub struct Interrupted(pub Signal);

/// `Err(Interrupted)` once a signal has been received.
pub fn check() -> Result<(), Interrupted> {
    match interrupted() {
        Some(s) => Err(Interrupted(s)),
        None => Ok(()),
    }
}
