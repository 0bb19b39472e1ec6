//! Seeded, stratified splits: train/validation/test, k folds, and undersampling of the
//! majority class (applied to training rows only).

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

fn by_class(labels: &[u8], rows: &[usize], rng: &mut ChaCha8Rng) -> [Vec<usize>; 2] {
    let mut out = [vec![], vec![]];
    for &i in rows {
        out[usize::from(labels[i] == 1)].push(i);
    }
    out[0].shuffle(rng);
    out[1].shuffle(rng);
    out
}

/// How the train/validation/test rows are drawn, as a model's manifest records it:
/// - 1 (models registered before 2026-11-29): both classes shuffled from one seeded stream,
///   the non-claims first. The shuffle keeps most rows of a file that grew where they were,
///   but the claims' order depended on how many non-claims came first: in a grown file the
///   claims were drawn anew, so a challenger's test split kept few of the claims its
///   champion had not trained on, and the rows a comparison kept held about half the test
///   split's claim rate (8.0% against 15.4%).
/// - 2: each class from a stream of its own (the non-claims' as in 1), so both keep their
///   places alike.
pub const SPLIT_VERSION: u32 = 2;

/// Salt of the claims' own stream (split version 2).
const CLAIMS_STREAM: u64 = 0x00c1_a135_5eed;

/// Row indices of the train, validation and test splits, each with the full data's class
/// balance (to within one row per class), drawn as [`SPLIT_VERSION`] draws them.
pub fn train_val_test(
    labels: &[u8],
    validation: f64,
    test: f64,
    seed: u64,
) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    train_val_test_as(labels, validation, test, seed, SPLIT_VERSION)
}

/// [`train_val_test`] as split version `version` draws them (a model's own, to rebuild its
/// splits).
pub fn train_val_test_as(
    labels: &[u8],
    validation: f64,
    test: f64,
    seed: u64,
    version: u32,
) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let all: Vec<usize> = (0..labels.len()).collect();
    let classes = if version >= 2 {
        let mut out = [vec![], vec![]];
        for &i in &all {
            out[usize::from(labels[i] == 1)].push(i);
        }
        out[0].shuffle(&mut rng);
        out[1].shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ CLAIMS_STREAM));
        out
    } else {
        by_class(labels, &all, &mut rng)
    };
    let (mut tr, mut va, mut te) = (vec![], vec![], vec![]);
    for class in classes {
        let n = class.len();
        let n_test = (n as f64 * test).round() as usize;
        let n_val = (n as f64 * validation).round() as usize;
        te.extend_from_slice(&class[..n_test]);
        va.extend_from_slice(&class[n_test..n_test + n_val]);
        tr.extend_from_slice(&class[n_test + n_val..]);
    }
    tr.sort_unstable();
    va.sort_unstable();
    te.sort_unstable();
    (tr, va, te)
}

/// Stratified k folds over `rows`: for each fold, (training part, held-out part).
pub fn k_folds(
    labels: &[u8],
    rows: &[usize],
    k: usize,
    seed: u64,
) -> Vec<(Vec<usize>, Vec<usize>)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_f01d);
    let mut fold_of = vec![0usize; labels.len()];
    for class in by_class(labels, rows, &mut rng) {
        for (j, &i) in class.iter().enumerate() {
            fold_of[i] = j % k;
        }
    }
    (0..k)
        .map(|f| {
            let (mut fit, mut held) = (vec![], vec![]);
            for &i in rows {
                if fold_of[i] == f {
                    held.push(i)
                } else {
                    fit.push(i)
                }
            }
            (fit, held)
        })
        .collect()
}

/// Keeps every minority row and a random `ratio` x as many majority rows (all of them if
/// there are fewer).
pub fn undersample(labels: &[u8], rows: &[usize], ratio: f64, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0dd5_a3b1);
    let [neg, pos] = by_class(labels, rows, &mut rng);
    let (minority, majority) = if pos.len() <= neg.len() {
        (pos, neg)
    } else {
        (neg, pos)
    };
    let keep = ((minority.len() as f64 * ratio).round() as usize).min(majority.len());
    let mut out: Vec<usize> = minority
        .into_iter()
        .chain(majority.into_iter().take(keep))
        .collect();
    out.sort_unstable();
    out
}

