//! A scoring run's drift rows in the home database: stored per business date (a rerun
//! replaces them) and read back by `claims drift`, the console and `schedule status`.

use std::path::Path;

use rusqlite::params;

use crate::error::Result;
use crate::monitor::drift::DriftRow;
use crate::registry::db;

/// Replaces `date`'s drift rows in the home database.
pub(super) fn store_drift(
    home: &Path,
    date: &str,
    run_id: &str,
    version: u32,
    rows: &[DriftRow],
) -> Result<()> {
    let mut conn = db::open(&home.join("claims.db"))?;
    let tx = conn.transaction().map_err(db::sql)?;
    tx.execute("DELETE FROM drift WHERE business_date = ?1", [date])
        .map_err(db::sql)?;
    for r in rows {
        tx.execute(
            "INSERT INTO drift(business_date, run_id, model_version, feature, metric, value, threshold, breached, level)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![date, run_id, version, r.feature, r.metric, r.value, r.threshold, r.breached, r.level],
        )
        .map_err(db::sql)?;
    }
    tx.commit().map_err(db::sql)
}

/// The latest business date with drift recorded, if any.
pub fn latest_drift_date(home: &Path) -> Result<Option<String>> {
    let conn = db::open(&home.join("claims.db"))?;
    conn.query_row("SELECT max(business_date) FROM drift", [], |r| r.get(0))
        .map_err(db::sql)
}

/// The stored drift rows of `date` (latest run), alerts first.
pub fn read_drift(home: &Path, date: &str) -> Result<Vec<DriftRow>> {
    let conn = db::open(&home.join("claims.db"))?;
    let mut st = conn
        .prepare(
            "SELECT feature, metric, value, threshold, breached, level FROM drift WHERE business_date = ?1
             ORDER BY CASE level WHEN 'alert' THEN 0 WHEN 'warn' THEN 1 ELSE 2 END, feature, metric",
        )
        .map_err(db::sql)?;
    let rows = st
        .query_map([date], |r| {
            Ok(DriftRow {
                feature: r.get(0)?,
                metric: r.get(1)?,
                value: r.get::<_, Option<f64>>(2)?.unwrap_or(f64::NAN),
                threshold: r.get(3)?,
                breached: r.get(4)?,
                level: r.get(5)?,
            })
        })
        .map_err(db::sql)?;
    rows.collect::<std::result::Result<_, _>>().map_err(db::sql)
}
