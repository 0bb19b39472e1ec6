//! Random search with stratified k-fold cross-validation on the training split. The unit of
//! work is one fit: a (candidate, fold) pair. Each worker thread builds every fold's matrices
//! once and reuses them for all the fits it takes from a shared queue; each fit early-stops
//! on its fold's held-out part.
//!
//! Strategies ([`SearchStrategy`]): `full` runs every candidate on every fold (one rung);
//! `halving` (successive halving over folds) runs rung r = fold r for the candidates that
//! survived rung r - 1 and, after every rung but the last, keeps the best `ceil(n / factor)`
//! (never fewer than `min(2, n)`) by mean held-out ROC AUC over the folds run so far, ties to
//! the earlier draw. With a sample ([`SearchData::sample`], for large data), a first rung
//! runs every candidate on that stratified share of fold 1's fit rows, evaluated on fold 1's
//! whole held-out part, and keeps the best `ceil(n / factor)` by that AUC for the fold rungs
//! (successive halving over rows, then folds). The chosen candidate is the best of those
//! that ran all folds, so the final choice always rests on full k-fold CV.
//!
//! Candidates are drawn up front from the seed and survivors are picked from complete rungs
//! (by the folds of the rungs so far), so results do not depend on thread timing or on the
//! number of workers. A worker with nothing left in a rung starts a next-rung fit of a
//! candidate that survives whatever the rung's unfinished fits give (fewer than `keep`
//! candidates can still rank above it), else lends its cores to the fits still running.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::fit::{HeldOut, HeldOutRows, fit_lent, gather, matrix};
use super::params::{FitSettings, Hyperparams};
pub use super::schedule::{Progress, Rung, SearchSummary, plan, planned_fits};
use super::xgb::{DMatrix, FeatureKind};
pub use crate::config::SearchStrategy;
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
    /// Under halving: a share of fold 1's fit rows for a first, sampled rung (indices into
    /// `x`/`y`); `None`: no sampled rung.
    pub sample: Option<&'a [usize]>,
}

/// A candidate's fit in the sampled rung.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SampleFit {
    /// Held-out ROC AUC (fold 1's held-out part).
    pub auc: f64,
    /// 0-based best round.
    pub best_iteration: usize,
}

/// One evaluated candidate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Candidate {
    /// Draw order.
    pub index: usize,
    /// The hyperparameters.
    pub params: Hyperparams,
    /// Folds this candidate ran (all of them, unless successive halving dropped it early;
    /// it then ran folds `0..folds_run`).
    pub folds_run: usize,
    /// Held-out ROC AUC per fold run, in fold order.
    pub fold_auc: Vec<f64>,
    /// Mean of `fold_auc` (the ranking score; comparable across candidates only at equal
    /// `folds_run`).
    pub mean_auc: f64,
    /// Standard deviation of `fold_auc`.
    pub std_auc: f64,
    /// Mean best round over the folds run.
    pub mean_best_iteration: f64,
    /// Its fit in the sampled first rung, if the search had one (a candidate dropped there
    /// ran no fold: `folds_run` 0, `mean_auc` NaN).
    #[serde(default)]
    pub sample: Option<SampleFit>,
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

/// (held-out AUC, best iteration) of one fit.
type FoldResult = (f64, usize);

/// The summary of one candidate from its fold results (a prefix of the folds, or all).
fn summarize(
    index: usize,
    params: &Hyperparams,
    res: &[Option<FoldResult>],
    sample: Option<FoldResult>,
) -> Candidate {
    let done: Vec<FoldResult> = res.iter().flatten().copied().collect();
    let aucs: Vec<f64> = done.iter().map(|r| r.0).collect();
    let n = aucs.len().max(1) as f64;
    let mean = aucs.iter().sum::<f64>() / n;
    let var = aucs.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n;
    let mut iters = 0.0;
    for r in &done {
        iters += r.1 as f64;
    }
    Candidate {
        index,
        params: params.clone(),
        folds_run: aucs.len(),
        mean_auc: if aucs.is_empty() { f64::NAN } else { mean },
        std_auc: var.sqrt(),
        fold_auc: aucs,
        mean_best_iteration: iters / n,
        sample: sample.map(|(auc, best_iteration)| SampleFit {
            auc,
            best_iteration,
        }),
    }
}

/// Ranking score: mean AUC, NaN last.
fn score(mean_auc: f64) -> f64 {
    if mean_auc.is_nan() {
        f64::NEG_INFINITY
    } else {
        mean_auc
    }
}

