//! Drift of a day's inputs and scores against a model's reference profile: PSI per
//! feature (numeric: the training split's quantile bins; categorical: category shares with
//! an "unseen" bucket; both with a missing bucket), a two-sample KS p-value for numeric
//! features (the day against the training split, whose distribution the profile keeps as
//! 1,000 quantiles, with the split's own row count as its sample size; Kolmogorov's
//! asymptotic distribution with Stephens' correction), a chi-square test of homogeneity
//! for categorical features (the day's counts against the training split's), and
//! prediction drift (PSI of the score distribution, shift of the mean score). Both tests
//! are two-sample: the training split is a sample too, so a day drawn from the same
//! population gets a p-value spread over (0, 1], however many rows it has. PSI levels
//! decide warnings and alerts; p-values are recorded for context (with large samples they
//! flag differences too small to matter).

use serde::Serialize;
use statrs::distribution::{ChiSquared, ContinuousCDF};

use super::profile::{NumericProfile, Profile, bin_shares};
use crate::config::DriftConfig;
use crate::data::{Dataset, MISSING_CODE};

/// One drift measurement.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DriftRow {
    /// Feature name, or "score" for prediction drift.
    pub feature: String,
    /// "psi", "ks_pvalue", "chi2_pvalue" or "mean_shift".
    pub metric: String,
    /// The measured value.
    pub value: f64,
    /// The alert threshold, where the metric has one.
    pub threshold: Option<f64>,
    /// Whether the alert threshold was reached.
    pub breached: bool,
    /// "ok", "warn" or "alert".
    pub level: String,
}

const FLOOR: f64 = 1e-4;

/// Population stability index of `actual` shares against `expected` shares (same buckets).
pub fn psi(expected: &[f64], actual: &[f64]) -> f64 {
    expected
        .iter()
        .zip(actual)
        .map(|(&e, &a)| {
            let (e, a) = (e.max(FLOOR), a.max(FLOOR));
            (a - e) * (a / e).ln()
        })
        .sum()
}

/// Kolmogorov's survival function Q(x) = 2 sum (-1)^(k-1) exp(-2 k^2 x^2).
pub fn kolmogorov_sf(x: f64) -> f64 {
    if x < 0.2 {
        return 1.0;
    }
    let mut sum = 0.0;
    for k in 1..=100 {
        let k = k as f64;
        let term = (-2.0 * k * k * x * x).exp();
        sum += if k as i64 % 2 == 1 { term } else { -term };
        if term < 1e-12 {
            break;
        }
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

/// Two-sample KS statistic and asymptotic p-value; both slices sorted, without NaN.
pub fn ks_two_sample(a: &[f64], b: &[f64]) -> (f64, f64) {
    let (n, m) = (a.len(), b.len());
    if n == 0 || m == 0 {
        return (0.0, 1.0);
    }
    let (mut i, mut j, mut d) = (0, 0, 0.0f64);
    while i < n && j < m {
        let x = a[i].min(b[j]);
        while i < n && a[i] <= x {
            i += 1;
        }
        while j < m && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / n as f64 - j as f64 / m as f64).abs());
    }
    let en = (n * m) as f64 / (n + m) as f64;
    let lambda = (en.sqrt() + 0.12 + 0.11 / en.sqrt()) * d;
    (d, kolmogorov_sf(lambda))
}

