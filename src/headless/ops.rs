//! Headless operations: backfill of a date range, the scheduler commands (run, status,
//! print, trigger) and the failure hook.

use std::path::Path;

use chrono::NaiveDate;
use serde_json::json;

use super::Output;
use crate::cli::ScheduleAction;
use crate::config::{Config, HooksConfig};
use crate::error::{ClaimsError, Result};
use crate::pipeline::infer::{PredictRequest, parse_date, parse_date_of, predict};
use crate::registry::db;
use crate::schedule::runner::{PipelineExecutor, Scheduler, SystemClock};
use crate::schedule::{Job, Schedule, state, units};

/// Runs the failure hook for a failed command (not for a held lock: another run of the
/// job is at work). The payload has what the scheduler's has (`ok`, the job, its business
/// date for a scoring run, the home), so an alert can say which day of which home failed.
pub fn hook(hooks: &HooksConfig, job: &str, e: &ClaimsError, home: &Path, date: Option<&str>) {
    if matches!(e, ClaimsError::Locked(_)) {
        return;
    }
    // The run it recorded, when it got that far (as the scheduler's payload has it).
    let mut payload = json!({"ok": false, "job": job, "error": e.to_string(),
        "exit_code": e.exit_code(), "home": crate::pipeline::absolute(home).to_string_lossy()});
    if let Some(d) = date {
        payload["date"] = json!(d);
    }
    if let Some(id) = crate::pipeline::last_run_id() {
        payload["run_id"] = json!(id);
    }
    units::run_hook(&hooks.on_failure, &payload, hooks.timeout());
}

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

