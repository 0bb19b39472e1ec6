//! Cutting CSV text into fields: quote-free text is kept whole and indexed on commas and
//! line ends (`memchr`, no copy per value), anything else goes through the `csv` crate into
//! per-column text buffers, with the same values and errors (a test compares the two on
//! random text). Used by [`super::load`] for every CSV chunk.

use super::load::TextColumn;
use crate::error::{ClaimsError, Result};

fn csv_reader(bytes: &[u8]) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes)
}

/// Parses the header line of a CSV file (a leading UTF-8 byte order mark is dropped).
pub(super) fn csv_header(name: &str, line: &[u8]) -> Result<Vec<String>> {
    let line = line.strip_prefix(b"\xef\xbb\xbf").unwrap_or(line);
    let mut rec = csv::StringRecord::new();
    match csv_reader(line).read_record(&mut rec) {
        Ok(true) => Ok(rec
            .iter()
            .map(|c| c.trim_end_matches('\r').to_string())
            .collect()),
        Ok(false) => Err(ClaimsError::contract_file(name, "the file has no header")),
        Err(e) => Err(ClaimsError::contract_file(
            name,
            format!("cannot read the header: {e}"),
        )),
    }
}

/// A chunk of CSV rows cut into fields.
pub(super) enum Cut {
    /// Quote-free text kept whole, with where each field ends.
    Fields(FieldIndex),
    /// Per-column text buffers (text that needed the `csv` crate).
    Columns(Vec<TextColumn>),
}

/// Quote-free CSV text kept as it was read, with where each field ends: finding a value is
/// two lookups, and no value is copied.
pub(super) struct FieldIndex {
    text: String,
    /// Where each row's first field starts.
    row_starts: Vec<u32>,
    /// Where each field ends, row after row (a field that is not a row's first starts just
    /// after the comma that ends the one before it).
    ends: Vec<u32>,
    width: usize,
}

/// Where field `k` of row `row` lies in the indexed text.
fn field_range(
    row_starts: &[u32],
    ends: &[u32],
    width: usize,
    row: usize,
    k: usize,
) -> (usize, usize) {
    let at = row * width + k;
    let start = if k == 0 {
        row_starts[row] as usize
    } else {
        ends[at - 1] as usize + 1
    };
    (start, ends[at] as usize)
}

impl FieldIndex {
    /// Number of data rows.
    pub(super) fn rows(&self) -> usize {
        self.row_starts.len()
    }

    /// Field `k` of row `row` (`None` past the end or when the field is empty).
    pub(super) fn get(&self, row: usize, k: usize) -> Option<&str> {
        if row >= self.rows() || k >= self.width {
            return None;
        }
        let (start, end) = field_range(&self.row_starts, &self.ends, self.width, row, k);
        Some(&self.text[start..end]).filter(|v| !v.is_empty())
    }
}

/// Per-column text buffers being filled, row by row, from a chunk of CSV text.
struct ColumnsBuilder<'a> {
    name: &'a str,
    columns: &'a [String],
    offset: usize,
    text: Vec<Vec<u8>>,
    ends: Vec<Vec<u32>>,
    /// Per column, the first row whose value is not valid UTF-8.
    bad_text: Vec<Option<usize>>,
    /// Data rows added so far.
    rows: usize,
}

impl<'a> ColumnsBuilder<'a> {
    fn new(name: &'a str, bytes: &[u8], columns: &'a [String], offset: usize) -> Self {
        let per_row = bytes.len() / 300 + 1;
        let width = columns.len();
        ColumnsBuilder {
            name,
            columns,
            offset,
            text: (0..width)
                .map(|_| Vec::with_capacity(per_row * 8))
                .collect(),
            ends: (0..width).map(|_| Vec::with_capacity(per_row)).collect(),
            bad_text: vec![None; width],
            rows: 0,
        }
    }

    /// Appends field `k` of the current row.
    fn field(&mut self, k: usize, value: &[u8]) -> Result<()> {
        // Checked per value: two bad halves of a character in adjacent rows would pass as
        // one column text.
        if self.bad_text[k].is_none() && std::str::from_utf8(value).is_err() {
            self.bad_text[k] = Some(self.rows);
        }
        let text = &mut self.text[k];
        text.extend_from_slice(value);
        let end = u32::try_from(text.len()).map_err(|_| {
            ClaimsError::contract_file(self.name, "a chunk of the file is over 4 GB of text")
        })?;
        self.ends[k].push(end);
        Ok(())
    }

