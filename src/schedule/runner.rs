//! The scheduler loop and its retries. Time comes from a [`Clock`] (the system clock,
//! or a controllable one in tests), work from an [`Executor`] (the real pipelines in `executor.rs`, or a
//! recorder in tests), so every decision (what is due, catch-up, retries, never twice) is
//! tested without waiting.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::Connection;
use serde::Serialize;

use super::{Job, Schedule, catch_up, claim, record, state};
use crate::config::Config;
use crate::error::{ClaimsError, Result};
use crate::registry::db;

/// Where the scheduler gets the time and how it waits.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
    /// Waits until `t` or until `stop` is set; false when stopped.
    fn sleep_until(&self, t: DateTime<Utc>, stop: &AtomicBool) -> bool;
}

/// The system clock, waking every second to check for a stop request.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
    fn sleep_until(&self, t: DateTime<Utc>, stop: &AtomicBool) -> bool {
        while Utc::now() < t {
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            let left = (t - Utc::now()).to_std().unwrap_or_default();
            std::thread::sleep(left.min(std::time::Duration::from_secs(1)));
        }
        !stop.load(Ordering::Relaxed)
    }
}

/// How one attempt went.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Attempt {
    /// Whether it succeeded.
    pub ok: bool,
    /// Worth retrying (a pipeline failure, not bad input or a held lock).
    pub transient: bool,
    /// The run id, when a run was started (or a failure before the run was recorded).
    pub run_id: Option<String>,
    /// What happened.
    pub message: String,
    /// The exit code the CLI would give this outcome (0 when it succeeded).
    pub exit_code: i32,
    /// The run's result as `claims predict --json` or `claims train --json` gives it, when
    /// it succeeded (rows scored, drift alerts; the version, the gate's verdict).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
}

/// Why `p` cannot be read as an input file: "not found", or "is a folder".
pub fn not_a_file(p: &Path) -> &'static str {
    if p.is_dir() {
        "is a folder, not a file"
    } else {
        "not found"
    }
}

/// Runs the failure hook once a job's last attempt has failed, with what an on-call
/// person needs: the job, date, error, exit code, run id, attempts and home.
pub fn failure_hook(
    cfg: &Config,
    home: &std::path::Path,
    job: Job,
    date: NaiveDate,
    attempts: u32,
    a: &Attempt,
) {
    if a.ok {
        return;
    }
    let summary = serde_json::json!({
        "ok": false, "job": job.name(), "date": date.to_string(), "error": a.message,
        "exit_code": a.exit_code, "run_id": a.run_id, "attempts": attempts,
        "home": crate::pipeline::absolute(home).to_string_lossy(),
    });
    super::units::run_hook(&cfg.hooks.on_failure, &summary, cfg.hooks.timeout());
}

/// Runs a job for a business date.
pub trait Executor: Sync {
    /// Runs `job` for `date`.
    fn execute(&self, job: Job, date: NaiveDate, cancel: Arc<AtomicBool>) -> Attempt;
    /// Whether no other run of `job` holds the home's lock now.
    fn lock_free(&self, _job: Job) -> bool {
        true
    }
    /// Records that `job` for `date` was given up (`a`, after waiting for the lock); the
    /// failed run's id, if one was recorded.
    fn gave_up(&self, _job: Job, _date: NaiveDate, _a: &Attempt) -> Option<String> {
        None
    }
}

/// What the scheduler did with one instant.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Fired {
    /// The job.
    pub job: Job,
    /// The scheduled instant.
    pub fire: DateTime<Utc>,
    /// Its business date.
    pub date: NaiveDate,
    /// Attempts made (1 + retries + tries the home's lock turned away).
    pub attempts: u32,
    /// The final attempt.
    pub outcome: Attempt,
}

/// The scheduler.
pub struct Scheduler<'a> {
    cfg: &'a Config,
    home: PathBuf,
    conn: Connection,
    clock: &'a dyn Clock,
    exec: &'a dyn Executor,
    stop: Arc<AtomicBool>,
}

