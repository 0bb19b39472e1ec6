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
        Err(e) if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) => {
            Err(ClaimsError::contract_file(name, header_not_utf8(line)))
        }
        Err(e) => Err(ClaimsError::contract_file(
            name,
            format!("cannot read the header: {e}"),
        )),
    }
}

/// Which header name has bytes that are not UTF-8, and what to do (the csv crate's own
/// message named a record, a field number and a byte offset).
fn header_not_utf8(line: &[u8]) -> String {
    let mut rec = csv::ByteRecord::new();
    let bad = match csv_reader(line).read_byte_record(&mut rec) {
        Ok(true) => rec
            .iter()
            .enumerate()
            .find(|(_, f)| std::str::from_utf8(f).is_err()),
        _ => None,
    };
    match bad {
        Some((k, f)) => format!(
            "header column {} ('{}' as read) is not UTF-8 text: save the file as UTF-8 (it may be Latin-1 or Windows-1252)",
            k + 1,
            String::from_utf8_lossy(f).trim_end_matches('\r')
        ),
        None => "the header is not UTF-8 text: save the file as UTF-8".into(),
    }
}

/// A chunk of CSV rows cut into fields, and the rows that could not be.
pub(super) struct Cut {
    pub(super) body: CutBody,
    /// Rows without the header's number of fields, or with bytes that are not UTF-8, in
    /// row order: their fields read as empty, and the contract check quarantines them.
    pub(super) malformed: Vec<Malformed>,
}

/// How a chunk's fields are stored.
pub(super) enum CutBody {
    /// Quote-free text kept whole, with where each field ends.
    Fields(FieldIndex),
    /// Per-column text buffers (text that needed the `csv` crate).
    Columns(Vec<TextColumn>),
}

/// A row that could not be read as the header's columns (wrong number of fields, or bytes
/// that are not UTF-8): quarantined with its reason, never checked value by value.
#[derive(Debug, Clone, PartialEq)]
pub struct Malformed {
    /// The row's place in its chunk (0-based).
    pub row: usize,
    /// The first column with bytes that are not UTF-8 (`None` for a wrong field count).
    pub column: Option<String>,
    /// What is wrong.
    pub reason: String,
    /// The row as written (bytes that are not UTF-8 shown as U+FFFD).
    pub raw: String,
}

fn wrong_width(fields: usize, width: usize) -> String {
    format!("the row has {fields} fields, the header has {width}")
}

const NOT_UTF8: &str = "not valid UTF-8 text (save the file as UTF-8)";

/// Quote-free CSV text kept as it was read, with where each field ends: finding a value is
/// two lookups, and no value is copied.
pub(super) struct FieldIndex {
    text: String,
    /// Where each row's first field starts.
    row_starts: Vec<u32>,
    /// Where each field ends, row after row (a field that is not a row's first starts just
    /// after the comma that ends the one before it). A malformed row's fields all end where
    /// the row starts, so they read as empty.
    ends: Vec<u32>,
    width: usize,
}

/// Where field `k` of row `row` lies in the indexed text (`start > end` for the empty
/// fields of a malformed row).
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
        self.text.get(start..end).filter(|v| !v.is_empty())
    }
}

/// Per-column text buffers being filled, row by row, from a chunk of CSV text.
struct ColumnsBuilder<'a> {
    name: &'a str,
    columns: &'a [String],
    offset: usize,
    text: Vec<Vec<u8>>,
    ends: Vec<Vec<u32>>,
    malformed: Vec<Malformed>,
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
            malformed: vec![],
            rows: 0,
        }
    }

    /// Adds a row of fields (valid UTF-8, the header's width).
    fn row<'f>(&mut self, fields: impl Iterator<Item = &'f [u8]>) -> Result<()> {
        for (k, value) in fields.enumerate() {
            let text = &mut self.text[k];
            text.extend_from_slice(value);
            let end = u32::try_from(text.len()).map_err(|_| {
                ClaimsError::contract_file(self.name, "a chunk of the file is over 4 GB of text")
            })?;
            self.ends[k].push(end);
        }
        self.rows += 1;
        Ok(())
    }

    /// Adds a malformed row: empty fields, and what is wrong with it.
    fn malformed(&mut self, column: Option<usize>, reason: String, raw: String) {
        for (t, ends) in self.text.iter().zip(&mut self.ends) {
            ends.push(t.len() as u32);
        }
        self.malformed.push(Malformed {
            row: self.rows,
            column: column.and_then(|k| self.columns.get(k).cloned()),
            reason,
            raw,
        });
        self.rows += 1;
    }

    fn finish(self) -> Result<Cut> {
        let name = self.name;
        let columns = self
            .text
            .into_iter()
            .zip(self.ends)
            .map(|(t, ends)| {
                let text = String::from_utf8(t).map_err(|_| {
                    ClaimsError::contract_file(name, "a column is not valid UTF-8 text")
                })?;
                Ok(TextColumn { text, ends })
            })
            .collect::<Result<_>>()?;
        Ok(Cut {
            body: CutBody::Columns(columns),
            malformed: self.malformed,
        })
    }
}

