use super::*;
use crate::model::params::Hyperparams;
use crate::model::xgb::FeatureKind;
use rand::{Rng, SeedableRng};

/// The test matrices' columns: four numbers and a category.
fn columns() -> (Vec<String>, [FeatureKind; 5]) {
    let names: Vec<String> = (0..5).map(|i| format!("f{i}")).collect();
    let kinds = [
        FeatureKind::Numeric,
        FeatureKind::Numeric,
        FeatureKind::Numeric,
        FeatureKind::Numeric,
        FeatureKind::Categorical,
    ];
    (names, kinds)
}

fn matrix(rng: &mut impl Rng, n: usize) -> (DMatrix, (Vec<f32>, Vec<u8>)) {
    let (names, kinds) = columns();
    let mut x = vec![0f32; n * 5];
    let mut y = vec![0f32; n];
    for i in 0..n {
        for j in 0..4 {
            x[i * 5 + j] = if rng.random_bool(0.05) {
                f32::NAN
            } else {
                rng.random_range(-2.0..2.0)
            };
        }
        x[i * 5 + 4] = rng.random_range(0..5) as f32;
        let z = x[i * 5] * x[i * 5 + 1] + x[i * 5 + 2] + x[i * 5 + 4] * 0.2;
        y[i] = f32::from(z + rng.random_range(-1.0..1.0) > 0.4);
    }
    let mut m = DMatrix::from_dense(&x, n, &names, &kinds).unwrap();
    m.set_labels(&y).unwrap();
    let labels = y.iter().map(|&v| v as u8).collect();
    (m, (x, labels))
}

/// Log-loss settings with colsample 0.8, min_child_weight 1 and seed 5.
fn settings(
    rounds: usize,
    eta: f64,
    subsample: f64,
    depth: usize,
    threads: usize,
    patience: usize,
) -> FitSettings {
    FitSettings {
        params: Hyperparams {
            n_estimators: rounds,
            learning_rate: eta,
            subsample,
            max_depth: depth,
            colsample_bytree: 0.8,
            min_child_weight: 1.0,
        },
        scale_pos_weight: None,
        threads,
        seed: 5,
        metric: "logloss".into(),
        early_stopping_rounds: patience,
        held_out_offset: 0.0,
    }
}

/// With an offset (undersampling's log-odds, taken back out of the served scores),
/// early stopping keeps the round whose held-out log loss of the served scores is
/// lowest, found here against each round's XGBoost prediction shifted by the offset; the
/// check against XGBoost's own (offset-free) value still holds along the way.
#[test]
fn early_stopping_watches_the_served_scores() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let (train, _) = matrix(&mut rng, 4_000);
    let (valid, (vx, vy)) = matrix(&mut rng, 3_000);
    let rounds = 120;
    let rows = HeldOutRows { x: &vx, y: &vy };
    let plain_settings = settings(rounds, 0.3, 0.8, 4, 1, 8);
    let plain = fit(&train, &valid, Some(rows), &plain_settings, &|| false).unwrap();
    let offset = -1.2f32;
    let s = FitSettings {
        held_out_offset: offset,
        ..plain_settings.clone()
    };
    let f = fit(&train, &valid, Some(rows), &s, &|| false).unwrap();
    assert!(f.held_out_probabilities.is_some(), "not evaluated here");
    // Every round's served log loss, from XGBoost's own predictions of the same
    // boosting (same parameters, seed and thread).
    let mut b = Booster::new(&[&train, &valid], &s.xgb_params()).unwrap();
    let mut served_loss = vec![];
    for it in 0..f.rounds_run {
        b.update(&train, it as i32).unwrap();
        let p = b.predict(&valid).unwrap();
        let loss = p
            .iter()
            .zip(&vy)
            .map(|(&p, &y)| {
                let m = (f64::from(p) / (1.0 - f64::from(p))).ln() + f64::from(offset);
                let q = 1.0 / (1.0 + (-m).exp());
                -(if y == 1 { q.ln() } else { (1.0 - q).ln() })
            })
            .sum::<f64>()
            / vy.len() as f64;
        served_loss.push(loss);
    }
    let min = served_loss.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(
        served_loss[f.best_iteration] <= min + 1e-6,
        "kept round {} at {}, the lowest is {min}",
        f.best_iteration,
        served_loss[f.best_iteration]
    );
    assert!(
        (f.best_score - min).abs() < 1e-4,
        "{} vs {min}",
        f.best_score
    );
    // The offset moves the round kept (else this test would not tell the two apart).
    assert_ne!(f.best_iteration, plain.best_iteration);
    assert!(!DISAGREED.load(Ordering::Relaxed));
}