impl<'a> Scheduler<'a> {
    /// A scheduler over the home's database.
    pub fn new(
        cfg: &'a Config,
        home: &Path,
        clock: &'a dyn Clock,
        exec: &'a dyn Executor,
        stop: Arc<AtomicBool>,
    ) -> Result<Self> {
        let conn = db::open(&home.join("claims.db"))?;
        if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
            return Err(ClaimsError::Usage(format!(
                "{}: the scheduler records every instant it handles, and this user ({}) can only read this home",
                home.display(),
                crate::registry::current_user()
            )));
        }
        // An instant left "running" by a scheduler that was killed is due again: the
        // catch-up policy decides whether it runs; if it will not, the failure hook says so.
        for job in Job::ALL {
            if !super::interrupted(&conn, home, job)? {
                continue;
            }
            if let Some(fire) = super::reopen_interrupted(&conn, job)? {
                let date = Schedule::of(job, &cfg.schedule)?.local_date(fire);
                tracing::warn!(job = job.name(), %date, "the run of {fire} was interrupted (the scheduler stopped during it); it is due again (catch_up = {})", cfg.schedule.catch_up);
                if cfg.schedule.catch_up == "none" {
                    let a = Attempt {
                        ok: false,
                        transient: false,
                        run_id: None,
                        message: format!(
                            "the run of {fire} was interrupted (the scheduler stopped during it) and catch_up = none does not run it again"
                        ),
                        exit_code: crate::error::EXIT_PIPELINE,
                        result: None,
                    };
                    failure_hook(cfg, home, job, date, 1, &a);
                }
            }
        }
        Ok(Scheduler {
            cfg,
            home: home.to_path_buf(),
            conn,
            clock,
            exec,
            stop,
        })
    }

    fn last_fire(&self, job: Job) -> Result<Option<DateTime<Utc>>> {
        Ok(state(&self.conn, job)?
            .last_fire
            .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
            .map(|d| d.with_timezone(&Utc)))
    }

    /// Runs every instant due now (with catch-up and retries); returns what ran.
    pub fn tick(&self) -> Result<Vec<Fired>> {
        self.tick_from(self.clock.now())
    }

    /// [`Self::tick`], judging lateness (catch_up = none) from `tick_start`: a job due at
    /// the same time as another that ran (and retried) first is late only because of it,
    /// and still runs; so is one whose tick failed on a busy database and is tried again.
    fn tick_from(&self, tick_start: DateTime<Utc>) -> Result<Vec<Fired>> {
        let sc = &self.cfg.schedule;
        let mut fired = vec![];
        for job in Job::ALL {
            let sched = Schedule::of(job, sc)?;
            let now = self.clock.now();
            // A job seen for the first time is tracked from a minute ago: what is due now runs,
            // and downtime from here on is caught up.
            super::init_state(&self.conn, job, tick_start - chrono::Duration::minutes(1))?;
            let since = self
                .last_fire(job)?
                .unwrap_or(tick_start - chrono::Duration::minutes(1));
            let missed = sched.between(since, now, 100_000)?;
            let to_run = if sc.catch_up == "none" {
                // Only the latest instant that was on time, never more than "latest" runs.
                missed
                    .iter()
                    .copied()
                    .rfind(|t| tick_start - *t <= chrono::Duration::minutes(1))
                    .into_iter()
                    .collect()
            } else {
                catch_up(missed.clone(), &sc.catch_up, sc.max_catch_up.max(1))
            };
            let skipped = missed.iter().filter(|t| !to_run.contains(t)).count();
            if to_run.is_empty() {
                if let Some(latest) = missed.last()
                    && claim(&self.conn, job, *latest)?
                {
                    {
                        record(
                            &self.conn,
                            job,
                            &format!(
                                "skipped {skipped} missed run(s) (catch_up = {})",
                                sc.catch_up
                            ),
                            None,
                        )?;
                    }
                }
                continue;
            }
            if skipped > 0 {
                tracing::warn!(
                    job = job.name(),
                    skipped,
                    "catch-up policy '{}' skips missed runs",
                    sc.catch_up
                );
            }
            for fire in to_run {
                if self.stop.load(Ordering::Relaxed) {
                    return Ok(fired);
                }
                // Held from claim to record, so a "running" state with this lock free was left
                // by a scheduler that died. Another scheduler holding it handles this job now.
                let Some(_handling) = super::handling_lock(&self.home, job)? else {
                    continue;
                };
                // The conditional claim makes each instant run once, even with two schedulers.
                if !claim(&self.conn, job, fire)? {
                    continue;
                }
                let date = sched.local_date(fire);
                let (attempts, outcome) = self.attempt(job, date);
                // Stopped during the run (a `systemctl restart`, a deploy): the instant is
                // due again when the scheduler starts, as after a crash, not lost as
                // "failed: cancelled". Under catch_up = none it would not run again, so it
                // is reported as failed, saying how to run it.
                if !outcome.ok && self.stop.load(Ordering::Relaxed) && sc.catch_up != "none" {
                    super::reopen(
                        &self.conn,
                        job,
                        "stopped: the scheduler was stopped during the run; due again when it starts",
                    )?;
                    tracing::warn!(job = job.name(), %date, "stopped during the run of {fire}; it runs again when the scheduler starts (catch_up = {})", sc.catch_up);
                    return Ok(fired);
                }
                let outcome = if !outcome.ok && self.stop.load(Ordering::Relaxed) {
                    Attempt {
                        message: format!(
                            "{}; the scheduler was stopped during the run and catch_up = none does not run it again: `claims schedule trigger {} --date {date}` does",
                            outcome.message,
                            job.name()
                        ),
                        ..outcome
                    }
                } else {
                    outcome
                };
                failure_hook(self.cfg, &self.home, job, date, attempts, &outcome);
                let text = if outcome.ok {
                    "succeeded".to_string()
                } else {
                    format!("failed: {}", outcome.message)
                };
                record(&self.conn, job, &text, outcome.run_id.as_deref())?;
                fired.push(Fired {
                    job,
                    fire,
                    date,
                    attempts,
                    outcome,
                });
            }
        }
        Ok(fired)
    }

    fn attempt(&self, job: Job, date: NaiveDate) -> (u32, Attempt) {
        with_retries(
            &self.cfg.schedule,
            self.exec,
            self.clock,
            job,
            date,
            &self.stop,
        )
    }

    /// The next instant any job is due after now.
    pub fn next_due(&self) -> Result<DateTime<Utc>> {
        let now = self.clock.now();
        let mut next: Option<DateTime<Utc>> = None;
        for job in Job::ALL {
            let t = Schedule::of(job, &self.cfg.schedule)?.next_after(now)?;
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        next.ok_or_else(|| ClaimsError::Config("no jobs scheduled".into()))
    }

    /// Ticks, sleeps until the next due instant, and repeats until stopped.
    pub fn run_until_stopped(&self) -> Result<()> {
        // When a tick failed, the next judges lateness from the failed one's start.
        let mut failed_start: Option<DateTime<Utc>> = None;
        loop {
            // The scheduler outlives a busy or briefly unreachable database (a long predict
            // holds its write lock): it says so and tries again, instead of exiting with
            // the job's state left "running".
            let start = failed_start.unwrap_or_else(|| self.clock.now());
            let ticked = self
                .tick_from(start)
                .and_then(|f| Ok((f, self.next_due()?)));
            let (fired, next) = match ticked {
                Ok(t) => {
                    failed_start = None;
                    t
                }
                Err(e) => {
                    failed_start = Some(start);
                    tracing::error!("scheduler: {e}; trying again in a minute");
                    let again = self.clock.now() + chrono::Duration::minutes(1);
                    if !self.clock.sleep_until(again, &self.stop) {
                        return Ok(());
                    }
                    continue;
                }
            };
            for f in fired {
                let o = &f.outcome;
                let run_id = o.run_id.as_deref().unwrap_or("-");
                if o.ok {
                    tracing::info!(job = f.job.name(), date = %f.date, ok = true, attempts = f.attempts, run_id, "{}", o.message);
                } else {
                    // A failed job is an error in the log, with what a reader needs to act.
                    tracing::error!(job = f.job.name(), date = %f.date, ok = false, attempts = f.attempts, run_id, exit_code = o.exit_code, "{}", o.message);
                }
                crate::say!(
                    "scheduler: {} {}: {} ({} attempt(s))",
                    f.job.name(),
                    f.date,
                    f.outcome.message.lines().next().unwrap_or(""),
                    f.attempts
                );
            }
            tracing::info!(next = %next, "scheduler waiting");
            crate::say!(
                "scheduler: waiting; next job due {}",
                next.format("%Y-%m-%d %H:%M UTC")
            );
            if !self.clock.sleep_until(next, &self.stop) {
                return Ok(());
            }
        }
    }
}

