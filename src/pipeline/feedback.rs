//! Labels that arrive later: kept in the `labels` table (a later label for the same id is
//! a correction and replaces it), joined to the stored predictions (the champion's, and a
//! shadow challenger's of the same dates), and turned into realised performance per
//! business date and model version in the `performance` table, so concept drift shows as a metric over time. Each feedback run recomputes the
//! dates its labels touch from *every* label received for them, so labels may arrive in
//! any number of files, and a date rescored by another model is measured for that model.
//! It also measures every date that labels received earlier match but that has no
//! measure yet (labels loaded before their date was scored).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use rusqlite::params;
use serde::Serialize;

use crate::data::load;
use crate::error::{ClaimsError, Result, Violation};
use crate::eval::metrics;
use crate::registry::db;
use crate::sink;

/// Realised performance of one business date.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Realised {
    /// Business date.
    pub business_date: String,
    /// Model version that scored it.
    pub model_version: i64,
    /// Labelled rows matched.
    pub rows: i64,
    /// Claims among them.
    pub positives: i64,
    /// ROC AUC (NaN with a single class).
    pub roc_auc: f64,
    /// Average precision.
    pub pr_auc: f64,
    /// Log loss.
    pub log_loss: f64,
    /// Brier score.
    pub brier: f64,
}

/// Outcome of recording feedback.
#[derive(Debug, Clone, Serialize)]
pub struct FeedbackOutcome {
    /// Labels read.
    pub labels: usize,
    /// Labels with no stored champion prediction.
    pub unmatched: usize,
    /// Labels whose id has champion predictions on more than one business date (the same
    /// application scored on several days, or ids reused across files): each date counts it.
    pub on_several_dates: usize,
    /// The dates measured, from every label received for them: those these labels touched,
    /// and those that earlier labels match but that had no measure yet.
    pub dates: Vec<Realised>,
}

