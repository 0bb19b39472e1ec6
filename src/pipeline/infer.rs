//! The daily inference pipeline: model (the champion alias as it is when the run starts)
//! -> load -> contract (bad rows quarantined with reasons) -> score in batches with TreeSHAP
//! reason codes -> drift against the model's reference profile -> write the business
//! date's rows to the sink in one transaction, replacing any earlier run of that date.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Sender;
use std::thread::ScopedJoinHandle;

use serde::Serialize;

pub use super::dates::{parse_date, parse_date_of, today};
use super::drift_store::store_drift;
pub use super::drift_store::{latest_drift_date, read_drift};
pub use super::rerun::Replaced;
use super::rerun::earlier_run;
use super::scoring::{Explainer, Role, score_and_stream};
use super::{PipelineEvent, RunCtx};
use crate::config::Config;
use crate::data::contract::{self, CheckedRows};
use crate::data::load;
use crate::error::{ClaimsError, Result, Violation};
use crate::model::TrainedModel;
use crate::monitor::drift;
use crate::monitor::profile::Profile;
use crate::registry::{Registry, db};
use crate::sink::{self, QuarantineRow};

/// What to score.
#[derive(Debug, Clone, Serialize)]
pub struct PredictRequest {
    /// The day's applications (CSV or Parquet).
    pub data: PathBuf,
    /// Business date (YYYY-MM-DD); default today in the configured time zone.
    pub date: Option<String>,
    /// Sink URL; default the config's, else SQLite in the home folder.
    pub sink: Option<String>,
    /// Replace the date's rows even when an earlier run scored the date from another file.
    pub replace: bool,
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

/// A quarantined row as its run records it: the first ten stay with the run's summary,
/// whatever later happens to the date's rows in the table.
#[derive(Debug, Clone, Serialize)]
pub struct QuarantinedRow {
    /// Data row in the file (1-based, header not counted).
    pub row: i64,
    /// Its application id, when it had one.
    pub application_id: Option<String>,
    /// Every reason it failed the contract.
    pub reason: String,
}

/// Quarantined rows kept in a run's summary.
const QUARANTINE_KEPT: usize = 10;

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
    /// The first quarantined rows and why (at most ten; every one is in the sink's
    /// quarantine table until the date is scored again).
    pub quarantined_rows: Vec<QuarantinedRow>,
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
    /// Why drift raised nothing whatever the PSI (too few rows), if so.
    pub drift_not_judged: Option<String>,
    /// The ten highest scores with their reasons.
    pub top_scored: Vec<Scored>,
    /// The earlier run of the date whose rows this one replaced, if any.
    pub replaced: Option<Replaced>,
    /// SHA-256 of the input file's bytes (a later run of the date compares it).
    pub input_sha256: Option<String>,
    /// Signs of a mistyped date (a date after today; the same contents standing on another
    /// date).
    pub warnings: Vec<String>,
}

/// Bytes of CSV text per chunk read (about 8,000 rows of the reference schema); up to four
/// chunks are in flight (read, queued, checked, merged).
const CHUNK_BYTES: usize = 2 << 20;

/// Chunks checked at once (on their own threads) while the reader cuts the next one.
const CHECKS_IN_FLIGHT: usize = 3;