/// Early stopping evaluated here gives XGBoost's rounds, scores and model exactly (and
/// really is evaluated here: a disagreement would leave `held_out_probabilities` empty).
#[test]
fn held_out_log_loss_computed_here_matches_xgboost() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let (train, _) = matrix(&mut rng, 6_000);
    // 4,500 held-out rows are all checked; of 10,000, XGBoost checks 4,096.
    let (small, large) = (matrix(&mut rng, 4_500), matrix(&mut rng, 10_000));
    for (depth, eta, rounds, subsample, threads, patience, (valid, (vx, vy))) in [
        (1, 0.3, 80, 1.0, 1, 5, &small),
        (3, 0.05, 120, 0.7, 1, 10, &small),
        (6, 0.5, 200, 0.8, 1, 3, &small),
        (4, 0.2, 60, 0.6, 2, 8, &small),
        (3, 0.1, 150, 0.7, 1, 6, &large),
        (6, 0.3, 100, 0.8, 2, 4, &large),
    ] {
        let s = settings(rounds, eta, subsample, depth, threads, patience);
        let rows = HeldOutRows { x: vx, y: vy };
        let here = fit(&train, valid, Some(rows), &s, &|| false).unwrap();
        let theirs = fit(&train, valid, None, &s, &|| false).unwrap();
        let what = format!(
            "depth {depth}, eta {eta}, {threads} thread(s), {} rows",
            vy.len()
        );
        let p = here.held_out_probabilities.clone().expect(&what);
        assert!(theirs.held_out_probabilities.is_none());
        assert_eq!(here.best_iteration, theirs.best_iteration, "{what}");
        assert_eq!(here.best_score, theirs.best_score, "{what}");
        assert_eq!(here.rounds_run, theirs.rounds_run, "{what}");
        let predicted = theirs.booster.predict(valid).unwrap();
        assert_eq!(here.booster.predict(valid).unwrap(), predicted, "{what}");
        assert_eq!(p, predicted, "{what}");
    }
    // Some of these stop early and one runs to the end.
    assert!(!DISAGREED.load(Ordering::Relaxed));
}

/// The check catches a held-out value computed here that XGBoost does not get: one
/// checked row whose features differ from the matrix's makes the fit give up (`None`;
/// `fit` then starts over with XGBoost evaluating), with all rows checked and with 4,096
/// of 10,000 (row 0 is always among them).
#[test]
fn a_disagreement_on_a_checked_row_is_caught() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let (train, _) = matrix(&mut rng, 5_000);
    for n in [3_000, 10_000] {
        let (valid, (mut vx, vy)) = matrix(&mut rng, n);
        let s = settings(40, 0.3, 1.0, 4, 1, 5);
        let rows = HeldOutRows { x: &vx, y: &vy };
        let agreed =
            fit_evaluating_here(&train, &HeldOut::Matrix(&valid), rows, &s, &|| false, &|| 1)
                .unwrap();
        assert!(agreed.is_some(), "{n} rows");
        vx[..4].copy_from_slice(&[50.0, -50.0, 50.0, -50.0]);
        let rows = HeldOutRows { x: &vx, y: &vy };
        let caught =
            fit_evaluating_here(&train, &HeldOut::Matrix(&valid), rows, &s, &|| false, &|| 1)
                .unwrap();
        assert!(caught.is_none(), "{n} rows");
    }
}

/// Threads lent mid-fit (here: changing every few rounds) change nothing in the result,
/// and XGBoost's check value (reduced with the threads of the moment) still agrees.
#[test]
fn lent_threads_change_nothing() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let (train, _) = matrix(&mut rng, 8_000);
    let (valid, (vx, vy)) = matrix(&mut rng, 9_000);
    for (depth, eta, subsample, patience) in [(4, 0.2, 0.7, 6), (6, 0.05, 1.0, 10)] {
        let s = settings(150, eta, subsample, depth, 1, patience);
        let rows = HeldOutRows { x: &vx, y: &vy };
        let calls = std::cell::Cell::new(0usize);
        let lent = || {
            calls.set(calls.get() + 1);
            1 + (calls.get() / 3) % 2
        };
        let moved = fit_lent(
            &train,
            &HeldOut::Matrix(&valid),
            Some(rows),
            &s,
            &|| false,
            &lent,
        )
        .unwrap();
        let fixed = fit(&train, &valid, Some(rows), &s, &|| false).unwrap();
        assert!(calls.get() > 20);
        assert!(moved.held_out_probabilities.is_some(), "evaluated here");
        assert_eq!(moved.best_iteration, fixed.best_iteration);
        assert_eq!(moved.best_score, fixed.best_score);
        assert_eq!(moved.rounds_run, fixed.rounds_run);
        assert_eq!(moved.held_out_probabilities, fixed.held_out_probabilities);
        assert_eq!(
            moved.booster.predict(&valid).unwrap(),
            fixed.booster.predict(&valid).unwrap()
        );
    }
    assert!(!DISAGREED.load(Ordering::Relaxed));
}

