//! Scoring a business date again: which run wrote it, and whether this run may replace
//! its rows (same input contents, or `--force`).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::infer::PredictRequest;
use crate::error::{ClaimsError, Result};
use crate::registry::db;
use crate::sink;

/// The rows a run replaced: a date scored again.
#[derive(Debug, Clone, Serialize)]
pub struct Replaced {
    /// The run that had written them.
    pub run_id: String,
    /// Its champion rows.
    pub rows: u64,
    /// The file it scored, when that run is recorded in this home.
    pub data: Option<PathBuf>,
    /// The champion version it scored with, when recorded.
    pub model_version: Option<u32>,
}

/// Words every refusal of [`earlier_run`] carries, by which the console knows that a failed
/// run was refused because its date was already scored (and offers to replace the rows).
const REFUSED_FOR_DATE: &str = "should replace that day's scores";

/// Whether a run's error is [`earlier_run`]'s refusal; if so, what the date holds (the
/// error's first sentence or two, without the CLI command that forces it).
pub fn refused_for_date(error: &str) -> Option<&str> {
    error
        .contains(REFUSED_FOR_DATE)
        .then(|| error.split(" Nothing was written.").next().unwrap_or(error))
}

/// The run whose rows of `date` this one is about to replace, if any. Refuses (exit 2) when
/// that run scored other contents (by SHA-256 of the file, or by path for a run that did
/// not record one), or is not recorded in this home, unless the request says to replace:
/// a mistyped `--date` must not quietly overwrite another day's scores. A rerun of the same
/// contents (a retry, the same file delivered again) goes ahead, whatever its path.
pub(super) fn earlier_run(
    home: &Path,
    sink: &mut dyn sink::Sink,
    req: &PredictRequest,
    date: &str,
) -> Result<Option<Replaced>> {
    // A missing or unreadable file is the same usage error whether or not the date holds
    // rows (its hash below would otherwise fail as an I/O error, which schedulers retry).
    crate::data::load::check_path(&req.data)?;
    let Some((run_id, rows)) = sink.day_run(date)? else {
        return Ok(None);
    };
    let conn = db::open(&home.join("claims.db"))?;
    let earlier = crate::registry::runs::get(&conn, &run_id)?;
    let data = earlier
        .as_ref()
        .and_then(|r| r.args_json()["data"].as_str().map(PathBuf::from));
    let replaced = Replaced {
        run_id: run_id.clone(),
        rows,
        data: data.clone(),
        model_version: earlier
            .as_ref()
            .and_then(|r| r.summary_json()["model_version"].as_u64())
            .map(|v| v as u32),
    };
    if req.replace {
        return Ok(Some(replaced));
    }
    let force = format!(
        "Nothing was written. If the date is right and this file {REFUSED_FOR_DATE}: {}; otherwise check --date",
        force_command(home, req, date)
    );
    let Some(earlier_data) = data else {
        return Err(ClaimsError::Usage(format!(
            "{date} already holds {rows} predictions from run {run_id}, which is not recorded in this home (another home, or a --sink shared with one), so this run cannot tell whether it scored the same file. {force}"
        )));
    };
    let recorded = earlier.as_ref().and_then(|r| {
        r.summary_json()["input_sha256"]
            .as_str()
            .map(str::to_string)
    });
    let same = match &recorded {
        Some(h) => crate::registry::sha256_file(&req.data)? == *h,
        None => earlier_data == req.data,
    };
    if !same {
        let how = if recorded.is_some() && earlier_data == req.data {
            "other contents at the same path"
        } else {
            "another file"
        };
        return Err(ClaimsError::Usage(format!(
            "{date} already holds {rows} predictions from run {run_id}, which scored {}; this run's {} is {how}. {force}",
            earlier_data.display(),
            req.data.display()
        )));
    }
    Ok(Some(replaced))
}

