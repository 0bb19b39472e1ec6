//! One fit with early stopping. The `xgb` bindings have no early stopping of their own, so
//! we boost round by round and keep the rounds up to the best one on the held-out matrix
//! (never the training matrix).
//!
//! How the held-out metric is computed each round:
//! - by XGBoost (`XGBoosterEvalOneIter`), in general;
//! - here, for `logloss` when the caller also passes the held-out rows ([`HeldOutRows`]):
//!   XGBoost's per-round evaluation turns every held-out row back into a feature vector to
//!   add one tree (15% of a search's CPU time, profiled), while here each new tree is walked
//!   on the rows directly. No stop can come before round `best + patience`, so the rounds up
//!   to there are boosted first, then their trees are read (one small slice of the model)
//!   and evaluated round by round. The arithmetic is XGBoost's own (f32 margins added tree
//!   by tree, f32 sigmoid and per-row log loss, f64 sums over blocks of 2,048 rows per
//!   thread, the value rounded to the 17 decimals XGBoost prints), so the same rounds and the
//!   same model come out. XGBoost's own value for the last round of every such stretch must
//!   equal ours; if it ever does not, the fit starts over with XGBoost evaluating (and says
//!   so in the log). XGBoost computes that value on 4,096 of the held-out rows spread evenly
//!   (all of them when there are at most 8,192), and ours is taken on the same rows: every
//!   tree is checked, on fewer rows, since checking on all rows doubled the held-out work.

use std::sync::atomic::{AtomicBool, Ordering};

use super::params::FitSettings;
use super::shap::TreeExplainer;
use super::xgb::{Booster, DMatrix};
use crate::error::{ClaimsError, Result};

/// A fitted booster and how it stopped.
pub struct Fitted {
    /// The booster cut to its best round.
    pub booster: Booster,
    /// 0-based index of the best round (the booster has `best_iteration + 1` rounds).
    pub best_iteration: usize,
    /// The metric at the best round.
    pub best_score: f64,
    /// Rounds boosted before stopping.
    pub rounds_run: usize,
    /// When the held-out metric was computed here: the held-out probabilities at the best
    /// round (the same values as the cut booster's prediction).
    pub held_out_probabilities: Option<Vec<f32>>,
}

/// The held-out part as rows: the same values as the held-out matrix, row-major, with its
/// labels, for computing `logloss` here.
#[derive(Clone, Copy)]
pub struct HeldOutRows<'a> {
    /// Row-major features.
    pub x: &'a [f32],
    /// 0/1 labels, one per row.
    pub y: &'a [u8],
}

/// Set once XGBoost and this module disagreed on a held-out value (then XGBoost evaluates).
static DISAGREED: AtomicBool = AtomicBool::new(false);

/// Trains on `train`, early-stopping on `held_out` (whose rows are `rows`, if given);
/// `cancel` is polled between rounds.
pub fn fit(
    train: &DMatrix,
    held_out: &DMatrix,
    rows: Option<HeldOutRows>,
    s: &FitSettings,
    cancel: &dyn Fn() -> bool,
) -> Result<Fitted> {
    fit_lent(train, held_out, rows, s, cancel, &|| s.threads)
}

/// [`fit`], boosting each round with the thread count `lent` gives then (at least
/// `s.threads`): a search lends an idle worker's cores to the fits still running. The result
/// is the same whatever `lent` returns: XGBoost's `hist` builds the same trees with any thread
/// count, and the held-out loss that decides the stop is reduced as `s.threads` threads
/// would. Only when the loss is computed here; XGBoost's own value depends on its thread
/// count, so a fit it evaluates keeps `s.threads`.
pub fn fit_lent(
    train: &DMatrix,
    held_out: &DMatrix,
    rows: Option<HeldOutRows>,
    s: &FitSettings,
    cancel: &dyn Fn() -> bool,
    lent: &dyn Fn() -> usize,
) -> Result<Fitted> {
    if let Some(rows) = rows.filter(|_| s.metric == "logloss" && !DISAGREED.load(Ordering::Relaxed))
    {
        if let Some(f) = fit_evaluating_here(train, held_out, rows, s, cancel, lent)? {
            return Ok(f);
        }
        if !DISAGREED.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "early stopping: the held-out log loss computed here differs from XGBoost's; XGBoost evaluates from now on"
            );
        }
    }
    fit_evaluated_by_xgboost(train, held_out, s, cancel)
}

