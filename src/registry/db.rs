//! The SQLite database under the home folder (`claims.db`): schema and connection settings.
//! One file holds runs, model versions, aliases and their history, so the CLI, the
//! scheduler and the TUI all see the same state.

use std::path::Path;

use rusqlite::Connection;

use crate::error::{ClaimsError, Result};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs(
  run_id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL,
  started_at TEXT NOT NULL, finished_at TEXT, args TEXT, error TEXT, summary TEXT, pid INTEGER);
CREATE TABLE IF NOT EXISTS run_stages(
  run_id TEXT NOT NULL, seq INTEGER NOT NULL, stage TEXT NOT NULL, started_at TEXT NOT NULL,
  duration_ms INTEGER NOT NULL, rows_in INTEGER, rows_out INTEGER, note TEXT,
  PRIMARY KEY(run_id, seq));
CREATE TABLE IF NOT EXISTS models(
  version INTEGER PRIMARY KEY, created_at TEXT NOT NULL, run_id TEXT NOT NULL, dir TEXT NOT NULL,
  manifest_sha256 TEXT NOT NULL, test_roc_auc REAL, imbalance TEXT, threshold REAL);
CREATE TABLE IF NOT EXISTS aliases(
  alias TEXT PRIMARY KEY, version INTEGER NOT NULL REFERENCES models(version), updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alias_history(
  id INTEGER PRIMARY KEY AUTOINCREMENT, alias TEXT NOT NULL, from_version INTEGER,
  to_version INTEGER NOT NULL, at TEXT NOT NULL, by_user TEXT NOT NULL, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS drift(
  business_date TEXT NOT NULL, run_id TEXT NOT NULL, model_version INTEGER NOT NULL, feature TEXT NOT NULL,
  metric TEXT NOT NULL, value REAL, threshold REAL, breached INTEGER NOT NULL, level TEXT NOT NULL,
  PRIMARY KEY(business_date, feature, metric));
CREATE TABLE IF NOT EXISTS performance(
  business_date TEXT NOT NULL, model_version INTEGER NOT NULL, rows INTEGER NOT NULL, positives INTEGER NOT NULL,
  roc_auc REAL, pr_auc REAL, log_loss REAL, brier REAL, recorded_at TEXT NOT NULL,
  PRIMARY KEY(business_date, model_version));
CREATE TABLE IF NOT EXISTS labels(
  application_id TEXT PRIMARY KEY, claim_status INTEGER NOT NULL CHECK (claim_status IN (0, 1)),
  source_file TEXT NOT NULL, received_at TEXT NOT NULL);
";

/// Opens (creating if needed) the database at `path` with WAL and a busy timeout, so a
/// reader and a writer in different processes do not block each other.
pub fn open(path: &Path) -> Result<Connection> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| ClaimsError::io(dir, e))?;
    }
    let err = |e: rusqlite::Error| {
        let code = e.sqlite_error_code();
        if matches!(
            code,
            Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen)
        ) {
            // SQLite writes the file (and its -wal/-shm files beside it) even to read.
            ClaimsError::Usage(format!(
                "{}: cannot open the database for writing ({e}); the home folder and its files must be writable by this user ({})",
                path.display(),
                crate::registry::current_user()
            ))
        } else {
            ClaimsError::Registry(format!("{}: {e}", path.display()))
        }
    };
    let conn = Connection::open(path).map_err(err)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(err)?;
    // Only takes effect on a new, empty database (before WAL is switched on).
    conn.pragma_update(None, "page_size", 16384).map_err(err)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(err)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(err)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(err)?;
    conn.execute_batch(SCHEMA).map_err(err)?;
    Ok(conn)
}

/// Maps a SQLite error into the registry error.
pub fn sql(e: rusqlite::Error) -> ClaimsError {
    ClaimsError::Registry(format!("database: {e}"))
}

/// The current UTC time as RFC 3339 with milliseconds.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
