//! Ctrl-C (SIGINT) for the long commands (consume, replay, dlq redrive,
//! dump, produce from a file or pipe): once [`watch`] is called, SIGINT no
//! longer kills the process but sets a flag the command's loop checks
//! between batches ([`requested`]), so it stops at a batch boundary,
//! prints what it did and how to resume, and exits with
//! [`exit::INTERRUPTED`](crate::error::exit::INTERRUPTED) (130, as a shell
//! reports a SIGINT death). A second Ctrl-C while it
//! finishes is ignored: the batch under way completes (its commit is what
//! makes the resume exact).

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Catch SIGINT from now on (a thread waits for it on a small runtime).
/// Without a runtime (an error creating it), SIGINT keeps its default.
pub fn watch() {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_io().build() else {
        return;
    };
    // Registered before the thread starts: a SIGINT right after `watch`
    // returns is caught.
    let signal = runtime.block_on(async { tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()) });
    let Ok(mut signal) = signal else {
        return;
    };
    let spawned = std::thread::Builder::new().name("sigint".into()).spawn(move || {
        runtime.block_on(async {
            while signal.recv().await.is_some() {
                REQUESTED.store(true, Ordering::SeqCst);
            }
        });
    });
    drop(spawned);
}

/// True once SIGINT arrived after [`watch`].
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}
