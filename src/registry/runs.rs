//! Run records: one row per training or inference run (status, timings, error, summary)
//! and one row per stage with its duration and the row counts in and out.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::db::{now, sql};
use crate::error::Result;

/// A stage as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct StageRecord {
    /// Stage name.
    pub stage: String,
    /// When it started (UTC).
    pub started_at: String,
    /// How long it took.
    pub duration_ms: i64,
    /// Rows going in, where counted.
    pub rows_in: Option<i64>,
    /// Rows coming out, where counted.
    pub rows_out: Option<i64>,
    /// A short note.
    pub note: Option<String>,
}

/// A run as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    /// Run id.
    pub run_id: String,
    /// "train" or "predict".
    pub kind: String,
    /// "running", "succeeded" or "failed".
    pub status: String,
    /// Start (UTC).
    pub started_at: String,
    /// End (UTC), when ended.
    pub finished_at: Option<String>,
    /// The arguments it ran with (JSON).
    pub args: Option<String>,
    /// The error with its causes, when failed.
    pub error: Option<String>,
    /// The result summary (JSON), when succeeded.
    pub summary: Option<String>,
    /// For a scoring run: the later run that scored its date again and replaced its rows
    /// (and quarantine records) in the table.
    pub replaced_by: Option<String>,
    /// The exit code the run ended with (0 succeeded; 2 usage or config, 3 bad input, 4 lock
    /// held, 1 anything else: see the README's exit codes); `None` while running, for a run
    /// killed before it could record one, and for runs recorded before it was kept.
    pub exit_code: Option<i64>,
    /// Stages in order.
    pub stages: Vec<StageRecord>,
}

impl RunRecord {
    /// How long a finished run took, as lists show it ("0.04 s", "3.2 s", "1.5 min"), or
    /// `None` while it runs. Under 0.1 s two decimals, so a short run is not "0.0 s".
    pub fn took(&self) -> Option<String> {
        let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
        let s = (at(self.finished_at.as_deref()?)? - at(&self.started_at)?).num_milliseconds()
            as f64
            / 1000.0;
        Some(if s < 0.1 {
            format!("{s:.2} s")
        } else if s < 60.0 {
            format!("{s:.1} s")
        } else {
            format!("{:.1} min", s / 60.0)
        })
    }

    /// What a list shows for the run: a failed run's date, error and first problem; a
    /// scoring run's date; a training run's files.
    pub fn gist(&self) -> String {
        let args = self.args_json();
        if let Some(e) = &self.error {
            // The problem names one of the run's input files first ("FILE: row 3 ...",
            // "FILE, column 'age': ..."): the run's inputs already name it.
            let files: Vec<&str> = match &args["data"] {
                serde_json::Value::String(f) => vec![f.as_str()],
                serde_json::Value::Array(a) => a.iter().filter_map(|f| f.as_str()).collect(),
                _ => vec![],
            };
            // Escaped here, for the console's list too (the CLI escapes what it prints).
            let gist =
                crate::for_terminal(&error_gist(e, args["date"].as_str(), &files)).into_owned();
            let short: String = gist.chars().take(110).collect();
            return if short.len() < gist.len() {
                format!("{short}...")
            } else {
                short
            };
        }
        match (&args["date"], &args["data"]) {
            (serde_json::Value::String(d), _) => match &self.replaced_by {
                Some(by) => format!("{d} (rows replaced by {by})"),
                None => d.clone(),
            },
            (_, serde_json::Value::Array(files)) => files
                .iter()
                .filter_map(|f| f.as_str())
                .map(|f| {
                    std::path::Path::new(f)
                        .file_name()
                        .map_or(f.into(), |n| n.to_string_lossy().into_owned())
                })
                .collect::<Vec<_>>()
                .join(", "),
            _ => String::new(),
        }
    }

    /// The stage table as text lines: a header, then one line per stage.
    pub fn stage_lines(&self) -> Vec<String> {
        let n = |v: Option<i64>| v.map_or("-".to_string(), |x| x.to_string());
        let mut out = vec![format!(
            "{:<11} {:>8} {:>9} {:>9}  note",
            "stage", "ms", "rows in", "rows out"
        )];
        for s in &self.stages {
            out.push(format!(
                "{:<11} {:>8} {:>9} {:>9}  {}",
                s.stage,
                s.duration_ms,
                n(s.rows_in),
                n(s.rows_out),
                s.note.clone().unwrap_or_default()
            ));
        }
        out
    }

