//! Orchestration only: the training and inference pipelines call into `data`, `features`,
//! `model`, `eval`, `registry` and `monitor`, time each stage, count rows in and out, record
//! the run in SQLite and report progress as [`PipelineEvent`]s on a channel (the CLI prints
//! them, the TUI draws them).

mod champion;
pub mod compare;
pub mod dates;
mod drift_store;
pub mod feedback;
mod gate;
mod grown;
pub mod infer;
pub(crate) mod rerun;
mod scoring;
pub mod seen;
pub mod train;
mod train_report;
mod train_types;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rusqlite::Connection;
use serde::Serialize;

use crate::error::{ClaimsError, Result};
use crate::registry::{db, runs};

/// Progress of a pipeline, one message per stage change or progress step.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PipelineEvent {
    /// The run this belongs to.
    pub run_id: String,
    /// Stage name (load, contract, split, preprocess, search, fit, evaluate, register).
    pub stage: String,
    /// Fraction done within the stage, when known.
    pub progress: Option<f64>,
    /// Human-readable message.
    pub message: String,
}

/// A new run id: kind, UTC time and 4 random hex digits.
pub fn new_run_id(kind: &str) -> String {
    format!(
        "{kind}-{}-{:04x}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S"),
        rand::random::<u16>()
    )
}

