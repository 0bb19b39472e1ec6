//! Row fingerprints: a 64-bit hash of a row's feature values (not its id, file name or
//! position), stored with each model for the rows it trained or early-stopped on. A later
//! comparison leaves out every held-out row the champion has seen, even when its training
//! file has since been appended to, renamed or deleted, and when the data has no ids.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Dataset, MISSING_CODE};

/// The model folder's file of fingerprints.
pub const FILE: &str = "seen_rows.bin";
const MAGIC: &str = "claims-seen-rows 1";

/// The model folder's file of the application ids it trained or early-stopped on: a row
/// re-exported with rounded values, or corrected, has another fingerprint but the same
/// application (and label). Only ids read from an id column count; one made from a file's
/// name and row names no application.
pub const IDS_FILE: &str = "seen_ids.bin";
const IDS_MAGIC: &str = "claims-seen-ids 1";

/// The model folder's file of near fingerprints: each numeric value rounded to
/// [`NEAR_DIGITS`] significant digits before hashing, so a row re-exported with rounded or
/// reformatted numbers (a CSV saved through a spreadsheet, a warehouse's float type)
/// still matches when the data has no id column to match it by.
pub const NEAR_FILE: &str = "seen_near.bin";

/// Significant digits kept of each numeric value in a near fingerprint (decimals, below
/// 1). Distinct applicants agreeing on every feature at this precision are not expected.
/// A re-export that moved a value across a rounding boundary is found by trying the value's
/// other rounding ([`near_probes`]); one keeping fewer than 6 decimals (or significant
/// digits) goes unmatched.
pub const NEAR_DIGITS: usize = 4;

/// The model folder's file of coarse fingerprints: the categories and whole numbers of each
/// row, its fractional numbers left out. A re-export that rounded the floats to fewer
/// digits than near fingerprints keep (a warehouse's decimal(10,3)) still matches, where
/// these identify rows: see [`Fingerprints::identifies_rows`].
pub const COARSE_FILE: &str = "seen_coarse.bin";

/// The files a model keeps of the rows it learned from (`rows` of `data`): the rows'
/// fingerprints, exact, near and coarse, and their application ids (none when the data has no id
/// column; the file is kept anyway, so that its absence marks a model from before ids were
/// kept).
pub fn seen_files(
    data: &Dataset,
    rows: impl IntoIterator<Item = usize> + Clone,
) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (FILE, Fingerprints::of(data, rows.clone()).to_bytes()),
        (NEAR_FILE, Fingerprints::near(data, rows.clone()).to_bytes()),
        (
            COARSE_FILE,
            Fingerprints::coarse(data, rows.clone()).to_bytes(),
        ),
        (IDS_FILE, SeenIds::of(data, rows).to_bytes()),
    ]
}

/// Hashed application ids (sorted), of the rows whose id was given.
#[derive(Debug, Clone, PartialEq)]
pub struct SeenIds(Vec<u64>);

fn id_hash(id: &str) -> u64 {
    let d = Sha256::digest(id.as_bytes());
    u64::from_le_bytes(d[..8].try_into().unwrap_or_default())
}

/// Row `i`'s id when it was read from the file, `None` when it was made from the file's
/// name and the row (`day:12`).
fn given_id(data: &Dataset, i: usize) -> Option<&str> {
    let id = data.ids.get(i)?;
    let (f, row) = *data.origin.get(i)?;
    let stem = std::path::Path::new(data.files.get(f as usize)?)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())?;
    let made = id
        .strip_prefix(stem.as_str())
        .and_then(|r| r.strip_prefix(':'))
        .is_some_and(|n| n == row.to_string());
    (!made).then_some(id.as_str())
}

impl SeenIds {
    /// The given ids of `rows` of `data`.
    pub fn of(data: &Dataset, rows: impl IntoIterator<Item = usize>) -> SeenIds {
        let mut h: Vec<u64> = rows
            .into_iter()
            .filter_map(|r| given_id(data, r).map(id_hash))
            .collect();
        h.sort_unstable();
        h.dedup();
        SeenIds(h)
    }

    /// Which of `rows` of `data` have a given id among these.
    pub fn contains(&self, data: &Dataset, rows: &[usize]) -> Vec<bool> {
        rows.iter()
            .map(|&r| {
                given_id(data, r).is_some_and(|id| self.0.binary_search(&id_hash(id)).is_ok())
            })
            .collect()
    }

    /// The file's bytes: a text line, a JSON line with the count, then the sorted hashes.
    pub fn to_bytes(&self) -> Vec<u8> {
        hashes_file(
            IDS_MAGIC,
            &serde_json::json!({ "rows": self.0.len() }),
            &self.0,
        )
    }

