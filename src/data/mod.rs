//! Data in: loading files with polars, checking them against the data contract, stratified
//! splits, and the synthetic generator. The output is a [`Dataset`]: typed, column-major
//! values of the rows that passed, with categorical values as codes of the schema's
//! allowed-value lists.

pub mod contract;
mod csv_cut;
pub mod duplicates;
pub mod files;
pub mod fingerprint;
pub mod generate;
pub mod header;
pub mod load;
pub mod parquet;
pub mod rows;
pub mod split;
pub(crate) mod values;

use crate::config::Schema;

/// Code of a missing categorical value.
pub const MISSING_CODE: u32 = u32::MAX;

/// Typed rows that passed the contract, column-major.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Numeric feature names, in schema order.
    pub numeric_names: Vec<String>,
    /// Categorical feature names, in schema order.
    pub categorical_names: Vec<String>,
    /// The allowed values of each categorical feature (codes index into these).
    pub categories: Vec<Vec<String>>,
    /// One id per row.
    pub ids: Vec<String>,
    /// The label per row, when the file had one.
    pub labels: Vec<Option<u8>>,
    /// Numeric columns (NaN = missing).
    pub numeric: Vec<Vec<f64>>,
    /// Categorical columns as codes into `categories` ([`MISSING_CODE`] = missing).
    pub categorical: Vec<Vec<u32>>,
    /// (file index, 1-based row) each row came from.
    pub origin: Vec<(u32, u32)>,
    /// The files read, in order.
    pub files: Vec<String>,
}

impl Dataset {
    /// An empty dataset with the schema's columns.
    pub fn empty(schema: &Schema) -> Self {
        Dataset {
            numeric_names: schema.numeric.iter().map(|(n, _)| n.clone()).collect(),
            categorical_names: schema.categorical.iter().map(|(n, _)| n.clone()).collect(),
            categories: schema.categorical.iter().map(|(_, v)| v.clone()).collect(),
            ids: vec![],
            labels: vec![],
            numeric: vec![vec![]; schema.numeric.len()],
            categorical: vec![vec![]; schema.categorical.len()],
            origin: vec![],
            files: vec![],
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub(crate) fn reserve(&mut self, n: usize) {
        self.ids.reserve(n);
        self.labels.reserve(n);
        self.origin.reserve(n);
        self.numeric.iter_mut().for_each(|c| c.reserve(n));
        self.categorical.iter_mut().for_each(|c| c.reserve(n));
    }

    /// The rows at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Dataset {
        Dataset {
            numeric_names: self.numeric_names.clone(),
            categorical_names: self.categorical_names.clone(),
            categories: self.categories.clone(),
            ids: idx.iter().map(|&i| self.ids[i].clone()).collect(),
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
            numeric: self
                .numeric
                .iter()
                .map(|c| idx.iter().map(|&i| c[i]).collect())
                .collect(),
            categorical: self
                .categorical
                .iter()
                .map(|c| idx.iter().map(|&i| c[i]).collect())
                .collect(),
            origin: idx.iter().map(|&i| self.origin[i]).collect(),
            files: self.files.clone(),
        }
    }

    /// Labels as 0/1, if every row has one.
    pub fn label_vec(&self) -> Option<Vec<u8>> {
        self.labels.iter().copied().collect()
    }

    /// A warning for each feature with one value (or none) in every row: the model cannot
    /// learn from it, and it usually means a broken export (a column filled with a default).
    pub fn constant_features(&self) -> Vec<String> {
        let say = |name: &str, value: String| {
            format!(
                "feature '{name}' is {value} in every training row: the model cannot use it (a broken export?); a day where it varies raises a drift alert"
            )
        };
        let mut out = vec![];
        for (name, col) in self.numeric_names.iter().zip(&self.numeric) {
            let mut present = col.iter().filter(|v| !v.is_nan());
            let one = match present.next() {
                None => Some("missing".to_string()),
                Some(&first) => present.all(|&v| v == first).then(|| format!("{first}")),
            };
            out.extend(one.map(|v| say(name, v)));
        }
        for ((name, col), cats) in self
            .categorical_names
            .iter()
            .zip(&self.categorical)
            .zip(&self.categories)
        {
            if let Some(&first) = col.first()
                && col.iter().all(|&c| c == first)
            {
                let value = cats
                    .get(first as usize)
                    .map_or("missing".to_string(), |v| format!("'{v}'"));
                out.push(say(name, value));
            }
        }
        out
    }
}
