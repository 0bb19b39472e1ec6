//! The data contract: every file is checked against the configured schema before anything
//! trains or scores. Produces a typed [`Dataset`] of the rows that pass and a list of
//! violations naming file, row, column and reason.

use std::collections::HashMap;

/// A fast hasher for the per-value lookups (ids and categories; not attacker-facing maps).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

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

/// Checks a file's header (for a chunked file, its first chunk) against the schema: missing,
/// unexpected and repeated columns. Empty when the columns are right.
pub fn check_columns(schema: &Schema, f: &RawFile, mode: Mode) -> Vec<Violation> {
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
        file_violations.extend(check_columns(schema, f, mode));
    }
    let mut c = Checker::new(schema, mode);
    if file_violations.is_empty() {
        c.data.reserve(files.iter().map(|f| f.rows()).sum());
        for (fi, f) in files.iter().enumerate() {
            c.add(fi, f, 0);
        }
    } else {
        c.rows_read = files.iter().map(|f| f.rows()).sum();
    }
    let mut out = c.finish(files.iter().map(|f| f.name.clone()).collect());
    out.file_violations = file_violations;
    out
}

/// The contract check as a running state, so a large file can be checked chunk by chunk
/// (ids stay unique across chunks and files; row numbers count from the file's start).
pub struct Checker<'s> {
    schema: &'s Schema,
    mode: Mode,
    lookups: Vec<FastMap<&'s str, u32>>,
    first_seen: SeenIds,
    file_names: Vec<String>,
    data: Dataset,
    row_violations: Vec<Violation>,
    bad_rows: Vec<BadRow>,
    rows_read: usize,
}

/// Every id seen so far, exactly, in little memory: the ids' text in one buffer and a hash
/// table of indices into it (a `HashMap<String, _>` cost ~90 MB per million ids).
#[derive(Default)]
struct SeenIds {
    text: String,
    ends: Vec<usize>,
    origin: Vec<(u32, u32)>,
    table: hashbrown::HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl SeenIds {
    fn id<'a>(text: &'a str, ends: &[usize], i: u32) -> &'a str {
        let i = i as usize;
        let start = if i == 0 { 0 } else { ends[i - 1] };
        &text[start..ends[i]]
    }

    /// Where `id` was first seen (file, row), or `None` after recording it as seen here.
    fn first_or_insert(&mut self, id: &str, file: usize, row: usize) -> Option<(usize, usize)> {
        use std::hash::BuildHasher;
        let hash = self.hasher.hash_one(id);
        let (text, ends) = (&self.text, &self.ends);
        if let Some(&i) = self.table.find(hash, |&i| Self::id(text, ends, i) == id) {
            let (f, r) = self.origin[i as usize];
            return Some((f as usize, r as usize));
        }
        let i = self.ends.len() as u32;
        self.text.push_str(id);
        self.ends.push(self.text.len());
        self.origin.push((file as u32, row as u32));
        let (text, ends, hasher) = (&self.text, &self.ends, &self.hasher);
        self.table
            .insert_unique(hash, i, |&j| hasher.hash_one(Self::id(text, ends, j)));
        None
    }
}

/// A problem found in a column pass: (row in chunk, position in the row's report order).
struct Problem {
    row: usize,
    order: usize,
    column: String,
    reason: String,
}

/// Parses and checks the numeric columns of `f`.
fn numeric_pass(schema: &Schema, f: &RawFile, n: usize) -> (Vec<Vec<f64>>, Vec<Problem>) {
    let mut problems: Vec<Problem> = vec![];
    let nums: Vec<Vec<f64>> = schema
        .numeric
        .iter()
        .enumerate()
        .map(|(k, (name, range))| {
            let mut out = Vec::with_capacity(n);
            let Ok(col) = f.values(name) else {
                out.resize(n, f64::NAN);
                return out;
            };
            for (i, v) in col.enumerate() {
                let v = v.map(str::trim).filter(|v| !v.is_empty());
                let mut bad = |reason: String| {
                    problems.push(Problem {
                        row: i,
                        order: k,
                        column: name.clone(),
                        reason,
                    })
                };
                out.push(match v {
                    None if range.nullable => f64::NAN,
                    None => {
                        bad("missing required value".into());
                        f64::NAN
                    }
                    Some(s) => match s.parse::<f64>() {
                        Ok(x) if x.is_nan() && range.nullable => f64::NAN,
                        Ok(x) if x.is_nan() => {
                            bad(format!(
                                "value {} is not a number, and the column needs one",
                                show(s)
                            ));
                            f64::NAN
                        }
                        Ok(x) if x >= range.min && x <= range.max => x,
                        Ok(x) => {
                            bad(format!(
                                "value {x} is out of the allowed range [{}, {}]",
                                range.min, range.max
                            ));
                            f64::NAN
                        }
                        Err(_) => {
                            bad(format!("value {} is not a number", show(s)));
                            f64::NAN
                        }
                    },
                });
            }
            out
        })
        .collect();
    (nums, problems)
}

