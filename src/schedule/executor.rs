//! The real [`Executor`]: the pipelines for a scheduled date, with input discovery (the
//! config's patterns), the alert hook, and a failed run recorded for a date that never got
//! to start (its input missing, or given up after waiting for the home's lock).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use chrono::{Datelike, NaiveDate};

use super::Job;
use super::runner::{Attempt, Executor, not_a_file};
use crate::config::Config;
use crate::error::{ClaimsError, Result};
use crate::registry::Registry;

/// The real executor: the pipelines, with input discovery and hooks.
pub struct PipelineExecutor<'a> {
    /// Configuration.
    pub cfg: &'a Config,
    /// Home folder; relative input paths are resolved against it.
    pub home: PathBuf,
}

/// A path from the config: absolute as given, else under the home folder.
pub(crate) fn resolve(home: &Path, p: &str) -> PathBuf {
    let p = PathBuf::from(p);
    if p.is_absolute() { p } else { home.join(p) }
}

impl PipelineExecutor<'_> {
    /// The run a failed attempt recorded; when it failed before any run was recorded (its
    /// input is missing, its lock is held), a failed run is recorded here, so the failure
    /// shows in `claims runs`, the console and the log like any other.
    fn failed_run(&self, job: Job, ds: &str, started: &str, e: &ClaimsError) -> Option<String> {
        use crate::registry::{db, runs};
        if matches!(e, ClaimsError::Locked(_)) {
            // The latest run is the holder's: this one is waited for, and recorded by
            // `gave_up` if given up.
            return None;
        }
        let conn = db::open(&self.home.join("claims.db")).ok()?;
        if let Ok(Some(r)) = runs::last_of_kind(&conn, job.name())
            && r.started_at.as_str() >= started
        {
            return Some(r.run_id);
        }
        self.record_failed(job, ds, &e.to_string(), e.exit_code())
    }

    /// The training files the schedule's patterns name for run date `date` (`{month}`: the
    /// last whole month before it, whose labels a retrain on the 1st has: December 1 trains
    /// on November's file).
    fn train_inputs(&self, date: NaiveDate) -> Vec<PathBuf> {
        let last_month = date.with_day(1).and_then(|d| d.pred_opt()).unwrap_or(date);
        let (ds, month) = (date.to_string(), last_month.format("%Y-%m").to_string());
        let fill = |p: &String| p.replace("{date}", &ds).replace("{month}", &month);
        let data = &self.cfg.schedule.train.data;
        data.iter().map(|p| resolve(&self.home, &fill(p))).collect()
    }

    /// The input file the schedule's pattern names for date `ds`.
    fn predict_input(&self, ds: &str) -> PathBuf {
        let pattern = &self.cfg.schedule.predict.input_pattern;
        resolve(&self.home, &pattern.replace("{date}", ds))
    }

    /// Records a failed run of `job` for date `ds` that never got to start, with `text`.
    fn record_failed(&self, job: Job, ds: &str, text: &str, code: i32) -> Option<String> {
        use crate::registry::{db, runs};
        let conn = db::open(&self.home.join("claims.db")).ok()?;
        // As a run that gets to its lock does: an earlier run of the job left "running" by
        // a killed process is closed (the lock, taken for the moment, shows none is alive).
        if let Ok(_lock) = crate::schedule::lock::RunLock::acquire(&self.home, job.name()) {
            for id in runs::close_interrupted(&conn, job.name()).unwrap_or_default() {
                tracing::warn!(run_id = %id, "an earlier {} run ended without an outcome; recorded as failed (interrupted)", job.name());
            }
        }
        let mut args = serde_json::json!({"date": ds, "trigger": "schedule"});
        // The file the schedule's pattern names for the date: the console's rerun scores
        // it, whatever --config the console itself was started with.
        if job == Job::Predict {
            args["data"] = serde_json::json!(self.predict_input(ds).to_string_lossy());
        } else if let Ok(date) = ds.parse::<NaiveDate>() {
            // The files it would have trained on: the console's rerun trains on them.
            args["data"] = serde_json::json!(
                self.train_inputs(date)
                    .iter()
                    .map(|p| p.to_string_lossy())
                    .collect::<Vec<_>>()
            );
        }
        let args = args.to_string();
        let run_id = runs::start_new(&conn, job.name(), &args).ok()?;
        runs::finish(&conn, &run_id, Err((text, code))).ok()?;
        crate::pipeline::set_last_run_id(Some(&run_id));
        tracing::error!(target: crate::pipeline::RUN_OUTCOME, run_id = %run_id, "run failed: {text}");
        Some(run_id)
    }
}

