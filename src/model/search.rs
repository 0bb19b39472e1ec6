//! Random search with stratified k-fold cross-validation on the training split. The unit of
//! work is one fit: a (candidate, fold) pair. Each worker thread builds every fold's matrices
//! once and reuses them for all the fits it takes from a shared queue; each fit early-stops
//! on its fold's held-out part.
//!
//! Strategies ([`SearchStrategy`]): `full` runs every candidate on every fold (one rung);
//! `halving` (successive halving over folds) runs rung r = fold r for the candidates that
//! survived rung r - 1 and, after every rung but the last, keeps the best `ceil(n / factor)`
//! (never fewer than `min(2, n)`) by mean held-out ROC AUC over the folds run so far, ties to
//! the earlier draw. The chosen candidate is the best of those that ran all folds, so the
//! final choice always rests on full k-fold CV.
//!
//! Candidates are drawn up front from the seed, a rung starts only when the previous one has
//! finished, and survivors are picked from complete rungs, so results do not depend on thread
//! timing or on the number of workers.

use std::ops::Range;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::fit::fit;
use super::params::{FitSettings, Hyperparams};
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
}

/// One rung of the schedule: these folds for this many candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rung {
    /// The folds every surviving candidate runs in this rung.
    pub folds: Range<usize>,
    /// Candidates in this rung.
    pub candidates: usize,
}

/// The schedule of `n` candidates over `folds` folds: one rung of every fold for `full`;
/// one rung per fold for `halving`, each keeping `ceil(n / factor)` but at least `min(2, n)`
/// of the previous rung's candidates.
pub fn plan(n: usize, folds: usize, strategy: SearchStrategy) -> Vec<Rung> {
    match strategy {
        SearchStrategy::Full => vec![Rung {
            folds: 0..folds,
            candidates: n,
        }],
        SearchStrategy::Halving { factor } => {
            let factor = factor.max(2);
            let mut alive = n;
            let mut out = Vec::with_capacity(folds);
            for r in 0..folds {
                out.push(Rung {
                    folds: r..r + 1,
                    candidates: alive,
                });
                alive = alive.div_ceil(factor).max(alive.min(2));
            }
            out
        }
    }
}

/// Fits a schedule runs.
pub fn planned_fits(plan: &[Rung]) -> usize {
    plan.iter().map(|r| r.candidates * r.folds.len()).sum()
}

/// Progress after one fit.
#[derive(Debug)]
pub struct Progress<'a> {
    /// Fits finished so far (this one included).
    pub fits_done: usize,
    /// Fits the schedule runs in all.
    pub fits_total: usize,
    /// 0-based rung of this fit.
    pub rung: usize,
    /// Rungs in the schedule.
    pub rungs: usize,
    /// Candidates in this rung.
    pub rung_candidates: usize,
    /// Draw index of the candidate.
    pub candidate: usize,
    /// 0-based fold of this fit.
    pub fold: usize,
    /// Held-out ROC AUC of this fit.
    pub auc: f64,
    /// The candidate's summary, when this fit completed all of its folds.
    pub completed: Option<&'a Candidate>,
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

/// (held-out AUC, best iteration) of one fit.
type FoldResult = (f64, usize);

/// The summary of one candidate from its fold results (a prefix of the folds, or all).
fn summarize(index: usize, params: &Hyperparams, res: &[Option<FoldResult>]) -> Candidate {
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
    /// Next unit to hand out.
    next: usize,
    /// Units of the current rung not finished yet.
    pending: usize,
    /// Fits finished in all.
    fits_done: usize,
    /// Per candidate, per fold.
    results: Vec<Vec<Option<FoldResult>>>,
    /// Set when the schedule is through or a worker failed.
    done: bool,
    /// Early stopping's patience, in rounds (for the cost estimate).
    patience: f64,
    error: Option<ClaimsError>,
}

