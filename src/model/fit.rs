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

use std::cell::OnceCell;
use std::sync::atomic::{AtomicBool, Ordering};

use super::params::FitSettings;
use super::shap::TreeExplainer;
use super::xgb::{Booster, DMatrix, FeatureKind};
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

/// The held-out part as XGBoost reads it: a matrix the caller built, or one built here from
/// the held-out rows when XGBoost first needs all of them. A search keeps every fold's
/// held-out rows in each worker, and XGBoost reads only 4,096 of them per fit to check the
/// log loss computed here (a small matrix built for that fit); the whole matrix is built only
/// for small folds or after a disagreement, so it is not held for every fold all search long.
pub enum HeldOut<'a> {
    /// A matrix of the held-out rows.
    Matrix(&'a DMatrix),
    /// Built from the [`HeldOutRows`] passed with it, when needed.
    Rows {
        /// Feature names.
        names: &'a [String],
        /// Feature kinds.
        kinds: &'a [FeatureKind],
        /// The matrix once built.
        built: OnceCell<DMatrix>,
    },
}

impl<'a> HeldOut<'a> {
    /// Held-out rows whose matrix is built when needed.
    pub fn rows(names: &'a [String], kinds: &'a [FeatureKind]) -> Self {
        HeldOut::Rows {
            names,
            kinds,
            built: OnceCell::new(),
        }
    }

    /// The matrix of all held-out rows.
    pub fn matrix(&self, rows: Option<HeldOutRows>) -> Result<&DMatrix> {
        match self {
            HeldOut::Matrix(m) => Ok(m),
            HeldOut::Rows { built, .. } => {
                if let Some(m) = built.get() {
                    return Ok(m);
                }
                let rows = rows.ok_or_else(|| {
                    ClaimsError::Xgboost("held-out rows are needed to build their matrix".into())
                })?;
                let all: Vec<usize> = (0..rows.y.len()).collect();
                let m = self.subset(rows, &all)?;
                Ok(built.get_or_init(|| m))
            }
        }
    }

    /// A matrix of the held-out rows at `idx`.
    fn subset(&self, rows: HeldOutRows, idx: &[usize]) -> Result<DMatrix> {
        match self {
            HeldOut::Matrix(m) => m.slice_rows(idx),
            HeldOut::Rows { names, kinds, .. } => {
                let (x, y) = gather(rows.x, rows.y, names.len(), idx);
                let mut m = DMatrix::from_dense(&x, idx.len(), names, kinds)?;
                m.set_labels(&y)?;
                Ok(m)
            }
        }
    }
}

/// The rows `rows` of the row-major `x` (`width` values a row) and their labels.
pub fn gather(x: &[f32], y: &[u8], width: usize, rows: &[usize]) -> (Vec<f32>, Vec<f32>) {
    let mut xs = Vec::with_capacity(rows.len() * width);
    let mut ys = Vec::with_capacity(rows.len());
    for &i in rows {
        xs.extend_from_slice(&x[i * width..(i + 1) * width]);
        ys.push(f32::from(y[i]));
    }
    (xs, ys)
}

/// Builds a labelled training matrix (quantised: see [`DMatrix::quantised_from_dense`]) from
/// the rows `rows` of `x`, with `threads` threads.
pub fn matrix(
    x: &[f32],
    y: &[u8],
    names: &[String],
    kinds: &[FeatureKind],
    rows: &[usize],
    threads: usize,
) -> Result<DMatrix> {
    let (xs, ys) = gather(x, y, names.len(), rows);
    DMatrix::quantised_from_dense(&xs, rows.len(), names, kinds, &ys, threads)
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
    fit_lent(train, &HeldOut::Matrix(held_out), rows, s, cancel, &|| {
        s.threads
    })
}

/// [`fit`], boosting each round with the thread count `lent` gives then (at least
/// `s.threads`): a search lends an idle worker's cores to the fits still running. The result
/// is the same whatever `lent` returns: XGBoost's `hist` builds the same trees with any thread
/// count, and the held-out loss that decides the stop is reduced as `s.threads` threads
/// would. Only when the loss is computed here; XGBoost's own value depends on its thread
/// count, so a fit it evaluates keeps `s.threads`.
pub fn fit_lent(
    train: &DMatrix,
    held_out: &HeldOut,
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
    fit_evaluated_by_xgboost(train, held_out.matrix(rows)?, s, cancel)
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
    held_out: &HeldOut,
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
        .map(|idx| held_out.subset(rows, idx))
        .transpose()?;
    let checked = match &check_matrix {
        Some(m) => m,
        None => held_out.matrix(Some(rows))?,
    };
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
#[path = "fit_tests.rs"]
mod tests;