    /// A run's arguments as one line (`args  data /x/day.csv  date 2026-01-01`), or `None`.
    pub fn args_line(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_str(self.args.as_deref()?).ok()?;
        let parts: Vec<String> = v
            .as_object()?
            .iter()
            .filter(|(_, v)| !v.is_null() && v.as_str() != Some(""))
            .map(|(k, v)| match v {
                // The imbalance setting as the CLI writes it (weight:2), not its serde shape.
                _ if k == "imbalance" => format!(
                    "{k} {}",
                    serde_json::from_value::<crate::config::Imbalance>(v.clone())
                        .map_or_else(|_| v.to_string(), |i| i.label())
                ),
                serde_json::Value::String(s) => format!("{k} {s}"),
                serde_json::Value::Array(a) => format!(
                    "{k} {}",
                    a.iter()
                        .map(|x| x.as_str().map_or(x.to_string(), str::to_string))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                v => format!("{k} {v}"),
            })
            .collect();
        Some(format!("args  {}\n", parts.join("  ")))
    }

    /// The arguments as JSON (null when not recorded).
    pub fn args_json(&self) -> serde_json::Value {
        self.args
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default()
    }

    /// The result summary as JSON (null when there is none).
    pub fn summary_json(&self) -> serde_json::Value {
        self.summary
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default()
    }
}

/// A failed run's error on one line, as a list or a status line shows it: the date it was
/// for, the error, and for a contract failure its first problem, first, without the path of
/// one of the run's `files` (which the run names already): "2026-11-25: column 'age':
/// missing column (the first of 2 problem(s))". Five failed runs must not all read "input
/// violates the data contract", and a narrow line cuts the end.
pub fn error_gist(error: &str, date: Option<&str>, files: &[&str]) -> String {
    let mut lines = error.lines();
    let first = lines.next().unwrap_or("");
    let gist = match date {
        Some(d) if !first.contains(d) => format!("{d}: {first}"),
        _ => first.to_string(),
    };
    let Some(n) = first
        .strip_prefix("input violates the data contract (")
        .and_then(|r| r.strip_suffix(')'))
    else {
        return gist;
    };
    let Some(p) = lines.map(str::trim).find(|l| !l.is_empty()) else {
        return gist;
    };
    let p = p.trim_start_matches("- ");
    let p = files
        .iter()
        .find_map(|f| p.strip_prefix(f))
        .map_or(p, |rest| rest.trim_start_matches([',', ':']).trim_start());
    let head = match n {
        "1 problem(s)" => p.to_string(),
        _ => format!("{p} (the first of {n})"),
    };
    match date {
        Some(d) => format!("{d}: {head}"),
        None => head,
    }
}

/// Records that succeeded run `run_id` ended the command with `code` all the same (exit 5:
/// `--fail-on-drift` on a day with drift alerts, its rows written), so a reader of the
/// runs sees the signal the scheduler got.
pub fn set_exit_code(conn: &Connection, run_id: &str, code: i32) -> Result<()> {
    conn.execute(
        "UPDATE runs SET exit_code = ?2 WHERE run_id = ?1",
        params![run_id, code],
    )
    .map_err(sql)?;
    Ok(())
}

/// Marks runs of `kind` still recorded as running as failed, and returns their ids. Call it
/// only while holding `kind`'s run lock: then no such run can still be going, so these are
/// runs whose process ended without recording an outcome (kill -9, power loss).
pub fn close_interrupted(conn: &Connection, kind: &str) -> Result<Vec<String>> {
    let mut st = conn
        .prepare(
            // Its end is the last sign of life the run left (the end of its last recorded
            // stage, or its start), not when the next run found it: a run killed at 19:05
            // and found the next evening did not take a day.
            // A stage it started and never recorded is the one it died in: named, and its
            // start is the last sign of life.
            "UPDATE runs SET status = 'failed',
               finished_at = COALESCE(
                 (SELECT max(e) FROM (
                    SELECT strftime('%Y-%m-%dT%H:%M:%fZ', s.started_at, '+' || (s.duration_ms / 1000.0) || ' seconds') AS e
                      FROM run_stages s WHERE s.run_id = runs.run_id
                    UNION ALL SELECT runs.current_stage_at
                    UNION ALL SELECT runs.alive_at)),
                 started_at),
               error = 'interrupted: the process' || COALESCE(' (pid ' || pid || ')', '') ||
                       ' ended without recording an outcome (killed, or the machine stopped) ' ||
                       CASE WHEN current_stage IS NOT NULL AND NOT EXISTS (SELECT 1 FROM run_stages s
                              WHERE s.run_id = runs.run_id AND s.stage = runs.current_stage)
                            THEN 'during its ' || current_stage || ' stage, started at ' || current_stage_at
                            ELSE 'after ' || COALESCE((SELECT 'its ' || s.stage || ' stage' FROM run_stages s
                                   WHERE s.run_id = runs.run_id ORDER BY s.seq DESC LIMIT 1), 'its start') END ||
                       COALESCE('; last heard from at ' || alive_at, '') ||
                       '; found by the next run at ' || ?2
             WHERE kind = ?1 AND status = 'running' RETURNING run_id",
        )
        .map_err(sql)?;
    let ids = st
        .query_map(params![kind, now()], |r| r.get(0))
        .map_err(sql)?;
    ids.collect::<std::result::Result<_, _>>().map_err(sql)
}

/// Whether `r` says "running" while no process holds its kind's lock: it was killed (kill
/// -9, power loss) and the next run of that kind records it as interrupted.
pub fn looks_dead(home: &std::path::Path, r: &RunRecord) -> bool {
    r.status == "running" && !crate::schedule::lock::RunLock::held(home, &r.kind)
}

/// Records that run `run_id` was alive at `at`. A database busy with another writer is not
/// waited for: the next beat tries again.
pub fn alive(conn: &Connection, run_id: &str, at: &str) -> Result<()> {
    conn.execute(
        "UPDATE runs SET alive_at = ?2 WHERE run_id = ?1 AND status = 'running'",
        params![run_id, at],
    )
    .map_err(sql)?;
    Ok(())
}

/// Records that run `run_id` started stage `stage` at `at`.
pub fn begin_stage(conn: &Connection, run_id: &str, stage: &str, at: &str) -> Result<()> {
    conn.execute(
        "UPDATE runs SET current_stage = ?2, current_stage_at = ?3 WHERE run_id = ?1",
        params![run_id, stage, at],
    )
    .map_err(sql)?;
    Ok(())
}

/// Records the start of a new run of `kind` under a fresh id ([`crate::pipeline::new_run_id`]),
/// and returns the id. Ids are the second and 4 random hex digits: runs started within the
/// same second (a fast backfill, the scheduler's catch-up) can draw the same one, so a
/// taken id is drawn again rather than failing the run.
pub fn start_new(conn: &Connection, kind: &str, args: &str) -> Result<String> {
    let mut tries = 0;
    loop {
        let run_id = crate::pipeline::new_run_id(kind);
        let added = conn
            .execute(
                "INSERT INTO runs(run_id, kind, status, started_at, args, pid) VALUES (?1, ?2, 'running', ?3, ?4, ?5) ON CONFLICT(run_id) DO NOTHING",
                params![run_id, kind, now(), args, std::process::id()],
            )
            .map_err(sql)?;
        tries += 1;
        if added == 1 || tries == 64 {
            // 64 draws all taken cannot happen by chance: the insert of the last one
            // reports whatever is wrong.
            if added == 0 {
                start(conn, &run_id, kind, args)?;
            }
            return Ok(run_id);
        }
    }
}

/// Records the start of a run under `run_id`.
pub fn start(conn: &Connection, run_id: &str, kind: &str, args: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO runs(run_id, kind, status, started_at, args, pid) VALUES (?1, ?2, 'running', ?3, ?4, ?5)",
        params![run_id, kind, now(), args, std::process::id()],
    )
    .map_err(sql)?;
    Ok(())
}

