//! The daily inference pipeline: model (the champion alias as it is when the run starts)
//! -> load -> contract (bad rows quarantined with reasons) -> score in batches with TreeSHAP
//! reason codes -> drift against the model's reference profile -> write the business
//! date's rows to the sink in one transaction, replacing any earlier run of that date.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Sender;

use rusqlite::params;
use serde::Serialize;

use super::{PipelineEvent, RunCtx};
use crate::config::Config;
use crate::data::{Dataset, MISSING_CODE, contract, load};
use crate::error::{ClaimsError, Result, Violation};
use crate::model::TrainedModel;
use crate::model::xgb::DMatrix;
use crate::monitor::drift::{self, DriftRow};
use crate::monitor::profile::Profile;
use crate::registry::{Registry, db};
use crate::sink::{self, PredictionRow, QuarantineRow};

/// What to score.
#[derive(Debug, Clone, Serialize)]
pub struct PredictRequest {
    /// The day's applications (CSV or Parquet).
    pub data: PathBuf,
    /// Business date (YYYY-MM-DD); default today in the configured time zone.
    pub date: Option<String>,
    /// Sink URL; default the config's, else SQLite in the home folder.
    pub sink: Option<String>,
}

/// One scored row shown in summaries.
#[derive(Debug, Clone, Serialize)]
pub struct Scored {
    /// Application id.
    pub application_id: String,
    /// Claim probability.
    pub score: f64,
    /// Reasons (JSON).
    pub top_reasons: serde_json::Value,
}

/// The result of an inference run.
#[derive(Debug, Clone, Serialize)]
pub struct PredictOutcome {
    /// Run id.
    pub run_id: String,
    /// Business date.
    pub business_date: String,
    /// Champion version used.
    pub model_version: u32,
    /// Where rows went (no credentials).
    pub sink: String,
    /// Rows read.
    pub rows_read: usize,
    /// Rows scored and written.
    pub rows_scored: usize,
    /// Rows quarantined.
    pub rows_quarantined: usize,
    /// The challenger that also scored the rows (shadow mode).
    pub shadow_version: Option<u32>,
    /// Rows at or above the threshold.
    pub predicted_claims: usize,
    /// Mean score.
    pub mean_score: f64,
    /// Features (or "score") with a PSI alert.
    pub drift_alerts: Vec<String>,
    /// Features with a PSI warning.
    pub drift_warnings: Vec<String>,
    /// The ten highest scores with their reasons.
    pub top_scored: Vec<Scored>,
}

/// Today's date in `tz`.
pub fn today(tz: &str) -> Result<String> {
    let tz: chrono_tz::Tz = tz.parse().map_err(|_| {
        ClaimsError::Config(format!(
            "key 'inference.timezone' = '{tz}': unknown time zone"
        ))
    })?;
    Ok(chrono::Utc::now()
        .with_timezone(&tz)
        .date_naive()
        .to_string())
}

/// Checks a YYYY-MM-DD date.
pub fn parse_date(s: &str) -> Result<String> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| d.to_string())
        .map_err(|_| ClaimsError::Usage(format!("--date '{s}': expected YYYY-MM-DD")))
}

fn display_value(data: &Dataset, feature: &str, row: usize) -> String {
    if let Some(k) = data.numeric_names.iter().position(|n| n == feature) {
        let v = data.numeric[k][row];
        // Whole numbers as they are; measurements to 4 decimals (what a reviewer reads).
        return if v.is_nan() {
            "missing".into()
        } else if v.fract() == 0.0 {
            format!("{v}")
        } else {
            format!("{v:.4}")
        };
    }
    if let Some(k) = data.categorical_names.iter().position(|n| n == feature) {
        let c = data.categorical[k][row];
        return if c == MISSING_CODE {
            "missing".into()
        } else {
            data.categories[k][c as usize].clone()
        };
    }
    String::new()
}

