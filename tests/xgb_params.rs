//! Every hyperparameter we send reaches the booster (read back from XGBoost's own saved
//! config), nothing else is sent (no base_score=0.5, no removed `predictor`), early stopping
//! keeps the best round, and the model round-trips through JSON.

use claims_ops::model::fit::fit;
use claims_ops::model::params::{FitSettings, Hyperparams};
use claims_ops::model::xgb::{Booster, DMatrix, FeatureKind};

fn data(n: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    // y depends on x0 (numeric) and x1 (a category code), x2 is noise.
    let mut s = seed;
    let mut r = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 33) as f64 / (1u64 << 31) as f64) as f32
    };
    let (mut x, mut y) = (vec![], vec![]);
    for _ in 0..n {
        let (a, c, z) = (r() * 4.0 - 2.0, (r() * 3.0).floor(), r());
        let p = 1.0 / (1.0 + (-(2.0 * a + if c == 2.0 { 1.5 } else { -0.5 })).exp());
        x.extend([a, c, z]);
        y.push(if r() < p { 1.0 } else { 0.0 });
    }
    (x, y)
}

fn matrices() -> (DMatrix, DMatrix) {
    let names: Vec<String> = ["x0", "x1", "x2"].iter().map(|s| s.to_string()).collect();
    let kinds = [
        FeatureKind::Numeric,
        FeatureKind::Categorical,
        FeatureKind::Numeric,
    ];
    let (x, y) = data(800, 1);
    let mut t = DMatrix::from_dense(&x, 800, &names, &kinds).unwrap();
    t.set_labels(&y).unwrap();
    let (x, y) = data(300, 2);
    let mut v = DMatrix::from_dense(&x, 300, &names, &kinds).unwrap();
    v.set_labels(&y).unwrap();
    (t, v)
}

fn settings() -> FitSettings {
    FitSettings {
        params: Hyperparams {
            n_estimators: 300,
            learning_rate: 0.123,
            subsample: 0.77,
            max_depth: 3,
            colsample_bytree: 0.66,
            min_child_weight: 5.0,
        },
        scale_pos_weight: Some(2.5),
        threads: 1,
        seed: 99,
        metric: "logloss".into(),
        early_stopping_rounds: 10,
        held_out_offset: 0.0,
    }
}

fn num(v: &serde_json::Value) -> f64 {
    v.as_str()
        .map(|s| s.parse().unwrap())
        .or_else(|| v.as_f64())
        .unwrap()
}

#[test]
fn every_hyperparameter_reaches_the_booster() {
    let (t, v) = matrices();
    let s = settings();
    let f = fit(&t, &v, None, &s, &|| false).unwrap();
    let cfg = f.booster.config_json().unwrap();
    let learner = &cfg["learner"];
    let tp = &learner["gradient_booster"]["tree_train_param"];
    assert!((num(&tp["eta"]) - 0.123).abs() < 1e-6, "{tp}");
    assert_eq!(num(&tp["max_depth"]), 3.0);
    assert!((num(&tp["subsample"]) - 0.77).abs() < 1e-6);
    assert!((num(&tp["colsample_bytree"]) - 0.66).abs() < 1e-6);
    assert_eq!(num(&tp["min_child_weight"]), 5.0);
    assert_eq!(
        learner["gradient_booster"]["gbtree_train_param"]["tree_method"],
        "hist"
    );
    assert_eq!(learner["objective"]["name"], "binary:logistic");
    assert!((num(&learner["objective"]["reg_loss_param"]["scale_pos_weight"]) - 2.5).abs() < 1e-6);
    assert_eq!(num(&learner["generic_param"]["nthread"]), 1.0);
    assert_eq!(num(&learner["generic_param"]["seed"]), 99.0);
    assert_eq!(learner["metrics"][0]["name"], "logloss");
    // The intercept was estimated from the labels, not pinned at 0.5.
    let bs = learner["learner_model_param"]["base_score"]
        .as_str()
        .unwrap();
    let bs: f64 = bs.trim_matches(|c| c == '[' || c == ']').parse().unwrap();
    assert!((bs - 0.5).abs() > 1e-3, "base_score {bs}");
    // The bins the quantised training matrices are built with.
    assert!(cfg.to_string().contains("\"max_bin\":\"256\""), "{cfg}");
    // No removed `predictor` parameter anywhere.
    assert!(!cfg.to_string().contains("predictor\":\"cpu_predictor"));
    // Early stopping: the booster holds exactly best_iteration + 1 rounds.
    assert_eq!(f.booster.rounds().unwrap(), f.best_iteration + 1);
    assert!(
        f.rounds_run < 300,
        "early stopping never fired: {}",
        f.rounds_run
    );
    assert_eq!(f.rounds_run, f.best_iteration + 1 + s.early_stopping_rounds);
    // max_depth really limits the trees: no node deeper than 3 in the dump.
    let json: serde_json::Value = serde_json::from_slice(&f.booster.to_json().unwrap()).unwrap();
    let trees = json["learner"]["gradient_booster"]["model"]["trees"]
        .as_array()
        .unwrap();
    assert_eq!(trees.len(), f.best_iteration + 1);
    for tree in trees {
        let left = tree["left_children"].as_array().unwrap();
        let right = tree["right_children"].as_array().unwrap();
        let mut depth = vec![0usize; left.len()];
        for i in 0..left.len() {
            for c in [&left[i], &right[i]] {
                let c = c.as_i64().unwrap();
                if c >= 0 {
                    depth[c as usize] = depth[i] + 1;
                }
            }
        }
        assert!(depth.iter().all(|&d| d <= 3));
    }
}

#[test]
fn json_round_trip_predicts_the_same() {
    let (t, v) = matrices();
    let f = fit(&t, &v, None, &settings(), &|| false).unwrap();
    let a = f.booster.predict(&v).unwrap();
    let b = Booster::from_json(&f.booster.to_json().unwrap())
        .unwrap()
        .predict(&v)
        .unwrap();
    assert_eq!(a, b);
    assert!(a.iter().all(|p| (0.0..=1.0).contains(p)));
    let (c, width) = f.booster.contributions(&v).unwrap();
    assert_eq!(width, 4);
    // SHAP contributions add up to the margin.
    let margin0: f32 = c[..4].iter().sum();
    let p0 = 1.0 / (1.0 + (-margin0).exp());
    assert!((p0 - a[0]).abs() < 1e-4);
}
