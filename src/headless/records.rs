//! `claims models`, `claims runs` and `claims explain`: the registry's versions, the run
//! records and one application's stored scores, as text and JSON.

use serde_json::json;

use super::{Output, reasons_text};
use crate::error::{ClaimsError, Result};
use crate::registry::{Registry, db, runs};

/// `claims models [--verify]`.
pub(super) fn models(home: &std::path::Path, verify: bool) -> Result<Output> {
    let reg = Registry::open(home)?;
    let rows = reg.list()?;
    if verify {
        let (mut checked, mut problems) = (0, vec![]);
        for r in &rows {
            let (n, p) = reg.check_files(r.version);
            checked += n;
            problems.extend(p);
        }
        let mut text = format!(
            "{} model version(s), {checked} files: {}",
            rows.len(),
            if problems.is_empty() {
                "every sha256 matches its manifest".to_string()
            } else {
                format!("{} problem(s)", problems.len())
            }
        );
        for p in &problems {
            text.push_str(&format!("\n  {p}"));
        }
        let then_fail = (!problems.is_empty()).then(|| {
            ClaimsError::Registry(format!(
                "{} file(s) differ from or are missing in their manifests",
                problems.len()
            ))
        });
        return Ok(Output {
            then_fail,
            text,
            json: json!({"command": "models", "verified": rows.len(), "files": checked, "problems": problems}),
        });
    }
    // The imbalance column as wide as its longest entry ("weight:auto=5.2333" ran into the
    // created column).
    let iw = rows
        .iter()
        .filter_map(|r| r.imbalance.as_ref().map(|i| i.chars().count()))
        .max()
        .unwrap_or(0)
        .max(16);
    let mut text = format!(
        "{:<8} {:<20} {:<10} {:<10} {:<iw$} {}\n",
        "version", "aliases", "test AUC", "threshold", "imbalance", "created"
    );
    for r in &rows {
        text.push_str(&format!(
            "v{:<7} {:<20} {:<10} {:<10} {:<iw$} {}\n",
            r.version,
            r.aliases.join(","),
            r.test_roc_auc.map_or("-".into(), |a| format!("{a:.4}")),
            r.threshold.map_or("-".into(), |a| format!("{a:.4}")),
            r.imbalance.clone().unwrap_or_default(),
            r.created_at
        ));
    }
    if rows.len() > 1 {
        text.push_str(
            "(each test AUC is on that version's own test split: compare versions on the same rows with `claims compare`)\n",
        );
    }
    // Who moved the champion, when and why (the latest ten; the JSON has them all).
    let history = reg.champion_history()?;
    if !history.is_empty() {
        text.push_str("\nchampion history (latest last):\n");
        for h in history.iter().skip(history.len().saturating_sub(10)) {
            text.push_str(&format!("  {}\n", h.line()));
        }
    }
    if rows.is_empty() {
        text = format!(
            "no models yet in {} (run `claims train --data FILE`)\n",
            home.display()
        );
    }
    Ok(Output {
        then_fail: None,
        text,
        json: json!({"command": "models", "models": rows, "champion_history": history}),
    })
}

