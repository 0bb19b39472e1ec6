//! Configuration: the embedded `config/default.toml`, overlaid key by key with the user's
//! config file and `--config`, then validated into a [`Config`] whose values are known good
//! (raw TOML in, checked types out, as ripgrep's LowArgs -> HiArgs).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{ClaimsError, Result};

/// The default configuration, compiled into the binary.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    seed: u64,
    schema: RawSchema,
    split: SplitConfig,
    search: RawSearch,
    imbalance: RawImbalance,
    threads: Threads,
    registry: RegistryConfig,
    inference: InferenceConfig,
    drift: DriftConfig,
    gate: GateConfig,
    threshold: ThresholdConfig,
    schedule: ScheduleConfig,
    hooks: HooksConfig,
    tui: TuiConfig,
}

/// The console's theme.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct TuiConfig {
    /// Accent colour (titles, selected tab).
    pub accent: String,
    /// Alert colour.
    pub alert: String,
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
    /// Input files ({date}, {month} substituted).
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
}

/// Commands run on events, with the run's JSON summary on stdin.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct HooksConfig {
    /// After a failed run.
    pub on_failure: String,
    /// After a run that raised a drift alert.
    pub on_alert: String,
}

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

/// The promotion gate.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct GateConfig {
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

/// Drift thresholds.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct DriftConfig {
    /// PSI at or above which a feature is flagged as a warning.
    pub psi_warn: f64,
    /// PSI at or above which a feature raises an alert.
    pub psi_alert: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchema {
    target: String,
    id_column: Option<String>,
    #[serde(default)]
    drop: Vec<String>,
    numeric: BTreeMap<String, NumericRange>,
    categorical: BTreeMap<String, Vec<toml::Value>>,
}

/// Allowed range of a numeric column.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NumericRange {
    /// Smallest allowed value (inclusive).
    pub min: f64,
    /// Largest allowed value (inclusive).
    pub max: f64,
    /// Whether a missing value is allowed.
    #[serde(default)]
    pub nullable: bool,
}

/// The data contract: which columns a file holds and what their values may be.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Schema {
    /// The 0/1 label column.
    pub target: String,
    /// The id column, if the data has one.
    pub id_column: Option<String>,
    /// Columns read and ignored.
    pub drop: Vec<String>,
    /// Numeric feature columns with their ranges, in feature order.
    pub numeric: Vec<(String, NumericRange)>,
    /// Categorical feature columns with their allowed values, in feature order.
    pub categorical: Vec<(String, Vec<String>)>,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSearch {
    iterations: usize,
    folds: usize,
    early_stopping_rounds: usize,
    metric: String,
    space: RawSpace,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpace {
    n_estimators: RawRange,
    learning_rate: RawRange,
    subsample: RawRange,
    max_depth: RawRange,
    colsample_bytree: RawRange,
    min_child_weight: RawRange,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRange {
    Range { min: f64, max: f64 },
    Choice(Vec<f64>),
}

/// Where a hyperparameter's values are drawn from.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub enum Range {
    /// Uniform over `[min, max]` (integers) or `[min, max)` (floats).
    Uniform {
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
    },
    /// One of these values, equally likely.
    Choice(Vec<f64>),
}

/// The random-search space (the notebook's parameters).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SearchSpace {
    /// Maximum boosting rounds (early stopping may use fewer).
    pub n_estimators: Range,
    /// Shrinkage (XGBoost `eta`).
    pub learning_rate: Range,
    /// Row subsampling per tree.
    pub subsample: Range,
    /// Maximum tree depth.
    pub max_depth: Range,
    /// Column subsampling per tree.
    pub colsample_bytree: Range,
    /// Minimum hessian in a leaf.
    pub min_child_weight: Range,
}

/// Random search with stratified k-fold cross-validation.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SearchConfig {
    /// Number of candidates drawn.
    pub iterations: usize,
    /// Number of stratified folds.
    pub folds: usize,
    /// Stop after this many rounds without improvement on the held-out part.
    pub early_stopping_rounds: usize,
    /// XGBoost eval metric watched by early stopping and used to rank candidates.
    pub metric: String,
    /// The space candidates are drawn from.
    pub space: SearchSpace,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImbalance {
    strategy: String,
    scale_pos_weight: toml::Value,
    undersample_ratio: f64,
}

