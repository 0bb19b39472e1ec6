//! What a training run is asked for and what it gives back (the CLI, the console and the
//! scheduler build the one and print the other).

use std::path::PathBuf;

use serde::Serialize;

use super::gate::GateSummary;
use crate::config::Imbalance;
use crate::eval::Evaluation;
use crate::model::params::Hyperparams;
use crate::model::search::SearchSummary;

/// What to train on and how; `None` fields take the config's value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct TrainRequest {
    /// Labelled input files (historical plus the month's new data).
    pub data: Vec<PathBuf>,
    /// Search candidates.
    pub search_iters: Option<usize>,
    /// CV folds.
    pub folds: Option<usize>,
    /// Imbalance strategy.
    pub imbalance: Option<Imbalance>,
    /// Seed.
    pub seed: Option<u64>,
}

/// The result of a successful training run.
#[derive(Debug, Clone, Serialize)]
pub struct TrainOutcome {
    /// Run id.
    pub run_id: String,
    /// Registered version.
    pub model_version: u32,
    /// "champion" or "challenger".
    pub role: String,
    /// Where the artifacts went.
    pub model_dir: String,
    /// Test-split metrics (the test split is scored once, here).
    pub test: Evaluation,
    /// Validation-split ROC AUC of the final model.
    pub validation_roc_auc: f64,
    /// Mean CV ROC AUC of the chosen candidate (over all folds).
    pub cv_roc_auc: f64,
    /// How the search spent its fits.
    pub search: SearchSummary,
    /// The chosen hyperparameters.
    pub params: Hyperparams,
    /// Boosting rounds kept after early stopping.
    pub rounds: usize,
    /// Boosting rounds run before early stopping (or the cap) ended the final fit.
    pub rounds_run: usize,
    /// Operating threshold.
    pub threshold: f64,
    /// How the threshold was chosen, in words.
    pub threshold_rule: String,
    /// Imbalance strategy used.
    pub imbalance: String,
    /// scale_pos_weight sent, if any.
    pub scale_pos_weight: Option<f64>,
    /// Rows read from the files, before the contract check.
    pub rows_read: usize,
    /// Rows in train/validation/test (train after undersampling).
    pub split_rows: [usize; 3],
    /// Top features by gain.
    pub top_features: Vec<(String, f32)>,
    /// The promotion gate's verdict, when a champion existed.
    pub gate: Option<GateSummary>,
    /// The challenger this version replaced (it keeps no alias; `claims promote` still
    /// takes it).
    pub replaced_challenger: Option<u32>,
    /// What to check before promoting it (a test AUC close to chance, a threshold that flags
    /// nearly everyone or no one); empty when nothing stands out.
    pub warnings: Vec<String>,
}

/// The imbalance setting as `claims models` and the console show it: an automatic weight
/// with the value it came to (`weight:auto=5.7050`), else the setting's own label.
pub fn registered_label(imbalance: &Imbalance, spw: Option<f64>) -> String {
    match (imbalance, spw) {
        (Imbalance::Weight(None), Some(w)) => format!("weight:auto={w:.4}"),
        _ => imbalance.label(),
    }
}
