//! Tests of `load.rs`: chunked reading against whole-file reading, quotes, row limits.
use super::*;
use crate::config::Config;
use crate::data::contract::{self, Checker, Mode};
use crate::data::generate::{GenSpec, write_csv};

/// Reading in chunks gives exactly what reading the whole file gives: the same rows
/// pass, the same rows are quarantined with the same reasons, row numbers and raw
/// text, ids stay unique across chunks, and a quoted newline does not split a row.
#[test]
fn chunked_check_equals_whole_file_check() {
    let cfg = Config::from_overlay("").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("day.csv");
    let spec = GenSpec {
        rows: 6000,
        seed: 5,
        with_labels: false,
        ..GenSpec::default()
    };
    write_csv(&spec, &path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let header: Vec<String> = lines[0].split(',').map(str::to_string).collect();
    let col = |name: &str| header.iter().position(|c| *c == name).unwrap();
    let (num, drop) = (col(&cfg.schema.numeric[0].0), col(&cfg.schema.drop[0]));
    let set = |line: &mut String, k: usize, v: &str| {
        let mut f: Vec<String> = line.split(',').map(str::to_string).collect();
        f[k] = v.to_string();
        *line = f.join(",");
    };
    set(&mut lines[100], num, "abc");
    let first_id = lines[5].split(',').next().unwrap().to_string();
    let id_col = col(cfg.schema.id_column.as_deref().unwrap());
    set(&mut lines[5000], id_col, &first_id);
    set(&mut lines[4000], drop, "\"two\nlines, quoted\"");
    std::fs::write(&path, lines.join("\r\n") + "\r\n").unwrap();

    // The reference: polars reading the whole file as text.
    let frame = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(path.clone()))
        .and_then(|r| r.finish())
        .unwrap();
    let polars = raw_file(path.display().to_string(), frame);
    let whole = contract::check(&cfg.schema, &[polars], Mode::Inference);
    // Training's whole-file read gives the same.
    let ours = contract::check(&cfg.schema, &[read_file(&path).unwrap()], Mode::Inference);
    assert_eq!(ours.data.ids, whole.data.ids);
    assert_eq!(ours.bad_rows.len(), whole.bad_rows.len());
    let mut chunks = Chunks::open(&path, 1 << 16).unwrap();
    let mut checker = Checker::new(&cfg.schema, Mode::Inference);
    let mut n = 0;
    while let Some((c, offset)) = chunks.next_chunk().unwrap() {
        if n == 0 {
            assert!(contract::check_columns(&cfg.schema, &c, Mode::Inference).is_empty());
        }
        checker.add(0, &c, offset);
        n += 1;
    }
    let chunked = checker.finish(vec![path.display().to_string()]);
    assert!(n > 5, "only {n} chunks");
    assert_eq!(chunked.rows_read, 6000);
    assert_eq!(whole.rows_read, 6000);
    assert_eq!(chunked.data.ids, whole.data.ids);
    assert_eq!(chunked.data.origin, whole.data.origin);
    assert_eq!(chunked.data.categorical, whole.data.categorical);
    let bits = |d: &crate::data::Dataset| -> Vec<Vec<u64>> {
        d.numeric
            .iter()
            .map(|c| c.iter().map(|v| v.to_bits()).collect())
            .collect()
    };
    assert_eq!(bits(&chunked.data), bits(&whole.data));
    let bad = |c: &contract::Checked| -> Vec<(usize, String, String, String)> {
        c.bad_rows
            .iter()
            .map(|b| (b.row, b.id.clone(), b.reason.clone(), b.raw.clone()))
            .collect()
    };
    assert_eq!(bad(&chunked), bad(&whole));
    let rows: Vec<usize> = chunked.bad_rows.iter().map(|b| b.row).collect();
    assert_eq!(rows, vec![100, 5000], "{:?}", bad(&chunked));
    assert!(chunked.bad_rows[1].reason.contains("duplicate id"));
    assert_eq!(chunked.data.len(), 5998);
}

/// A ragged row is set aside with its reason and text, reads as empty, and the rows
/// after it keep their numbers.
#[test]
fn a_ragged_row_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.csv");
    std::fs::write(&path, "a,b,c\n1,2,3\n4,5,6,7\n8,9,10\n").unwrap();
    let mut chunks = Chunks::open(&path, 1 << 16).unwrap();
    let (c, _) = chunks.next_chunk().unwrap().unwrap();
    assert_eq!(c.rows(), 3);
    let m = c.malformed(1).unwrap();
    assert_eq!(
        (m.reason.as_str(), c.raw_row(1).as_str()),
        ("the row has 4 fields, the header has 3", "4,5,6,7")
    );
    assert_eq!((c.field(1, 0), c.field(2, 0)), (None, Some("8")));
    assert!(c.malformed(0).is_none() && c.malformed(2).is_none());
}

