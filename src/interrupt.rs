//! SIGINT and SIGTERM: a run stops at its next step or stage, publishes nothing and exits 1.
//!
//! Guarantee: once a signal is noted, no stage starts and nothing is published; a second
//! signal exits at once (a release is never partial, since `manifest.json` is written last).

use std::sync::atomic::{AtomicU8, Ordering};

/// 0: none; 2: SIGINT; 15: SIGTERM.
static SIGNAL: AtomicU8 = AtomicU8::new(0);

/// The run was interrupted.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by {signal}; nothing was published")]
pub struct Interrupted {
    /// `SIGINT` or `SIGTERM`
    pub signal: &'static str,
}

fn name(number: u8) -> &'static str {
    if number == 2 { "SIGINT" } else { "SIGTERM" }
}

/// Notes a signal (2 or 15); a second one ends the process with exit code 1.
pub fn request(number: u8) {
    if SIGNAL.swap(number, Ordering::SeqCst) != 0 {
        eprintln!("{}: a second signal; exiting now", name(number));
        std::process::exit(1);
    }
    tracing::warn!(
        signal = name(number),
        "interrupted: stopping at the next step"
    );
}

/// `Err` when a signal has been noted.
pub fn check() -> Result<(), Interrupted> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => Ok(()),
        number => Err(Interrupted {
            signal: name(number),
        }),
    }
}

/// Listens for SIGINT and SIGTERM on the current tokio runtime.
pub async fn listen() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut interrupt), Ok(mut terminate)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            tracing::warn!("cannot listen for SIGINT and SIGTERM; they will end the run at once");
            return;
        };
        loop {
            tokio::select! {
                _ = interrupt.recv() => request(2),
                _ = terminate.recv() => request(15),
            }
        }
    }
    #[cfg(not(unix))]
    loop {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        request(2);
    }
}
