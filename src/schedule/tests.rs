//! Scheduler tests on a controllable clock: no real waiting.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};

use super::runner::{Attempt, Clock, Executor, Scheduler};
use super::*;
use crate::config::Config;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

struct FakeClock(Mutex<DateTime<Utc>>);

impl FakeClock {
    fn at(s: &str) -> Self {
        FakeClock(Mutex::new(t(s)))
    }
    fn set(&self, s: &str) {
        *self.0.lock().unwrap() = t(s);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
    fn sleep_until(&self, until: DateTime<Utc>, _: &AtomicBool) -> bool {
        let mut now = self.0.lock().unwrap();
        if *now < until {
            *now = until;
        }
        true
    }
}

/// Records what ran; fails the first `fail_first` attempts (transiently or not).
struct Recorder {
    runs: Mutex<Vec<(Job, NaiveDate)>>,
    fail_first: Mutex<u32>,
    transient: bool,
}

impl Recorder {
    fn new(fail_first: u32, transient: bool) -> Self {
        Recorder {
            runs: Mutex::new(vec![]),
            fail_first: Mutex::new(fail_first),
            transient,
        }
    }
    fn runs(&self) -> Vec<(Job, String)> {
        self.runs
            .lock()
            .unwrap()
            .iter()
            .map(|(j, d)| (*j, d.to_string()))
            .collect()
    }
}

impl Executor for Recorder {
    fn execute(&self, job: Job, date: NaiveDate, _: Arc<AtomicBool>) -> Attempt {
        self.runs.lock().unwrap().push((job, date));
        let mut left = self.fail_first.lock().unwrap();
        if *left > 0 {
            *left -= 1;
            return Attempt {
                ok: false,
                transient: self.transient,
                run_id: None,
                message: "boom".into(),
                exit_code: if self.transient { 1 } else { 3 },
                result: None,
            };
        }
        Attempt {
            ok: true,
            transient: false,
            run_id: Some(format!("run-{date}")),
            message: "ok".into(),
            exit_code: 0,
            result: None,
        }
    }
}

fn cfg(catch_up: &str) -> Config {
    Config::from_overlay(&format!(
        "[schedule]\ncatch_up = \"{catch_up}\"\nretries = 3\nretry_backoff_seconds = 60\n"
    ))
    .unwrap()
}

#[test]
fn daily_and_monthly_fire_at_local_times_across_dst() {
    let c = cfg("all");
    let daily = Schedule::of(Job::Predict, &c.schedule).unwrap();
    // Europe/London springs forward on 2026-03-29: 19:00 local is 19:00Z before, 18:00Z after.
    let fires = daily
        .between(t("2026-03-27T00:00:00Z"), t("2026-04-01T23:59:00Z"), 100)
        .unwrap();
    let got: Vec<String> = fires.iter().map(|f| f.to_rfc3339()).collect();
    assert_eq!(
        got,
        [
            "2026-03-27T19:00:00+00:00",
            "2026-03-28T19:00:00+00:00",
            "2026-03-29T18:00:00+00:00",
            "2026-03-30T18:00:00+00:00",
            "2026-03-31T18:00:00+00:00",
            "2026-04-01T18:00:00+00:00",
        ]
    );
    // ... and falls back on 2026-10-25.
    let fires = daily
        .between(t("2026-10-24T00:00:00Z"), t("2026-10-26T00:00:00Z"), 100)
        .unwrap();
    assert_eq!(
        fires,
        vec![t("2026-10-24T18:00:00Z"), t("2026-10-25T19:00:00Z")]
    );
    // Midnight on the 1st, local: 23:00Z the day before in summer, 00:00Z in winter.
    let monthly = Schedule::of(Job::Train, &c.schedule).unwrap();
    let fires = monthly
        .between(t("2026-03-15T00:00:00Z"), t("2026-12-01T12:00:00Z"), 100)
        .unwrap();
    assert_eq!(fires.first(), Some(&t("2026-03-31T23:00:00Z")));
    assert_eq!(fires.last(), Some(&t("2026-12-01T00:00:00Z")));
    assert_eq!(fires.len(), 9);
    assert_eq!(monthly.local_date(fires[0]).to_string(), "2026-04-01");
}

/// A scheduler on `home` with the fake clock and recorder, never asked to stop.
fn scheduler<'a>(
    c: &'a Config,
    home: &std::path::Path,
    clock: &'a FakeClock,
    rec: &'a Recorder,
) -> Scheduler<'a> {
    Scheduler::new(c, home, clock, rec, Arc::new(AtomicBool::new(false))).unwrap()
}