/// The direct cut of quote-free text gives exactly what the `csv` crate gives: the same
/// columns, or the same error, on random text with empty fields, CRLF and LF line ends,
/// blank lines, rows of the wrong width, invalid UTF-8 and no final line end.
#[test]
fn a_header_only_file_gives_one_empty_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.csv");
    std::fs::write(&path, "a,b\n").unwrap();
    let mut chunks = Chunks::open(&path, 1 << 16).unwrap();
    let (c, offset) = chunks.next_chunk().unwrap().unwrap();
    assert_eq!((c.rows(), offset), (0, 0));
    assert!(chunks.next_chunk().unwrap().is_none());
}

/// An unclosed quote deep in a file (past the first chunk) refuses the file, naming the
/// row, instead of reading the rest of the file as one quarantined value.
#[test]
fn an_unclosed_quote_refuses_the_file_and_names_the_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("day.csv");
    let mut text = String::from("application_id,age,note\n");
    for i in 1..=5000 {
        // A later quote would close the open field (as the parser reads it too).
        let note = match i {
            4321 => "\"oops",
            ..4321 => "5'2\"",
            _ => "ok",
        };
        text.push_str(&format!("A{i},{},{note}\n", 20 + i % 50));
    }
    std::fs::write(&path, &text).unwrap();
    let mut chunks = Chunks::open(&path, 1).unwrap();
    let mut rows = 0;
    let err = loop {
        match chunks.next_chunk() {
            Ok(Some((c, _))) => rows += c.rows(),
            Ok(None) => panic!("read to the end: {rows} rows"),
            Err(e) => break e.to_string(),
        }
    };
    assert!(rows > 0 && rows < 4321, "{rows}");
    assert!(
        err.contains("row 4321 (line 4322): a quoted field opens in this row")
            && err.contains("never closed"),
        "{err}"
    );
    // Without the bad quote every row is read (the stray quotes are plain characters).
    std::fs::write(&path, text.replace("\"oops", "fine")).unwrap();
    let f = read_file(&path).unwrap();
    assert_eq!((f.rows(), f.malformed.len()), (5000, 0));
}

/// A file cut short or grown between opening and the end of reading (a copy still being
/// written) is an error, not a day of the rows that happened to be there.
#[test]
fn a_file_that_changes_while_it_is_read_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("day.csv");
    let spec = GenSpec {
        rows: 12_000,
        seed: 3,
        with_labels: false,
        ..GenSpec::default()
    };
    write_csv(&spec, &path).unwrap();
    // Larger than the reader's 1 MiB buffer, so the change is met after the first chunk.
    let full = std::fs::read(&path).unwrap();
    assert!(full.len() > 2 << 20);
    let read_all = |change: &dyn Fn()| -> Result<usize> {
        let mut chunks = Chunks::open(&path, 1 << 16)?;
        let mut rows = chunks.next_chunk()?.map_or(0, |(c, _)| c.rows());
        change();
        while let Some((c, _)) = chunks.next_chunk()? {
            rows += c.rows();
        }
        Ok(rows)
    };
    assert_eq!(read_all(&|| {}).unwrap(), 12_000);
    for (what, change) in [
        (
            "cut short",
            &(|| std::fs::write(&path, &full[..full.len() / 2]).unwrap()) as &dyn Fn(),
        ),
        ("grown", &|| {
            let mut more = full.clone();
            more.extend_from_slice(&full[full.len() / 2..]);
            std::fs::write(&path, more).unwrap();
        }),
    ] {
        std::fs::write(&path, &full).unwrap();
        let err = read_all(change).unwrap_err().to_string();
        assert!(
            err.contains("day.csv") && err.contains("the file changed while it was read"),
            "{what}: {err}"
        );
    }
}

