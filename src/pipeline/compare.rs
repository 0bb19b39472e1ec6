//! Champion/challenger: both models scored on the same held-out rows (the challenger's test
//! split, minus any row the champion trained or early-stopped on), side-by-side metrics with
//! paired stratified bootstrap intervals, DeLong's test, and the promotion gate's decision
//! with its reasons. Also the alias moves (promote, rollback) with their audit trail.

use std::path::{Path, PathBuf};

use rusqlite::params;

pub use super::champion::{promote, promote_audited, rollback, rollback_target};
pub use super::gate::{GateStatus, decide, gate_settings, gate_status};
use serde::Serialize;

use crate::config::{Config, GateConfig};
use crate::data::fingerprint;
use crate::data::{Dataset, contract, load, split};
use crate::error::{ClaimsError, Result};
use crate::eval::metrics;
use crate::eval::stats::{self, DeLong, Interval};
use crate::model::Scorer;
use crate::registry::{Registry, db};

/// A model's labelled data as it was split for training, rebuilt from its manifest.
pub struct Rebuilt {
    /// The rows.
    pub data: Dataset,
    /// Labels.
    pub y: Vec<u8>,
    /// Train, validation and test row indices.
    pub splits: (Vec<usize>, Vec<usize>, Vec<usize>),
}

/// Re-reads version `v`'s training files (checking their sha256) and redoes its split.
pub fn rebuild(reg: &Registry, v: u32) -> Result<Rebuilt> {
    let m = reg.manifest(v)?;
    // Laid over today's defaults, so a model trained before a config section existed still loads.
    let cfg = Config::from_overlay(&m.config_toml)
        .map_err(|e| ClaimsError::Registry(format!("model v{v}: stored config: {e}")))?;
    let mut files = vec![];
    for f in &m.data_files {
        let p = Path::new(&f.path);
        if !p.is_file() {
            return Err(ClaimsError::Usage(format!(
                "cannot rebuild model v{v}'s splits: its training file '{}' is gone",
                f.path
            )));
        }
        // One read when the file is as it was trained on (it was hashed, then read again);
        // one that no longer reads is told apart below, by its hash.
        if let Ok((file, sha)) = load::read_file_hashed(p)
            && sha == f.sha256
        {
            files.push(file);
            continue;
        }
        // A history file with the month's rows appended since (the monthly routine): its
        // first rows are the ones trained on, byte for byte.
        match super::grown::trained_len(p, f.rows, &f.sha256)? {
            Some(len) => {
                tracing::info!(
                    "'{}' grew since model v{v} was trained: its first {} rows, the ones trained on, are read",
                    f.path,
                    f.rows
                );
                files.push(super::grown::read_prefix(&reg.home, p, len)?);
            }
            None => {
                return Err(ClaimsError::Usage(format!(
                    "cannot rebuild model v{v}'s splits: '{}' changed since training (sha256 differs, and its first {} rows are not the ones trained on either): restore the file as it was trained on to compare; or promote without a new comparison (`claims promote v{v} --reason TEXT`)",
                    f.path, f.rows
                )));
            }
        }
    }
    let c = contract::check(&cfg.schema, &files, contract::Mode::Training);
    if let Some(first) = c.file_violations.first().or(c.row_violations.first()) {
        return Err(ClaimsError::Registry(format!(
            "model v{v}'s training data no longer passes the contract: {first}"
        )));
    }
    // The rows training split: repeated rows dropped as training dropped them.
    let (data, _) = fingerprint::training_rows(c.data).map_err(|e| {
        ClaimsError::Registry(format!("model v{v}'s training data no longer trains: {e}"))
    })?;
    let y = data
        .label_vec()
        .ok_or_else(|| ClaimsError::Registry(format!("model v{v}: labels missing")))?;
    let splits = split::train_val_test_as(
        &y,
        cfg.split.validation,
        cfg.split.test,
        m.seed,
        m.split_version,
    );
    // The rebuilt test split must hold no row the model trained or early-stopped on; if it
    // did, a comparison would score the model on its own training rows.
    if let Some(fp) = super::seen::seen_rows(reg, v)? {
        let hits = fp.contains(&data, &splits.2).map_err(|col| {
            ClaimsError::Registry(format!(
                "model v{v}: row fingerprints cover {col}, which its data lacks"
            ))
        })?;
        let n = hits.iter().filter(|&&h| h).count();
        if n > 0 {
            return Err(ClaimsError::Registry(format!(
                "model v{v}'s test split, rebuilt from its files, holds {n} row(s) it trained or early-stopped on: it cannot be compared on it"
            )));
        }
    }
    Ok(Rebuilt { data, y, splits })
}

