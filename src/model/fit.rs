//! One fit with early stopping. The `xgb` bindings have no early stopping of their own, so
//! we boost round by round, evaluate the held-out matrix after each round (XGBoost keeps
//! its predictions cached, so this costs one tree per round) and keep the rounds up to the
//! best one. The held-out matrix is never the training matrix.

use super::params::FitSettings;
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
}

/// Trains on `train`, early-stopping on `held_out`; `cancel` is polled between rounds.
pub fn fit(
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
            return Err(ClaimsError::Other(anyhow::anyhow!("cancelled")));
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
    let booster = if rounds_run > best.0 + 1 {
        b.slice(best.0 + 1)?
    } else {
        b
    };
    Ok(Fitted {
        booster,
        best_iteration: best.0,
        best_score: best.1,
        rounds_run,
    })
}