impl Executor for PipelineExecutor<'_> {
    fn lock_free(&self, job: Job) -> bool {
        // Looked at without taking it: taking it, even for a moment, would turn away a
        // run starting then (a manual run, a backfill's next date).
        !crate::schedule::lock::RunLock::held(&self.home, job.name())
    }

    fn gave_up(&self, job: Job, date: NaiveDate, a: &Attempt) -> Option<String> {
        self.record_failed(job, &date.to_string(), &a.message, a.exit_code)
    }

    fn execute(&self, job: Job, date: NaiveDate, cancel: Arc<AtomicBool>) -> Attempt {
        let started = crate::registry::db::now();
        let ds = date.to_string();
        let result: Result<serde_json::Value> = match job {
            Job::Predict => {
                let input = self.predict_input(&ds);
                if !input.is_file() {
                    Err(ClaimsError::Usage(format!(
                        "input for {ds} {}: {}",
                        not_a_file(&input),
                        input.display()
                    )))
                } else {
                    let req = crate::pipeline::infer::PredictRequest {
                        data: input,
                        date: Some(ds.clone()),
                        sink: None,
                        replace: false,
                    };
                    crate::pipeline::infer::predict(self.cfg, &self.home, &req, None, cancel)
                        .and_then(|o| {
                            serde_json::to_value(o).map_err(|e| ClaimsError::Other(e.into()))
                        })
                }
            }
            Job::Train => {
                let data = self.train_inputs(date);
                // Every missing file at once, not one per attempt.
                let missing: Vec<String> = data
                    .iter()
                    .filter(|p| !p.is_file())
                    .map(|p| format!("{}: {}", not_a_file(p), p.display()))
                    .collect();
                match missing.is_empty() {
                    false => Err(ClaimsError::Usage(format!(
                        "training input for {ds} {}",
                        missing.join("; ")
                    ))),
                    true => {
                        let req = crate::pipeline::train::TrainRequest {
                            data,
                            ..Default::default()
                        };
                        crate::pipeline::train::train(self.cfg, &self.home, &req, None, cancel)
                            .and_then(|o| {
                                serde_json::to_value(o).map_err(|e| ClaimsError::Other(e.into()))
                            })
                    }
                }
            }
        };
        match result {
            Ok(summary) => {
                let alerts = summary["drift_alerts"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty());
                if alerts {
                    super::units::run_alert_hook(&self.cfg.hooks, &summary, &self.home);
                }
                Attempt {
                    ok: true,
                    transient: false,
                    run_id: summary["run_id"].as_str().map(str::to_string),
                    message: format!("{} {ds} succeeded", job.name()),
                    exit_code: 0,
                    result: Some(summary),
                }
            }
            Err(e) => {
                let run_id = self.failed_run(job, &ds, &started, &e);
                // A training run that failed after registering its model (the gate's
                // database write timed out, say) is not retried: a retry would register
                // the same model again under a new version.
                // Not knowing (the registry itself unreadable, as a database busy past its
                // timeout makes it) counts as registered: a missed retry pages someone
                // through the failure hook, a duplicate version does not.
                // (Asked only of a failure that would otherwise be retried.)
                let retryable = e.exit_code() == crate::error::EXIT_PIPELINE
                    && !matches!(e, ClaimsError::Registry(_));
                let registered: Option<std::result::Result<u32, ClaimsError>> = match &run_id {
                    Some(r) if job == Job::Train && retryable => Registry::open(&self.home)
                        .and_then(|reg| reg.version_of_run(r))
                        .transpose(),
                    _ => None,
                };
                let mut message = e.to_string();
                match &registered {
                    Some(Ok(v)) => message.push_str(&format!(
                        " (model v{v} was registered before the failure, so the run is not retried; `claims compare --challenger v{v}` runs its gate)"
                    )),
                    Some(Err(why)) => message.push_str(&format!(
                        " (not retried: whether it registered a model could not be read: {why}; `claims models` shows it)"
                    )),
                    None => {}
                }
                Attempt {
                    ok: false,
                    // A pipeline failure may pass on retry; a corrupt or edited registry
                    // will not.
                    transient: retryable && registered.is_none(),
                    run_id,
                    message,
                    exit_code: e.exit_code(),
                    result: None,
                }
            }
        }
    }
}