/// One metric for both models.
#[derive(Debug, Clone, Serialize)]
pub struct MetricRow {
    /// Metric name.
    pub metric: String,
    /// Whether larger is better.
    pub higher_is_better: bool,
    /// Champion's value.
    pub champion: f64,
    /// Champion's 95% interval.
    pub champion_ci: Interval,
    /// Challenger's value.
    pub challenger: f64,
    /// Challenger's 95% interval.
    pub challenger_ci: Interval,
    /// Challenger - champion.
    pub diff: f64,
    /// 95% interval of the difference.
    pub diff_ci: Interval,
    /// Bootstrap p-value of the difference.
    pub p_value: f64,
}

/// The gate's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// Whether the challenger may be promoted.
    pub promote: bool,
    /// Each check, passed or not, in words.
    pub reasons: Vec<String>,
}

/// A full comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Champion version.
    pub champion: u32,
    /// Challenger version.
    pub challenger: u32,
    /// Rows compared.
    pub rows: usize,
    /// Test rows left out because the champion trained or early-stopped on them.
    pub excluded_rows: usize,
    /// How the rows were chosen.
    pub rows_note: String,
    /// Side-by-side metrics.
    pub metrics: Vec<MetricRow>,
    /// DeLong's test of challenger vs champion ROC AUC.
    pub delong: Option<DeLong>,
    /// Paired bootstrap rounds behind each metric's interval and p-value.
    pub bootstrap_rounds: usize,
    /// The gate's verdict.
    pub decision: Decision,
    /// The gate's settings ([`gate_settings`]), recorded with the decision.
    pub gate: String,
    /// A model that ranks these rows far worse than its own test split did: the rows (or
    /// their labels) are not like what it was trained on, which a reader must know before
    /// taking the other metrics at face value.
    pub notes: Vec<String>,
    /// The scores, for charts (not serialised).
    #[serde(skip)]
    pub scored: (Vec<u8>, Vec<f64>, Vec<f64>, f64, f64),
}

/// A p-value to 4 decimals, or `<x` below what `resolution` draws (bootstrap rounds) can
/// tell apart: a bootstrap p of 0 means "fewer than 1 in 1,000", not zero.
pub fn p_text(p: f64, resolution: usize) -> String {
    let floor = 1.0 / resolution.max(1) as f64;
    if p < floor {
        format!("<{floor}")
    } else {
        format!("{p:.4}")
    }
}

/// The gate's verdict in one word: "passed" (the challenger may replace the champion; a
/// promotion still has to be made unless auto_promote is on) or "refused".
pub fn gate_word(promote: bool) -> &'static str {
    if promote { "passed" } else { "refused" }
}

/// [`p_text`] after "p": `= 0.0123`, or `< 0.001` (never `= <0.001`).
pub fn p_shown(p: f64, resolution: usize) -> String {
    let t = p_text(p, resolution);
    match t.strip_prefix('<') {
        Some(floor) => format!("< {floor}"),
        None => format!("= {t}"),
    }
}

/// Below its registered test ROC AUC by more than this on the compared rows, a model gets a
/// note.
const AUC_DROP_NOTE: f64 = 0.05;

/// Notes on models whose ROC AUC on the compared rows (`here`: version, AUC and the upper
/// end of its 95% interval there) is well below their registered test ROC AUC: by more
/// than [`AUC_DROP_NOTE`] and above the interval, so a small comparison's chance dip is
/// not called a change in the data.
fn auc_drop_notes(reg: &Registry, here: &[(u32, f64, f64)]) -> Result<Vec<String>> {
    let mut notes = vec![];
    for &(v, auc, upper) in here {
        if let Some(own) = reg
            .test_roc_auc(v)?
            .filter(|own| own - auc > AUC_DROP_NOTE && *own > upper)
        {
            notes.push(format!(
                "v{v} ranks these rows at ROC AUC {auc:.4}, against {own:.4} on its own test split: they are not like the data v{v} was trained on (new labels, a changed target or label noise), so read its other metrics here with that in mind"
            ));
        }
    }
    Ok(notes)
}

