//! The embedded default sink: SQLite (bundled), normally `HOME/claims.db`.

use std::path::Path;

use rusqlite::OptionalExtension;
use rusqlite::{Connection, params};

use super::{DayWriter, PredictionBatch, PredictionRow, QuarantineRow, Sink};
use crate::error::{ClaimsError, Result};

const DDL: &str = "
CREATE TABLE IF NOT EXISTS predictions(
  business_date TEXT NOT NULL, application_id TEXT NOT NULL, model_version INTEGER NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('champion', 'challenger')), score REAL NOT NULL,
  predicted_claim INTEGER NOT NULL, threshold REAL NOT NULL, top_reasons TEXT NOT NULL,
  run_id TEXT NOT NULL, scored_at TEXT NOT NULL,
  PRIMARY KEY (business_date, application_id, role)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS quarantine(
  business_date TEXT NOT NULL, source_file TEXT NOT NULL, row_number INTEGER NOT NULL,
  application_id TEXT, reason TEXT NOT NULL, raw TEXT NOT NULL, run_id TEXT NOT NULL,
  PRIMARY KEY (business_date, source_file, row_number));
";

/// The predictions columns, in table order (for SELECTs that map rows with
/// [`prediction_row`]).
pub const PREDICTION_COLUMNS: &str = "business_date, application_id, model_version, role, score, \
     predicted_claim, threshold, top_reasons, run_id, scored_at";

/// Maps a row selected with [`PREDICTION_COLUMNS`].
pub fn prediction_row(r: &rusqlite::Row) -> rusqlite::Result<PredictionRow> {
    Ok(PredictionRow {
        business_date: r.get(0)?,
        application_id: r.get(1)?,
        model_version: r.get(2)?,
        role: r.get(3)?,
        score: r.get(4)?,
        predicted_claim: r.get(5)?,
        threshold: r.get(6)?,
        top_reasons: r.get(7)?,
        run_id: r.get(8)?,
        scored_at: r.get(9)?,
    })
}

/// SQLite prediction tables.
pub struct SqliteSink {
    conn: Connection,
    path: String,
}

fn err(e: rusqlite::Error) -> ClaimsError {
    ClaimsError::Other(anyhow::anyhow!("sqlite sink: {e}"))
}

impl SqliteSink {
    /// Quarantine rows matching `condition` (SQL after WHERE, with `?1` bound to `value`).
    fn quarantine_where(&mut self, condition: &str, value: &str) -> Result<Vec<QuarantineRow>> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT business_date, source_file, row_number, application_id, reason, raw, run_id FROM quarantine
                 WHERE {condition}"
            ))
            .map_err(err)?;
        let rows = st
            .query_map([value], |r| {
                Ok(QuarantineRow {
                    business_date: r.get(0)?,
                    source_file: r.get(1)?,
                    row_number: r.get(2)?,
                    application_id: r.get(3)?,
                    reason: r.get(4)?,
                    raw: r.get(5)?,
                    run_id: r.get(6)?,
                })
            })
            .map_err(err)?;
        rows.collect::<std::result::Result<_, _>>().map_err(err)
    }

    /// Opens (creating if needed) the tables in the database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_as(path, true)
    }

    /// [`Self::open`] of a sink to read: the file and its predictions table must exist.
    pub fn open_to_read(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(ClaimsError::Usage(format!(
                "sink 'sqlite:{}' (--sink, or inference.sink in a config): no such database file (nothing was scored into it; check the path)",
                path.display()
            )));
        }
        Self::open_as(path, false)
    }

    fn open_as(path: &Path, create: bool) -> Result<Self> {
        let conn = crate::registry::db::open_plain(path)?;
        if create {
            // The tables there are checked before the missing ones are made: a refused sink
            // gets no new table.
            check_tables(&conn, path, true)?;
            conn.execute_batch(DDL).map_err(err)?;
        } else {
            let has: bool = conn
                .query_row(
                    "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'predictions'",
                    [],
                    |r| r.get(0),
                )
                .map_err(err)?;
            if !has {
                return Err(ClaimsError::Usage(format!(
                    "sink 'sqlite:{}' (--sink, or inference.sink in a config): the database has no predictions table (nothing was scored into it; check the path)",
                    path.display()
                )));
            }
        }
        check_tables(&conn, path, false)?;
        // A day's commit should not also copy the whole log into the database file: that
        // is `close`'s job, which the pipeline runs alongside other work.
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(err)?;
        Ok(SqliteSink {
            conn,
            path: path.display().to_string(),
        })
    }
}