fn read_labels(path: &Path, id_col: &str, target: &str) -> Result<HashMap<String, u8>> {
    let f = load::read_file(path)?;
    // As training and scoring check theirs (another delimiter, " claim_status", a column
    // twice); other columns are allowed in a labels export.
    let mut problems = crate::data::header::problems(&f, &[id_col, target], None);
    if !problems.is_empty() {
        return Err(ClaimsError::Contract(problems));
    }
    let (ids, ys): (Vec<Option<&str>>, Vec<Option<&str>>) =
        (f.values(id_col)?.collect(), f.values(target)?.collect());
    let mut out = HashMap::new();
    let mut first_row: HashMap<&str, usize> = HashMap::new();
    for i in 0..f.rows() {
        let v = |c: &str, reason: String| Violation {
            file: f.name.clone(),
            row: Some(i + 1),
            column: Some(c.into()),
            reason,
            line: None,
        };
        // A ragged row or one with bytes that are not UTF-8: its own reason, not "label ''".
        if let Some(m) = f.malformed(i) {
            problems.push(Violation {
                column: m.column.clone(),
                ..v(target, m.reason.clone())
            });
            continue;
        }
        let id = ids[i].map(str::trim).unwrap_or("");
        // Training's rule and wording ("missing label", "label 'yes' is not 0 or 1").
        let label = ys[i].map(str::trim).filter(|y| !y.is_empty());
        let y = match crate::data::values::label(label, crate::data::contract::Mode::Training) {
            (Some(y), None) => y,
            (_, why) => {
                let why = why.unwrap_or_else(|| "missing label".into());
                problems.push(v(target, why));
                continue;
            }
        };
        if id.is_empty() {
            problems.push(v(id_col, "missing id".into()));
        } else if let Some(first) = first_row.get(id) {
            problems.push(v(
                id_col,
                format!("duplicate id '{id}' (first seen in row {first})"),
            ));
        } else {
            first_row.insert(id, i + 1);
            out.insert(id.to_string(), y);
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(ClaimsError::Contract(crate::data::rows::with_lines(
            problems,
        )))
    }
}

/// Records realised performance for the labels in `path`.
pub fn feedback(
    home: &Path,
    path: &Path,
    sink_url: &str,
    id_col: &str,
    target: &str,
) -> Result<FeedbackOutcome> {
    // Named absolute in errors and in `labels.source_file`, as training names its files.
    let path = &crate::pipeline::absolute(path);
    let new = read_labels(path, id_col, target)?;
    // The sink first: a mistyped or unreachable sink fails the command before any label
    // is stored.
    let mut s = sink::open_to_read(sink_url, home)?;
    let mut conn = db::open(&home.join("claims.db"))?;
    let now = db::now();
    // Keep the labels first: every label received so far is the basis of the metrics.
    {
        let tx = conn.transaction().map_err(db::sql)?;
        {
            let mut ins = tx
                .prepare(
                    "INSERT INTO labels(application_id, claim_status, source_file, received_at)
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT(application_id) DO UPDATE SET
                     claim_status = excluded.claim_status, source_file = excluded.source_file,
                     received_at = excluded.received_at",
                )
                .map_err(db::sql)?;
            let file = path.display().to_string();
            for (id, y) in &new {
                ins.execute(params![id, y, file, now]).map_err(db::sql)?;
            }
        }
        tx.commit().map_err(db::sql)?;
    }
    let new_ids: Vec<String> = new.keys().cloned().collect();
    // Every label received, and the stored scores of their ids (one read of the table:
    // the new labels' rows are among them).
    let labels = all_labels(&conn)?;
    let all_ids: Vec<String> = labels.keys().cloned().collect();
    let labelled = s.scores_of(&all_ids)?;
    // The champion's rows decide which dates the labels touch; a shadow challenger's rows of
    // those dates are measured beside them, so the two models compare on realised labels.
    let scored_new: Vec<&sink::StoredScore> = labelled
        .iter()
        .filter(|r| r.champion && new.contains_key(&r.application_id))
        .collect();
    let touched: std::collections::BTreeSet<String> =
        scored_new.iter().map(|r| r.business_date.clone()).collect();
    let matched_new: std::collections::HashSet<&str> = scored_new
        .iter()
        .map(|r| r.application_id.as_str())
        .collect();
    let unmatched = new_ids
        .iter()
        .filter(|i| !matched_new.contains(i.as_str()))
        .count();
    let mut dates_of: HashMap<&str, std::collections::BTreeSet<&str>> = HashMap::new();
    for r in &scored_new {
        dates_of
            .entry(&r.application_id)
            .or_default()
            .insert(&r.business_date);
    }
    let on_several_dates = dates_of.values().filter(|d| d.len() > 1).count();
    let dates = remeasure(&mut conn, labelled, &labels, &touched, &now, true)?;
    Ok(FeedbackOutcome {
        labels: new.len(),
        unmatched,
        on_several_dates,
        dates,
    })
}

/// After `date` was scored again: its realised performance, if it had any, measured again
/// on its new rows (from every label received); `None` when it had none.
pub fn refresh_date(home: &Path, sink_url: &str, date: &str) -> Result<Option<Vec<Realised>>> {
    let mut conn = db::open(&home.join("claims.db"))?;
    let measured: bool = conn
        .query_row(
            "SELECT count(*) > 0 FROM performance WHERE business_date = ?1",
            [date],
            |r| r.get(0),
        )
        .map_err(db::sql)?;
    if !measured {
        return Ok(None);
    }
    let mut s = sink::open_to_read(sink_url, home)?;
    let touched = std::iter::once(date.to_string()).collect();
    // Only this date's rows are read (not every date's rows of every labelled id).
    let labels = all_labels(&conn)?;
    let labelled: Vec<sink::StoredScore> = s
        .scores_on(date)?
        .into_iter()
        .filter(|r| labels.contains_key(&r.application_id))
        .collect();
    remeasure(&mut conn, labelled, &labels, &touched, &db::now(), false).map(Some)
}

/// Every label received (a later one for an id has replaced the earlier).
fn all_labels(conn: &rusqlite::Connection) -> Result<HashMap<String, u8>> {
    let mut st = conn
        .prepare("SELECT application_id, claim_status FROM labels")
        .map_err(db::sql)?;
    let rows = st
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u8>(1)?)))
        .map_err(db::sql)?;
    rows.collect::<std::result::Result<_, _>>().map_err(db::sql)
}