fn scheduler_after_downtime(policy: &str) -> Vec<(Job, String)> {
    let home = tempfile::tempdir().unwrap();
    let c = cfg(policy);
    let clock = FakeClock::at("2026-03-28T19:00:20Z");
    let rec = Recorder::new(0, true);
    let s = scheduler(&c, home.path(), &clock, &rec);
    s.tick().unwrap();
    assert_eq!(rec.runs(), vec![(Job::Predict, "2026-03-28".to_string())]);
    // Down for three days; back 20 s after the 1 April run was due.
    clock.set("2026-04-01T18:00:20Z");
    s.tick().unwrap();
    rec.runs()[1..].to_vec()
}

#[test]
fn downtime_catches_up_as_configured() {
    let p = |d: &str| (Job::Predict, d.to_string());
    assert_eq!(
        scheduler_after_downtime("all"),
        vec![
            (Job::Train, "2026-04-01".to_string()),
            p("2026-03-29"),
            p("2026-03-30"),
            p("2026-03-31"),
            p("2026-04-01")
        ]
    );
    assert_eq!(
        scheduler_after_downtime("latest"),
        vec![(Job::Train, "2026-04-01".to_string()), p("2026-04-01")]
    );
    // "none": only what is due right now; the monthly run of 23:00Z yesterday is skipped.
    assert_eq!(scheduler_after_downtime("none"), vec![p("2026-04-01")]);
}

#[test]
fn an_instant_never_runs_twice() {
    let home = tempfile::tempdir().unwrap();
    let c = cfg("all");
    let clock = FakeClock::at("2026-05-02T18:00:10Z");
    let rec = Recorder::new(0, true);
    let stop = Arc::new(AtomicBool::new(false));
    let a = Scheduler::new(&c, home.path(), &clock, &rec, stop.clone()).unwrap();
    let b = Scheduler::new(&c, home.path(), &clock, &rec, stop).unwrap();
    // Overlapping triggers: two schedulers, and the same scheduler twice, at the same instant.
    a.tick().unwrap();
    b.tick().unwrap();
    a.tick().unwrap();
    assert_eq!(rec.runs(), vec![(Job::Predict, "2026-05-02".to_string())]);
    let st = state(
        &crate::registry::db::open(&home.path().join("claims.db")).unwrap(),
        Job::Predict,
    )
    .unwrap();
    assert_eq!(st.last_outcome.as_deref(), Some("succeeded"));
    assert_eq!(st.last_run_id.as_deref(), Some("run-2026-05-02"));
}

#[test]
fn transient_failures_are_retried_with_backoff_bad_input_is_not() {
    let home = tempfile::tempdir().unwrap();
    let c = cfg("latest");
    let clock = FakeClock::at("2026-05-02T18:00:10Z");
    let rec = Recorder::new(2, true);
    let s = scheduler(&c, home.path(), &clock, &rec);
    let fired = s.tick().unwrap();
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].attempts, 3);
    assert!(fired[0].outcome.ok);
    // Backoff 60 s then 120 s on the fake clock.
    assert_eq!(clock.now(), t("2026-05-02T18:03:10Z"));

    let home = tempfile::tempdir().unwrap();
    let rec = Recorder::new(5, false);
    let s = scheduler(&c, home.path(), &clock, &rec);
    clock.set("2026-05-03T18:00:10Z");
    let fired = s.tick().unwrap();
    assert_eq!((fired[0].attempts, fired[0].outcome.ok), (1, false));
    let st = state(
        &crate::registry::db::open(&home.path().join("claims.db")).unwrap(),
        Job::Predict,
    )
    .unwrap();
    assert_eq!(st.last_outcome.as_deref(), Some("failed: boom"));
}

/// A trigger without a date is for the job's latest scheduled time: the day itself at or
/// after 19:00, the day before when a timer catches up a missed run the next morning, and
/// the first of the month for the monthly train all month long.
#[test]
fn a_trigger_without_a_date_is_for_the_latest_scheduled_time() {
    let c = Config::from_overlay("[schedule]\ntimezone = \"Europe/London\"").unwrap();
    let predict = Schedule::of(Job::Predict, &c.schedule).unwrap();
    let train = Schedule::of(Job::Train, &c.schedule).unwrap();
    let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    // 19:00 London is 19:00Z in winter.
    let cases = [
        (&predict, "2026-11-27T19:00:00Z", "2026-11-27"),
        (&predict, "2026-11-27T19:00:07Z", "2026-11-27"),
        (&predict, "2026-11-28T07:30:00Z", "2026-11-27"),
        (&predict, "2026-11-28T18:59:59Z", "2026-11-27"),
        (&train, "2026-12-01T00:00:05Z", "2026-12-01"),
        (&train, "2026-12-19T10:00:00Z", "2026-12-01"),
    ];
    for (job, now, want) in cases {
        assert_eq!(job.due_date(t(now)).unwrap(), d(want), "at {now}");
    }
    let minutely = Schedule::new("* * * * *", "UTC").unwrap();
    assert_eq!(
        minutely
            .latest_at_or_before(t("2026-11-27T10:00:30Z"))
            .unwrap(),
        Some(t("2026-11-27T10:00:00Z"))
    );
}

