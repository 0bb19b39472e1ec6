//! The training pipeline through the real binary: the JSON summary, the registry, run
//! records, imbalance strategies, and tampered artifacts.

mod common;

use common::*;

#[test]
fn train_prints_json_summary_and_registers_champion_then_challenger() {
    let env = Env::new();
    let data = env.generate("train.csv", 2000, 1);
    let out = env
        .claims()
        .arg("train")
        .arg("--data")
        .arg(&data)
        .args(FAST)
        .arg("--json")
        .assert()
        .success();
    let j = last_json(&out.get_output().stdout);
    assert_eq!(j["model_version"], 1);
    assert_eq!(j["role"], "champion");
    assert!(j["run_id"].as_str().unwrap().starts_with("train-"));
    let auc = j["test"]["roc_auc"].as_f64().unwrap();
    assert!(auc > 0.85 && auc <= 1.0, "test AUC {auc}");
    for k in [
        "pr_auc",
        "log_loss",
        "brier",
        "gini",
        "lift_top_decile",
        "capture_top_decile",
        "ece",
    ] {
        assert!(j["test"][k].is_number(), "{k} missing");
    }
    // Default search: successive halving over the 3 folds (3, 2, 2 candidates).
    assert_eq!(j["search"]["strategy"], "halving");
    assert_eq!(j["search"]["fits"], 7);
    assert_eq!(j["search"]["fits_full"], 9);
    let dir = std::path::PathBuf::from(j["model_dir"].as_str().unwrap());
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("metrics.json")).unwrap()).unwrap();
    let cv = &metrics["cv"];
    assert_eq!(cv["chosen"]["folds_run"], 3);
    let runs: Vec<u64> = cv["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["folds_run"].as_u64().unwrap())
        .collect();
    assert_eq!(runs.iter().sum::<u64>(), 7, "{runs:?}");
    for f in [
        "model.json",
        "preprocessor.json",
        "params.json",
        "metrics.json",
        "profile.json",
        "manifest.json",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["data_files"][0]["rows"], 2000);
    assert_eq!(
        manifest["data_files"][0]["sha256"].as_str().unwrap().len(),
        64
    );
    assert!(
        manifest["config_toml"]
            .as_str()
            .unwrap()
            .contains("claim_status")
    );

    let out = env
        .claims()
        .arg("train")
        .arg("--data")
        .arg(&data)
        .args(FAST)
        .arg("--json")
        .assert()
        .success();
    let j2 = last_json(&out.get_output().stdout);
    assert_eq!(j2["model_version"], 2);
    assert_eq!(j2["role"], "challenger");

    let models = env.claims().args(["models", "--json"]).assert().success();
    let m = last_json(&models.get_output().stdout);
    assert_eq!(m["models"].as_array().unwrap().len(), 2);
    assert_eq!(m["models"][1]["aliases"][0], "champion");

    let run = j["run_id"].as_str().unwrap();
    let shown = env.claims().args(["runs", run]).assert().success();
    let text = String::from_utf8_lossy(&shown.get_output().stdout).to_string();
    for stage in [
        "load",
        "contract",
        "split",
        "preprocess",
        "search",
        "fit",
        "threshold",
        "evaluate",
        "register",
    ] {
        assert!(text.contains(stage), "stage {stage} missing in:\n{text}");
    }
    assert!(text.contains("succeeded"));
}

#[test]
fn same_seed_same_model() {
    let env = Env::new();
    let data = env.generate("train.csv", 1500, 2);
    let run = |_: u8| {
        let out = env
            .claims()
            .arg("train")
            .arg("--data")
            .arg(&data)
            .args(FAST)
            .args(["--seed", "5", "--json"])
            .assert()
            .success();
        last_json(&out.get_output().stdout)
    };
    let (a, b) = (run(0), run(1));
    assert_eq!(a["test"]["roc_auc"], b["test"]["roc_auc"]);
    assert_eq!(a["params"], b["params"]);
}

/// The manifest's config carries the command line's overrides: training again from it
/// alone, with no flags, gives the same model file.
#[test]
fn manifest_config_alone_retrains_the_same_model() {
    let env = Env::new();
    let data = env.generate("train.csv", 1500, 4);
    env.claims()
        .arg("train")
        .arg("--data")
        .arg(&data)
        .args(["--seed", "7", "--folds", "2", "--search-iters", "2"])
        .args(["--imbalance", "undersample:2"])
        .assert()
        .success();
    let v1 = env.home().join("models/v1");
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(v1.join("manifest.json")).unwrap()).unwrap();
    let cfg = env.path("from-manifest.toml");
    std::fs::write(&cfg, m["config_toml"].as_str().unwrap()).unwrap();
    let t: toml::Table = m["config_toml"].as_str().unwrap().parse().unwrap();
    assert_eq!(t["seed"].as_integer(), Some(7));
    assert_eq!(t["search"]["folds"].as_integer(), Some(2));
    assert_eq!(t["imbalance"]["strategy"].as_str(), Some("undersample"));
    env.claims()
        .arg("--config")
        .arg(&cfg)
        .arg("train")
        .arg("--data")
        .arg(&data)
        .assert()
        .success();
    let model =
        |v: &str| std::fs::read(env.home().join("models").join(v).join("model.json")).unwrap();
    assert!(
        model("v1") == model("v2"),
        "the manifest's config gave another model"
    );
}