/// Records a finished stage.
pub fn stage(conn: &Connection, run_id: &str, s: &StageRecord) -> Result<()> {
    conn.execute(
        "INSERT INTO run_stages(run_id, seq, stage, started_at, duration_ms, rows_in, rows_out, note)
         VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM run_stages WHERE run_id = ?1), ?2, ?3, ?4, ?5, ?6, ?7)",
        params![run_id, s.stage, s.started_at, s.duration_ms, s.rows_in, s.rows_out, s.note],
    )
    .map_err(sql)?;
    Ok(())
}

/// Records the end of a run: `Ok(summary)` (exit code 0) or `Err((error text, exit code))`.
pub fn finish(
    conn: &Connection,
    run_id: &str,
    outcome: std::result::Result<&str, (&str, i32)>,
) -> Result<()> {
    let (status, summary, error, code) = match outcome {
        Ok(s) => ("succeeded", Some(s), None, 0),
        Err((e, code)) => ("failed", None, Some(e), code),
    };
    conn.execute(
        "UPDATE runs SET status = ?2, finished_at = ?3, summary = ?4, error = ?5, exit_code = ?6 WHERE run_id = ?1",
        params![run_id, status, now(), summary, error, code],
    )
    .map_err(sql)?;
    Ok(())
}

fn stages(conn: &Connection, run_id: &str) -> Result<Vec<StageRecord>> {
    let mut st = conn
        .prepare("SELECT stage, started_at, duration_ms, rows_in, rows_out, note FROM run_stages WHERE run_id = ?1 ORDER BY seq")
        .map_err(sql)?;
    let rows = st
        .query_map([run_id], |r| {
            Ok(StageRecord {
                stage: r.get(0)?,
                started_at: r.get(1)?,
                duration_ms: r.get(2)?,
                rows_in: r.get(3)?,
                rows_out: r.get(4)?,
                note: r.get(5)?,
            })
        })
        .map_err(sql)?;
    rows.collect::<std::result::Result<_, _>>().map_err(sql)
}