/// Loads version `v` for scoring (all cores for prediction) with its threshold.
fn load_for_scoring(reg: &Registry, v: u32) -> Result<(TrainedModel, f64)> {
    let mut model = reg.load_model(v)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    model.booster.set_param("nthread", &threads.to_string())?;
    Ok((model, reg.threshold(v)?))
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
    let sink_url = match sink_url.strip_prefix("sqlite:") {
        Some(p) if !p.is_empty() => format!("sqlite:{}", super::absolute(Path::new(p)).display()),
        _ => sink_url,
    };
    let req = &PredictRequest {
        data: super::absolute(&req.data),
        ..req.clone()
    };
    let args = serde_json::json!({"data": req.data, "date": date, "sink": sink::postgres::redact(&sink_url)}).to_string();
    let _lock = crate::schedule::lock::RunLock::acquire(home, "predict")?;
    let ctx = RunCtx::start(home, "predict", &args, events, cancel)?;
    let _in_run = ctx.span().entered();
    let created = sink::sqlite::NewFile::of(&sink_url);
    let out = run(cfg, home, req, &date, &sink_url, &ctx);
    created.remove_if_failed(out.is_err());
    ctx.finish(&out)?;
    // The run whose rows this one replaced says so from now on (`claims runs`, the console).
    if let Ok(PredictOutcome {
        run_id,
        replaced: Some(r),
        ..
    }) = &out
    {
        let marked = db::open(&home.join("claims.db"))
            .and_then(|conn| crate::registry::runs::mark_replaced(&conn, &r.run_id, run_id));
        if let Err(e) = marked {
            tracing::warn!("recording that {run_id} replaced {}'s rows: {e}", r.run_id);
        }
    }
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
        // A config that no longer declares a column the champion uses would pass a file
        // without it (or refuse one with it) and fail only after reading every row.
        let numeric: Vec<&str> = cfg.schema.numeric.iter().map(|(n, _)| n.as_str()).collect();
        let categorical: Vec<&str> = cfg.schema.categorical.iter().map(|(n, _)| n.as_str()).collect();
        if let Some((kind, col)) = model.pre.first_missing(&numeric, &categorical) {
            let config = cfg
                .extra_file
                .as_ref()
                .map_or("the config in use".to_string(), |f| format!("config {}", f.display()));
            return Err(ClaimsError::Config(format!(
                "champion v{v} uses {kind} column '{col}', which {config} does not declare as {kind} (schema.{kind}{}): score with the config v{v} was trained with, or train and promote a model without the column",
                if cfg.schema.drop.iter().any(|d| d == col) { "; it is in schema.drop" } else { "" }
            )));
        }
        let m = reg.manifest(v)?;
        let profile: Profile = serde_json::from_slice(&reg.artifact(v, &m, "profile.json")?)
            .map_err(|e| ClaimsError::Registry(format!("model v{v}: profile.json: {e}")))?;
        let shadow = match reg.alias("challenger")? {
            Some(c) if cfg.inference.shadow && c != v => {
                let challenger = load_for_scoring(&reg, c)?;
                // The day is the champion's: a shadow that cannot be scored under this
                // config is left out (said), not a failed day.
                match challenger.0.pre.first_missing(&numeric, &categorical) {
                    Some((kind, col)) => {
                        tracing::warn!(
                            "shadow challenger v{c} uses {kind} column '{col}', which the config does not declare: it is not scored in shadow this run"
                        );
                        None
                    }
                    None => Some((c, challenger)),
                }
            }
            None if cfg.inference.shadow => {
                tracing::warn!(
                    "inference.shadow is on, but there is no challenger (a promotion or a rollback leaves none until the next training): only champion v{v} is scored"
                );
                None
            }
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
    // Read and check the file in chunks: only the typed columns of the rows that pass
    // stay in memory, never the whole file as text. The sink and the date's earlier run
    // come first (a missing file is found there), inside the stage, so a failure shows on
    // the run's stage rows.
    let (mut sink, replaced, mut chunks, first) = ctx.stage("load", None, || {
        // A missing file is named as such even when the sink is down too.
        load::check_path(&req.data)?;
        let zones = [
            cfg.inference.timezone.as_str(),
            cfg.schedule.timezone.as_str(),
        ];
        super::rerun::refuse_future(home, req, date, &zones)?;
        let mut sink = sink::open(sink_url, home)?;
        let replaced = earlier_run(home, &mut *sink, req, date)?;
        let mut chunks = load::Chunks::open(&req.data, CHUNK_BYTES)?;
        let first = chunks
            .next_chunk()?
            .ok_or_else(|| ClaimsError::contract_file(chunks.name(), "the file has no header"))?;
        let v = contract::check_columns(&cfg.schema, &first.0, contract::Mode::Inference);
        if !v.is_empty() {
            return Err(ClaimsError::Contract(v));
        }
        let note = format!(
            "{} columns as expected in {}",
            first.0.columns.len(),
            req.data.display()
        );
        Ok(((sink, replaced, chunks, first), None, note))
    })?;
    let (checked, input_sha256) = ctx.stage_counting("contract", || {
        let mut checker = contract::Checker::new(&cfg.schema, contract::Mode::Inference)
            .limit_id_chars(sink.id_chars());
        let rules = checker.rules();
        checker.reserve(chunks.rows_hint());
        let name = chunks.name().to_string();
        // A reader thread reads and cuts the next chunk while one is checked on worker
        // threads and the one before it is merged here.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Option<(load::RawFile, usize)>>>(1);
        let mut n_chunks = 0;
        let input_sha256 = std::thread::scope(|s| -> Result<Option<String>> {
            // Owned here, so an early return or a panic drops it before the scope joins the
            // reader, which a blocked `send` then releases (instead of waiting forever).
            let rx = rx;
            let spawn_err = |e: std::io::Error| ClaimsError::Other(e.into());
            // The reader also hashes the file as it goes: the run records its SHA-256, so a
            // later run of the date can tell another file's contents from a retry.
            let reader = std::thread::Builder::new()
                .name("claims-read".into())
                .spawn_scoped(s, move || {
                    loop {
                        let c = chunks.next_chunk();
                        let last = !matches!(c, Ok(Some(_)));
                        if tx.send(c).is_err() || last {
                            break;
                        }
                    }
                    chunks.sha256()
                })
                .map_err(spawn_err)?;
            let rules = &*rules;
            type Checking<'a> = (Arc<load::RawFile>, usize, ScopedJoinHandle<'a, CheckedRows>);
            // Up to CHECKS_IN_FLIGHT chunks are checked at once, merged in file order.
            let mut pending: std::collections::VecDeque<Checking> = Default::default();
            let mut next = Some(first);
            loop {
                let started = match next.take() {
                    Some((chunk, offset)) => {
                        let chunk = Arc::new(chunk);
                        let c = chunk.clone();
                        let check = std::thread::Builder::new()
                            .name("claims-check".into())
                            .spawn_scoped(s, move || rules.check(&c))
                            .map_err(spawn_err)?;
                        Some((chunk, offset, check))
                    }
                    None => None,
                };
                let merge_now = if started.is_some() && pending.len() < CHECKS_IN_FLIGHT - 1 {
                    None
                } else {
                    pending.pop_front()
                };
                if let Some((chunk, offset, check)) = merge_now {
                    let rows = check
                        .join()
                        .unwrap_or_else(|e| std::panic::resume_unwind(e));
                    checker.merge(0, &chunk, offset, rows);
                    n_chunks += 1;
                    let seen = offset + chunk.rows();
                    ctx.emit("contract", None, format!("checked {seen} rows"));
                }
                match started {
                    Some(c) => pending.push_back(c),
                    None if pending.is_empty() => {
                        return Ok(reader
                            .join()
                            .unwrap_or_else(|e| std::panic::resume_unwind(e)));
                    }
                    None => continue,
                }
                // A closed channel means the reader ended after sending its error or end.
                next = rx.recv().unwrap_or(Ok(None))?;
            }
        })?;
        let c = checker.finish(vec![name.clone()]);
        let rows_read = c.rows_read;
        if rows_read == 0 {
            return Err(ClaimsError::contract_file(
                &name,
                "the file has a header but no data rows",
            ));
        }
        let bad = c.bad_rows.len();
        let share = bad as f64 / rows_read.max(1) as f64;
        if share > cfg.inference.quarantine_limit {
            let mut v = vec![Violation {
                file: name.clone(),
                row: None,
                column: None,
                reason: format!(
                    "{bad} of {rows_read} rows ({:.1}%) fail the contract, above the limit of {:.1}% (inference.quarantine_limit); nothing was written: fix the file and run again, or, if that many bad rows are expected, raise inference.quarantine_limit (a --config file)",
                    100.0 * share,
                    100.0 * cfg.inference.quarantine_limit
                ),
                line: None,
            }];
            v.extend(crate::data::rows::with_lines(c.row_violations));
            return Err(ClaimsError::Contract(v));
        }
        let good = c.data.len();
        Ok((
            (c, input_sha256),
            Some(rows_read),
            Some(good),
            format!("{rows_read} rows read in {n_chunks} chunk(s): {good} pass, {bad} quarantined"),
        ))
    })?;
    let rows_read = checked.rows_read;
    let data = &checked.data;
    let top_reasons = cfg.inference.top_reasons;
    let mut roles = vec![Role {
        explainer: Explainer::new(model, data, top_reasons, threshold)?,
        version,
        role: "champion",
        threshold,
    }];
    let shadow_version = shadow.as_ref().map(|(c, _)| *c);
    if let Some((c, (m, t))) = shadow {
        roles.push(Role {
            explainer: Explainer::new(m, data, top_reasons, t)?,
            version: c,
            role: "challenger",
            threshold: t,
        });
    }
    let n_roles = roles.len();
    let scored_at = db::now();
    let described = sink.describe();

    let quarantine: Vec<QuarantineRow> = checked
        .bad_rows
        .iter()
        .map(|b| QuarantineRow {
            business_date: date.to_string(),
            source_file: b.file.clone(),
            row_number: b.row as i64,
            // A missing or unreadable id stays NULL, not the stand-in made from the row.
            application_id: b.id_given.then(|| b.id.clone()),
            reason: b.reason.clone(),
            raw: b.raw.clone(),
            run_id: ctx.run_id.clone(),
        })
        .collect();
    // Scoring streams batches into one open transaction, which then takes the quarantine
    // rows and commits: a crash anywhere before the commit leaves the date's old rows.
    // (One stage: the run record lives in the same SQLite file as the default sink, and
    // its writes would wait for this transaction.)
    let written = data.len() * n_roles;
    let streamed = ctx.stage("score", Some(data.len()), || {
        // Unless forced, the date must still hold what the rerun check saw when this run
        // started (another run of the date may have committed since).
        let expected = (!req.replace).then(|| replaced.as_ref().map(|r| r.run_id.as_str()));
        let mut day = sink.begin_day(date, expected, &ctx.cancel_flag())?;
        let out = score_and_stream(roles, data, date, &scored_at, &mut *day, ctx)?;
        let t0 = std::time::Instant::now();
        day.commit(&quarantine)?;
        // The day's rows are in: drift and the run record follow even if a stop was asked
        // for now, so a committed date always has its drift and a succeeded run.
        ctx.committed();
        let commit_s = t0.elapsed().as_secs_f64();
        let (scoring_s, writing_s) = (out.scoring_s, out.writing_s);
        let also = match shadow_version {
            Some(c) => format!(" (also by challenger v{c}, role 'challenger')"),
            None => String::new(),
        };
        Ok((
            out,
            Some(written),
            format!(
                "{} rows scored, up to {top_reasons} reasons each{also}; {written} predictions + {} quarantined to {described}, one transaction (score {:.1} s | write {:.1} s | commit {:.1} s)",
                data.len(),
                quarantine.len(),
                scoring_s,
                writing_s,
                commit_s
            ),
        ))
    })?;
    let scores = streamed.scores;
    // Closing the sink (for SQLite: copying the day's write-ahead log into the database
    // file, ~1 s per million rows) overlaps the drift measurement.
    let closing = std::thread::Builder::new()
        .name("claims-sink-close".into())
        .spawn(move || sink.close())
        .map_err(|e| ClaimsError::Other(e.into()))?;

    let drift_rows = ctx.stage("drift", Some(data.len()), || {
        let rows = drift::measure(&profile, data, &scores, &cfg.drift);
        let alerts = rows.iter().filter(|r| r.level == "alert").count();
        let warns = rows.iter().filter(|r| r.level == "warn").count();
        let note = match drift_not_judged(data.len(), cfg.drift.min_rows) {
            Some(why) => format!("{alerts} alert(s), {warns} warning(s); {why}"),
            None => format!("{alerts} alert(s), {warns} warning(s)"),
        };
        Ok((rows, None, note))
    })?;
    // Alerts at WARN, so a log filtered to warnings and errors (the console's L) keeps them.
    let alerted: Vec<&str> = drift_rows
        .iter()
        .filter(|r| r.level == "alert")
        .map(|r| r.feature.as_str())
        .collect();
    // On a short day only alerts on strong evidence stand (see drift::FEW_ROWS_P).
    if !alerted.is_empty() {
        tracing::warn!(
            "drift alert on {date}: {} (see `claims drift --date {date}`)",
            alerted.join(", ")
        );
    }
    // The day's rows are committed: a failure here must say so, and how to get the drift.
    store_drift(home, date, &ctx.run_id, version, &drift_rows).map_err(|e| {
        ClaimsError::Other(anyhow::anyhow!(
            "{date}'s {} predictions are committed, but recording its drift failed: {e} (a rerun of the date, `claims predict --data FILE --date {date}` with the same file, records it; a backfill skips the date unless --force)",
            data.len()
        ))
    })?;
    match closing.join() {
        Ok(Ok(())) => {}
        // The rows are committed; a failed checkpoint only leaves them in the WAL file.
        Ok(Err(e)) => tracing::warn!("closing the sink: {e}"),
        Err(_) => tracing::warn!("closing the sink: the thread panicked"),
    }
    // A date already measured against late labels was scored again: measure it again on
    // its new rows, so `claims performance` does not keep the replaced model's numbers.
    if replaced.is_some() {
        match crate::pipeline::feedback::refresh_date(home, sink_url, date) {
            Ok(Some(d)) => tracing::info!(
                "{date}'s realised performance measured again on the new rows ({})",
                d.iter()
                    .map(|r| format!("v{}: {} labelled rows", r.model_version, r.rows))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Ok(None) => {}
            Err(e) => tracing::warn!(
                "{date}'s realised performance could not be measured again on the new rows: {e} (`claims feedback` with any of the date's labels does it)"
            ),
        }
    }

    let warnings = super::rerun::date_warnings(
        home,
        date,
        input_sha256.as_deref(),
        &sink::postgres::redact(sink_url),
        &[&cfg.inference.timezone, &cfg.schedule.timezone],
    );

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
        sink: described,
        rows_read,
        rows_scored: data.len(),
        shadow_version,
        rows_quarantined: quarantine.len(),
        quarantined_rows: quarantine
            .iter()
            .take(QUARANTINE_KEPT)
            .map(|q| QuarantinedRow {
                row: q.row_number,
                application_id: q.application_id.clone(),
                reason: q.reason.clone(),
            })
            .collect(),
        predicted_claims: streamed.predicted_claims,
        mean_score: scores.iter().sum::<f64>() / scores.len().max(1) as f64,
        drift_alerts: pick("alert"),
        drift_warnings: pick("warn"),
        drift_not_judged: drift_not_judged(data.len(), cfg.drift.min_rows),
        top_scored: streamed.top,
        replaced,
        warnings,
        input_sha256,
    })
}

/// How drift was judged on a short day of `rows` scored rows, if it was one.
fn drift_not_judged(rows: usize, min_rows: usize) -> Option<String> {
    (rows < min_rows).then(|| {
        format!(
            "judged only on strong evidence: {rows} rows scored, fewer than drift.min_rows ({min_rows}); a warning or alert stands only where the feature's own test gives p < {:e} (PSI recorded)",
            crate::monitor::drift::FEW_ROWS_P
        )
    })
}
