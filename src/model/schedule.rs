//! The schedule of the search and its reporting: [`plan`] lays out the rungs (which folds,
//! how many candidates) for a strategy, [`SearchSummary`] records how the search spent its
//! fits, and [`Progress`] describes each finished fit. The search itself is in `search`.

use std::ops::Range;

use serde::Serialize;

use super::search::Candidate;
use crate::config::SearchStrategy;

/// How the search spent its fits (also in `metrics.json` under `cv.search`).
#[derive(Debug, Clone, Serialize)]
pub struct SearchSummary {
    /// "full" or "halving".
    pub strategy: String,
    /// Under halving: keep `ceil(n / factor)` candidates after each rung.
    pub halving_factor: Option<usize>,
    /// Under halving with a sampled first rung: its rows (a share of fold 1's fit rows).
    pub sample_rows: Option<usize>,
    /// Candidates drawn.
    pub candidates: usize,
    /// CV folds.
    pub folds: usize,
    /// Fits run.
    pub fits: usize,
    /// Fits every candidate on every fold would take.
    pub fits_full: usize,
    /// Candidates per rung (full: one rung of all folds; halving: the sampled rung if any,
    /// then one rung per fold).
    pub candidates_per_rung: Vec<usize>,
    /// Fits run side by side.
    pub workers: usize,
}

impl SearchSummary {
    /// The plan for `candidates` candidates over `folds` folds (with a sampled first rung of
    /// `sample_rows` rows, if any), before any fit.
    pub fn new(
        strategy: SearchStrategy,
        candidates: usize,
        folds: usize,
        sample_rows: Option<usize>,
        workers: usize,
    ) -> Self {
        let plan = plan(candidates, folds, strategy, sample_rows.is_some());
        let sampled = plan.first().is_some_and(|r| r.sample);
        SearchSummary {
            strategy: match strategy {
                SearchStrategy::Full => "full".into(),
                SearchStrategy::Halving { .. } => "halving".into(),
            },
            halving_factor: match strategy {
                SearchStrategy::Full => None,
                SearchStrategy::Halving { factor } => Some(factor),
            },
            sample_rows: sample_rows.filter(|_| sampled),
            candidates,
            folds,
            fits: planned_fits(&plan),
            fits_full: candidates * folds,
            candidates_per_rung: plan.iter().map(|r| r.candidates).collect(),
            workers,
        }
    }

    /// One line: candidates, folds, strategy and fits.
    pub fn describe(&self) -> String {
        match self.halving_factor {
            Some(f) => {
                let per_rung = self
                    .candidates_per_rung
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                match self.sample_rows {
                    Some(rows) => format!(
                        "{} candidates x {} folds, successive halving (factor {f}) over a {rows}-row sample of fold 1, then folds: {} fits instead of {}, {} of them on the sample (candidates per rung: {per_rung})",
                        self.candidates, self.folds, self.fits, self.fits_full, self.candidates
                    ),
                    None => format!(
                        "{} candidates x {} folds, successive halving (factor {f}): {} fits instead of {} (candidates per fold: {per_rung})",
                        self.candidates, self.folds, self.fits, self.fits_full
                    ),
                }
            }
            None => format!(
                "{} candidates x {} folds, full: {} fits",
                self.candidates, self.folds, self.fits
            ),
        }
    }
}

/// One rung of the schedule: these folds for this many candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rung {
    /// The folds every surviving candidate runs in this rung.
    pub folds: Range<usize>,
    /// Candidates in this rung.
    pub candidates: usize,
    /// Whether the rung fits on the sample of fold 1's fit rows instead of the folds.
    pub sample: bool,
}

/// The schedule of `n` candidates over `folds` folds: one rung of every fold for `full`;
/// one rung per fold for `halving`, each keeping `ceil(n / factor)` but at least `min(2, n)`
/// of the previous rung's candidates, after a first rung on the sample when `sample` is set
/// and that rung would drop anyone.
pub fn plan(n: usize, folds: usize, strategy: SearchStrategy, sample: bool) -> Vec<Rung> {
    match strategy {
        SearchStrategy::Full => vec![Rung {
            folds: 0..folds,
            candidates: n,
            sample: false,
        }],
        SearchStrategy::Halving { factor } => {
            let factor = factor.max(2);
            let keep = |alive: usize| alive.div_ceil(factor).max(alive.min(2));
            let mut alive = n;
            let mut out = Vec::with_capacity(folds + 1);
            if sample && keep(n) < n {
                out.push(Rung {
                    folds: 0..1,
                    candidates: n,
                    sample: true,
                });
                alive = keep(n);
            }
            for r in 0..folds {
                out.push(Rung {
                    folds: r..r + 1,
                    candidates: alive,
                    sample: false,
                });
                alive = keep(alive);
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
    /// Whether this fit was on the sample of the fold's fit rows.
    pub sample: bool,
    /// Held-out ROC AUC of this fit.
    pub auc: f64,
    /// The candidate's summary, when this fit completed all of its folds.
    pub completed: Option<&'a Candidate>,
}

impl Progress<'_> {
    /// The progress line for this fit, with `best`, the best CV AUC so far (NaN: none yet).
    pub fn describe(&self, folds: usize, best: f64) -> String {
        let mut msg = format!(
            "candidate {} fold {}/{folds}{}: AUC {:.4}; fit {}/{}",
            self.candidate + 1,
            self.fold + 1,
            if self.sample { " (sample)" } else { "" },
            self.auc,
            self.fits_done,
            self.fits_total
        );
        if self.rungs > 1 {
            msg.push_str(&format!(
                ", rung {}/{} ({} candidates)",
                self.rung + 1,
                self.rungs,
                self.rung_candidates
            ));
        }
        if let Some(c) = self.completed {
            msg.push_str(&format!("; CV AUC {:.4}", c.mean_auc));
        }
        if !best.is_nan() {
            msg.push_str(&format!(" (best {best:.4})"));
        }
        msg
    }
}