/// The columns [`row`] reads. `replaced_by` and `exit_code` came later: a database opened
/// read-only that has not had them added reads NULL.
fn cols(conn: &Connection) -> String {
    let has = |column: &str| {
        conn.query_row(
            "SELECT count(*) FROM pragma_table_info('runs') WHERE name = ?1",
            [column],
            |r| r.get::<_, i64>(0),
        )
        .unwrap_or(0)
            > 0
    };
    let or_null = |c: &'static str| if has(c) { c } else { "NULL" };
    format!(
        "run_id, kind, status, started_at, finished_at, args, error, summary, {}, {}",
        or_null("replaced_by"),
        or_null("exit_code")
    )
}

/// Records that scoring run `by` replaced the rows of run `replaced` (a date scored again).
pub fn mark_replaced(conn: &Connection, replaced: &str, by: &str) -> Result<()> {
    conn.execute(
        "UPDATE runs SET replaced_by = ?2 WHERE run_id = ?1",
        params![replaced, by],
    )
    .map_err(sql)?;
    Ok(())
}

fn row(r: &rusqlite::Row) -> rusqlite::Result<RunRecord> {
    Ok(RunRecord {
        run_id: r.get(0)?,
        kind: r.get(1)?,
        status: r.get(2)?,
        started_at: r.get(3)?,
        finished_at: r.get(4)?,
        args: r.get(5)?,
        error: r.get(6)?,
        summary: r.get(7)?,
        replaced_by: r.get(8)?,
        exit_code: r.get(9)?,
        stages: vec![],
    })
}

/// One run with its stages.
pub fn get(conn: &Connection, run_id: &str) -> Result<Option<RunRecord>> {
    let rec = conn
        .query_row(
            &format!("SELECT {} FROM runs WHERE run_id = ?1", cols(conn)),
            [run_id],
            row,
        )
        .optional()
        .map_err(sql)?;
    match rec {
        Some(mut r) => {
            r.stages = stages(conn, run_id)?;
            Ok(Some(r))
        }
        None => Ok(None),
    }
}

/// The latest `limit` runs, newest first (without stages).
pub fn list(conn: &Connection, limit: usize) -> Result<Vec<RunRecord>> {
    let mut st = conn
        .prepare(&format!(
            "SELECT {} FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?1",
            cols(conn)
        ))
        .map_err(sql)?;
    let rows = st.query_map([limit as i64], row).map_err(sql)?;
    rows.collect::<std::result::Result<_, _>>().map_err(sql)
}

/// The newest run of `kind` (without stages), however it was started.
pub fn last_of_kind(conn: &Connection, kind: &str) -> Result<Option<RunRecord>> {
    conn.query_row(
        &format!(
            "SELECT {} FROM runs WHERE kind = ?1 ORDER BY started_at DESC, rowid DESC LIMIT 1",
            cols(conn)
        ),
        [kind],
        row,
    )
    .optional()
    .map_err(sql)
}

/// The newest run of `kind` for business date `date` (without stages).
pub fn last_for_date(conn: &Connection, kind: &str, date: &str) -> Result<Option<RunRecord>> {
    conn.query_row(
        &format!(
            "SELECT {} FROM runs WHERE kind = ?1 AND json_extract(args, '$.date') = ?2
             ORDER BY started_at DESC, rowid DESC LIMIT 1",
            cols(conn)
        ),
        [kind, date],
        row,
    )
    .optional()
    .map_err(sql)
}

#[cfg(test)]
#[path = "runs_tests.rs"]
mod tests;
