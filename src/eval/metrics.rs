//! Binary-classification metrics, written to match scikit-learn's definitions (the tests
//! hold scikit-learn's values on fixed inputs): ROC AUC with tied scores counted half,
//! average precision as the step-wise sum over distinct thresholds, log loss with
//! probabilities clipped to [eps, 1 - eps], and calibration bins as `calibration_curve`.

use serde::{Deserialize, Serialize};

/// Indices sorted by score, highest first (stable).
fn order_desc(p: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    idx
}

/// Area under the ROC curve (Mann-Whitney U with average ranks for ties). NaN when only one
/// class is present.
pub fn roc_auc(y: &[u8], p: &[f64]) -> f64 {
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let n_pos = y.iter().filter(|&&v| v == 1).count() as f64;
    let n_neg = y.len() as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return f64::NAN;
    }
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && p[idx[j + 1]] == p[idx[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if y[k] == 1 {
                rank_sum += avg_rank;
            }
        }
        i = j + 1;
    }
    (rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

/// Cumulative (false positives, true positives) at each distinct threshold, highest first,
/// with the threshold value.
fn curve(y: &[u8], p: &[f64]) -> Vec<(f64, f64, f64)> {
    let idx = order_desc(p);
    let mut out = vec![];
    let (mut tp, mut fp) = (0.0, 0.0);
    for (n, &i) in idx.iter().enumerate() {
        if y[i] == 1 {
            tp += 1.0
        } else {
            fp += 1.0
        }
        let last_of_tie = n + 1 == idx.len() || p[idx[n + 1]] != p[i];
        if last_of_tie {
            out.push((fp, tp, p[i]));
        }
    }
    out
}

/// Average precision: sum over thresholds of (recall step) x precision.
pub fn average_precision(y: &[u8], p: &[f64]) -> f64 {
    let n_pos = y.iter().filter(|&&v| v == 1).count() as f64;
    if n_pos == 0.0 {
        return f64::NAN;
    }
    let mut ap = 0.0;
    let mut prev_recall = 0.0;
    for (fp, tp, _) in curve(y, p) {
        let recall = tp / n_pos;
        ap += (recall - prev_recall) * (tp / (tp + fp));
        prev_recall = recall;
    }
    ap
}

/// Mean negative log-likelihood, probabilities clipped to [eps, 1 - eps].
pub fn log_loss(y: &[u8], p: &[f64]) -> f64 {
    let eps = f64::EPSILON;
    let s: f64 = y
        .iter()
        .zip(p)
        .map(|(&t, &q)| {
            let q = q.clamp(eps, 1.0 - eps);
            if t == 1 { -q.ln() } else { -(1.0 - q).ln() }
        })
        .sum();
    s / y.len() as f64
}

/// Mean squared difference between probability and outcome.
pub fn brier(y: &[u8], p: &[f64]) -> f64 {
    y.iter()
        .zip(p)
        .map(|(&t, &q)| (q - f64::from(t)).powi(2))
        .sum::<f64>()
        / y.len() as f64
}

/// Counts and rates at a threshold (a row is predicted positive when score >= threshold).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct AtThreshold {
    /// The threshold.
    pub threshold: f64,
    /// True negatives.
    pub tn: usize,
    /// False positives.
    pub fp: usize,
    /// False negatives (`fn` in JSON; `fn_` is read too, as older files wrote it).
    #[serde(rename = "fn", alias = "fn_")]
    pub fn_: usize,
    /// True positives.
    pub tp: usize,
    /// (tp + tn) / n.
    pub accuracy: f64,
    /// tp / (tp + fp), 0 when nothing is predicted positive.
    pub precision: f64,
    /// tp / (tp + fn).
    pub recall: f64,
    /// Harmonic mean of precision and recall, 0 when both are 0.
    pub f1: f64,
}

/// The confusion matrix and rates at `threshold`.
pub fn at_threshold(y: &[u8], p: &[f64], threshold: f64) -> AtThreshold {
    let (mut tn, mut fp, mut fn_, mut tp) = (0, 0, 0, 0);
    for (&t, &q) in y.iter().zip(p) {
        match (t == 1, q >= threshold) {
            (true, true) => tp += 1,
            (true, false) => fn_ += 1,
            (false, true) => fp += 1,
            (false, false) => tn += 1,
        }
    }
    let div = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let precision = div(tp, tp + fp);
    let recall = div(tp, tp + fn_);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    AtThreshold {
        threshold,
        tn,
        fp,
        fn_,
        tp,
        accuracy: div(tp + tn, y.len()),
        precision,
        recall,
        f1,
    }
}