/// `claims runs [RUN_ID] [--limit N]`.
pub(super) fn runs(home: &std::path::Path, run_id: Option<String>, limit: usize) -> Result<Output> {
    let conn = db::open(&home.join("claims.db"))?;
    match run_id {
        Some(id) => {
            let r = runs::get(&conn, &id)?
                .ok_or_else(|| ClaimsError::Usage(format!("no run '{id}' (see `claims runs`)")))?;
            let status = if runs::looks_dead(home, &r) {
                format!(
                    "died? (no process holds the {} lock: killed? its last recorded stage is the last below; the next {} run records it as interrupted)",
                    r.kind, r.kind
                )
            } else {
                r.status.clone()
            };
            let mut text = format!(
                "run {}  kind {}  status {}\nstarted {}  finished {}\n\n",
                r.run_id,
                r.kind,
                status,
                r.started_at,
                r.finished_at.clone().unwrap_or("-".into())
            );
            text.insert_str(text.len() - 1, &r.args_line().unwrap_or_default());
            if let Some(by) = &r.replaced_by {
                text.insert_str(
                    text.len() - 1,
                    &format!(
                        "its rows were replaced by run {by}, which scored the date again (`claims runs {by}`)\n"
                    ),
                );
            }
            for line in r.stage_lines() {
                text.push_str(&line);
                text.push('\n');
            }
            text.push_str(&quarantine_lines(&conn, &r)?);
            let summary = r.summary_json();
            if let Some(top) = summary["top_scored"].as_array() {
                text.push_str(&format!(
                    "\n{} rows scored, {} quarantined; highest scores and their top reasons:\n",
                    summary["rows_scored"], summary["rows_quarantined"]
                ));
                for t in top {
                    text.push_str(&format!(
                        "  {:<14} {:.4}  {}\n",
                        t["application_id"].as_str().unwrap_or(""),
                        t["score"].as_f64().unwrap_or(f64::NAN),
                        reasons_text(&t["top_reasons"])
                    ));
                }
            }
            if let Some(e) = &r.error {
                text.push_str(&format!("\nerror:\n{e}\n"));
            }
            Ok(Output {
                then_fail: None,
                text,
                json: json!({"command": "runs", "run": run_json(home, &r)}),
            })
        }
        None => {
            let rs = runs::list(&conn, limit)?;
            let total: i64 = conn
                .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0))
                .map_err(db::sql)?;
            let mut text = format!(
                "{:<32} {:<8} {:<10} {:<24} {:>8}  {}\n",
                "run", "kind", "status", "started", "took", "date / error"
            );
            for r in &rs {
                // "running" while no process holds the kind's lock: killed (kill -9, power
                // loss); the next run of that kind records it as interrupted.
                let (status, gist) = if runs::looks_dead(home, r) {
                    (
                        "died?".to_string(),
                        format!(
                            "no process holds the {} lock: killed? the next {} run records it as interrupted",
                            r.kind, r.kind
                        ),
                    )
                } else {
                    (r.status.clone(), r.gist())
                };
                text.push_str(&format!(
                    "{:<32} {:<8} {:<10} {:<24} {:>8}  {}\n",
                    r.run_id,
                    r.kind,
                    status,
                    r.started_at,
                    took(r),
                    gist
                ));
            }
            if (rs.len() as i64) < total {
                text.push_str(&format!(
                    "({} most recent of {total} runs; --limit N shows more)\n",
                    rs.len()
                ));
            }
            Ok(Output {
                then_fail: None,
                text,
                json: json!({"command": "runs", "runs": rs.iter().map(|r| run_json(home, r)).collect::<Vec<_>>()}),
            })
        }
    }
}

/// How long a finished run took ("-" while running).
fn took(r: &runs::RunRecord) -> String {
    r.took().unwrap_or_else(|| "-".into())
}