/// The `schedule` subcommands.
pub fn schedule(action: ScheduleAction, cfg: &Config, home: &Path) -> Result<Output> {
    let sc = &cfg.schedule;
    match action {
        ScheduleAction::Status => {
            let conn = db::open(&home.join("claims.db"))?;
            let minute = |t: &str| {
                chrono::DateTime::parse_from_rfc3339(t).map_or(t.to_string(), |t| {
                    t.with_timezone(&chrono::Utc)
                        .format("%Y-%m-%d %H:%M")
                        .to_string()
                })
            };
            let mut text = format!(
                "{:<8} {:<12} {:<17} {:<40} {}\n",
                "job",
                "cron",
                "next due (UTC)",
                "last run (cron, systemd, CLI, console)",
                "built-in scheduler (last instant, outcome)"
            );
            let running = crate::schedule::lock::Presence::running(home);
            let mut jobs = vec![];
            // A job whose last run failed: what went wrong, under the table.
            let mut failures = vec![];
            for job in Job::ALL {
                let next = Schedule::of(job, sc)?.next_after(chrono::Utc::now())?;
                let st = state(&conn, job)?;
                let last = crate::registry::runs::last_of_kind(&conn, job.name())?;
                let last_text = last.as_ref().map_or("-".to_string(), |r| {
                    let status = if crate::registry::runs::looks_dead(home, r) {
                        "died?"
                    } else {
                        r.status.as_str()
                    };
                    format!("{status} {} {}", minute(&r.started_at), r.run_id)
                });
                // "running" with no scheduler handling it: killed during the run.
                let dead = crate::schedule::interrupted(&conn, home, job).unwrap_or(false);
                let sched = match (&st.last_fire, &st.last_outcome) {
                    (Some(f), _) if dead => format!(
                        "{} interrupted (no scheduler is running it; it runs again when one starts)",
                        minute(f)
                    ),
                    // The mark a scheduler's first start leaves: no instant has come yet.
                    // (Its instant is a minute before the start, so a job due at the
                    // start still runs; the start itself is when the mark was made.)
                    (Some(f), None) if st.last_run_id.is_none() && running => format!(
                        "watching since {} (nothing due yet)",
                        minute(st.updated_at.as_deref().unwrap_or(f))
                    ),
                    (Some(f), None) if st.last_run_id.is_none() => format!(
                        "first started {} (nothing has been due)",
                        minute(st.updated_at.as_deref().unwrap_or(f))
                    ),
                    (Some(f), o) => format!("{} {}", minute(f), o.as_deref().unwrap_or("-")),
                    (None, _) => "-".into(),
                };
                text.push_str(&format!(
                    "{:<8} {:<12} {:<17} {:<40} {}\n",
                    job.name(),
                    job.cron(sc),
                    next.format("%Y-%m-%d %H:%M"),
                    last_text,
                    sched
                ));
                if let Some(r) = last.as_ref().filter(|r| r.status == "failed") {
                    failures.push(format!(
                        "{} last failed: {} (`claims runs {}`)\n",
                        job.name(),
                        r.gist(),
                        r.run_id
                    ));
                }
                // A scoring run that succeeded with drift alerts (exit 5 under
                // --fail-on-drift): "succeeded" alone would hide them.
                let summary: Option<serde_json::Value> = last
                    .as_ref()
                    .and_then(|r| r.summary.as_deref())
                    .and_then(|s| serde_json::from_str(s).ok());
                let alerts = summary
                    .as_ref()
                    .and_then(|v| v["drift_alerts"].as_array())
                    .map_or(0, Vec::len);
                if let Some(r) = last.as_ref().filter(|_| alerts > 0) {
                    let date = summary
                        .as_ref()
                        .and_then(|v| v["business_date"].as_str())
                        .unwrap_or("?");
                    failures.push(format!(
                        "{} last run: {alerts} drift alert(s) on {date} (`claims drift --date {date}`, run {})\n",
                        job.name(),
                        r.run_id
                    ));
                }
                let last_run = last.map(|r| {
                    let dead = crate::registry::runs::looks_dead(home, &r);
                    json!({"run_id": r.run_id, "status": r.status, "looks_dead": dead, "started_at": r.started_at, "finished_at": r.finished_at, "error": r.error, "drift_alerts": alerts})
                });
                jobs.push(
                    json!({"job": job.name(), "cron": job.cron(sc), "next_due": next, "state": st, "last_run": last_run}),
                );
            }
            for f in &failures {
                text.push_str(f);
            }
            text.push_str(&format!(
                "time zone {}; catch-up {}\n",
                sc.timezone, sc.catch_up
            ));
            text.push_str(if running {
                "built-in scheduler: running on this home (`claims schedule run`)\n"
            } else {
                "built-in scheduler: not running on this home (cron or systemd run the jobs through `claims schedule trigger`, if set up)\n"
            });
            Ok(Output::ok(
                text,
                json!({"command": "schedule-status", "jobs": jobs, "scheduler_running": running}),
            ))
        }
        ScheduleAction::Print {
            cron,
            systemd: _,
            out_dir,
            user,
        } => {
            let bin =
                std::env::current_exe().map_err(|e| ClaimsError::io("current executable", e))?;
            let home = std::path::absolute(home).unwrap_or_else(|_| home.to_path_buf());
            if !home.join("claims.db").is_file() {
                crate::say!(
                    "warning: home '{}' has no claims.db yet: these units would run their jobs there (check --home or CLAIMS_HOME; train once to start the home)",
                    home.display()
                );
            }
            if cron {
                let text = units::crontab(sc, &bin, &home, cfg.extra_file.as_deref())?;
                return Ok(Output::ok(
                    text.clone(),
                    json!({"command": "schedule-print", "cron": text}),
                ));
            }
            if let Some(u) = &user {
                crate::schedule::account::check_account_name(u)?;
            }
            for w in crate::schedule::account::account_warnings(user.as_deref(), &home) {
                crate::say_line("WARN", &format!("warning: {w}"));
            }
            let files =
                units::systemd(sc, &bin, &home, cfg.extra_file.as_deref(), user.as_deref())?;
            match out_dir {
                Some(dir) => {
                    std::fs::create_dir_all(&dir).map_err(|e| ClaimsError::io(&dir, e))?;
                    let mut replaced = vec![];
                    for (name, body) in &files {
                        let p = dir.join(name);
                        if std::fs::read_to_string(&p).is_ok_and(|old| old != *body) {
                            replaced.push(name.clone());
                        }
                        std::fs::write(&p, body).map_err(|e| ClaimsError::io(&p, e))?;
                    }
                    let names: Vec<&String> = files.iter().map(|f| &f.0).collect();
                    let mut text = format!("wrote {} unit files to {}", files.len(), dir.display());
                    if !replaced.is_empty() {
                        text.push_str(&format!(
                            " (replaced, with different contents: {})",
                            replaced.join(", ")
                        ));
                    }
                    Ok(Output::ok(
                        text,
                        json!({"command": "schedule-print", "files": names, "replaced": replaced}),
                    ))
                }
                None => {
                    let text: String = files
                        .iter()
                        .map(|(n, b)| format!("# ---- {n} ----\n{b}\n"))
                        .collect();
                    Ok(Output::ok(
                        text,
                        json!({"command": "schedule-print", "systemd": files}),
                    ))
                }
            }
        }
        ScheduleAction::Trigger { job, date } => {
            let job = Job::parse(&job)?;
            let date: NaiveDate = match date {
                Some(d) => parse_date(&d)?.parse().unwrap_or_default(),
                None => Schedule::of(job, sc)?.due_date(chrono::Utc::now())?,
            };
            let exec = PipelineExecutor {
                cfg,
                home: home.to_path_buf(),
            };
            let stop = super::signals::stop_flag(super::STOPPING);
            let (attempts, outcome) =
                crate::schedule::runner::with_retries(sc, &exec, &SystemClock, job, date, &stop);
            crate::schedule::runner::failure_hook(cfg, home, job, date, attempts, &outcome);
            // The error itself follows on stderr as `error: ...` (once, not glued in here).
            let text = format!(
                "{} {date}: {} after {attempts} attempt(s){}",
                job.name(),
                if outcome.ok { "succeeded" } else { "failed" },
                outcome
                    .run_id
                    .as_ref()
                    .map_or(String::new(), |r| format!(" (run {r})"))
            );
            let mut out = Output::ok(
                text,
                json!({"command": "schedule-trigger", "job": job.name(), "date": date, "attempts": attempts, "outcome": outcome}),
            );
            if !outcome.ok {
                // The pipeline's own exit code (3 bad input, 4 the lock stayed held past
                // schedule.lock_wait_minutes, ...), so a unit and a scheduler's alerting see
                // what happened.
                out.then_fail = Some(ClaimsError::Exit(
                    outcome.exit_code,
                    outcome.message.clone(),
                ));
            }
            Ok(out)
        }
        ScheduleAction::Run => {
            // SIGTERM/SIGINT: stop taking work; the running pipeline sees the flag at its next
            // stage boundary or boosting round and records itself as cancelled.
            let stop = super::signals::stop_flag(
                "the scheduler stops (a job running now stops at its next step and is recorded as cancelled)",
            );
            let exec = PipelineExecutor {
                cfg,
                home: home.to_path_buf(),
            };
            let clock = SystemClock;
            let s = Scheduler::new(cfg, home, &clock, &exec, stop.clone())?;
            // Several may run (a standby): each instant still runs once, as the schedulers
            // take turns through a lock per job. A second one is more often a mistake.
            if crate::schedule::lock::Presence::running(home) {
                tracing::warn!(
                    "another scheduler already runs on {}: each scheduled instant still runs once (the schedulers take turns), but unless this one is meant as a standby, stop one (`claims schedule status` shows it)",
                    home.display()
                );
            }
            // What `schedule status` looks at to say whether a scheduler runs here.
            let _present = crate::schedule::lock::Presence::mark(home)?;
            crate::say!(
                "scheduler running (train '{}', predict '{}', {}); SIGTERM or Ctrl-C stops it",
                sc.train.cron,
                sc.predict.cron,
                sc.timezone
            );
            s.run_until_stopped()?;
            Ok(Output::ok(
                "scheduler stopped".into(),
                json!({"command": "schedule-run", "stopped": true}),
            ))
        }
    }
}