/// The booster cut to `best + 1` rounds (itself when it has no more).
fn cut(b: Booster, best: usize, rounds_run: usize) -> Result<Booster> {
    if rounds_run > best + 1 {
        b.slice(best + 1)
    } else {
        Ok(b)
    }
}

fn fit_evaluated_by_xgboost(
    train: &DMatrix,
    held_out: &DMatrix,
    s: &FitSettings,
    cancel: &dyn Fn() -> bool,
) -> Result<Fitted> {
    let mut b = Booster::new(&[train, held_out], &s.xgb_params())?;
    let maximize = s.maximize();
    let mut best = (
        0usize,
        if maximize {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        },
    );
    let mut rounds_run = 0;
    for it in 0..s.params.n_estimators {
        if cancel() {
            return Err(cancelled());
        }
        b.update(train, it as i32)?;
        rounds_run = it + 1;
        let score = b.eval(held_out, "valid", it as i32)?;
        let better = if maximize {
            score > best.1
        } else {
            score < best.1
        };
        if better {
            best = (it, score);
        } else if it - best.0 >= s.early_stopping_rounds {
            break;
        }
    }
    Ok(Fitted {
        booster: cut(b, best.0, rounds_run)?,
        best_iteration: best.0,
        best_score: best.1,
        rounds_run,
        held_out_probabilities: None,
    })
}

fn cancelled() -> ClaimsError {
    ClaimsError::Other(anyhow::anyhow!("cancelled"))
}

/// Rows per block in XGBoost's metric reduction.
const METRIC_BLOCK: usize = 2048;

/// Held-out rows XGBoost's own log loss is computed on, to check ours (when there are more
/// than twice as many; else all of them).
const CHECK_ROWS: usize = 4096;

/// XGBoost's `logloss` of probabilities `p` against `y` with `threads` threads, as
/// `XGBoosterEvalOneIter` reports it: per-row losses in f32, summed in f64 per block of
/// 2,048 rows, blocks summed per thread (OpenMP's static schedule: contiguous runs of
/// blocks, the first `blocks % threads` threads one block more), thread sums added in
/// thread order, divided by the row count, printed with 17 decimals.
pub fn xgboost_logloss(p: &[f32], y: &[u8], threads: usize) -> f64 {
    let n = p.len();
    let blocks = n.div_ceil(METRIC_BLOCK);
    let threads = threads.max(1);
    let (q, r) = (blocks / threads, blocks % threads);
    let mut total = 0.0f64;
    let mut block = 0;
    for t in 0..threads {
        let mut thread_sum = 0.0f64;
        for _ in 0..q + usize::from(t < r) {
            let rows = block * METRIC_BLOCK..((block + 1) * METRIC_BLOCK).min(n);
            let mut sum = 0.0f64;
            for i in rows {
                let q = if y[i] == 1 { p[i] } else { 1.0 - p[i] };
                // std::max(q, eps) as C++ has it (a NaN stays NaN).
                let q = if q < 1e-16 { 1e-16 } else { q };
                sum += f64::from(-q.ln());
            }
            thread_sum += sum;
            block += 1;
        }
        total += thread_sum;
    }
    let v = if n == 0 { total } else { total / n as f64 };
    format!("{v:.17}").parse().unwrap_or(v)
}

