//! Where CSV rows end, read as the parser reads quotes: for cutting a file into chunks at
//! row ends, refusing an unclosed quote, and naming the line a bad row starts on.

use std::path::Path;

/// What a scan of CSV text that starts at a row boundary found.
#[derive(Debug, PartialEq)]
pub(super) struct Scan {
    /// Offset just past the last row end (a newline outside quotes).
    pub(super) last_row_end: Option<usize>,
    /// When the text ends inside a quoted field: the data rows before the one where it
    /// opened (blank lines are not rows).
    pub(super) open_quote_row: Option<usize>,
}

/// The CSV parser's reading of quotes, one byte at a time (the state carries across
/// buffers): a quote opens a quoted field only at the start of a field, `""` inside one is
/// a quote, and any other quote is a plain character (`5'2"` is one value).
struct Quotes {
    state: QuoteState,
    field_start: bool,
    /// Whether the current row has anything but a line end (blank lines are not rows).
    content: bool,
}

#[derive(PartialEq)]
enum QuoteState {
    Plain,
    Quoted,
    /// A quote inside a quoted field: it closes the field unless another quote follows.
    QuoteInQuoted,
}

/// What one byte was.
enum Step {
    Other,
    /// A newline inside a quoted field.
    LineInField,
    /// A newline ending a row (`blank`: a line with nothing on it, which is not a row).
    RowEnd {
        blank: bool,
    },
}

impl Quotes {
    fn new() -> Self {
        Quotes {
            state: QuoteState::Plain,
            field_start: true,
            content: false,
        }
    }

    fn step(&mut self, c: u8) -> Step {
        if self.state == QuoteState::QuoteInQuoted {
            if c == b'"' {
                self.state = QuoteState::Quoted;
                return Step::Other;
            }
            self.state = QuoteState::Plain;
        }
        if self.state == QuoteState::Quoted {
            return match c {
                b'"' => {
                    self.state = QuoteState::QuoteInQuoted;
                    Step::Other
                }
                b'\n' => Step::LineInField,
                _ => Step::Other,
            };
        }
        match c {
            b'\n' => {
                let blank = !self.content;
                self.content = false;
                self.field_start = true;
                return Step::RowEnd { blank };
            }
            b'\r' => {}
            b'"' if self.field_start => {
                self.state = QuoteState::Quoted;
                self.field_start = false;
                self.content = true;
            }
            b',' => {
                self.field_start = true;
                self.content = true;
            }
            _ => {
                self.field_start = false;
                self.content = true;
            }
        }
        Step::Other
    }

    /// Inside a quoted field that has not been closed.
    fn in_quotes(&self) -> bool {
        self.state == QuoteState::Quoted
    }
}

/// Scans `b` (text starting at a row boundary) the way the CSV parser reads it ([`Quotes`]).
pub(super) fn scan(b: &[u8]) -> Scan {
    if memchr::memchr(b'"', b).is_none() {
        return Scan {
            last_row_end: memchr::memrchr(b'\n', b).map(|i| i + 1),
            open_quote_row: None,
        };
    }
    let mut q = Quotes::new();
    let (mut rows, mut end) = (0, None);
    for (i, &c) in b.iter().enumerate() {
        if let Step::RowEnd { blank } = q.step(c) {
            end = Some(i + 1);
            rows += usize::from(!blank);
        }
    }
    Scan {
        last_row_end: end,
        open_quote_row: q.in_quotes().then_some(rows),
    }
}

/// `violations` with the first line of each row's text filled in, for the CSV files among
/// them that can be read again: a data row's line is not `row + 1` after a blank line or a
/// quoted field with a newline. Reads each such file once, on this error path only.
pub fn with_lines(mut violations: Vec<crate::error::Violation>) -> Vec<crate::error::Violation> {
    let mut files: Vec<&str> = violations
        .iter()
        .filter(|v| v.row.is_some())
        .map(|v| v.file.as_str())
        .collect();
    files.sort_unstable();
    files.dedup();
    let mut found = std::collections::HashMap::new();
    for file in files {
        let path = Path::new(file);
        if super::load::is_parquet(path) {
            continue;
        }
        let rows: Vec<usize> = violations
            .iter()
            .filter(|v| v.file == file)
            .filter_map(|v| v.row)
            .collect();
        if let Ok(lines) = lines_of_rows(path, &rows) {
            found.insert(file.to_string(), lines);
        }
    }
    for v in &mut violations {
        if let (Some(lines), Some(row)) = (found.get(&v.file), v.row) {
            v.line = lines.get(&row).copied();
        }
    }
    violations
}