/// The columns `claims` writes and reads, per table (an older or hand-made table must have
/// them; SQLite's column types are loose, so only names are checked).
const COLUMNS: [(&str, &str); 2] = [
    ("predictions", PREDICTION_COLUMNS),
    (
        "quarantine",
        "business_date, source_file, row_number, application_id, reason, raw, run_id",
    ),
];

/// A SQLite sink file that a scoring run is about to create (it does not exist yet).
pub struct NewFile(Option<std::path::PathBuf>);

impl NewFile {
    /// For the sink at `url` (a `sqlite:PATH` URL whose file does not exist yet).
    pub fn of(url: &str) -> NewFile {
        NewFile(
            url.strip_prefix("sqlite:")
                .map(std::path::PathBuf::from)
                .filter(|p| !p.as_os_str().is_empty() && !p.exists()),
        )
    }

    /// Whether the file does not exist yet.
    pub fn is_new(&self) -> bool {
        self.0.is_some()
    }

    /// After a failed run: the file it created is removed again (with SQLite's -wal and
    /// -shm files) when it holds no rows, so a mistyped path leaves no empty database that
    /// a later read would take for a real sink.
    pub fn remove_if_failed(self, failed: bool) {
        let Some(path) = self.0.filter(|p| failed && p.is_file()) else {
            return;
        };
        // Only when no other connection has it open (a second home scoring into the same
        // new file): leaving WAL mode needs the file to itself, and fails at once if not.
        let unused_and_empty = rusqlite::Connection::open(&path).and_then(|c| {
            let rows: i64 = c.query_row(
                "SELECT (SELECT count(*) FROM predictions) + (SELECT count(*) FROM quarantine)",
                [],
                |r| r.get(0),
            )?;
            let mode: String = c.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))?;
            Ok(rows == 0 && mode == "delete")
        });
        if matches!(unused_and_empty, Ok(true)) {
            for suffix in ["", "-wal", "-shm"] {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

/// Checks that existing tables have every column `claims` uses and no NOT NULL column
/// without a default that it does not fill: every problem in one message (exit 2), before
/// anything is scored, as the PostgreSQL sink does.
fn check_tables(conn: &rusqlite::Connection, path: &Path, creating: bool) -> Result<()> {
    let mut problems = vec![];
    for (table, wanted) in COLUMNS {
        let wanted: Vec<&str> = wanted.split(',').map(str::trim).collect();
        let have: Vec<(String, bool)> = conn
            .prepare(&format!(
                "SELECT name, \"notnull\" AND dflt_value IS NULL AND pk = 0 FROM pragma_table_info('{table}')"
            ))
            .and_then(|mut st| {
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()
            })
            .map_err(err)?;
        if have.is_empty() && creating {
            continue; // not there yet: `open` makes it
        }
        let missing: Vec<&str> = wanted
            .iter()
            .filter(|c| !have.iter().any(|(h, _)| h == *c))
            .copied()
            .collect();
        if !missing.is_empty() {
            problems.push(format!(
                "table '{table}' has no column {}",
                missing.join(", ")
            ));
        }
        for (name, required) in &have {
            if *required && !wanted.contains(&name.as_str()) {
                problems.push(format!(
                    "column {table}.{name} is NOT NULL without a default, and claims does not write it"
                ));
            }
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(ClaimsError::Usage(format!(
        "sqlite sink {}: {}: the tables were made by an older version or by hand (alter them, or point the sink at another file)",
        path.display(),
        problems.join("; ")
    )))
}

/// An open SQLite transaction replacing one date.
struct SqliteDay<'c> {
    tx: rusqlite::Transaction<'c>,
    date: String,
}

/// Rows per multi-row `INSERT`: one statement keeps its cursor on the table's last leaf
/// from row to row, so a row that sorts after the one before skips the descent from the
/// root (one execution per row opens the cursor afresh each time). The statements are
/// `INSERT OR FAIL`: a plain (`ABORT`) multi-row `INSERT` copies every page it touches
/// into a statement journal first, so that a failure can undo just that statement (1.2 GB
/// of temporary-file writes per million rows). Any failure here rolls back the whole day's
/// transaction instead, so the statement journal bought nothing.
const ROWS_PER_INSERT: usize = 64;

/// An `INSERT` of `rows` rows: the values every row shares are parameters 1-6 (date,
/// model version, role, threshold, run id, time), each row's own four follow.
fn insert_predictions_sql(rows: usize) -> String {
    let tuples: Vec<String> = (0..rows)
        .map(|k| {
            let p = 7 + 4 * k;
            format!(
                "(?1, ?{p}, ?2, ?3, ?{}, ?{}, ?4, ?{}, ?5, ?6)",
                p + 1,
                p + 2,
                p + 3
            )
        })
        .collect();
    format!(
        "INSERT OR FAIL INTO predictions(business_date, application_id, model_version, role, score,
     predicted_claim, threshold, top_reasons, run_id, scored_at) VALUES {}",
        tuples.join(", ")
    )
}

/// The 64-row statement's text, built once.
static INSERT_MANY: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| insert_predictions_sql(ROWS_PER_INSERT));

/// The one-row statement's text, for a batch's last rows.
static INSERT_ONE: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| insert_predictions_sql(1));

