//! A model saved by `claims` loads in Python's xgboost unchanged and gives the same
//! probabilities (to 1e-6) on the same rows. Runs when a Python with xgboost and numpy is
//! available: `CLAIMS_PYTHON` (set by `.ci/run` to its venv) or `python3`. Skipped with a
//! printed reason otherwise, except in CI with `CLAIMS_PYTHON` set, where it must run.

mod common;

use std::process::Command;

use claims_ops::data::{contract, load};
use claims_ops::model::Scorer;
use common::*;

const SCRIPT: &str = r#"
import json, sys
import numpy as np
import xgboost as xgb
model, features, rust_preds = sys.argv[1], sys.argv[2], sys.argv[3]
with open(features) as f:
    names = f.readline().strip().split("\t")
X = np.genfromtxt(features, delimiter="\t", skip_header=1, missing_values="", filling_values=np.nan)
bst = xgb.Booster(model_file=model)
types = bst.feature_types
assert bst.feature_names == names, (bst.feature_names, names)
d = xgb.DMatrix(X, feature_names=names, feature_types=types, enable_categorical=True, missing=np.nan)
p = bst.predict(d)
r = np.loadtxt(rust_preds)
print(json.dumps({"max_abs_diff": float(np.max(np.abs(p - r))), "rows": int(len(p)), "xgboost": xgb.__version__, "categorical": int(sum(t == "c" for t in types))}))
"#;

fn python() -> Option<String> {
    let set = std::env::var("CLAIMS_PYTHON")
        .ok()
        .filter(|s| !s.is_empty());
    let py = set.clone().unwrap_or_else(|| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import xgboost, numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Some(py)
    } else {
        let must = std::env::var("CI").is_ok() && set.is_some();
        assert!(!must, "CLAIMS_PYTHON={py} has no xgboost/numpy in CI");
        eprintln!(
            "SKIPPED python_parity: no Python with xgboost and numpy ('{py}'); set CLAIMS_PYTHON or pip install xgboost-cpu==3.2.0 numpy"
        );
        None
    }
}

#[test]
fn python_xgboost_gives_the_same_probabilities() {
    let Some(py) = python() else { return };
    let env = Env::new();
    let data = env.generate("train.csv", 2000, 21);
    // v1 as trained; v2 undersampled, its base score shifted back to the real claim rate.
    for imbalance in ["none", "undersample:1"] {
        env.claims()
            .arg("train")
            .arg("--data")
            .arg(&data)
            .args(FAST)
            .args(["--imbalance", imbalance])
            .assert()
            .success();
    }
    let score = env.generate("score.csv", 500, 22);
    for v in [1, 2] {
        same_probabilities(&py, &env, &score, v);
    }
}

fn same_probabilities(py: &str, env: &Env, score: &std::path::Path, v: u32) {
    let cfg = claims_ops::config::Config::from_overlay("").unwrap();
    let reg = claims_ops::registry::Registry::open(&env.home()).unwrap();
    let model = reg.load_model(v).unwrap();
    let checked = contract::check(
        &cfg.schema,
        &[load::read_file(score).unwrap()],
        contract::Mode::Inference,
    );
    assert!(checked.bad_rows.is_empty());
    let rust = model.score(&checked.data).unwrap();
    let x = model.pre.transform(&checked.data).unwrap();

    let names = model.pre.feature_names();
    let mut tsv = names.join("\t") + "\n";
    for row in x.chunks(names.len()) {
        let cells: Vec<String> = row
            .iter()
            .map(|v| {
                if v.is_nan() {
                    String::new()
                } else {
                    format!("{v}")
                }
            })
            .collect();
        tsv.push_str(&(cells.join("\t") + "\n"));
    }
    std::fs::write(env.path("features.tsv"), tsv).unwrap();
    let preds: Vec<String> = rust.iter().map(|p| format!("{p:.9}")).collect();
    std::fs::write(env.path("rust.txt"), preds.join("\n")).unwrap();
    std::fs::write(env.path("check.py"), SCRIPT).unwrap();

    let out = Command::new(py)
        .arg(env.path("check.py"))
        .arg(reg.model_dir(v).join("model.json"))
        .arg(env.path("features.tsv"))
        .arg(env.path("rust.txt"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(out.stdout.trim_ascii()).unwrap();
    eprintln!("python parity, v{v}: {j}");
    assert_eq!(j["rows"], 500);
    assert_eq!(j["categorical"], 20);
    assert!(j["max_abs_diff"].as_f64().unwrap() < 1e-6, "{j}");
}