/// The run this process started last (a failure's `--json` summary names it, so a
/// scheduler can point at `claims runs RUN_ID`).
static LAST_RUN: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// The id of the run this process started last, if any.
pub fn last_run_id() -> Option<String> {
    LAST_RUN.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Makes `run_id` the run [`last_run_id`] names: one recorded outside a [`RunCtx`] (a
/// scheduled job refused before it could start), or the failed date a backfill ends with.
/// `None`: the outcome is no single run's (a backfill's changed dates).
pub fn set_last_run_id(run_id: Option<&str>) {
    *LAST_RUN.lock().unwrap_or_else(|p| p.into_inner()) = run_id.map(str::to_string);
}

/// The context a running pipeline reports through.
pub struct RunCtx {
    /// The run id.
    pub run_id: String,
    events: Option<Sender<PipelineEvent>>,
    cancel: Arc<AtomicBool>,
    /// Set once the run's result is committed: a stop request no longer cancels it (the
    /// rest is bookkeeping that must match what was written).
    committed: AtomicBool,
    conn: Mutex<Connection>,
    _heartbeat: Option<Heartbeat>,
}

/// How often a running run records that it is alive: a run killed mid-stage (out of
/// memory, kill -9) is then closed at its last beat, not at its stage's start.
const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(5);

/// A thread that records the run as alive every [`HEARTBEAT`] until dropped.
struct Heartbeat {
    stop: Arc<(Mutex<bool>, std::sync::Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Heartbeat {
    fn start(home: &std::path::Path, run_id: &str) -> Option<Heartbeat> {
        let conn = db::open(&home.join("claims.db")).ok()?;
        // A beat never waits on another writer (the next one tries again).
        conn.busy_timeout(std::time::Duration::ZERO).ok()?;
        let stop = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let (flag, id) = (stop.clone(), run_id.to_string());
        let thread = std::thread::Builder::new()
            .name("heartbeat".into())
            .spawn(move || {
                let (lock, wake) = &*flag;
                let mut stopped = lock.lock().unwrap_or_else(|p| p.into_inner());
                while !*stopped {
                    stopped = match wake.wait_timeout(stopped, HEARTBEAT) {
                        Ok((g, _)) => g,
                        Err(p) => p.into_inner().0,
                    };
                    if !*stopped {
                        let _ = runs::alive(&conn, &id, &db::now());
                    }
                }
            })
            .ok()?;
        Some(Heartbeat {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        let (lock, wake) = &*self.stop;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl RunCtx {
    /// Starts a run record of `kind` with `args` (JSON) in the home's database. The caller
    /// holds `kind`'s run lock (earlier runs of `kind` left "running" are closed as
    /// interrupted).
    pub fn start(
        home: &std::path::Path,
        kind: &str,
        args: &str,
        events: Option<Sender<PipelineEvent>>,
        cancel: Arc<AtomicBool>,
    ) -> Result<Self> {
        let conn = db::open(&home.join("claims.db"))?;
        for id in runs::close_interrupted(&conn, kind)? {
            tracing::warn!(run_id = %id, "an earlier {kind} run ended without an outcome; recorded as failed (interrupted)");
        }
        let run_id = runs::start_new(&conn, kind, args)?;
        set_last_run_id(Some(&run_id));
        tracing::info!(run_id = %run_id, kind, "run started");
        Ok(RunCtx {
            _heartbeat: Heartbeat::start(home, &run_id),
            run_id,
            events,
            cancel,
            committed: AtomicBool::new(false),
            conn: Mutex::new(conn),
        })
    }

    /// The run's span: every log line inside it carries the run id (JSON lines copy it
    /// into `fields`, see `headless::logline`), warnings outside any stage included.
    pub fn span(&self) -> tracing::Span {
        // At ERROR level so that no layer's filter (CLAIMS_LOG=warn) hides it from the
        // lines inside it: a span's level filters the span, not what it shows.
        tracing::error_span!("run", run_id = %self.run_id)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>> {
        self.conn
            .lock()
            .map_err(|_| ClaimsError::Other(anyhow::anyhow!("run database lock poisoned")))
    }

    /// Records a failure (the failing stage's row, the run's end). On a full disk it tries
    /// once more after emptying the write-ahead log, which the failed write's pages filled:
    /// a run that failed for want of space is then recorded as such, not found later as
    /// "killed?".
    fn record_failure(&self, write: impl Fn(&Connection) -> Result<()>) -> Result<()> {
        let conn = self.lock()?;
        match write(&conn) {
            Err(e) if e.to_string().contains("database or disk is full") => {
                let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
                write(&conn)
            }
            r => r,
        }
    }

    /// Sends a progress event (and logs it at debug level).
    pub fn emit(&self, stage: &str, progress: Option<f64>, message: impl Into<String>) {
        let ev = PipelineEvent {
            run_id: self.run_id.clone(),
            stage: stage.to_string(),
            progress,
            message: message.into(),
        };
        tracing::debug!(run_id = %ev.run_id, stage = %ev.stage, progress = ?ev.progress, "{}", ev.message);
        if let Some(tx) = &self.events {
            let _ = tx.send(ev);
        }
    }

    /// Whether the run was asked to stop.
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed) && !self.committed.load(Ordering::Relaxed)
    }

    /// Marks the run's result as committed: from here a stop request lets it finish.
    pub fn committed(&self) {
        self.committed.store(true, Ordering::Relaxed);
    }

    /// The cancel flag, for code that polls it.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancel.clone()
    }

    /// Runs one stage: a tracing span, timing, row counts and a stage record. `f` returns
    /// its value, the rows out and a note.
    pub fn stage<T>(
        &self,
        name: &str,
        rows_in: Option<usize>,
        f: impl FnOnce() -> Result<(T, Option<usize>, String)>,
    ) -> Result<T> {
        self.stage_counting(name, || {
            f().map(|(value, rows_out, note)| (value, rows_in, rows_out, note))
        })
    }

    /// [`Self::stage`] for a stage that learns its rows in as it goes (a file read in
    /// chunks): `f` returns its value, the rows in, the rows out and a note.
    pub fn stage_counting<T>(
        &self,
        name: &str,
        f: impl FnOnce() -> Result<(T, Option<usize>, Option<usize>, String)>,
    ) -> Result<T> {
        if self.cancelled() {
            return Err(ClaimsError::Other(anyhow::anyhow!(
                "cancelled before stage '{name}'"
            )));
        }
        let span = tracing::error_span!("stage", run_id = %self.run_id, stage = name);
        let _enter = span.enter();
        self.emit(name, Some(0.0), format!("{name}: started"));
        let started_at = db::now();
        // Where a killed run died: the next run of its kind names this stage.
        runs::begin_stage(&*self.lock()?, &self.run_id, name, &started_at)?;
        let t0 = Instant::now();
        let (value, rows_in, rows_out, note) = match f() {
            Ok(v) => v,
            Err(e) => {
                // The failing stage gets its row too, so `claims runs RUN_ID` shows where
                // the run stopped; the error itself is the run's.
                let first = e.to_string().lines().next().unwrap_or("").to_string();
                let record = runs::StageRecord {
                    stage: name.to_string(),
                    started_at,
                    duration_ms: t0.elapsed().as_millis() as i64,
                    rows_in: None,
                    rows_out: None,
                    note: Some(format!("FAILED: {first}")),
                };
                let _ = self.record_failure(|c| runs::stage(c, &self.run_id, &record));
                return Err(e);
            }
        };
        let ms = t0.elapsed().as_millis() as i64;
        // Row counts as numbers (absent when not counted), so log readers need not parse.
        let count = |n: Option<usize>| n.map(|n| n as u64);
        tracing::info!(
            rows_in = count(rows_in),
            rows_out = count(rows_out),
            duration_ms = ms,
            "{name}: {note}"
        );
        runs::stage(
            &*self.lock()?,
            &self.run_id,
            &runs::StageRecord {
                stage: name.to_string(),
                started_at,
                duration_ms: ms,
                rows_in: rows_in.map(|n| n as i64),
                rows_out: rows_out.map(|n| n as i64),
                note: Some(note.clone()),
            },
        )?;
        self.emit(name, Some(1.0), format!("{name}: {note}"));
        Ok(value)
    }

    /// Records the run's end: the summary (JSON) or the error with its cause chain.
    pub fn finish<T: Serialize>(&self, outcome: &Result<T>) -> Result<()> {
        match outcome {
            Ok(v) => {
                let s = serde_json::to_string(v).map_err(|e| ClaimsError::Other(e.into()))?;
                runs::finish(&*self.lock()?, &self.run_id, Ok(&s))?;
                tracing::info!(run_id = %self.run_id, "run succeeded");
            }
            Err(e) => {
                let text = error_chain(e);
                self.record_failure(|c| {
                    runs::finish(c, &self.run_id, Err((&text, e.exit_code())))
                })?;
                // The command prints the error itself (the scheduler logs the job's
                // outcome): this line goes to the log file, not to stderr a second time.
                tracing::error!(target: RUN_OUTCOME, run_id = %self.run_id, "run failed: {e}");
                self.emit("failed", None, e.to_string());
            }
        }
        Ok(())
    }
}

/// An error and its causes, one per line.
pub fn error_chain(e: &ClaimsError) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        // A cause already quoted in the message (`path: Permission denied`) is not repeated.
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(&format!("\ncaused by: {text}"));
        }
        src = c.source();
    }
    s
}

/// The tracing target of a run's failure line, which the text console log leaves out.
pub const RUN_OUTCOME: &str = "claims::run_outcome";

/// The tracing target of a warning that is also part of the command's result (its
/// `warning:` lines and `--json` `warnings`): the text console log leaves it out, so a
/// person reads it once; the log file and JSON logs keep it.
pub const RESULT_WARNING: &str = "claims::result_warning";

/// `path` made absolute against the current folder (not resolving links), so that what a
/// run records (its arguments, a model's lineage) still names the same file when read from
/// another folder: a retry from the console, `compare` rebuilding a model's splits.
pub fn absolute(path: &std::path::Path) -> std::path::PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