/// How class imbalance is handled in training.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Imbalance {
    /// Train on the data as it is.
    None,
    /// `scale_pos_weight`: `None` = negatives/positives of the training split.
    Weight(Option<f64>),
    /// Drop majority rows of the training split until majority:minority = ratio:1.
    Undersample(f64),
}

impl Imbalance {
    /// Parses the CLI form: `none`, `weight`, `weight:W`, `undersample:R`.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || {
            ClaimsError::Usage(format!(
                "--imbalance '{s}': expected none, weight, weight:W or undersample:R (R > 0)"
            ))
        };
        let (head, arg) = match s.split_once(':') {
            Some((h, a)) => (h, Some(a.parse::<f64>().map_err(|_| bad())?)),
            None => (s, None),
        };
        let out = match (head, arg) {
            ("none", None) => Imbalance::None,
            ("weight", w) => Imbalance::Weight(w),
            ("undersample", Some(r)) => Imbalance::Undersample(r),
            _ => return Err(bad()),
        };
        match out {
            Imbalance::Weight(Some(w)) | Imbalance::Undersample(w)
                if !(w > 0.0 && w.is_finite()) =>
            {
                Err(bad())
            }
            o => Ok(o),
        }
    }

    /// The CLI form of this strategy.
    pub fn label(&self) -> String {
        match self {
            Imbalance::None => "none".into(),
            Imbalance::Weight(None) => "weight".into(),
            Imbalance::Weight(Some(w)) => format!("weight:{w}"),
            Imbalance::Undersample(r) => format!("undersample:{r}"),
        }
    }
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

/// The validated configuration.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Config {
    /// Seed for splits, sampling and search.
    pub seed: u64,
    /// The data contract.
    pub schema: Schema,
    /// Split fractions.
    pub split: SplitConfig,
    /// Random search settings.
    pub search: SearchConfig,
    /// Class-imbalance strategy.
    pub imbalance: Imbalance,
    /// Threading layout.
    pub threads: Threads,
    /// Registry behaviour.
    pub registry: RegistryConfig,
    /// Daily inference.
    pub inference: InferenceConfig,
    /// Drift thresholds.
    pub drift: DriftConfig,
    /// Promotion gate.
    pub gate: GateConfig,
    /// Threshold rule.
    pub threshold: ThresholdConfig,
    /// Scheduler.
    pub schedule: ScheduleConfig,
    /// Hooks.
    pub hooks: HooksConfig,
    /// Console theme.
    pub tui: TuiConfig,
    /// The merged TOML this came from (recorded in each model's manifest).
    #[serde(skip)]
    pub merged_toml: String,
}

/// The user's config file, if the platform has a config folder.
pub fn user_config_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "claims-ops").map(|d| d.config_dir().join("config.toml"))
}

fn parse_table(text: &str, origin: &str) -> Result<toml::Table> {
    text.parse::<toml::Table>()
        .map_err(|e| ClaimsError::Config(format!("{origin}: invalid TOML: {e}")))
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

impl Config {
    /// Loads the default, then the user's file (if present), then `extra` (must exist).
    pub fn load(extra: Option<&Path>) -> Result<Config> {
        let mut files = vec![];
        if let Some(p) = user_config_path().filter(|p| p.is_file()) {
            files.push(p);
        }
        if let Some(p) = extra {
            if !p.is_file() {
                return Err(ClaimsError::Config(format!(
                    "--config '{}': no such file",
                    p.display()
                )));
            }
            files.push(p.to_path_buf());
        }
        let mut table = parse_table(DEFAULT_TOML, "built-in default config")?;
        let mut origin = "built-in default config".to_string();
        for f in &files {
            let text = std::fs::read_to_string(f).map_err(|e| ClaimsError::io(f, e))?;
            origin = f.display().to_string();
            merge(&mut table, parse_table(&text, &origin)?);
        }
        Self::from_table(table, &origin)
    }

    /// Validates a merged table; `origin` names the last file for messages.
    pub fn from_table(table: toml::Table, origin: &str) -> Result<Config> {
        let merged_toml = toml::to_string(&table).unwrap_or_default();
        let raw: Raw =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                let path = e.path().to_string();
                let msg = e.into_inner().message().to_string();
                ClaimsError::Config(format!("{origin}: key '{path}': {msg}"))
            })?;
        validate(raw, merged_toml)
    }

    /// Parses and validates one TOML text laid over the default (for tests and tools).
    pub fn from_overlay(text: &str) -> Result<Config> {
        let mut table = parse_table(DEFAULT_TOML, "built-in default config")?;
        merge(&mut table, parse_table(text, "overlay")?);
        Self::from_table(table, "overlay")
    }
}

