//! The training run's report: charts and an HTML page of the new model's test evaluation,
//! written to the run's report folder and stored with the model (`report/NAME`).

use std::path::Path;

use super::compare;
use crate::error::{ClaimsError, Result};
use crate::eval::Evaluation;

/// Charts and the HTML page of a new model's test evaluation, written to the run's report
/// folder and returned as `report/NAME` artifacts for the model folder. A report that
/// cannot be finished (a full disk) is removed, not left half-written to fill the disk
/// further on every retry.
#[allow(clippy::too_many_arguments)]
pub(super) fn model_report(
    home: &Path,
    run_id: &str,
    version: u32,
    params: &serde_json::Value,
    test: &Evaluation,
    yp: (&[u8], &[f64]),
    threshold: f64,
    importance: &[(String, f32)],
) -> Result<Vec<(String, Vec<u8>)>> {
    let dir = compare::report_dir(home, run_id);
    let title = format!("Model v{version} (training run {run_id})");
    let made = write_report(&dir, &title, params, test, yp, threshold, importance);
    if made.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    made
}

/// After a failed training run: its report folder goes when no model of the run was
/// registered (a report of a model that does not exist; on a full disk, each retry's
/// report held the space the next one needed). A registered model keeps its report in its
/// own folder, and the run's folder (with the gate's comparison) stays.
pub(super) fn drop_if_unregistered(home: &Path, run_id: &str) {
    let registered = crate::registry::Registry::open(home)
        .and_then(|r| r.list())
        .map(|models| models.iter().any(|m| m.run_id == run_id))
        .unwrap_or(true);
    if !registered {
        let _ = std::fs::remove_dir_all(compare::report_dir(home, run_id));
    }
}

#[allow(clippy::too_many_arguments)]
fn write_report(
    dir: &Path,
    title: &str,
    params: &serde_json::Value,
    test: &Evaluation,
    (y, p): (&[u8], &[f64]),
    threshold: f64,
    importance: &[(String, f32)],
) -> Result<Vec<(String, Vec<u8>)>> {
    use crate::eval::report;
    let series = report::ModelSeries {
        name: "new model (test split)".into(),
        y,
        p,
        threshold,
        importance,
    };
    let pngs = report::write_charts(dir, &[series])?;
    let t = &test.at_threshold;
    let rows: Vec<Vec<String>> = [
        ("ROC AUC", test.roc_auc),
        ("PR AUC", test.pr_auc),
        ("positive rate", test.positive_rate),
        ("Gini", test.gini),
        ("log loss", test.log_loss),
        ("Brier", test.brier),
        ("calibration ECE", test.ece),
        ("threshold", t.threshold),
        ("precision", t.precision),
        ("recall", t.recall),
        ("F1", t.f1),
        ("lift top 10%", test.lift_top_decile),
        ("capture top 10%", test.capture_top_decile),
    ]
    .iter()
    .map(|(k, v)| vec![k.to_string(), format!("{v:.4}")])
    .collect();
    let mut tables = vec![
        report::Table {
            title: format!("Test split ({} rows, scored once)", test.rows),
            header: vec!["metric".into(), "value".into()],
            rows,
        },
        report::Table {
            title: "Confusion matrix at the threshold".into(),
            header: vec![
                "".into(),
                "predicted no claim".into(),
                "predicted claim".into(),
            ],
            rows: vec![
                vec!["no claim".into(), t.tn.to_string(), t.fp.to_string()],
                vec!["claim".into(), t.fn_.to_string(), t.tp.to_string()],
            ],
        },
    ];
    // What the model is: rounds, imbalance handling, threshold rule and every
    // hyperparameter the search chose.
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "-".to_string(),
        serde_json::Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    let mut settings: Vec<Vec<String>> =
        ["rounds", "imbalance", "scale_pos_weight", "threshold_rule"]
            .iter()
            .map(|k| vec![k.to_string(), text(&params[*k])])
            .collect();
    if let Some(h) = params["hyperparams"].as_object() {
        settings.extend(h.iter().map(|(k, v)| vec![k.clone(), text(v)]));
    }
    tables.push(report::Table {
        title: "Model settings (params.json)".into(),
        header: vec!["setting".into(), "value".into()],
        rows: settings,
    });
    let html = report::write_html(dir, title, &tables, &pngs)?;
    let mut out = vec![];
    for path in pngs
        .iter()
        .flat_map(|p| [p.clone(), p.with_extension("svg")])
        .chain([html])
    {
        let bytes = std::fs::read(&path).map_err(|e| ClaimsError::io(&path, e))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push((format!("report/{name}"), bytes));
    }
    Ok(out)
}

