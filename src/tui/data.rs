//! What the console shows, read from the same SQLite database, registry and log file as
//! the CLI. The console polls (every second) rather than watching files, so a run started
//! by the scheduler in another process shows up within a second.

use std::path::Path;

use serde::Deserialize;

use crate::error::Result;
use crate::eval::Evaluation;
use crate::monitor::drift::DriftRow;
use crate::registry::runs::{self, RunRecord};
use crate::registry::{ModelRow, Registry, db};
use crate::sink::PredictionRow;

/// One model version's evaluation, with the test-split scores for the live threshold.
#[derive(Debug, Clone)]
pub struct ModelView {
    /// Version.
    pub version: u32,
    /// Test-split metrics at registration.
    pub test: Evaluation,
    /// Test labels and scores (empty for models registered before they were stored).
    pub y: Vec<u8>,
    /// Test scores.
    pub p: Vec<f64>,
    /// Top features by gain.
    pub importance: Vec<(String, f32)>,
}

#[derive(Deserialize)]
struct Scores {
    y: Vec<u8>,
    p: Vec<f64>,
}

/// Reads runs, newest first.
pub fn load_runs(home: &Path, limit: usize) -> Result<Vec<RunRecord>> {
    let conn = db::open(&home.join("claims.db"))?;
    Ok(runs::list(&conn, limit)?
        .into_iter()
        .map(|r| mark_dead(home, r))
        .collect())
}

/// One run with its stages.
pub fn load_run(home: &Path, run_id: &str) -> Result<Option<RunRecord>> {
    let conn = db::open(&home.join("claims.db"))?;
    Ok(runs::get(&conn, run_id)?.map(|r| mark_dead(home, r)))
}

/// A "running" run whose process is gone shows as `died?`, as in `claims runs`.
fn mark_dead(home: &Path, mut r: RunRecord) -> RunRecord {
    if runs::looks_dead(home, &r) {
        r.status = "died?".into();
        r.error = Some(format!(
            "no process holds the {} lock: killed? the next {} run records it as interrupted",
            r.kind, r.kind
        ));
    }
    r
}

/// Model versions, newest first.
pub fn load_models(home: &Path) -> Result<Vec<ModelRow>> {
    Registry::open(home)?.list()
}

/// The champion's moves and where a rollback would take it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Champions {
    /// Every promotion and rollback, oldest first.
    pub history: Vec<crate::registry::ChampionMove>,
    /// The version `b` rolls back to (`None`: no earlier champion).
    pub rollback_to: Option<u32>,
}

pub fn load_champions(home: &Path) -> Result<Champions> {
    let reg = Registry::open(home)?;
    Ok(Champions {
        history: reg.champion_history()?,
        rollback_to: crate::pipeline::compare::rollback_target(&reg.conn)
            .ok()
            .map(|(_, to)| to),
    })
}

/// The evaluation view of a version (verified artifacts).
pub fn load_model_view(home: &Path, v: u32) -> Result<ModelView> {
    let reg = Registry::open(home)?;
    let m = reg.manifest(v)?;
    let metrics: serde_json::Value =
        serde_json::from_slice(&reg.artifact(v, &m, "metrics.json")?)
            .map_err(|e| crate::error::ClaimsError::Registry(format!("v{v} metrics.json: {e}")))?;
    let test: Evaluation = serde_json::from_value(metrics["test"].clone())
        .map_err(|e| crate::error::ClaimsError::Registry(format!("v{v} metrics.json: {e}")))?;
    let importance =
        serde_json::from_value(metrics["feature_importance_gain"].clone()).unwrap_or_default();
    let scores: Option<Scores> = reg
        .artifact(v, &m, "test_scores.json")
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let (y, p) = scores.map_or((vec![], vec![]), |s| (s.y, s.p));
    Ok(ModelView {
        version: v,
        test,
        y,
        p,
        importance,
    })
}

/// The latest business date with predictions, if any.
pub fn latest_date(home: &Path) -> Option<String> {
    let conn = db::open(&home.join("claims.db")).ok()?;
    conn.query_row("SELECT MAX(business_date) FROM predictions", [], |r| {
        r.get::<_, Option<String>>(0)
    })
    .ok()
    .flatten()
}

/// How many of a date's predictions the console loads (highest scores first).
pub const MAX_ROWS: usize = 2000;

