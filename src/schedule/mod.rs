//! Scheduling: when jobs are due (cron expressions in a time zone, daylight-saving changes
//! handled by `croner` and `chrono-tz`), which missed runs to catch up after downtime, the
//! per-job state that makes each scheduled instant run at most once, the run lock, the
//! long-running scheduler and the unit files for cron and systemd.

pub mod account;
mod calendar;
mod executor;
pub mod lock;
pub mod runner;
pub mod units;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::config::ScheduleConfig;
use crate::error::{ClaimsError, Result};
use crate::registry::db;

/// The scheduled jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Job {
    /// Monthly training.
    Train,
    /// Daily inference.
    Predict,
}

impl Job {
    /// Every job.
    pub const ALL: [Job; 2] = [Job::Train, Job::Predict];

    /// Its name (also the lock's name).
    pub fn name(self) -> &'static str {
        match self {
            Job::Train => "train",
            Job::Predict => "predict",
        }
    }

    /// Parses a job name.
    pub fn parse(s: &str) -> Result<Job> {
        match s {
            "train" => Ok(Job::Train),
            "predict" => Ok(Job::Predict),
            _ => Err(ClaimsError::Usage(format!(
                "job '{s}': expected train or predict"
            ))),
        }
    }

    /// Its cron expression.
    pub fn cron(self, cfg: &ScheduleConfig) -> &str {
        match self {
            Job::Train => &cfg.train.cron,
            Job::Predict => &cfg.predict.cron,
        }
    }
}

/// A parsed schedule of one job in a time zone.
pub struct Schedule {
    cron: Cron,
    tz: Tz,
    /// Days from an instant's local date to the business date it is for.
    offset_days: i64,
}

impl Schedule {
    /// Parses `expr` in time zone `tz`.
    pub fn new(expr: &str, tz: &str) -> Result<Schedule> {
        let cron = expr
            .parse::<Cron>()
            .map_err(|e| ClaimsError::Config(format!("cron '{expr}': {e}")))?;
        let tz = tz
            .parse::<Tz>()
            .map_err(|_| ClaimsError::Config(format!("time zone '{tz}' is unknown")))?;
        Ok(Schedule {
            cron,
            tz,
            offset_days: 0,
        })
    }

    /// For a job of the config (a scoring job's business date moved by
    /// `schedule.predict.date_offset_days`).
    pub fn of(job: Job, cfg: &ScheduleConfig) -> Result<Schedule> {
        let mut s = Schedule::new(job.cron(cfg), &cfg.timezone)?;
        if job == Job::Predict {
            s.offset_days = cfg.predict.date_offset_days;
        }
        Ok(s)
    }

    /// The first fire instant strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Result<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&t.with_timezone(&self.tz), false)
            .map(|d| d.with_timezone(&Utc))
            .map_err(|e| ClaimsError::Config(format!("cron has no next run: {e}")))
    }

    /// Fire instants in (after, until], oldest first, at most `limit`.
    pub fn between(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DateTime<Utc>>> {
        let mut out = vec![];
        let mut t = after;
        loop {
            let n = self.next_after(t)?;
            if n > until || out.len() >= limit {
                return Ok(out);
            }
            out.push(n);
            t = n;
        }
    }

    /// The business date of a fire instant: its local date, moved by the job's
    /// `date_offset_days` (a 02:00 scoring run with -1 scores the day before).
    pub fn local_date(&self, t: DateTime<Utc>) -> chrono::NaiveDate {
        let d = t.with_timezone(&self.tz).date_naive();
        d.checked_add_signed(chrono::Duration::days(self.offset_days))
            .unwrap_or(d)
    }

    /// The latest fire instant at or before `t` (looked for up to about a year back).
    pub fn latest_at_or_before(&self, t: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        // Widening windows, so a job due every minute is not walked a year back.
        for days in [1, 8, 32, 367] {
            let from = t - chrono::Duration::days(days);
            let mut last = None;
            let mut at = from;
            loop {
                let n = self.next_after(at)?;
                if n > t {
                    break;
                }
                last = Some(n);
                at = n;
            }
            if last.is_some() {
                return Ok(last);
            }
        }
        Ok(None)
    }

    /// The business date a run started now without a date is for: that of the job's
    /// latest scheduled instant, so a timer catching up a missed run (systemd's
    /// `Persistent=true` after downtime) scores the day it missed, not the day it wakes.
    pub fn due_date(&self, now: DateTime<Utc>) -> Result<chrono::NaiveDate> {
        let at = self.latest_at_or_before(now)?.unwrap_or(now);
        Ok(self.local_date(at))
    }
}

/// Which of the missed instants (oldest first) to run under a catch-up policy.
pub fn catch_up(missed: Vec<DateTime<Utc>>, policy: &str, max: usize) -> Vec<DateTime<Utc>> {
    match policy {
        "none" => vec![],
        "all" => {
            let skip = missed.len().saturating_sub(max);
            missed.into_iter().skip(skip).collect()
        }
        _ => missed.into_iter().last().into_iter().collect(),
    }
}

