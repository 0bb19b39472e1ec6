//! Tests of `search.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};

use rand::Rng;

use super::*;
use crate::config::Config;
use crate::data::split::k_folds;
use crate::model::fit::fit;

fn survivors(n: usize, folds: usize, strategy: SearchStrategy) -> Vec<usize> {
    plan(n, folds, strategy, false)
        .iter()
        .map(|r| r.candidates)
        .collect()
}

#[test]
fn halving_schedule_arithmetic() {
    let h = |factor| SearchStrategy::Halving { factor };
    assert_eq!(survivors(100, 5, h(3)), [100, 34, 12, 4, 2]);
    assert_eq!(planned_fits(&plan(100, 5, h(3), false)), 152);
    assert_eq!(survivors(30, 3, h(3)), [30, 10, 4]);
    assert_eq!(planned_fits(&plan(30, 3, h(3), false)), 44);
    assert_eq!(survivors(40, 5, h(2)), [40, 20, 10, 5, 3]);
    // Never fewer than 2 (or all, when fewer were drawn) before the last fold.
    assert_eq!(survivors(10, 4, h(100)), [10, 2, 2, 2]);
    assert_eq!(survivors(1, 3, h(3)), [1, 1, 1]);
    assert_eq!(survivors(2, 3, h(3)), [2, 2, 2]);
    let full = plan(100, 5, SearchStrategy::Full, false);
    assert_eq!(
        full,
        [Rung {
            folds: 0..5,
            candidates: 100,
            sample: false
        }]
    );
    assert_eq!(planned_fits(&full), 500);
    for r in plan(7, 3, h(3), false).iter().enumerate() {
        assert_eq!(r.1.folds, r.0..r.0 + 1);
    }
    // A sampled first rung (on fold 1's sample) before the fold rungs.
    let sampled = plan(30, 3, h(3), true);
    let shape: Vec<(usize, bool, usize)> = sampled
        .iter()
        .map(|r| (r.candidates, r.sample, r.folds.start))
        .collect();
    assert_eq!(
        shape,
        [(30, true, 0), (10, false, 0), (4, false, 1), (2, false, 2)]
    );
    assert_eq!(planned_fits(&sampled), 46);
    // Not when it would drop nobody, nor under `full`.
    assert!(plan(2, 3, h(3), true).iter().all(|r| !r.sample));
    assert!(
        plan(30, 3, SearchStrategy::Full, true)
            .iter()
            .all(|r| !r.sample)
    );
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
        sample: None,
    }
}

fn draws(n: usize) -> Vec<Hyperparams> {
    let c = Config::from_overlay("[search.space]\nn_estimators = { min = 5, max = 40 }").unwrap();
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
        held_out_offset: 0.0,
    }
}

fn search(p: &Problem, n: usize, s: SearchStrategy, workers: usize) -> Vec<Candidate> {
    run(&data(p), &draws(n), &base(), s, workers, &|_| {}, &|| false).unwrap()
}