struct State {
    /// Current rung.
    rung: usize,
    /// Candidates in the current rung, in draw order.
    alive: Vec<usize>,
    /// (candidate, fold) fits of the current rung.
    units: Vec<(usize, usize)>,
    /// Whether the current rung fits on the sample.
    sample_rung: bool,
    /// Next unit to hand out.
    next: usize,
    /// Units of the current rung not finished yet.
    pending: usize,
    /// Next-rung units started before the current rung finished (certain survivors).
    ahead: Vec<(usize, usize)>,
    /// How many of `ahead` have finished.
    ahead_done: usize,
    /// Fits finished in all.
    fits_done: usize,
    /// Per candidate, per fold.
    results: Vec<Vec<Option<FoldResult>>>,
    /// Per candidate: its fit in the sampled rung.
    sampled: Vec<Option<FoldResult>>,
    /// Set when the schedule is through or a worker failed.
    done: bool,
    /// Early stopping's patience, in rounds (for the cost estimate).
    patience: f64,
    error: Option<ClaimsError>,
}

impl State {
    /// Before the first rung: `n` candidates, `k` folds.
    fn new(n: usize, k: usize, patience: f64) -> State {
        State {
            rung: 0,
            alive: (0..n).collect(),
            units: vec![],
            sample_rung: false,
            next: 0,
            pending: 0,
            ahead: vec![],
            ahead_done: 0,
            fits_done: 0,
            results: vec![vec![None; k]; n],
            sampled: vec![None; n],
            done: true,
            error: None,
            patience,
        }
    }

    /// Queues the rung's fits, the expensive ones first, so that the workers finish the rung
    /// together instead of one waiting at its end for a long fit taken last (the order
    /// changes when a fit runs, never its result).
    fn start_rung(&mut self, rung: &Rung, candidates: &[Hyperparams]) {
        let mut units: Vec<(f64, (usize, usize))> = self
            .alive
            .iter()
            .flat_map(|&c| rung.folds.clone().map(move |f| (c, f)))
            .filter(|u| !self.ahead.contains(u))
            .map(|(c, f)| (self.cost(c, candidates), (c, f)))
            .collect();
        units.sort_by(|a, b| b.0.total_cmp(&a.0));
        self.units = units.into_iter().map(|(_, u)| u).collect();
        self.sample_rung = rung.sample;
        self.next = 0;
        // Units started ahead and still running finish as this rung's.
        self.pending = self.units.len() + self.ahead.len() - self.ahead_done;
        self.done = self.units.is_empty() && self.ahead.is_empty();
        self.ahead.clear();
        self.ahead_done = 0;
    }

    /// The current rung's ranking score of candidate `c`: its sampled fit's AUC in the
    /// sampled rung, else its mean AUC over the folds of the rungs so far (not a next-rung
    /// fold it ran ahead).
    fn rank_score(&self, c: usize, plan: &[Rung], candidates: &[Hyperparams]) -> f64 {
        let auc = if self.sample_rung {
            self.sampled[c].map_or(f64::NAN, |r| r.0)
        } else {
            let upto = plan[self.rung].folds.end;
            summarize(c, &candidates[c], &self.results[c][..upto], None).mean_auc
        };
        score(auc)
    }

    /// A next-rung unit to start now, before the current rung ends: one of a candidate that
    /// survives whatever its unfinished fits give, because fewer than the next rung's
    /// `candidates` can still rank above it (the finished ones ahead of it, ties to the
    /// earlier draw, and every unfinished one).
    fn take_ahead(&mut self, plan: &[Rung], candidates: &[Hyperparams]) -> Option<(usize, usize)> {
        let next = plan.get(self.rung + 1)?;
        if self.pending == 0 || plan[self.rung].folds.len() != 1 && !self.sample_rung {
            return None;
        }
        let finished = |c: usize| {
            if self.sample_rung {
                self.sampled[c].is_some()
            } else {
                plan[self.rung]
                    .folds
                    .clone()
                    .all(|f| self.results[c][f].is_some())
            }
        };
        let unfinished = self.alive.iter().filter(|&&c| !finished(c)).count();
        let mut ranked: Vec<(f64, usize)> = self
            .alive
            .iter()
            .filter(|&&c| finished(c))
            .map(|&c| (self.rank_score(c, plan, candidates), c))
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let certain = next.candidates.saturating_sub(unfinished);
        let unit = ranked
            .iter()
            .take(certain)
            .flat_map(|&(_, c)| next.folds.clone().map(move |f| (c, f)))
            .find(|u| !self.ahead.contains(u))?;
        self.ahead.push(unit);
        Some(unit)
    }

    /// Expected cost of one more fit of candidate `c`: its rounds (the mean best round of
    /// the folds it ran, else of its sampled fit, plus early stopping's patience; else
    /// `n_estimators`) times its depth.
    fn cost(&self, c: usize, candidates: &[Hyperparams]) -> f64 {
        let p = &candidates[c];
        let mut done: Vec<f64> = self.results[c]
            .iter()
            .flatten()
            .map(|r| r.1 as f64)
            .collect();
        if done.is_empty() {
            done.extend(self.sampled[c].map(|r| r.1 as f64));
        }
        let rounds = if done.is_empty() {
            p.n_estimators as f64
        } else {
            (done.iter().sum::<f64>() / done.len() as f64 + self.patience)
                .min(p.n_estimators as f64)
        };
        rounds * p.max_depth.max(1) as f64
    }

