//! Random search with stratified k-fold cross-validation on the training split. Each worker
//! thread builds every fold's matrices once and reuses them for all the candidates it takes
//! from a shared queue; each fit early-stops on its fold's held-out part. Candidates are
//! drawn up front from the seed, so results do not depend on thread timing.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::fit::fit;
use super::params::{FitSettings, Hyperparams};
use super::xgb::{DMatrix, FeatureKind};
use crate::error::{ClaimsError, Result};
use crate::eval::metrics::roc_auc;

/// The training rows as the search sees them.
pub struct SearchData<'a> {
    /// Row-major features of the training split.
    pub x: &'a [f32],
    /// Labels of the training split.
    pub y: &'a [u8],
    /// Feature names.
    pub names: &'a [String],
    /// Feature kinds.
    pub kinds: &'a [FeatureKind],
    /// For each fold: (rows to fit on, held-out rows), indices into `x`/`y`.
    pub folds: &'a [(Vec<usize>, Vec<usize>)],
}

/// One evaluated candidate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Candidate {
    /// Draw order.
    pub index: usize,
    /// The hyperparameters.
    pub params: Hyperparams,
    /// Held-out ROC AUC per fold.
    pub fold_auc: Vec<f64>,
    /// Mean of `fold_auc` (the ranking score).
    pub mean_auc: f64,
    /// Standard deviation of `fold_auc`.
    pub std_auc: f64,
    /// Mean best round over folds.
    pub mean_best_iteration: f64,
}

fn gather(x: &[f32], y: &[u8], width: usize, rows: &[usize]) -> (Vec<f32>, Vec<f32>) {
    let mut xs = Vec::with_capacity(rows.len() * width);
    let mut ys = Vec::with_capacity(rows.len());
    for &i in rows {
        xs.extend_from_slice(&x[i * width..(i + 1) * width]);
        ys.push(f32::from(y[i]));
    }
    (xs, ys)
}

/// Builds a labelled matrix from the rows `rows` of `x`.
pub fn matrix(
    x: &[f32],
    y: &[u8],
    names: &[String],
    kinds: &[FeatureKind],
    rows: &[usize],
) -> Result<DMatrix> {
    let (xs, ys) = gather(x, y, names.len(), rows);
    let mut m = DMatrix::from_dense(&xs, rows.len(), names, kinds)?;
    m.set_labels(&ys)?;
    Ok(m)
}

/// Draws `n` candidates from the space.
pub fn draw_candidates(
    space: &crate::config::SearchSpace,
    n: usize,
    seed: u64,
) -> Vec<Hyperparams> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5ea7_c400);
    (0..n)
        .map(|_| Hyperparams::sample(space, &mut rng))
        .collect()
}

/// Evaluates every candidate on every fold with `workers` threads; `base` holds the
/// non-search settings (threads, seed, metric, weighting). Results are in draw order.
pub fn run(
    data: &SearchData,
    candidates: &[Hyperparams],
    base: &FitSettings,
    workers: usize,
    on_done: &(dyn Fn(usize, &Candidate) + Sync),
    cancel: &(dyn Fn() -> bool + Sync),
) -> Result<Vec<Candidate>> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Candidate>>> = Mutex::new(vec![None; candidates.len()]);
    let first_error: Mutex<Option<ClaimsError>> = Mutex::new(None);
    let workers = workers.clamp(1, candidates.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let work = || -> Result<()> {
                    let mut mats = vec![];
                    for (fit_rows, held) in data.folds {
                        let t = matrix(data.x, data.y, data.names, data.kinds, fit_rows)?;
                        let h = matrix(data.x, data.y, data.names, data.kinds, held)?;
                        let hy: Vec<u8> = held.iter().map(|&i| data.y[i]).collect();
                        mats.push((t, h, hy));
                    }
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= candidates.len() || first_error.lock().map_or(true, |e| e.is_some())
                        {
                            return Ok(());
                        }
                        let settings = FitSettings {
                            params: candidates[i].clone(),
                            ..base.clone()
                        };
                        let mut aucs = vec![];
                        let mut iters = 0.0;
                        for (t, h, hy) in &mats {
                            let f = fit(t, h, &settings, cancel)?;
                            let p = f.booster.predict(h)?;
                            let p: Vec<f64> = p.iter().map(|&v| f64::from(v)).collect();
                            aucs.push(roc_auc(hy, &p));
                            iters += f.best_iteration as f64;
                        }
                        let mean = aucs.iter().sum::<f64>() / aucs.len() as f64;
                        let var = aucs.iter().map(|a| (a - mean).powi(2)).sum::<f64>()
                            / aucs.len() as f64;
                        let c = Candidate {
                            index: i,
                            params: candidates[i].clone(),
                            mean_auc: mean,
                            std_auc: var.sqrt(),
                            fold_auc: aucs,
                            mean_best_iteration: iters / mats.len() as f64,
                        };
                        let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                        on_done(n, &c);
                        if let Ok(mut r) = results.lock() {
                            r[i] = Some(c);
                        }
                    }
                };
                if let (Err(e), Ok(mut slot)) = (work(), first_error.lock()) {
                    slot.get_or_insert(e);
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e);
    }
    let r = results
        .into_inner()
        .map_err(|_| ClaimsError::Other(anyhow::anyhow!("search worker panicked")))?;
    r.into_iter()
        .map(|c| {
            c.ok_or_else(|| {
                ClaimsError::Other(anyhow::anyhow!(
                    "search ended with candidates not evaluated"
                ))
            })
        })
        .collect()
}

/// The best candidate: highest mean AUC, ties to the earlier draw.
pub fn best(c: &[Candidate]) -> Option<&Candidate> {
    c.iter().fold(None, |acc: Option<&Candidate>, x| match acc {
        Some(a) if a.mean_auc >= x.mean_auc => Some(a),
        _ => Some(x),
    })
}
