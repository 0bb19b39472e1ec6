//! Reading input files as text, so the contract check sees every value exactly as written
//! and can name the row and column of a bad one. CSV files, training and daily alike, are
//! read in chunks of whole rows and cut into per-column text by [`super::csv_cut`] (one
//! chunk for a training file); Parquet is read by polars into string columns.

use super::rows::scan;
use std::path::Path;

use polars::prelude::*;

pub use super::csv_cut::Malformed;
use super::csv_cut::{CutBody, FieldIndex, csv_cut, csv_header};
pub use super::files::{check_path, is_parquet, refuse_repeats};
use crate::error::{ClaimsError, Result};

/// One input file (or a chunk of one) read as text, so the contract check sees every value
/// exactly as written.
pub struct RawFile {
    /// The path as the user gave it.
    pub name: String,
    /// Column names in file order.
    pub columns: Vec<String>,
    body: Body,
    /// Rows that could not be read as the header's columns, in row order.
    malformed: Vec<Malformed>,
    /// Columns of a Parquet file of a type `claims` does not read (a date, a list), with
    /// the type's name: read as empty, and refused where the schema uses them.
    pub unreadable: Vec<(String, String)>,
}

enum Body {
    /// A whole file read by polars, every column as strings.
    Frame(DataFrame),
    /// A chunk of a CSV file, stored by column (text that needed the `csv` crate).
    Columns(Vec<TextColumn>),
    /// A chunk of a quote-free CSV file, kept whole with an index of its fields.
    Fields(FieldIndex),
}

/// One column of a CSV chunk: its values back to back, and where each ends.
pub(super) struct TextColumn {
    pub(super) text: String,
    pub(super) ends: Vec<u32>,
}

impl TextColumn {
    pub(super) fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)? as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        Some(&self.text[start..end]).filter(|v| !v.is_empty())
    }
}

/// The values of one column, in row order (`None` = missing).
pub struct Values<'a>(ValuesOf<'a>);

enum ValuesOf<'a> {
    /// From a polars string column.
    Frame(Box<dyn Iterator<Item = Option<&'a str>> + 'a>),
    /// From a CSV chunk's column, at row `.1`.
    Columns(&'a TextColumn, usize),
    /// From an indexed CSV chunk's column `.1`, at row `.2`.
    Fields(&'a FieldIndex, usize, usize),
}

impl<'a> Iterator for Values<'a> {
    type Item = Option<&'a str>;

    fn next(&mut self) -> Option<Self::Item> {
        use ValuesOf as Values;
        match &mut self.0 {
            Values::Frame(it) => it.next(),
            Values::Columns(c, i) => {
                if *i >= c.ends.len() {
                    return None;
                }
                *i += 1;
                Some(c.get(*i - 1))
            }
            Values::Fields(f, k, i) => {
                if *i >= f.rows() {
                    return None;
                }
                *i += 1;
                Some(f.get(*i - 1, *k))
            }
        }
    }
}

impl RawFile {
    /// Number of data rows.
    pub fn rows(&self) -> usize {
        match &self.body {
            Body::Frame(f) => f.height(),
            Body::Columns(c) => c.first().map_or(0, |c| c.ends.len()),
            Body::Fields(f) => f.rows(),
        }
    }

    /// The values of `column` in row order, or an error naming the file if it has none.
    pub fn values(&self, column: &str) -> Result<Values<'_>> {
        let missing = || {
            ClaimsError::contract_file(&self.name, format!("column '{column}': not in the file"))
        };
        match &self.body {
            Body::Frame(f) => {
                let c = f.column(column).and_then(|c| c.str()).map_err(|e| {
                    ClaimsError::contract_file(&self.name, format!("column '{column}': {e}"))
                })?;
                Ok(Values(ValuesOf::Frame(Box::new(c.iter()))))
            }
            Body::Columns(c) => {
                let k = self.position(column).ok_or_else(missing)?;
                Ok(Values(ValuesOf::Columns(&c[k], 0)))
            }
            Body::Fields(f) => {
                let k = self.position(column).ok_or_else(missing)?;
                Ok(Values(ValuesOf::Fields(f, k, 0)))
            }
        }
    }

    fn position(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == column)
    }

    /// Row `i`'s value of `column` (`None` = missing or no such column).
    pub fn value(&self, column: &str, i: usize) -> Option<&str> {
        match &self.body {
            Body::Frame(f) => f.column(column).ok()?.str().ok()?.get(i),
            Body::Columns(c) => c[self.position(column)?].get(i),
            Body::Fields(f) => f.get(i, self.position(column)?),
        }
    }

    /// Row `i`'s value in column number `k` (`None` = missing or no such row or column).
    pub fn field(&self, i: usize, k: usize) -> Option<&str> {
        match &self.body {
            Body::Frame(f) => f.columns().get(k)?.str().ok()?.get(i),
            Body::Columns(c) => c.get(k)?.get(i),
            Body::Fields(f) => f.get(i, k),
        }
    }

    /// Row `i`'s problem if it could not be read as the header's columns.
    pub fn malformed(&self, i: usize) -> Option<&Malformed> {
        if self.malformed.is_empty() {
            return None;
        }
        let at = self.malformed.binary_search_by_key(&i, |m| m.row).ok()?;
        Some(&self.malformed[at])
    }

    /// Row `i` as a CSV-like line (for quarantine records).
    pub fn raw_row(&self, i: usize) -> String {
        if let Some(m) = self.malformed(i) {
            return m.raw.clone();
        }
        super::csv_cut::csv_line(
            (0..self.columns.len())
                .map(|k| std::borrow::Cow::Borrowed(self.field(i, k).unwrap_or(""))),
        )
    }
}

