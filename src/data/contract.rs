//! The data contract: every file is checked against the configured schema before anything
//! trains or scores. Produces a typed [`Dataset`] of the rows that pass and a list of
//! violations naming file, row, column and reason.

use super::load::RawFile;
use super::values::{Lookup, category, label, number, trim};
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
    /// Whether the file gave that id (false: its id was missing or unreadable).
    pub id_given: bool,
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
        line: None,
    }
}

/// Checks a file's header (for a chunked file, its first chunk) against the schema: missing,
/// unexpected and repeated columns. Empty when the columns are right.
pub fn check_columns(schema: &Schema, f: &RawFile, mode: Mode) -> Vec<Violation> {
    let mut expected: Vec<&str> = schema
        .numeric
        .iter()
        .map(|(n, _)| n.as_str())
        .chain(schema.categorical.iter().map(|(n, _)| n.as_str()))
        .collect();
    if mode == Mode::Training {
        expected.push(&schema.target);
    }
    let known = |c: &str| {
        schema.numeric.iter().any(|(n, _)| n == c)
            || schema.categorical.iter().any(|(n, _)| n == c)
            || c == schema.target
            || schema.id_column.as_deref() == Some(c)
            || schema.drop.iter().any(|d| d == c)
    };
    let mut out = super::header::problems(f, &expected, Some(&known));
    out.extend(
        schema
            .id_column
            .as_deref()
            .and_then(|c| super::header::unreadable(f, c)),
    );
    out
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

/// The contract's rules for one schema and mode, which the threads checking a chunk's rows
/// share: check a chunk with [`Rules::check`], then add it with [`Checker::merge`].
pub struct Rules<'s> {
    schema: &'s Schema,
    mode: Mode,
    lookups: Vec<Lookup<'s>>,
    /// The most characters the sink's id column holds (a `varchar(n)`), when it has a bound.
    id_chars: Option<usize>,
}

/// A chunk's rows checked by [`Rules::check`], not yet merged.
pub struct CheckedRows(Vec<Part>);

impl<'s> Rules<'s> {
    /// The rules of `schema` in `mode`.
    pub fn new(schema: &'s Schema, mode: Mode) -> Self {
        Rules {
            schema,
            mode,
            lookups: schema
                .categorical
                .iter()
                .map(|(_, vals)| Lookup::new(vals))
                .collect(),
            id_chars: None,
        }
    }

    /// Checks every row of `f` (whose columns passed [`check_columns`]); a large chunk in
    /// parts on all cores.
    pub fn check(&self, f: &RawFile) -> CheckedRows {
        let n = f.rows();
        let layout = Layout::of(self.schema, f);
        let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
        if n < 4096 || threads == 1 {
            return CheckedRows(vec![check_rows(self, f, &layout, 0..n)]);
        }
        let share = n.div_ceil(threads);
        CheckedRows(std::thread::scope(|s| {
            let workers: Vec<_> = (0..n)
                .step_by(share)
                .map(|a| {
                    let layout = &layout;
                    let rows = a..(a + share).min(n);
                    s.spawn(move || check_rows(self, f, layout, rows))
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        }))
    }
}

/// The contract check as a running state, so a large file can be checked chunk by chunk
/// (ids stay unique across chunks and files; row numbers count from the file's start).
pub struct Checker<'s> {
    /// Shared, so a caller can check a chunk on other threads while this merges another.
    rules: std::sync::Arc<Rules<'s>>,
    first_seen: SeenIds,
    file_names: Vec<String>,
    data: Dataset,
    row_violations: Vec<Violation>,
    bad_rows: Vec<BadRow>,
    rows_read: usize,
}

/// Every id seen so far, exactly, in little memory: the ids' text in one buffer and a hash
/// table of (hash, index into it); a `HashMap<String, _>` cost ~90 MB per million ids. The
/// stored hash spares growing the table from reading every id again.
#[derive(Default)]
struct SeenIds {
    text: String,
    ends: Vec<usize>,
    origin: Vec<(u32, u32)>,
    table: hashbrown::HashTable<(u64, u32)>,
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
        let same = |&(h, i): &(u64, u32)| h == hash && Self::id(text, ends, i) == id;
        if let Some(&(_, i)) = self.table.find(hash, same) {
            let (f, r) = self.origin[i as usize];
            return Some((f as usize, r as usize));
        }
        let i = self.ends.len() as u32;
        self.text.push_str(id);
        self.ends.push(self.text.len());
        self.origin.push((file as u32, row as u32));
        self.table.insert_unique(hash, (hash, i), |&(h, _)| h);
        None
    }
}