fn metric_value(name: &str, y: &[u8], p: &[f64], thr: f64) -> f64 {
    match name {
        "roc_auc" => metrics::roc_auc(y, p),
        "pr_auc" => metrics::average_precision(y, p),
        "gini" => 2.0 * metrics::roc_auc(y, p) - 1.0,
        "log_loss" => metrics::log_loss(y, p),
        "brier" => metrics::brier(y, p),
        "ece" => metrics::calibration(y, p, 10).1,
        "recall_at_threshold" => metrics::at_threshold(y, p, thr).recall,
        "lift_top_decile" => metrics::lift_at(y, p, 0.1).0,
        _ => f64::NAN,
    }
}

const METRICS: [(&str, bool); 8] = [
    ("roc_auc", true),
    ("pr_auc", true),
    ("gini", true),
    ("log_loss", false),
    ("brier", false),
    ("ece", false),
    ("recall_at_threshold", true),
    ("lift_top_decile", true),
];

/// Resolves `--champion`/`--challenger` (defaults: the aliases).
pub fn resolve(
    reg: &Registry,
    champion: Option<u32>,
    challenger: Option<u32>,
) -> Result<(u32, u32)> {
    let ch = match champion {
        Some(v) => v,
        None => reg
            .alias("champion")?
            .ok_or_else(|| ClaimsError::Usage("no champion yet: train a model first".into()))?,
    };
    let cl = match challenger {
        Some(v) => v,
        None => reg.alias("challenger")?.ok_or_else(|| {
            ClaimsError::Usage(
                "no challenger (a promotion or rollback leaves none): train another model (`claims train`, or t on the console's Imbalance pane), or name any version with `claims compare --challenger vN`".into(),
            )
        })?,
    };
    if ch == cl {
        return Err(ClaimsError::Usage(format!(
            "champion and challenger are both v{ch}"
        )));
    }
    reg.manifest(ch)?;
    reg.manifest(cl)?;
    Ok((ch, cl))
}