/// The first line (1-based; the header is line 1) of each of the data `rows` (1-based) of a
/// CSV file, read as the parser reads it: blank lines are not rows, quotes open a quoted
/// field only at a field's start, and a quoted field may hold newlines.
pub fn lines_of_rows(
    path: &Path,
    rows: &[usize],
) -> std::io::Result<std::collections::HashMap<usize, usize>> {
    use std::io::Read;
    let mut want: Vec<usize> = rows.to_vec();
    want.sort_unstable();
    want.dedup();
    let mut out = std::collections::HashMap::new();
    let Some(&last) = want.last() else {
        return Ok(out);
    };
    let mut file = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
    let mut q = Quotes::new();
    // Physical line, data rows ended so far (the header is not one), the current row's line.
    let (mut line, mut row, mut row_line) = (1usize, 0usize, 1usize);
    let mut seen_header = false;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        for &c in &buf[..n] {
            match q.step(c) {
                Step::Other => {}
                Step::LineInField => line += 1,
                Step::RowEnd { blank } => {
                    if !blank {
                        if seen_header {
                            row += 1;
                            if want.binary_search(&row).is_ok() {
                                out.insert(row, row_line);
                            }
                            if row >= last {
                                return Ok(out);
                            }
                        }
                        seen_header = true;
                    }
                    line += 1;
                    row_line = line;
                }
            }
        }
    }
    // A last row without a final newline.
    if q.content && seen_header && want.binary_search(&(row + 1)).is_ok() {
        out.insert(row + 1, row_line);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::load::read_file;

    /// Row ends are found the way the CSV parser reads quotes: only a quote at the start of
    /// a field opens a quoted field; `""` inside one is a quote; blank lines are not rows.
    #[test]
    fn scan_reads_quotes_as_the_parser_does() {
        let cases: [(&[u8], Option<usize>, Option<usize>); 6] = [
            (b"a,b\n5'2\",c\nd", Some(11), None),
            (b"a,\"x\ny\",c\nd,\"open\n", Some(10), Some(1)),
            (b"\"a\"\"b\",c\n", Some(9), None),
            (b"a\n\n\r\n\"x", Some(5), Some(1)),
            (b"x\"y\"\"z,1\n", Some(9), None),
            (b"\"never closed,1\n2,3\n", None, Some(0)),
        ];
        for (text, end, open) in cases {
            let sc = scan(text);
            assert_eq!(
                (sc.last_row_end, sc.open_quote_row),
                (end, open),
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }

    /// Violations name the line a row starts on: after blank lines, CRLF ends and a quoted
    /// field with newlines, the line is not row + 1.
    #[test]
    fn violations_name_the_rows_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.csv");
        let text = "id,note\r\nA1,x\r\n\r\nA2,\"two\nlines\"\nA3,5'2\"\n\nA4,\"a\"\"b\"\nA5,last";
        std::fs::write(&path, text).unwrap();
        let lines = lines_of_rows(&path, &[1, 2, 3, 4, 5]).unwrap();
        let got: Vec<usize> = (1..=5).map(|r| lines[&r]).collect();
        assert_eq!(got, vec![2, 4, 6, 8, 9]);
        // The rows the reader sees are the same rows.
        let f = read_file(&path).unwrap();
        assert_eq!(f.rows(), 5);
        let file = path.display().to_string();
        let v = |row| crate::error::Violation {
            file: file.clone(),
            row: Some(row),
            column: None,
            reason: "bad".into(),
            line: None,
        };
        let shown: Vec<String> = with_lines(vec![v(3), v(5)])
            .iter()
            .map(|v| v.to_string())
            .collect();
        assert_eq!(
            shown,
            vec![
                format!("{file}: row 3 (line 6): bad"),
                format!("{file}: row 5 (line 9): bad")
            ]
        );
    }
}