/// Parquet as pandas and Spark write it: narrow integers (`downcast="integer"`) and
/// decimals read as the numbers they hold (a decimal crashed the program, a UInt8 was
/// refused without naming its column); a type `claims` does not read is named with its
/// column.
#[test]
fn parquet_narrow_integers_and_decimals_read_as_numbers() {
    let cfg = Config::from_overlay("").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("day.csv");
    let spec = GenSpec {
        rows: 200,
        seed: 4,
        with_labels: false,
        ..GenSpec::default()
    };
    write_csv(&spec, &csv).unwrap();
    let mut frame = CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(csv.clone()))
        .and_then(|r| r.finish())
        .unwrap();
    let cast = |frame: &DataFrame, name: &str, t: DataType| {
        frame
            .column(name)
            .unwrap()
            .as_materialized_series()
            .cast(&t)
            .unwrap()
    };
    let age = cast(&frame, "age", DataType::UInt8);
    let income = cast(&frame, "income", DataType::Decimal(14, 2));
    let gender = cast(&frame, "gender", DataType::Int8);
    // A 0/1 flag written as a boolean (pandas' bool, Spark's BooleanType) reads as 0 / 1,
    // label or feature (a boolean label was one "label 'true' is not 0 or 1" per row).
    let flag = cast(&frame, "uk_residence", DataType::Boolean);
    // A dropped column of a type claims does not read: ignored, as it would be in any type.
    let n = frame.height();
    let lists: Vec<Series> = (0..n).map(|i| Series::new("".into(), [i as i64])).collect();
    let dropped = Series::new("employment_type".into(), lists);
    for s in [age, income, gender, flag, dropped] {
        frame.with_column(s.into()).unwrap();
    }
    let pq = dir.path().join("day.parquet");
    ParquetWriter::new(std::fs::File::create(&pq).unwrap())
        .finish(&mut frame)
        .unwrap();
    // The hash a read gives is the file's own (training records it from that one read).
    for f in [&csv, &pq] {
        assert_eq!(
            read_file_hashed(f).unwrap().1,
            crate::registry::sha256_file(f).unwrap()
        );
    }
    let from_csv = contract::check(&cfg.schema, &[read_file(&csv).unwrap()], Mode::Inference);
    let from_pq = contract::check(&cfg.schema, &[read_file(&pq).unwrap()], Mode::Inference);
    assert!(from_pq.bad_rows.is_empty(), "{:?}", from_pq.bad_rows);
    let k = |name: &str| {
        cfg.schema
            .numeric
            .iter()
            .position(|(n, _)| n == name)
            .unwrap()
    };
    assert_eq!(
        from_pq.data.numeric[k("age")],
        from_csv.data.numeric[k("age")]
    );
    let (a, b) = (
        &from_pq.data.numeric[k("income")],
        &from_csv.data.numeric[k("income")],
    );
    assert!(
        a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 0.005),
        "{a:?} {b:?}"
    );
    assert_eq!(from_pq.data.categorical, from_csv.data.categorical);
    // The sha256 is of the file's bytes, as for CSV.
    // The same list type where the schema reads a value: refused, naming the column.
    let lists: Vec<Series> = (0..n).map(|i| Series::new("".into(), [i as i64])).collect();
    frame
        .with_column(Series::new("age".into(), lists).into())
        .unwrap();
    let bad = dir.path().join("bad.parquet");
    ParquetWriter::new(std::fs::File::create(&bad).unwrap())
        .finish(&mut frame)
        .unwrap();
    let v = contract::check_columns(&cfg.schema, &read_file(&bad).unwrap(), Mode::Inference);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].column.as_deref(), Some("age"));
    assert!(
        v[0].reason
            .starts_with("a column of type list in this Parquet file"),
        "{v:?}"
    );
    let mut chunks = Chunks::open(&pq, 1 << 16).unwrap();
    assert!(chunks.next_chunk().unwrap().is_some());
    assert_eq!(
        chunks.sha256(),
        Some(crate::registry::sha256_file(&pq).unwrap())
    );
    use crate::data::parquet::{parquet_type_name, parquet_type_readable};
    use polars::prelude::ArrowDataType as T;
    assert!(parquet_type_readable(&T::Decimal(10, 2)) && parquet_type_readable(&T::UInt8));
    for (t, name) in [
        (T::Date32, "date"),
        (T::Float16, "half-precision float"),
        (T::BinaryView, "binary"),
        (
            T::Timestamp(polars::prelude::ArrowTimeUnit::Second, None),
            "timestamp",
        ),
    ] {
        assert!(!parquet_type_readable(&t));
        assert_eq!(parquet_type_name(&t), name);
    }
}

/// A row or a header without a line end in 64 MiB is refused as such, before it fills the
/// memory (a 1 GiB line used to take 4 GiB); the quarantine keeps a bounded raw line.
#[test]
fn a_line_that_never_ends_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("day.csv");
    let mut text = String::from("application_id,age\nA1,30\nA2,");
    text.push_str(&"9".repeat(MAX_ROW_BYTES + 10));
    std::fs::write(&path, &text).unwrap();
    let mut chunks = Chunks::open(&path, 1 << 16).unwrap();
    let err = loop {
        match chunks.next_chunk() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("read to the end"),
            Err(e) => break e.to_string(),
        }
    };
    assert!(
        err.contains("row 2 is longer than 64 MiB, the most a row may hold"),
        "{err}"
    );
    // The same in training's whole-file read (it read all of it first).
    let err = read_file(&path).err().unwrap().to_string();
    assert!(
        err.contains("row 2 is longer than 64 MiB, the most a row may hold"),
        "{err}"
    );
    std::fs::write(&path, "x".repeat(MAX_ROW_BYTES + 10)).unwrap();
    let err = Chunks::open(&path, 1 << 16).err().unwrap().to_string();
    assert!(err.contains("the header is longer than 64 MiB"), "{err}");
}