/// The score threshold with the highest F1 (first one on ties, scanning from high scores).
pub fn f1_optimal_threshold(y: &[u8], p: &[f64]) -> (f64, f64) {
    let n_pos = y.iter().filter(|&&v| v == 1).count() as f64;
    let mut best = (0.5, -1.0);
    for (fp, tp, thr) in curve(y, p) {
        let (prec, rec) = (tp / (tp + fp), if n_pos > 0.0 { tp / n_pos } else { 0.0 });
        let f1 = if prec + rec == 0.0 {
            0.0
        } else {
            2.0 * prec * rec / (prec + rec)
        };
        if f1 > best.1 {
            best = (thr, f1);
        }
    }
    best
}

/// The score threshold with the lowest expected cost `c_fn * FN + c_fp * FP` (first one on
/// ties, scanning from high scores), and that cost per row.
pub fn cost_optimal_threshold(y: &[u8], p: &[f64], c_fn: f64, c_fp: f64) -> (f64, f64) {
    let n_pos = y.iter().filter(|&&v| v == 1).count() as f64;
    // Flagging nobody: every claim is missed.
    let mut best = (f64::INFINITY, c_fn * n_pos);
    for (fp, tp, thr) in curve(y, p) {
        let cost = c_fn * (n_pos - tp) + c_fp * fp;
        if cost < best.1 {
            best = (thr, cost);
        }
    }
    (best.0.min(1.0), best.1 / y.len().max(1) as f64)
}

/// Lift and capture rate in the top `share` of rows by score.
pub fn lift_at(y: &[u8], p: &[f64], share: f64) -> (f64, f64) {
    let n = y.len();
    let k = ((n as f64 * share).ceil() as usize).clamp(1, n.max(1));
    let all_pos = y.iter().filter(|&&v| v == 1).count() as f64;
    if all_pos == 0.0 || n == 0 {
        return (f64::NAN, f64::NAN);
    }
    // Rows tied with the k-th score count in the top share in proportion: the expected
    // value over every order of the ties (a stable sort would credit the file's order).
    let mut by_score = p.to_vec();
    let cut = *by_score
        .select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a))
        .1;
    let (mut above, mut pos_above, mut tied, mut pos_tied) = (0usize, 0usize, 0usize, 0usize);
    for (&v, &s) in y.iter().zip(p) {
        if s > cut {
            above += 1;
            pos_above += usize::from(v == 1);
        } else if s == cut {
            tied += 1;
            pos_tied += usize::from(v == 1);
        }
    }
    let top_pos = pos_above as f64 + (k - above) as f64 * pos_tied as f64 / tied as f64;
    let lift = (top_pos / k as f64) / (all_pos / n as f64);
    (lift, top_pos / all_pos)
}

/// One calibration bin.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct CalibrationBin {
    /// Mean predicted probability in the bin.
    pub mean_predicted: f64,
    /// Observed share of positives in the bin.
    pub observed: f64,
    /// Rows in the bin.
    pub count: usize,
}