    /// Reads [`Self::to_bytes`]' format.
    pub fn from_bytes(bytes: &[u8]) -> Result<SeenIds, String> {
        #[derive(Deserialize)]
        struct Header {
            rows: usize,
        }
        let (_, hashes) = read_hashes_file::<Header>(bytes, IDS_MAGIC, |h| h.rows)?;
        Ok(SeenIds(hashes))
    }
}

/// A file of sorted 64-bit hashes: a text line naming the format, a JSON header line, then
/// the hashes as little-endian u64.
fn hashes_file(magic: &str, header: &serde_json::Value, hashes: &[u64]) -> Vec<u8> {
    let mut out = format!("{magic}\n{header}\n").into_bytes();
    out.reserve(8 * hashes.len());
    for h in hashes {
        out.extend_from_slice(&h.to_le_bytes());
    }
    out
}

/// Reads [`hashes_file`]'s format: the header, and the hashes, as many as `rows` of it says.
fn read_hashes_file<H: serde::de::DeserializeOwned>(
    bytes: &[u8],
    magic: &str,
    rows: impl Fn(&H) -> usize,
) -> Result<(H, Vec<u64>), String> {
    let mut lines = bytes.splitn(3, |&b| b == b'\n');
    if lines.next() != Some(magic.as_bytes()) {
        return Err(format!("not a '{magic}' file"));
    }
    let header: H = serde_json::from_slice(lines.next().unwrap_or_default())
        .map_err(|e| format!("header: {e}"))?;
    let body = lines.next().unwrap_or_default();
    if body.len() != 8 * rows(&header) {
        return Err(format!(
            "{} bytes of hashes, the header says {} rows",
            body.len(),
            rows(&header)
        ));
    }
    let hashes = body
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect();
    Ok((header, hashes))
}

/// One hashed column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Column {
    /// A numeric feature, hashed as its value (missing, and -0 as 0, canonical).
    Numeric(String),
    /// A categorical feature, hashed as its text.
    Categorical(String),
}

/// The fingerprints of a set of rows over named columns (sorted, for lookups).
#[derive(Debug, Clone, PartialEq)]
pub struct Fingerprints {
    /// The columns hashed, in order.
    pub columns: Vec<Column>,
    hashes: Vec<u64>,
    /// How values were hashed.
    pub mode: Mode,
    /// Rows fingerprinted (more than [`Fingerprints::len`] when some share one).
    rows_seen: usize,
}

/// How a fingerprint reads a row's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Their exact bits.
    Exact,
    /// Rounded to [`NEAR_DIGITS`] significant digits (decimals below 1).
    Near,
    /// Over the categorical columns and the numeric ones that hold whole numbers only (in
    /// every row fingerprinted), exactly: columns of fractions left out.
    Coarse,
}

/// Every feature column of `data`: numeric, then categorical, in schema order.
pub(super) fn all_columns(data: &Dataset) -> Vec<Column> {
    (data.numeric_names.iter().cloned().map(Column::Numeric))
        .chain(
            data.categorical_names
                .iter()
                .cloned()
                .map(Column::Categorical),
        )
        .collect()
}

/// Where each of `columns` is in `data`; the first column `data` lacks, if any.
pub(super) fn locate(data: &Dataset, columns: &[Column]) -> Result<Vec<(bool, usize)>, String> {
    columns
        .iter()
        .map(|c| match c {
            Column::Numeric(n) => data
                .numeric_names
                .iter()
                .position(|x| x == n)
                .map(|k| (true, k))
                .ok_or_else(|| format!("numeric column '{n}'")),
            Column::Categorical(n) => data
                .categorical_names
                .iter()
                .position(|x| x == n)
                .map(|k| (false, k))
                .ok_or_else(|| format!("categorical column '{n}'")),
        })
        .collect()
}

/// A near fingerprint's bytes for value `v`: its rounding to [`NEAR_DIGITS`] significant
/// digits as (decimal exponent, 4-digit mantissa), or below 1 to [`NEAR_DIGITS`] decimals
/// (a re-export to 6 decimals keeps only 3 significant digits of 0.000412345): the same for
/// every value that rounds to it, whatever its binary form. Numbers, not text, so that
/// fingerprinting a training split costs little (formatting took ~0.2 s per 100k rows).
fn near_bytes(v: f64) -> [u8; 13] {
    let v = v + 0.0;
    let (e, m) = if v.abs() < 1.0 {
        (i32::MIN, (v * 1e4).round() as i64)
    } else {
        let at = |e: i32| (v / 10f64.powi(e - 3)).round() as i64;
        let mut e = v.abs().log10().floor() as i32;
        let mut m = at(e);
        // log10's rounding near a power of ten, or a mantissa rounded up to 10000.
        if m.abs() >= 10_000 {
            e += 1;
            m = at(e);
        } else if m.abs() < 1_000 {
            e -= 1;
            m = at(e);
        }
        (e, m)
    };
    let mut b = [4u8; 13];
    b[1..5].copy_from_slice(&e.to_le_bytes());
    b[5..].copy_from_slice(&m.to_le_bytes());
    b
}

