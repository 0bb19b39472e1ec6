//! Configuration: the embedded `config/default.toml`, overlaid key by key with the user's
//! config file and `--config`, then validated into a [`Config`] whose values are known good
//! (raw TOML in, checked types out, as ripgrep's LowArgs -> HiArgs).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

mod sections;
mod validate;
mod validate_gate;
mod validate_schema;
pub use sections::*;
pub use validate::is_colour;
use validate::validate;

use crate::error::{ClaimsError, Result};

/// The default configuration, compiled into the binary.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSearch {
    iterations: usize,
    folds: usize,
    early_stopping_rounds: usize,
    metric: String,
    strategy: String,
    halving_factor: i64,
    sample_rung_min_rows: usize,
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
    /// XGBoost eval metric watched by early stopping (candidates are ranked by mean fold
    /// ROC AUC).
    pub metric: String,
    /// How fits are spread over candidates and folds.
    pub strategy: SearchStrategy,
    /// Under halving: the first rung runs every candidate on a stratified `1/factor` of
    /// fold 1's fit rows when that share has at least this many rows (0: never).
    pub sample_rung_min_rows: usize,
    /// The space candidates are drawn from.
    pub space: SearchSpace,
}

/// How the search spends its fits over candidates and folds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SearchStrategy {
    /// Every candidate on every fold.
    Full,
    /// Successive halving over folds: fold r is run by the survivors of fold r - 1; after
    /// each fold but the last the best `1/factor` (at least 2) go on.
    Halving {
        /// Keep `ceil(n / factor)` of `n` candidates after each fold.
        factor: usize,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImbalance {
    strategy: String,
    scale_pos_weight: toml::Value,
    undersample_ratio: f64,
    correct_probabilities: bool,
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
                "--imbalance '{s}': expected none, weight, weight:W or undersample[:R] (W and R numbers from 0.001 to 1000000)"
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
            Imbalance::Weight(Some(w)) | Imbalance::Undersample(w) if !Self::in_range(w) => Err(
                ClaimsError::Usage(format!("--imbalance '{s}': {}", Self::RANGE_TEXT)),
            ),
            o => Ok(o),
        }
    }

    /// Whether `w` is a weight or undersampling ratio worth trying: far outside this a
    /// model collapses (a weight of 1e-300 scored every test row a claim) or a ratio keeps
    /// no row. Small weights inside it can collapse a model too; `train` warns then.
    pub fn in_range(w: f64) -> bool {
        (1e-3..=1e6).contains(&w)
    }

    /// What [`Imbalance::in_range`] allows, for messages.
    pub const RANGE_TEXT: &'static str =
        "the weight or ratio must be a number from 0.001 to 1000000";

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
    /// `imbalance.undersample_ratio` (validated whatever the strategy), for
    /// `--imbalance undersample` given without a ratio.
    pub undersample_ratio: f64,
    /// `imbalance.correct_probabilities`: take the odds that undersampling added back out
    /// of the model's scores.
    pub correct_probabilities: bool,
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
    /// The `--config` file laid over the defaults, if any (absolute), so that generated
    /// cron lines and systemd units run with the same configuration.
    #[serde(skip)]
    pub extra_file: Option<std::path::PathBuf>,
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