fn bad(key: &str, value: impl std::fmt::Display, allowed: &str) -> ClaimsError {
    ClaimsError::Config(format!("key '{key}' = '{value}': {allowed}"))
}

fn range(key: &str, raw: RawRange, lo: f64, hi: f64, integer: bool) -> Result<Range> {
    let allowed = format!(
        "expected {{ min, max }} or a list of {} within [{lo}, {hi}]",
        if integer { "integers" } else { "numbers" }
    );
    let ok = |v: f64| v >= lo && v <= hi && (!integer || v.fract() == 0.0);
    match raw {
        RawRange::Range { min, max } => {
            if !ok(min) {
                return Err(bad(&format!("{key}.min"), min, &allowed));
            }
            if !ok(max) || max < min {
                return Err(bad(
                    &format!("{key}.max"),
                    max,
                    &format!("{allowed}, and >= min"),
                ));
            }
            Ok(Range::Uniform { min, max })
        }
        RawRange::Choice(v) => {
            if v.is_empty() {
                return Err(bad(key, "[]", &allowed));
            }
            if let Some(x) = v.iter().find(|x| !ok(**x)) {
                return Err(bad(key, x, &allowed));
            }
            Ok(Range::Choice(v))
        }
    }
}

fn validate(raw: Raw, merged_toml: String) -> Result<Config> {
    let s = &raw.split;
    if !(s.validation > 0.0 && s.validation < 0.5) {
        return Err(bad("split.validation", s.validation, "must be in (0, 0.5)"));
    }
    if !(s.test > 0.0 && s.test < 0.5) {
        return Err(bad("split.test", s.test, "must be in (0, 0.5)"));
    }
    if s.validation + s.test >= 0.8 {
        return Err(bad(
            "split.test",
            s.test,
            "validation + test must leave at least 20% to train on",
        ));
    }
    let rs = raw.search;
    if rs.iterations == 0 || rs.iterations > 100_000 {
        return Err(bad(
            "search.iterations",
            rs.iterations,
            "must be in [1, 100000]",
        ));
    }
    if !(2..=20).contains(&rs.folds) {
        return Err(bad("search.folds", rs.folds, "must be in [2, 20]"));
    }
    if rs.early_stopping_rounds == 0 {
        return Err(bad("search.early_stopping_rounds", 0, "must be at least 1"));
    }
    if !["logloss", "auc", "aucpr"].contains(&rs.metric.as_str()) {
        return Err(bad(
            "search.metric",
            &rs.metric,
            "expected one of logloss, auc, aucpr",
        ));
    }
    let sp = rs.space;
    let space = SearchSpace {
        n_estimators: range(
            "search.space.n_estimators",
            sp.n_estimators,
            1.0,
            10_000.0,
            true,
        )?,
        learning_rate: range(
            "search.space.learning_rate",
            sp.learning_rate,
            1e-6,
            1.0,
            false,
        )?,
        subsample: range("search.space.subsample", sp.subsample, 1e-6, 1.0, false)?,
        max_depth: range("search.space.max_depth", sp.max_depth, 1.0, 20.0, true)?,
        colsample_bytree: range(
            "search.space.colsample_bytree",
            sp.colsample_bytree,
            1e-6,
            1.0,
            false,
        )?,
        min_child_weight: range(
            "search.space.min_child_weight",
            sp.min_child_weight,
            0.0,
            1e6,
            false,
        )?,
    };
    let search = SearchConfig {
        iterations: rs.iterations,
        folds: rs.folds,
        early_stopping_rounds: rs.early_stopping_rounds,
        metric: rs.metric,
        space,
    };
    let ri = raw.imbalance;
    let imbalance = match ri.strategy.as_str() {
        "none" => Imbalance::None,
        "weight" => match &ri.scale_pos_weight {
            toml::Value::String(s) if s == "auto" => Imbalance::Weight(None),
            v => match v.as_float().or_else(|| v.as_integer().map(|i| i as f64)) {
                Some(w) if w > 0.0 && w.is_finite() => Imbalance::Weight(Some(w)),
                _ => {
                    return Err(bad(
                        "imbalance.scale_pos_weight",
                        v,
                        "expected \"auto\" or a number > 0",
                    ));
                }
            },
        },
        "undersample" => {
            let r = ri.undersample_ratio;
            if !(r > 0.0 && r.is_finite()) {
                return Err(bad(
                    "imbalance.undersample_ratio",
                    r,
                    "must be a number > 0",
                ));
            }
            Imbalance::Undersample(r)
        }
        other => {
            return Err(bad(
                "imbalance.strategy",
                other,
                "expected one of none, weight, undersample",
            ));
        }
    };
    if raw.threads.per_fit == 0 || raw.threads.per_fit > 256 {
        return Err(bad(
            "threads.per_fit",
            raw.threads.per_fit,
            "must be in [1, 256]",
        ));
    }
    let schema = validate_schema(raw.schema)?;
    let inf = &raw.inference;
    if inf.timezone.parse::<chrono_tz::Tz>().is_err() {
        return Err(bad(
            "inference.timezone",
            &inf.timezone,
            "expected an IANA time zone such as Europe/London",
        ));
    }
    if !(0.0..=1.0).contains(&inf.quarantine_limit) {
        return Err(bad(
            "inference.quarantine_limit",
            inf.quarantine_limit,
            "must be in [0, 1]",
        ));
    }
    if inf.top_reasons > 20 {
        return Err(bad(
            "inference.top_reasons",
            inf.top_reasons,
            "must be in [0, 20]",
        ));
    }
    if !(inf.sink.is_empty()
        || inf.sink.starts_with("sqlite:")
        || inf.sink.starts_with("postgres://")
        || inf.sink.starts_with("postgresql://"))
    {
        return Err(bad(
            "inference.sink",
            &inf.sink,
            "expected \"\", sqlite:PATH or postgres://...",
        ));
    }
    let g = &raw.gate;
    if !["roc_auc", "pr_auc"].contains(&g.primary_metric.as_str()) {
        return Err(bad(
            "gate.primary_metric",
            &g.primary_metric,
            "expected roc_auc or pr_auc",
        ));
    }
    if !(0.0..=1.0).contains(&g.max_p_value) {
        return Err(bad("gate.max_p_value", g.max_p_value, "must be in [0, 1]"));
    }
    if !(100..=100_000).contains(&g.bootstrap_rounds) {
        return Err(bad(
            "gate.bootstrap_rounds",
            g.bootstrap_rounds,
            "must be in [100, 100000]",
        ));
    }
    for (k, v) in &g.max_worse {
        if !["log_loss", "brier", "ece"].contains(&k.as_str()) {
            return Err(bad(
                &format!("gate.max_worse.{k}"),
                v,
                "guard metrics are log_loss, brier, ece",
            ));
        }
        if v.is_nan() || *v < 0.0 {
            return Err(bad(&format!("gate.max_worse.{k}"), v, "must be >= 0"));
        }
    }
    let t = &raw.threshold;
    if !["f1", "cost"].contains(&t.rule.as_str()) {
        return Err(bad("threshold.rule", &t.rule, "expected f1 or cost"));
    }
    if !(t.cost_false_negative > 0.0 && t.cost_false_positive > 0.0) {
        return Err(bad(
            "threshold.cost_false_negative",
            t.cost_false_negative,
            "both costs must be > 0",
        ));
    }
    let sc = &raw.schedule;
    if sc.timezone.parse::<chrono_tz::Tz>().is_err() {
        return Err(bad(
            "schedule.timezone",
            &sc.timezone,
            "expected an IANA time zone such as Europe/London",
        ));
    }
    if !["none", "latest", "all"].contains(&sc.catch_up.as_str()) {
        return Err(bad(
            "schedule.catch_up",
            &sc.catch_up,
            "expected none, latest or all",
        ));
    }
    for (key, expr) in [
        ("schedule.train.cron", &sc.train.cron),
        ("schedule.predict.cron", &sc.predict.cron),
    ] {
        if let Err(e) = expr.parse::<croner::Cron>() {
            return Err(bad(key, expr, &format!("not a cron expression ({e})")));
        }
    }
    if !sc.predict.input_pattern.contains("{date}") {
        return Err(bad(
            "schedule.predict.input_pattern",
            &sc.predict.input_pattern,
            "must contain {date}",
        ));
    }
    let d = &raw.drift;
    if !(d.psi_warn > 0.0 && d.psi_alert >= d.psi_warn) {
        return Err(bad(
            "drift.psi_alert",
            d.psi_alert,
            "need 0 < psi_warn <= psi_alert",
        ));
    }
    Ok(Config {
        seed: raw.seed,
        schema,
        split: raw.split,
        search,
        imbalance,
        threads: raw.threads,
        registry: raw.registry,
        inference: raw.inference,
        drift: raw.drift,
        gate: raw.gate,
        threshold: raw.threshold,
        schedule: raw.schedule,
        hooks: raw.hooks,
        tui: raw.tui,
        merged_toml,
    })
}