#[test]
fn imbalance_strategies_reach_the_model() {
    let env = Env::new();
    let data = env.generate("train.csv", 2000, 3);
    let out = env
        .claims()
        .arg("train")
        .arg("--data")
        .arg(&data)
        .args(FAST)
        .args(["--imbalance", "weight", "--json"])
        .assert()
        .success();
    let j = last_json(&out.get_output().stdout);
    let params: serde_json::Value = serde_json::from_slice(
        &std::fs::read(std::path::Path::new(j["model_dir"].as_str().unwrap()).join("params.json"))
            .unwrap(),
    )
    .unwrap();
    let spw = params["scale_pos_weight"].as_f64().unwrap();
    assert!((spw - 0.84 / 0.16).abs() < 0.6, "scale_pos_weight {spw}");
    let learner_spw: f64 =
        params["xgboost_config"]["learner"]["objective"]["reg_loss_param"]["scale_pos_weight"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
    assert!((learner_spw - spw).abs() < 1e-4);
    // `claims models` says which weight the automatic setting came to.
    let out = env.claims().arg("models").assert().success();
    let listed = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        listed.contains(&format!("weight:auto={spw:.4}")),
        "{listed}"
    );

    let out = env
        .claims()
        .arg("train")
        .arg("--data")
        .arg(&data)
        .args(FAST)
        .args(["--imbalance", "undersample:1", "--json"])
        .assert()
        .success();
    let j = last_json(&out.get_output().stdout);
    // Metrics stay on the untouched test distribution.
    assert!((j["test"]["positive_rate"].as_f64().unwrap() - 0.16).abs() < 0.03);
    let shown = env.run_detail(j["run_id"].as_str().unwrap());
    assert!(
        shown.contains("majority:minority = 1.00:1, asked 1:1"),
        "{shown}"
    );
    // Scores are corrected back to the real claim rate (odds x share of negatives kept);
    // without the correction they sit far above it.
    let mean_test_score = |dir: &str| {
        let t: serde_json::Value = serde_json::from_slice(
            &std::fs::read(std::path::Path::new(dir).join("test_scores.json")).unwrap(),
        )
        .unwrap();
        let p: Vec<f64> = serde_json::from_value(t["p"].clone()).unwrap();
        p.iter().sum::<f64>() / p.len() as f64
    };
    let rate = j["test"]["positive_rate"].as_f64().unwrap();
    let corrected = mean_test_score(j["model_dir"].as_str().unwrap());
    assert!(
        (corrected - rate).abs() < 0.04,
        "mean score {corrected}, rate {rate}"
    );
    let raw_cfg = env.path("raw.toml");
    std::fs::write(&raw_cfg, "[imbalance]\ncorrect_probabilities = false\n").unwrap();
    let out = env
        .claims()
        .arg("--config")
        .arg(&raw_cfg)
        .arg("train")
        .arg("--data")
        .arg(&data)
        .args(FAST)
        .args(["--imbalance", "undersample:1", "--json"])
        .assert()
        .success();
    let raw = mean_test_score(
        last_json(&out.get_output().stdout)["model_dir"]
            .as_str()
            .unwrap(),
    );
    assert!(
        raw > rate + 0.08,
        "uncorrected mean score {raw}, rate {rate}"
    );
    // "undersample" alone takes the config's imbalance.undersample_ratio.
    let cfg = env.path("ratio.toml");
    std::fs::write(&cfg, "[imbalance]\nundersample_ratio = 2.0\n").unwrap();
    let out = env
        .claims()
        .arg("--config")
        .arg(&cfg)
        .arg("train")
        .arg("--data")
        .arg(&data)
        .args(FAST)
        .args(["--imbalance", "undersample", "--json"])
        .assert()
        .success();
    let j = last_json(&out.get_output().stdout);
    let shown = env.run_detail(j["run_id"].as_str().unwrap());
    assert!(
        shown.contains("majority:minority = 2.00:1, asked 2:1"),
        "{shown}"
    );
}

