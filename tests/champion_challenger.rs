//! Champion/challenger through the real binary: the gate refuses a lookalike and a weakened
//! challenger, promotes over a weakened champion, `--json` carries every number, promotion
//! and rollback move the alias that the next predict uses, and shadow mode writes both roles.

mod common;

use claims_ops::sink::Sink;
use common::*;

const WEAK: &str = "[search.space]\nmax_depth = [1]\nn_estimators = [20]\nlearning_rate = [0.05]\n";

fn train(env: &Env, data: &std::path::Path, seed: u64, config: Option<&str>) -> serde_json::Value {
    let mut c = env.claims();
    if let Some(text) = config {
        let p = env.path(&format!("cfg-{seed}-{}.toml", text.len()));
        std::fs::write(&p, text).unwrap();
        c.arg("--config").arg(p);
    }
    let out = c
        .arg("train")
        .arg("--data")
        .arg(data)
        .args([
            "--search-iters",
            "4",
            "--folds",
            "3",
            "--seed",
            &seed.to_string(),
            "--json",
        ])
        .assert()
        .success();
    last_json(&out.get_output().stdout)
}

/// A retrain that changed nothing passes a non-inferiority gate, but auto_promote leaves
/// it: promoting a byte-for-byte copy of the champion would only fill the audit trail.
#[test]
fn auto_promote_leaves_a_copy_of_the_champion() {
    let env = Env::new();
    let data = env.generate("d.csv", 2000, 61);
    let cfg = "[registry]\nauto_promote = true\n[gate]\nmode = \"non_inferiority\"\n";
    train(&env, &data, 1, Some(cfg));
    let j = train(&env, &data, 1, Some(cfg));
    assert_eq!(j["role"], "challenger", "{j}");
    assert_eq!(
        (
            j["gate"]["passed"].as_bool(),
            j["gate"]["promoted"].as_bool()
        ),
        (Some(true), Some(false)),
        "{j}"
    );
    assert!(j["warnings"].to_string().contains("identical to v1"), "{j}");
}

#[test]
fn lookalike_challenger_is_not_significant_and_refused() {
    let env = Env::new();
    let data = env.generate("d.csv", 3000, 51);
    train(&env, &data, 1, None);
    let j = train(&env, &data, 2, None);
    assert_eq!(j["role"], "challenger");
    assert_eq!(j["gate"]["passed"], false);
    let out = env.claims().arg("compare").assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        text.contains("gate: refused: v2 is not promoted") && text.contains("FAIL p-value"),
        "{text}"
    );
    let out = env.claims().args(["compare", "--json"]).assert().success();
    let c = last_json(&out.get_output().stdout);
    assert!(
        c["delong"]["p_value"].as_f64().unwrap() > 0.05,
        "{}",
        c["delong"]
    );
    assert_eq!(
        c["notes"],
        serde_json::json!([]),
        "a lookalike ranks as well as ever"
    );
    assert_eq!(j["warnings"], serde_json::json!([]));
    // Every metric reads the same resamples: Gini's intervals are ROC AUC's, doubled, and
    // their bootstrap p-values are the same.
    let metric = |name: &str| {
        c["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["metric"] == name)
            .unwrap()
            .clone()
    };
    let (roc, gini) = (metric("roc_auc"), metric("gini"));
    for (key, end) in [("diff_ci", "lo"), ("diff_ci", "hi")] {
        let (r, g) = (
            roc[key][end].as_f64().unwrap(),
            gini[key][end].as_f64().unwrap(),
        );
        assert!((2.0 * r - g).abs() < 1e-9, "{roc} {gini}");
    }
    assert_eq!(roc["p_value"], gini["p_value"], "{roc} {gini}");
    // The monthly routine appends rows to the history the models were trained on: the
    // comparison reads the rows they were trained on, and comes out the same.
    let more = env.generate("more.csv", 200, 52);
    let tail: String = std::fs::read_to_string(&more)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| format!("{l}\n"))
        .collect();
    let trained = std::fs::read_to_string(&data).unwrap();
    std::fs::write(&data, format!("{trained}{tail}")).unwrap();
    let out = env.claims().args(["compare", "--json"]).assert().success();
    let again = last_json(&out.get_output().stdout);
    assert_eq!(again["delong"], c["delong"]);
    assert_eq!(again["metrics"], c["metrics"]);
    // A trained-on row edited: refused, with the ways out.
    std::fs::write(&data, trained.replacen(",", ";", 50)).unwrap();
    let out = env.claims().arg("compare").assert().code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("changed since training") && err.contains("restore the file"),
        "{err}"
    );
    assert!(err.contains("promote v2 --reason TEXT`"), "{err}");
}

