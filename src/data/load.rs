//! Reading input files (CSV or Parquet) with polars into string columns, so the contract
//! check sees every value exactly as written and can name the row and column of a bad one.

use std::path::Path;

use polars::prelude::*;

use crate::error::{ClaimsError, Result};

/// One input file read as text columns.
pub struct RawFile {
    /// The path as the user gave it.
    pub name: String,
    /// Column names in file order.
    pub columns: Vec<String>,
    /// All columns as strings (missing = None).
    pub frame: DataFrame,
}

impl RawFile {
    /// Number of data rows.
    pub fn rows(&self) -> usize {
        self.frame.height()
    }

    /// The string values of a column.
    pub fn strings(&self, column: &str) -> Result<&StringChunked> {
        self.frame
            .column(column)
            .and_then(|c| c.str())
            .map_err(|e| ClaimsError::contract_file(&self.name, format!("column '{column}': {e}")))
    }

    /// Row `i` as a CSV-like line (for quarantine records).
    pub fn raw_row(&self, i: usize) -> String {
        let mut parts = Vec::with_capacity(self.columns.len());
        for c in &self.columns {
            let v = self.strings(c).ok().and_then(|s| s.get(i)).unwrap_or("");
            if v.contains(',') || v.contains('"') {
                parts.push(format!("\"{}\"", v.replace('"', "\"\"")));
            } else {
                parts.push(v.to_string());
            }
        }
        parts.join(",")
    }
}

fn polars_err(name: &str, e: PolarsError) -> ClaimsError {
    ClaimsError::contract_file(name, format!("cannot read the file: {e}"))
}

/// Reads a CSV or Parquet file (by extension) into string columns.
pub fn read_file(path: &Path) -> Result<RawFile> {
    let name = path.display().to_string();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ClaimsError::Usage(format!(
                "data file '{name}' does not exist"
            )));
        }
        Err(e) => return Err(ClaimsError::io(path, e)),
    };
    if meta.is_dir() {
        return Err(ClaimsError::Usage(format!(
            "data file '{name}' is a folder"
        )));
    }
    if meta.len() == 0 {
        return Err(ClaimsError::contract_file(&name, "the file is empty"));
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let frame = match ext.as_str() {
        "parquet" | "pq" => {
            let f = std::fs::File::open(path).map_err(|e| ClaimsError::io(path, e))?;
            let df = ParquetReader::new(f)
                .finish()
                .map_err(|e| polars_err(&name, e))?;
            to_strings(df).map_err(|e| polars_err(&name, e))?
        }
        _ => CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .try_into_reader_with_file_path(Some(path.to_path_buf()))
            .and_then(|r| r.finish())
            .map_err(|e| polars_err(&name, e))?,
    };
    let columns: Vec<String> = frame
        .get_column_names()
        .iter()
        .map(|c| c.to_string())
        .collect();
    if frame.height() == 0 {
        return Err(ClaimsError::contract_file(
            &name,
            "the file has a header but no data rows",
        ));
    }
    Ok(RawFile {
        name,
        columns,
        frame,
    })
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