fn validate_schema(rs: RawSchema) -> Result<Schema> {
    if rs.target.trim().is_empty() {
        return Err(bad("schema.target", "", "must name the label column"));
    }
    let mut seen = std::collections::HashSet::new();
    let mut check_name = |key: &str, name: &str| -> Result<()> {
        if !seen.insert(name.to_string()) {
            return Err(bad(key, name, "column named twice in the schema"));
        }
        Ok(())
    };
    check_name("schema.target", &rs.target)?;
    if let Some(id) = &rs.id_column {
        check_name("schema.id_column", id)?;
    }
    for d in &rs.drop {
        check_name("schema.drop", d)?;
    }
    let mut numeric = vec![];
    for (name, r) in rs.numeric {
        check_name("schema.numeric", &name)?;
        if !(r.min.is_finite() && r.max.is_finite() && r.min <= r.max) {
            return Err(bad(
                &format!("schema.numeric.{name}"),
                format!("{}..{}", r.min, r.max),
                "min <= max, both finite",
            ));
        }
        numeric.push((name, r));
    }
    let mut categorical = vec![];
    for (name, values) in rs.categorical {
        check_name("schema.categorical", &name)?;
        let mut out = vec![];
        for v in values {
            match v {
                toml::Value::String(s) => out.push(s),
                toml::Value::Integer(i) => out.push(i.to_string()),
                other => {
                    return Err(bad(
                        &format!("schema.categorical.{name}"),
                        other,
                        "values must be strings or integers",
                    ));
                }
            }
        }
        if out.is_empty() {
            return Err(bad(
                &format!("schema.categorical.{name}"),
                "[]",
                "list at least one allowed value",
            ));
        }
        categorical.push((name, out));
    }
    if numeric.is_empty() && categorical.is_empty() {
        return Err(bad(
            "schema",
            "",
            "declare at least one numeric or categorical feature",
        ));
    }
    Ok(Schema {
        target: rs.target,
        id_column: rs.id_column,
        drop: rs.drop,
        numeric,
        categorical,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        let c = Config::from_overlay("").unwrap();
        assert_eq!(c.schema.categorical.len(), 20);
        assert_eq!(c.schema.numeric.len(), 16);
        assert_eq!(c.search.early_stopping_rounds, 15);
        assert_eq!(c.imbalance, Imbalance::None);
    }

    #[test]
    fn bad_value_names_key_value_and_allowed() {
        let e = Config::from_overlay("[search.space]\nlearning_rate = { min = 0.1, max = 1.5 }")
            .unwrap_err()
            .to_string();
        assert!(e.contains("search.space.learning_rate.max"), "{e}");
        assert!(e.contains("'1.5'"), "{e}");
        let e = Config::from_overlay("[imbalance]\nstrategy = \"smote\"")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("imbalance.strategy") && e.contains("smote") && e.contains("undersample"),
            "{e}"
        );
        let e = Config::from_overlay("[search]\nfoldz = 3")
            .unwrap_err()
            .to_string();
        assert!(e.contains("foldz"), "{e}");
    }

    #[test]
    fn imbalance_cli_forms() {
        assert_eq!(Imbalance::parse("none").unwrap(), Imbalance::None);
        assert_eq!(Imbalance::parse("weight").unwrap(), Imbalance::Weight(None));
        assert_eq!(
            Imbalance::parse("weight:4").unwrap(),
            Imbalance::Weight(Some(4.0))
        );
        assert_eq!(
            Imbalance::parse("undersample:2.5").unwrap(),
            Imbalance::Undersample(2.5)
        );
        for bad in ["undersample", "undersample:-1", "smote", "weight:x"] {
            assert!(Imbalance::parse(bad).is_err(), "{bad}");
        }
    }
}
