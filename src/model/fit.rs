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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::params::Hyperparams;
    use crate::model::xgb::FeatureKind;
    use rand::{Rng, SeedableRng};

    fn matrix(rng: &mut impl Rng, n: usize) -> DMatrix {
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
        m
    }

    /// The refit uses every core while the search fits use one thread each: this holds only
    /// because XGBoost's `hist` builds the same trees whatever its thread count.
    #[test]
    fn thread_count_does_not_change_the_model() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let (train, valid) = (matrix(&mut rng, 20_000), matrix(&mut rng, 4_000));
        let fitted = |threads: usize| {
            let s = FitSettings {
                params: Hyperparams {
                    n_estimators: 60,
                    learning_rate: 0.1,
                    subsample: 0.7,
                    max_depth: 6,
                    colsample_bytree: 0.8,
                    min_child_weight: 1.0,
                },
                scale_pos_weight: None,
                threads,
                seed: 5,
                metric: "logloss".into(),
                early_stopping_rounds: 10,
            };
            let f = fit(&train, &valid, &s, &|| false).unwrap();
            (f.best_iteration, f.booster.predict(&valid).unwrap())
        };
        assert_eq!(fitted(1), fitted(2));
    }
}
