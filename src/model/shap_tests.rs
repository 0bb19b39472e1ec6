//! Tests of `shap.rs`.

use super::*;
use crate::model::xgb::{Booster, DMatrix, FeatureKind};

/// A model with deep trees, categorical splits and missing values, and rows to explain.
fn model(depth: usize, rounds: usize) -> (Booster, Vec<f32>, usize, DMatrix) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(depth as u64);
    let (n, w) = (3000usize, 6usize);
    let names: Vec<String> = (0..w).map(|i| format!("f{i}")).collect();
    let kinds = vec![
        FeatureKind::Numeric,
        FeatureKind::Numeric,
        FeatureKind::Numeric,
        FeatureKind::Numeric,
        FeatureKind::Categorical,
        FeatureKind::Categorical,
    ];
    let mut x = vec![0f32; n * w];
    let mut y = vec![0f32; n];
    for i in 0..n {
        let r = &mut x[i * w..(i + 1) * w];
        for v in r.iter_mut().take(4) {
            *v = rng.random_range(-2.0..2.0);
        }
        r[4] = rng.random_range(0..7) as f32;
        r[5] = rng.random_range(0..3) as f32;
        if rng.random_bool(0.1) {
            r[rng.random_range(0..6)] = f32::NAN;
        }
        let z = r[0].max(0.0) * 1.5 - r[1] * r[2].abs()
            + if r[4] == 2.0 || r[4] == 5.0 {
                1.0
            } else {
                -0.5
            }
            + r[5] * 0.3
            + rng.random_range(-1.0..1.0);
        y[i] = f32::from(z > 0.3);
    }
    let mut m = DMatrix::from_dense(&x, n, &names, &kinds).unwrap();
    m.set_labels(&y).unwrap();
    let params: Vec<(String, String)> = [
        ("objective", "binary:logistic"),
        ("tree_method", "hist"),
        ("nthread", "1"),
        ("max_depth", &depth.to_string()),
        ("eta", "0.3"),
        ("max_cat_to_onehot", "1"),
        ("subsample", "0.8"),
        ("seed", "3"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut b = Booster::new(&[&m], &params).unwrap();
    for it in 0..rounds {
        b.update(&m, it as i32).unwrap();
    }
    (b, x, w, m)
}

#[test]
fn matches_xgboost_pred_contribs() {
    for (depth, rounds) in [(1, 40), (3, 30), (6, 25)] {
        let (b, x, w, m) = model(depth, rounds);
        let (want, ww) = b.contributions(&m).unwrap();
        assert_eq!(ww, w + 1);
        let e = TreeExplainer::from_model_json(&b.to_json().unwrap(), w).unwrap();
        let n = x.len() / w;
        for threads in [1, 2] {
            let got = e.contributions(&x, n, threads);
            let mut max_diff = 0f32;
            let mut exact = 0usize;
            for i in 0..n {
                for j in 0..w {
                    let (g, t) = (got[i * w + j], want[i * ww + j]);
                    max_diff = max_diff.max((g - t).abs());
                    exact += usize::from(g == t);
                }
            }
            // Same algorithm and operation order in f32: bit-identical.
            assert_eq!(
                exact,
                n * w,
                "depth {depth}, {threads} thread(s): max |ours - xgboost| = {max_diff}"
            );
        }
        // The base value is XGBoost's bias column (the same for every row).
        let bias = f64::from(want[w]);
        let got = e.expected_margin().unwrap();
        assert!(
            (got - bias).abs() < 1e-5,
            "depth {depth}: {got} against {bias}"
        );
        assert!((0..n).all(|i| want[i * ww + w] == want[w]));
    }
}

#[test]
fn probabilities_match_xgboost_predict() {
    for (depth, rounds) in [(1, 40), (3, 30), (6, 25)] {
        let (b, x, w, m) = model(depth, rounds);
        let want = b.predict(&m).unwrap();
        let e = TreeExplainer::from_model_json(&b.to_json().unwrap(), w).unwrap();
        assert!(e.has_probability());
        let got = e.explain(&x, x.len() / w, 2, true, &|_, p, _| p);
        let fast = e.explain(&x, x.len() / w, 2, false, &|_, p, _| p);
        assert_eq!(got, fast, "depth {depth}: probabilities without SHAP");
        // Rows come back in order, blocks and threads of any size (2,999 rows: 1,500 and
        // 1,499 per thread, neither a whole number of blocks).
        let n = x.len() / w - 1;
        let order = e.explain(&x[..n * w], n, 2, false, &|i, p, _| (i, p));
        assert!(
            order
                .iter()
                .enumerate()
                .all(|(k, &(i, p))| i == k && p == got[k])
        );
        let same = got.iter().zip(&want).filter(|(g, t)| g == t).count();
        assert_eq!(same, want.len(), "depth {depth}: {got:?} vs {want:?}");
    }
}

#[test]
fn rejects_a_broken_tree() {
    let json = br#"{"learner":{"gradient_booster":{"model":{"trees":[{"left_children":[1,-1,-1],"right_children":[2,-1,-1],"split_indices":[9,0,0],"split_conditions":[0.5,1,2],"default_left":[1,0,0],"sum_hessian":[2,1,1]}]}}}}"#;
    let e = TreeExplainer::from_model_json(json, 3).err().unwrap();
    assert!(e.to_string().contains("tree 0"), "{e}");
}
