//! Cutting CSV text into per-column text buffers: quote-free text directly on commas and
//! line ends (`memchr`), anything else through the `csv` crate, with the same result (a
//! test compares the two on random text). Used by [`super::load`] for every CSV chunk.

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

/// Per-column text buffers being filled, row by row, from a chunk of CSV text.
struct ColumnsBuilder<'a> {
    name: &'a str,
    columns: &'a [String],
    offset: usize,
    text: Vec<Vec<u8>>,
    ends: Vec<Vec<u32>>,
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
            rows: 0,
        }
    }

    /// Appends field `k` of the current row.
    fn field(&mut self, k: usize, value: &[u8]) -> Result<()> {
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
        let (name, offset) = (self.name, self.offset);
        let columns = self.columns;
        self.text
            .into_iter()
            .zip(self.ends)
            .enumerate()
            .map(|(k, (t, ends))| {
                let text = String::from_utf8(t).map_err(|e| {
                    // The first bad byte's row: the first value ending past it.
                    let at = e.utf8_error().valid_up_to();
                    let row = ends.partition_point(|&end| end as usize <= at);
                    ClaimsError::contract_file(
                        name,
                        format!(
                            "data row {}, column '{}': not valid UTF-8 text (save the file as UTF-8)",
                            offset + row + 1,
                            columns.get(k).map_or("?", |c| c.as_str())
                        ),
                    )
                })?;
                Ok(TextColumn { text, ends })
            })
            .collect()
    }
}

/// Whether `bytes` can be cut on commas and line ends alone and give what the `csv` crate
/// gives: no quote characters, and every carriage return is part of a `\r\n` line end.
fn plain_csv(bytes: &[u8]) -> bool {
    memchr::memchr(b'"', bytes).is_none()
        && memchr::memchr_iter(b'\r', bytes).all(|i| bytes.get(i + 1) == Some(&b'\n'))
}

/// Parses `bytes` (whole CSV rows) into columns; every row must have the header's width.
/// Text without quotes (the usual daily file) is cut directly on commas and line ends,
/// about three times faster than the `csv` crate; anything else goes through the crate.
pub(super) fn csv_columns(
    name: &str,
    bytes: &[u8],
    columns: &[String],
    offset: usize,
) -> Result<Vec<TextColumn>> {
    let out = ColumnsBuilder::new(name, bytes, columns, offset);
    if plain_csv(bytes) {
        cut_plain(bytes, out)
    } else {
        cut_quoted(bytes, out)
    }
}

/// [`csv_columns`]' cut for text that passes [`plain_csv`]. Blank lines are skipped, as the
/// `csv` crate skips them.
fn cut_plain(bytes: &[u8], mut out: ColumnsBuilder) -> Result<Vec<TextColumn>> {
    let width = out.columns.len();
    let (mut start, mut k) = (0usize, 0usize);
    let ends = memchr::memchr2_iter(b',', b'\n', bytes).chain(std::iter::once(bytes.len()));
    for i in ends {
        if bytes.get(i) == Some(&b',') {
            if k < width {
                out.field(k, &bytes[start..i])?;
            }
            k += 1;
        } else {
            let last = &bytes[start..i];
            let last = last.strip_suffix(b"\r").unwrap_or(last);
            if k > 0 || !last.is_empty() {
                if k < width {
                    out.field(k, last)?;
                }
                out.end_row(k + 1)?;
            }
            k = 0;
        }
        start = i + 1;
    }
    out.finish()
}

/// [`csv_columns`]' cut through the `csv` crate (quoted fields, lone carriage returns).
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
        let pieces: [&[u8]; 9] = [
            b"",
            b"a",
            b"12",
            b"-0.5",
            b" x ",
            b"\xc3\xa9",
            b"APP1",
            b"\t",
            b"\xff",
        ];
        let cols = |r: Result<Vec<TextColumn>>| {
            r.map(|c| c.into_iter().map(|c| (c.text, c.ends)).collect::<Vec<_>>())
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
                            let p = rng.random_range(0..if case % 10 == 0 { 9 } else { 8 });
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
            let builder = || ColumnsBuilder::new("f.csv", &text, &names, offset);
            let plain = cols(cut_plain(&text, builder()));
            let quoted = cols(cut_quoted(&text, builder()));
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