/// [`undersample`] for the training split, with the note its stage records: the ratio
/// applied (which differs from `ratio` when the split holds fewer majority rows than asked
/// for, and then no row is dropped). A ratio that keeps no majority row is refused (exit 2):
/// the model would see a single class.
pub fn undersample_noted(
    labels: &[u8],
    rows: &[usize],
    ratio: f64,
    seed: u64,
) -> crate::error::Result<(Vec<usize>, String)> {
    let kept = undersample(labels, rows, ratio, seed);
    let count = |r: &[usize]| r.iter().filter(|&&i| labels[i] == 1).count();
    let (pos, kept_pos) = (count(rows), count(&kept));
    let minority = pos.min(rows.len() - pos);
    let majority_kept = kept.len() - minority;
    if majority_kept == 0 || kept_pos == 0 || kept_pos == kept.len() {
        return Err(crate::error::ClaimsError::Usage(format!(
            "undersampling at majority:minority = {ratio}:1 keeps no majority row ({minority} minority rows in the training split): use a ratio of at least {:.3} (--imbalance undersample:R or imbalance.undersample_ratio)",
            1.0 / minority.max(1) as f64
        )));
    }
    let applied = majority_kept as f64 / minority as f64;
    let note = if kept.len() == rows.len() {
        format!(
            "kept all {} training rows: majority:minority is {applied:.2}:1, not above the {ratio}:1 asked (no row dropped)",
            rows.len()
        )
    } else {
        format!(
            "undersampled training split to {} rows (majority:minority = {applied:.2}:1, asked {ratio}:1)",
            kept.len()
        )
    };
    Ok((kept, note))
}

/// A stratified random `1/factor` of `rows` (each class keeps `ceil(len / factor)` of its
/// rows), in row order.
pub fn stratified_share(labels: &[u8], rows: &[usize], factor: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5a3b_1e5d);
    let mut out: Vec<usize> = by_class(labels, rows, &mut rng)
        .into_iter()
        .flat_map(|class| {
            let keep = class.len().div_ceil(factor.max(1));
            class.into_iter().take(keep)
        })
        .collect();
    out.sort_unstable();
    out
}