/// Below this test ROC AUC a model is called close to chance.
const NEAR_CHANCE_AUC: f64 = 0.6;

/// What a reviewer must know about a new model before promoting it, from its test
/// evaluation: a ranking close to chance (the labels may be wrong or unrelated to the
/// features), or a threshold that flags nearly every application or none.
pub(super) fn quality_warnings(test: &Evaluation, min_class_rows: usize) -> Vec<String> {
    let mut out = vec![];
    // Metrics of a few rows mean little (a 24-row file gave "test ROC AUC 1.0000 on 4
    // rows" and a champion): said, with what the gate asks of a comparison.
    let t = &test.at_threshold;
    let (claims, others) = (t.tp + t.fn_, t.tn + t.fp);
    if claims.min(others) < min_class_rows {
        out.push(format!(
            "the test split holds {claims} claim(s) and {others} non-claim(s): its metrics mean little on so few rows (a comparison needs gate.min_class_rows {min_class_rows} of each); train on more rows before relying on this model"
        ));
    }
    if test.roc_auc < NEAR_CHANCE_AUC {
        out.push(format!(
            "test ROC AUC {:.4} is close to chance (0.5): this model barely tells claims from other applications; check the label column and the data before promoting it",
            test.roc_auc
        ));
    }
    let t = &test.at_threshold;
    let flagged = (t.tp + t.fp) as f64 / test.rows.max(1) as f64;
    if test.rows > 0 && (flagged >= 0.9 || t.tp + t.fp == 0) {
        out.push(format!(
            "at its threshold {:.4} it predicts a claim for {:.0}% of test rows (claim rate {:.1}%): its decisions would not sort applications",
            t.threshold,
            100.0 * flagged,
            100.0 * test.positive_rate
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failed run's report folder goes unless a model of the run was registered.
    #[test]
    fn a_failed_runs_report_goes_unless_its_model_was_registered() {
        let home = tempfile::tempdir().unwrap();
        let mut reg = crate::registry::Registry::open(home.path()).unwrap();
        let manifest = crate::registry::Manifest::for_test("train-kept");
        reg.register(
            manifest,
            &[("model.json", b"{}".to_vec())],
            0.9,
            "none",
            0.5,
        )
        .unwrap();
        for run in ["train-kept", "train-gone"] {
            let dir = compare::report_dir(home.path(), run);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("roc.png"), b"png").unwrap();
            drop_if_unregistered(home.path(), run);
        }
        assert!(compare::report_dir(home.path(), "train-kept").is_dir());
        assert!(!compare::report_dir(home.path(), "train-gone").exists());
    }

    #[test]
    fn a_model_near_chance_or_flagging_everyone_is_called_out() {
        let y: Vec<u8> = (0..400).map(|i| u8::from(i % 6 == 0)).collect();
        // Scores that follow the label: nothing to say.
        let good: Vec<f64> = y
            .iter()
            .enumerate()
            .map(|(i, &l)| 0.1 + 0.6 * f64::from(l) + (i % 7) as f64 * 0.01)
            .collect();
        assert!(quality_warnings(&crate::eval::evaluate(&y, &good, 0.5), 10).is_empty());
        // Scores unrelated to the label, all above the threshold.
        let noise: Vec<f64> = (0..400)
            .map(|i| 0.5 + ((i * 37) % 101) as f64 / 1000.0)
            .collect();
        let w = quality_warnings(&crate::eval::evaluate(&y, &noise, 0.35), 10);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].contains("close to chance") && w[1].contains("for 100% of test rows"),
            "{w:?}"
        );
        // 4 test rows (a 24-row file): said, with the counts.
        let w = quality_warnings(
            &crate::eval::evaluate(&[1, 0, 1, 0], &[0.9, 0.1, 0.8, 0.2], 0.5),
            10,
        );
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("the test split holds 2 claim(s) and 2 non-claim(s)"),
            "{w:?}"
        );
    }
}