    /// Ends a data row that had `fields` fields; an error if that is not the header's width.
    fn end_row(&mut self, fields: usize) -> Result<()> {
        self.rows += 1;
        if fields != self.text.len() {
            return Err(ClaimsError::contract_file(
                self.name,
                format!(
                    "data row {} has {fields} fields, the header has {}",
                    self.offset + self.rows,
                    self.text.len()
                ),
            ));
        }
        Ok(())
    }

    fn finish(self) -> Result<Vec<TextColumn>> {
        if let Some((k, row)) = first_bad_text(&self.bad_text) {
            return Err(not_utf8(self.name, self.columns, self.offset + row + 1, k));
        }
        let name = self.name;
        self.text
            .into_iter()
            .zip(self.ends)
            .map(|(t, ends)| {
                let text = String::from_utf8(t).map_err(|_| {
                    ClaimsError::contract_file(name, "a column is not valid UTF-8 text")
                })?;
                Ok(TextColumn { text, ends })
            })
            .collect()
    }
}

/// The first column (in file order) with a value that is not UTF-8, and that value's row.
fn first_bad_text(bad: &[Option<usize>]) -> Option<(usize, usize)> {
    bad.iter()
        .enumerate()
        .find_map(|(k, r)| r.map(|row| (k, row)))
}

fn not_utf8(name: &str, columns: &[String], row: usize, k: usize) -> ClaimsError {
    ClaimsError::contract_file(
        name,
        format!(
            "data row {row}, column '{}': not valid UTF-8 text (save the file as UTF-8)",
            columns.get(k).map_or("?", |c| c.as_str())
        ),
    )
}

/// Whether `bytes` can be cut on commas and line ends alone and give what the `csv` crate
/// gives: no quote characters, and every carriage return is part of a `\r\n` line end.
fn plain_csv(bytes: &[u8]) -> bool {
    memchr::memchr(b'"', bytes).is_none()
        && memchr::memchr_iter(b'\r', bytes).all(|i| bytes.get(i + 1) == Some(&b'\n'))
}

/// Cuts `bytes` (whole CSV rows) into fields; every row must have the header's width.
/// Text without quotes (the usual daily file) is indexed where it lies, several times
/// faster than the `csv` crate; anything else goes through the crate.
pub(super) fn csv_cut(
    name: &str,
    bytes: Vec<u8>,
    columns: &[String],
    offset: usize,
) -> Result<Cut> {
    if plain_csv(&bytes) {
        index_plain(name, bytes, columns, offset)
    } else {
        let out = ColumnsBuilder::new(name, &bytes, columns, offset);
        cut_quoted(&bytes, out).map(Cut::Columns)
    }
}

/// [`csv_cut`] for text that passes [`plain_csv`]. Blank lines are skipped, as the `csv`
/// crate skips them.
fn index_plain(name: &str, bytes: Vec<u8>, columns: &[String], offset: usize) -> Result<Cut> {
    let width = columns.len();
    let too_big = || ClaimsError::contract_file(name, "a chunk of the file is over 4 GB of text");
    u32::try_from(bytes.len()).map_err(|_| too_big())?;
    let per_row = bytes.len() / (8 * width.max(1)) + 1;
    let mut row_starts: Vec<u32> = Vec::with_capacity(per_row);
    let mut ends: Vec<u32> = Vec::with_capacity(per_row * width);
    let (mut start, mut row_start, mut k) = (0usize, 0usize, 0usize);
    let cuts = memchr::memchr2_iter(b',', b'\n', &bytes).chain(std::iter::once(bytes.len()));
    for i in cuts {
        if bytes.get(i) == Some(&b',') {
            if k < width {
                ends.push(i as u32);
            }
            k += 1;
        } else {
            let end = if i > start && bytes[i - 1] == b'\r' {
                i - 1
            } else {
                i
            };
            if k > 0 || end > start {
                let fields = k + 1;
                if fields != width {
                    return Err(ClaimsError::contract_file(
                        name,
                        format!(
                            "data row {} has {fields} fields, the header has {width}",
                            offset + row_starts.len() + 1
                        ),
                    ));
                }
                ends.push(end as u32);
                row_starts.push(row_start as u32);
            }
            k = 0;
            row_start = i + 1;
        }
        start = i + 1;
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        // A value holds a bad byte (separators are ASCII): name the first column with one,
        // at its first such row, as the column cut does.
        let bytes = e.as_bytes();
        let bad = (0..width).find_map(|k| {
            (0..row_starts.len()).find_map(|row| {
                let (a, b) = field_range(&row_starts, &ends, width, row, k);
                std::str::from_utf8(&bytes[a..b])
                    .is_err()
                    .then_some((k, row))
            })
        });
        let (k, row) = bad.unwrap_or((0, 0));
        not_utf8(name, columns, offset + row + 1, k)
    })?;
    Ok(Cut::Fields(FieldIndex {
        text,
        row_starts,
        ends,
        width,
    }))
}