impl State {
    /// Queues the rung's fits, the expensive ones first, so that the workers finish the rung
    /// together instead of one waiting at its end for a long fit taken last (the order
    /// changes when a fit runs, never its result).
    fn start_rung(&mut self, rung: &Rung, candidates: &[Hyperparams]) {
        let mut units: Vec<(f64, (usize, usize))> = self
            .alive
            .iter()
            .flat_map(|&c| rung.folds.clone().map(move |f| (c, f)))
            .map(|(c, f)| (self.cost(c, candidates), (c, f)))
            .collect();
        units.sort_by(|a, b| b.0.total_cmp(&a.0));
        self.units = units.into_iter().map(|(_, u)| u).collect();
        self.next = 0;
        self.pending = self.units.len();
        self.done = self.units.is_empty();
    }

    /// Expected cost of one more fit of candidate `c`: its rounds (the mean best round of
    /// the folds it ran, plus early stopping's patience; else `n_estimators`) times its
    /// depth.
    fn cost(&self, c: usize, candidates: &[Hyperparams]) -> f64 {
        let p = &candidates[c];
        let done: Vec<f64> = self.results[c]
            .iter()
            .flatten()
            .map(|r| r.1 as f64)
            .collect();
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
}

impl Shared<'_> {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
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
    let plan = plan(n, k, strategy);
    let fits_total = planned_fits(&plan);
    let mut state = State {
        rung: 0,
        alive: (0..n).collect(),
        units: vec![],
        next: 0,
        pending: 0,
        fits_done: 0,
        results: vec![vec![None; k]; n],
        done: true,
        error: None,
        patience: base.early_stopping_rounds as f64,
    };
    if let Some(first) = plan.first() {
        state.start_rung(first, candidates);
    }
    let widest = plan
        .iter()
        .map(|r| r.candidates * r.folds.len())
        .max()
        .unwrap_or(0);
    let workers = workers.clamp(1, widest.max(1));
    let shared = Shared {
        state: Mutex::new(state),
        wake: Condvar::new(),
        plan: &plan,
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
        .map(|(i, r)| summarize(i, &candidates[i], r))
        .collect())
}

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
    let build = || -> Result<Vec<(DMatrix, DMatrix, Vec<u8>)>> {
        let mut mats = vec![];
        for (fit_rows, held) in data.folds {
            let t = matrix(data.x, data.y, data.names, data.kinds, fit_rows)?;
            let h = matrix(data.x, data.y, data.names, data.kinds, held)?;
            let hy: Vec<u8> = held.iter().map(|&i| data.y[i]).collect();
            mats.push((t, h, hy));
        }
        Ok(mats)
    };
    let mats = match build() {
        Ok(m) => m,
        Err(e) => {
            shared.lock().fail(e);
            shared.wake.notify_all();
            return;
        }
    };
    loop {
        let (c, f) = {
            let mut st = shared.lock();
            loop {
                if st.done {
                    return;
                }
                if st.next < st.units.len() {
                    st.next += 1;
                    break st.units[st.next - 1];
                }
                st = shared.wake.wait(st).unwrap_or_else(PoisonError::into_inner);
            }
        };
        let one = || -> Result<FoldResult> {
            let settings = FitSettings {
                params: candidates[c].clone(),
                ..base.clone()
            };
            let (t, h, hy) = &mats[f];
            let fitted = fit(t, h, &settings, cancel)?;
            let p: Vec<f64> = fitted
                .booster
                .predict(h)?
                .iter()
                .map(|&v| f64::from(v))
                .collect();
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
        st.results[c][f] = Some(r);
        st.fits_done += 1;
        st.pending -= 1;
        let completed = st.results[c]
            .iter()
            .all(Option::is_some)
            .then(|| summarize(c, &candidates[c], &st.results[c]));
        on_fit(&Progress {
            fits_done: st.fits_done,
            fits_total,
            rung: st.rung,
            rungs: shared.plan.len(),
            rung_candidates: st.alive.len(),
            candidate: c,
            fold: f,
            auc: r.0,
            completed: completed.as_ref(),
        });
        if st.pending == 0 {
            advance(&mut st, shared.plan, candidates);
            shared.wake.notify_all();
        }
    }
}

