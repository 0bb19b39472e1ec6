//! The data contract: every file is checked against the configured schema before anything
//! trains or scores. Produces a typed [`Dataset`] of the rows that pass and a list of
//! violations naming file, row, column and reason.

use std::collections::HashMap;

use super::load::RawFile;
use super::{Dataset, MISSING_CODE};
use crate::config::Schema;
use crate::error::Violation;

/// What the caller needs from the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Labels are required; any violation fails the run.
    Training,
    /// Labels are optional; bad rows are set aside with reasons.
    Inference,
}

/// A row that failed the contract, kept for the quarantine table.
#[derive(Debug, Clone)]
pub struct BadRow {
    /// File the row came from.
    pub file: String,
    /// 1-based data row.
    pub row: usize,
    /// The row's id (given or derived).
    pub id: String,
    /// Every reason the row failed, joined with "; ".
    pub reason: String,
    /// The row as it was written.
    pub raw: String,
}

/// Result of checking files against the contract.
pub struct Checked {
    /// The rows that passed.
    pub data: Dataset,
    /// File-level problems (missing/extra columns); with any of these, `data` is empty.
    pub file_violations: Vec<Violation>,
    /// Row-level problems, one entry per (row, column).
    pub row_violations: Vec<Violation>,
    /// The failing rows, once each.
    pub bad_rows: Vec<BadRow>,
    /// Rows read in all.
    pub rows_read: usize,
}

fn violation(file: &str, row: Option<usize>, column: Option<&str>, reason: String) -> Violation {
    Violation {
        file: file.to_string(),
        row,
        column: column.map(str::to_string),
        reason,
    }
}