/// [`ks_two_sample`] of a sorted reference `sample` (without NaN) against `values` in any
/// order (NaN skipped), without sorting the values; the p-value takes the reference's size
/// as `reference_rows` (the rows the sample's points are quantiles of; `sample.len()` when
/// the sample is the reference). Between two sample points the sample's
/// CDF is flat while the values' rises, so the largest gap there is at the last value below
/// the next point; counting the values per sample interval finds the same (i, j) pairs the
/// merge in [`ks_two_sample`] maximises over, so the statistic is the same to the bit.
pub fn ks_against_sample(sample: &[f64], values: &[f64], reference_rows: usize) -> (f64, f64) {
    let m = sample.len();
    // below[p]: values strictly between sample[p - 1] and sample[p]; equal[p]: values equal
    // to sample[p] (counted at the first point of a run of equal points).
    let mut below = vec![0usize; m + 1];
    let mut equal = vec![0usize; m];
    let mut n = 0usize;
    for &x in values.iter().filter(|x| !x.is_nan()) {
        let p = sample.partition_point(|&s| s < x);
        if p < m && sample[p] == x {
            equal[p] += 1;
        } else {
            below[p] += 1;
        }
        n += 1;
    }
    if n == 0 || m == 0 {
        return (0.0, 1.0);
    }
    let gap = |i: usize, j: usize| (j as f64 / m as f64 - i as f64 / n as f64).abs();
    let (mut seen, mut d, mut p) = (0usize, 0.0f64, 0usize);
    while p < m {
        if below[p] > 0 {
            seen += below[p];
            d = d.max(gap(seen, p));
        }
        let run = sample[p..].iter().take_while(|&&s| s == sample[p]).count();
        seen += equal[p];
        d = d.max(gap(seen, p + run));
        p += run;
    }
    let r = reference_rows.max(1);
    let en = (r * n) as f64 / (r + n) as f64;
    let lambda = (en.sqrt() + 0.12 + 0.11 / en.sqrt()) * d;
    (d, kolmogorov_sf(lambda))
}

/// Pearson's chi-square test of homogeneity of two samples' counts over the same buckets
/// (buckets empty in both skipped): the statistic and its p-value, (0, 1) when either
/// sample or all but one bucket is empty.
pub fn chi2_homogeneity(a: &[f64], b: &[f64]) -> (f64, f64) {
    let (na, nb): (f64, f64) = (a.iter().sum(), b.iter().sum());
    let total = na + nb;
    let (mut stat, mut buckets) = (0.0, 0usize);
    for (&x, &y) in a.iter().zip(b) {
        let col = x + y;
        if col <= 0.0 {
            continue;
        }
        buckets += 1;
        let (ex, ey) = (na * col / total, nb * col / total);
        if ex > 0.0 {
            stat += (x - ex).powi(2) / ex;
        }
        if ey > 0.0 {
            stat += (y - ey).powi(2) / ey;
        }
    }
    if na <= 0.0 || nb <= 0.0 || buckets < 2 {
        return (0.0, 1.0);
    }
    let p = ChiSquared::new((buckets - 1) as f64).map_or(f64::NAN, |d| d.sf(stat));
    (stat, p)
}

fn level(value: f64, cfg: &DriftConfig) -> (bool, String) {
    let l = if value >= cfg.psi_alert {
        "alert"
    } else if value >= cfg.psi_warn {
        "warn"
    } else {
        "ok"
    };
    (value >= cfg.psi_alert, l.to_string())
}

fn row(
    feature: &str,
    metric: &str,
    value: f64,
    threshold: Option<f64>,
    cfg: &DriftConfig,
) -> DriftRow {
    let (breached, lvl) = match (metric, threshold) {
        ("psi", Some(_)) => level(value, cfg),
        _ => (false, "ok".to_string()),
    };
    // A warning row shows the warning level it crossed.
    let threshold = if lvl == "warn" {
        Some(cfg.psi_warn)
    } else {
        threshold
    };
    DriftRow {
        feature: feature.into(),
        metric: metric.into(),
        value,
        threshold,
        breached,
        level: lvl,
    }
}

/// PSI and KS rows of a numeric column against its profile from `reference_rows` rows.
fn numeric_rows(
    p: &NumericProfile,
    values: &[f64],
    reference_rows: usize,
    cfg: &DriftConfig,
    out: &mut Vec<DriftRow>,
) {
    let missing = values.iter().filter(|v| v.is_nan()).count() as f64 / values.len().max(1) as f64;
    let mut expected: Vec<f64> = p.shares.iter().map(|s| s * (1.0 - p.missing)).collect();
    let mut actual: Vec<f64> = bin_shares(&p.edges, values)
        .iter()
        .map(|s| s * (1.0 - missing))
        .collect();
    expected.push(p.missing);
    actual.push(missing);
    let mut psi = psi_row(&p.name, &expected, &actual, cfg);
    // The reference's present values, of which the sample's points are quantiles (a profile
    // with no row count: the sample itself).
    let present = match reference_rows {
        0 => p.sample.len(),
        r => (r as f64 * (1.0 - p.missing)).round() as usize,
    };
    let (_, pv) = ks_against_sample(&p.sample, values, present.max(p.sample.len()));
    // On a short day the missing share has its own test beside KS (which sees only the
    // values present): a column that went empty is the classic broken feed.
    let n = values.len() as f64;
    let reference = [
        present as f64,
        (present as f64 * p.missing / (1.0 - p.missing).max(1e-12)).round(),
    ];
    let (_, p_missing) = chi2_homogeneity(&reference, &[n * (1.0 - missing), n * missing]);
    judge_few_rows(&mut psi, values.len(), pv.min(p_missing), cfg);
    out.push(psi);
    out.push(row(&p.name, "ks_pvalue", pv, None, cfg));
}

