//! Statistical comparison of two models scored on the same rows: DeLong's test for the
//! difference of two correlated ROC AUCs (the fast midrank algorithm of Sun & Xu, 2014)
//! and a paired, stratified bootstrap for confidence intervals of any metric.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

/// DeLong's test result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeLong {
    /// ROC AUC of model A.
    pub auc_a: f64,
    /// ROC AUC of model B.
    pub auc_b: f64,
    /// Variance of AUC(B) - AUC(A).
    pub var_diff: f64,
    /// z = (AUC(B) - AUC(A)) / sqrt(var_diff).
    pub z: f64,
    /// Two-sided p-value.
    pub p_value: f64,
}

/// Midranks (1-based, ties averaged) of `v`.
fn midranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = mid;
        }
        i = j + 1;
    }
    r
}

/// Structural components (V10 over positives, V01 over negatives) and the AUC of one model.
fn components(pos: &[f64], neg: &[f64]) -> (Vec<f64>, Vec<f64>, f64) {
    let (m, n) = (pos.len(), neg.len());
    let all: Vec<f64> = pos.iter().chain(neg).copied().collect();
    let tz = midranks(&all);
    let tx = midranks(pos);
    let ty = midranks(neg);
    let v10: Vec<f64> = (0..m).map(|i| (tz[i] - tx[i]) / n as f64).collect();
    let v01: Vec<f64> = (0..n)
        .map(|j| 1.0 - (tz[m + j] - ty[j]) / m as f64)
        .collect();
    let auc = v10.iter().sum::<f64>() / m as f64;
    (v10, v01, auc)
}

fn cov(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - ma) * (y - mb))
        .sum::<f64>()
        / (n - 1.0)
}

/// DeLong's test of AUC(B) against AUC(A) on the same labelled rows. `None` when a class
/// has fewer than two rows.
pub fn delong(y: &[u8], p_a: &[f64], p_b: &[f64]) -> Option<DeLong> {
    let split = |p: &[f64]| -> (Vec<f64>, Vec<f64>) {
        let pos = y
            .iter()
            .zip(p)
            .filter(|(t, _)| **t == 1)
            .map(|(_, v)| *v)
            .collect();
        let neg = y
            .iter()
            .zip(p)
            .filter(|(t, _)| **t != 1)
            .map(|(_, v)| *v)
            .collect();
        (pos, neg)
    };
    let (pa, na) = split(p_a);
    let (pb, nb) = split(p_b);
    let (m, n) = (pa.len(), na.len());
    if m < 2 || n < 2 {
        return None;
    }
    let (v10a, v01a, auc_a) = components(&pa, &na);
    let (v10b, v01b, auc_b) = components(&pb, &nb);
    let s = |x10: &[f64], y10: &[f64], x01: &[f64], y01: &[f64]| {
        cov(x10, y10) / m as f64 + cov(x01, y01) / n as f64
    };
    let var_a = s(&v10a, &v10a, &v01a, &v01a);
    let var_b = s(&v10b, &v10b, &v01b, &v01b);
    let cov_ab = s(&v10a, &v10b, &v01a, &v01b);
    let var_diff = (var_a + var_b - 2.0 * cov_ab).max(0.0);
    let diff = auc_b - auc_a;
    let (z, p_value) = if var_diff > 0.0 {
        let z = diff / var_diff.sqrt();
        let phi = Normal::new(0.0, 1.0).map_or(0.5, |d| d.cdf(z.abs()));
        (z, 2.0 * (1.0 - phi))
    } else {
        (0.0, if diff == 0.0 { 1.0 } else { 0.0 })
    };
    Some(DeLong {
        auc_a,
        auc_b,
        var_diff,
        z,
        p_value,
    })
}

/// A 95% bootstrap interval: bias-corrected percentiles (see [`interval`]).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Interval {
    /// Lower end.
    pub lo: f64,
    /// Upper end.
    pub hi: f64,
}

