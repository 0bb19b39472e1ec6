//! The model: a thin safe layer over XGBoost's C API (`xgb`), hyperparameters and their
//! search space, fitting with early stopping, random search with cross-validation, and
//! [`Scorer`], the small trait inference and evaluation see a model through.

pub mod fit;
pub mod params;
mod schedule;
pub mod search;
pub mod shap;
mod trees;
pub mod xgb;

use crate::data::Dataset;
use crate::error::Result;
use crate::features::Preprocessor;

/// Anything that scores typed rows with a claim probability.
pub trait Scorer {
    /// Probability of a claim for each row of `data`.
    fn score(&self, data: &Dataset) -> Result<Vec<f64>>;
}

/// A booster together with the preprocessor it was trained behind.
pub struct TrainedModel {
    /// The fitted transform.
    pub pre: Preprocessor,
    /// The XGBoost model.
    pub booster: xgb::Booster,
}

impl TrainedModel {
    /// The model input matrix for `data`.
    pub fn matrix(&self, data: &Dataset) -> Result<xgb::DMatrix> {
        let x = self.pre.transform(data)?;
        xgb::DMatrix::from_dense(
            &x,
            data.len(),
            &self.pre.feature_names(),
            &self.pre.feature_kinds(),
        )
    }
}

impl Scorer for TrainedModel {
    fn score(&self, data: &Dataset) -> Result<Vec<f64>> {
        let m = self.matrix(data)?;
        Ok(self
            .booster
            .predict(&m)?
            .into_iter()
            .map(f64::from)
            .collect())
    }
}