/// A retrain on labels that say nothing (a third of them flipped, the rest unrelated to the
/// features) is called close to chance, and the comparison says the champion's poor figures
/// there come from the rows, not from the champion.
#[test]
fn a_model_trained_on_noise_is_called_out_and_so_are_the_rows_it_is_compared_on() {
    let env = Env::new();
    let data = env.generate("d.csv", 3000, 53);
    train(&env, &data, 1, None);
    let noisy = env.path("noisy.csv");
    claims_ops::data::generate::write_csv(
        &claims_ops::data::generate::GenSpec {
            rows: 3000,
            seed: 9,
            signal: 0.0,
            label_noise: 0.35,
            // Other applications than d.csv's, so other ids.
            id_offset: 1_000_000,
            ..Default::default()
        },
        &noisy,
    )
    .unwrap();
    let j = train(&env, &noisy, 2, None);
    let warnings = j["warnings"].to_string();
    assert!(warnings.contains("is close to chance (0.5)"), "{warnings}");
    let out = env.claims().args(["compare", "--json"]).assert().success();
    let c = last_json(&out.get_output().stdout);
    let notes = c["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0]
            .as_str()
            .unwrap()
            .starts_with("v1 ranks these rows at ROC AUC"),
        "{notes:?}"
    );
    let out = env.claims().arg("compare").assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(text.contains("note: v1 ranks these rows"), "{text}");
}