impl DayWriter for SqliteDay<'_> {
    fn predictions(&mut self, b: &PredictionBatch) -> Result<()> {
        let full = b.len() - b.len() % ROWS_PER_INSERT;
        let parts = [
            (ROWS_PER_INSERT, &*INSERT_MANY, 0..full),
            (1, &*INSERT_ONE, full..b.len()),
        ];
        for (rows, sql, range) in parts {
            if range.is_empty() {
                continue;
            }
            let mut ins = self.tx.prepare_cached(sql).map_err(err)?;
            // The shared values are bound once; SQLite keeps bindings across executions.
            ins.raw_bind_parameter(1, b.business_date).map_err(err)?;
            ins.raw_bind_parameter(2, b.model_version).map_err(err)?;
            ins.raw_bind_parameter(3, b.role).map_err(err)?;
            ins.raw_bind_parameter(4, b.threshold).map_err(err)?;
            ins.raw_bind_parameter(5, b.run_id).map_err(err)?;
            ins.raw_bind_parameter(6, b.scored_at).map_err(err)?;
            for start in range.step_by(rows) {
                for k in 0..rows {
                    let (i, p) = (start + k, 7 + 4 * k);
                    ins.raw_bind_parameter(p, b.ids[i].as_str()).map_err(err)?;
                    ins.raw_bind_parameter(p + 1, b.scores[i]).map_err(err)?;
                    ins.raw_bind_parameter(p + 2, b.scores[i] >= b.threshold)
                        .map_err(err)?;
                    ins.raw_bind_parameter(p + 3, b.reasons[i].as_str())
                        .map_err(err)?;
                }
                ins.raw_execute().map_err(err)?;
            }
        }
        Ok(())
    }

    fn commit(self: Box<Self>, quarantine: &[QuarantineRow]) -> Result<()> {
        {
            let mut q = self
                .tx
                .prepare(
                    "INSERT INTO quarantine(business_date, source_file, row_number, application_id, reason, raw, run_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(err)?;
            for r in quarantine {
                q.execute(params![
                    self.date,
                    r.source_file,
                    r.row_number,
                    r.application_id,
                    r.reason,
                    r.raw,
                    r.run_id
                ])
                .map_err(err)?;
            }
        }
        self.tx.commit().map_err(err)
    }
}