/// A whole file read by polars (every column as text) as a [`RawFile`].
pub(super) fn raw_file(name: String, frame: DataFrame) -> RawFile {
    let columns = frame
        .get_column_names()
        .iter()
        .map(|c| c.to_string())
        .collect();
    RawFile {
        name,
        columns,
        body: Body::Frame(frame),
        malformed: vec![],
        unreadable: vec![],
    }
}

/// Reads a CSV or Parquet file (by extension) into string columns. CSV goes through the
/// same parser as daily files (one chunk), so a ragged row or a bad byte is reported the
/// same way in training and in scoring.
pub fn read_file(path: &Path) -> Result<RawFile> {
    Ok(read_file_hashed(path)?.0)
}

/// [`read_file`] with the hex SHA-256 of the bytes it read (one read: a file replaced
/// while a run reads it cannot be recorded with another file's hash).
pub fn read_file_hashed(path: &Path) -> Result<(RawFile, String)> {
    let name = check_path(path)?;
    let (file, sha) = if is_parquet(path) {
        super::parquet::read(path, &name)?
    } else {
        let mut chunks = Chunks::open(path, usize::MAX)?;
        let (file, _) = chunks
            .next_chunk()?
            .ok_or_else(|| ClaimsError::contract_file(&name, "the file has no header"))?;
        let sha = match chunks.sha256() {
            Some(sha) => sha,
            // More than one chunk (a file over usize::MAX bytes): hashed apart.
            None => crate::registry::sha256_file(path)?,
        };
        (file, sha)
    };
    if file.rows() == 0 {
        return Err(ClaimsError::contract_file(
            &name,
            "the file has a header but no data rows",
        ));
    }
    Ok((file, sha))
}

/// A file read in chunks of whole rows, each cut into per-column text by
/// [`super::csv_cut`], so a large daily file never sits in memory at once. CSV is cut at line ends outside quoted
/// fields (a quoted value may hold a newline); Parquet comes as one chunk.
pub struct Chunks {
    name: String,
    source: Source,
    /// Data rows handed out so far.
    rows: usize,
    /// Bytes of data rows handed out so far, and of the file's data rows in all (CSV).
    bytes: (usize, usize),
    /// Whether the first chunk was handed out.
    started: bool,
    /// SHA-256 of the bytes read so far (the whole file once the last chunk is out).
    hash: Hash,
}

/// The input's SHA-256: summed as CSV chunks are read, or taken whole (Parquet, streamed
/// from the file rather than read into memory a second time).
enum Hash {
    Reading(sha2::Sha256),
    Done(String),
}

enum Source {
    Csv {
        file: std::io::BufReader<std::fs::File>,
        columns: Vec<String>,
        carry: Vec<u8>,
        target_bytes: usize,
        /// Bytes of the file not read yet (as its size said at the start), plus one.
        left: usize,
        /// Bytes after the header: as the file's size said when it was opened (`None` for
        /// a file that is not a regular file), and as read so far.
        expected: Option<u64>,
        got: u64,
        /// Where the line being read starts in `carry` (after its last line end).
        line_start: usize,
        eof: bool,
    },
    Whole(Option<RawFile>),
}

/// The most text one row may take (a quoted field with newlines included) before the file
/// is refused as having an unclosed quote.
const MAX_ROW_BYTES: usize = 64 << 20;

