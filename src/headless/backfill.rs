//! Backfill: scoring a range of business dates from a file pattern, resumable.

use std::path::Path;

use chrono::NaiveDate;
use serde_json::json;

use super::Output;
use super::ops::hook;
use crate::config::Config;
use crate::error::{ClaimsError, Result};
use crate::pipeline::infer::{PredictRequest, parse_date_of, predict};
use crate::registry::db;
use crate::schedule::units;

/// Whether a backfill can skip `date`: the table holds its rows and the run that wrote
/// them finished. Rows of a run that was killed after its commit (no drift recorded, the
/// run "running" or closed as interrupted) are scored again from the same file, as a plain
/// rerun would; rows of a run this home does not know (a shared sink) count as done.
/// `runs` is the home's database, opened once for the whole range.
fn day_done(
    target: &mut dyn crate::sink::Sink,
    runs: &rusqlite::Connection,
    date: &str,
) -> Result<bool> {
    Ok(done_by(target, runs, date)?.is_some())
}

/// What a run read: the SHA-256 of its input, and when it started.
type ReadBy = (String, String);

/// The run that wrote `date`'s rows, when [`day_done`] holds: its id, and when this home
/// recorded it, the SHA-256 of the file it scored and when it started.
fn done_by(
    target: &mut dyn crate::sink::Sink,
    runs: &rusqlite::Connection,
    date: &str,
) -> Result<Option<(String, Option<ReadBy>)>> {
    let Some(run_id) = target.day_writer(date)? else {
        return Ok(None);
    };
    let run = crate::registry::runs::get(runs, &run_id)?;
    if run.as_ref().is_some_and(|r| r.status != "succeeded") {
        return Ok(None);
    }
    let read = run.and_then(|r| {
        let sha = r.summary_json()["input_sha256"].as_str()?.to_string();
        Some((sha, r.started_at))
    });
    Ok(Some((run_id, read)))
}

/// Whether the file at `input` now holds other contents than a run that started at
/// `started` scored (SHA-256 `sha`). A file not modified since that run started is the one
/// it read, and is not hashed again (a resumed backfill of a year of large files would read
/// them all). `Err` says why it could not be read.
fn changed_since(input: &Path, sha: &str, started: &str) -> std::result::Result<bool, String> {
    let modified = std::fs::metadata(input)
        .and_then(|m| m.modified())
        .map_err(|e| e.to_string())?;
    let modified = chrono::DateTime::<chrono::Utc>::from(modified)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    if modified.as_str() < started {
        return Ok(false);
    }
    crate::registry::sha256_file(input)
        .map(|h| h != sha)
        .map_err(|e| e.to_string())
}

/// What a backfill does besides scoring.
pub struct BackfillOptions {
    /// Score dates the target table already has.
    pub force: bool,
    /// Exit 5 when a scored date raised a drift alert (and nothing failed).
    pub fail_on_drift: bool,
}

/// A backfill refuses a range where more than this many dates, and most of them, have no
/// input (a mistyped year or pattern), instead of recording a failed run for each.
const MOSTLY_MISSING_MIN: usize = 31;