/// Bootstrap result for one metric.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Paired {
    /// Interval of model A's metric.
    pub a: Interval,
    /// Interval of model B's metric.
    pub b: Interval,
    /// Interval of B - A.
    pub diff: Interval,
    /// Two-sided bootstrap p-value of B - A = 0: twice the smaller tail share, each tail
    /// counted as (1 + k) / (rounds + 1), so that it is never 0 (Davison & Hinkley 1997,
    /// eq. 4.11): with 1,000 rounds the smallest p it can give is about 0.002.
    pub p_value: f64,
}

/// The 95% bias-corrected percentile interval (Efron 1981; BCa without acceleration) of
/// the resampled values `v` around the full sample's `estimate`: z0 = Phi^-1(share of
/// resamples below the estimate, ties counting half), then the Phi(2 z0 -+ 1.96) quantiles.
/// With no median bias (z0 = 0) it is the plain 2.5-97.5 percentile interval. A biased
/// metric moves it: ECE over fixed bins comes out higher on nearly every resample, so its
/// plain percentile interval could lie wholly above the estimate; this one contains the
/// estimate whenever the estimate is not in the outer 2.5% of its own resamples. The
/// share is kept within [1/(n+1), n/(n+1)] so z0 stays finite. A NaN `estimate` gives the
/// plain percentile interval.
fn interval(mut v: Vec<f64>, estimate: f64) -> Interval {
    v.retain(|x| x.is_finite());
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return Interval {
            lo: f64::NAN,
            hi: f64::NAN,
        };
    }
    let n = v.len() as f64;
    let q = |f: f64| v[((f * (n - 1.0)).round() as usize).min(v.len() - 1)];
    let normal = Normal::new(0.0, 1.0).expect("the standard normal");
    let (lo_f, hi_f) = if estimate.is_finite() {
        let below = v.partition_point(|&x| x < estimate) as f64;
        let equal = v.partition_point(|&x| x <= estimate) as f64 - below;
        let share = ((below + equal / 2.0) / n).clamp(1.0 / (n + 1.0), n / (n + 1.0));
        let z0 = normal.inverse_cdf(share);
        let z = normal.inverse_cdf(0.975);
        (normal.cdf(2.0 * z0 - z), normal.cdf(2.0 * z0 + z))
    } else {
        (0.025, 0.975)
    };
    Interval {
        lo: q(lo_f),
        hi: q(hi_f),
    }
}

/// A metric of (labels, scores, which model: 0 = A, 1 = B).
pub type MetricFn<'a> = dyn Fn(&[u8], &[f64], usize) -> f64 + 'a;