#[test]
fn tampered_artifact_is_refused() {
    let env = Env::new();
    let data = env.generate("train.csv", 1500, 4);
    let out = env
        .claims()
        .arg("train")
        .arg("--data")
        .arg(&data)
        .args(FAST)
        .arg("--json")
        .assert()
        .success();
    let j = last_json(&out.get_output().stdout);
    env.claims().args(["models", "--verify"]).assert().success();
    let model = std::path::Path::new(j["model_dir"].as_str().unwrap()).join("model.json");
    let mut text = std::fs::read_to_string(&model).unwrap();
    text = text.replacen("\"base_score\"", "\"base_score\" ", 1);
    std::fs::write(&model, text).unwrap();
    let params = model.with_file_name("params.json");
    let text = std::fs::read_to_string(&params).unwrap() + " ";
    std::fs::write(&params, text).unwrap();
    // Every bad file is listed, not only the first.
    let out = env.claims().args(["models", "--verify"]).assert().code(1);
    let shown = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        shown.contains("2 problem(s)")
            && shown.contains("v1 model.json: ")
            && shown.contains("v1 params.json: ")
            && shown.contains("changed or is corrupt"),
        "{shown}"
    );
    assert!(err.contains("2 file(s) differ"), "{err}");
    let reg = claims_ops::registry::Registry::open(&env.home()).unwrap();
    assert!(reg.load_model(1).is_err());
    // A missing file is a registry error too (not an I/O error a scheduler would retry).
    std::fs::remove_file(&model).unwrap();
    let Err(e) = reg.load_model(1) else {
        panic!("v1 loaded without its model.json")
    };
    assert!(
        matches!(e, claims_ops::error::ClaimsError::Registry(_))
            && e.to_string()
                .contains("model.json: missing, so model v1 is not used"),
        "{e}"
    );
}

/// A relative --data path is recorded absolute (run arguments, the model's lineage), so
/// `compare` and a console retry still find the file when run from another folder.
#[test]
fn relative_paths_are_recorded_absolute() {
    let env = Env::new();
    env.generate("rel.csv", 2000, 33);
    env.claims()
        .current_dir(env.dir.path())
        .args(["train", "--data", "rel.csv"])
        .args(FAST)
        .assert()
        .success();
    let want = env.path("rel.csv");
    let reg = claims_ops::registry::Registry::open(&env.home()).unwrap();
    let m = reg.manifest(1).unwrap();
    assert_eq!(std::path::Path::new(&m.data_files[0].path), want);
    let conn = claims_ops::registry::db::open(&env.home().join("claims.db")).unwrap();
    let run = claims_ops::registry::runs::list(&conn, 1)
        .unwrap()
        .remove(0);
    let args: serde_json::Value = serde_json::from_str(run.args.as_deref().unwrap()).unwrap();
    assert_eq!(
        args["data"][0].as_str().map(std::path::Path::new),
        Some(want.as_path())
    );
}

/// A month's file given again after it was appended to the history (files without ids, so
/// no duplicate id catches it): its rows would sit in training and test at once, so the
/// run is refused naming the copies. Copies inside one file are dropped, and said.
#[test]
fn rows_repeated_across_training_files_are_refused() {
    let env = Env::new();
    let month = env.generate("month_ids.csv", 600, 41);
    let history = env.generate("history_ids.csv", 1500, 42);
    let m = env.path("month.csv");
    std::fs::write(&m, without_column(&month, "application_id")).unwrap();
    let h = env.path("history.csv");
    let mut text = without_column(&history, "application_id");
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(
        std::fs::read_to_string(&m)
            .unwrap()
            .split_once('\n')
            .unwrap()
            .1,
    );
    std::fs::write(&h, &text).unwrap();
    let out = env
        .claims()
        .arg("train")
        .arg("--data")
        .arg(&h)
        .arg("--data")
        .arg(&m)
        .args(FAST)
        .assert()
        .code(3);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("600 row(s) repeat a row of another training file")
            && err.contains("(600 problem(s))")
            && err.contains("... and 581 more")
            && err.contains("month.csv: row 1 (line 2): the same values as")
            && err.contains("history.csv row 1501"),
        "{err}"
    );
    // The history alone holds each month row once: it trains.
    let out = env
        .claims()
        .arg("train")
        .arg("--data")
        .arg(&h)
        .args(FAST)
        .args(["--json"])
        .assert()
        .success();
    let j = last_json(&out.get_output().stdout);
    assert_eq!(j["ok"], true, "{j}");
    // Copies inside one file are dropped before the split.
    let d = env.path("doubled.csv");
    let rows: Vec<&str> = text.lines().collect();
    std::fs::write(&d, rows.join("\n") + "\n" + &rows[1..101].join("\n") + "\n").unwrap();
    let out = env
        .claims()
        .arg("train")
        .arg("--data")
        .arg(&d)
        .args(FAST)
        .args(["--json"])
        .assert()
        .success();
    let j = last_json(&out.get_output().stdout);
    let detail = env.run_detail(j["run_id"].as_str().unwrap());
    assert!(
        detail.contains("100 repeated row(s) dropped (same values as an earlier row of the file)"),
        "{detail}"
    );
    // A warning of the run too, so a scheduler reading --json sees the data shrank.
    let warnings = j["warnings"].to_string();
    assert!(
        warnings.contains("100 row(s) repeat an earlier row of the same file: dropped"),
        "{warnings}"
    );
}