/// Compares `champion` and `challenger` and applies the gate.
pub fn compare(
    reg: &Registry,
    champion: u32,
    challenger: u32,
    gate: &GateConfig,
) -> Result<Comparison> {
    // The bootstrap draws from the challenger's training seed, so `claims compare` repeats
    // the gate's numbers from training exactly.
    let seed = reg.manifest(challenger)?.seed;
    let chal = rebuild(reg, challenger)?;
    let test = &chal.splits.2;
    // Rows the champion saw in training or early stopping (see `seen.rs`).
    let super::seen::Seen {
        seen,
        by_id,
        by_near,
        by_coarse,
        ids_unknown,
    } = super::seen::by_champion(reg, champion, challenger, &chal)?;
    let (eligible, excluded, rows_note, unverified) = match seen {
        Ok(hit) => {
            let eligible: Vec<usize> = (0..test.len())
                .filter(|&k| !hit[k] && !by_id[k] && !by_near[k] && !by_coarse[k])
                .map(|k| test[k])
                .collect();
            let excluded = test.len() - eligible.len();
            let id_only = (0..test.len()).filter(|&k| !hit[k] && by_id[k]).count();
            let near_only = (0..test.len())
                .filter(|&k| !hit[k] && !by_id[k] && by_near[k])
                .count();
            let coarse_only = (0..test.len())
                .filter(|&k| !hit[k] && !by_id[k] && !by_near[k] && by_coarse[k])
                .count();
            let of_them = if id_only + near_only + coarse_only > 0 {
                let mut why = vec![];
                if id_only > 0 {
                    why.push(format!("{id_only} by application id alone: ids v{champion} trained on, with other values; re-exported or corrected rows, or ids reused for other applications"));
                }
                if near_only > 0 {
                    why.push(format!("{near_only} by values equal to {} significant digits: rows v{champion} trained on, re-exported with rounded numbers", fingerprint::NEAR_DIGITS));
                }
                if coarse_only > 0 {
                    why.push(format!("{coarse_only} by the same categories and whole numbers: rows v{champion} trained on, re-exported with fewer decimals"));
                }
                format!(" (of them {})", why.join("; "))
            } else if ids_unknown {
                format!(
                    " (v{champion} kept no application ids and its training files changed or are gone: a row it trained on but re-exported with other values is not recognised)"
                )
            } else {
                String::new()
            };
            let note = format!(
                "v{challenger}'s test split: {} rows, {excluded} left out because v{champion} trained or early-stopped on them{of_them}, {} compared",
                test.len(),
                eligible.len()
            );
            (eligible, excluded, note, None)
        }
        Err(why) => (
            test.clone(),
            0,
            format!(
                "v{challenger}'s test split, all {} rows: could not check which rows v{champion} trained on ({why})",
                test.len()
            ),
            Some(why),
        ),
    };
    if eligible.len() < 20 {
        return Err(ClaimsError::Usage(format!(
            "only {} held-out rows that v{champion} never trained on: too few to compare",
            eligible.len()
        )));
    }
    let data = chal.data.subset(&eligible);
    let y: Vec<u8> = eligible.iter().map(|&i| chal.y[i]).collect();
    let champion_model = reg.load_model(champion)?;
    let numeric: Vec<&str> = data.numeric_names.iter().map(String::as_str).collect();
    let categorical: Vec<&str> = data.categorical_names.iter().map(String::as_str).collect();
    if let Some((kind, col)) = champion_model.pre.first_missing(&numeric, &categorical) {
        return Err(ClaimsError::Usage(format!(
            "v{champion} uses {kind} column '{col}', which v{challenger} was trained without: the gate scores both on v{challenger}'s held-out rows, which lack it, so they cannot be compared; decide by hand (`claims promote v{challenger} --reason WHY`)"
        )));
    }
    let p_a = champion_model.score(&data)?;
    let p_b = reg.load_model(challenger)?.score(&data)?;
    let (t_a, t_b) = (reg.threshold(champion)?, reg.threshold(challenger)?);

    let mut rows = vec![];
    // Every metric reads the same resamples, so their intervals agree (Gini's is exactly
    // ROC AUC's, doubled) and the guards are judged on the draws the primary metric was.
    for (name, higher) in METRICS {
        let f = |ys: &[u8], ps: &[f64], which: usize| {
            metric_value(name, ys, ps, if which == 0 { t_a } else { t_b })
        };
        let b = stats::paired_bootstrap(&y, &p_a, &p_b, gate.bootstrap_rounds, seed, &f);
        let (va, vb) = (f(&y, &p_a, 0), f(&y, &p_b, 1));
        rows.push(MetricRow {
            metric: name.to_string(),
            higher_is_better: higher,
            champion: va,
            champion_ci: b.a,
            challenger: vb,
            challenger_ci: b.b,
            diff: vb - va,
            diff_ci: b.diff,
            p_value: b.p_value,
        });
    }
    let delong = stats::delong(&y, &p_a, &p_b);
    let notes = match rows.iter().find(|r| r.metric == "roc_auc") {
        Some(r) => auc_drop_notes(
            reg,
            &[
                (champion, r.champion, r.champion_ci.hi),
                (challenger, r.challenger, r.challenger_ci.hi),
            ],
        )?,
        None => vec![],
    };
    let claims = y.iter().filter(|&&v| v == 1).count();
    let mut decision = decide(gate, &rows, delong.as_ref(), (claims, y.len() - claims));
    if let Some(why) = unverified {
        // Scores on rows the champion may have learned from favour it: no verdict.
        decision.promote = false;
        decision.reasons.push(format!(
            "FAIL the rows v{champion} trained on could not be told apart ({why}), so it may be scored on rows it learned from"
        ));
    }
    Ok(Comparison {
        bootstrap_rounds: gate.bootstrap_rounds,
        champion,
        challenger,
        rows: y.len(),
        excluded_rows: excluded,
        rows_note,
        metrics: rows,
        delong,
        decision,
        gate: gate_settings(gate),
        notes,
        scored: (y, p_a, p_b, t_a, t_b),
    })
}

