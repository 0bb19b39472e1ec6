//! claims-ops: an insurance claims model from notebook to production.
//!
//! How data flows, from file to table:
//!
//! 1. `data::load` reads CSV (its own reader) and Parquet (polars) as text; `data::contract` checks
//!    every value against the schema in the config and yields a typed `data::Dataset`
//!    (bad rows are named by file, row and column).
//! 2. `data::split` makes stratified train/validation/test splits and CV folds;
//!    `features::Preprocessor` is fitted on the training split only and saved.
//! 3. `model` wraps XGBoost's C API: random search with stratified k-fold CV
//!    (`model::search`), fits with early stopping on held-out data (`model::fit`).
//! 4. `eval` computes the metrics (checked against scikit-learn's values).
//! 5. `registry` stores versioned models with manifests and hashes, aliases and run
//!    records in SQLite; `monitor::profile` saves the reference profile for drift.
//! 6. `pipeline` orchestrates the stages and reports `PipelineEvent`s; `headless` is the
//!    CLI front over it.

/// Whether stderr carries JSON log lines (`--log-format json`): then every line [`say!`]
/// writes is one too, in the same shape as the tracing lines.
pub static JSON_STDERR: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// With `--json`, the command's name: a second stop signal, which quits at once, still
/// ends stdout with the failure summary a scheduler reads.
pub static JSON_SUMMARY_FOR: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// Whether the console owns the terminal: a line written to stderr then would land on its
/// screen (and scroll it), so [`say_line`] sends it to the log file instead.
pub static STDERR_IS_SCREEN: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Writes `text` as one stderr line at `level` (a plain line, or a JSON log line under
/// `--log-format json`; the log file while the console is on screen). A write that fails
/// (a reader that went away, as in `claims predict ... 2>&1 | head -3`) is ignored: there
/// is nowhere left to report it.
pub fn say_line(level: &str, text: &str) {
    use std::io::Write as _;
    if STDERR_IS_SCREEN.load(std::sync::atomic::Ordering::Relaxed) {
        match level {
            "ERROR" => tracing::error!("{text}"),
            "WARN" => tracing::warn!("{text}"),
            _ => tracing::info!("{text}"),
        }
        return;
    }
    let line = if JSON_STDERR.load(std::sync::atomic::Ordering::Relaxed) {
        serde_json::json!({
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "level": level,
            "fields": {"message": text},
            "target": "claims",
        })
        .to_string()
    } else {
        data::values::for_terminal(text).into_owned()
    };
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// `eprintln!` for a command line tool: see [`say_line`] (level INFO).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::say_line("INFO", &format!($($arg)*))
    };
}

pub mod cli;
pub use data::values::for_terminal;
pub mod config;
pub mod data;
pub mod error;
pub mod eval;
pub mod features;
pub mod headless;
pub mod model;
pub mod monitor;
pub mod pipeline;
pub mod registry;
pub mod schedule;
pub mod sink;
pub mod tui;
