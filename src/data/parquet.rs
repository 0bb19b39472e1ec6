//! Parquet files: read once (hashed and parsed from the same bytes), every column cast to
//! the text the contract checks, as CSV's fields are. Columns of a type `claims` does not
//! read are named before polars is asked to decode them.

use std::path::Path;

use polars::prelude::*;

use super::load::{RawFile, raw_file};
use crate::error::{ClaimsError, Result};

fn polars_err(name: &str, e: PolarsError) -> ClaimsError {
    ClaimsError::contract_file(name, format!("cannot read the file: {e}"))
}

/// Reads a Parquet file into string columns, and the SHA-256 of the very bytes read (one
/// read, so a file replaced meanwhile cannot be hashed as one version and read as another).
/// A column of a type `claims` does not read (dates, lists, structs, half floats) is
/// named; a type polars cannot take is caught as a refusal of the file, not a crash.
pub(super) fn read(path: &Path, name: &str) -> Result<(RawFile, String)> {
    let bytes = std::fs::read(path).map_err(|e| ClaimsError::io(path, e))?;
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    let mut reader = ParquetReader::new(std::io::Cursor::new(bytes));
    let schema = reader.schema().map_err(|e| polars_err(name, e))?;
    let unreadable: Vec<String> = schema
        .iter()
        .filter(|(_, f)| !parquet_type_readable(f.dtype()))
        .map(|(col, f)| format!("'{col}' ({})", parquet_type_name(f.dtype())))
        .collect();
    if !unreadable.is_empty() {
        return Err(ClaimsError::contract_file(
            name,
            format!(
                "column(s) of a type claims does not read: {}; claims reads numbers (integers, floats, decimals), text and booleans: cast them, or leave the column out",
                unreadable.join(", ")
            ),
        ));
    }
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        reader.finish().and_then(to_strings)
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
    Ok((raw_file(name.to_string(), frame), sha))
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
/// code stored as 3.0 in Parquet reads as "3", as it would in CSV.
fn to_strings(df: DataFrame) -> PolarsResult<DataFrame> {
    let mut cols = Vec::with_capacity(df.width());
    for c in df.columns() {
        let s = c.as_materialized_series();
        let out = if s.dtype().is_float() {
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