/// Where the console reads the days' predictions: the configured sink
/// (`inference.sink`, else the home's SQLite table). A PostgreSQL connection is kept
/// between polls (and made again after an error); SQLite is opened for each read, so a
/// home opened read-only shows what was committed since.
pub struct DaySource {
    url: String,
    /// For a sink on a server: the worker that talks to it (see [`super::remote`]).
    remote: Option<super::remote::RemoteSink>,
}

impl DaySource {
    /// The source for sink `url` ("" = the home's database).
    pub fn new(url: &str) -> Self {
        DaySource {
            url: url.to_string(),
            remote: None,
        }
    }

    /// Runs `f` on the sink. The home's SQLite is opened for each request (it answers
    /// locally); a server's sink goes through a worker thread, so a silent server cannot
    /// freeze the screen. `key` names the request (see [`super::remote::RemoteSink::ask`]).
    fn with<T: Send + 'static>(
        &mut self,
        home: &Path,
        key: String,
        f: impl FnOnce(&mut dyn crate::sink::Sink) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        if !self.url.starts_with("postgres") {
            // The home's own table may be made (a new home has none yet); a configured
            // file is only read: a mistyped path is said, not made into a new database.
            let mut sink = if self.url.is_empty() {
                crate::sink::open(&self.url, home)?
            } else {
                crate::sink::open_to_read(&self.url, home)?
            };
            return f(sink.as_mut());
        }
        self.remote
            .get_or_insert_with(|| super::remote::RemoteSink::new(&self.url, home))
            .ask(key, f)
    }

    /// The dates with predictions, oldest first.
    pub fn dates(&mut self, home: &Path) -> Result<Vec<String>> {
        self.with(home, "dates".into(), |s| s.dates())
    }

    /// A date's champion predictions, highest score first (at most [`MAX_ROWS`]), and the
    /// date's total count.
    pub fn load(&mut self, home: &Path, date: &str) -> Result<(Vec<PredictionRow>, usize)> {
        let d = date.to_string();
        self.with(home, format!("load {date}"), move |s| {
            s.champion_rows(&d, MAX_ROWS, None)
        })
    }

    /// A date's champion predictions whose id contains `text` (any case), highest score
    /// first (at most [`MAX_ROWS`]): the search behind a confirmed filter on a day larger
    /// than the rows loaded.
    pub fn find(&mut self, home: &Path, date: &str, text: &str) -> Result<Vec<PredictionRow>> {
        let (d, t) = (date.to_string(), text.to_string());
        self.with(home, format!("find {date} {text}"), move |s| {
            s.champion_rows(&d, MAX_ROWS, Some(&t))
                .map(|(rows, _)| rows)
        })
    }

    /// The dates whose champion scored exactly application `id`, newest first (one key
    /// lookup per date, as `claims explain` does; at most 5), then those where it was
    /// quarantined instead (one query by id), each with `true`.
    pub fn dates_of_id(&mut self, home: &Path, id: &str) -> Result<Vec<(String, bool)>> {
        let id = id.to_string();
        self.with(home, format!("dates of {id}"), move |s| {
            let mut out = vec![];
            for d in s.dates()?.into_iter().rev() {
                if s.champion_row(&d, &id)?.is_some() {
                    out.push((d, false));
                    if out.len() == 5 {
                        break;
                    }
                }
            }
            let mut held: Vec<String> = s
                .quarantine_of(&id)?
                .into_iter()
                .map(|q| q.business_date)
                .collect();
            held.dedup();
            out.extend(held.into_iter().take(5).map(|d| (d, true)));
            Ok(out)
        })
    }

    /// What identifies a date's scoring: the run that wrote its rows (one row read, by
    /// key: this is asked every second). It changes when the date is scored again.
    pub fn stamp(&mut self, home: &Path, date: &str) -> Result<String> {
        let d = date.to_string();
        self.with(home, format!("stamp {date}"), move |s| {
            Ok(s.day_writer(&d)?.unwrap_or_default())
        })
    }

    /// A date's quarantined rows (row number, id, reasons), in file order.
    pub fn quarantine(&mut self, home: &Path, date: &str) -> Result<Vec<(i64, String, String)>> {
        let d = date.to_string();
        self.with(home, format!("quarantine {date}"), move |s| {
            Ok(s.read_quarantine(&d)?
                .into_iter()
                .map(|q| (q.row_number, q.application_id.unwrap_or_default(), q.reason))
                .collect())
        })
    }
}

/// A date's drift rows (PSI only), alerts first.
pub fn load_drift(home: &Path, date: &str) -> Vec<DriftRow> {
    crate::pipeline::infer::read_drift(home, date)
        .map(|rows| rows.into_iter().filter(|r| r.metric == "psi").collect())
        .unwrap_or_default()
}