fn unclosed_quote(name: &str, row: usize, bytes: usize, at_end: bool) -> ClaimsError {
    let how = if at_end {
        format!("is never closed: the rest of the file ({bytes} bytes) would be one value")
    } else {
        format!(
            "is not closed within {} MiB, the most one row may take",
            MAX_ROW_BYTES >> 20
        )
    };
    ClaimsError::Contract(super::rows::with_lines(vec![crate::error::Violation {
        file: name.to_string(),
        row: Some(row),
        column: None,
        reason: format!(
            "a quoted field opens in this row and {how}; an unbalanced '\"'? Nothing was read"
        ),
        line: None,
    }]))
}

impl Chunks {
    /// Opens `path`; CSV chunks hold about `chunk_bytes` of text each.
    pub fn open(path: &Path, chunk_bytes: usize) -> Result<Chunks> {
        use std::io::BufRead;
        let name = check_path(path)?;
        if is_parquet(path) {
            let (file, sha) = super::parquet::read(path, &name)?;
            if file.rows() == 0 {
                return Err(ClaimsError::contract_file(
                    &name,
                    "the file has a header but no data rows",
                ));
            }
            return Ok(Chunks {
                source: Source::Whole(Some(file)),
                name,
                rows: 0,
                bytes: (0, 0),
                started: false,
                hash: Hash::Done(sha),
            });
        }
        let f = std::fs::File::open(path).map_err(|e| ClaimsError::io(path, e))?;
        let mut file = std::io::BufReader::with_capacity(1 << 20, f);
        // The header: up to the first newline outside quotes.
        let mut header = vec![];
        loop {
            // Never more than the longest row allowed, line end or not.
            let room = (MAX_ROW_BYTES + 1).saturating_sub(header.len()) as u64;
            let n = std::io::Read::take(&mut file, room)
                .read_until(b'\n', &mut header)
                .map_err(|e| ClaimsError::io(path, e))?;
            let sc = scan(&header);
            if header.len() > MAX_ROW_BYTES && sc.open_quote_row.is_none() {
                return Err(ClaimsError::contract_file(
                    &name,
                    format!(
                        "the header is longer than {} MiB with no line end: not a CSV header",
                        MAX_ROW_BYTES >> 20
                    ),
                ));
            }
            if n == 0 && sc.open_quote_row.is_some() || header.len() > MAX_ROW_BYTES {
                return Err(ClaimsError::contract_file(
                    &name,
                    "the header has a quoted column name that is never closed (an unbalanced '\"')",
                ));
            }
            if n == 0 || sc.last_row_end.is_some() {
                break;
            }
        }
        // Lines ending in CR alone (classic Mac): the whole file would read as one header.
        if header.windows(2).any(|w| w[0] == b'\r' && w[1] != b'\n') {
            return Err(ClaimsError::contract_file(
                &name,
                "lines end in CR alone (an old Mac format): save it with LF or CRLF line ends",
            ));
        }
        let columns = csv_header(&name, &header)?;
        let mut hash = <sha2::Sha256 as sha2::Digest>::new();
        sha2::Digest::update(&mut hash, &header);
        let hash = Hash::Reading(hash);
        let meta = std::fs::metadata(path).ok();
        let size = meta.as_ref().map_or(0, |m| m.len());
        let expected = meta
            .filter(|m| m.is_file())
            .map(|m| m.len().saturating_sub(header.len() as u64));
        let left = usize::try_from(size)
            .unwrap_or(usize::MAX)
            .saturating_sub(header.len())
            .saturating_add(1);
        let target_bytes = chunk_bytes.max(1 << 16);
        Ok(Chunks {
            name,
            source: Source::Csv {
                file,
                columns,
                carry: Vec::with_capacity(target_bytes.saturating_add(1 << 16).min(left)),
                left,
                target_bytes,
                expected,
                got: 0,
                line_start: 0,
                eof: false,
            },
            rows: 0,
            bytes: (0, left - 1),
            started: false,
            hash,
        })
    }

    /// The hex SHA-256 of the whole file, once every chunk has been read (`None` before).
    pub fn sha256(&self) -> Option<String> {
        let done = match &self.source {
            Source::Csv { eof, carry, .. } => *eof && carry.is_empty(),
            Source::Whole(f) => f.is_none(),
        };
        done.then(|| match &self.hash {
            Hash::Reading(h) => hex::encode(sha2::Digest::finalize(h.clone())),
            Hash::Done(hex) => hex.clone(),
        })
    }

    /// About how many data rows the whole file holds, judged from the chunks so far.
    pub fn rows_hint(&self) -> usize {
        let (done, all) = self.bytes;
        if done == 0 {
            return self.rows;
        }
        (self.rows as f64 * all as f64 / done as f64).ceil() as usize
    }

