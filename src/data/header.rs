//! A data file's header against the columns a command needs: another delimiter, missing
//! columns (naming a near miss such as " age" or "Age"), unexpected and repeated columns.
//! Training, scoring and the labels of `claims feedback` all check their files here.

use super::load::RawFile;
use crate::error::Violation;

fn violation(f: &RawFile, column: Option<&str>, reason: String) -> Violation {
    Violation {
        file: f.name.clone(),
        row: None,
        column: column.map(str::to_string),
        reason,
        line: None,
    }
}

/// Column `c` of a Parquet file when it is of a type `claims` does not read (it stands
/// empty in `f`): the problem, for a column the schema uses.
pub fn unreadable(f: &RawFile, c: &str) -> Option<Violation> {
    let (_, t) = f.unreadable.iter().find(|(u, _)| u == c)?;
    Some(violation(
        f,
        Some(c),
        format!(
            "a column of type {t} in this Parquet file; claims reads numbers (integers, floats, decimals up to 38 digits), text and booleans: cast it"
        ),
    ))
}

/// The problems of `f`'s header: a column of `expected` missing, a column named twice, and,
/// with `known`, a column it does not know. Empty when the header is right.
pub fn problems(
    f: &RawFile,
    expected: &[&str],
    known: Option<&dyn Fn(&str) -> bool>,
) -> Vec<Violation> {
    let mut out = vec![];
    // One column holding separators other than commas: a file written with another
    // delimiter (every expected column would be reported missing).
    if let [only] = f.columns.as_slice()
        && let Some(sep) = [';', '\t', '|'].into_iter().find(|s| only.contains(*s))
    {
        let name = match sep {
            '\t' => "tabs".to_string(),
            s => format!("'{s}'"),
        };
        out.push(violation(
            f,
            None,
            format!(
                "the header is one column with {name} in it: the file seems separated by {name}; save it comma-separated"
            ),
        ));
        return out;
    }
    let has = |c: &str| f.columns.iter().any(|x| x == c);
    // A header name that differs from an expected one only by surrounding spaces or case
    // (" age", "Age"): named in the missing column's violation instead of as unexpected.
    let near = |c: &str| {
        f.columns
            .iter()
            .find(|x| x.as_str() != c && x.trim().eq_ignore_ascii_case(c))
    };
    let mut renamed = vec![];
    for &c in expected {
        out.extend(unreadable(f, c));
        if !has(c) {
            let reason = match near(c) {
                Some(x) => {
                    renamed.push(x.clone());
                    let how = match (x.trim() == x.as_str(), x.trim() == c) {
                        (false, true) => "spaces around the name",
                        (true, _) => "other capitals",
                        (false, false) => "spaces around the name and other capitals",
                    };
                    format!("missing column: the header has '{x}' ({how}); rename it to '{c}'")
                }
                None => "missing column".into(),
            };
            out.push(violation(f, Some(c), reason));
        }
    }
    if let Some(known) = known {
        for c in f.columns.iter().filter(|c| !renamed.contains(c)) {
            if !known(c) {
                out.push(violation(
                    f,
                    Some(&super::values::short(c)),
                    "unexpected column (not in the schema or its drop list)".into(),
                ));
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    for c in &f.columns {
        if !seen.insert(c) {
            out.push(violation(
                f,
                Some(&super::values::short(c)),
                "column appears twice in the header".into(),
            ));
        }
    }
    out
}