/// A scheduler killed during a run leaves its instant "running": the next scheduler sees
/// that no scheduler handles it and runs it again (catch_up = latest), instead of counting
/// it as done; while a scheduler does handle it, it is left alone.
#[test]
fn an_interrupted_instant_runs_again() {
    let home = tempfile::tempdir().unwrap();
    let c = cfg("latest");
    let clock = FakeClock::at("2026-03-28T19:00:20Z");
    let conn = crate::registry::db::open(&home.path().join("claims.db")).unwrap();
    init_state(&conn, Job::Predict, t("2026-03-28T18:00:00Z")).unwrap();
    // The killed scheduler's claim: "running", and no handling lock held any more.
    assert!(claim(&conn, Job::Predict, t("2026-03-28T19:00:00Z")).unwrap());
    // While another scheduler holds the job's handling lock, it is not interrupted.
    let held = handling_lock(home.path(), Job::Predict).unwrap().unwrap();
    assert!(!interrupted(&conn, home.path(), Job::Predict).unwrap());
    drop(held);
    assert!(interrupted(&conn, home.path(), Job::Predict).unwrap());
    let rec = Recorder::new(0, true);
    let s = scheduler(&c, home.path(), &clock, &rec);
    s.tick().unwrap();
    assert_eq!(rec.runs(), vec![(Job::Predict, "2026-03-28".to_string())]);
    assert_eq!(
        state(&conn, Job::Predict).unwrap().last_outcome.as_deref(),
        Some("succeeded")
    );
    assert!(!interrupted(&conn, home.path(), Job::Predict).unwrap());
}

/// Stops the scheduler from inside its first run (a SIGTERM mid-job), which comes back
/// cancelled; later runs succeed.
struct StoppedMidRun {
    stop: Arc<AtomicBool>,
    rec: Recorder,
}

impl Executor for StoppedMidRun {
    fn execute(&self, job: Job, date: NaiveDate, cancel: Arc<AtomicBool>) -> Attempt {
        if !self.stop.swap(true, std::sync::atomic::Ordering::Relaxed) {
            return Attempt {
                ok: false,
                transient: true,
                run_id: Some("predict-cancelled".into()),
                message: "cancelled".into(),
                exit_code: 1,
                result: None,
            };
        }
        self.rec.execute(job, date, cancel)
    }
}

/// A scheduler stopped cleanly during a run (`systemctl restart`) leaves the instant due
/// again, as a killed one does: it used to be recorded "failed: cancelled" and the day was
/// never scored. Under catch_up = none it is reported as failed with the command to run it.
#[test]
fn an_instant_stopped_mid_run_runs_again_on_restart() {
    for policy in ["latest", "none"] {
        let home = tempfile::tempdir().unwrap();
        let c = cfg(policy);
        let clock = FakeClock::at("2026-03-28T19:00:20Z");
        let conn = crate::registry::db::open(&home.path().join("claims.db")).unwrap();
        init_state(&conn, Job::Predict, t("2026-03-28T18:00:00Z")).unwrap();
        init_state(&conn, Job::Train, t("2026-03-28T18:00:00Z")).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let exec = StoppedMidRun {
            stop: stop.clone(),
            rec: Recorder::new(0, true),
        };
        let s = Scheduler::new(&c, home.path(), &clock, &exec, stop.clone()).unwrap();
        let fired = s.tick().unwrap();
        let outcome = state(&conn, Job::Predict).unwrap().last_outcome.unwrap();
        drop(s);
        // Restarted a minute later.
        clock.set("2026-03-28T19:01:30Z");
        let rec = Recorder::new(0, true);
        let s = scheduler(&c, home.path(), &clock, &rec);
        s.tick().unwrap();
        if policy == "latest" {
            assert!(fired.is_empty(), "{fired:?}");
            assert!(outcome.starts_with("stopped: "), "{outcome}");
            assert_eq!(rec.runs(), vec![(Job::Predict, "2026-03-28".to_string())]);
        } else {
            assert!(
                fired[0].outcome.message.ends_with(
                    "catch_up = none does not run it again: `claims schedule trigger predict --date 2026-03-28` does"
                ),
                "{fired:?}"
            );
            assert!(rec.runs().is_empty(), "{:?}", rec.runs());
        }
    }
}