/// Scores every date from `from` to `to` (inclusive) whose input exists, skipping dates
/// already done unless `force`; a failed date does not stop the others. Rerunning resumes.
/// A date with drift alerts runs the alert hook, as a single `predict` does.
pub fn backfill(
    cfg: &Config,
    home: &Path,
    from: &str,
    to: &str,
    pattern: &str,
    sink: Option<String>,
    opts: BackfillOptions,
) -> Result<Output> {
    let force = opts.force;
    let (a, b): (NaiveDate, NaiveDate) = (
        parse_date_of("--from", from)?.parse().unwrap_or_default(),
        parse_date_of("--to", to)?.parse().unwrap_or_default(),
    );
    if b < a {
        return Err(ClaimsError::Usage(format!(
            "--from '{from}' is after --to '{to}'"
        )));
    }
    if !pattern.contains("{date}") {
        return Err(ClaimsError::Usage(format!(
            "--input-pattern '{pattern}' must contain {{date}}"
        )));
    }
    if (b - a).num_days() > 3660 {
        return Err(ClaimsError::Usage(
            "a backfill covers at most 10 years".into(),
        ));
    }
    // "Done" means the target table has the date's rows (a date deleted there, or a new
    // sink, is scored again).
    let url = sink.clone().unwrap_or_else(|| cfg.inference.sink.clone());
    let mut opened = None;
    // Which run wrote a date, for every date of the range: the home's database, once.
    let runs_db = db::open(&home.join("claims.db"))?;
    // A mistyped year or pattern would otherwise record a failed run for every date of the
    // range (missing inputs are recorded, as for a single predict): when most of a long
    // range has no input, nothing is started. Gaps (weekends, holidays) stay below this, and
    // so do dates already done whose files were since archived (a resumed backfill).
    let dates: Vec<NaiveDate> = a.iter_days().take_while(|d| *d <= b).collect();
    let mut absent: Vec<&NaiveDate> = dates
        .iter()
        .filter(|d| !Path::new(&pattern.replace("{date}", &d.to_string())).is_file())
        .collect();
    let mostly_absent = |n: usize| n > MOSTLY_MISSING_MIN && 2 * n > dates.len();
    // (A sink file not made yet has no date done, and is not made for a refusal.)
    if mostly_absent(absent.len()) && !force && !crate::sink::sqlite::NewFile::of(&url).is_new() {
        let target = opened.insert(crate::sink::open(&url, home)?);
        let mut not_done = Vec::with_capacity(absent.len());
        for d in absent {
            if !day_done(target.as_mut(), &runs_db, &d.to_string())? {
                not_done.push(d);
            }
        }
        absent = not_done;
    }
    if mostly_absent(absent.len()) {
        return Err(ClaimsError::Usage(format!(
            "{} of the {} dates from {from} to {to} have no input file matching --input-pattern '{pattern}' (the first: {}): check the range and the pattern; nothing was scored or recorded",
            absent.len(),
            dates.len(),
            crate::pipeline::absolute(Path::new(
                &pattern.replace("{date}", &absent[0].to_string())
            ))
            .display()
        )));
    }
    // Opened when a date is checked and the sink exists: a SQLite file that no date
    // has made yet has no date done, and is not made here (a range whose dates all fail
    // leaves no empty database behind, as a single predict does not).
    let mut target = opened;
    let mut results = vec![];
    let mut worst: Option<ClaimsError> = None;
    let mut worst_run: Option<String> = None;
    let mut stopped_before: Option<String> = None;
    let mut drifted: Vec<String> = vec![];
    let mut d = a;
    while d <= b {
        let ds = d.to_string();
        if super::signals::stop_requested() {
            crate::say!("  {ds}..{to}: not started (stop requested)");
            stopped_before = Some(ds.clone());
            break;
        }
        let input = pattern.replace("{date}", &ds);
        if !force && target.is_none() && !crate::sink::sqlite::NewFile::of(&url).is_new() {
            target = Some(crate::sink::open(&url, home)?);
        }
        let done = match target.as_mut().filter(|_| !force) {
            None => None,
            Some(t) => match done_by(t.as_mut(), &runs_db, &ds) {
                Ok(done) => done,
                // A server's connection may have dropped since the last date (a restart, a
                // failover, an idle timeout): connect again once before giving up.
                Err(e) if url.starts_with("postgres") => {
                    tracing::warn!("{ds}: the sink did not answer ({e}); connecting again");
                    let t = target.insert(crate::sink::open(&url, home)?);
                    done_by(t.as_mut(), &runs_db, &ds)?
                }
                Err(e) => return Err(e),
            },
        };
        // A date's warnings (its file's contents scored for another date too, a date after
        // today): the mistakes of a backfill with a wrong file, so they are printed, listed
        // at the end and carried in --json.
        let mut warnings: Vec<String> = vec![];
        // A date done from other contents than its file's now (a corrected file delivered
        // again) is not skipped quietly, nor rescored without --force: it is "changed",
        // with the command that rescores it (no run recorded, no hook: a rerun of the
        // backfill would otherwise record and page it again each time).
        let present = Path::new(&input).is_file();
        let changed = match &done {
            Some((run, Some((sha, started)))) if present => {
                changed_since(Path::new(&input), sha, started).unwrap_or_else(|e| {
                    warnings.push(format!(
                        "could not read {input} to compare it with the file run {run} scored: {e}"
                    ));
                    false
                })
            }
            _ => false,
        };
        let (status, detail) = if let (true, Some((run, _))) = (changed, &done) {
            let req = PredictRequest {
                data: input.clone().into(),
                date: Some(ds.clone()),
                sink: sink.clone(),
                replace: false,
            };
            (
                "changed".to_string(),
                format!(
                    "its file now holds other contents than run {run} scored; nothing was rescored. If the new file is right: {}; otherwise restore the file",
                    crate::pipeline::rerun::force_command(home, &req, &ds)
                ),
            )
        } else if let Some((run, _)) = &done {
            let detail = if present {
                format!("already done by run {run} (use --force to rescore)")
            } else {
                format!(
                    "already done by run {run}; no file at {} now",
                    crate::pipeline::absolute(Path::new(&input)).display()
                )
            };
            ("skipped".to_string(), detail)
        } else {
            // A missing input goes through `predict` too: it is refused there (exit 2, its
            // absolute path named) and recorded as a failed run, as a single predict is;
            // but it fires no failure hook (a range with gaps would page once per gap).
            let missing = !Path::new(&input).is_file();
            let req = PredictRequest {
                data: input.into(),
                date: Some(ds.clone()),
                sink: sink.clone(),
                // A date done is skipped unless --force, which also replaces it.
                replace: force,
            };
            match predict(
                cfg,
                home,
                &req,
                None,
                super::signals::stop_flag(super::STOPPING),
            ) {
                Ok(o) => {
                    warnings.clone_from(&o.warnings);
                    let alerts = if o.drift_alerts.is_empty() {
                        String::new()
                    } else {
                        drifted.push(format!("{} on {ds}", o.drift_alerts.join(", ")));
                        if opts.fail_on_drift {
                            crate::registry::runs::set_exit_code(
                                &runs_db,
                                &o.run_id,
                                crate::error::EXIT_DRIFT,
                            )?;
                        }
                        let summary = serde_json::to_value(&o).unwrap_or_default();
                        units::run_alert_hook(&cfg.hooks, &summary, home);
                        format!("; drift alerts: {}", o.drift_alerts.join(", "))
                    };
                    (
                        "done".to_string(),
                        format!(
                            "{} scored, {} quarantined, run {}{alerts}",
                            o.rows_scored, o.rows_quarantined, o.run_id
                        ),
                    )
                }
                Err(e) => {
                    if !missing {
                        hook(&cfg.hooks, "predict", &e, home, Some(&ds));
                    }
                    let msg = e
                        .to_string()
                        .lines()
                        .take(3)
                        .collect::<Vec<_>>()
                        .join(" / ");
                    if worst.as_ref().is_none_or(|w| w.exit_code() < e.exit_code()) {
                        worst = Some(e);
                        // The run the backfill's error names (its JSON, its log line).
                        worst_run = crate::pipeline::last_run_id();
                    }
                    ("failed".to_string(), msg)
                }
            }
        };
        crate::say!("  {ds}: {status} {detail}");
        for w in &warnings {
            crate::say!("    warning: {w}");
        }
        results.push(json!({"date": ds, "status": status, "detail": detail, "warnings": warnings}));
        match d.succ_opt() {
            Some(n) => d = n,
            None => break,
        }
    }
    let count = |s: &str| results.iter().filter(|r| r["status"] == s).count();
    let (ok, skipped, failed) = (count("done"), count("skipped"), count("failed"));
    let changed = count("changed");
    let held = if changed > 0 {
        format!(", {changed} changed (not rescored)")
    } else {
        String::new()
    };
    let mut text =
        format!("backfill {from}..{to}: {ok} done, {skipped} skipped{held}, {failed} failed\n");
    for r in results
        .iter()
        .filter(|r| r["status"] == "failed" || r["status"] == "changed")
    {
        text.push_str(&format!(
            "  {} {}: {}\n",
            r["date"].as_str().unwrap_or(""),
            r["status"].as_str().unwrap_or(""),
            r["detail"].as_str().unwrap_or("")
        ));
    }
    if failed > 0 {
        text.push_str(match &worst {
            Some(ClaimsError::Locked(_)) => {
                "another predict held the lock: rerun the same command when it is done (done dates are skipped)\n"
            }
            _ => "fix the inputs and rerun the same command: done dates are skipped\n",
        });
    }
    if let Some(d) = &stopped_before {
        text.push_str(&format!(
            "stopped by a signal before {d}: rerun the same command to do the rest\n"
        ));
    }
    if !drifted.is_empty() {
        text.push_str(&format!("drift alerts: {}\n", drifted.join("; ")));
    }
    for r in &results {
        for w in r["warnings"].as_array().into_iter().flatten() {
            text.push_str(&format!(
                "warning for {}: {}\n",
                r["date"].as_str().unwrap_or(""),
                w.as_str().unwrap_or("")
            ));
        }
    }
    let mut out = Output::ok(
        text,
        json!({"command": "predict-backfill", "done": ok, "skipped": skipped, "changed": changed, "failed": failed, "stopped_before": stopped_before, "drift_alerts": drifted, "dates": results}),
    );
    if failed > 0 {
        out.then_fail = worst;
        crate::pipeline::set_last_run_id(worst_run.as_deref());
    } else if changed > 0 {
        crate::pipeline::set_last_run_id(None);
        out.then_fail = Some(ClaimsError::Usage(format!(
            "{changed} date(s) hold scores of other contents than their files now (listed above): rescore each with its --force command, or restore the files"
        )));
    } else if let Some(d) = stopped_before {
        // Stopped, not finished: a scheduler must not read this as a complete backfill.
        out.then_fail = Some(ClaimsError::Other(anyhow::anyhow!(
            "backfill stopped by a signal before {d}; rerun it to resume"
        )));
    } else if opts.fail_on_drift && !drifted.is_empty() {
        out.then_fail = Some(ClaimsError::Drift(format!(
            "{} (the dates' predictions are written; exit 5 is --fail-on-drift's signal)",
            drifted.join("; ")
        )));
    }
    Ok(out)
}
