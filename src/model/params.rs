//! Hyperparameters: one candidate of the search space, drawn with a seeded generator and
//! turned into exactly the XGBoost parameters we mean to send.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::config::{Range, SearchSpace};

/// One point of the search space.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Hyperparams {
    /// Maximum boosting rounds.
    pub n_estimators: usize,
    /// Shrinkage (`eta`).
    pub learning_rate: f64,
    /// Row subsampling per tree.
    pub subsample: f64,
    /// Maximum tree depth.
    pub max_depth: usize,
    /// Column subsampling per tree.
    pub colsample_bytree: f64,
    /// Minimum hessian in a leaf.
    pub min_child_weight: f64,
}

fn draw(r: &Range, rng: &mut impl Rng, integer: bool) -> f64 {
    match r {
        Range::Choice(v) => v[rng.random_range(0..v.len())],
        Range::Uniform { min, max } if integer => {
            rng.random_range(*min as i64..=*max as i64) as f64
        }
        Range::Uniform { min, max } if max > min => rng.random_range(*min..*max),
        Range::Uniform { min, .. } => *min,
    }
}

impl Hyperparams {
    /// Draws one candidate.
    pub fn sample(space: &SearchSpace, rng: &mut impl Rng) -> Self {
        Hyperparams {
            n_estimators: draw(&space.n_estimators, rng, true) as usize,
            learning_rate: draw(&space.learning_rate, rng, false),
            subsample: draw(&space.subsample, rng, false),
            max_depth: draw(&space.max_depth, rng, true) as usize,
            colsample_bytree: draw(&space.colsample_bytree, rng, false),
            min_child_weight: draw(&space.min_child_weight, rng, false),
        }
    }
}

/// Everything a fit needs besides the data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FitSettings {
    /// The hyperparameters.
    pub params: Hyperparams,
    /// `scale_pos_weight`, when the weighting strategy is on.
    pub scale_pos_weight: Option<f64>,
    /// XGBoost threads for this fit.
    pub threads: usize,
    /// Seed of XGBoost's own sampling.
    pub seed: u64,
    /// Eval metric watched by early stopping.
    pub metric: String,
    /// Rounds without improvement before stopping.
    pub early_stopping_rounds: usize,
    /// Added to every held-out margin before early stopping's log loss is taken: the
    /// log-odds undersampling added to the fitted model, which the served scores take back
    /// out (0 otherwise). So the rounds kept are the best ones for the scores served, not
    /// for the uncorrected ones. Used where the log loss is computed here ([`super::fit`]);
    /// XGBoost's own evaluation (another metric, or after a disagreement) does not take it.
    pub held_out_offset: f32,
}

/// Histogram bins per feature, sent to every booster and used to build the quantised
/// training matrices ([`super::xgb::DMatrix::quantised_from_dense`]): XGBoost refuses a
/// booster whose `max_bin` differs from its matrix's.
pub const MAX_BIN: u32 = 256;

impl FitSettings {
    /// The exact parameter list sent to the booster. No `base_score` (XGBoost 3 estimates the
    /// intercept from the training labels) and no `predictor` (removed in XGBoost 2).
    pub fn xgb_params(&self) -> Vec<(String, String)> {
        let p = &self.params;
        let mut v: Vec<(String, String)> = vec![
            ("objective".into(), "binary:logistic".into()),
            ("tree_method".into(), "hist".into()),
            ("nthread".into(), self.threads.to_string()),
            ("seed".into(), self.seed.to_string()),
            ("verbosity".into(), "1".into()),
            ("eta".into(), p.learning_rate.to_string()),
            ("max_depth".into(), p.max_depth.to_string()),
            ("subsample".into(), p.subsample.to_string()),
            ("colsample_bytree".into(), p.colsample_bytree.to_string()),
            ("min_child_weight".into(), p.min_child_weight.to_string()),
            ("eval_metric".into(), self.metric.clone()),
            ("max_bin".into(), MAX_BIN.to_string()),
        ];
        if let Some(w) = self.scale_pos_weight {
            v.push(("scale_pos_weight".into(), w.to_string()));
        }
        v
    }

    /// Whether a larger metric value is better.
    pub fn maximize(&self) -> bool {
        self.metric.starts_with("auc")
    }
}
