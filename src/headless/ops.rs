//! Headless operations: backfill of a date range, the scheduler commands (run, status,
//! print, trigger) and the failure hook.

use std::path::Path;

use chrono::NaiveDate;
use serde_json::json;

use super::Output;
use crate::cli::ScheduleAction;
use crate::config::{Config, HooksConfig};
use crate::error::{ClaimsError, Result};
use crate::pipeline::infer::parse_date;
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