/// Records a gate decision.
pub fn record_decision(
    reg: &Registry,
    run_id: Option<&str>,
    c: &Comparison,
    report: Option<&Path>,
) -> Result<()> {
    reg.conn
        .execute(
            "INSERT INTO decisions(at, run_id, champion, challenger, promote, reasons, report, gate) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                db::now(),
                run_id,
                c.champion,
                c.challenger,
                c.decision.promote,
                serde_json::to_string(&c.decision.reasons).unwrap_or_default(),
                report.map(|p| p.display().to_string()),
                c.gate
            ],
        )
        .map_err(db::sql)?;
    Ok(())
}

/// Writes the comparison into `dir`: `compare.json`, both models' charts (PNG and SVG) and
/// `report.html` with the metric table, the test and the decision; returns the page's path.
pub fn write_report(reg: &Registry, dir: &Path, c: &Comparison) -> Result<PathBuf> {
    use crate::eval::report;
    std::fs::create_dir_all(dir).map_err(|e| ClaimsError::io(dir, e))?;
    let json = serde_json::to_vec_pretty(c).map_err(|e| ClaimsError::Other(e.into()))?;
    let path = dir.join("compare.json");
    std::fs::write(&path, json).map_err(|e| ClaimsError::io(&path, e))?;
    let importance = |v: u32| -> Vec<(String, f32)> {
        reg.manifest(v)
            .and_then(|m| reg.artifact(v, &m, "metrics.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|j| serde_json::from_value(j["feature_importance_gain"].clone()).ok())
            .unwrap_or_default()
    };
    let (ia, ib) = (importance(c.champion), importance(c.challenger));
    let (y, pa, pb, ta, tb) = &c.scored;
    let series = [
        report::ModelSeries {
            name: format!("v{} champion", c.champion),
            y,
            p: pa,
            threshold: *ta,
            importance: &ia,
        },
        report::ModelSeries {
            name: format!("v{} challenger", c.challenger),
            y,
            p: pb,
            threshold: *tb,
            importance: &ib,
        },
    ];
    let pngs = report::write_charts(dir, &series)?;
    let ci = |v: f64, i: &Interval| format!("{v:.4} [{:.4}, {:.4}]", i.lo, i.hi);
    let rows = c
        .metrics
        .iter()
        .map(|m| {
            vec![
                m.metric.clone(),
                ci(m.champion, &m.champion_ci),
                ci(m.challenger, &m.challenger_ci),
                format!(
                    "{:+.4} [{:+.4}, {:+.4}]",
                    m.diff, m.diff_ci.lo, m.diff_ci.hi
                ),
                p_text(m.p_value, c.bootstrap_rounds),
            ]
        })
        .collect();
    let mut tables = vec![report::Table {
        title: format!("{} rows: {}", c.rows, c.rows_note),
        header: [
            "metric",
            "champion [95% CI]",
            "challenger [95% CI]",
            "difference [95% CI]",
            "bootstrap p",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    }];
    if let Some(d) = &c.delong {
        tables.push(report::Table {
            title: "DeLong test of the ROC AUC difference".into(),
            header: ["AUC champion", "AUC challenger", "z", "p-value"]
                .map(String::from)
                .to_vec(),
            rows: vec![vec![
                format!("{:.4}", d.auc_a),
                format!("{:.4}", d.auc_b),
                format!("{:.3}", d.z),
                p_text(d.p_value, 10_000),
            ]],
        });
    }
    tables.push(report::Table {
        title: format!("Gate: {}", gate_word(c.decision.promote)),
        header: vec!["check".into()],
        rows: c.decision.reasons.iter().map(|r| vec![r.clone()]).collect(),
    });
    report::write_html(
        dir,
        &format!("Champion v{} vs challenger v{}", c.champion, c.challenger),
        &tables,
        &pngs,
    )
}

/// The folder for a run's report files.
pub fn report_dir(home: &Path, name: &str) -> PathBuf {
    home.join("reports").join(name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn p_values_below_the_resolution_are_shown_as_bounds() {
        assert_eq!(super::p_text(0.0, 1000), "<0.001");
        assert_eq!(super::p_text(0.0004, 1000), "<0.001");
        assert_eq!(super::p_text(0.001, 1000), "0.0010");
        assert_eq!(super::p_text(0.2345, 1000), "0.2345");
    }
}
