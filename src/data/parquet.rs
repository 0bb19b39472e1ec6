//! Parquet files: read once (hashed and parsed from the same bytes), every column cast to
//! the text the contract checks, as CSV's fields are. Columns of a type `claims` does not
//! read (a date, a list) are not decoded: they stand empty, named in
//! [`RawFile::unreadable`], and the header check refuses them where the schema uses them
//! (a dropped or unexpected one is what it would be in any type).

use std::path::Path;

use polars::prelude::*;

use super::load::{RawFile, raw_file};
use crate::error::{ClaimsError, Result};

/// The most rows read from one Parquet file (it is decoded whole, as text).
const MAX_ROWS: usize = 5_000_000;

fn polars_err(name: &str, e: PolarsError) -> ClaimsError {
    ClaimsError::contract_file(name, format!("cannot read the file: {e}"))
}

/// Reads a Parquet file into string columns, and the SHA-256 of the very bytes read (one
/// read, so a file replaced meanwhile cannot be hashed as one version and read as another).
/// A type polars cannot take anyway is caught as a refusal of the file, not a crash.
pub(super) fn read(path: &Path, name: &str) -> Result<(RawFile, String)> {
    let bytes = std::fs::read(path).map_err(|e| ClaimsError::io(path, e))?;
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    let mut reader = ParquetReader::new(std::io::Cursor::new(bytes));
    // Read whole, so the rows are bounded before decoding: a few MB of repeated values can
    // decode to tens of GB (a 4 MB file of 20 million rows took 11.6 GB and was killed).
    let rows = reader.num_rows().map_err(|e| polars_err(name, e))?;
    if rows > MAX_ROWS {
        return Err(ClaimsError::contract_file(
            name,
            format!(
                "{rows} rows: claims reads a Parquet file whole, and at most {MAX_ROWS} rows of one; split it, or write it as CSV, which is read in chunks of any length"
            ),
        ));
    }
    let schema = reader.schema().map_err(|e| polars_err(name, e))?;
    let order: Vec<String> = schema.iter().map(|(c, _)| c.to_string()).collect();
    let (readable, unreadable): (Vec<_>, Vec<_>) = schema
        .iter()
        .map(|(c, f)| (c.to_string(), f.dtype().clone()))
        .partition(|(_, t)| parquet_type_readable(t));
    let unreadable: Vec<(String, String)> = unreadable
        .into_iter()
        .map(|(c, t)| (c, parquet_type_name(&t)))
        .collect();
    let reader = if unreadable.is_empty() {
        reader
    } else {
        reader.with_columns(Some(readable.into_iter().map(|(c, _)| c).collect()))
    };
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        reader.finish().and_then(to_strings).and_then(|mut frame| {
            // The columns not decoded stand empty, in the file's order.
            let height = frame.height();
            for (c, _) in &unreadable {
                frame.with_column(Column::full_null(
                    c.as_str().into(),
                    height,
                    &DataType::String,
                ))?;
            }
            frame.select(order.iter().map(String::as_str))
        })
    }));
    let frame = match read {
        Ok(r) => r.map_err(|e| polars_err(name, e))?,
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("no message");
            return Err(ClaimsError::contract_file(
                name,
                format!("cannot read the file: polars failed on it ({why})"),
            ));
        }
    };
    let mut file = raw_file(name.to_string(), frame);
    file.unreadable = unreadable;
    Ok((file, sha))
}

/// A Parquet column type as a user knows it ("list", "timestamp"), not arrow's full name.
pub(super) fn parquet_type_name(t: &polars::prelude::ArrowDataType) -> String {
    use polars::prelude::ArrowDataType as T;
    match t {
        T::List(_) | T::LargeList(_) | T::FixedSizeList(..) => "list".into(),
        T::Struct(_) => "struct".into(),
        T::Map(..) => "map".into(),
        T::Timestamp(..) => "timestamp".into(),
        T::Date32 | T::Date64 => "date".into(),
        T::Time32(_) | T::Time64(_) => "time of day".into(),
        T::Duration(_) | T::Interval(_) => "duration".into(),
        T::Float16 => "half-precision float".into(),
        T::Decimal256(p, _) => format!("decimal of {p} digits (more than 38)"),
        T::Binary | T::LargeBinary | T::BinaryView | T::FixedSizeBinary(_) => "binary".into(),
        other => format!("{other:?}"),
    }
}

/// Whether a Parquet column of type `t` reads into text `claims` can check.
pub(super) fn parquet_type_readable(t: &polars::prelude::ArrowDataType) -> bool {
    use polars::prelude::ArrowDataType as T;
    match t {
        T::Null
        | T::Boolean
        | T::Int8
        | T::Int16
        | T::Int32
        | T::Int64
        | T::UInt8
        | T::UInt16
        | T::UInt32
        | T::UInt64
        | T::Float32
        | T::Float64
        | T::Decimal(..)
        | T::Decimal32(..)
        | T::Decimal64(..)
        | T::Utf8
        | T::LargeUtf8
        | T::Utf8View => true,
        T::Dictionary(_, values, _) => parquet_type_readable(values),
        _ => false,
    }
}

/// Casts every column to text; whole floats print without a fraction so that a category
/// code stored as 3.0 in Parquet reads as "3", as it would in CSV, and booleans as 1 / 0
/// (a 0/1 flag or label written by pandas or Spark as a boolean).
fn to_strings(df: DataFrame) -> PolarsResult<DataFrame> {
    let mut cols = Vec::with_capacity(df.width());
    for c in df.columns() {
        let s = c.as_materialized_series();
        let out = if s.dtype() == &DataType::Boolean {
            let vals: StringChunked = s
                .bool()?
                .iter()
                .map(|v| v.map(|b| if b { "1" } else { "0" }))
                .collect();
            vals.with_name(s.name().clone()).into_series()
        } else if s.dtype().is_float() {
            let f = s.cast(&DataType::Float64)?;
            let vals: StringChunked = f
                .f64()?
                .iter()
                .map(|v| {
                    v.map(|x| {
                        if x.fract() == 0.0 && x.abs() < 1e15 {
                            format!("{}", x as i64)
                        } else {
                            format!("{x}")
                        }
                    })
                })
                .collect();
            vals.with_name(s.name().clone()).into_series()
        } else {
            s.cast(&DataType::String)?
        };
        cols.push(out.into_column());
    }
    DataFrame::new(df.height(), cols)
}
