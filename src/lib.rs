//! claims-ops: an insurance claims model from notebook to production.
//!
//! How data flows, from file to table:
//!
//! 1. `data::load` reads CSV/Parquet with polars as text columns; `data::contract` checks
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

/// `eprintln!` for a command line tool: a line on stderr, where a write that fails (a reader
/// that went away, as in `claims predict ... 2>&1 | head -3`) is ignored instead of
/// panicking in the middle of a run; there is nowhere left to report it.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub mod cli;
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
