//! The PostgreSQL sink's tables: created when missing (under a lock), and checked for the
//! columns `claims` writes when they exist.

use postgres::Client;

use super::postgres::{LOCK_CLASS, LOCK_SCHEMA, err, setup_err};
use crate::error::{ClaimsError, Result};

const DDL: &str = "
CREATE TABLE IF NOT EXISTS predictions(
  business_date DATE NOT NULL, application_id TEXT NOT NULL, model_version BIGINT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('champion', 'challenger')), score DOUBLE PRECISION NOT NULL,
  predicted_claim BOOLEAN NOT NULL, threshold DOUBLE PRECISION NOT NULL, top_reasons JSON NOT NULL,
  run_id TEXT NOT NULL, scored_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (business_date, application_id, role));
CREATE TABLE IF NOT EXISTS quarantine(
  business_date DATE NOT NULL, source_file TEXT NOT NULL, row_number BIGINT NOT NULL,
  application_id TEXT, reason TEXT NOT NULL, raw TEXT NOT NULL, run_id TEXT NOT NULL,
  PRIMARY KEY (business_date, source_file, row_number));
";

/// The columns `claims` writes, per table (an older or hand-made table must have them).
const COLUMNS: [(&str, &[&str]); 2] = [
    (
        "predictions",
        &[
            "business_date",
            "application_id",
            "model_version",
            "role",
            "score",
            "predicted_claim",
            "threshold",
            "top_reasons",
            "run_id",
            "scored_at",
        ],
    ),
    (
        "quarantine",
        &[
            "business_date",
            "source_file",
            "row_number",
            "application_id",
            "reason",
            "raw",
            "run_id",
        ],
    ),
];

/// Creates the tables when missing (one process at a time: two first runs would race in
/// PostgreSQL's catalog), and checks that existing ones have every column written. A role
/// that may only write rows needs no CREATE right once the tables exist.
pub(super) fn ensure_tables(client: &mut Client, described: &str) -> Result<()> {
    let present = |client: &mut Client| -> Result<bool> {
        let row = client
            .query_one(
                "SELECT to_regclass('predictions') IS NOT NULL AND to_regclass('quarantine') IS NOT NULL",
                &[],
            )
            .map_err(|e| err("look up tables", e))?;
        Ok(row.get(0))
    };
    if !present(client)? {
        let mut tx = client.transaction().map_err(|e| err("begin", e))?;
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, $2)",
            &[&LOCK_CLASS, &LOCK_SCHEMA],
        )
        .map_err(|e| err("lock", e))?;
        tx.batch_execute(DDL)
            .map_err(|e| setup_err("create tables (the role needs CREATE on the schema, or an owner creates them first)", e))?;
        tx.commit().map_err(|e| err("create tables", e))?;
    }
    for (table, wanted) in COLUMNS {
        let have: Vec<String> = client
            .query(
                "SELECT attname::text FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped",
                &[&table],
            )
            .map_err(|e| err("read columns", e))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let missing: Vec<&str> = wanted
            .iter()
            .copied()
            .filter(|c| !have.iter().any(|h| h == c))
            .collect();
        if !missing.is_empty() {
            return Err(ClaimsError::Usage(format!(
                "postgres sink {described}: table '{table}' has no column {}: it was made by an older version or by hand (add the columns, or point the sink at another schema)",
                missing.join(", ")
            )));
        }
    }
    Ok(())
}