/// With `schedule.predict.date_offset_days = -1`, a 02:00 scoring run scores the day
/// before (its date used to be the run's own), and so does a trigger without a date; the
/// monthly training keeps its own date. Out of range is refused.
#[test]
fn a_scoring_run_can_score_the_day_before() {
    let home = tempfile::tempdir().unwrap();
    let c = Config::from_overlay(
        "[schedule]\ncatch_up = \"latest\"\n[schedule.predict]\ncron = \"0 2 * * *\"\ndate_offset_days = -1\n",
    )
    .unwrap();
    let clock = FakeClock::at("2026-03-28T02:00:20Z");
    let conn = crate::registry::db::open(&home.path().join("claims.db")).unwrap();
    init_state(&conn, Job::Predict, t("2026-03-28T01:00:00Z")).unwrap();
    init_state(&conn, Job::Train, t("2026-03-28T01:00:00Z")).unwrap();
    let rec = Recorder::new(0, true);
    scheduler(&c, home.path(), &clock, &rec).tick().unwrap();
    assert_eq!(rec.runs(), vec![(Job::Predict, "2026-03-27".to_string())]);
    let due = Schedule::of(Job::Predict, &c.schedule)
        .unwrap()
        .due_date(t("2026-03-28T09:00:00Z"))
        .unwrap();
    assert_eq!(due.to_string(), "2026-03-27");
    let monthly = Schedule::of(Job::Train, &c.schedule).unwrap();
    assert_eq!(
        monthly.local_date(t("2026-04-01T00:00:00Z")).to_string(),
        "2026-04-01"
    );
    let e = Config::from_overlay("[schedule.predict]\ndate_offset_days = 1")
        .unwrap_err()
        .to_string();
    assert!(e.contains("schedule.predict.date_offset_days"), "{e}");
}

/// catch_up = none: a job due at the same time as another that ran first (and retried for
/// minutes) is late only because of it, and still runs.
#[test]
fn catch_up_none_runs_a_job_delayed_by_another_in_the_same_tick() {
    let home = tempfile::tempdir().unwrap();
    let c = Config::from_overlay(
        "[schedule]\ncatch_up = \"none\"\nretries = 3\nretry_backoff_seconds = 60\n[schedule.predict]\ncron = \"0 0 1 * *\"\n",
    )
    .unwrap();
    let clock = FakeClock::at("2026-03-31T23:00:20Z");
    // Train fails twice (transient): 3 minutes of retries before predict's turn.
    let rec = Recorder::new(2, true);
    let s = scheduler(&c, home.path(), &clock, &rec);
    s.tick().unwrap();
    let jobs: Vec<Job> = rec.runs().into_iter().map(|(j, _)| j).collect();
    assert_eq!(
        jobs,
        vec![Job::Train, Job::Train, Job::Train, Job::Predict],
        "{:?}",
        rec.runs()
    );
}

/// catch_up = none runs at most one instant of a job per tick, however many came due while
/// another job ran (never more than "latest" would).
#[test]
fn catch_up_none_runs_one_instant_per_tick() {
    let home = tempfile::tempdir().unwrap();
    let c = Config::from_overlay(
        "[schedule]\ncatch_up = \"none\"\nretries = 3\nretry_backoff_seconds = 60\n[schedule.train]\ncron = \"0 0 1 * *\"\n[schedule.predict]\ncron = \"* * * * *\"\n",
    )
    .unwrap();
    let clock = FakeClock::at("2026-03-31T23:00:20Z");
    let rec = Recorder::new(2, true); // train retries for 3 minutes
    let s = scheduler(&c, home.path(), &clock, &rec);
    s.tick().unwrap();
    let predicts = rec
        .runs()
        .iter()
        .filter(|(j, _)| *j == Job::Predict)
        .count();
    assert_eq!(predicts, 1, "{:?}", rec.runs());
}

/// Turned away by the home's lock `turned_away` times, then runs; the lock reads as held
/// for `held_polls` polls.
struct LockedThenFree {
    turned_away: Mutex<u32>,
    held_polls: Mutex<u32>,
    ran: Mutex<u32>,
    gave_up: Mutex<Option<String>>,
}