/// Whether `bytes` can be cut on commas and line ends alone and give what the `csv` crate
/// gives: no quote characters, and every carriage return is part of a `\r\n` line end.
fn plain_csv(bytes: &[u8]) -> bool {
    memchr::memchr(b'"', bytes).is_none()
        && memchr::memchr_iter(b'\r', bytes).all(|i| bytes.get(i + 1) == Some(&b'\n'))
}

/// Cuts `bytes` (whole CSV rows) into fields. A row without the header's width, or with
/// bytes that are not UTF-8, is set aside as [`Malformed`]. Text without quotes (the usual
/// daily file) is indexed where it lies, several times faster than the `csv` crate;
/// anything else goes through the crate.
pub(super) fn csv_cut(
    name: &str,
    bytes: Vec<u8>,
    columns: &[String],
    offset: usize,
) -> Result<Cut> {
    if plain_csv(&bytes) {
        index_plain(name, bytes, columns)
    } else {
        let out = ColumnsBuilder::new(name, &bytes, columns, offset);
        cut_quoted(&bytes, out)
    }
}

/// [`csv_cut`] for text that passes [`plain_csv`]. Blank lines are skipped, as the `csv`
/// crate skips them.
fn index_plain(name: &str, bytes: Vec<u8>, columns: &[String]) -> Result<Cut> {
    let width = columns.len();
    let too_big = || ClaimsError::contract_file(name, "a chunk of the file is over 4 GB of text");
    u32::try_from(bytes.len()).map_err(|_| too_big())?;
    let per_row = bytes.len() / (8 * width.max(1)) + 1;
    let mut row_starts: Vec<u32> = Vec::with_capacity(per_row);
    let mut ends: Vec<u32> = Vec::with_capacity(per_row * width);
    // Malformed rows with where their line lies.
    let mut malformed: Vec<(Malformed, (usize, usize))> = vec![];
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
                let (row, fields) = (row_starts.len(), k + 1);
                if fields != width {
                    ends.truncate(row * width);
                    ends.resize((row + 1) * width, row_start as u32);
                    let raw = String::from_utf8_lossy(&bytes[row_start..end]).into_owned();
                    let reason = wrong_width(fields, width);
                    let m = Malformed {
                        row,
                        column: None,
                        reason,
                        raw,
                    };
                    malformed.push((m, (row_start, end)));
                } else {
                    ends.push(end as u32);
                }
                row_starts.push(row_start as u32);
            }
            k = 0;
            row_start = i + 1;
        }
        start = i + 1;
    }
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let mut bytes = e.into_bytes();
            set_aside_bad_text(&mut bytes, columns, &row_starts, &mut ends, &mut malformed);
            String::from_utf8(bytes).map_err(|_| {
                ClaimsError::contract_file(
                    name,
                    "the text is not valid UTF-8 after setting rows aside",
                )
            })?
        }
    };
    Ok(Cut {
        body: CutBody::Fields(FieldIndex {
            text,
            row_starts,
            ends,
            width,
        }),
        malformed: malformed.into_iter().map(|(m, _)| m).collect(),
    })
}

/// Sets aside the rows of `bytes` holding bytes that are not UTF-8 (separators are ASCII,
/// so a bad byte is in a value), naming the first such column; then blanks every
/// malformed row's line so the rest of the text is valid.
fn set_aside_bad_text(
    bytes: &mut [u8],
    columns: &[String],
    row_starts: &[u32],
    ends: &mut [u32],
    malformed: &mut Vec<(Malformed, (usize, usize))>,
) {
    let width = columns.len();
    let mut bad = vec![];
    for row in 0..row_starts.len() {
        if malformed.binary_search_by_key(&row, |(m, _)| m.row).is_ok() {
            continue;
        }
        let field = |k| {
            let (a, b) = field_range(row_starts, ends, width, row, k);
            std::str::from_utf8(&bytes[a..b]).is_err()
        };
        if let Some(k) = (0..width).find(|&k| field(k)) {
            let line = (
                row_starts[row] as usize,
                ends[row * width + width - 1] as usize,
            );
            bad.push((row, k, line));
        }
    }
    for (row, k, (a, b)) in bad {
        let raw = String::from_utf8_lossy(&bytes[a..b]).into_owned();
        let column = columns.get(k).cloned();
        let reason = NOT_UTF8.into();
        malformed.push((
            Malformed {
                row,
                column,
                reason,
                raw,
            },
            (a, b),
        ));
        ends[row * width..(row + 1) * width].fill(a as u32);
    }
    malformed.sort_by_key(|(m, _)| m.row);
    for (_, (a, b)) in malformed.iter() {
        bytes[*a..*b].fill(b' ');
    }
}