/// [`train_val_test`], refusing fractions (config keys `split.validation`, `split.test`)
/// that leave the validation or test split without both classes (empty, or too small to
/// hold a claim): early stopping and the test metrics need both. The error names the key,
/// the rows and the claims the split got.
pub fn checked_splits(
    labels: &[u8],
    validation: f64,
    test: f64,
    seed: u64,
) -> crate::error::Result<(Vec<usize>, Vec<usize>, Vec<usize>)> {
    let (tr, va, te) = train_val_test(labels, validation, test, seed);
    for (key, fraction, rows) in [
        ("split.validation", validation, &va),
        ("split.test", test, &te),
    ] {
        let claims = rows.iter().filter(|&&i| labels[i] == 1).count();
        if claims == 0 || claims == rows.len() {
            return Err(crate::error::ClaimsError::Config(format!(
                "key '{key}' = '{fraction}': leaves {} rows with {claims} claims of {} in the data: the split needs both classes (raise {key})",
                rows.len(),
                labels.iter().filter(|&&v| v == 1).count()
            )));
        }
    }
    Ok((tr, va, te))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: usize, pos_every: usize) -> Vec<u8> {
        (0..n).map(|i| u8::from(i % pos_every == 0)).collect()
    }

    #[test]
    fn split_is_stratified_disjoint_and_seeded() {
        let y = labels(1000, 6); // 167 positives
        let (tr, va, te) = train_val_test(&y, 0.15, 0.15, 7);
        assert_eq!(tr.len() + va.len() + te.len(), 1000);
        let mut all: Vec<usize> = tr.iter().chain(&va).chain(&te).copied().collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 1000);
        let rate = |s: &[usize]| s.iter().filter(|&&i| y[i] == 1).count() as f64 / s.len() as f64;
        for s in [&tr, &va, &te] {
            assert!((rate(s) - 0.167).abs() < 0.01, "{}", rate(s));
        }
        assert_eq!(train_val_test(&y, 0.15, 0.15, 7), (tr.clone(), va, te));
        assert_ne!(train_val_test(&y, 0.15, 0.15, 8).0, tr);
    }

    /// A file that grew (the month appended to the history): split version 2 keeps about
    /// as many of the old test rows in the test split in both classes, so the rows a
    /// comparison keeps have the test split's claim rate; version 1 drew the claims anew.
    #[test]
    fn a_grown_file_keeps_both_classes_test_rows_alike() {
        let old = labels(3000, 6);
        let mut grown = old.clone();
        grown.extend(labels(700, 6));
        let kept = |version: u32, class: u8| {
            let before = train_val_test_as(&old, 0.15, 0.15, 42, version).2;
            let after = train_val_test_as(&grown, 0.15, 0.15, 42, version).2;
            let before: Vec<usize> = before.into_iter().filter(|&i| old[i] == class).collect();
            let kept = before
                .iter()
                .filter(|i| after.binary_search(i).is_ok())
                .count();
            kept as f64 / before.len() as f64
        };
        let (neg, pos) = (kept(2, 0), kept(2, 1));
        assert!(
            neg > 0.6 && pos > 0.6 && (neg - pos).abs() < 0.1,
            "{neg} {pos}"
        );
        // Version 1 (kept for older models' manifests): the claims' test rows were drawn anew.
        assert_eq!(kept(1, 0), neg);
        assert!(kept(1, 1) < 0.3, "{}", kept(1, 1));
        // The non-claims are drawn as version 1 drew them.
        let (a, b) = (labels(1000, 6), 11);
        let neg_rows = |v: u32| {
            let te = train_val_test_as(&a, 0.15, 0.15, b, v).2;
            te.into_iter().filter(|&i| a[i] == 0).collect::<Vec<_>>()
        };
        assert_eq!(neg_rows(1), neg_rows(2));
    }

    #[test]
    fn folds_cover_each_row_once() {
        let y = labels(500, 5);
        let rows: Vec<usize> = (0..500).filter(|i| i % 7 != 0).collect();
        let folds = k_folds(&y, &rows, 5, 1);
        let mut held: Vec<usize> = folds.iter().flat_map(|f| f.1.clone()).collect();
        held.sort_unstable();
        assert_eq!(held, rows);
        for (fit, h) in &folds {
            assert_eq!(fit.len() + h.len(), rows.len());
            let pos = h.iter().filter(|&&i| y[i] == 1).count();
            assert!((pos as f64 / h.len() as f64 - 0.2).abs() < 0.03);
        }
    }

    #[test]
    fn undersample_keeps_minority_and_ratio() {
        let y = labels(1000, 10); // 100 positives
        let rows: Vec<usize> = (0..1000).collect();
        let kept = undersample(&y, &rows, 3.0, 1);
        assert_eq!(kept.iter().filter(|&&i| y[i] == 1).count(), 100);
        assert_eq!(kept.iter().filter(|&&i| y[i] == 0).count(), 300);
    }

    #[test]
    fn stratified_share_keeps_each_class_share() {
        let y = labels(9_000, 6);
        let rows: Vec<usize> = (0..9_000).filter(|i| i % 5 != 0).collect();
        let a = stratified_share(&y, &rows, 3, 7);
        let pos = |r: &[usize]| r.iter().filter(|&&i| y[i] == 1).count();
        assert_eq!(pos(&a), pos(&rows).div_ceil(3));
        assert_eq!(a.len() - pos(&a), (rows.len() - pos(&rows)).div_ceil(3));
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert!(a.iter().all(|i| rows.contains(i)));
        assert_eq!(a, stratified_share(&y, &rows, 3, 7));
        assert_ne!(a, stratified_share(&y, &rows, 3, 8));
    }

    /// A test or validation split without both classes is refused, naming the key.
    #[test]
    fn one_class_splits_are_refused() {
        let labels: Vec<u8> = (0..4000).map(|i| u8::from(i % 6 == 0)).collect();
        for (validation, test, key) in [
            (0.15, 0.0003, "split.test"),
            (0.0001, 0.15, "split.validation"),
        ] {
            let e = checked_splits(&labels, validation, test, 1)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!("key '{key}'")) && e.contains(&format!("(raise {key})")),
                "{e}"
            );
        }
        let (tr, va, te) = checked_splits(&labels, 0.15, 0.15, 1).unwrap();
        assert_eq!((tr, va, te), train_val_test(&labels, 0.15, 0.15, 1));
    }

    /// The undersampling note gives the ratio applied; a ratio that keeps no majority row
    /// is refused.
    #[test]
    fn undersampling_notes_the_ratio_applied() {
        let labels: Vec<u8> = (0..600).map(|i| u8::from(i % 6 == 0)).collect();
        let rows: Vec<usize> = (0..600).collect();
        let (kept, note) = undersample_noted(&labels, &rows, 2.0, 1).unwrap();
        assert_eq!(kept.len(), 300);
        assert!(
            note.contains("300 rows (majority:minority = 2.00:1, asked 2:1)"),
            "{note}"
        );
        let (kept, note) = undersample_noted(&labels, &rows, 1000.0, 1).unwrap();
        assert_eq!(kept.len(), 600);
        assert!(
            note.contains("is 5.00:1, not above the 1000:1 asked (no row dropped)"),
            "{note}"
        );
        let e = undersample_noted(&labels, &rows, 1e-9, 1)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("keeps no majority row (100 minority rows"),
            "{e}"
        );
    }
}