/// How far a re-exported value may be from the one trained on (absolute, or relative for
/// large values) and still be matched across a rounding boundary: a re-export to 6
/// decimals moves a value by at most 5e-7.
fn near_slack(v: f64) -> f64 {
    (v.abs() * 1e-6).max(1e-6)
}

/// One column's hashed bytes for `row`, and for a near fingerprint of a value within
/// [`near_slack`] of a rounding boundary, the bytes of its other rounding.
fn piece(
    data: &Dataset,
    (numeric, k): (bool, usize),
    row: usize,
    near: bool,
) -> (Vec<u8>, Option<Vec<u8>>) {
    let text_piece = |tag: u8, text: &str| {
        let mut b = vec![tag];
        b.extend_from_slice(&(text.len() as u64).to_le_bytes());
        b.extend_from_slice(text.as_bytes());
        b
    };
    if !numeric {
        let c = data.categorical[k][row];
        return match data.categories[k].get(c as usize) {
            Some(text) if c != MISSING_CODE => (text_piece(3, text), None),
            _ => (vec![2], None),
        };
    }
    let v = data.numeric[k][row];
    if v.is_nan() {
        return (vec![0], None);
    }
    if !near {
        let mut b = vec![1];
        b.extend_from_slice(&(v + 0.0).to_bits().to_le_bytes());
        return (b, None);
    }
    let at = near_bytes(v);
    let d = near_slack(v);
    let other = [near_bytes(v - d), near_bytes(v + d)]
        .into_iter()
        .find(|t| *t != at)
        .map(|t| t.to_vec());
    (at.to_vec(), other)
}

fn hash_pieces<'a>(pieces: impl Iterator<Item = &'a [u8]>) -> u64 {
    let mut h = Sha256::new();
    for p in pieces {
        h.update(p);
    }
    let d = h.finalize();
    u64::from_le_bytes(d[..8].try_into().unwrap_or_default())
}

/// A row's fingerprint (exact, and coarse over its own columns: the values' bits; near:
/// [`near_bytes`]), without a buffer per value (every training row is hashed): the same
/// bytes as [`piece`] gives.
pub(super) fn hash_row(data: &Dataset, at: &[(bool, usize)], row: usize, mode: Mode) -> u64 {
    let mut h = Sha256::new();
    for &(numeric, k) in at {
        if numeric {
            let v = data.numeric[k][row];
            if v.is_nan() {
                h.update([0u8]);
            } else if mode == Mode::Near {
                h.update(near_bytes(v));
            } else {
                h.update([1u8]);
                h.update((v + 0.0).to_bits().to_le_bytes());
            }
        } else {
            let c = data.categorical[k][row];
            match data.categories[k].get(c as usize) {
                Some(text) if c != MISSING_CODE => {
                    h.update([3u8]);
                    h.update((text.len() as u64).to_le_bytes());
                    h.update(text.as_bytes());
                }
                _ => h.update([2u8]),
            }
        }
    }
    let d = h.finalize();
    u64::from_le_bytes(d[..8].try_into().unwrap_or_default())
}

/// The near fingerprints `row` may have been stored under: its own, and those with values
/// near a rounding boundary taken the other way (every combination of up to 6 such values;
/// beyond that, one at a time).
fn near_probes(data: &Dataset, at: &[(bool, usize)], row: usize) -> Vec<u64> {
    let pieces: Vec<(Vec<u8>, Option<Vec<u8>>)> =
        at.iter().map(|&c| piece(data, c, row, true)).collect();
    let open: Vec<usize> = (0..pieces.len())
        .filter(|&i| pieces[i].1.is_some())
        .collect();
    let pick = |flip: &dyn Fn(usize) -> bool| {
        hash_pieces(
            pieces
                .iter()
                .enumerate()
                .map(|(i, (base, other))| match other {
                    Some(o) if flip(i) => o.as_slice(),
                    _ => base.as_slice(),
                }),
        )
    };
    if open.len() <= 6 {
        (0u32..1 << open.len())
            .map(|m| {
                pick(&|i| {
                    open.iter()
                        .position(|&o| o == i)
                        .is_some_and(|b| m >> b & 1 == 1)
                })
            })
            .collect()
    } else {
        std::iter::once(pick(&|_| false))
            .chain(open.iter().map(|&o| pick(&|i| i == o)))
            .collect()
    }
}

pub use super::duplicates::{Duplicates, duplicates, training_rows};