impl Executor for LockedThenFree {
    fn execute(&self, _: Job, _: NaiveDate, _: Arc<AtomicBool>) -> Attempt {
        let mut left = self.turned_away.lock().unwrap();
        if *left > 0 {
            *left -= 1;
            return Attempt {
                ok: false,
                transient: false,
                run_id: None,
                message: "another run holds the lock: predict is already running (pid 7)".into(),
                exit_code: crate::error::EXIT_LOCKED,
                result: None,
            };
        }
        *self.ran.lock().unwrap() += 1;
        Attempt {
            ok: true,
            transient: false,
            run_id: Some("run-x".into()),
            message: "ok".into(),
            exit_code: 0,
            result: None,
        }
    }
    fn lock_free(&self, _: Job) -> bool {
        let mut held = self.held_polls.lock().unwrap();
        if *held > 0 {
            *held -= 1;
            return false;
        }
        true
    }
    fn gave_up(&self, _: Job, date: NaiveDate, a: &Attempt) -> Option<String> {
        *self.gave_up.lock().unwrap() = Some(format!("{date}: {}", a.message));
        Some("failed-run".into())
    }
}

/// A scheduled run that finds another run of its job at work (a manual run, a backfill)
/// waits for the lock and then runs, without using a retry; a lock held past
/// `schedule.lock_wait_minutes` gives the date up as a recorded failure, which fires the
/// failure hook.
#[test]
fn a_held_lock_is_waited_for_then_given_up_as_a_failure() {
    let c = Config::from_overlay("[schedule]\nretries = 0\nlock_wait_minutes = 10\n").unwrap();
    let clock = FakeClock::at("2026-03-02T19:00:00Z");
    let stop = Arc::new(AtomicBool::new(false));
    let date: NaiveDate = "2026-03-02".parse().unwrap();
    // Held for a minute (12 polls of 5 s), then free: it runs, with no retry left to use.
    let exec = LockedThenFree {
        turned_away: Mutex::new(2),
        held_polls: Mutex::new(12),
        ran: Mutex::new(0),
        gave_up: Mutex::new(None),
    };
    let (attempts, a) = runner::with_retries(&c.schedule, &exec, &clock, Job::Predict, date, &stop);
    assert!(a.ok, "{a:?}");
    assert_eq!((attempts, *exec.ran.lock().unwrap()), (3, 1));
    assert_eq!(clock.now(), t("2026-03-02T19:01:00Z"));
    // Held for ever: given up at the deadline, recorded, exit 4.
    let clock = FakeClock::at("2026-03-02T19:00:00Z");
    let exec = LockedThenFree {
        turned_away: Mutex::new(1),
        held_polls: Mutex::new(u32::MAX),
        ran: Mutex::new(0),
        gave_up: Mutex::new(None),
    };
    let (_, a) = runner::with_retries(&c.schedule, &exec, &clock, Job::Predict, date, &stop);
    assert!(!a.ok && a.exit_code == crate::error::EXIT_LOCKED, "{a:?}");
    assert_eq!(clock.now(), t("2026-03-02T19:10:00Z"));
    assert_eq!(a.run_id.as_deref(), Some("failed-run"));
    let recorded = exec.gave_up.lock().unwrap().clone().unwrap();
    assert!(
        recorded.starts_with("2026-03-02: another run holds the lock")
            && recorded.contains("waited 10 min for it (schedule.lock_wait_minutes), so predict for 2026-03-02 did not run"),
        "{recorded}"
    );
    // A stop while waiting gives the date up too, saying so (not as a lock failure).
    let exec = LockedThenFree {
        turned_away: Mutex::new(1),
        held_polls: Mutex::new(u32::MAX),
        ran: Mutex::new(0),
        gave_up: Mutex::new(None),
    };
    let stopped = Arc::new(AtomicBool::new(true));
    let (_, s) = runner::with_retries(&c.schedule, &exec, &clock, Job::Predict, date, &stopped);
    assert!(
        s.message
            .ends_with("; stopped while waiting for it, so predict for 2026-03-02 did not run")
            && exec.gave_up.lock().unwrap().is_some(),
        "{s:?}"
    );
    // Given up, it is a failure like any other: the hook runs.
    let dir = tempfile::tempdir().unwrap();
    let got = dir.path().join("hook.json");
    let c = Config::from_overlay(&format!(
        "[hooks]\non_failure = \"cat > '{}'\"\n",
        got.display()
    ))
    .unwrap();
    runner::failure_hook(&c, dir.path(), Job::Predict, date, 2, &a);
    let hook: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&got).unwrap()).unwrap();
    assert_eq!(hook["exit_code"], 4);
}