    /// The file's name as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next chunk and the number of data rows before it; `None` at the end. The first
    /// call always returns a chunk (possibly without rows) so the header can be checked.
    pub fn next_chunk(&mut self) -> Result<Option<(RawFile, usize)>> {
        use std::io::Read;
        let offset = self.rows;
        let chunk = match &mut self.source {
            Source::Whole(f) => f.take(),
            Source::Csv {
                file,
                columns,
                carry,
                target_bytes,
                left,
                expected,
                got,
                line_start,
                eof,
            } => {
                if *eof && carry.is_empty() && self.started {
                    return Ok(None);
                }
                // Fill to the target size, then cut after the last complete row.
                let mut cut = None;
                while !*eof {
                    let have = carry.len();
                    // Past the target with no row end yet (a long quoted field): double,
                    // so the scans stay linear in the row's size.
                    let want = if have < *target_bytes {
                        (*target_bytes - have).max(1 << 16)
                    } else {
                        have
                    }
                    .min(MAX_ROW_BYTES);
                    let read = file
                        .by_ref()
                        .take(want as u64)
                        .read_to_end(carry)
                        .map_err(|e| ClaimsError::io(Path::new(&self.name), e))?;
                    if let Hash::Reading(h) = &mut self.hash {
                        sha2::Digest::update(h, &carry[have..]);
                    }
                    *left = left.saturating_sub(read).max(1);
                    *got += read as u64;
                    // A line that never ends (no line end in 64 MiB, quoted or not) is
                    // refused before it fills the memory, in a whole-file read too.
                    if let Some(p) = memchr::memrchr(b'\n', &carry[have..]) {
                        *line_start = have + p + 1;
                    }
                    if carry.len() - *line_start > MAX_ROW_BYTES {
                        let row =
                            offset + memchr::memchr_iter(b'\n', &carry[..*line_start]).count() + 1;
                        return Err(ClaimsError::contract_file(
                            &self.name,
                            format!(
                                "row {row} is longer than {} MiB, the most a row may hold (no line end within that much of its start): is the file one application per line?",
                                MAX_ROW_BYTES >> 20
                            ),
                        ));
                    }
                    if read == 0 {
                        *eof = true;
                        // Cut short or grown while being read (a copy still being written,
                        // or rotated): the rows read are not the file's, so nothing is
                        // scored or trained on. A retry reads it again.
                        if let Some(size) = expected.filter(|&s| s != *got) {
                            return Err(ClaimsError::io(
                                Path::new(&self.name),
                                std::io::Error::other(format!(
                                    "the file changed while it was read: {size} bytes after the header when it was opened, {got} read (is another process still writing it?)",
                                    got = *got
                                )),
                            ));
                        }
                    }
                    if carry.len() >= *target_bytes || *eof {
                        let sc = scan(carry);
                        if let Some(row) = sc.open_quote_row
                            && (*eof || (sc.last_row_end.is_none() && carry.len() > MAX_ROW_BYTES))
                        {
                            let done = sc.last_row_end.unwrap_or(0);
                            return Err(unclosed_quote(
                                &self.name,
                                offset + row + 1,
                                carry.len() - done,
                                *eof,
                            ));
                        }
                        cut = if *eof {
                            Some(carry.len())
                        } else {
                            sc.last_row_end
                        };
                        if cut.is_some() {
                            break;
                        }
                    }
                }
                let cut = cut.unwrap_or(carry.len());
                if cut == 0 && self.started {
                    return Ok(None);
                }
                // The chunk's text moves on with it; the rest of the last read starts the
                // next chunk's buffer, made big enough not to grow while it fills.
                let mut rest = Vec::with_capacity(
                    target_bytes
                        .saturating_add(1 << 16)
                        .min(*left + carry.len() - cut),
                );
                rest.extend_from_slice(&carry[cut..]);
                carry.truncate(cut);
                *line_start = line_start.saturating_sub(cut);
                self.bytes.0 += cut;
                let text = std::mem::replace(carry, rest);
                let cut = csv_cut(&self.name, text, columns, offset)?;
                let body = match cut.body {
                    CutBody::Fields(f) => Body::Fields(f),
                    CutBody::Columns(c) => Body::Columns(c),
                };
                Some(RawFile {
                    name: self.name.clone(),
                    columns: columns.clone(),
                    body,
                    malformed: cut.malformed,
                    unreadable: vec![],
                })
            }
        };
        self.started = true;
        Ok(chunk.map(|c| {
            self.rows += c.rows();
            (c, offset)
        }))
    }
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