impl Fingerprints {
    /// The fingerprints of `rows` of `data`, over all of its feature columns.
    pub fn of(data: &Dataset, rows: impl IntoIterator<Item = usize>) -> Fingerprints {
        Self::hashed(data, rows, Mode::Exact)
    }

    /// [`Self::of`] with numeric values rounded to [`NEAR_DIGITS`] significant digits.
    pub fn near(data: &Dataset, rows: impl IntoIterator<Item = usize>) -> Fingerprints {
        Self::hashed(data, rows, Mode::Near)
    }

    /// [`Self::of`] over the categories and whole numbers only.
    pub fn coarse(data: &Dataset, rows: impl IntoIterator<Item = usize>) -> Fingerprints {
        Self::hashed(data, rows, Mode::Coarse)
    }

    fn hashed(data: &Dataset, rows: impl IntoIterator<Item = usize>, mode: Mode) -> Fingerprints {
        let rows: Vec<usize> = rows.into_iter().collect();
        let mut columns = all_columns(data);
        if mode == Mode::Coarse {
            let whole = |n: &str| {
                let k = data.numeric_names.iter().position(|x| x == n);
                k.is_some_and(|k| {
                    rows.iter().all(|&r| {
                        let v = data.numeric[k][r];
                        v.is_nan() || v.fract() == 0.0
                    })
                })
            };
            columns.retain(|c| match c {
                Column::Numeric(n) => whole(n),
                Column::Categorical(_) => true,
            });
        }
        let at = locate(data, &columns).unwrap_or_default();
        let mut hashes: Vec<u64> = rows
            .into_iter()
            .map(|r| hash_row(data, &at, r, mode))
            .collect();
        let rows_seen = hashes.len();
        hashes.sort_unstable();
        hashes.dedup();
        Fingerprints {
            columns,
            hashes,
            mode,
            rows_seen,
        }
    }

    /// Whether a match identifies a row: at most 1 in 1,000 of the rows fingerprinted
    /// shared one (always for exact and near ones; coarse ones leave the fractional
    /// numbers out, and a schema of few categories and whole numbers does not tell rows
    /// apart by them).
    pub fn identifies_rows(&self) -> bool {
        self.mode != Mode::Coarse || 1000 * (self.rows_seen - self.hashes.len()) <= self.rows_seen
    }

    /// Which of `rows` of `data` are among these fingerprints (hashed over the same
    /// columns, the same way); an error names a column `data` does not have.
    pub fn contains(&self, data: &Dataset, rows: &[usize]) -> Result<Vec<bool>, String> {
        let at = locate(data, &self.columns)?;
        let has = |h: &u64| self.hashes.binary_search(h).is_ok();
        Ok(rows
            .iter()
            .map(|&r| {
                if self.mode == Mode::Near {
                    near_probes(data, &at, r).iter().any(has)
                } else {
                    has(&hash_row(data, &at, r, self.mode))
                }
            })
            .collect())
    }

    /// Distinct rows fingerprinted.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether no row was fingerprinted.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The file's bytes: a text line, a JSON line naming the columns, then the sorted
    /// hashes as little-endian u64.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut header = serde_json::json!({ "columns": self.columns, "rows": self.hashes.len() });
        match self.mode {
            Mode::Exact => {}
            Mode::Near => header["near_digits"] = NEAR_DIGITS.into(),
            Mode::Coarse => {
                header["coarse"] = true.into();
                header["rows_seen"] = self.rows_seen.into();
            }
        }
        hashes_file(MAGIC, &header, &self.hashes)
    }

    /// Reads [`Self::to_bytes`]' format.
    pub fn from_bytes(bytes: &[u8]) -> Result<Fingerprints, String> {
        #[derive(Deserialize)]
        struct Header {
            columns: Vec<Column>,
            rows: usize,
            #[serde(default)]
            near_digits: Option<usize>,
            #[serde(default)]
            coarse: bool,
            #[serde(default)]
            rows_seen: Option<usize>,
        }
        let (header, hashes) = read_hashes_file::<Header>(bytes, MAGIC, |h| h.rows)?;
        if header.near_digits.is_some_and(|d| d != NEAR_DIGITS) {
            return Err(format!(
                "rounded to {:?} digits, this version rounds to {NEAR_DIGITS}",
                header.near_digits
            ));
        }
        let mode = match (header.near_digits, header.coarse) {
            (Some(_), _) => Mode::Near,
            (None, true) => Mode::Coarse,
            (None, false) => Mode::Exact,
        };
        Ok(Fingerprints {
            columns: header.columns,
            rows_seen: header.rows_seen.unwrap_or(hashes.len()),
            hashes,
            mode,
        })
    }
}

#[cfg(test)]
#[path = "fingerprint_tests.rs"]
mod tests;