/// One parsed log line.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// Timestamp.
    pub time: String,
    /// Level (INFO, WARN, ...).
    pub level: String,
    /// Run id, when the line belongs to a run.
    pub run_id: String,
    /// Stage, when the line belongs to one.
    pub stage: String,
    /// The message and other fields.
    pub message: String,
}

/// How much of the end of the log the console reads (the log grows without bound).
const LOG_TAIL_BYTES: u64 = 4 << 20;

/// The last `max` lines of `HOME/logs/claims.log` (among its last [`LOG_TAIL_BYTES`]).
pub fn load_logs(home: &Path, max: usize) -> Vec<LogLine> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(home.join("logs").join("claims.log")) else {
        return vec![];
    };
    let len = f.metadata().map_or(0, |m| m.len());
    let from = len.saturating_sub(LOG_TAIL_BYTES);
    let mut bytes = vec![];
    if f.seek(SeekFrom::Start(from)).is_err() || f.read_to_end(&mut bytes).is_err() {
        return vec![];
    }
    // Started mid-file: the first line is a fragment.
    let start = if from > 0 {
        memchr::memchr(b'\n', &bytes).map_or(bytes.len(), |i| i + 1)
    } else {
        0
    };
    let text = String::from_utf8_lossy(&bytes[start..]);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(max)..]
        .iter()
        .map(|l| match serde_json::from_str::<serde_json::Value>(l) {
            Ok(v) => {
                let f = &v["fields"];
                let span = &v["span"];
                let mut message = f["message"].as_str().unwrap_or("").to_string();
                if let Some(obj) = f.as_object() {
                    for (k, val) in obj.iter().filter(|(k, _)| k.as_str() != "message") {
                        message.push_str(&format!(
                            " {k}={}",
                            val.as_str().map_or(val.to_string(), str::to_string)
                        ));
                    }
                }
                let pick = |k: &str| f[k].as_str().or(span[k].as_str()).unwrap_or("").to_string();
                LogLine {
                    time: v["timestamp"]
                        .as_str()
                        .unwrap_or("")
                        .chars()
                        .take(19)
                        .collect(),
                    level: v["level"].as_str().unwrap_or("").to_string(),
                    run_id: pick("run_id"),
                    stage: pick("stage"),
                    message,
                }
            }
            Err(_) => LogLine {
                time: String::new(),
                level: String::new(),
                run_id: String::new(),
                stage: String::new(),
                message: l.to_string(),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_lists_each_scored_date_once_oldest_first() {
        let home = tempfile::tempdir().unwrap();
        crate::sink::sqlite::SqliteSink::open(&home.path().join("claims.db")).unwrap();
        let mut days = DaySource::new("");
        assert!(days.dates(home.path()).unwrap().is_empty());
        let conn = db::open(&home.path().join("claims.db")).unwrap();
        for (date, id, role) in [
            ("2026-01-03", "a", "champion"),
            ("2026-01-01", "b", "champion"),
            ("2026-01-03", "c", "champion"),
            ("2026-01-03", "c", "challenger"),
            ("2026-01-02", "d", "challenger"),
        ] {
            conn.execute(
                "INSERT INTO predictions VALUES (?1, ?2, 1, ?3, 0.5, 0, 0.5, '[]', 'r', 't')",
                [date, id, role],
            )
            .unwrap();
        }
        assert_eq!(
            days.dates(home.path()).unwrap(),
            vec!["2026-01-01", "2026-01-02", "2026-01-03"]
        );
    }

    #[test]
    fn logs_are_read_from_the_tail_of_a_large_file() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join("logs")).unwrap();
        let line = |i: usize| {
            format!(
                "{{\"timestamp\":\"2026-01-01T00:00:00Z\",\"level\":\"INFO\",\"fields\":{{\"message\":\"line {i} {}\"}}}}\n",
                "x".repeat(200)
            )
        };
        // ~5.5 MB: more than the tail read.
        let text: String = (0..25_000).map(line).collect();
        std::fs::write(home.path().join("logs/claims.log"), text).unwrap();
        let got = load_logs(home.path(), 3);
        let last: Vec<&str> = got
            .iter()
            .map(|l| l.message.split(' ').nth(1).unwrap_or(""))
            .collect();
        assert_eq!(last, vec!["24997", "24998", "24999"]);
        assert!(load_logs(home.path(), 100_000).len() < 25_000);
    }
}
