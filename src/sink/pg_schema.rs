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

/// The columns `claims` writes and reads, per table, with their types as
/// `format_type` names them (an older or hand-made table must have them).
const COLUMNS: [(&str, &[(&str, &str)]); 2] = [
    (
        "predictions",
        &[
            ("business_date", "date"),
            ("application_id", "text"),
            ("model_version", "bigint"),
            ("role", "text"),
            ("score", "double precision"),
            ("predicted_claim", "boolean"),
            ("threshold", "double precision"),
            ("top_reasons", "json"),
            ("run_id", "text"),
            ("scored_at", "timestamp with time zone"),
        ],
    ),
    (
        "quarantine",
        &[
            ("business_date", "date"),
            ("source_file", "text"),
            ("row_number", "bigint"),
            ("application_id", "text"),
            ("reason", "text"),
            ("raw", "text"),
            ("run_id", "text"),
        ],
    ),
];

/// The longest text `claims` writes to a column, where it has a bound (run ids are about 30
/// characters): a `varchar(n)` at least that long takes every value. Other text columns
/// (paths, reasons, raw rows, reasons' JSON) have no bound; application ids take the
/// column's own (see [`varchar_bound`]).
fn longest_text(column: &str) -> Option<usize> {
    match column {
        "application_id" => Some(1),
        "role" => Some("challenger".len()),
        "run_id" => Some(64),
        _ => None,
    }
}

/// The n of a `character varying(n)` type.
fn varchar_bound(have: &str) -> Option<usize> {
    have.strip_prefix("character varying(")?
        .strip_suffix(')')?
        .parse()
        .ok()
}

/// Whether a column `column` of type `have` holds what `claims` writes as `want` and reads
/// back as the same Rust type (a `varchar` reads as text, `jsonb` is read through
/// `::text`). A `varchar(n)` fits only where every value `claims` writes is at most n
/// characters: a shorter one fails the day's write after scoring.
fn type_fits(column: &str, want: &str, have: &str) -> bool {
    let varchar_fits = || {
        have == "character varying"
            || matches!((varchar_bound(have), longest_text(column)), (Some(n), Some(most)) if n >= most)
    };
    have == want || (want == "text" && varchar_fits()) || (want == "json" && have == "jsonb")
}

/// Creates the tables when missing if `create` (one process at a time: two first runs
/// would race in PostgreSQL's catalog), and checks that existing ones have every column
/// `claims` uses, of a type it can use, and no NOT NULL column it does not fill. A role
/// that may only write rows needs no CREATE right once the tables exist. Returns the
/// bound of the application_id columns, when they are `varchar(n)`.
pub(super) fn ensure_tables(
    client: &mut Client,
    described: &str,
    create: bool,
) -> Result<Option<usize>> {
    let mut id_chars: Option<usize> = None;
    // A search_path naming no schema that exists (a typo in the URL's options): said as
    // such, not as missing tables or a missing CREATE right (exit 2, not retried).
    let row = client
        .query_one(
            "SELECT current_schema() IS NULL, current_setting('search_path')",
            &[],
        )
        .map_err(|e| err("look up the schema", e))?;
    if row.get::<_, bool>(0) {
        return Err(ClaimsError::Usage(format!(
            "postgres sink {described}: no schema of search_path '{}' exists in the database (create it, or correct the URL's `options=-c search_path=...` or the role's search_path)",
            row.get::<_, String>(1)
        )));
    }
    let row = client
        .query_one(
            "SELECT to_regclass('predictions') IS NULL, to_regclass('quarantine') IS NULL",
            &[],
        )
        .map_err(|e| err("look up tables", e))?;
    let absent: Vec<&str> = [("predictions", row.get(0)), ("quarantine", row.get(1))]
        .into_iter()
        .filter(|&(_, gone)| gone)
        .map(|(t, _)| t)
        .collect();
    let mut problems = vec![];
    // Existing tables first: a sink whose tables are refused gets no new table.
    for (table, wanted) in COLUMNS.iter().filter(|(t, _)| !absent.contains(t)) {
        let have: Vec<(String, String, bool)> = client
            .query(
                "SELECT attname::text, format_type(atttypid, atttypmod), attnotnull AND NOT atthasdef \
                 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped",
                &[&table],
            )
            .map_err(|e| err("read columns", e))?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        let missing: Vec<&str> = wanted
            .iter()
            .filter(|(c, _)| !have.iter().any(|(h, _, _)| h == c))
            .map(|(c, _)| *c)
            .collect();
        if !missing.is_empty() {
            problems.push(format!(
                "table '{table}' has no column {}",
                missing.join(", ")
            ));
        }
        for (name, ty, required) in &have {
            if name == "application_id"
                && let Some(n) = varchar_bound(ty)
            {
                id_chars = Some(id_chars.map_or(n, |m| m.min(n)));
            }
            match wanted.iter().find(|(c, _)| c == name) {
                // A reader (`feedback`, the console) reads any varchar as text.
                Some((_, want))
                    if !type_fits(name, want, ty)
                        && (create || !ty.starts_with("character varying")) =>
                {
                    problems.push(match longest_text(name) {
                        _ if !ty.starts_with("character varying(") => {
                            format!("column {table}.{name} is {ty}, expected {want}")
                        }
                        Some(most) => format!(
                            "column {table}.{name} is {ty}, shorter than what claims writes there (up to {most} characters): expected text, or varchar({most}) or longer"
                        ),
                        None => format!(
                            "column {table}.{name} is {ty}, but claims writes text of any length there: expected text, or varchar without a length"
                        ),
                    })
                }
                None if *required => problems.push(format!(
                    "column {table}.{name} is NOT NULL without a default, and claims does not write it"
                )),
                _ => {}
            }
        }
    }
    if !problems.is_empty() {
        return Err(ClaimsError::Usage(format!(
            "postgres sink {described}: {}: the tables were made by an older version or by hand (alter them, or point the sink at another schema)",
            problems.join("; ")
        )));
    }
    if !absent.is_empty() {
        if !create {
            return Err(ClaimsError::Usage(format!(
                "postgres sink {described}: no {} table yet (the first `claims predict` into this sink creates what is missing)",
                absent.join(" or ")
            )));
        }
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
    Ok(id_chars)
}