/// Scores rows in batches; returns scores and each row's reasons as JSON text.
fn score_with_reasons(
    model: &TrainedModel,
    data: &Dataset,
    top: usize,
    ctx: &RunCtx,
) -> Result<(Vec<f64>, Vec<String>)> {
    let names = model.pre.feature_names();
    let kinds = model.pre.feature_kinds();
    let n = data.len();
    let batch = 100_000;
    let mut scores = Vec::with_capacity(n);
    let mut reasons = Vec::with_capacity(n);
    let mut start = 0;
    while start < n {
        let end = (start + batch).min(n);
        let x = model.pre.transform_rows(data, start..end)?;
        let m = DMatrix::from_dense(&x, end - start, &names, &kinds)?;
        scores.extend(model.booster.predict(&m)?.into_iter().map(f64::from));
        if top > 0 {
            let (contrib, width) = model.booster.contributions(&m)?;
            for (r, row) in contrib.chunks(width.max(1)).enumerate() {
                let mut idx: Vec<usize> = (0..names.len()).filter(|&j| row[j] > 0.0).collect();
                idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
                let list: Vec<serde_json::Value> = idx
                    .iter()
                    .take(top)
                    .map(|&j| {
                        serde_json::json!({
                            "feature": names[j],
                            "value": display_value(data, &names[j], start + r),
                            "contribution": (f64::from(row[j]) * 1e4).round() / 1e4,
                        })
                    })
                    .collect();
                reasons.push(serde_json::Value::Array(list).to_string());
            }
        } else {
            reasons.extend(std::iter::repeat_n("[]".to_string(), end - start));
        }
        ctx.emit(
            "score",
            Some(end as f64 / n as f64),
            format!("scored {end}/{n} rows"),
        );
        start = end;
    }
    Ok((scores, reasons))
}

/// Loads version `v` for scoring (all cores for prediction) with its threshold.
fn load_for_scoring(reg: &Registry, v: u32) -> Result<(TrainedModel, f64)> {
    let mut model = reg.load_model(v)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    model.booster.set_param("nthread", &threads.to_string())?;
    let threshold: f64 = reg
        .conn
        .query_row(
            "SELECT threshold FROM models WHERE version = ?1",
            [v],
            |r| r.get(0),
        )
        .map_err(db::sql)?;
    Ok((model, threshold))
}

/// Runs the inference pipeline and records the run.
pub fn predict(
    cfg: &Config,
    home: &Path,
    req: &PredictRequest,
    events: Option<Sender<PipelineEvent>>,
    cancel: Arc<AtomicBool>,
) -> Result<PredictOutcome> {
    let date = match &req.date {
        Some(d) => parse_date(d)?,
        None => today(&cfg.inference.timezone)?,
    };
    let sink_url = req
        .sink
        .clone()
        .unwrap_or_else(|| cfg.inference.sink.clone());
    let args = serde_json::json!({"data": req.data, "date": date, "sink": sink::postgres::redact(&sink_url)}).to_string();
    let _lock = crate::schedule::lock::RunLock::acquire(home, "predict")?;
    let ctx = RunCtx::start(home, "predict", &args, events, cancel)?;
    let out = run(cfg, home, req, &date, &sink_url, &ctx);
    ctx.finish(&out)?;
    out
}

