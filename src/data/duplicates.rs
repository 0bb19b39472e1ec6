//! Rows repeated in training data, found by their exact fingerprints: copies within a
//! file are dropped (training learns each row once), copies across files refused (a month
//! appended to the history and given again would sit in training and test at once).

use super::Dataset;
use super::fingerprint::{Mode, all_columns, hash_row, locate};
use crate::error::{ClaimsError, Violation};

/// Rows of a dataset with the same values (ids aside) as an earlier row.
#[derive(Debug, Default, PartialEq)]
pub struct Duplicates {
    /// Every row but the later copies, in order.
    pub keep: Vec<usize>,
    /// Later copies of a row of the same file: (earlier row, copy).
    pub within_files: Vec<(usize, usize)>,
    /// Later copies of a row of another file: (earlier row, copy).
    pub across_files: Vec<(usize, usize)>,
    /// Set by [`training_rows`]: the copies within a file whose label differs from the
    /// first row's, as (file, row of the first, row of the copy).
    pub label_conflicts: Vec<(String, usize, usize)>,
}

impl Duplicates {
    /// The refusal for rows repeated across files (a month appended to the history and
    /// given again would sit in training and test at once); `None` when there are none.
    pub fn refusal(&self, data: &Dataset) -> Option<ClaimsError> {
        if self.across_files.is_empty() {
            return None;
        }
        let at = |i: usize| {
            let (f, r) = data.origin[i];
            (data.files[f as usize].clone(), r as usize)
        };
        // Every repeated row (the message lists the first 20 and counts the rest).
        let mut v: Vec<Violation> = self
            .across_files
            .iter()
            .map(|&(first, copy)| {
                let (ff, fr) = at(first);
                let (cf, cr) = at(copy);
                Violation {
                    file: cf,
                    row: Some(cr),
                    column: None,
                    reason: format!("the same values as {ff} row {fr}"),
                    line: None,
                }
            })
            .collect();
        v.insert(
            0,
            Violation {
                file: data.files.join(", "),
                row: None,
                column: None,
                reason: format!(
                    "{} row(s) repeat a row of another training file: was a month's file appended to the history and given again? Each row must be trained on once",
                    self.across_files.len()
                ),
                line: None,
            },
        );
        Some(ClaimsError::Contract(crate::data::rows::with_lines(v)))
    }
}

/// The rows training learns from: `data` without the later copies of a row within a file
/// (the first kept), with the copies dropped; rows repeated across files are refused. The
/// training run and every rebuild of its splits (`compare`) go through this, so both index
/// the same rows.
pub fn training_rows(data: Dataset) -> Result<(Dataset, Duplicates), ClaimsError> {
    let mut dups = duplicates(&data);
    if let Some(e) = dups.refusal(&data) {
        return Err(e);
    }
    dups.label_conflicts = dups
        .within_files
        .iter()
        .filter(|&&(a, b)| data.labels.get(a) != data.labels.get(b))
        .map(|&(a, b)| {
            let (f, ra) = data.origin[a];
            (
                data.files[f as usize].clone(),
                ra as usize,
                data.origin[b].1 as usize,
            )
        })
        .collect();
    let data = if dups.within_files.is_empty() {
        data
    } else {
        data.subset(&dups.keep)
    };
    Ok((data, dups))
}

/// Finds rows whose values repeat an earlier row's, by the same fingerprint as [`FILE`].
pub fn duplicates(data: &Dataset) -> Duplicates {
    let columns = all_columns(data);
    let at = locate(data, &columns).unwrap_or_default();
    let mut first = std::collections::HashMap::with_capacity(data.len());
    let mut out = Duplicates {
        keep: Vec::with_capacity(data.len()),
        ..Default::default()
    };
    for row in 0..data.len() {
        match first.entry(hash_row(data, &at, row, Mode::Exact)) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(row);
                out.keep.push(row);
            }
            std::collections::hash_map::Entry::Occupied(o) => {
                let earlier = *o.get();
                let same_file =
                    data.origin.get(earlier).map(|o| o.0) == data.origin.get(row).map(|o| o.0);
                if same_file {
                    out.within_files.push((earlier, row));
                } else {
                    out.across_files.push((earlier, row));
                }
            }
        }
    }
    out
}