/// Paired, stratified bootstrap: `rounds` resamples that draw positives and negatives
/// separately with replacement (keeping the class balance), the same rows for both models.
/// `metric(y, p, which)` computes one metric for model `which` (0 = A, 1 = B).
pub fn paired_bootstrap(
    y: &[u8],
    p_a: &[f64],
    p_b: &[f64],
    rounds: usize,
    seed: u64,
    metric: &MetricFn,
) -> Paired {
    let pos: Vec<usize> = (0..y.len()).filter(|&i| y[i] == 1).collect();
    let neg: Vec<usize> = (0..y.len()).filter(|&i| y[i] != 1).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut va, mut vb, mut vd) = (vec![], vec![], vec![]);
    let (mut ys, mut pa, mut pb) = (vec![], vec![], vec![]);
    for _ in 0..rounds {
        ys.clear();
        pa.clear();
        pb.clear();
        for class in [&pos, &neg] {
            for _ in 0..class.len() {
                let i = class[rng.random_range(0..class.len())];
                ys.push(y[i]);
                pa.push(p_a[i]);
                pb.push(p_b[i]);
            }
        }
        let (a, b) = (metric(&ys, &pa, 0), metric(&ys, &pb, 1));
        va.push(a);
        vb.push(b);
        vd.push(b - a);
    }
    // Resamples where a metric is undefined (NaN, infinite) count in neither tail nor n.
    let finite: Vec<f64> = vd.iter().copied().filter(|d| d.is_finite()).collect();
    let share = |k: usize| (1.0 + k as f64) / (finite.len() as f64 + 1.0);
    let below = share(finite.iter().filter(|&&d| d <= 0.0).count());
    let above = share(finite.iter().filter(|&&d| d >= 0.0).count());
    let (a, b) = (metric(y, p_a, 0), metric(y, p_b, 1));
    Paired {
        a: interval(va, a),
        b: interval(vb, b),
        // The difference keeps the plain percentile interval: pairing cancels most of a
        // metric's bias, and it stays consistent with `p_value` (both read the same tails
        // around 0), which the gate's non-inferiority check and superiority test rely on.
        diff: interval(vd, f64::NAN),
        p_value: (2.0 * below.min(above)).min(1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Y: [u8; 20] = [0, 0, 1, 0, 1, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0];
    const A: [f64; 20] = [
        0.05, 0.10, 0.80, 0.30, 0.65, 0.30, 0.20, 0.15, 0.70, 0.90, 0.05, 0.40, 0.55, 0.10, 0.25,
        0.35, 0.30, 0.02, 0.60, 0.12,
    ];
    const B: [f64; 20] = [
        0.20, 0.15, 0.60, 0.35, 0.40, 0.50, 0.10, 0.30, 0.45, 0.70, 0.25, 0.20, 0.65, 0.05, 0.15,
        0.55, 0.25, 0.10, 0.30, 0.40,
    ];

    #[test]
    fn delong_matches_reference_implementation() {
        // MLstatkit 0.1.91 Delong_test(y, A, B) on these inputs:
        // z 0.30267773711332724, p 0.7621354656225985, var_diff 0.006187859759288332,
        // AUC A 0.8571428571428572, AUC B 0.8809523809523809.
        let d = delong(&Y, &A, &B).unwrap();
        assert!((d.auc_a - 0.8571428571428572).abs() < 1e-12);
        assert!((d.auc_b - 0.8809523809523809).abs() < 1e-12);
        assert!(
            (d.var_diff - 0.006187859759288332).abs() < 1e-12,
            "{}",
            d.var_diff
        );
        assert!((d.z - 0.30267773711332724).abs() < 1e-9, "{}", d.z);
        assert!(
            (d.p_value - 0.7621354656225985).abs() < 1e-9,
            "{}",
            d.p_value
        );
        let same = delong(&Y, &A, &A).unwrap();
        assert_eq!((same.z, same.p_value), (0.0, 1.0));
    }

    #[test]
    fn bootstrap_is_seeded_and_brackets_the_estimate() {
        let auc = |y: &[u8], p: &[f64], _: usize| crate::eval::metrics::roc_auc(y, p);
        let r1 = paired_bootstrap(&Y, &A, &B, 500, 7, &auc);
        let r2 = paired_bootstrap(&Y, &A, &B, 500, 7, &auc);
        assert_eq!(r1, r2);
        assert!(r1.a.lo <= 0.857 && 0.857 <= r1.a.hi);
        assert!(r1.diff.lo < 0.0 && r1.diff.hi > 0.0 && r1.p_value > 0.3);
    }

    #[test]
    fn the_difference_interval_agrees_with_the_p_value() {
        // Small, skewed samples (AUC near 1 on 40 rows) move a bias-corrected interval away
        // from the tails the p-value counts; the difference's plain interval excludes 0
        // exactly when the p-value is small.
        let auc = |y: &[u8], p: &[f64], _: usize| crate::eval::metrics::roc_auc(y, p);
        for seed in 0..40u64 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let y: Vec<u8> = (0..40).map(|i| u8::from(i % 6 == 0)).collect();
            let a: Vec<f64> = y
                .iter()
                .map(|&t| f64::from(t) * 0.3 + rng.random_range(0.0..1.0))
                .collect();
            let b: Vec<f64> = y
                .iter()
                .map(|&t| f64::from(t) * 0.9 + rng.random_range(0.0..1.0))
                .collect();
            let r = paired_bootstrap(&y, &a, &b, 1000, seed, &auc);
            let excludes = r.diff.lo > 0.0 || r.diff.hi < 0.0;
            assert!(!excludes || r.p_value <= 0.06, "{seed}: {r:?}");
            assert!(excludes || r.p_value >= 0.04, "{seed}: {r:?}");
        }
    }

    #[test]
    fn interval_is_bias_corrected_like_the_reference() {
        // Values computed with scipy.stats.norm (ppf, cdf) and the same quantile rule:
        // z0 = ppf(share below the estimate), ends at cdf(2 z0 -+ ppf(0.975)).
        let v: Vec<f64> = (0..1000).map(|i| (f64::from(i) / 999.0).powi(2)).collect();
        let near = |a: f64, b: f64| (a - b).abs() < 1e-12;
        // The median: no bias, the plain 2.5-97.5 percentiles.
        let i = interval(v.clone(), 0.25);
        assert!(near(i.lo, 0.0006262518775031288) && near(i.hi, 0.9505762018274531));
        // An estimate below the resamples' median (z0 = -0.4789) moves both ends down.
        let i = interval(v.clone(), 0.1);
        assert!(near(i.lo, 4.008012016020024e-06) && near(i.hi, 0.7086976866756647));
        // An estimate below nearly every resample (the share is held at 1/1001).
        let i = interval(v.clone(), 0.0001);
        assert!(
            near(i.lo, 0.0) && near(i.hi, 1.6032048064080095e-05),
            "{i:?}"
        );
    }

    #[test]
    fn a_biased_metric_keeps_its_estimate_inside() {
        // A calibrated model's ECE over ten bins rises on resamples (duplicated rows add
        // error to every bin). On this claims-like sample (most scores near 0) nearly every
        // resample is above the estimate, so the plain 2.5-97.5 percentile interval lies
        // above it; the bias-corrected one holds it.
        let mut rng = ChaCha8Rng::seed_from_u64(26);
        let p: Vec<f64> = (0..3000)
            .map(|_| rng.random_range(0.0f64..1.0).powi(4))
            .collect();
        let y: Vec<u8> = p.iter().map(|&q| u8::from(rng.random_bool(q))).collect();
        let ece = |y: &[u8], p: &[f64], _: usize| crate::eval::metrics::calibration(y, p, 10).1;
        let est = ece(&y, &p, 0);
        let r = paired_bootstrap(&y, &p, &p, 1000, 3, &ece);
        assert!(r.a.lo <= est && est <= r.a.hi, "{est} {:?}", r.a);
        let mut plain = Vec::new();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let pos: Vec<usize> = (0..y.len()).filter(|&i| y[i] == 1).collect();
        let neg: Vec<usize> = (0..y.len()).filter(|&i| y[i] == 0).collect();
        for _ in 0..1000 {
            let idx: Vec<usize> = [&pos, &neg]
                .iter()
                .flat_map(|c| {
                    (0..c.len())
                        .map(|_| c[rng.random_range(0..c.len())])
                        .collect::<Vec<_>>()
                })
                .collect();
            let ys: Vec<u8> = idx.iter().map(|&i| y[i]).collect();
            let ps: Vec<f64> = idx.iter().map(|&i| p[i]).collect();
            plain.push(ece(&ys, &ps, 0));
        }
        plain.sort_by(f64::total_cmp);
        assert!(
            plain[25] > est,
            "the plain interval would hold {est}: {}",
            plain[25]
        );
    }

    #[test]
    fn bootstrap_p_is_never_zero() {
        // B ranks every positive above every negative, A ranks them all the wrong way:
        // every resample favours B, and p is the smallest the rounds allow, not 0.
        let good: Vec<f64> = Y.iter().map(|&y| f64::from(y)).collect();
        let bad: Vec<f64> = Y.iter().map(|&y| 1.0 - f64::from(y)).collect();
        let auc = |y: &[u8], p: &[f64], _: usize| crate::eval::metrics::roc_auc(y, p);
        let r = paired_bootstrap(&Y, &bad, &good, 999, 7, &auc);
        assert_eq!(r.p_value, 2.0 / 1000.0);
        assert_eq!((r.diff.lo, r.diff.hi), (1.0, 1.0));
    }
}