fn column_problems(schema: &Schema, f: &RawFile, mode: Mode) -> Vec<Violation> {
    let mut out = vec![];
    let has = |c: &str| f.columns.iter().any(|x| x == c);
    let mut expected: Vec<&str> = schema
        .numeric
        .iter()
        .map(|(n, _)| n.as_str())
        .chain(schema.categorical.iter().map(|(n, _)| n.as_str()))
        .collect();
    if mode == Mode::Training {
        expected.push(&schema.target);
    }
    for c in expected {
        if !has(c) {
            out.push(violation(&f.name, None, Some(c), "missing column".into()));
        }
    }
    for c in &f.columns {
        let known = schema.numeric.iter().any(|(n, _)| n == c)
            || schema.categorical.iter().any(|(n, _)| n == c)
            || *c == schema.target
            || schema.id_column.as_deref() == Some(c.as_str())
            || schema.drop.iter().any(|d| d == c);
        if !known {
            out.push(violation(
                &f.name,
                None,
                Some(c),
                "unexpected column (not in the schema or its drop list)".into(),
            ));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for c in &f.columns {
        if !seen.insert(c) {
            out.push(violation(
                &f.name,
                None,
                Some(c),
                "column appears twice in the header".into(),
            ));
        }
    }
    out
}

fn show(v: &str) -> String {
    let v: String = v.chars().take(40).collect();
    format!("'{v}'")
}

/// Checks `files` against `schema`; ids must be unique across all files.
pub fn check(schema: &Schema, files: &[RawFile], mode: Mode) -> Checked {
    let mut file_violations = vec![];
    for f in files {
        file_violations.extend(column_problems(schema, f, mode));
    }
    let rows_read = files.iter().map(|f| f.rows()).sum();
    let mut data = Dataset::empty(schema);
    if !file_violations.is_empty() {
        return Checked {
            data,
            file_violations,
            row_violations: vec![],
            bad_rows: vec![],
            rows_read,
        };
    }
    let lookups: Vec<HashMap<&str, u32>> = schema
        .categorical
        .iter()
        .map(|(_, vals)| {
            vals.iter()
                .enumerate()
                .map(|(i, v)| (v.as_str(), i as u32))
                .collect()
        })
        .collect();
    let mut row_violations = vec![];
    let mut bad_rows = vec![];
    let mut first_seen: HashMap<String, (usize, usize)> = HashMap::new();
    data.reserve(rows_read);

    for (fi, f) in files.iter().enumerate() {
        let stem = std::path::Path::new(&f.name)
            .file_stem()
            .map_or_else(|| f.name.clone(), |s| s.to_string_lossy().into_owned());
        let num_cols: Vec<_> = schema
            .numeric
            .iter()
            .map(|(n, _)| f.strings(n).ok())
            .collect();
        let cat_cols: Vec<_> = schema
            .categorical
            .iter()
            .map(|(n, _)| f.strings(n).ok())
            .collect();
        let target = f.strings(&schema.target).ok();
        let ids = schema.id_column.as_ref().and_then(|c| f.strings(c).ok());
        let mut nums = vec![0f64; num_cols.len()];
        let mut cats = vec![0u32; cat_cols.len()];
        for i in 0..f.rows() {
            let row = i + 1;
            let mut problems: Vec<(String, String)> = vec![];
            for (k, col) in num_cols.iter().enumerate() {
                let (name, range) = &schema.numeric[k];
                let v = col
                    .and_then(|c| c.get(i))
                    .map(str::trim)
                    .filter(|v| !v.is_empty());
                nums[k] = match v {
                    None if range.nullable => f64::NAN,
                    None => {
                        problems.push((name.clone(), "missing required value".into()));
                        f64::NAN
                    }
                    Some(s) => match s.parse::<f64>() {
                        Ok(x) if x.is_nan() && range.nullable => f64::NAN,
                        Ok(x) if x >= range.min && x <= range.max => x,
                        Ok(x) => {
                            problems.push((
                                name.clone(),
                                format!(
                                    "value {x} is out of the allowed range [{}, {}]",
                                    range.min, range.max
                                ),
                            ));
                            f64::NAN
                        }
                        Err(_) => {
                            problems
                                .push((name.clone(), format!("value {} is not a number", show(s))));
                            f64::NAN
                        }
                    },
                };
            }
            for (k, col) in cat_cols.iter().enumerate() {
                let name = &schema.categorical[k].0;
                let v = col
                    .and_then(|c| c.get(i))
                    .map(str::trim)
                    .filter(|v| !v.is_empty());
                cats[k] = match v {
                    None => {
                        problems.push((name.clone(), "missing required value".into()));
                        MISSING_CODE
                    }
                    Some(s) => match lookups[k].get(s) {
                        Some(code) => *code,
                        None => {
                            let allowed = &schema.categorical[k].1;
                            let list = if allowed.len() > 8 {
                                format!("{}..{}", allowed[0], allowed[allowed.len() - 1])
                            } else {
                                allowed.join(", ")
                            };
                            problems.push((
                                name.clone(),
                                format!("unknown category {} (allowed: {list})", show(s)),
                            ));
                            MISSING_CODE
                        }
                    },
                };
            }
            let label = match target {
                None => None,
                Some(t) => match t.get(i).map(str::trim).filter(|v| !v.is_empty()) {
                    None => {
                        if mode == Mode::Training {
                            problems.push((
                                schema.target.clone(),
                                "missing label (null target)".into(),
                            ));
                        }
                        None
                    }
                    Some("0") | Some("0.0") => Some(0u8),
                    Some("1") | Some("1.0") => Some(1u8),
                    Some(s) => {
                        problems.push((
                            schema.target.clone(),
                            format!("label {} is not 0 or 1", show(s)),
                        ));
                        None
                    }
                },
            };
            let id = match ids {
                Some(c) => match c.get(i).map(str::trim).filter(|v| !v.is_empty()) {
                    Some(s) => s.to_string(),
                    None => {
                        let col = schema.id_column.clone().unwrap_or_default();
                        problems.push((col, "missing id".into()));
                        format!("{stem}:{row}")
                    }
                },
                None => format!("{stem}:{row}"),
            };
            match first_seen.get(&id) {
                Some((ff, fr)) => problems.push((
                    schema.id_column.clone().unwrap_or_else(|| "id".into()),
                    format!(
                        "duplicate id '{id}' (first seen in {} row {fr})",
                        files[*ff].name
                    ),
                )),
                None => {
                    first_seen.insert(id.clone(), (fi, row));
                }
            }
            if problems.is_empty() {
                data.push_row(&id, &nums, &cats, label, fi as u32, row as u32);
            } else {
                let reason = problems
                    .iter()
                    .map(|(c, r)| format!("{c}: {r}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                for (c, r) in problems {
                    row_violations.push(violation(&f.name, Some(row), Some(&c), r));
                }
                bad_rows.push(BadRow {
                    file: f.name.clone(),
                    row,
                    id,
                    reason,
                    raw: f.raw_row(i),
                });
            }
        }
    }
    data.files = files.iter().map(|f| f.name.clone()).collect();
    Checked {
        data,
        file_violations,
        row_violations,
        bad_rows,
        rows_read,
    }
}