/// Draw indices (ascending) of the `k` best candidates by `auc`, ties to the earlier draw.
fn best_k(cands: &[Candidate], k: usize, auc: impl Fn(&Candidate) -> f64) -> Vec<usize> {
    let mut ranked: Vec<&Candidate> = cands.iter().collect();
    ranked.sort_by(|a, b| auc(b).total_cmp(&auc(a)).then(a.index.cmp(&b.index)));
    let mut top: Vec<usize> = ranked[..k].iter().map(|c| c.index).collect();
    top.sort_unstable();
    top
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
                matrix(d.x, d.y, d.names, d.kinds, t, 1).unwrap(),
                {
                    let (hx, hy) = gather(d.x, d.y, d.names.len(), h);
                    let mut m = DMatrix::from_dense(&hx, h.len(), d.names, d.kinds).unwrap();
                    m.set_labels(&hy).unwrap();
                    m
                },
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
                let f = fit(t, h, None, &s, &|| false).unwrap();
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
                sample: None,
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
    let top3 = best_k(&full, 3, |c| c.fold_auc[0]);
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
fn sampled_rung_ranks_on_the_sample_then_runs_the_folds() {
    let p = problem(3);
    let rows = crate::data::split::stratified_share(&p.y, &p.folds[0].0, 3, 5);
    let d = SearchData {
        sample: Some(&rows),
        ..data(&p)
    };
    let s = SearchStrategy::Halving { factor: 3 };
    let n = 9;
    let fits = AtomicUsize::new(0);
    let on_sample = AtomicUsize::new(0);
    let on_fit = |g: &Progress| {
        fits.fetch_add(1, Ordering::SeqCst);
        assert_eq!(g.sample, g.rung == 0);
        if g.sample {
            on_sample.fetch_add(1, Ordering::SeqCst);
            assert!(g.completed.is_none());
        }
    };
    let res = run(&d, &draws(n), &base(), s, 2, &on_fit, &|| false).unwrap();
    // 9 on the sample, then 3, 2, 2 on the folds.
    assert_eq!(fits.load(Ordering::SeqCst), 9 + 3 + 2 + 2);
    assert_eq!(on_sample.load(Ordering::SeqCst), 9);
    assert!(res.iter().all(|c| c.sample.is_some()));
    // The fold fits are the same fits as under `full` (prefixes of its fold AUCs).
    let full = search(&p, n, SearchStrategy::Full, 2);
    for (h, f) in res.iter().zip(&full) {
        assert_eq!(h.fold_auc[..], f.fold_auc[..h.folds_run]);
    }
    // The survivors of the sample are its best 3 by sample AUC (ties to the earlier draw).
    let top3 = best_k(&res, 3, |c| c.sample.unwrap().auc);
    let ran: Vec<usize> = res
        .iter()
        .filter(|c| c.folds_run >= 1)
        .map(|c| c.index)
        .collect();
    assert_eq!(ran, top3);
    // A sample fit is a real fit on fewer rows: its AUC differs from the fold-1 fit's.
    assert!(
        res.iter()
            .filter(|c| c.folds_run >= 1)
            .any(|c| c.sample.unwrap().auc != c.fold_auc[0])
    );
    assert!(
        res.iter()
            .filter(|c| c.folds_run == 0)
            .all(|c| c.mean_auc.is_nan())
    );
    assert_eq!(best(&res, 3).unwrap().folds_run, 3);
    // And the result does not depend on the number of workers.
    let one = run(&d, &draws(n), &base(), s, 1, &|_| {}, &|| false).unwrap();
    assert!(same(&one, &res));
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
        assert_eq!(g.fits_total, planned_fits(&plan(7, 3, s, false)));
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
            None,
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

/// A worker with nothing left in a rung starts next-rung fits only of candidates no
/// unfinished fit can push out, and the next rung's survivors are ranked by the folds of the
/// rungs so far, not by a fold run ahead.
#[test]
fn only_certain_survivors_run_ahead() {
    let plan = [
        Rung {
            folds: 0..1,
            candidates: 4,
            sample: false,
        },
        Rung {
            folds: 1..2,
            candidates: 2,
            sample: false,
        },
        Rung {
            folds: 2..3,
            candidates: 2,
            sample: false,
        },
    ];
    let cands = draws(4);
    let mut st = State::new(4, 3, 10.0);
    st.start_rung(&plan[0], &cands);
    st.next = st.units.len();
    // Candidates 0 and 2 tie at 0.9, 1 has 0.8; candidate 3 is still running.
    for (c, auc) in [(0, 0.9), (1, 0.8), (2, 0.9)] {
        st.results[c][0] = Some((auc, 10));
    }
    st.pending = 1;
    // Two go on; candidate 3 may still beat both 0 and 2, but only one of them: 0 (the
    // earlier draw of the tie) is certain, 2 is not.
    assert_eq!(st.take_ahead(&plan, &cands), Some((0, 1)));
    assert_eq!(st.take_ahead(&plan, &cands), None);
    // Candidate 0's fold 2, run ahead, is poor; candidate 3 ends below 0 and 2.
    st.results[0][1] = Some((0.1, 10));
    st.ahead_done = 1;
    st.results[3][0] = Some((0.85, 10));
    st.pending = 0;
    advance(&mut st, &plan, &cands);
    assert_eq!(st.alive, vec![0, 2], "ranked on fold 1 only");
    // Only candidate 2's fold 2 is left to run in rung 2.
    assert_eq!(st.units, vec![(2, 1)]);
    assert_eq!(st.pending, 1);
    assert!(st.ahead.is_empty());
    // Nothing runs ahead of the last rung.
    st.rung = 2;
    st.pending = 1;
    assert_eq!(st.take_ahead(&plan, &cands), None);
}

#[test]
fn many_workers_run_ahead_to_the_same_result() {
    let p = problem(3);
    let s = SearchStrategy::Halving { factor: 3 };
    let one = search(&p, 12, s, 1);
    for workers in [3, 5] {
        assert!(same(&one, &search(&p, 12, s, workers)), "{workers} workers");
    }
}