/// After a finished rung: keep the best of its candidates for the next rung, or end.
fn advance(st: &mut State, plan: &[Rung], candidates: &[Hyperparams]) {
    let Some(next) = plan.get(st.rung + 1) else {
        st.done = true;
        return;
    };
    let mut ranked: Vec<(f64, usize)> = st
        .alive
        .iter()
        .map(|&c| {
            (
                score(summarize(c, &candidates[c], &st.results[c]).mean_auc),
                c,
            )
        })
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
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use rand::Rng;

    use super::*;
    use crate::config::Config;
    use crate::data::split::k_folds;

    fn survivors(n: usize, folds: usize, strategy: SearchStrategy) -> Vec<usize> {
        plan(n, folds, strategy)
            .iter()
            .map(|r| r.candidates)
            .collect()
    }

    #[test]
    fn halving_schedule_arithmetic() {
        let h = |factor| SearchStrategy::Halving { factor };
        assert_eq!(survivors(100, 5, h(3)), [100, 34, 12, 4, 2]);
        assert_eq!(planned_fits(&plan(100, 5, h(3))), 152);
        assert_eq!(survivors(30, 3, h(3)), [30, 10, 4]);
        assert_eq!(planned_fits(&plan(30, 3, h(3))), 44);
        assert_eq!(survivors(40, 5, h(2)), [40, 20, 10, 5, 3]);
        // Never fewer than 2 (or all, when fewer were drawn) before the last fold.
        assert_eq!(survivors(10, 4, h(100)), [10, 2, 2, 2]);
        assert_eq!(survivors(1, 3, h(3)), [1, 1, 1]);
        assert_eq!(survivors(2, 3, h(3)), [2, 2, 2]);
        let full = plan(100, 5, SearchStrategy::Full);
        assert_eq!(
            full,
            [Rung {
                folds: 0..5,
                candidates: 100
            }]
        );
        assert_eq!(planned_fits(&full), 500);
        for r in plan(7, 3, h(3)).iter().enumerate() {
            assert_eq!(r.1.folds, r.0..r.0 + 1);
        }
    }

    /// A small learnable problem: 600 rows, 5 numeric features (2 noise), ~25% positives.
    struct Problem {
        x: Vec<f32>,
        y: Vec<u8>,
        names: Vec<String>,
        kinds: Vec<FeatureKind>,
        folds: Vec<(Vec<usize>, Vec<usize>)>,
    }

    fn problem(k: usize) -> Problem {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let (rows, width) = (600, 5);
        let mut x = Vec::with_capacity(rows * width);
        let mut y = Vec::with_capacity(rows);
        for _ in 0..rows {
            let v: Vec<f32> = (0..width).map(|_| rng.random_range(-2.0..2.0)).collect();
            let logit = 1.5 * v[0] - v[1] + 0.5 * v[2] * v[0] - 1.2 + rng.random_range(-1.5..1.5);
            y.push(u8::from(logit > 0.0));
            x.extend(v);
        }
        let all: Vec<usize> = (0..rows).collect();
        let folds = k_folds(&y, &all, k, 3);
        Problem {
            x,
            y,
            names: (0..width).map(|i| format!("f{i}")).collect(),
            kinds: vec![FeatureKind::Numeric; width],
            folds,
        }
    }

    fn data(p: &Problem) -> SearchData<'_> {
        SearchData {
            x: &p.x,
            y: &p.y,
            names: &p.names,
            kinds: &p.kinds,
            folds: &p.folds,
        }
    }

    fn draws(n: usize) -> Vec<Hyperparams> {
        let c =
            Config::from_overlay("[search.space]\nn_estimators = { min = 5, max = 40 }").unwrap();
        draw_candidates(&c.search.space, n, 9)
    }

    fn base() -> FitSettings {
        FitSettings {
            params: draws(1).remove(0),
            scale_pos_weight: None,
            threads: 1,
            seed: 4,
            metric: "logloss".into(),
            early_stopping_rounds: 5,
        }
    }

    fn search(p: &Problem, n: usize, s: SearchStrategy, workers: usize) -> Vec<Candidate> {
        run(&data(p), &draws(n), &base(), s, workers, &|_| {}, &|| false).unwrap()
    }

    fn same(a: &[Candidate], b: &[Candidate]) -> bool {
        serde_json::to_string(a).unwrap() == serde_json::to_string(b).unwrap()
    }

    /// The search as it was before rungs: each candidate on every fold, in order.
    fn reference(p: &Problem, n: usize) -> Vec<Candidate> {
        let d = data(p);
        let mats: Vec<_> = p
            .folds
            .iter()
            .map(|(t, h)| {
                (
                    matrix(d.x, d.y, d.names, d.kinds, t).unwrap(),
                    matrix(d.x, d.y, d.names, d.kinds, h).unwrap(),
                    h.iter().map(|&i| p.y[i]).collect::<Vec<u8>>(),
                )
            })
            .collect();
        draws(n)
            .into_iter()
            .enumerate()
            .map(|(i, params)| {
                let s = FitSettings {
                    params: params.clone(),
                    ..base()
                };
                let mut aucs = vec![];
                let mut iters = 0.0;
                for (t, h, hy) in &mats {
                    let f = fit(t, h, &s, &|| false).unwrap();
                    let pr: Vec<f64> = f
                        .booster
                        .predict(h)
                        .unwrap()
                        .into_iter()
                        .map(f64::from)
                        .collect();
                    aucs.push(roc_auc(hy, &pr));
                    iters += f.best_iteration as f64;
                }
                let mean = aucs.iter().sum::<f64>() / aucs.len() as f64;
                let var = aucs.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / aucs.len() as f64;
                Candidate {
                    index: i,
                    params,
                    folds_run: aucs.len(),
                    mean_auc: mean,
                    std_auc: var.sqrt(),
                    fold_auc: aucs,
                    mean_best_iteration: iters / mats.len() as f64,
                }
            })
            .collect()
    }

    #[test]
    fn full_strategy_matches_the_old_search() {
        let p = problem(3);
        let full = search(&p, 8, SearchStrategy::Full, 2);
        assert!(same(&full, &reference(&p, 8)));
        assert!(
            full.iter()
                .all(|c| c.folds_run == 3 && c.fold_auc.len() == 3)
        );
        assert!(full.iter().all(|c| c.mean_auc > 0.6), "{full:?}");
    }

    #[test]
    fn halving_runs_prefixes_of_full_and_keeps_the_best() {
        let p = problem(3);
        let full = search(&p, 9, SearchStrategy::Full, 2);
        let halving = search(&p, 9, SearchStrategy::Halving { factor: 3 }, 2);
        // Every fit is the same fit as under `full`: fold_auc is a prefix.
        for (h, f) in halving.iter().zip(&full) {
            assert_eq!(h.folds_run, h.fold_auc.len());
            assert_eq!(h.fold_auc[..], f.fold_auc[..h.folds_run]);
        }
        let runs = |m: usize| halving.iter().filter(|c| c.folds_run >= m).count();
        assert_eq!([runs(1), runs(2), runs(3)], [9, 3, 2]);
        // The survivors of fold 1 are the best 3 on fold 1 (ties to the earlier draw).
        let mut by_fold0: Vec<&Candidate> = full.iter().collect();
        by_fold0.sort_by(|a, b| {
            b.fold_auc[0]
                .total_cmp(&a.fold_auc[0])
                .then(a.index.cmp(&b.index))
        });
        let mut top3: Vec<usize> = by_fold0[..3].iter().map(|c| c.index).collect();
        top3.sort_unstable();
        let second: Vec<usize> = halving
            .iter()
            .filter(|c| c.folds_run >= 2)
            .map(|c| c.index)
            .collect();
        assert_eq!(second, top3);
        // The choice rests on all folds, and is the best finalist by full-CV mean.
        let chosen = best(&halving, 3).unwrap();
        assert_eq!(chosen.folds_run, 3);
        let finalists: Vec<&Candidate> = full
            .iter()
            .filter(|c| halving[c.index].folds_run == 3)
            .collect();
        let top = finalists
            .iter()
            .max_by(|a, b| {
                a.mean_auc
                    .total_cmp(&b.mean_auc)
                    .then(b.index.cmp(&a.index))
            })
            .unwrap();
        assert_eq!(chosen.index, top.index);
        assert_eq!(chosen.mean_auc, top.mean_auc);
    }

    #[test]
    fn halving_without_anything_to_drop_equals_full() {
        let p = problem(3);
        for n in [1, 2] {
            let full = search(&p, n, SearchStrategy::Full, 2);
            let h = search(&p, n, SearchStrategy::Halving { factor: 1000 }, 2);
            assert!(same(&full, &h), "{n} candidates");
        }
    }

    #[test]
    fn results_do_not_depend_on_the_number_of_workers() {
        let p = problem(3);
        for s in [SearchStrategy::Halving { factor: 3 }, SearchStrategy::Full] {
            let one = search(&p, 10, s, 1);
            assert!(same(&one, &search(&p, 10, s, 2)), "{s:?}");
            assert!(same(&one, &search(&p, 10, s, 3)), "{s:?}");
        }
    }

    #[test]
    fn progress_counts_planned_fits_and_cancel_stops() {
        let p = problem(3);
        let s = SearchStrategy::Halving { factor: 2 };
        let calls = AtomicUsize::new(0);
        let completed = AtomicUsize::new(0);
        let last = AtomicUsize::new(0);
        let on_fit = |g: &Progress| {
            calls.fetch_add(1, Ordering::SeqCst);
            assert_eq!(g.fits_total, planned_fits(&plan(7, 3, s)));
            assert_eq!(g.rungs, 3);
            assert_eq!(g.fold, g.rung);
            if let Some(c) = g.completed {
                assert_eq!(c.folds_run, 3);
                completed.fetch_add(1, Ordering::SeqCst);
            }
            last.fetch_max(g.fits_done, Ordering::SeqCst);
        };
        run(&data(&p), &draws(7), &base(), s, 2, &on_fit, &|| false).unwrap();
        // 7, 4, 2 candidates
        assert_eq!(calls.load(Ordering::SeqCst), 13);
        assert_eq!(last.load(Ordering::SeqCst), 13);
        assert_eq!(completed.load(Ordering::SeqCst), 2);

        let fits = AtomicUsize::new(0);
        let cancel = || fits.load(Ordering::SeqCst) >= 3;
        let on_fit = |_: &Progress| {
            fits.fetch_add(1, Ordering::SeqCst);
        };
        let e = run(&data(&p), &draws(7), &base(), s, 2, &on_fit, &cancel).unwrap_err();
        assert!(e.to_string().contains("cancelled"), "{e}");
    }

    #[test]
    fn best_only_picks_candidates_with_all_folds() {
        let c = |index, fold_auc: Vec<f64>| {
            summarize(
                index,
                &draws(1)[0],
                &fold_auc
                    .into_iter()
                    .map(|a| Some((a, 1)))
                    .collect::<Vec<_>>(),
            )
        };
        let cs = vec![
            c(0, vec![0.99]),
            c(1, vec![0.80, 0.82, 0.81]),
            c(2, vec![0.95, 0.97]),
            c(3, vec![0.81, 0.81, 0.82]),
            c(4, vec![0.82, 0.80, 0.81]),
        ];
        assert_eq!(cs[0].folds_run, 1);
        // 1, 3 and 4 ran all folds; 3 and 4 tie with 1 in exact arithmetic: earlier draw wins
        // unless rounding makes one larger, so compare with the computed means.
        let chosen = best(&cs, 3).unwrap();
        let top = [&cs[1], &cs[3], &cs[4]]
            .into_iter()
            .fold(&cs[1], |a, x| if x.mean_auc > a.mean_auc { x } else { a });
        assert_eq!(chosen.index, top.index);
        assert!(best(&cs, 4).is_none());
        let tie = vec![c(0, vec![0.9, 0.8]), c(1, vec![0.9, 0.8])];
        assert_eq!(best(&tie, 2).unwrap().index, 0);
    }
}