/// The fit with the held-out log loss computed here; `None` if XGBoost's own value ever
/// differs from it.
fn fit_evaluating_here(
    train: &DMatrix,
    held_out: &DMatrix,
    rows: HeldOutRows,
    s: &FitSettings,
    cancel: &dyn Fn() -> bool,
    lent: &dyn Fn() -> usize,
) -> Result<Option<Fitted>> {
    let n = rows.y.len();
    if n == 0 || !rows.x.len().is_multiple_of(n) {
        return Ok(None);
    }
    let width = rows.x.len() / n;
    // XGBoost checks our value on CHECK_ROWS of the held-out rows, spread evenly, or on all
    // of them when there are few: its check walks every new tree for every row it reads,
    // which on all rows doubled the held-out work (8% of a 100k-row search's CPU time).
    let check_rows: Option<Vec<usize>> =
        (n > 2 * CHECK_ROWS).then(|| (0..CHECK_ROWS).map(|i| i * n / CHECK_ROWS).collect());
    let check_matrix = check_rows
        .as_deref()
        .map(|idx| held_out.slice_rows(idx))
        .transpose()?;
    let checked = check_matrix.as_ref().unwrap_or(held_out);
    let check_y: Vec<u8> = check_rows
        .as_deref()
        .map_or_else(Vec::new, |idx| idx.iter().map(|&i| rows.y[i]).collect());
    let mut b = Booster::new(&[train, checked], &s.xgb_params())?;
    let (total, patience) = (s.params.n_estimators, s.early_stopping_rounds);
    let mut margins: Vec<f32> = vec![];
    let mut probs = vec![0f32; n];
    // The probabilities the served model would give (see `FitSettings::held_out_offset`).
    let offset = s.held_out_offset;
    let mut served = if offset == 0.0 { vec![] } else { vec![0f32; n] };
    let mut best_probs: Vec<f32> = vec![];
    let mut best = (0usize, f64::INFINITY);
    let mut done = 0;
    let mut stopped = false;
    let mut threads = s.threads;
    while done < total && !stopped {
        // No stop can come before round best + patience: boost up to it unseen.
        let end = (best.0 + patience + 1).min(total);
        for it in done..end {
            if cancel() {
                return Err(cancelled());
            }
            let now = lent().max(s.threads);
            if now != threads {
                b.set_param("nthread", &now.to_string())?;
                threads = now;
            }
            b.update(train, it as i32)?;
        }
        let trees = TreeExplainer::from_model_json(&b.slice_range(done, end)?.to_json()?, width)?;
        if trees.len() != end - done {
            return Ok(None);
        }
        if done == 0 {
            let Some(base) = trees.base_margin() else {
                return Ok(None);
            };
            margins = vec![base; n];
        }
        // The held-out log loss of the stretch's last round as XGBoost computes it (no
        // offset), to check against XGBoost's own value.
        let mut last = f64::NAN;
        for t in 0..trees.len() {
            let it = done + t;
            for ((m, pr), x) in margins
                .iter_mut()
                .zip(probs.iter_mut())
                .zip(rows.x.chunks_exact(width))
            {
                *m += trees.leaf(t, x);
                *pr = TreeExplainer::probability(*m);
            }
            let loss = if offset == 0.0 {
                last = xgboost_logloss(&probs, rows.y, s.threads);
                last
            } else {
                for (c, m) in served.iter_mut().zip(&margins) {
                    *c = TreeExplainer::probability(*m + offset);
                }
                xgboost_logloss(&served, rows.y, s.threads)
            };
            if loss < best.1 {
                best = (it, loss);
                best_probs.clone_from(&probs);
            } else if it - best.0 >= patience {
                stopped = true;
                break;
            }
        }
        // XGBoost reduces with the booster's thread count at the time.
        if let Some(idx) = &check_rows {
            let p: Vec<f32> = idx.iter().map(|&i| probs[i]).collect();
            last = xgboost_logloss(&p, &check_y, threads);
        } else if threads != s.threads || offset != 0.0 {
            last = xgboost_logloss(&probs, rows.y, threads);
        }
        if b.eval(checked, "valid", end as i32 - 1)? != last {
            return Ok(None);
        }
        done = end;
    }
    Ok(Some(Fitted {
        booster: cut(b, best.0, done)?,
        best_iteration: best.0,
        best_score: best.1,
        rounds_run: done,
        held_out_probabilities: Some(best_probs),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::params::Hyperparams;
    use crate::model::xgb::FeatureKind;
    use rand::{Rng, SeedableRng};

    fn matrix(rng: &mut impl Rng, n: usize) -> (DMatrix, (Vec<f32>, Vec<u8>)) {
        let names: Vec<String> = (0..5).map(|i| format!("f{i}")).collect();
        let kinds = [
            FeatureKind::Numeric,
            FeatureKind::Numeric,
            FeatureKind::Numeric,
            FeatureKind::Numeric,
            FeatureKind::Categorical,
        ];
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
            let agreed = fit_evaluating_here(&train, &valid, rows, &s, &|| false, &|| 1).unwrap();
            assert!(agreed.is_some(), "{n} rows");
            vx[..4].copy_from_slice(&[50.0, -50.0, 50.0, -50.0]);
            let rows = HeldOutRows { x: &vx, y: &vy };
            let caught = fit_evaluating_here(&train, &valid, rows, &s, &|| false, &|| 1).unwrap();
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
            let moved = fit_lent(&train, &valid, Some(rows), &s, &|| false, &lent).unwrap();
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
        let loss =
            |i: usize| f64::from(-(if y[i] == 1 { p[i] } else { 1.0 - p[i] }).max(1e-16).ln());
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
}