/// A problem found in a row: (row in chunk, position in the row's report order).
struct Problem {
    row: usize,
    order: usize,
    /// `None` for a problem of the whole row (it could not be read as the header's columns).
    column: Option<String>,
    reason: String,
}

/// Field `k` of one CSV row's text (quotes understood), when not empty.
fn field_of(raw: &str, k: usize) -> Option<String> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(raw.as_bytes());
    let rec = rdr.records().next()?.ok()?;
    // Trimmed as `cell` does; an id with bytes that are not UTF-8 is not read.
    rec.get(k)
        .map(str::trim)
        .filter(|v| !v.is_empty() && !v.contains('\u{fffd}'))
        .map(str::to_string)
}

/// Where each schema column is among a file's columns (`None`: not in the file).
struct Layout {
    numeric: Vec<Option<usize>>,
    categorical: Vec<Option<usize>>,
    target: Option<usize>,
    id: Option<usize>,
}

impl Layout {
    fn of(schema: &Schema, f: &RawFile) -> Layout {
        let at = |c: &str| f.columns.iter().position(|x| x == c);
        Layout {
            numeric: schema.numeric.iter().map(|(n, _)| at(n)).collect(),
            categorical: schema.categorical.iter().map(|(n, _)| at(n)).collect(),
            target: at(&schema.target),
            id: schema.id_column.as_deref().and_then(at),
        }
    }
}

/// A value as the contract reads it: trimmed, `None` when empty.
fn cell(f: &RawFile, row: usize, column: usize) -> Option<&str> {
    f.field(row, column).map(trim).filter(|v| !v.is_empty())
}

/// The checked values of a run of a chunk's rows (one thread's share).
struct Part {
    /// The part's first row in the chunk.
    start: usize,
    nums: Vec<Vec<f64>>,
    cats: Vec<Vec<u32>>,
    labels: Vec<Option<u8>>,
    /// The ids given (`None`: empty, or no id column; derived from the row when merged).
    ids: Vec<Option<String>>,
    /// In row order, then report order; duplicate ids are found when merged.
    problems: Vec<Problem>,
}