/// The command that scores `req`'s file for `date` with `--force`, with this run's home and
/// sink (a pasted command without them would write elsewhere); a --config given to this run
/// must be given again. Without the sink's password (a pasted `***` would fail to log in):
/// PGPASSWORD or ~/.pgpass gives it.
pub(crate) fn force_command(home: &Path, req: &PredictRequest, date: &str) -> String {
    let (sink, had_password) = req.sink.as_deref().map_or((String::new(), false), |s| {
        let (url, had) = sink::postgres::without_password(s);
        (format!(" --sink {}", crate::shell_word(&url)), had)
    });
    // The command's own --config when the CLI gave one (the hint arguments end with it);
    // run from elsewhere (the console), the reader is told to add it.
    let (config, ask) = match crate::HINT_ARGS.get() {
        Some(args) => (args.find(" --config ").map_or("", |i| &args[i..]), false),
        None => ("", true),
    };
    let note = match (ask, had_password) {
        (true, true) => {
            " (with the same --config, if this run had one; and the sink's password in PGPASSWORD or ~/.pgpass)"
        }
        (true, false) => " (with the same --config, if this run had one)",
        (false, true) => " (with the sink's password in PGPASSWORD or ~/.pgpass)",
        (false, false) => "",
    };
    format!(
        "`claims --home {}{config} predict --data {} --date {date}{sink} --force`{note}",
        crate::shell_word(&home.display().to_string()),
        crate::shell_word(&req.data.display().to_string())
    )
}

/// The latest "today" among `zones`, with its zone.
fn latest_today<'a>(zones: &[&'a str]) -> Result<Option<(String, &'a str)>> {
    let mut latest: Option<(String, &str)> = None;
    for tz in zones {
        let today = super::infer::today(tz)?;
        if latest.as_ref().is_none_or(|(t, _)| today > *t) {
            latest = Some((today, tz));
        }
    }
    Ok(latest)
}

/// Refuses (exit 2) a business date after today in every one of `zones` (the inference and
/// schedule time zones) unless the request says to replace: a mistyped year would otherwise
/// become the sink's latest date for good (drift, the console and `explain` open on it).
/// No scheduled run asks for one (`date_offset_days` is at most 0).
pub(super) fn refuse_future(
    home: &Path,
    req: &PredictRequest,
    date: &str,
    zones: &[&str],
) -> Result<()> {
    match latest_today(zones)? {
        Some((today, tz)) if !req.replace && date > today.as_str() => {
            Err(ClaimsError::Usage(format!(
                "{date} is after today ({today} in {tz}): was --date mistyped? Nothing was written. If the date is right: {}",
                force_command(home, req, date)
            )))
        }
        _ => Ok(()),
    }
}

/// Warnings about a scored date that looks mistyped: a date after today in every one of
/// `zones` (the inference and schedule time zones), and other dates of the same sink
/// (`sink`, as the runs record it) whose standing rows came from the same contents
/// (`sha256`), which scoring a file twice counts twice in drift and feedback. Logged too.
pub(super) fn date_warnings(
    home: &Path,
    date: &str,
    sha256: Option<&str>,
    sink: &str,
    zones: &[&str],
) -> Vec<String> {
    let warnings = mistyped_date(home, date, sha256, sink, zones).unwrap_or_else(|e| {
        vec![format!(
            "could not check the date against earlier runs: {e}"
        )]
    });
    for w in &warnings {
        tracing::warn!(target: super::RESULT_WARNING, "{w}");
    }
    warnings
}

fn mistyped_date(
    home: &Path,
    date: &str,
    sha256: Option<&str>,
    sink: &str,
    zones: &[&str],
) -> Result<Vec<String>> {
    let mut out = vec![];
    if let Some((today, tz)) = latest_today(zones)?
        && date > today.as_str()
    {
        out.push(format!(
            "{date} is after today ({today} in {tz}): was --date mistyped?"
        ));
    }
    if let Some(sha) = sha256 {
        let conn = db::open(&home.join("claims.db"))?;
        let mut st = conn
            .prepare(
                "SELECT json_extract(args, '$.date'), run_id FROM runs
                 WHERE kind = 'predict' AND status = 'succeeded' AND replaced_by IS NULL
                   AND json_extract(summary, '$.input_sha256') = ?1
                   AND json_extract(args, '$.date') <> ?2
                   AND json_extract(args, '$.sink') = ?3
                 ORDER BY started_at",
            )
            .map_err(db::sql)?;
        let rows = st
            .query_map([sha, date, sink], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(db::sql)?;
        for r in rows {
            let (other, run) = r.map_err(db::sql)?;
            out.push(format!(
                "the same file contents were scored for {other} too (run {run}): each of its applications now counts on both dates in drift and feedback; if this file is not {date}'s (a mistyped --date, or a wrong file in a backfill), score the right file for {date} with --force"
            ));
        }
    }
    Ok(out)
}