/// Looks up and checks the categorical columns of `f` (report order after the `nn` numeric).
fn categorical_pass(
    schema: &Schema,
    lookups: &[FastMap<&str, u32>],
    f: &RawFile,
    n: usize,
    nn: usize,
) -> (Vec<Vec<u32>>, Vec<Problem>) {
    let mut problems: Vec<Problem> = vec![];
    let cats: Vec<Vec<u32>> = schema
        .categorical
        .iter()
        .enumerate()
        .map(|(k, (name, allowed))| {
            let mut out = Vec::with_capacity(n);
            let Ok(col) = f.values(name) else {
                out.resize(n, MISSING_CODE);
                return out;
            };
            let lookup = &lookups[k];
            for (i, v) in col.enumerate() {
                let v = v.map(str::trim).filter(|v| !v.is_empty());
                out.push(match v.map(|s| (s, lookup.get(s))) {
                    Some((_, Some(code))) => *code,
                    None => {
                        problems.push(Problem {
                            row: i,
                            order: nn + k,
                            column: name.clone(),
                            reason: "missing required value".into(),
                        });
                        MISSING_CODE
                    }
                    Some((s, None)) => {
                        let list = if allowed.len() > 8 {
                            format!("{}..{}", allowed[0], allowed[allowed.len() - 1])
                        } else {
                            allowed.join(", ")
                        };
                        problems.push(Problem {
                            row: i,
                            order: nn + k,
                            column: name.clone(),
                            reason: format!("unknown category {} (allowed: {list})", show(s)),
                        });
                        MISSING_CODE
                    }
                });
            }
            out
        })
        .collect();
    (cats, problems)
}

impl<'s> Checker<'s> {
    /// A new check against `schema`.
    pub fn new(schema: &'s Schema, mode: Mode) -> Self {
        Checker {
            schema,
            mode,
            lookups: schema
                .categorical
                .iter()
                .map(|(_, vals)| {
                    vals.iter()
                        .enumerate()
                        .map(|(i, v)| (v.as_str(), i as u32))
                        .collect()
                })
                .collect(),
            first_seen: SeenIds::default(),
            file_names: vec![],
            data: Dataset::empty(schema),
            row_violations: vec![],
            bad_rows: vec![],
            rows_read: 0,
        }
    }

    /// Rows that failed so far.
    pub fn bad_count(&self) -> usize {
        self.bad_rows.len()
    }