/// How strong the evidence must be for a warning or alert on a day of fewer than
/// `drift.min_rows` rows: the feature's own test (KS, chi-square) at p below this. With
/// some 40 features a day, a false alert is then about one in 25,000 short days, while a
/// shifted or emptied column on 300 rows still alerts (its p is far below).
pub const FEW_ROWS_P: f64 = 1e-6;

/// On a day of `rows` rows, fewer than `drift.min_rows`: a PSI row's warning or alert
/// stands only when the feature's test gives `p` below [`FEW_ROWS_P`]; otherwise its level
/// is [`FEW_ROWS`] (on a handful of rows every share looks shifted).
fn judge_few_rows(psi: &mut DriftRow, rows: usize, p: f64, cfg: &DriftConfig) {
    if rows < cfg.min_rows
        && (psi.level == "warn" || psi.level == "alert")
        && (p.is_nan() || p >= FEW_ROWS_P)
    {
        psi.level = FEW_ROWS.into();
        psi.breached = false;
    }
}

/// [`numeric_rows`] of each job, on as many threads as there are cores; results in job order.
fn numeric_rows_parallel(
    jobs: &[(&NumericProfile, &[f64])],
    reference_rows: usize,
    cfg: &DriftConfig,
) -> Vec<Vec<DriftRow>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len().max(1));
    let mut done: Vec<(usize, Vec<DriftRow>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = vec![];
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some((p, values)) = jobs.get(i) else {
                            return mine;
                        };
                        let mut rows = vec![];
                        numeric_rows(p, values, reference_rows, cfg, &mut rows);
                        mine.push((i, rows));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, rows)| rows).collect()
}

/// The PSI row of a feature, against the alert threshold.
fn psi_row(name: &str, expected: &[f64], actual: &[f64], cfg: &DriftConfig) -> DriftRow {
    row(name, "psi", psi(expected, actual), Some(cfg.psi_alert), cfg)
}

/// Every drift measurement of `data` and its `scores` against `profile`.
pub fn measure(
    profile: &Profile,
    data: &Dataset,
    scores: &[f64],
    cfg: &DriftConfig,
) -> Vec<DriftRow> {
    // The numeric columns (and the scores) each take a pass over up to a million values
    // (bin and KS counts against the profile): spread them over the cores, then keep the
    // rows in profile order.
    let mut jobs: Vec<(&NumericProfile, &[f64])> = profile
        .numeric
        .iter()
        .filter_map(|p| {
            let k = data.numeric_names.iter().position(|n| *n == p.name)?;
            Some((p, data.numeric[k].as_slice()))
        })
        .collect();
    jobs.push((&profile.score, scores));
    let mut per_job = numeric_rows_parallel(&jobs, profile.rows, cfg);
    let score_rows = per_job.pop().unwrap_or_default();
    let mut out: Vec<DriftRow> = per_job.into_iter().flatten().collect();
    for p in &profile.categorical {
        let Some(k) = data.categorical_names.iter().position(|n| *n == p.name) else {
            continue;
        };
        let n = data.len().max(1) as f64;
        // Buckets: each category seen in the reference, "unseen", missing.
        // The bucket of each category code, found once per column (not once per row).
        let unseen = p.shares.len();
        let bucket_of: Vec<usize> = data.categories[k]
            .iter()
            .map(|value| {
                p.shares
                    .iter()
                    .position(|(cat, share)| cat == value && *share > 0.0)
                    .unwrap_or(unseen)
            })
            .collect();
        let mut counts = vec![0usize; p.shares.len() + 2];
        for &c in &data.categorical[k] {
            let b = if c == MISSING_CODE {
                unseen + 1
            } else {
                bucket_of.get(c as usize).copied().unwrap_or(unseen)
            };
            counts[b] += 1;
        }
        let mut expected: Vec<f64> = p.shares.iter().map(|(_, s)| *s).collect();
        expected.push(0.0);
        expected.push(p.missing);
        let actual: Vec<f64> = counts.iter().map(|&c| c as f64 / n).collect();
        let mut psi = psi_row(&p.name, &expected, &actual, cfg);
        // The day's counts against the training split's (its shares times its rows).
        let reference: Vec<f64> = expected
            .iter()
            .map(|e| (e * profile.rows as f64).round())
            .collect();
        let day: Vec<f64> = counts.iter().map(|&c| c as f64).collect();
        let (_, pv) = chi2_homogeneity(&reference, &day);
        judge_few_rows(&mut psi, data.len(), pv, cfg);
        out.push(psi);
        out.push(row(&p.name, "chi2_pvalue", pv, None, cfg));
    }
    out.extend(score_rows);
    let mean = scores.iter().sum::<f64>() / scores.len().max(1) as f64;
    out.push(row(
        "score",
        "mean_shift",
        mean - profile.score.mean,
        None,
        cfg,
    ));
    out
}