    fn fail(&mut self, e: ClaimsError) {
        self.error.get_or_insert(e);
        self.done = true;
    }
}

struct Shared<'p> {
    state: Mutex<State>,
    wake: Condvar,
    plan: &'p [Rung],
    /// Threads the search may use: workers x threads per fit.
    budget: usize,
    /// Workers not waiting for work (building matrices or fitting).
    active: AtomicUsize,
}

impl Shared<'_> {
    /// Threads for a running fit: the budget shared by the workers not waiting, so at a
    /// rung's end the workers that have nothing left lend their cores to the fits still
    /// going (never more threads than cores in use: OpenMP stalls when oversubscribed).
    fn lent(&self) -> usize {
        self.budget / self.active.load(Ordering::Relaxed).max(1)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Counts a worker out of [`Shared::active`] when it ends.
struct Leaving<'a>(&'a AtomicUsize);

impl Drop for Leaving<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Stops the other workers when a worker panics, so none waits for a rung that cannot end.
struct StopOnPanic<'a, 'p>(&'a Shared<'p>);

impl Drop for StopOnPanic<'_, '_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.lock().fail(ClaimsError::Other(anyhow::anyhow!(
                "search worker panicked"
            )));
            self.0.wake.notify_all();
        }
    }
}

/// Evaluates the candidates over `data.folds` with `workers` threads, following
/// `strategy`'s schedule ([`plan`]); `base` holds the non-search settings (threads, seed,
/// metric, weighting). `on_fit` is called after every fit. Results are in draw order; under
/// halving, eliminated candidates keep the folds they ran (`folds_run` < folds).
pub fn run(
    data: &SearchData,
    candidates: &[Hyperparams],
    base: &FitSettings,
    strategy: SearchStrategy,
    workers: usize,
    on_fit: &(dyn Fn(&Progress) + Sync),
    cancel: &(dyn Fn() -> bool + Sync),
) -> Result<Vec<Candidate>> {
    let k = data.folds.len();
    let n = candidates.len();
    let plan = plan(n, k, strategy, data.sample.is_some());
    let fits_total = planned_fits(&plan);
    let mut state = State::new(n, k, base.early_stopping_rounds as f64);
    if let Some(first) = plan.first() {
        state.start_rung(first, candidates);
    }
    let widest = plan
        .iter()
        .map(|r| r.candidates * r.folds.len())
        .max()
        .unwrap_or(0);
    let budget = workers.max(1) * base.threads.max(1);
    let workers = workers.clamp(1, widest.max(1));
    let shared = Shared {
        state: Mutex::new(state),
        wake: Condvar::new(),
        plan: &plan,
        budget,
        active: AtomicUsize::new(workers),
    };
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| worker(&shared, data, candidates, base, fits_total, on_fit, cancel));
        }
    });
    let state = shared
        .state
        .into_inner()
        .map_err(|_| ClaimsError::Other(anyhow::anyhow!("search worker panicked")))?;
    if let Some(e) = state.error {
        return Err(e);
    }
    Ok(state
        .results
        .iter()
        .enumerate()
        .map(|(i, r)| summarize(i, &candidates[i], r, state.sampled[i]))
        .collect())
}

/// One fold as a worker holds it: the fit matrix, the held-out part (its matrix built only
/// when needed), and the held-out rows and labels.
type FoldMatrices<'a> = (DMatrix, HeldOut<'a>, Vec<f32>, Vec<u8>);

