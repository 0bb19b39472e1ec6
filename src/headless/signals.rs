//! SIGINT/SIGTERM for headless commands: the first asks the running pipeline to stop (it
//! sees the flag at its next stage or boosting round and records the run as cancelled);
//! a second ends the process at once (the next run of that kind closes the record).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

static STOP: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// The process's stop flag, listening for SIGINT/SIGTERM from the first call on. `what` is
/// told to the user on the first signal ("finishing the current step", ...).
pub fn stop_flag(what: &'static str) -> Arc<AtomicBool> {
    STOP.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let set = flag.clone();
        let listening = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|rt| {
                std::thread::Builder::new()
                    .name("claims-signals".into())
                    .spawn(move || rt.block_on(listen(set, what)))
            });
        if !matches!(listening, Ok(Ok(_))) {
            tracing::warn!("cannot listen for SIGINT/SIGTERM; a signal ends the process at once");
        }
        flag
    })
    .clone()
}

/// Whether a stop was asked for (false before any [`stop_flag`] call).
pub fn stop_requested() -> bool {
    STOP.get().is_some_and(|f| f.load(Ordering::SeqCst))
}

async fn listen(flag: Arc<AtomicBool>, what: &str) {
    #[cfg(unix)]
    let (mut term, mut int) = {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(t), Ok(i)) => (t, i),
            _ => return,
        }
    };
    for n in 0.. {
        #[cfg(unix)]
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        if n > 0 {
            crate::say!("second stop signal: quitting now");
            if let Some(command) = crate::JSON_SUMMARY_FOR.get() {
                let mut summary = serde_json::json!({"command": command, "ok": false, "exit_code": 130,
                    "error": "quit at once by a second stop signal (`claims runs` shows what was recorded)"});
                if let Some(id) = crate::pipeline::last_run_id() {
                    summary["run_id"] = serde_json::json!(id);
                }
                // Written from another thread, waited for briefly: stdout may be held by a
                // write to a full pipe, and a second Ctrl-C must quit whatever happens.
                let (tx, rx) = std::sync::mpsc::channel();
                std::thread::spawn(move || {
                    use std::io::Write as _;
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{summary}");
                    let _ = out.flush();
                    let _ = tx.send(());
                });
                let _ = rx.recv_timeout(std::time::Duration::from_millis(300));
            }
            std::process::exit(130);
        }
        flag.store(true, Ordering::SeqCst);
        crate::say!("stop requested: {what} (a second Ctrl-C quits at once)");
    }
}