/// Measures and stores the realised performance of the `touched` dates (and with
/// `unmeasured`, of every date with labelled champion rows and no measure yet): `labels`
/// (every label received) joined to `labelled`, the stored rows of labelled ids (at least
/// the touched dates' rows), replacing the dates' earlier measures.
fn remeasure(
    conn: &mut rusqlite::Connection,
    labelled: Vec<sink::StoredScore>,
    labels: &HashMap<String, u8>,
    touched: &std::collections::BTreeSet<String>,
    now: &str,
    unmeasured: bool,
) -> Result<Vec<Realised>> {
    let mut touched = touched.clone();
    if unmeasured {
        let measured: std::collections::HashSet<String> = {
            let mut st = conn
                .prepare("SELECT DISTINCT business_date FROM performance")
                .map_err(db::sql)?;
            let rows = st.query_map([], |r| r.get(0)).map_err(db::sql)?;
            rows.collect::<std::result::Result<_, _>>()
                .map_err(db::sql)?
        };
        touched.extend(
            labelled
                .iter()
                .filter(|r| r.champion && !measured.contains(&r.business_date))
                .map(|r| r.business_date.clone()),
        );
    }
    let scored: Vec<sink::StoredScore> = labelled
        .into_iter()
        .filter(|r| touched.contains(&r.business_date))
        .collect();
    let mut groups: BTreeMap<(String, i64), (Vec<u8>, Vec<f64>)> = BTreeMap::new();
    for r in &scored {
        let g = groups
            .entry((r.business_date.clone(), r.model_version))
            .or_default();
        g.0.push(labels[&r.application_id]);
        g.1.push(r.score);
    }
    let dates: Vec<Realised> = groups
        .into_iter()
        .map(|((business_date, model_version), (y, p))| Realised {
            business_date,
            model_version,
            rows: y.len() as i64,
            positives: y.iter().filter(|&&v| v == 1).count() as i64,
            roc_auc: metrics::roc_auc(&y, &p),
            pr_auc: metrics::average_precision(&y, &p),
            log_loss: metrics::log_loss(&y, &p),
            brier: metrics::brier(&y, &p),
        })
        .collect();
    let tx = conn.transaction().map_err(db::sql)?;
    let finite = |v: f64| if v.is_finite() { Some(v) } else { None };
    // A touched date's rows are replaced: a date rescored by another model keeps no row
    // for the model that no longer holds its predictions.
    for d in &touched {
        tx.execute("DELETE FROM performance WHERE business_date = ?1", [d])
            .map_err(db::sql)?;
    }
    for r in &dates {
        tx.execute(
            "INSERT INTO performance(business_date, model_version, rows, positives, roc_auc, pr_auc, log_loss, brier, recorded_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT(business_date, model_version) DO UPDATE SET rows = excluded.rows, positives = excluded.positives,
             roc_auc = excluded.roc_auc, pr_auc = excluded.pr_auc, log_loss = excluded.log_loss, brier = excluded.brier,
             recorded_at = excluded.recorded_at",
            params![r.business_date, r.model_version, r.rows, r.positives, finite(r.roc_auc), finite(r.pr_auc), finite(r.log_loss), finite(r.brier), now],
        )
        .map_err(db::sql)?;
    }
    tx.commit().map_err(db::sql)?;
    Ok(dates)
}

/// Every recorded realised-performance row, oldest date first.
pub fn history(home: &Path) -> Result<Vec<Realised>> {
    let conn = db::open(&home.join("claims.db"))?;
    let mut st = conn
        .prepare("SELECT business_date, model_version, rows, positives, roc_auc, pr_auc, log_loss, brier FROM performance ORDER BY business_date, model_version")
        .map_err(db::sql)?;
    let nan = |v: Option<f64>| v.unwrap_or(f64::NAN);
    let rows = st
        .query_map([], |r| {
            Ok(Realised {
                business_date: r.get(0)?,
                model_version: r.get(1)?,
                rows: r.get(2)?,
                positives: r.get(3)?,
                roc_auc: nan(r.get(4)?),
                pr_auc: nan(r.get(5)?),
                log_loss: nan(r.get(6)?),
                brier: nan(r.get(7)?),
            })
        })
        .map_err(db::sql)?;
    rows.collect::<std::result::Result<_, _>>().map_err(db::sql)
}
