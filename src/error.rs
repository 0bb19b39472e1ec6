//! The one error type of claims-ops and its mapping to the exit codes of the CLI contract.

use std::path::PathBuf;

/// Exit code: the pipeline failed for a reason other than bad input or usage.
pub const EXIT_PIPELINE: i32 = 1;
/// Exit code: bad command line or configuration.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: input data violates the data contract.
pub const EXIT_CONTRACT: i32 = 3;
/// Exit code: another run holds the lock.
pub const EXIT_LOCKED: i32 = 4;
/// Exit code: a monitored threshold was breached (with `--fail-on-drift`).
pub const EXIT_DRIFT: i32 = 5;

/// One place where input data broke the contract: which file, which row, which column, why.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Violation {
    /// The file the row came from.
    pub file: String,
    /// 1-based data row (the header is not counted); `None` for file-level problems.
    pub row: Option<usize>,
    /// The column concerned, if any.
    pub column: Option<String>,
    /// What was expected and what was found.
    pub reason: String,
    /// The row's first line in a CSV file (1-based, the header is line 1), when known: blank
    /// lines and quoted fields with newlines make it differ from `row + 1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(row) = self.row {
            write!(f, ": row {row}")?;
            if let Some(line) = self.line {
                write!(f, " (line {line})")?;
            }
        }
        if let Some(col) = &self.column {
            write!(f, ", column '{col}'")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Everything that can go wrong, grouped by what the user should do about it.
#[derive(Debug, thiserror::Error)]
pub enum ClaimsError {
    /// The configuration is invalid: names the key, the value and what is allowed.
    #[error("config: {0}")]
    Config(String),
    /// The command line asks for something impossible.
    #[error("{0}")]
    Usage(String),
    /// A failure already described elsewhere (a scheduled job's last attempt), with the
    /// exit code its own error had.
    #[error("{1}")]
    Exit(i32, String),
    /// Input data broke the contract; holds every violation found (the message shows the first).
    #[error("{}", contract_message(.0))]
    Contract(Vec<Violation>),
    /// Another process holds the run lock.
    #[error("another run holds the lock: {0}")]
    Locked(String),
    /// A monitored threshold was breached.
    #[error("drift alert: {0}")]
    Drift(String),
    /// An artifact in the registry is missing, corrupt or was edited.
    #[error("registry: {0}")]
    Registry(String),
    /// XGBoost reported an error.
    #[error("xgboost: {0}")]
    Xgboost(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Any other failure of the pipeline, with its cause chain.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

fn contract_message(v: &[Violation]) -> String {
    // A file-wide line (no row, no column) next to row problems is their summary (e.g. the
    // quarantine limit), not one more problem.
    let placed = v
        .iter()
        .filter(|x| x.row.is_some() || x.column.is_some())
        .count();
    let n = if placed > 0 { placed } else { v.len() };
    let mut s = format!("input violates the data contract ({n} problem(s))");
    for x in v.iter().take(20) {
        s.push_str("\n  - ");
        s.push_str(&x.to_string());
    }
    if v.len() > 20 {
        // Counted as the header counts: problems, not the summary line.
        let shown = v
            .iter()
            .take(20)
            .filter(|x| x.row.is_some() || x.column.is_some());
        let more = n - if placed > 0 { shown.count() } else { 20 };
        s.push_str(&format!("\n  ... and {more} more"));
        // Where the unlisted ones are: row problems per column, most first (a file-level
        // problem such as a missing column is its own line already).
        let mut by: Vec<(&str, usize)> = vec![];
        for c in v
            .iter()
            .filter(|x| x.row.is_some())
            .filter_map(|x| x.column.as_deref())
        {
            match by.iter_mut().find(|(k, _)| *k == c) {
                Some((_, n)) => *n += 1,
                None => by.push((c, 1)),
            }
        }
        by.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        if !by.is_empty() {
            let listed: Vec<String> = by.iter().map(|(c, n)| format!("{c} {n}")).collect();
            s.push_str(&format!("\n  problems by column: {}", listed.join(", ")));
        }
    }
    s
}

impl ClaimsError {
    /// The process exit code for this error, as in the CLI contract.
    pub fn exit_code(&self) -> i32 {
        match self {
            ClaimsError::Config(_) | ClaimsError::Usage(_) => EXIT_USAGE,
            ClaimsError::Contract(_) => EXIT_CONTRACT,
            ClaimsError::Locked(_) => EXIT_LOCKED,
            ClaimsError::Drift(_) => EXIT_DRIFT,
            ClaimsError::Exit(code, _) => *code,
            // A file this user may not read or write is a setup problem, not a failed run.
            ClaimsError::Io { source, .. }
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                EXIT_USAGE
            }
            _ => EXIT_PIPELINE,
        }
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ClaimsError::Io {
            path: path.into(),
            source,
        }
    }

    /// A contract failure with a single file-level violation.
    pub fn contract_file(file: impl Into<String>, reason: impl Into<String>) -> Self {
        ClaimsError::Contract(vec![Violation {
            file: file.into(),
            row: None,
            column: None,
            reason: reason.into(),
            line: None,
        }])
    }
}

/// Result alias used across the crate.
pub type Result<T, E = ClaimsError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// A summary line (the quarantine limit) next to row problems: the header counts the
    /// problems, and "... and N more" counts the problems not listed, the same way.
    #[test]
    fn missing_columns_get_no_per_column_counts() {
        let missing: Vec<Violation> = (0..25)
            .map(|k| Violation {
                file: "day.csv".into(),
                row: None,
                column: Some(format!("c{k}")),
                reason: "missing column".into(),
                line: None,
            })
            .collect();
        let text = contract_message(&missing);
        assert!(text.ends_with("... and 5 more"), "{text}");
    }

    #[test]
    fn contract_message_counts_problems_not_the_summary() {
        let v = |row: Option<usize>| Violation {
            file: "day.csv".into(),
            row,
            column: row.map(|_| "age".into()),
            reason: "x".into(),
            line: None,
        };
        let mut all = vec![v(None)];
        all.extend((1..=30).map(|r| v(Some(r))));
        let text = contract_message(&all);
        assert!(
            text.starts_with("input violates the data contract (30 problem(s))"),
            "{text}"
        );
        // 20 listed: the summary and 19 rows; 11 rows left, and where they are.
        assert!(
            text.ends_with("... and 11 more\n  problems by column: age 30"),
            "{text}"
        );
        let mut rows_only: Vec<Violation> = (1..=25).map(|r| v(Some(r))).collect();
        rows_only[3].column = Some("gender".into());
        assert!(
            contract_message(&rows_only)
                .ends_with("... and 5 more\n  problems by column: age 24, gender 1")
        );
    }
}