/// Checks `rows` of `f` row by row: every value is parsed and checked where it lies, in
/// the order the row's reasons are reported.
fn check_rows(rules: &Rules, f: &RawFile, layout: &Layout, rows: std::ops::Range<usize>) -> Part {
    let (schema, lookups, mode) = (rules.schema, &rules.lookups, rules.mode);
    let n = rows.len();
    let nn = schema.numeric.len();
    let label_order = nn + schema.categorical.len();
    let id_name = schema.id_column.as_deref().unwrap_or("id");
    let mut part = Part {
        start: rows.start,
        nums: (0..nn).map(|_| Vec::with_capacity(n)).collect(),
        cats: (0..schema.categorical.len())
            .map(|_| Vec::with_capacity(n))
            .collect(),
        labels: Vec::with_capacity(n),
        ids: Vec::with_capacity(n),
        problems: vec![],
    };
    let problems = &mut part.problems;
    for i in rows {
        if let Some(m) = f.malformed(i) {
            // Not read as the header's columns: one reason, no values checked.
            problems.push(Problem {
                row: i,
                order: 0,
                column: m.column.clone(),
                reason: m.reason.clone(),
            });
            part.nums.iter_mut().for_each(|c| c.push(f64::NAN));
            part.cats.iter_mut().for_each(|c| c.push(MISSING_CODE));
            part.labels.push(None);
            // A row whose bytes are not UTF-8 in another column still names its
            // application (a claims handler looks it up by id); a row of the wrong width
            // does not say which field is the id.
            let readable = m.column.is_some() && m.column.as_deref() != schema.id_column.as_deref();
            part.ids.push(
                layout
                    .id
                    .filter(|_| readable)
                    .and_then(|c| field_of(&m.raw, c)),
            );
            continue;
        }
        let mut bad = |order: usize, column: &str, reason: String| {
            problems.push(Problem {
                row: i,
                order,
                column: Some(column.to_string()),
                reason,
            })
        };
        for (k, ((name, range), out)) in schema.numeric.iter().zip(&mut part.nums).enumerate() {
            // A column not in the file is reported once, by `check_columns`.
            out.push(layout.numeric[k].map_or(f64::NAN, |c| {
                number(cell(f, i, c), range).unwrap_or_else(|reason| {
                    bad(k, name, reason);
                    f64::NAN
                })
            }));
        }
        let cats = schema.categorical.iter().zip(&mut part.cats);
        for (k, ((name, allowed), out)) in cats.enumerate() {
            out.push(layout.categorical[k].map_or(MISSING_CODE, |c| {
                category(cell(f, i, c), &lookups[k], allowed).unwrap_or_else(|reason| {
                    bad(nn + k, name, reason);
                    MISSING_CODE
                })
            }));
        }
        part.labels.push(layout.target.and_then(|c| {
            let (value, problem) = label(cell(f, i, c), mode);
            if let Some(reason) = problem {
                bad(label_order, &schema.target, reason);
            }
            value
        }));
        part.ids.push(layout.id.and_then(|c| {
            let id = cell(f, i, c);
            let problem = match id {
                None => Some("missing id".to_string()),
                Some(id) => super::values::id_problem(id, rules.id_chars),
            };
            match problem {
                // The row is set aside under an id made from its file and row, so no
                // table stores a control character or a megabyte key.
                Some(reason) => {
                    bad(label_order + 1, id_name, reason);
                    None
                }
                None => id.map(str::to_string),
            }
        }));
    }
    part
}

impl<'s> Checker<'s> {
    /// Ids longer than `chars` characters (the sink's `varchar(n)` id column) go to
    /// quarantine, rather than failing the day's write after scoring. Before any row.
    pub fn limit_id_chars(mut self, chars: Option<usize>) -> Self {
        if let Some(rules) = std::sync::Arc::get_mut(&mut self.rules) {
            rules.id_chars = chars;
        }
        self
    }

