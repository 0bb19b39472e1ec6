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
        text.to_string()
    };
    // A JSON line either way: the log format's, or a progress event printed as JSON.
    let json = JSON_STDERR.load(std::sync::atomic::Ordering::Relaxed) || line.starts_with('{');
    let line = with_hint_args(&line, json);
    let _ = writeln!(std::io::stderr(), "{}", data::values::for_terminal(&line));
}

/// The `--home` / `--config` options of this command that a command hint (`` `claims
/// ...` `` in a message) must repeat to act on what this command saw, set once by the
/// binary (see `headless::setup_args`); empty when the home is implied and no config given.
pub static HINT_ARGS: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// `text` with [`HINT_ARGS`] inserted into every `` `claims SUBCOMMAND `` hint (one that
/// starts with options of its own, `` `claims --home ``, is left as it is); `json`: `text`
/// is JSON, so the inserted options are JSON-escaped.
pub fn with_hint_args(text: &str, json: bool) -> std::borrow::Cow<'_, str> {
    match HINT_ARGS.get() {
        Some(args) => insert_hint_args(text, args, json),
        None => std::borrow::Cow::Borrowed(text),
    }
}

/// [`with_hint_args`] with the options `args` (" --home H ...").
pub fn insert_hint_args<'a>(text: &'a str, args: &str, json: bool) -> std::borrow::Cow<'a, str> {
    const HINT: &str = "`claims ";
    if args.is_empty() || !text.contains(HINT) {
        return std::borrow::Cow::Borrowed(text);
    }
    let args = if json {
        let quoted = serde_json::Value::from(args).to_string();
        quoted[1..quoted.len() - 1].to_string()
    } else {
        args.to_string()
    };
    let mut out = String::with_capacity(text.len() + args.len());
    let mut rest = text;
    while let Some(i) = rest.find(HINT) {
        let after = &rest[i + HINT.len()..];
        out.push_str(&rest[..i]);
        out.push_str("`claims");
        if !after.starts_with("--") {
            out.push_str(&args);
        }
        out.push(' ');
        rest = after;
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// `s` as one shell word: as it is when it holds only characters no shell treats
/// specially, else in single quotes (a quote inside as `'\''`).
pub fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:,@%=".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
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