/// A scoring run's quarantined rows and why (first 10), when they are in the home database.
fn quarantine_lines(conn: &rusqlite::Connection, r: &runs::RunRecord) -> Result<String> {
    let quarantined = r.summary_json()["rows_quarantined"].as_u64().unwrap_or(0);
    if r.kind != "predict" || quarantined == 0 {
        return Ok(String::new());
    }
    let mut rows: Vec<(i64, Option<String>, String)> = conn
        .prepare(
            "SELECT row_number, application_id, reason FROM quarantine WHERE run_id = ?1
             ORDER BY row_number LIMIT 10",
        )
        .and_then(|mut st| {
            st.query_map([&r.run_id], |x| Ok((x.get(0)?, x.get(1)?, x.get(2)?)))?
                .collect()
        })
        .unwrap_or_default();
    let mut source = "table quarantine";
    if rows.is_empty() {
        // Not in this database (another sink), or gone with the date's rows when a later
        // run replaced them: the run's summary keeps the first ten.
        rows = r.summary_json()["quarantined_rows"]
            .as_array()
            .map(|kept| {
                kept.iter()
                    .map(|q| {
                        (
                            q["row"].as_i64().unwrap_or(0),
                            q["application_id"].as_str().map(str::to_string),
                            q["reason"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        source = "kept with the run";
    }
    if rows.is_empty() {
        let where_ = match &r.replaced_by {
            Some(by) => {
                format!("their records went with the date's rows when run {by} replaced them")
            }
            None => "the reasons are in the quarantine table of the run's sink".into(),
        };
        return Ok(format!("\n{quarantined} row(s) quarantined; {where_}\n"));
    }
    let mut text = format!(
        "\n{quarantined} row(s) quarantined ({source}){}:\n",
        if quarantined > 10 {
            ", the first 10"
        } else {
            ""
        }
    );
    // Each row's line in the run's file, when it is still there (blank lines and quoted
    // newlines make it differ from row + 1).
    let file = r.args_json()["data"].as_str().map(std::path::PathBuf::from);
    let wanted: Vec<usize> = rows.iter().map(|(row, ..)| *row as usize).collect();
    let lines = file
        .filter(|f| f.is_file())
        .and_then(|f| crate::data::rows::lines_of_rows(&f, &wanted).ok())
        .unwrap_or_default();
    for (row, id, reason) in rows {
        let line = lines
            .get(&(row as usize))
            .map_or(String::new(), |l| format!(" (line {l})"));
        text.push_str(&format!(
            "  row {:<18} {:<14} {}\n",
            format!("{row}{line}"),
            id.unwrap_or_default(),
            // One line per row: a value with a newline in it is shown as \n.
            reason.replace('\n', "\\n")
        ));
    }
    Ok(text)
}

/// A run as JSON, its arguments as an object rather than a JSON string inside JSON, and
/// `looks_dead`: recorded as running while no process holds its kind's lock (what the
/// text shows as `died?`), so a scheduler polling the JSON does not wait on it for ever.
fn run_json(home: &std::path::Path, r: &runs::RunRecord) -> serde_json::Value {
    let mut run = json!(r);
    run["looks_dead"] = runs::looks_dead(home, r).into();
    // Objects, not text holding JSON.
    run["args"] = r
        .args
        .as_deref()
        .and_then(|a| serde_json::from_str(a).ok())
        .unwrap_or(serde_json::Value::Null);
    run["summary"] = r.summary_json();
    // The date a scoring run was for, at the top (it is also in `args`).
    run["business_date"] = run["args"]["date"].clone();
    run
}

/// `claims explain ID [--date D] [--sink URL]`: the application's champion scores with
/// their decision and reasons, on every date it was scored (or on `date`).
pub(super) fn explain(
    home: &std::path::Path,
    url: &str,
    id: &str,
    date: Option<&str>,
) -> Result<Output> {
    let mut sink = crate::sink::open_to_read(url, home)?;
    // Every date is one key lookup (the table's key starts with the date), not a scan of
    // the table for the id. Newest first: the current decision leads.
    let mut dates: Vec<String> = match date {
        Some(d) => vec![d.to_string()],
        None => sink.dates()?,
    };
    dates.reverse();
    let mut found = vec![];
    for d in &dates {
        found.extend(sink.champion_row(d, id)?);
    }
    // Where the application was quarantined instead of scored (a handler asking why it
    // has no score that day gets the reason): one query by id.
    let quarantined: Vec<_> = sink
        .quarantine_of(id)?
        .into_iter()
        .filter(|q| date.is_none_or(|d| q.business_date == d))
        .collect();
    if found.is_empty() && quarantined.is_empty() {
        // Asked about one date: the other dates that scored the id (one key lookup each),
        // newest first.
        let text = id.trim();
        let mut elsewhere = vec![];
        if date.is_some() {
            for d in sink.dates()?.iter().rev() {
                if elsewhere.len() < 5 && sink.champion_row(d, text)?.is_some() {
                    elsewhere.push(d.clone());
                }
            }
        }
        // Ids containing the text (spaces around it, as pasted, left out): on the date
        // asked about, else on the latest three.
        let searched: Vec<String> = dates.iter().take(3).cloned().collect();
        let mut near = vec![];
        for d in &searched {
            let (rows, _) = sink.champion_rows(d, 10, Some(text))?;
            near.extend(
                rows.into_iter()
                    .map(|r| format!("{} ({d})", r.application_id)),
            );
        }
        near.sort();
        near.dedup();
        near.truncate(10);
        let on = date.map_or(String::new(), |d| format!(" on {d}"));
        let mut hint = match elsewhere.first() {
            Some(d) => format!(
                "; it was scored on {} (`claims explain '{}' --date {d}`, or without --date for every date)",
                elsewhere.join(", "),
                text.replace('\'', "'\\''")
            ),
            None => String::new(),
        };
        if text != id {
            hint.push_str("; the id given has spaces around it");
        }
        if !near.is_empty() && elsewhere.is_empty() {
            hint.push_str(&format!("; ids containing it: {}", near.join(", ")));
        }
        return Err(ClaimsError::Usage(format!(
            "no champion score stored for application '{id}'{on} in {}{hint}",
            sink.describe()
        )));
    }
    // Date by date, newest first: the day's score, or why it had none.
    let mut text = String::new();
    let mut bases = crate::registry::basis::Bases::new(home);
    for d in &dates {
        // The id also scored that day (another row of the file had it): say whose score.
        let also = if found.iter().any(|r| r.business_date == *d) {
            "; the score below is the id's other row"
        } else {
            ""
        };
        for q in quarantined.iter().filter(|q| q.business_date == *d) {
            // The row's line in the file, as `claims runs RUN_ID` gives it (blank lines and
            // quoted newlines make it differ from row + 1), when the file is still there.
            let row = q.row_number as usize;
            let line =
                crate::data::rows::lines_of_rows(std::path::Path::new(&q.source_file), &[row])
                    .ok()
                    .and_then(|m| m.get(&row).copied())
                    .map_or(String::new(), |l| format!(", line {l}"));
            // The reason quotes the file's value: control characters are shown escaped, so
            // a newline or an escape sequence in a bad file cannot reach the terminal raw.
            text.push_str(&format!(
                "application {id}\n  {d}: not scored, quarantined (row {}{line} of {}): {}{also}\n\n",
                q.row_number,
                q.source_file,
                super::text::printable(&q.reason)
            ));
        }
        for r in found.iter().filter(|r| r.business_date == *d) {
            text.push_str(&format!("application {}\n", r.application_id));
            for line in super::text::score_lines(r, bases.of(r)) {
                if !line.is_empty() {
                    text.push_str("  ");
                }
                text.push_str(&line);
                text.push('\n');
            }
            text.push('\n');
        }
    }
    // Reasons as JSON values, not text holding JSON, with how they add up.
    let scores: Vec<serde_json::Value> = found
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap_or_default();
            v["top_reasons"] = serde_json::from_str(&r.top_reasons).unwrap_or_default();
            let sum = bases.of(r).and_then(|b| super::text::reasons_sum(r, b));
            v["reasons_sum"] = serde_json::to_value(sum).unwrap_or_default();
            v
        })
        .collect();
    Ok(Output::ok(
        text,
        json!({"command": "explain", "application_id": id, "scores": scores,
            "quarantined": quarantined.iter().map(|q| json!({
                "business_date": q.business_date, "source_file": q.source_file,
                "row_number": q.row_number, "reason": q.reason})).collect::<Vec<_>>()}),
    ))
}