fn worker(
    shared: &Shared,
    data: &SearchData,
    candidates: &[Hyperparams],
    base: &FitSettings,
    fits_total: usize,
    on_fit: &(dyn Fn(&Progress) + Sync),
    cancel: &(dyn Fn() -> bool + Sync),
) {
    let _stop = StopOnPanic(shared);
    let _leaving = Leaving(&shared.active);
    let build = || -> Result<Vec<FoldMatrices>> {
        let mut mats = vec![];
        for (fit_rows, held) in data.folds {
            let t = matrix(
                data.x,
                data.y,
                data.names,
                data.kinds,
                fit_rows,
                base.threads,
            )?;
            let hx = gather(data.x, data.y, data.names.len(), held).0;
            let hy: Vec<u8> = held.iter().map(|&i| data.y[i]).collect();
            mats.push((t, HeldOut::rows(data.names, data.kinds), hx, hy));
        }
        Ok(mats)
    };
    // The sampled rung's fit rows, if the plan has one (held out: fold 1's held-out part).
    let build_sample = || -> Result<Option<DMatrix>> {
        match (data.sample, shared.plan.first()) {
            (Some(rows), Some(r)) if r.sample => Ok(Some(matrix(
                data.x,
                data.y,
                data.names,
                data.kinds,
                rows,
                base.threads,
            )?)),
            _ => Ok(None),
        }
    };
    let mats = match build().and_then(|m| Ok((m, build_sample()?))) {
        Ok(m) => m,
        Err(e) => {
            shared.lock().fail(e);
            shared.wake.notify_all();
            return;
        }
    };
    loop {
        let (c, f, sample, rung) = {
            let mut st = shared.lock();
            loop {
                if st.done {
                    return;
                }
                if st.next < st.units.len() {
                    st.next += 1;
                    let (c, f) = st.units[st.next - 1];
                    break (c, f, st.sample_rung, st.rung);
                }
                if let Some((c, f)) = st.take_ahead(shared.plan, candidates) {
                    break (c, f, false, st.rung + 1);
                }
                shared.active.fetch_sub(1, Ordering::Relaxed);
                st = shared.wake.wait(st).unwrap_or_else(PoisonError::into_inner);
                shared.active.fetch_add(1, Ordering::Relaxed);
            }
        };
        let one = || -> Result<FoldResult> {
            let settings = FitSettings {
                params: candidates[c].clone(),
                ..base.clone()
            };
            let (t, h, hx, hy) = &mats.0[f];
            let t = match &mats.1 {
                Some(s) if sample => s,
                _ => t,
            };
            let rows = HeldOutRows { x: hx, y: hy };
            let fitted = fit_lent(t, h, Some(rows), &settings, cancel, &|| shared.lent())?;
            let p: Vec<f64> = match fitted.held_out_probabilities {
                Some(p) => p.into_iter().map(f64::from).collect(),
                None => fitted
                    .booster
                    .predict(h.matrix(Some(rows))?)?
                    .into_iter()
                    .map(f64::from)
                    .collect(),
            };
            Ok((roc_auc(hy, &p), fitted.best_iteration))
        };
        let out = one();
        let mut st = shared.lock();
        if st.done {
            return;
        }
        let r = match out {
            Ok(r) => r,
            Err(e) => {
                st.fail(e);
                shared.wake.notify_all();
                return;
            }
        };
        if sample {
            st.sampled[c] = Some(r);
        } else {
            st.results[c][f] = Some(r);
        }
        st.fits_done += 1;
        // A unit started ahead counts for its rung only once that rung has started.
        let current = rung == st.rung;
        if current {
            st.pending -= 1;
        } else {
            st.ahead_done += 1;
        }
        let completed = (!sample && st.results[c].iter().all(Option::is_some))
            .then(|| summarize(c, &candidates[c], &st.results[c], st.sampled[c]));
        on_fit(&Progress {
            fits_done: st.fits_done,
            fits_total,
            rung,
            rungs: shared.plan.len(),
            rung_candidates: shared.plan[rung].candidates,
            candidate: c,
            fold: f,
            sample,
            auc: r.0,
            completed: completed.as_ref(),
        });
        if current && st.pending == 0 {
            advance(&mut st, shared.plan, candidates);
        }
        // A new rung, or (with this result) a candidate now certain to survive.
        shared.wake.notify_all();
    }
}

/// After a finished rung: keep the best of its candidates for the next rung (by the sampled
/// fit's AUC after the sampled rung, else by mean AUC over the folds run), or end.
fn advance(st: &mut State, plan: &[Rung], candidates: &[Hyperparams]) {
    let Some(next) = plan.get(st.rung + 1) else {
        st.done = true;
        return;
    };
    let mut ranked: Vec<(f64, usize)> = st
        .alive
        .iter()
        .map(|&c| (st.rank_score(c, plan, candidates), c))
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut keep: Vec<usize> = ranked
        .into_iter()
        .take(next.candidates)
        .map(|(_, c)| c)
        .collect();
    keep.sort_unstable();
    st.alive = keep;
    st.rung += 1;
    st.start_rung(next, candidates);
    // Every unit of the new rung finished ahead: it is complete too.
    if st.pending == 0 && !st.done {
        advance(st, plan, candidates);
    }
}

/// The chosen candidate: the highest mean AUC among the candidates that ran all `folds`
/// folds (under halving the others were dropped after fewer), ties to the earlier draw.
pub fn best(c: &[Candidate], folds: usize) -> Option<&Candidate> {
    c.iter()
        .filter(|x| x.folds_run == folds)
        .fold(None, |acc: Option<&Candidate>, x| match acc {
            Some(a) if score(a.mean_auc) >= score(x.mean_auc) => Some(a),
            _ => Some(x),
        })
}

#[cfg(test)]
#[path = "search_tests.rs"]
mod tests;