/// The level of a PSI that would warn or alert on a day with fewer than `drift.min_rows`,
/// without the evidence of [`FEW_ROWS_P`].
pub const FEW_ROWS: &str = "few_rows";

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() < tol, "{a} != {b}");
    }

    #[test]
    fn kolmogorov_matches_scipy_kstwobign() {
        // scipy.stats.kstwobign.sf
        close(kolmogorov_sf(1.0), 0.26999967167735456, 1e-9);
        close(kolmogorov_sf(0.5), 0.9639452436648751, 1e-9);
        close(kolmogorov_sf(1.5), 0.022217962616525127, 1e-9);
    }

    #[test]
    fn chi_square_matches_scipy() {
        // scipy.stats.chi2.sf
        close(
            ChiSquared::new(3.0).unwrap().sf(7.5),
            0.0575584519726364,
            1e-9,
        );
        close(
            ChiSquared::new(10.0).unwrap().sf(30.0),
            0.000856641210775301,
            1e-9,
        );
    }

    #[test]
    fn ks_statistic_matches_scipy() {
        let a = [0.1, 0.4, 0.7, 1.2, 2.5, 3.3];
        let b = [0.2, 0.5, 0.9, 1.0, 4.0, 5.0, 6.0];
        let (d, p) = ks_two_sample(&a, &b);
        close(d, 0.4285714285714286, 1e-12); // scipy.stats.ks_2samp statistic
        assert!(p > 0.3 && p < 0.8, "{p}");
    }

    /// Counting per sample interval gives the merge's statistic and p-value to the bit, on
    /// data with ties, values equal to sample points, NaN, and values outside the sample.
    #[test]
    fn ks_against_a_sample_equals_the_merge() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for case in 0..400 {
            let m = rng.random_range(1..60);
            let n = rng.random_range(0..300);
            let scale = if case % 2 == 0 { 10.0 } else { 1000.0 };
            let mut draw = |shift: f64| (rng.random::<f64>() * scale).round() / 10.0 + shift;
            let mut sample: Vec<f64> = (0..m).map(|_| draw(0.0)).collect();
            sample.sort_by(f64::total_cmp);
            let shift = [0.0, 0.3, -2.0][case % 3];
            let mut values: Vec<f64> = (0..n).map(|_| draw(shift)).collect();
            values.extend(sample.iter().take(case % 4));
            if case % 5 == 0 {
                values.push(f64::NAN);
            }
            let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
            sorted.sort_by(f64::total_cmp);
            let (d, p) = ks_against_sample(&sample, &values, sample.len());
            let (d0, p0) = ks_two_sample(&sample, &sorted);
            assert_eq!(
                (d.to_bits(), p.to_bits()),
                (d0.to_bits(), p0.to_bits()),
                "case {case}"
            );
        }
    }

    /// The reference's size, not its sample's, sets the KS p-value: the same statistic.
    #[test]
    fn ks_p_value_uses_the_reference_size() {
        let sample: Vec<f64> = (0..100).map(|i| i as f64).collect();
        let values: Vec<f64> = (0..500).map(|i| i as f64 / 5.0 + 3.0).collect();
        let (d, small) = ks_against_sample(&sample, &values, 100);
        let (d2, large) = ks_against_sample(&sample, &values, 10_000);
        assert_eq!(d, d2);
        // scipy: ks_2samp(sample, values).statistic, then kstwobign.sf of Stephens' lambda
        // with en = 100*500/600 and 10000*500/10500.
        close(d, 0.038, 1e-12);
        close(small, 0.9996641156480031, 1e-9);
        close(large, 0.48997277324375477, 1e-9);
    }

    /// scipy.stats.chi2_contingency(table, correction=False), columns empty in both dropped.
    const SCIPY_A: (f64, f64) = (5.207201542588864, 0.15723855792617286);
    const SCIPY_B: (f64, f64) = (38.095238095238095, 6.73743601893275e-10);

    /// scipy.stats.chi2_contingency(table, correction=False) on the same tables.
    #[test]
    fn chi2_homogeneity_matches_scipy() {
        let (stat, p) =
            chi2_homogeneity(&[120.0, 300.0, 80.0, 0.0], &[1300.0, 2900.0, 760.0, 40.0]);
        close(stat, SCIPY_A.0, 1e-9);
        close(p, SCIPY_A.1, 1e-12);
        let (stat, p) = chi2_homogeneity(&[50.0, 50.0, 0.0], &[10.0, 90.0, 0.0]);
        close(stat, SCIPY_B.0, 1e-9);
        close(p, SCIPY_B.1, 1e-15);
        assert_eq!(chi2_homogeneity(&[5.0, 0.0], &[7.0, 0.0]), (0.0, 1.0));
        assert_eq!(chi2_homogeneity(&[0.0, 0.0], &[7.0, 3.0]), (0.0, 1.0));
    }

    /// A warning row names the warning level it crossed; an alert row the alert level.
    #[test]
    fn a_row_shows_the_level_it_crossed() {
        let cfg = crate::config::Config::from_overlay("").unwrap().drift;
        let mid = (cfg.psi_warn + cfg.psi_alert) / 2.0;
        let warn = row("age", "psi", mid, Some(cfg.psi_alert), &cfg);
        assert_eq!(
            (warn.level.as_str(), warn.threshold),
            ("warn", Some(cfg.psi_warn))
        );
        let alert = row("age", "psi", cfg.psi_alert * 2.0, Some(cfg.psi_alert), &cfg);
        assert_eq!(
            (alert.level.as_str(), alert.threshold),
            ("alert", Some(cfg.psi_alert))
        );
    }

    /// On a short day a warning or alert stands only on strong evidence from the feature's
    /// own test; a day of enough rows is judged by PSI alone.
    #[test]
    fn a_short_day_keeps_only_alerts_on_strong_evidence() {
        let cfg = crate::config::Config::from_overlay("").unwrap().drift;
        let alert = || row("age", "psi", cfg.psi_alert * 4.0, Some(cfg.psi_alert), &cfg);
        let judged = |rows: usize, p: f64| {
            let mut r = alert();
            judge_few_rows(&mut r, rows, p, &cfg);
            (r.level, r.breached)
        };
        assert_eq!(judged(cfg.min_rows, 0.5), ("alert".to_string(), true));
        assert_eq!(judged(300, 1e-9), ("alert".to_string(), true));
        assert_eq!(judged(300, 1e-3), (FEW_ROWS.to_string(), false));
        assert_eq!(judged(300, f64::NAN), (FEW_ROWS.to_string(), false));
        // A column that went empty on 300 rows: its values' KS sees nothing, the missing
        // share's test is the evidence.
        let p = NumericProfile {
            name: "age".into(),
            edges: vec![30.0, 50.0],
            shares: vec![0.3, 0.4, 0.3],
            missing: 0.01,
            mean: 40.0,
            std: 12.0,
            sample: (0..1000).map(|i| 18.0 + (i % 60) as f64).collect(),
        };
        let mut out = vec![];
        numeric_rows(&p, &[f64::NAN; 300], 10_000, &cfg, &mut out);
        assert_eq!(out[0].level, "alert", "{out:?}");
    }

    #[test]
    fn psi_by_hand() {
        close(psi(&[0.5, 0.5], &[0.5, 0.5]), 0.0, 1e-12);
        let v = psi(&[0.5, 0.5], &[0.7, 0.3]);
        close(
            v,
            0.2 * (0.7f64 / 0.5).ln() + (-0.2) * (0.3f64 / 0.5).ln(),
            1e-12,
        );
    }
}