fn run(
    cfg: &Config,
    home: &Path,
    req: &PredictRequest,
    date: &str,
    sink_url: &str,
    ctx: &RunCtx,
) -> Result<PredictOutcome> {
    let (version, model, profile, threshold, shadow) = ctx.stage("model", None, || {
        let reg = Registry::open(home)?;
        let v = reg.alias("champion")?.ok_or_else(|| {
            ClaimsError::Usage(format!(
                "no champion model in {} yet: run `claims train --data FILE` first",
                home.display()
            ))
        })?;
        let (model, threshold) = load_for_scoring(&reg, v)?;
        let m = reg.manifest(v)?;
        let profile: Profile = serde_json::from_slice(&reg.artifact(v, &m, "profile.json")?)
            .map_err(|e| ClaimsError::Registry(format!("model v{v}: profile.json: {e}")))?;
        let shadow = match reg.alias("challenger")? {
            Some(c) if cfg.inference.shadow && c != v => Some((c, load_for_scoring(&reg, c)?)),
            _ => None,
        };
        let note = match &shadow {
            Some((c, _)) => {
                format!("champion v{v} (threshold {threshold:.4}); shadow challenger v{c}")
            }
            None => format!("champion v{v} (threshold {threshold:.4})"),
        };
        Ok(((v, model, profile, threshold, shadow), None, note))
    })?;
    let mut sink = sink::open(sink_url, home)?;

    let file = ctx.stage("load", None, || {
        let f = load::read_file(&req.data)?;
        let n = f.rows();
        Ok((f, Some(n), format!("{n} rows from {}", req.data.display())))
    })?;
    let rows_read = file.rows();
    let checked = ctx.stage("contract", Some(rows_read), || {
        let c = contract::check(&cfg.schema, std::slice::from_ref(&file), contract::Mode::Inference);
        if !c.file_violations.is_empty() {
            return Err(ClaimsError::Contract(c.file_violations));
        }
        let bad = c.bad_rows.len();
        let share = bad as f64 / rows_read.max(1) as f64;
        if share > cfg.inference.quarantine_limit {
            let mut v = vec![Violation {
                file: file.name.clone(),
                row: None,
                column: None,
                reason: format!(
                    "{bad} of {rows_read} rows ({:.1}%) fail the contract, above the limit of {:.1}% (inference.quarantine_limit); nothing was written",
                    100.0 * share,
                    100.0 * cfg.inference.quarantine_limit
                ),
            }];
            v.extend(c.row_violations);
            return Err(ClaimsError::Contract(v));
        }
        let good = c.data.len();
        Ok((c, Some(good), format!("{good} rows pass, {bad} quarantined")))
    })?;
    drop(file);
    let data = &checked.data;

    let (scores, reasons) = ctx.stage("score", Some(data.len()), || {
        let (s, r) = score_with_reasons(&model, data, cfg.inference.top_reasons, ctx)?;
        Ok((
            (s, r),
            Some(data.len()),
            format!(
                "{} rows scored with top {} reasons",
                data.len(),
                cfg.inference.top_reasons
            ),
        ))
    })?;

    let shadow_scored = match &shadow {
        Some((c, (m, t))) => Some(ctx.stage("shadow", Some(data.len()), || {
            let (s, r) = score_with_reasons(m, data, cfg.inference.top_reasons, ctx)?;
            Ok((
                (*c, *t, s, r),
                Some(data.len()),
                format!("challenger v{c} scored the same rows (role 'challenger')"),
            ))
        })?),
        None => None,
    };

    let drift_rows = ctx.stage("drift", Some(data.len()), || {
        let rows = drift::measure(&profile, data, &scores, &cfg.drift);
        let alerts = rows.iter().filter(|r| r.level == "alert").count();
        let warns = rows.iter().filter(|r| r.level == "warn").count();
        Ok((rows, None, format!("{alerts} alert(s), {warns} warning(s)")))
    })?;

    let scored_at = db::now();
    let make_rows =
        |version: u32, role: &str, threshold: f64, scores: &[f64], reasons: &[String]| {
            (0..data.len())
                .map(|i| PredictionRow {
                    business_date: date.to_string(),
                    application_id: data.ids[i].clone(),
                    model_version: i64::from(version),
                    role: role.into(),
                    score: scores[i],
                    predicted_claim: scores[i] >= threshold,
                    threshold,
                    top_reasons: reasons[i].clone(),
                    run_id: ctx.run_id.clone(),
                    scored_at: scored_at.clone(),
                })
                .collect::<Vec<_>>()
        };
    let mut rows = make_rows(version, "champion", threshold, &scores, &reasons);
    let champion_rows = rows.len();
    let mut roles = vec!["champion"];
    if let Some((c, t, s, r)) = &shadow_scored {
        rows.extend(make_rows(*c, "challenger", *t, s, r));
        roles.push("challenger");
    }
    let quarantine: Vec<QuarantineRow> = checked
        .bad_rows
        .iter()
        .map(|b| QuarantineRow {
            business_date: date.to_string(),
            source_file: b.file.clone(),
            row_number: b.row as i64,
            application_id: Some(b.id.clone()),
            reason: b.reason.clone(),
            raw: b.raw.clone(),
            run_id: ctx.run_id.clone(),
        })
        .collect();
    ctx.stage("write", Some(rows.len() + quarantine.len()), || {
        sink.replace_day(date, &roles, &rows, &quarantine)?;
        Ok((
            (),
            Some(rows.len()),
            format!(
                "{} predictions and {} quarantined rows for {date} to {}",
                rows.len(),
                quarantine.len(),
                sink.describe()
            ),
        ))
    })?;
    store_drift(home, date, &ctx.run_id, version, &drift_rows)?;

    let mut order: Vec<usize> = (0..champion_rows).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let pick = |lvl: &str| {
        drift_rows
            .iter()
            .filter(|r| r.level == lvl)
            .map(|r| r.feature.clone())
            .collect::<Vec<_>>()
    };
    Ok(PredictOutcome {
        run_id: ctx.run_id.clone(),
        business_date: date.to_string(),
        model_version: version,
        sink: sink.describe(),
        rows_read,
        rows_scored: champion_rows,
        shadow_version: shadow_scored.as_ref().map(|s| s.0),
        rows_quarantined: quarantine.len(),
        predicted_claims: rows[..champion_rows]
            .iter()
            .filter(|r| r.predicted_claim)
            .count(),
        mean_score: scores.iter().sum::<f64>() / scores.len().max(1) as f64,
        drift_alerts: pick("alert"),
        drift_warnings: pick("warn"),
        top_scored: order
            .iter()
            .take(10)
            .map(|&i| Scored {
                application_id: rows[i].application_id.clone(),
                score: rows[i].score,
                top_reasons: serde_json::from_str(&rows[i].top_reasons).unwrap_or_default(),
            })
            .collect(),
    })
}