/// Runs `job` for `date`, retrying a transient failure up to `schedule.retries` times; the
/// wait doubles from `retry_backoff_seconds` up to an hour (or the base, if longer). A run
/// turned away by the home's lock (another run of the job at work: a manual run, a
/// backfill of other dates) waits for the lock, up to `schedule.lock_wait_minutes`, and
/// tries again without using a retry; past that the date is given up, recorded and
/// reported as failed. A stop ends the waits and the retries. Returns the attempts made and
/// the last attempt. (The built-in scheduler and `schedule trigger` both run through this.)
pub fn with_retries(
    sc: &crate::config::ScheduleConfig,
    exec: &dyn Executor,
    clock: &dyn Clock,
    job: Job,
    date: NaiveDate,
    stop: &Arc<AtomicBool>,
) -> (u32, Attempt) {
    let (mut n, mut turned_away) = (0, 0);
    let mut lock_deadline = None;
    loop {
        n += 1;
        let a = exec.execute(job, date, stop.clone());
        if a.exit_code == crate::error::EXIT_LOCKED {
            turned_away += 1;
            let deadline = *lock_deadline.get_or_insert_with(|| {
                clock.now() + chrono::Duration::minutes(sc.lock_wait_minutes as i64)
            });
            if turned_away == 1 {
                tracing::warn!(
                    job = job.name(),
                    date = %date,
                    "waiting for the home's lock (up to {} min, schedule.lock_wait_minutes): {}",
                    sc.lock_wait_minutes,
                    a.message
                );
            }
            // The date did not run: recorded as a failed run that says why.
            let give_up = |why: String| {
                let mut a = Attempt {
                    message: format!(
                        "{}; {why}, so {} for {date} did not run",
                        a.message,
                        job.name()
                    ),
                    ..a.clone()
                };
                a.run_id = exec.gave_up(job, date, &a);
                (n, a)
            };
            let stopped = || "stopped while waiting for it".to_string();
            // Polled: the lock's holder may be any process, and a stop must be seen.
            loop {
                if stop.load(Ordering::Relaxed) {
                    return give_up(stopped());
                }
                if exec.lock_free(job) {
                    break;
                }
                let now = clock.now();
                if now >= deadline {
                    return give_up(format!(
                        "waited {} min for it (schedule.lock_wait_minutes)",
                        sc.lock_wait_minutes
                    ));
                }
                let poll = (now + chrono::Duration::seconds(5)).min(deadline);
                if !clock.sleep_until(poll, stop) {
                    return give_up(stopped());
                }
            }
            continue;
        }
        // This attempt had the lock: a later wait (after a retry's backoff) has its own
        // budget.
        lock_deadline = None;
        if a.ok || !a.transient || n - turned_away > sc.retries || stop.load(Ordering::Relaxed) {
            return (n, a);
        }
        let wait = sc
            .retry_backoff_seconds
            .saturating_mul(1 << (n - turned_away - 1).min(16))
            .min(sc.retry_backoff_seconds.max(3600));
        tracing::warn!(
            job = job.name(),
            attempt = n,
            wait_s = wait,
            run_id = a.run_id.as_deref(),
            "transient failure, retrying: {}",
            a.message
        );
        let until = clock.now() + chrono::Duration::seconds(wait as i64);
        if !clock.sleep_until(until, stop) {
            return (n, a);
        }
    }
}

pub use super::executor::PipelineExecutor;
pub(crate) use super::executor::resolve;
