//! Preprocessing, fitted on the training split only and saved with the model: the feature
//! order, and for each categorical column the categories seen in training (their position
//! is the code XGBoost splits on). `transform` turns any [`Dataset`] into XGBoost's dense
//! row-major input; a category not seen in training becomes missing (NaN).

use serde::{Deserialize, Serialize};

use crate::data::{Dataset, MISSING_CODE};
use crate::error::{ClaimsError, Result};
use crate::model::xgb::FeatureKind;

/// One categorical column's code map.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CategoryMap {
    /// Column name.
    pub name: String,
    /// Categories seen in training; the index is the code given to XGBoost.
    pub categories: Vec<String>,
}

/// The fitted transform from typed rows to model input.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Preprocessor {
    /// Numeric columns, first in the feature order.
    pub numeric: Vec<String>,
    /// Categorical columns, after the numeric ones.
    pub categorical: Vec<CategoryMap>,
}

impl Preprocessor {
    /// The first column the model needs that `numeric` / `categorical` (a schema's or a
    /// dataset's names) lack, with its kind: checked before a run reads any rows, since
    /// the transform would only find it after.
    pub fn first_missing<'a>(
        &'a self,
        numeric: &[&str],
        categorical: &[&str],
    ) -> Option<(&'static str, &'a str)> {
        self.numeric
            .iter()
            .find(|n| !numeric.contains(&n.as_str()))
            .map(|n| ("numeric", n.as_str()))
            .or_else(|| {
                self.categorical
                    .iter()
                    .find(|m| !categorical.contains(&m.name.as_str()))
                    .map(|m| ("categorical", m.name.as_str()))
            })
    }

    /// Learns the category maps from `train` (the training split, never validation or test).
    pub fn fit(train: &Dataset) -> Preprocessor {
        let categorical = train
            .categorical_names
            .iter()
            .enumerate()
            .map(|(k, name)| {
                let mut seen = vec![false; train.categories[k].len()];
                for &c in &train.categorical[k] {
                    if c != MISSING_CODE {
                        seen[c as usize] = true;
                    }
                }
                let categories = train.categories[k]
                    .iter()
                    .zip(seen)
                    .filter(|(_, s)| *s)
                    .map(|(v, _)| v.clone())
                    .collect();
                CategoryMap {
                    name: name.clone(),
                    categories,
                }
            })
            .collect();
        Preprocessor {
            numeric: train.numeric_names.clone(),
            categorical,
        }
    }

    /// Feature names in model order.
    pub fn feature_names(&self) -> Vec<String> {
        self.numeric
            .iter()
            .cloned()
            .chain(self.categorical.iter().map(|c| c.name.clone()))
            .collect()
    }

    /// Feature kinds in model order.
    pub fn feature_kinds(&self) -> Vec<FeatureKind> {
        let mut k = vec![FeatureKind::Numeric; self.numeric.len()];
        k.extend(std::iter::repeat_n(
            FeatureKind::Categorical,
            self.categorical.len(),
        ));
        k
    }

    /// Number of features.
    pub fn width(&self) -> usize {
        self.numeric.len() + self.categorical.len()
    }

    /// Dense row-major f32 matrix of `data` (NaN = missing or unseen category).
    pub fn transform(&self, data: &Dataset) -> Result<Vec<f32>> {
        self.transform_rows(data, 0..data.len())
    }

    /// The same for the rows in `rows` only (for scoring in batches).
    pub fn transform_rows(&self, data: &Dataset, rows: std::ops::Range<usize>) -> Result<Vec<f32>> {
        let n = rows.len();
        let w = self.width();
        let mut out = vec![f32::NAN; n * w];
        for (j, name) in self.numeric.iter().enumerate() {
            let k = data
                .numeric_names
                .iter()
                .position(|c| c == name)
                .ok_or_else(|| {
                    ClaimsError::Registry(format!(
                        "the model needs numeric column '{name}', which the data lacks"
                    ))
                })?;
            for (i, v) in data.numeric[k][rows.clone()].iter().enumerate() {
                out[i * w + j] = *v as f32;
            }
        }
        for (jj, map) in self.categorical.iter().enumerate() {
            let j = self.numeric.len() + jj;
            let k = data
                .categorical_names
                .iter()
                .position(|c| *c == map.name)
                .ok_or_else(|| {
                    ClaimsError::Registry(format!(
                        "the model needs categorical column '{}', which the data lacks",
                        map.name
                    ))
                })?;
            // dataset code -> model code, resolved once per column.
            let lookup: Vec<f32> = data.categories[k]
                .iter()
                .map(|v| {
                    map.categories
                        .iter()
                        .position(|c| c == v)
                        .map_or(f32::NAN, |p| p as f32)
                })
                .collect();
            for (i, &c) in data.categorical[k][rows.clone()].iter().enumerate() {
                if c != MISSING_CODE {
                    out[i * w + j] = lookup[c as usize];
                }
            }
        }
        Ok(out)
    }
}