/// Features and the drop list across layers (the built-in default first, then each file):
/// the latest word on a name wins. A name in the final `schema.drop` that an earlier layer
/// declared as a feature is no feature any more (the column is then optional and ignored,
/// as the default's own dropped columns are); one that a later layer declared again is
/// taken off the drop list. A file that declares a name and drops it too is left to be
/// refused (named twice): that is a slip within one file.
fn resolve_drops(merged: &mut toml::Table, layers: &[&toml::Table]) {
    let schema_of = |t: &toml::Table| t.get("schema").and_then(toml::Value::as_table).cloned();
    let drop_at = layers
        .iter()
        .rposition(|l| schema_of(l).is_some_and(|s| s.contains_key("drop")));
    let Some(drop_at) = drop_at else {
        return;
    };
    let declared_at = |name: &str| {
        layers.iter().rposition(|l| {
            schema_of(l).is_some_and(|s| {
                ["numeric", "categorical"].iter().any(|k| {
                    s.get(*k)
                        .and_then(toml::Value::as_table)
                        .is_some_and(|t| t.contains_key(name))
                })
            })
        })
    };
    let Some(toml::Value::Table(schema)) = merged.get_mut("schema") else {
        return;
    };
    let names: Vec<String> = schema
        .get("drop")
        .and_then(toml::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut keep_in_drop = vec![];
    for name in names {
        match declared_at(&name) {
            Some(at) if at < drop_at => {
                for kind in ["numeric", "categorical"] {
                    if let Some(toml::Value::Table(t)) = schema.get_mut(kind) {
                        t.remove(&name);
                    }
                }
                keep_in_drop.push(name);
            }
            Some(at) if at > drop_at => {}
            _ => keep_in_drop.push(name),
        }
    }
    schema.insert(
        "drop".into(),
        toml::Value::Array(keep_in_drop.into_iter().map(toml::Value::String).collect()),
    );
}

/// Whether `table` sets the dotted `key` (or a section of it: "schema" for
/// "schema.numeric[3]"); a key path with a list index stops at the list.
fn has_key(table: &toml::Table, key: &str) -> bool {
    let mut at = table;
    for part in key.split('.') {
        let part = part.split('[').next().unwrap_or(part);
        match at.get(part) {
            Some(toml::Value::Table(t)) => at = t,
            Some(_) => return true,
            None => return false,
        }
    }
    !key.is_empty()
}

impl Config {
    /// The built-in defaults alone (no user or extra file).
    pub fn built_in() -> Result<Config> {
        Self::from_table(
            parse_table(DEFAULT_TOML, "built-in default config")?,
            &|_| "built-in default config".to_string(),
        )
    }

    /// Loads the default, then the user's file (if present), then `extra` (must exist).
    pub fn load(extra: Option<&Path>) -> Result<Config> {
        let mut files = vec![];
        if let Some(p) = user_config_path() {
            if p.is_dir() {
                return Err(ClaimsError::Config(format!(
                    "user config '{}' is a folder, not a TOML file (move it away; `claims config-path` prints where the file is read from)",
                    p.display()
                )));
            }
            if p.is_file() {
                files.push(p);
            }
        }
        if let Some(p) = extra {
            if p.is_dir() {
                return Err(ClaimsError::Config(format!(
                    "--config '{}' is a folder; give the TOML file in it",
                    p.display()
                )));
            }
            if !p.is_file() {
                return Err(ClaimsError::Config(format!(
                    "--config '{}': no such file",
                    p.display()
                )));
            }
            files.push(p.to_path_buf());
        }
        let default = parse_table(DEFAULT_TOML, "built-in default config")?;
        let mut table = default.clone();
        let mut layers = vec![];
        for f in &files {
            let not_utf8 = || {
                ClaimsError::Config(format!(
                    "config '{}' is not UTF-8 text (saved as UTF-16 or in another encoding?); save it as UTF-8",
                    f.display()
                ))
            };
            let text = std::fs::read_to_string(f).map_err(|e| match e.kind() {
                // Saved as UTF-16 or in a legacy code page: the file's fault (exit 2).
                std::io::ErrorKind::InvalidData => not_utf8(),
                _ => ClaimsError::io(f, e),
            })?;
            // UTF-16 without a byte-order mark reads as UTF-8 with a NUL after each ASCII
            // letter; TOML allows no NUL anywhere.
            if text.contains('\0') {
                return Err(not_utf8());
            }
            let origin = f.display().to_string();
            let layer = parse_table(&text, &origin)?;
            merge(&mut table, layer.clone());
            layers.push((origin, layer));
        }
        let tables: Vec<&toml::Table> = std::iter::once(&default)
            .chain(layers.iter().map(|(_, t)| t))
            .collect();
        resolve_drops(&mut table, &tables);
        // An error names the file that set the key (the last one that has it); one about a
        // key no file set (a check across keys) names the last file read, as before.
        let origin_of = |key: &str| -> String {
            layers
                .iter()
                .rev()
                .find(|(_, t)| has_key(t, key))
                .or(layers.last())
                .map_or_else(|| "built-in default config".to_string(), |(o, _)| o.clone())
        };
        let mut cfg = Self::from_table(table, &origin_of)?;
        cfg.extra_file = extra.map(crate::pipeline::absolute);
        Ok(cfg)
    }

    /// Validates a merged table; `origin_of(key)` names the file that set a key, for
    /// messages.
    pub fn from_table(table: toml::Table, origin_of: &dyn Fn(&str) -> String) -> Result<Config> {
        let merged_toml = toml::to_string(&table).unwrap_or_default();
        let raw: Raw =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                let path = e.path().to_string();
                let msg = e.into_inner().message().to_string();
                ClaimsError::Config(format!("{}: key '{path}': {msg}", origin_of(&path)))
            })?;
        // Value checks name the file too, as type errors do.
        validate(raw, merged_toml).map_err(|e| match e {
            ClaimsError::Config(m) => {
                let key = m
                    .split_once("key '")
                    .and_then(|(_, rest)| rest.split_once('\''))
                    .map_or("", |(k, _)| k);
                ClaimsError::Config(format!("{}: {m}", origin_of(key)))
            }
            e => e,
        })
    }

    /// Parses and validates one TOML text laid over the default (for tests and tools).
    pub fn from_overlay(text: &str) -> Result<Config> {
        let default = parse_table(DEFAULT_TOML, "built-in default config")?;
        let mut table = default.clone();
        let layer = parse_table(text, "overlay")?;
        merge(&mut table, layer.clone());
        resolve_drops(&mut table, &[&default, &layer]);
        Self::from_table(table, &|_| "overlay".to_string())
    }
}

#[cfg(test)]
#[path = "mod_tests.rs"]
mod tests;
