//! The configuration sections that are plain settings (validated in `super::validate`):
//! splits, threads, registry, inference, drift, the promotion gate, the threshold rule, the
//! scheduler, hooks and the console theme.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Daily inference settings.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct InferenceConfig {
    /// IANA time zone of the business date.
    pub timezone: String,
    /// Largest share of quarantined rows before the run fails.
    pub quarantine_limit: f64,
    /// Reason codes per prediction.
    pub top_reasons: usize,
    /// Default sink URL ("" = SQLite in the home folder).
    pub sink: String,
    /// Also score with the challenger (role 'challenger').
    pub shadow: bool,
}

/// Drift thresholds.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct DriftConfig {
    /// PSI at or above which a feature is flagged as a warning.
    pub psi_warn: f64,
    /// PSI at or above which a feature raises an alert.
    pub psi_alert: f64,
    /// Days with fewer scored rows than this record PSI but raise no warning or alert
    /// (on a handful of rows every share looks shifted).
    #[serde(default = "default_drift_min_rows")]
    pub min_rows: usize,
}

fn default_drift_min_rows() -> usize {
    500
}

/// The promotion gate.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct GateConfig {
    /// "superiority": the challenger must be significantly better; "non_inferiority": it
    /// may be no worse than `non_inferiority_margin` (the 95% interval of the difference).
    pub mode: String,
    /// For "non_inferiority": how much worse on the primary metric is still acceptable.
    pub non_inferiority_margin: f64,
    /// "roc_auc" (DeLong) or "pr_auc" (bootstrap).
    pub primary_metric: String,
    /// Smallest absolute uplift of the primary metric.
    pub min_uplift: f64,
    /// Smallest uplift relative to the champion's value.
    pub min_relative_uplift: f64,
    /// Largest p-value of the uplift.
    pub max_p_value: f64,
    /// Bootstrap resamples for the confidence intervals.
    pub bootstrap_rounds: usize,
    /// Fewest claims, and fewest non-claims, the compared rows must hold for a verdict.
    pub min_class_rows: usize,
    /// Guard metrics (lower is better) and how much worse the challenger may be.
    pub max_worse: BTreeMap<String, f64>,
}

/// How the operating threshold is chosen (on the validation split).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdConfig {
    /// "f1" or "cost".
    pub rule: String,
    /// Cost of a missed claim.
    pub cost_false_negative: f64,
    /// Cost of reviewing an application that makes no claim.
    pub cost_false_positive: f64,
}

/// The built-in scheduler.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Time zone of the cron expressions.
    pub timezone: String,
    /// "none", "latest" or "all".
    pub catch_up: String,
    /// Most missed runs caught up per job.
    pub max_catch_up: usize,
    /// Retries of a transient failure.
    pub retries: u32,
    /// First retry delay; doubles each time.
    pub retry_backoff_seconds: u64,
    /// How long a scheduled run waits for another run of its job (a manual run, a
    /// backfill) to release the home's lock before the date counts as failed.
    pub lock_wait_minutes: u64,
    /// Monthly training.
    pub train: TrainJob,
    /// Daily inference.
    pub predict: PredictJob,
}

/// The training job.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct TrainJob {
    /// Cron expression.
    pub cron: String,
    /// Input files ({date} the run's date, {month} the last whole month before it).
    pub data: Vec<String>,
}

/// The inference job.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct PredictJob {
    /// Cron expression.
    pub cron: String,
    /// Input file pattern ({date} substituted).
    pub input_pattern: String,
    /// The business date a run scores, in days from its scheduled instant's local date:
    /// 0 the same day, -1 the day before (a 02:00 run scoring yesterday's applications).
    #[serde(default)]
    pub date_offset_days: i64,
}

/// Commands run on events, with the run's JSON summary on stdin.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct HooksConfig {
    /// After a failed run.
    pub on_failure: String,
    /// After a run that raised a drift alert.
    pub on_alert: String,
    /// Seconds a hook may run before it (and every process it started) is killed.
    pub timeout_s: u64,
}

impl HooksConfig {
    /// How long a hook may run.
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout_s)
    }
}

/// Console actions whose single-character key can be rebound in `[tui.keys]`, with their
/// default key (validated with the config; the console applies them).
pub const TUI_BINDABLE: [(&str, char); 11] = [
    ("quit", 'q'),
    ("help", '?'),
    ("rerun", 'r'),
    ("train", 't'),
    ("promote", 'p'),
    ("rollback", 'b'),
    ("compare", 'c'),
    ("filter", '/'),
    ("follow", 'f'),
    ("wrap", 'w'),
    ("level", 'L'),
];

/// Console keys that cannot be rebound, so no action may take them: panes 1-6 and moving.
pub const TUI_FIXED_KEYS: [char; 10] = ['1', '2', '3', '4', '5', '6', 'j', 'k', 'h', 'l'];

/// The console's theme.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct TuiConfig {
    /// Accent colour (titles, selected tab).
    pub accent: String,
    /// Alert colour.
    pub alert: String,
    /// Key overrides: action name -> key (one character), e.g. `train = "T"`.
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
}

/// XGBoost threading layout.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Threads {
    /// Threads per XGBoost fit (never left to OpenMP's default).
    pub per_fit: usize,
    /// Fits run side by side in the search; 0 = one per available core.
    pub parallel_fits: usize,
}

impl Threads {
    /// The number of fits to run side by side.
    pub fn fits(&self) -> usize {
        if self.parallel_fits == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            self.parallel_fits
        }
    }
}

/// Registry behaviour.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// Promote a new model to champion without a manual step.
    pub auto_promote: bool,
}

/// Stratified split fractions.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SplitConfig {
    /// Share of rows held out for early stopping and threshold choice.
    pub validation: f64,
    /// Share of rows held out for the final, once-only evaluation.
    pub test: f64,
}