impl Sink for SqliteSink {
    fn begin_day<'s>(
        &'s mut self,
        date: &str,
        expected: Option<Option<&str>>,
        // SQLite's own wait for a writer is bounded (busy timeout).
        _cancel: &std::sync::atomic::AtomicBool,
    ) -> Result<Box<dyn DayWriter + 's>> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        // Holding the write lock now: the date's writer is what the caller checked.
        let now: Option<String> = tx
            .query_row(super::DATE_WRITER_SQL, [date], |r| r.get(0))
            .optional()
            .map_err(err)?;
        super::changed_since_checked(date, expected, now.as_deref())?;
        tx.execute(
            "DELETE FROM predictions WHERE business_date = ?1",
            params![date],
        )
        .map_err(err)?;
        tx.execute(
            "DELETE FROM quarantine WHERE business_date = ?1",
            params![date],
        )
        .map_err(err)?;
        Ok(Box::new(SqliteDay {
            tx,
            date: date.to_string(),
        }))
    }

    fn read_day(&mut self, date: &str) -> Result<Vec<PredictionRow>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT business_date, application_id, model_version, role, score, predicted_claim, threshold,
                 top_reasons, run_id, scored_at FROM predictions WHERE business_date = ?1 ORDER BY role, application_id",
            )
            .map_err(err)?;
        let rows = st.query_map([date], prediction_row).map_err(err)?;
        rows.collect::<std::result::Result<_, _>>().map_err(err)
    }

    fn dates(&mut self) -> Result<Vec<String>> {
        let mut st = self.conn.prepare(&super::dates_sql("x")).map_err(err)?;
        let rows = st.query_map([], |r| r.get(0)).map_err(err)?;
        rows.collect::<std::result::Result<_, _>>().map_err(err)
    }

    fn champion_rows(
        &mut self,
        date: &str,
        limit: usize,
        id_part: Option<&str>,
    ) -> Result<(Vec<PredictionRow>, usize)> {
        let total: i64 = self
            .conn
            .query_row(
                "SELECT COUNT(*) FROM predictions WHERE business_date = ?1 AND role = 'champion'",
                [date],
                |r| r.get(0),
            )
            .map_err(err)?;
        // LIKE is case-blind for ASCII; the pattern's own % and _ are escaped.
        let pattern = format!(
            "%{}%",
            id_part
                .unwrap_or("")
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let mut st = self
            .conn
            .prepare(
                "SELECT business_date, application_id, model_version, role, score, predicted_claim, threshold, top_reasons,
                 run_id, scored_at FROM predictions WHERE business_date = ?1 AND role = 'champion'
                 AND application_id LIKE ?2 ESCAPE '\\' ORDER BY score DESC, application_id LIMIT ?3",
            )
            .map_err(err)?;
        let rows = st
            .query_map(
                rusqlite::params![date, pattern, limit as i64],
                prediction_row,
            )
            .map_err(err)?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(err)?;
        Ok((rows, total as usize))
    }

    fn champion_row(&mut self, date: &str, id: &str) -> Result<Option<PredictionRow>> {
        self.conn
            .query_row(
                "SELECT business_date, application_id, model_version, role, score, predicted_claim, threshold, top_reasons,
                 run_id, scored_at FROM predictions WHERE business_date = ?1 AND application_id = ?2 AND role = 'champion'",
                rusqlite::params![date, id],
                prediction_row,
            )
            .optional()
            .map_err(err)
    }

    fn day_writer(&mut self, date: &str) -> Result<Option<String>> {
        self.conn
            .query_row(super::DATE_WRITER_SQL, [date], |r| r.get(0))
            .optional()
            .map_err(err)
    }

    fn day_run(&mut self, date: &str) -> Result<Option<(String, u64)>> {
        self.conn
            .query_row(super::DATE_RUN_SQL, [date], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)? as u64))
            })
            .optional()
            .map_err(err)
    }

    fn quarantine_of(&mut self, id: &str) -> Result<Vec<QuarantineRow>> {
        self.quarantine_where(
            "application_id = ?1 ORDER BY business_date DESC, source_file, row_number",
            id,
        )
    }

    fn read_quarantine(&mut self, date: &str) -> Result<Vec<QuarantineRow>> {
        self.quarantine_where("business_date = ?1 ORDER BY source_file, row_number", date)
    }

    fn scores_on(&mut self, date: &str) -> Result<Vec<super::StoredScore>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT business_date, application_id, model_version, score, role FROM predictions
                 WHERE business_date = ?1 ORDER BY application_id, role",
            )
            .map_err(err)?;
        let rows = st.query_map([date], stored_score).map_err(err)?;
        rows.collect::<std::result::Result<_, _>>().map_err(err)
    }

    fn scores_of(&mut self, ids: &[String]) -> Result<Vec<super::StoredScore>> {
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute_batch("CREATE TEMP TABLE IF NOT EXISTS feedback_ids(id TEXT PRIMARY KEY); DELETE FROM feedback_ids;")
            .map_err(err)?;
        {
            let mut ins = tx
                .prepare("INSERT OR IGNORE INTO feedback_ids(id) VALUES (?1)")
                .map_err(err)?;
            for id in ids {
                ins.execute([id]).map_err(err)?;
            }
        }
        let out = {
            let mut st = tx
                .prepare(
                    "SELECT p.business_date, p.application_id, p.model_version, p.score, p.role FROM predictions p
                     JOIN feedback_ids f ON f.id = p.application_id
                     ORDER BY p.business_date, p.application_id, p.role",
                )
                .map_err(err)?;
            let rows = st.query_map([], stored_score).map_err(err)?;
            rows.collect::<std::result::Result<Vec<_>, _>>()
                .map_err(err)?
        };
        tx.rollback().map_err(err)?;
        Ok(out)
    }

    fn describe(&self) -> String {
        format!("sqlite:{}", self.path)
    }

    fn close(self: Box<Self>) -> Result<()> {
        // PASSIVE: copies what no reader still needs, never waits for other connections.
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(err)?;
        self.conn.close().map_err(|(_, e)| err(e))
    }
}

/// A `business_date, application_id, model_version, score, role` row as a stored score.
fn stored_score(r: &rusqlite::Row) -> rusqlite::Result<super::StoredScore> {
    Ok(super::StoredScore {
        business_date: r.get(0)?,
        application_id: r.get(1)?,
        model_version: r.get(2)?,
        score: r.get(3)?,
        champion: r.get::<_, String>(4)? == "champion",
    })
}

#[cfg(test)]
#[path = "sqlite_tests.rs"]
mod tests;
