//! A data file as a path, before it is read: it exists, is a regular non-empty file, is
//! not given twice, and is not another format under a CSV name (gzip, zip, UTF-16,
//! Parquet), each said plainly.

use std::path::{Path, PathBuf};

use crate::error::{ClaimsError, Result};

/// Refuses a file given twice (as `a.csv` and `./a.csv`, or through a link): it would
/// report every row as a duplicate id of itself.
pub fn refuse_repeats(paths: &[PathBuf]) -> Result<()> {
    let same = |a: &Path, b: &Path| match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    };
    for (i, p) in paths.iter().enumerate() {
        if paths[..i].iter().any(|q| same(p, q)) {
            return Err(ClaimsError::Usage(format!(
                "--data '{}' is given twice (each file once)",
                p.display()
            )));
        }
    }
    Ok(())
}

/// Checks that `path` is a non-empty file; returns its display name.
pub fn check_path(path: &Path) -> Result<String> {
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
    if !meta.is_file() {
        return Err(ClaimsError::Usage(format!(
            "data file '{name}' is not a regular file (a pipe or a device?): write the data to a file and give that"
        )));
    }
    if meta.len() == 0 {
        return Err(ClaimsError::contract_file(&name, "the file is empty"));
    }
    // Files that are not text CSV at all, known by their first bytes: said plainly, not as
    // a CSV parser's "invalid utf-8 in field 0".
    let mut head = [0u8; 4];
    let n = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .map_err(|e| ClaimsError::io(path, e))?;
    let what = match &head[..n] {
        [0x1f, 0x8b, ..] => Some("it is gzip-compressed: decompress it first (gunzip)"),
        [b'P', b'K', 3, 4] => {
            Some("it is a zip archive (an .xlsx workbook?): save or extract it as CSV")
        }
        [0xff, 0xfe, ..] | [0xfe, 0xff, ..] => Some("it is UTF-16 text: save it as UTF-8 CSV"),
        b"PAR1" => Some("it is a Parquet file: name it .parquet to read it as one"),
        _ => None,
    };
    if let Some(what) = what
        && !is_parquet(path)
    {
        return Err(ClaimsError::contract_file(
            &name,
            format!("not a CSV file: {what}"),
        ));
    }
    Ok(name)
}

pub fn is_parquet(path: &Path) -> bool {
    matches!(
        path.extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase()
            .as_str(),
        "parquet" | "pq"
    )
}
