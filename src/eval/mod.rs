//! Evaluation of a model on labelled rows: discrimination (ROC AUC, PR AUC, Gini),
//! probability quality (log loss, Brier, calibration), decisions at a threshold, and lift.

mod charts;
pub mod metrics;
pub mod report;
pub mod stats;

use serde::{Deserialize, Serialize};

use metrics::{AtThreshold, CalibrationBin};

/// Every metric we report for one labelled set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Evaluation {
    /// Rows evaluated.
    pub rows: usize,
    /// Share of positives (the baseline for PR AUC).
    pub positive_rate: f64,
    /// Area under the ROC curve.
    pub roc_auc: f64,
    /// Average precision (area under the precision-recall curve).
    pub pr_auc: f64,
    /// Normalised Gini, 2 AUC - 1.
    pub gini: f64,
    /// Log loss.
    pub log_loss: f64,
    /// Brier score.
    pub brier: f64,
    /// Decisions at the operating threshold.
    pub at_threshold: AtThreshold,
    /// The threshold that maximises F1 on this set, and that F1 (for reference only: the
    /// operating threshold is chosen on validation data).
    pub f1_optimal_threshold: f64,
    /// F1 at `f1_optimal_threshold`.
    pub f1_optimal_f1: f64,
    /// Positive rate in the top 10% of scores over the overall positive rate.
    pub lift_top_decile: f64,
    /// Share of all positives found in the top 10% of scores.
    pub capture_top_decile: f64,
    /// Reliability bins (10 equal-width bins).
    pub calibration: Vec<CalibrationBin>,
    /// Expected calibration error over those bins.
    pub ece: f64,
}

/// Evaluates scores `p` against labels `y` with the operating `threshold`.
pub fn evaluate(y: &[u8], p: &[f64], threshold: f64) -> Evaluation {
    let roc = metrics::roc_auc(y, p);
    let (f1_thr, f1_best) = metrics::f1_optimal_threshold(y, p);
    let (lift, capture) = metrics::lift_at(y, p, 0.1);
    let (calibration, ece) = metrics::calibration(y, p, 10);
    Evaluation {
        rows: y.len(),
        positive_rate: y.iter().filter(|&&v| v == 1).count() as f64 / y.len().max(1) as f64,
        roc_auc: roc,
        pr_auc: metrics::average_precision(y, p),
        gini: 2.0 * roc - 1.0,
        log_loss: metrics::log_loss(y, p),
        brier: metrics::brier(y, p),
        at_threshold: metrics::at_threshold(y, p, threshold),
        f1_optimal_threshold: f1_thr,
        f1_optimal_f1: f1_best,
        lift_top_decile: lift,
        capture_top_decile: capture,
        calibration,
        ece,
    }
}

impl Evaluation {
    /// The metric table as aligned text lines; `rule` says how the threshold was chosen.
    pub fn table(&self, rule: &str) -> String {
        let t = &self.at_threshold;
        let rows = [
            ("ROC AUC", format!("{:.4}", self.roc_auc)),
            (
                "PR AUC",
                format!(
                    "{:.4}  (positive rate {:.4})",
                    self.pr_auc, self.positive_rate
                ),
            ),
            ("Gini", format!("{:.4}", self.gini)),
            ("log loss", format!("{:.4}", self.log_loss)),
            ("Brier", format!("{:.4}", self.brier)),
            ("calibration ECE", format!("{:.4}", self.ece)),
            ("threshold", format!("{:.4}  ({rule})", t.threshold)),
            ("accuracy", format!("{:.4}", t.accuracy)),
            ("precision", format!("{:.4}", t.precision)),
            ("recall", format!("{:.4}", t.recall)),
            ("F1", format!("{:.4}", t.f1)),
            (
                "confusion",
                format!("TN {}  FP {}  FN {}  TP {}", t.tn, t.fp, t.fn_, t.tp),
            ),
            (
                "lift top 10%",
                format!(
                    "{:.2}  (captures {:.1}% of claims)",
                    self.lift_top_decile,
                    100.0 * self.capture_top_decile
                ),
            ),
        ];
        rows.iter()
            .map(|(k, v)| format!("  {k:<16} {v}\n"))
            .collect()
    }
}