/// Fields as a CSV line, quoted where needed (for the quarantine table's raw text).
pub(super) fn csv_line<'a>(fields: impl Iterator<Item = std::borrow::Cow<'a, str>>) -> String {
    fields
        .map(|v| {
            if v.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", v.replace('"', "\"\""))
            } else {
                v.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A record's fields as a CSV line.
fn record_line(rec: &csv::ByteRecord) -> String {
    csv_line(rec.iter().map(String::from_utf8_lossy))
}

/// [`csv_cut`] through the `csv` crate (quoted fields, lone carriage returns).
fn cut_quoted(bytes: &[u8], mut out: ColumnsBuilder) -> Result<Cut> {
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
                if rec.len() != width {
                    out.malformed(None, wrong_width(rec.len(), width), record_line(&rec));
                } else if let Some(k) = rec.iter().position(|f| std::str::from_utf8(f).is_err()) {
                    out.malformed(Some(k), NOT_UTF8.into(), record_line(&rec));
                } else {
                    out.row(rec.iter())?;
                }
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
    fn a_header_name_that_is_not_utf8_is_named() {
        // "income" with a Latin-1 e-acute: the column and its name as read, not the csv
        // crate's record and byte offsets.
        let e = csv_header("day.csv", b"application_id,age,incom\xe9\r\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("day.csv")
                && e.contains("header column 3 ('incom\u{fffd}' as read) is not UTF-8 text")
                && e.contains("save the file as UTF-8"),
            "{e}"
        );
        assert!(!e.contains("byte"), "{e}");
    }

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
        // Every column's values and the malformed rows, whichever way the text was cut.
        type Seen = (Vec<Vec<Option<String>>>, Vec<Malformed>);
        let values = |r: Result<Cut>, width: usize| -> std::result::Result<Seen, String> {
            let c = r.map_err(|e| e.to_string())?;
            let own = |v: Option<&str>| v.map(str::to_string);
            let cols = match c.body {
                CutBody::Fields(f) => (0..width)
                    .map(|k| (0..f.rows()).map(|i| own(f.get(i, k))).collect())
                    .collect(),
                CutBody::Columns(cols) => cols
                    .iter()
                    .map(|c| (0..c.ends.len()).map(|i| own(c.get(i))).collect())
                    .collect(),
            };
            Ok((cols, c.malformed))
        };
        let (mut oks, mut errs, mut utf8) = (0, 0, 0);
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
            let quoted = values(cut_quoted(&text, builder), width);
            assert_eq!(plain, quoted, "{:?}", String::from_utf8_lossy(&text));
            let (cols, malformed) = plain.unwrap();
            // A malformed row reads as empty fields, and no other row is lost.
            for m in &malformed {
                assert!(cols.iter().all(|c| c[m.row].is_none()), "{m:?}");
            }
            if malformed.is_empty() {
                oks += 1
            } else {
                errs += 1
            }
            if malformed.iter().any(|m| m.column.is_some()) {
                utf8 += 1;
            }
        }
        assert!(
            oks > 1000 && errs > 300 && utf8 > 50,
            "{oks} clean, {errs} with malformed rows, {utf8} with bad bytes"
        );
        // The reasons and raw text a malformed row is quarantined with.
        let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let text = b"1,2,3\n4,5\r\n6,\xff7,8\n9,10,11\n".to_vec();
        let cut = csv_cut("f.csv", text, &names, 0).unwrap();
        let got: Vec<(usize, Option<&str>, &str, &str)> = cut
            .malformed
            .iter()
            .map(|m| {
                (
                    m.row,
                    m.column.as_deref(),
                    m.reason.as_str(),
                    m.raw.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (1, None, "the row has 2 fields, the header has 3", "4,5"),
                (2, Some("b"), NOT_UTF8, "6,\u{fffd}7,8"),
            ]
        );
        // What the direct cut must leave to the crate.
        assert!(!plain_csv(b"a,\"b\"\n"));
        assert!(!plain_csv(b"a\rb\n"));
        assert!(!plain_csv(b"a,b\r"));
        assert!(plain_csv(b"a,b\r\n"));
    }
}