/// [`csv_cut`] through the `csv` crate (quoted fields, lone carriage returns).
fn cut_quoted(bytes: &[u8], mut out: ColumnsBuilder) -> Result<Vec<TextColumn>> {
    let width = out.columns.len();
    let mut rdr = csv_reader(bytes);
    let mut rec = csv::ByteRecord::new();
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {
                if rec.len() == 1 && rec.get(0) == Some(b"") {
                    continue; // a blank line
                }
                if rec.len() == width {
                    for (k, field) in rec.iter().enumerate() {
                        out.field(k, field)?;
                    }
                }
                out.end_row(rec.len())?;
            }
            Err(e) => {
                return Err(ClaimsError::contract_file(
                    out.name,
                    format!(
                        "cannot read the rows after data row {}: {e}",
                        out.offset + out.rows
                    ),
                ));
            }
        }
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_cut_equals_the_csv_crate() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let pieces: [&[u8]; 11] = [
            b"",
            b"a",
            b"12",
            b"-0.5",
            b" x ",
            b"\xc3\xa9",
            b"APP1",
            b"\t",
            b"\xff",
            // Two halves of one character: bad in separate values.
            b"\xc3",
            b"\xa9",
        ];
        // Every column's values, whichever way the text was cut.
        let values = |r: Result<Cut>, width: usize| {
            r.map(|c| -> Vec<Vec<Option<String>>> {
                let own = |v: Option<&str>| v.map(str::to_string);
                match c {
                    Cut::Fields(f) => (0..width)
                        .map(|k| (0..f.rows()).map(|i| own(f.get(i, k))).collect())
                        .collect(),
                    Cut::Columns(cols) => cols
                        .iter()
                        .map(|c| (0..c.ends.len()).map(|i| own(c.get(i))).collect())
                        .collect(),
                }
            })
            .map_err(|e| e.to_string())
        };
        let (mut oks, mut errs) = (0, 0);
        for case in 0..3000 {
            let width: usize = rng.random_range(1..6);
            let mut text = vec![];
            for _ in 0..rng.random_range(0..12) {
                match rng.random_range(0..40) {
                    0 => text.extend_from_slice(b"\n"),
                    1 => text.extend_from_slice(b"\r\n"),
                    r => {
                        let n = match r {
                            2 => width + 1,
                            3 => width.saturating_sub(1).max(1),
                            _ => width,
                        };
                        for k in 0..n {
                            if k > 0 {
                                text.push(b',');
                            }
                            // Invalid UTF-8 only now and then, so most cases parse.
                            let p = rng.random_range(0..if case % 10 == 0 { 11 } else { 8 });
                            text.extend_from_slice(pieces[p]);
                        }
                        text.extend_from_slice(if rng.random_bool(0.5) { b"\n" } else { b"\r\n" });
                    }
                }
            }
            if rng.random_bool(0.2) {
                while matches!(text.last(), Some(b'\n' | b'\r')) {
                    text.pop();
                }
            }
            assert!(plain_csv(&text));
            let offset = rng.random_range(0..100);
            let names: Vec<String> = (0..width).map(|k| format!("c{k}")).collect();
            let plain = values(csv_cut("f.csv", text.clone(), &names, offset), width);
            let builder = ColumnsBuilder::new("f.csv", &text, &names, offset);
            let quoted = values(cut_quoted(&text, builder).map(Cut::Columns), width);
            assert_eq!(plain, quoted, "{:?}", String::from_utf8_lossy(&text));
            if plain.is_ok() { oks += 1 } else { errs += 1 }
        }
        assert!(oks > 1000 && errs > 300, "{oks} parsed, {errs} errors");
        // What the direct cut must leave to the crate.
        assert!(!plain_csv(b"a,\"b\"\n"));
        assert!(!plain_csv(b"a\rb\n"));
        assert!(!plain_csv(b"a,b\r"));
        assert!(plain_csv(b"a,b\r\n"));
    }
}