#[test]
fn weakened_challenger_refused_weakened_champion_promoted_and_rollback() {
    let env = Env::new();
    let data = env.generate("d.csv", 4000, 52);
    let strong = train(&env, &data, 7, None);
    let weak = train(&env, &data, 7, Some(WEAK));
    assert_eq!(weak["role"], "challenger");
    let gate = &weak["gate"];
    assert_eq!(gate["passed"], false);
    let out = env.claims().args(["compare", "--json"]).assert().success();
    let c = last_json(&out.get_output().stdout);
    assert_eq!(
        c["excluded_rows"], 0,
        "same seed, same data: the champion never saw the test split"
    );
    let p = c["delong"]["p_value"].as_f64().unwrap();
    assert!(p < 0.05, "DeLong p {p}");
    assert!(c["delong"]["z"].as_f64().unwrap() < 0.0);
    // --json carries every number of the table, the test and the decision.
    let metrics = c["metrics"].as_array().unwrap();
    assert_eq!(metrics.len(), 8);
    for m in metrics {
        for k in ["champion", "challenger", "diff", "p_value"] {
            assert!(m[k].is_number(), "{k} in {m}");
        }
        for k in ["champion_ci", "challenger_ci", "diff_ci"] {
            assert!(
                m[k]["lo"].is_number() && m[k]["hi"].is_number(),
                "{k} in {m}"
            );
        }
    }
    assert_eq!(c["decision"]["promote"], false);
    assert!(
        c["decision"]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().starts_with("FAIL"))
    );
    let page = std::path::Path::new(c["report"].as_str().unwrap());
    let html = std::fs::read_to_string(page).unwrap();
    assert!(
        html.contains("DeLong")
            && html.contains("Gate: refused")
            && html.contains("data:image/png;base64,")
    );
    for f in [
        "compare.json",
        "roc.png",
        "roc.svg",
        "pr.png",
        "calibration.png",
        "score_distribution.png",
        "feature_importance.png",
    ] {
        assert!(page.parent().unwrap().join(f).is_file(), "{f}");
    }
    // The gate refused v2: promoting it needs a stated reason, then it is allowed.
    let out = env.claims().args(["promote", "v2"]).assert().code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("the promotion gate refused v2 against v1") && err.contains("--reason"),
        "{err}"
    );
    env.claims()
        .args(["promote", "v2", "--reason", "UAT accepted the trade-off"])
        .assert()
        .success();
    env.claims().args(["rollback"]).assert().success();
    // Both changes of champion are in the log (the console's Logs pane reads it).
    let log = std::fs::read_to_string(env.home().join("logs").join("claims.log")).unwrap();
    assert!(
        log.contains("champion: v1 -> v2 (promoted: override: the gate refused v2")
            && log.contains("UAT accepted the trade-off)")
            && log.contains("champion: v2 -> v1 (rolled back: manual rollback)"),
        "{log}"
    );
    // The new model's own charts live in its version folder (hashed in its manifest).
    let dir = std::path::Path::new(weak["model_dir"].as_str().unwrap());
    for f in [
        "report/roc.png",
        "report/calibration.svg",
        "report/report.html",
    ] {
        assert!(dir.join(f).is_file(), "{f}");
    }

    // A weakened champion: a strong challenger passes the gate and, with auto_promote, takes over.
    let env2 = Env::new();
    let data2 = env2.generate("d.csv", 4000, 52);
    train(&env2, &data2, 7, Some(WEAK));
    let up = train(&env2, &data2, 7, Some("[registry]\nauto_promote = true\n"));
    assert_eq!(up["gate"]["passed"], true, "{}", up["gate"]);
    assert_eq!(up["role"], "champion");
    let day = day_file(&env2, "day.csv", 300, 53, 900_000, 0.0);
    let predict = |env: &Env, date: &str| {
        let out = env
            .claims()
            .arg("predict")
            .arg("--data")
            .arg(&day)
            .args(["--date", date, "--json"])
            .assert()
            .success();
        last_json(&out.get_output().stdout)["result"]["model_version"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(predict(&env2, "2026-10-01"), 2);
    let out = env2
        .claims()
        .args(["rollback", "--reason", "UAT found an issue", "--json"])
        .assert()
        .success();
    let r = last_json(&out.get_output().stdout);
    assert_eq!((r["from"].as_u64(), r["to"].as_u64()), (Some(2), Some(1)));
    assert_eq!(predict(&env2, "2026-10-02"), 1);
    env2.claims()
        .args(["promote", "2", "--reason", "fixed"])
        .assert()
        .success();
    assert_eq!(predict(&env2, "2026-10-03"), 2);
    env2.claims().args(["promote", "2"]).assert().code(2);
    env2.claims().args(["promote", "9"]).assert().code(2);
    // The audit trail says who, when and why.
    let reg = claims_ops::registry::Registry::open(&env2.home()).unwrap();
    let reasons: Vec<String> = reg
        .conn
        .prepare("SELECT reason || '|' || by_user FROM alias_history WHERE alias = 'champion' ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(reasons[2].starts_with("rollback: UAT found an issue|"));
    // A typed reason after a passing gate keeps the gate's pass in the record.
    assert!(
        reasons[3].starts_with("gate passed (") && reasons[3].contains("): fixed|"),
        "{reasons:?}"
    );
    // Rollbacks walk back through the promotions (v2 -> v1), then stop: they do not swap
    // back to the version just rolled back.
    env2.claims()
        .args(["rollback", "--reason", "again"])
        .assert()
        .success();
    let out = env2.claims().args(["rollback"]).assert().code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("v1 has no earlier champion"), "{err}");
    // Versions are accepted as printed (v2) or bare (2); anything else is a usage error,
    // with the JSON summary line under --json.
    env2.claims()
        .args(["promote", "v2", "--reason", "as printed"])
        .assert()
        .success();
    let out = env2
        .claims()
        .args(["--json", "promote", "x2"])
        .assert()
        .code(2);
    let e = json_error(&out.get_output().stdout, 2);
    assert!(e.contains("'x2' is not a model version"), "{e}");
    let _ = strong;
}

#[test]
fn shadow_mode_writes_challenger_rows_and_cost_threshold_is_used() {
    let env = Env::new();
    let data = env.generate("d.csv", 2500, 54);
    train(&env, &data, 1, None);
    let cost =
        "[threshold]\nrule = \"cost\"\ncost_false_negative = 20.0\ncost_false_positive = 1.0\n";
    let j = train(&env, &data, 2, Some(cost));
    let params: serde_json::Value = serde_json::from_slice(
        &std::fs::read(std::path::Path::new(j["model_dir"].as_str().unwrap()).join("params.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(params["threshold_rule"], "cost_optimal_on_validation");
    // Missed claims cost 20x a review: the threshold sits low.
    assert!(j["threshold"].as_f64().unwrap() < 0.3, "{}", j["threshold"]);
    let day = day_file(&env, "day.csv", 400, 55, 700_000, 0.0);
    let cfg = env.path("shadow.toml");
    std::fs::write(&cfg, "[inference]\nshadow = true\n").unwrap();
    let out = env
        .claims()
        .arg("--config")
        .arg(&cfg)
        .arg("predict")
        .arg("--data")
        .arg(&day)
        .args(["--date", "2026-10-05", "--json"])
        .assert()
        .success();
    assert_eq!(
        last_json(&out.get_output().stdout)["result"]["shadow_version"],
        2
    );
    let mut s = claims_ops::sink::sqlite::SqliteSink::open(&env.home().join("claims.db")).unwrap();
    let rows = s.read_day("2026-10-05").unwrap();
    assert_eq!(
        rows.iter()
            .filter(|r| r.role == "champion" && r.model_version == 1)
            .count(),
        400
    );
    assert_eq!(
        rows.iter()
            .filter(|r| r.role == "challenger" && r.model_version == 2)
            .count(),
        400
    );
    // Labels arriving later measure both models on that date, side by side.
    let labelled = env.path("labels.csv");
    let spec = claims_ops::data::generate::GenSpec {
        rows: 400,
        seed: 55,
        id_offset: 700_000,
        ..Default::default()
    };
    claims_ops::data::generate::write_csv(&spec, &labelled).unwrap();
    let out = env
        .claims()
        .arg("feedback")
        .arg("--data")
        .arg(&labelled)
        .arg("--json")
        .assert()
        .success();
    let j = last_json(&out.get_output().stdout);
    let measured: Vec<(i64, i64)> = j["result"]["dates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["model_version"].as_i64().unwrap(),
                d["rows"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(measured, vec![(1, 400), (2, 400)], "{j}");
    // A rerun of the date without shadow mode replaces all its rows: no stale challenger.
    env.claims()
        .arg("predict")
        .arg("--data")
        .arg(&day)
        .args(["--date", "2026-10-05"])
        .assert()
        .success();
    let rows = s.read_day("2026-10-05").unwrap();
    assert_eq!(rows.len(), 400);
    assert!(rows.iter().all(|r| r.role == "champion"));
    // Promoted, v2 leaves no challenger: shadow mode says so instead of doing nothing.
    env.claims()
        .args(["promote", "v2", "--reason", "test"])
        .assert()
        .success();
    let out = env
        .claims()
        .arg("--config")
        .arg(&cfg)
        .args(["predict", "--data"])
        .arg(&day)
        .args(["--date", "2026-10-06"])
        .assert()
        .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("inference.shadow is on, but there is no challenger"),
        "{err}"
    );
}

/// The champion's training rows are recognised by their values, not by ids made from the
/// file name: the same rows under another file name (no id column) are left out of the
/// comparison. Too few rows left is a gate refusal with its reason, and the training run
/// still succeeds with its model registered.
#[test]
fn rows_the_champion_saw_are_known_by_content_and_too_few_left_is_a_refusal() {
    let env = Env::new();
    let full = env.generate("full.csv", 2000, 53);
    let a = env.path("a.csv");
    std::fs::write(&a, without_column(&full, "application_id")).unwrap();
    let b = env.path("b.csv");
    std::fs::copy(&a, &b).unwrap();
    train(&env, &a, 1, None);
    let j = train(&env, &b, 2, None);
    let note = j["gate"]["rows_note"].as_str().unwrap();
    let test = 300;
    let excluded: usize = note
        .split(" rows, ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{note}"));
    // 85% of the rows were v1's training or validation rows.
    assert!(excluded > test * 7 / 10, "{note}");

    // 400 rows: ~60 test rows, ~9 of them new to v1.
    let small = env.path("small.csv");
    let text = std::fs::read_to_string(&a).unwrap();
    let head: Vec<&str> = text.lines().take(401).collect();
    std::fs::write(&small, head.join("\n") + "\n").unwrap();
    let small2 = env.path("small2.csv");
    std::fs::copy(&small, &small2).unwrap();
    let env2 = Env::new();
    let t = |p: &std::path::Path, seed: u64| {
        env2.claims()
            .arg("train")
            .arg("--data")
            .arg(p)
            .args([
                "--search-iters",
                "2",
                "--folds",
                "2",
                "--seed",
                &seed.to_string(),
                "--json",
            ])
            .assert()
            .success()
    };
    t(&small, 1);
    let out = t(&small2, 2);
    let j = last_json(&out.get_output().stdout);
    assert_eq!(j["role"], "challenger", "{j}");
    assert_eq!(j["gate"]["passed"], false, "{j}");
    let reasons = j["gate"]["reasons"].to_string();
    assert!(reasons.contains("too few to compare"), "{reasons}");
}

/// The same applications re-exported with rounded values have other fingerprints, but the
/// champion learned from them (and from their labels): they are left out by id, and the
/// note says how many; without ids (the first test above) only exact rows can be.
#[test]
fn rows_re_exported_with_other_values_are_known_by_application_id() {
    let env = Env::new();
    let data = env.generate("d.csv", 2000, 58);
    train(&env, &data, 1, None);
    // A re-export that keeps six decimals of one column.
    let k = col(&data, "financial_hist_4");
    let rounded = env.path("rounded.csv");
    edit_rows(&data, &rounded, |_, f| {
        if let Ok(v) = f[k].parse::<f64>() {
            f[k] = format!("{v:.6}");
        }
    });
    let j = train(&env, &rounded, 2, None);
    let note = j["gate"]["rows_note"].as_str().unwrap();
    let left_out = |note: &str| -> usize {
        note.split(" rows, ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{note}"))
    };
    assert!(left_out(note) > 300 * 7 / 10, "{note}");
    assert!(note.contains("by application id alone"), "{note}");
    // The same retrain on the file as it was leaves out the same rows, by content.
    let env2 = Env::new();
    train(&env2, &data, 1, None);
    let copy = env2.path("copy.csv");
    std::fs::copy(&data, &copy).unwrap();
    let j2 = train(&env2, &copy, 2, None);
    let note2 = j2["gate"]["rows_note"].as_str().unwrap();
    assert_eq!(left_out(note), left_out(note2), "{note} / {note2}");
    assert!(!note2.contains("by application id alone"), "{note2}");
}

/// The same re-export without an id column (as the seed file has none): the rows are
/// known by their values rounded to 4 significant digits, or by their categories and whole
/// numbers when rounded to fewer, and exactly the rows of a same-bytes retrain are left out
/// (they were all compared before, favouring the champion).
#[test]
fn rows_re_exported_without_ids_are_known_by_rounded_values() {
    let env0 = Env::new();
    let with_ids = env0.generate("d.csv", 2000, 58);
    let data = env0.path("noids.csv");
    std::fs::write(&data, without_column(&with_ids, "application_id")).unwrap();
    let env2 = Env::new();
    train(&env2, &data, 1, None);
    let copy = env2.path("copy.csv");
    std::fs::copy(&data, &copy).unwrap();
    let j2 = train(&env2, &copy, 2, None);
    let note2 = j2["gate"]["rows_note"].as_str().unwrap();
    let compared = |n: &str| n.rsplit(", ").next().unwrap_or_default().to_string();
    let cols: Vec<usize> = ["financial_hist_1", "financial_hist_4", "insurance_hist_2"]
        .iter()
        .map(|c| col(&data, c))
        .collect();
    // To 6 decimals: by the rounded values; to 2 (a decimal(10,2) column): by the
    // categories and whole numbers, which tell this data's rows apart.
    for (decimals, by) in [
        (6, "by values equal to 4 significant digits"),
        (2, "by the same categories and whole numbers"),
    ] {
        let env = Env::new();
        train(&env, &data, 1, None);
        let rounded = env.path("rounded.csv");
        edit_rows(&data, &rounded, |_, f| {
            for &k in &cols {
                if let Ok(v) = f[k].parse::<f64>() {
                    f[k] = format!("{v:.decimals$}");
                }
            }
        });
        let j = train(&env, &rounded, 2, None);
        let note = j["gate"]["rows_note"].as_str().unwrap().to_string();
        assert_eq!(compared(&note), compared(note2), "{note} / {note2}");
        assert!(note.contains(by), "{note}");
    }
}

/// A file with repeated rows: training drops the copies (and says how many carry the other
/// label, as a warning of the run), and `compare` rebuilds the split from the same rows, so a retrain on the same
/// file is compared on its real test split and none of its training rows.
#[test]
fn repeated_rows_are_dropped_alike_in_training_and_in_the_comparison() {
    let env = Env::new();
    let full = env.generate("full.csv", 2000, 53);
    let label = col(&full, "claim_status");
    let text = std::fs::read_to_string(&full).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    for (i, l) in lines[1..151].iter().enumerate() {
        let mut f: Vec<String> = l.split(',').map(str::to_string).collect();
        f[0] = format!("COPY{i}");
        if i < 20 {
            f[label] = if f[label] == "0" { "1" } else { "0" }.into();
        }
        out.push(f.join(","));
    }
    let data = env.path("dup.csv");
    std::fs::write(&data, out.join("\n") + "\n").unwrap();
    let first = env
        .claims()
        .arg("train")
        .arg("--data")
        .arg(&data)
        .args(["--search-iters", "3", "--folds", "3", "--seed", "1"])
        .assert()
        .success();
    let err = String::from_utf8_lossy(&first.get_output().stderr).to_string();
    assert!(
        err.contains("150 repeated row(s) dropped")
            && err.contains("20 of them with the other label"),
        "{err}"
    );
    let j = train(&env, &data, 1, None);
    assert_eq!(j["role"], "challenger", "{j}");
    // The labelling problem is one of the run's warnings, not only a log line.
    let warnings = j["warnings"].to_string();
    assert!(
        warnings.contains("20 repeated row(s) have a different label"),
        "{warnings}"
    );
    // v2 is v1 trained again: the same split, so v1 saw none of v2's 300 test rows.
    assert_eq!(
        j["gate"]["rows_note"],
        "v2's test split: 300 rows, 0 left out because v1 trained or early-stopped on them, 300 compared",
        "{j}"
    );
}

/// A model folder left by a registration that was killed before its database commit does
/// not block the next training run: it is moved aside and the version is reused.
#[test]
fn an_orphan_model_folder_is_moved_aside() {
    let env = Env::new();
    train_small(&env);
    let orphan = env.home().join("models").join("v2");
    std::fs::create_dir_all(&orphan).unwrap();
    std::fs::write(orphan.join("model.json"), "half-written").unwrap();
    let data = env.generate("t2.csv", 2000, 32);
    let j = train(&env, &data, 3, None);
    assert_eq!(j["model_version"], 2, "{j}");
    let aside: Vec<_> = std::fs::read_dir(env.home().join("models"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(".orphan-v2-"))
        .collect();
    assert_eq!(aside.len(), 1);
    env.claims().args(["models", "--verify"]).assert().success();
    // The same training again, against v2 as the champion: registered, and said to be
    // identical; its gate's tolerance lines read "unchanged", not "better by -0.0000".
    env.claims()
        .args(["promote", "v2", "--reason", "identical retrain check"])
        .assert()
        .success();
    let j = train(&env, &data, 3, None);
    assert_eq!(j["model_version"], 3, "{j}");
    assert!(j["warnings"].to_string().contains("identical to v2"), "{j}");
    let v3_threshold = j["threshold"].clone();
    let gate = j["gate"].to_string();
    assert!(gate.contains("(unchanged; tolerance for worse"), "{gate}");
    assert!(!gate.contains("-0.0000"), "{gate}");
    // The same trees under another threshold rule decide differently: not "identical".
    let cost =
        "[threshold]\nrule = \"cost\"\ncost_false_negative = 20.0\ncost_false_positive = 1.0\n";
    let j = train(&env, &data, 3, Some(cost));
    assert_ne!(j["threshold"], v3_threshold, "{j}");
    assert!(!j["warnings"].to_string().contains("identical"), "{j}");
}

/// Promotion follows the gate: a version never compared with the current champion needs a
/// reason, an override of a refusal is recorded as one (with the gate's settings), and the
/// history is shown by `claims models`.
#[test]
fn promotion_without_a_gate_verdict_needs_a_reason_and_the_audit_says_which() {
    let env = Env::new();
    let data = env.generate("d.csv", 2000, 57);
    train(&env, &data, 1, None);
    let j = train(&env, &data, 2, None);
    assert_eq!(j["gate"]["passed"], false, "{j}");
    let day = day_file(&env, "day.csv", 300, 5, 70_000, 0.0);
    let score = |env: &Env| {
        let out = env
            .claims()
            .arg("predict")
            .arg("--data")
            .arg(&day)
            .args(["--date", "2026-04-01"])
            .assert()
            .success();
        String::from_utf8_lossy(&out.get_output().stdout).to_string()
    };
    score(&env);
    env.claims()
        .args(["promote", "v2", "--reason", "UAT accepted"])
        .assert()
        .success();
    // A retry of the date after the promotion rescores it with the new champion: said.
    let text = score(&env);
    assert!(
        text.contains(
            "replaced: the date's 300 earlier predictions (scored by v1; now by champion v2)"
        ),
        "{text}"
    );
    let j = train(&env, &data, 3, None); // compared with v2, the champion now
    assert!(j["replaced_challenger"].is_null(), "{j}"); // v2 was the champion
    // A version whose model file was edited cannot become the champion, by rollback or by
    // promotion: the champion stays, and scoring keeps working.
    let model = env.home().join("models/v1/model.json");
    let good = std::fs::read(&model).unwrap();
    std::fs::write(&model, b"{}").unwrap();
    for args in [
        &["rollback", "--reason", "back to v1"][..],
        &["promote", "v1", "--reason", "back to v1"][..],
    ] {
        let out = env.claims().args(args).assert().code(1);
        let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(
            err.contains("v1 cannot become the champion") && err.contains("unchanged"),
            "{err}"
        );
    }
    let reg = claims_ops::registry::Registry::open(&env.home()).unwrap();
    assert_eq!(reg.alias("champion").unwrap(), Some(2));
    drop(reg);
    std::fs::write(&model, good).unwrap();
    env.claims()
        .args(["rollback", "--reason", "back to v1"])
        .assert()
        .success();
    let out = env.claims().args(["promote", "v3"]).assert().code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("v3 was never compared with the champion v1"),
        "{err}"
    );
    // A pass under a looser gate than the config's (`compare --config loose.toml`) is no
    // pass for a plain `promote`: it must be compared under the config, or given a reason.
    let loose = env.path("loose.toml");
    std::fs::write(
        &loose,
        "[gate]\nmode = \"non_inferiority\"\nnon_inferiority_margin = 0.5\nmin_class_rows = 2\n[gate.max_worse]\nlog_loss = 10.0\nbrier = 1.0\nece = 1.0\n",
    )
    .unwrap();
    let out = env
        .claims()
        .arg("--config")
        .arg(&loose)
        .args(["compare", "--challenger", "v3", "--json"])
        .assert()
        .success();
    let j = last_json(&out.get_output().stdout);
    assert_eq!(j["decision"]["promote"], true, "{j}");
    let out = env.claims().args(["promote", "v3"]).assert().code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("v3 passed the gate against v1")
            && err.contains("under other settings than this config's")
            && err.contains("non-inferiority on roc_auc, margin 0.5")
            && err.contains("at least 2 of each class"),
        "{err}"
    );
    env.claims()
        .arg("--config")
        .arg(&loose)
        .args(["promote", "v3"])
        .assert()
        .success();
    let reg = claims_ops::registry::Registry::open(&env.home()).unwrap();
    let reasons: Vec<String> = reg
        .conn
        .prepare("SELECT reason FROM alias_history WHERE alias = 'champion' ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        reasons[1].starts_with("override: the gate refused v2 against v1")
            && reasons[1].contains("superiority on roc_auc, max_p_value 0.05")
            && reasons[1].ends_with(": UAT accepted"),
        "{reasons:?}"
    );
    assert!(
        reasons[3].starts_with("gate passed (") && reasons[3].contains("margin 0.5"),
        "{reasons:?}"
    );
    let out = env.claims().arg("models").assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        text.contains("champion history") && text.contains("rollback: back to v1"),
        "{text}"
    );
}

/// A retrain while a challenger waits takes its alias: the output says which version it
/// replaced (it keeps no alias, and can still be promoted by version).
#[test]
fn a_newer_challenger_says_which_one_it_replaced() {
    let env = Env::new();
    let data = env.generate("d.csv", 2000, 58);
    // A passing gate would promote: keep each new version a challenger.
    let keep = Some("[registry]\nauto_promote = false\n");
    train(&env, &data, 1, keep);
    assert!(train(&env, &data, 2, keep)["replaced_challenger"].is_null());
    assert_eq!(train(&env, &data, 3, keep)["replaced_challenger"], 2);
    let cfg = env.path("keep.toml");
    std::fs::write(&cfg, "[registry]\nauto_promote = false\n").unwrap();
    let out = env
        .claims()
        .arg("--config")
        .arg(&cfg)
        .args(["train", "--data"])
        .arg(&data)
        .args(["--search-iters", "4", "--folds", "3", "--seed", "4"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        text.contains("model v4 registered as challenger")
            && text.contains("it replaces v3 as challenger (v3 keeps no alias"),
        "{text}"
    );
}

/// A user config's `schema.drop` removes a default feature: a file without the column
/// trains. The champion that still uses it cannot be compared on the new model's rows
/// (said, exit 2, with the way out), and scoring under the config that drops it is
/// refused before any row is read (exit 2, naming the champion and the column).
#[test]
fn a_feature_removed_by_config_is_said_at_compare_and_predict() {
    let env = Env::new();
    train_small(&env);
    let full = env.generate("more.csv", 2000, 32);
    let data = env.path("no_bmi.csv");
    std::fs::write(&data, without_column(&full, "bmi")).unwrap();
    let cfg = env.path("no_bmi.toml");
    std::fs::write(
        &cfg,
        "[schema]\ndrop = [\"family_history_3\", \"employment_type\", \"insurance_hist_2\", \"insurance_hist_3\", \"bmi\"]\n",
    )
    .unwrap();
    env.claims()
        .arg("--config")
        .arg(&cfg)
        .args(["train", "--data"])
        .arg(&data)
        .args(FAST)
        .assert()
        .success();
    let out = env.claims().arg("compare").assert().code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("v1 uses numeric column 'bmi', which v2 was trained without")
            && err.contains("promote v2 --reason"),
        "{err}"
    );
    let out = env
        .claims()
        .arg("--config")
        .arg(&cfg)
        .args(["predict", "--date", "2026-03-01", "--data"])
        .arg(&data)
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("champion v1 uses numeric column 'bmi'") && err.contains("schema.drop"),
        "{err}"
    );
    assert!(!err.contains("contract"), "refused before the rows: {err}");
    // The other way round, a shadow challenger that uses the dropped column is left out
    // of the day (said), not a failed day: v2 (without bmi) champion, v3 (with) challenger.
    env.claims()
        .args(["promote", "v2", "--reason", "bmi is gone"])
        .assert()
        .success();
    env.claims()
        .args(["train", "--data"])
        .arg(&full)
        .args(FAST)
        .assert()
        .success();
    let shadow = env.path("no_bmi_shadow.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&shadow, format!("{text}[inference]\nshadow = true\n")).unwrap();
    let out = env
        .claims()
        .arg("--config")
        .arg(&shadow)
        .args(["--json", "predict", "--date", "2026-03-01", "--data"])
        .arg(&data)
        .assert()
        .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("shadow challenger v3 uses numeric column 'bmi'"),
        "{err}"
    );
    let result = &last_json(&out.get_output().stdout)["result"];
    assert_eq!(result["model_version"], 2);
    assert!(result["shadow_version"].is_null(), "{result}");
}