    /// Checks the rows of `f` (file number `fi`, whose columns passed [`check_columns`]);
    /// its first row is data row `offset + 1` of the file.
    pub fn add(&mut self, fi: usize, f: &RawFile, offset: usize) {
        let schema = self.schema;
        while self.file_names.len() <= fi {
            self.file_names.push(f.name.clone());
        }
        let n = f.rows();
        self.rows_read += n;
        // Column passes: each column's values in order, problems tagged with row and report
        // order; the numeric and the categorical columns on two threads.
        let nn = schema.numeric.len();
        let lookups = &self.lookups;
        let ((nums, num_problems), (cats, mut problems)) = std::thread::scope(|s| {
            let numeric = s.spawn(|| numeric_pass(schema, f, n));
            let categorical = categorical_pass(schema, lookups, f, n, nn);
            let numeric = numeric
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            (numeric, categorical)
        });
        problems.extend(num_problems);
        let label_order = nn + schema.categorical.len();
        let labels: Vec<Option<u8>> = match f.values(&schema.target) {
            Err(_) => vec![None; n],
            Ok(t) => t
                .enumerate()
                .map(|(i, v)| match v.map(str::trim).filter(|v| !v.is_empty()) {
                    None => {
                        if self.mode == Mode::Training {
                            problems.push(Problem {
                                row: i,
                                order: label_order,
                                column: schema.target.clone(),
                                reason: "missing label (null target)".into(),
                            });
                        }
                        None
                    }
                    Some("0") | Some("0.0") => Some(0u8),
                    Some("1") | Some("1.0") => Some(1u8),
                    Some(s) => {
                        problems.push(Problem {
                            row: i,
                            order: label_order,
                            column: schema.target.clone(),
                            reason: format!("label {} is not 0 or 1", show(s)),
                        });
                        None
                    }
                })
                .collect(),
        };
        // Ids last: they need the row number and the other files' ids.
        let stem = std::path::Path::new(&f.name)
            .file_stem()
            .map_or_else(|| f.name.clone(), |s| s.to_string_lossy().into_owned());
        let id_name = schema.id_column.clone().unwrap_or_else(|| "id".into());
        let mut id_col = schema.id_column.as_ref().and_then(|c| f.values(c).ok());
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let row = offset + i + 1;
            let given = id_col
                .as_mut()
                .map(|c| c.next().flatten().map(str::trim).filter(|v| !v.is_empty()));
            let id = match given {
                Some(Some(s)) => s.to_string(),
                Some(None) => {
                    problems.push(Problem {
                        row: i,
                        order: label_order + 1,
                        column: id_name.clone(),
                        reason: "missing id".into(),
                    });
                    format!("{stem}:{row}")
                }
                None => format!("{stem}:{row}"),
            };
            if let Some((ff, fr)) = self.first_seen.first_or_insert(&id, fi, row) {
                problems.push(Problem {
                    row: i,
                    order: label_order + 2,
                    column: id_name.clone(),
                    reason: format!(
                        "duplicate id '{id}' (first seen in {} row {fr})",
                        self.file_names[ff]
                    ),
                });
            }
            ids.push(id);
        }
        // Rows with problems go to quarantine, the rest into the dataset.
        problems.sort_by_key(|p| (p.row, p.order));
        let mut bad = vec![false; n];
        let mut p = 0;
        while p < problems.len() {
            let i = problems[p].row;
            let mut q = p;
            while q < problems.len() && problems[q].row == i {
                q += 1;
            }
            let row = offset + i + 1;
            let reason = problems[p..q]
                .iter()
                .map(|x| format!("{}: {}", x.column, x.reason))
                .collect::<Vec<_>>()
                .join("; ");
            for x in &problems[p..q] {
                self.row_violations.push(violation(
                    &f.name,
                    Some(row),
                    Some(&x.column),
                    x.reason.clone(),
                ));
            }
            self.bad_rows.push(BadRow {
                file: f.name.clone(),
                row,
                id: ids[i].clone(),
                reason,
                raw: f.raw_row(i),
            });
            bad[i] = true;
            p = q;
        }
        let d = &mut self.data;
        let keep = |i: &usize| !bad[*i];
        d.ids.extend(
            ids.into_iter()
                .enumerate()
                .filter(|(i, _)| keep(i))
                .map(|(_, v)| v),
        );
        d.labels.extend((0..n).filter(keep).map(|i| labels[i]));
        d.origin.extend(
            (0..n)
                .filter(keep)
                .map(|i| (fi as u32, (offset + i + 1) as u32)),
        );
        for (col, vals) in d.numeric.iter_mut().zip(&nums) {
            col.extend((0..n).filter(keep).map(|i| vals[i]));
        }
        for (col, vals) in d.categorical.iter_mut().zip(&cats) {
            col.extend((0..n).filter(keep).map(|i| vals[i]));
        }
    }

    /// The result; `files` names the files in the order they were added.
    pub fn finish(self, files: Vec<String>) -> Checked {
        let mut data = self.data;
        data.files = files;
        Checked {
            data,
            file_violations: vec![],
            row_violations: self.row_violations,
            bad_rows: self.bad_rows,
            rows_read: self.rows_read,
        }
    }
}