/// The rows XGBoost checks on are a matrix sliced from the held-out one: it keeps the
/// labels and the categorical features, so XGBoost's log loss on it is the held-out
/// predictions' on those rows.
#[test]
fn sliced_rows_keep_labels_and_categories() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let (train, _) = matrix(&mut rng, 5_000);
    let (valid, (_, vy)) = matrix(&mut rng, 3_000);
    let mut b = Booster::new(&[&train], &settings(30, 0.3, 1.0, 4, 1, 5).xgb_params()).unwrap();
    for it in 0..30 {
        b.update(&train, it).unwrap();
    }
    let p = b.predict(&valid).unwrap();
    let idx: Vec<usize> = (0..700).map(|i| i * 3_000 / 700).collect();
    let part = valid.slice_rows(&idx).unwrap();
    assert_eq!(part.rows(), 700);
    let (pp, py): (Vec<f32>, Vec<u8>) = idx.iter().map(|&i| (p[i], vy[i])).unzip();
    assert_eq!(b.predict(&part).unwrap(), pp);
    assert_eq!(
        b.eval(&part, "valid", 29).unwrap(),
        xgboost_logloss(&pp, &py, 1)
    );
    // The categorical feature splits the same way on the slice (else it would be read as
    // a number there): the model has categorical splits to tell.
    let json = String::from_utf8(b.to_json().unwrap()).unwrap();
    let plain_trees = json.matches("\"categories_nodes\":[]").count();
    assert_eq!(json.matches("\"categories_nodes\":[").count(), 30);
    assert!(plain_trees < 30, "no tree splits on the category");
    assert!(valid.slice_rows(&[3_000]).is_err());
}

#[test]
fn log_loss_reduction_follows_blocks_and_threads() {
    let n = 5 * METRIC_BLOCK + 17;
    let p: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.5 + 1e-4)
        .collect();
    let y: Vec<u8> = (0..n).map(|i| u8::from(i % 3 == 0)).collect();
    let loss = |i: usize| f64::from(-(if y[i] == 1 { p[i] } else { 1.0 - p[i] }).max(1e-16).ln());
    let block = |b: usize| {
        (b * METRIC_BLOCK..((b + 1) * METRIC_BLOCK).min(n))
            .map(loss)
            .fold(0.0, |a, v| a + v)
    };
    let round = |v: f64| format!("{v:.17}").parse::<f64>().unwrap();
    // 6 blocks; one thread sums them in order; two threads take blocks 0-2 and 3-5.
    let one = (0..6).fold(0.0, |a, b| a + block(b));
    assert_eq!(xgboost_logloss(&p, &y, 1), round(one / n as f64));
    let t0 = (0..3).fold(0.0, |a, b| a + block(b));
    let t1 = (3..6).fold(0.0, |a, b| a + block(b));
    assert_eq!(
        xgboost_logloss(&p, &y, 2),
        round((0.0 + t0 + t1) / n as f64)
    );
    // Certain mistakes are certain losses.
    assert!(xgboost_logloss(&[0.0, 1.0], &[1, 0], 1) > 36.0);
}

/// The refit uses every core while the search fits use one thread each: this holds only
/// because XGBoost's `hist` builds the same trees whatever its thread count.
#[test]
fn thread_count_does_not_change_the_model() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let (train, valid) = (matrix(&mut rng, 20_000).0, matrix(&mut rng, 4_000).0);
    let fitted = |threads: usize| {
        let s = settings(60, 0.1, 0.7, 6, threads, 10);
        let f = fit(&train, &valid, None, &s, &|| false).unwrap();
        (f.best_iteration, f.booster.predict(&valid).unwrap())
    };
    assert_eq!(fitted(1), fitted(2));
}

/// Held-out rows whose matrix is built only when XGBoost needs it give the same fit as a
/// matrix built beforehand: on a fold of at most 8,192 rows (XGBoost checks all of them)
/// and on a larger one (4,096 of them), and the matrix built on demand holds the same rows.
#[test]
fn held_out_rows_built_on_demand_fit_the_same() {
    let (names, kinds) = columns();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(23);
    let (train, _) = matrix(&mut rng, 5_000);
    for n in [3_000, 9_000] {
        let (valid, (vx, vy)) = matrix(&mut rng, n);
        let rows = HeldOutRows { x: &vx, y: &vy };
        let s = settings(80, 0.2, 0.8, 4, 1, 6);
        let given = fit(&train, &valid, Some(rows), &s, &|| false).unwrap();
        let held = HeldOut::rows(&names, &kinds);
        let built = fit_lent(&train, &held, Some(rows), &s, &|| false, &|| 1).unwrap();
        assert!(built.held_out_probabilities.is_some(), "evaluated here");
        assert_eq!(built.best_iteration, given.best_iteration, "{n} rows");
        assert_eq!(built.held_out_probabilities, given.held_out_probabilities);
        let m = held.matrix(Some(rows)).unwrap();
        assert_eq!(m.rows(), n);
        assert_eq!(
            built.booster.predict(m).unwrap(),
            given.booster.predict(&valid).unwrap()
        );
        assert_eq!(
            given.booster.eval(m, "valid", 0).unwrap(),
            given.booster.eval(&valid, "valid", 0).unwrap(),
            "the same labels"
        );
    }
    assert!(HeldOut::rows(&names, &kinds).matrix(None).is_err());
}