/// `bins` equal-width bins over [0, 1] (as scikit-learn's `calibration_curve`, empty bins
/// left out) and the expected calibration error (count-weighted mean |observed - predicted|).
pub fn calibration(y: &[u8], p: &[f64], bins: usize) -> (Vec<CalibrationBin>, f64) {
    let step = 1.0 / bins as f64;
    let edges: Vec<f64> = (1..bins).map(|i| i as f64 * step).collect();
    let mut sum_p = vec![0.0; bins];
    let mut sum_y = vec![0.0; bins];
    let mut cnt = vec![0usize; bins];
    for (&t, &q) in y.iter().zip(p) {
        let b = edges.partition_point(|&e| e < q);
        sum_p[b] += q;
        sum_y[b] += f64::from(t);
        cnt[b] += 1;
    }
    let mut out = vec![];
    let mut ece = 0.0;
    for b in 0..bins {
        if cnt[b] > 0 {
            let c = cnt[b] as f64;
            let bin = CalibrationBin {
                mean_predicted: sum_p[b] / c,
                observed: sum_y[b] / c,
                count: cnt[b],
            };
            ece += c * (bin.observed - bin.mean_predicted).abs();
            out.push(bin);
        }
    }
    (out, ece / y.len().max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values computed with scikit-learn 1.x on exactly these inputs.
    const Y: [u8; 20] = [0, 0, 1, 0, 1, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0];
    const P: [f64; 20] = [
        0.05, 0.10, 0.80, 0.30, 0.65, 0.30, 0.20, 0.15, 0.70, 0.90, 0.05, 0.40, 0.55, 0.10, 0.25,
        0.35, 0.30, 0.02, 0.60, 0.12,
    ];

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    #[test]
    fn matches_scikit_learn() {
        close(roc_auc(&Y, &P), 0.8571428571428571); // roc_auc_score
        close(average_precision(&Y, &P), 0.7512626262626262); // average_precision_score
        close(log_loss(&Y, &P), 0.41591524323255874); // log_loss
        close(brier(&Y, &P), 0.137115); // brier_score_loss
        let m = at_threshold(&Y, &P, 0.5);
        assert_eq!((m.tn, m.fp, m.fn_, m.tp), (12, 2, 2, 4)); // confusion_matrix
        close(m.accuracy, 0.8);
        close(m.precision, 0.6666666666666666);
        close(m.recall, 0.6666666666666666);
        close(m.f1, 0.6666666666666666);
        let (thr, f1) = f1_optimal_threshold(&Y, &P); // argmax F1 of precision_recall_curve
        close(thr, 0.3);
        close(f1, 0.7058823529411764);
    }

    #[test]
    fn calibration_matches_calibration_curve() {
        let (bins, _) = calibration(&Y, &P, 10);
        let observed = [0.0, 0.0, 0.5, 0.0, 0.5, 0.5, 1.0, 1.0];
        let predicted = [
            0.064,
            0.15666666666666665,
            0.2875,
            0.375,
            0.575,
            0.675,
            0.8,
            0.9,
        ];
        assert_eq!(bins.len(), 8);
        for (b, (o, p)) in bins.iter().zip(observed.iter().zip(predicted)) {
            close(b.observed, *o);
            close(b.mean_predicted, p);
        }
    }

    #[test]
    fn cost_threshold_by_hand() {
        // A missed claim costs 10, a review 1: flagging down to 0.30 catches all 6 claims
        // with 5 reviews wasted (cost 5), better than 0.55 (2 missed, 2 wasted: 22).
        let (thr, cost) = cost_optimal_threshold(&Y, &P, 10.0, 1.0);
        close(thr, 0.3);
        close(cost, 5.0 / 20.0);
        // Reviews expensive, misses cheap: flag only the two top scores (both claims, cost 4).
        let (thr, cost) = cost_optimal_threshold(&Y, &P, 1.0, 10.0);
        close(thr, 0.8);
        close(cost, 4.0 / 20.0);
    }

    #[test]
    fn lift_and_capture_by_hand() {
        // Top 10% = 2 rows (0.90 and 0.80), both positive: precision 1 vs base rate 0.3.
        let (lift, capture) = lift_at(&Y, &P, 0.1);
        close(lift, 1.0 / 0.3);
        close(capture, 2.0 / 6.0);
    }

    /// Scores tied at the cut count in proportion, whatever the rows' order: a constant
    /// score has lift 1 (a stable sort gave 10 when the one claim came first).
    #[test]
    fn lift_with_ties_at_the_cut() {
        for at in [0, 7, 19] {
            let mut yy = [0u8; 20];
            yy[at] = 1;
            let (lift, capture) = lift_at(&yy, &[0.4; 20], 0.1);
            close(lift, 1.0);
            close(capture, 0.1);
        }
        // 0.9 (a claim) above the cut; 0.5 tied four ways (one claim) for the one place left.
        let p = [0.9, 0.5, 0.5, 0.5, 0.5, 0.1, 0.1, 0.1, 0.1, 0.1];
        let y = [1, 0, 1, 0, 0, 0, 0, 0, 0, 1];
        let (lift, capture) = lift_at(&y, &p, 0.2);
        close(capture, 1.25 / 3.0);
        close(lift, (1.25 / 2.0) / 0.3);
    }

    #[test]
    fn degenerate_inputs() {
        assert!(roc_auc(&[1, 1], &[0.2, 0.3]).is_nan());
        close(roc_auc(&[0, 1], &[0.5, 0.5]), 0.5);
        close(log_loss(&[1], &[0.0]), -(f64::EPSILON.ln()));
    }
}