    /// A new check against `schema`.
    pub fn new(schema: &'s Schema, mode: Mode) -> Self {
        Checker {
            rules: std::sync::Arc::new(Rules::new(schema, mode)),
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

    /// The rules this check applies, for checking chunks elsewhere ([`Checker::merge`]).
    pub fn rules(&self) -> std::sync::Arc<Rules<'s>> {
        self.rules.clone()
    }

    /// Makes room for `rows` more passing rows (a hint).
    pub fn reserve(&mut self, rows: usize) {
        self.data.reserve(rows);
        let seen = &mut self.first_seen;
        seen.table.reserve(rows, |&(h, _)| h);
        seen.ends.reserve(rows);
        seen.origin.reserve(rows);
    }

    /// Checks the rows of `f` (file number `fi`, whose columns passed [`check_columns`]);
    /// its first row is data row `offset + 1` of the file.
    pub fn add(&mut self, fi: usize, f: &RawFile, offset: usize) {
        let rows = self.rules.check(f);
        self.merge(fi, f, offset, rows);
    }

    /// Adds `rows`, the result of [`Rules::check`] on `f`, as [`Checker::add`] would.
    pub fn merge(&mut self, fi: usize, f: &RawFile, offset: usize, rows: CheckedRows) {
        while self.file_names.len() <= fi {
            self.file_names.push(f.name.clone());
        }
        self.rows_read += f.rows();
        for part in rows.0 {
            self.merge_part(fi, f, offset, part);
        }
    }

    /// Adds a checked part of `f`: ids (derived where missing) checked for duplicates, rows
    /// with problems to quarantine with every reason, the rest to the dataset.
    fn merge_part(&mut self, fi: usize, f: &RawFile, offset: usize, part: Part) {
        let schema = self.rules.schema;
        let label_order = schema.numeric.len() + schema.categorical.len();
        let id_name = schema.id_column.as_deref().unwrap_or("id");
        let stem = std::path::Path::new(&f.name)
            .file_stem()
            .map_or_else(|| f.name.clone(), |s| s.to_string_lossy().into_owned());
        let Part {
            start,
            nums,
            cats,
            labels,
            ids: given,
            mut problems,
        } = part;
        let n = given.len();
        // With an id column, a derived id stands in for one that is missing.
        let has_ids = schema
            .id_column
            .as_deref()
            .is_some_and(|c| f.columns.iter().any(|x| x == c));
        let stand_in: Vec<bool> = given.iter().map(|g| has_ids && g.is_none()).collect();
        let mut ids = Vec::with_capacity(n);
        for (j, id) in given.into_iter().enumerate() {
            let row = offset + start + j + 1;
            let id = id.unwrap_or_else(|| format!("{stem}:{row}"));
            if let Some((ff, fr)) = self.first_seen.first_or_insert(&id, fi, row) {
                problems.push(Problem {
                    row: start + j,
                    order: label_order + 2,
                    column: Some(id_name.to_string()),
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
        for same_row in problems.chunk_by(|a, b| a.row == b.row) {
            let i = same_row[0].row;
            let row = offset + i + 1;
            let reason = same_row
                .iter()
                .map(|x| match &x.column {
                    Some(c) => format!("{c}: {}", x.reason),
                    None => x.reason.clone(),
                })
                .collect::<Vec<_>>()
                .join("; ");
            for x in same_row {
                self.row_violations.push(violation(
                    &f.name,
                    Some(row),
                    x.column.as_deref(),
                    x.reason.clone(),
                ));
            }
            self.bad_rows.push(BadRow {
                file: f.name.clone(),
                row,
                id: ids[i - start].clone(),
                id_given: !stand_in[i - start],
                // A NUL byte is kept as the text \x00, the same in every sink
                // (PostgreSQL's text cannot hold one).
                reason: reason.replace('\0', "\\x00"),
                raw: super::values::stored_raw(&f.raw_row(i)),
            });
            bad[i - start] = true;
        }
        let d = &mut self.data;
        let origin = |j: usize| (fi as u32, (offset + start + j + 1) as u32);
        if problems.is_empty() {
            // The usual part: every row passes, so whole columns are appended.
            d.ids.extend(ids);
            d.labels.extend_from_slice(&labels);
            d.origin.extend((0..n).map(origin));
            for (col, vals) in d.numeric.iter_mut().zip(&nums) {
                col.extend_from_slice(vals);
            }
            for (col, vals) in d.categorical.iter_mut().zip(&cats) {
                col.extend_from_slice(vals);
            }
            return;
        }
        let keep = |j: &usize| !bad[*j];
        d.ids.extend(
            ids.into_iter()
                .enumerate()
                .filter(|(j, _)| keep(j))
                .map(|(_, v)| v),
        );
        d.labels.extend((0..n).filter(keep).map(|j| labels[j]));
        d.origin.extend((0..n).filter(keep).map(origin));
        for (col, vals) in d.numeric.iter_mut().zip(&nums) {
            col.extend((0..n).filter(keep).map(|j| vals[j]));
        }
        for (col, vals) in d.categorical.iter_mut().zip(&cats) {
            col.extend((0..n).filter(keep).map(|j| vals[j]));
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
