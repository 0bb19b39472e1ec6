//! The reference profile of a model's training split: quantile bin edges and shares per
//! numeric feature, category shares per categorical feature, and the score distribution.

use serde::{Deserialize, Serialize};

use crate::data::{Dataset, MISSING_CODE};

/// Bins of one numeric column.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NumericProfile {
    /// Column name.
    pub name: String,
    /// Inner bin edges (deduplicated quantiles); bin i holds values <= edges[i].
    pub edges: Vec<f64>,
    /// Share of rows per bin (edges.len() + 1 bins).
    pub shares: Vec<f64>,
    /// Share of missing values.
    pub missing: f64,
    /// Mean of present values.
    pub mean: f64,
    /// Standard deviation of present values.
    pub std: f64,
    /// Up to 1,000 evenly spaced quantiles of the present values (for the KS test).
    #[serde(default)]
    pub sample: Vec<f64>,
}

/// Shares of one categorical column.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CategoricalProfile {
    /// Column name.
    pub name: String,
    /// (category, share) in schema order, including categories with share 0.
    pub shares: Vec<(String, f64)>,
    /// Share of missing values.
    pub missing: f64,
}

/// The reference profile saved with a model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Profile {
    /// Rows profiled.
    pub rows: usize,
    /// Numeric columns.
    pub numeric: Vec<NumericProfile>,
    /// Categorical columns.
    pub categorical: Vec<CategoricalProfile>,
    /// The training split's score distribution, as a numeric profile named "score".
    pub score: NumericProfile,
}

/// Quantile bins of `values` (NaN = missing) with up to `bins` bins.
pub fn numeric_profile(name: &str, values: &[f64], bins: usize) -> NumericProfile {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let mut edges: Vec<f64> = (1..bins)
        .map(|q| {
            v.get((q * n / bins).min(n.saturating_sub(1)))
                .copied()
                .unwrap_or(0.0)
        })
        .collect();
    edges.dedup();
    if edges.last().is_some_and(|&e| Some(&e) == v.last()) {
        edges.pop();
    }
    // One value in every row: bins below it, at it, and above it, so a day where it varies
    // shows (one bin measured no drift at all: PSI 0 whatever came).
    if let (true, Some(&c)) = (edges.is_empty(), v.first()) {
        edges = vec![c.next_down(), c];
    }
    let shares = bin_shares(&edges, &v);
    let mean = if n > 0 {
        v.iter().sum::<f64>() / n as f64
    } else {
        0.0
    };
    let std = if n > 1 {
        (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    let k = n.min(1000);
    let sample = (0..k)
        .map(|i| v[if k > 1 { i * (n - 1) / (k - 1) } else { 0 }])
        .collect();
    NumericProfile {
        name: name.to_string(),
        edges,
        shares,
        sample,
        missing: (values.len() - n) as f64 / values.len().max(1) as f64,
        mean,
        std,
    }
}

/// Share of present `values` in each bin defined by `edges` (value <= edge goes left).
pub fn bin_shares(edges: &[f64], values: &[f64]) -> Vec<f64> {
    let mut counts = vec![0usize; edges.len() + 1];
    let mut n = 0usize;
    for &x in values.iter().filter(|x| !x.is_nan()) {
        counts[edges.partition_point(|&e| e < x)] += 1;
        n += 1;
    }
    counts.iter().map(|&c| c as f64 / n.max(1) as f64).collect()
}

/// Profiles `data` and its `scores`.
pub fn profile(data: &Dataset, scores: &[f64]) -> Profile {
    let numeric = data
        .numeric_names
        .iter()
        .zip(&data.numeric)
        .map(|(n, v)| numeric_profile(n, v, 10))
        .collect();
    let categorical = data
        .categorical_names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let col = &data.categorical[k];
            let mut counts = vec![0usize; data.categories[k].len()];
            let mut missing = 0;
            for &c in col {
                if c == MISSING_CODE {
                    missing += 1
                } else {
                    counts[c as usize] += 1
                }
            }
            let n = col.len().max(1) as f64;
            CategoricalProfile {
                name: name.clone(),
                shares: data.categories[k]
                    .iter()
                    .zip(counts)
                    .map(|(c, k)| (c.clone(), k as f64 / n))
                    .collect(),
                missing: missing as f64 / n,
            }
        })
        .collect();
    Profile {
        rows: data.len(),
        numeric,
        categorical,
        score: numeric_profile("score", scores, 10),
    }
}

#[cfg(test)]
mod tests {
    /// A feature with one value in every training row gets bins below, at and above it,
    /// so a day where it varies has a large PSI (one bin measured 0 whatever came); the
    /// training data says so as a warning.
    #[test]
    fn a_constant_feature_is_watched_and_named() {
        let p = super::numeric_profile("age", &[40.0; 500], 10);
        assert_eq!(p.edges.len(), 2);
        assert_eq!(p.shares, vec![0.0, 1.0, 0.0]);
        let day: Vec<f64> = (0..500).map(|i| 20.0 + (i % 50) as f64).collect();
        let psi = crate::monitor::drift::psi(&p.shares, &super::bin_shares(&p.edges, &day));
        assert!(psi > 1.0, "{psi}");
        let same = crate::monitor::drift::psi(&p.shares, &super::bin_shares(&p.edges, &[40.0; 9]));
        assert!(same < 1e-9, "{same}");
        let cfg = crate::config::Config::from_overlay("").unwrap();
        let mut data = crate::data::Dataset::empty(&cfg.schema);
        let age = data.numeric_names.iter().position(|n| n == "age").unwrap();
        for (k, col) in data.numeric.iter_mut().enumerate() {
            *col = (0..50)
                .map(|i| if k == age { 40.0 } else { i as f64 })
                .collect();
        }
        for col in data.categorical.iter_mut() {
            *col = (0..50).map(|i| (i % 2) as u32).collect();
        }
        let warned = data.constant_features();
        assert_eq!(warned.len(), 1, "{warned:?}");
        assert!(
            warned[0].starts_with("feature 'age' is 40 in every training row"),
            "{warned:?}"
        );
    }
}