/// Per-job state: the last scheduled instant handled and how it went.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct JobState {
    /// Job name.
    pub job: String,
    /// The last scheduled instant handled (UTC, RFC 3339).
    pub last_fire: Option<String>,
    /// "succeeded", "failed: ..." or "skipped".
    pub last_outcome: Option<String>,
    /// The run of that instant.
    pub last_run_id: Option<String>,
    /// When the state changed.
    pub updated_at: Option<String>,
}

/// Reads a job's state.
pub fn state(conn: &Connection, job: Job) -> Result<JobState> {
    let row = conn
        .query_row(
            "SELECT last_fire, last_outcome, last_run_id, updated_at FROM schedule_state WHERE job = ?1",
            [job.name()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()
        .map_err(db::sql)?;
    let (last_fire, last_outcome, last_run_id, updated_at) =
        row.unwrap_or((None, None, None, None));
    Ok(JobState {
        job: job.name().into(),
        last_fire,
        last_outcome,
        last_run_id,
        updated_at,
    })
}

/// Starts tracking `job` from `at` (first run of the scheduler); a no-op when tracked.
pub fn init_state(conn: &Connection, job: Job, at: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO schedule_state(job, last_fire, last_outcome, updated_at) VALUES (?1, ?2, NULL, ?3)",
        params![job.name(), at.to_rfc3339(), db::now()],
    )
    .map_err(db::sql)?;
    Ok(())
}

/// Claims `fire` for `job`: true if it was not handled yet (so this caller runs it). The
/// update is conditional, so two schedulers never run the same instant twice.
pub fn claim(conn: &Connection, job: Job, fire: DateTime<Utc>) -> Result<bool> {
    let f = fire.to_rfc3339();
    let n = conn
        .execute(
            "INSERT INTO schedule_state(job, last_fire, last_outcome, updated_at) VALUES (?1, ?2, 'running', ?3)
             ON CONFLICT(job) DO UPDATE SET last_fire = excluded.last_fire, last_outcome = 'running',
             last_run_id = NULL, updated_at = excluded.updated_at WHERE schedule_state.last_fire < excluded.last_fire",
            params![job.name(), f, db::now()],
        )
        .map_err(db::sql)?;
    Ok(n == 1)
}

/// The lock a scheduler holds on `job` while it handles one of its instants (claim, run,
/// retries, record); `Ok(None)` when another scheduler holds it.
pub fn handling_lock(home: &std::path::Path, job: Job) -> Result<Option<lock::RunLock>> {
    match lock::RunLock::acquire(home, &format!("schedule-{}", job.name())) {
        Ok(l) => Ok(Some(l)),
        Err(ClaimsError::Locked(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether `job`'s state says "running" with no scheduler handling it: the scheduler was
/// killed during the run (or the machine went down).
pub fn interrupted(conn: &Connection, home: &std::path::Path, job: Job) -> Result<bool> {
    if state(conn, job)?.last_outcome.as_deref() != Some("running") {
        return Ok(false);
    }
    Ok(!lock::RunLock::held(
        home,
        &format!("schedule-{}", job.name()),
    ))
}

/// Makes an interrupted instant of `job` due again (its last handled instant goes back one
/// second), so the catch-up policy decides whether it runs; returns that instant.
pub fn reopen_interrupted(conn: &Connection, job: Job) -> Result<Option<DateTime<Utc>>> {
    reopen(
        conn,
        job,
        "interrupted: the scheduler stopped during the run",
    )
}

/// [`reopen_interrupted`] with `why` as the instant's outcome until it runs again.
pub fn reopen(conn: &Connection, job: Job, why: &str) -> Result<Option<DateTime<Utc>>> {
    let st = state(conn, job)?;
    let Some(fire) = st
        .last_fire
        .and_then(|f| DateTime::parse_from_rfc3339(&f).ok())
        .map(|f| f.with_timezone(&Utc))
    else {
        return Ok(None);
    };
    conn.execute(
        "UPDATE schedule_state SET last_fire = ?2, last_outcome = ?4, updated_at = ?3
         WHERE job = ?1 AND last_outcome = 'running'",
        params![
            job.name(),
            (fire - chrono::Duration::seconds(1)).to_rfc3339(),
            db::now(),
            why
        ],
    )
    .map_err(db::sql)?;
    Ok(Some(fire))
}

/// Records how the run of `job`'s last claimed instant went.
pub fn record(conn: &Connection, job: Job, outcome: &str, run_id: Option<&str>) -> Result<()> {
    conn.execute(
        "UPDATE schedule_state SET last_outcome = ?2, last_run_id = ?3, updated_at = ?4 WHERE job = ?1",
        params![job.name(), outcome, run_id, db::now()],
    )
    .map_err(db::sql)?;
    Ok(())
}

#[cfg(test)]
mod tests;