/// Replaces `date`'s drift rows in the home database.
fn store_drift(
    home: &Path,
    date: &str,
    run_id: &str,
    version: u32,
    rows: &[DriftRow],
) -> Result<()> {
    let mut conn = db::open(&home.join("claims.db"))?;
    let tx = conn.transaction().map_err(db::sql)?;
    tx.execute("DELETE FROM drift WHERE business_date = ?1", [date])
        .map_err(db::sql)?;
    for r in rows {
        tx.execute(
            "INSERT INTO drift(business_date, run_id, model_version, feature, metric, value, threshold, breached, level)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![date, run_id, version, r.feature, r.metric, r.value, r.threshold, r.breached, r.level],
        )
        .map_err(db::sql)?;
    }
    tx.commit().map_err(db::sql)
}

/// The stored drift rows of `date` (latest run), alerts first.
pub fn read_drift(home: &Path, date: &str) -> Result<Vec<DriftRow>> {
    let conn = db::open(&home.join("claims.db"))?;
    let mut st = conn
        .prepare(
            "SELECT feature, metric, value, threshold, breached, level FROM drift WHERE business_date = ?1
             ORDER BY CASE level WHEN 'alert' THEN 0 WHEN 'warn' THEN 1 ELSE 2 END, feature, metric",
        )
        .map_err(db::sql)?;
    let rows = st
        .query_map([date], |r| {
            Ok(DriftRow {
                feature: r.get(0)?,
                metric: r.get(1)?,
                value: r.get::<_, Option<f64>>(2)?.unwrap_or(f64::NAN),
                threshold: r.get(3)?,
                breached: r.get(4)?,
                level: r.get(5)?,
            })
        })
        .map_err(db::sql)?;
    rows.collect::<std::result::Result<_, _>>().map_err(db::sql)
}
