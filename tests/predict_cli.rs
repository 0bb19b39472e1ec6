//! Daily inference through the real binary: idempotent reruns (also across a kill -9 in
//! the middle of the write), quarantine, file-level refusals, drift alerts, reason codes,
//! and identical rows in SQLite and a real PostgreSQL.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use claims_ops::sink::{self, Sink};
use common::*;

/// `claims predict --data FILE ARGS...`, asserted on by the caller.
fn predict(env: &Env, data: &std::path::Path, args: &[&str]) -> assert_cmd::assert::Assert {
    env.claims()
        .arg("predict")
        .arg("--data")
        .arg(data)
        .args(args)
        .assert()
}

fn sqlite_rows(env: &Env, date: &str) -> Vec<claims_ops::sink::PredictionRow> {
    let mut s = sink::sqlite::SqliteSink::open(&env.home().join("claims.db")).unwrap();
    s.read_day(date).unwrap()
}

#[test]
fn rerun_replaces_the_date_and_reasons_are_stored() {
    let env = Env::new();
    train_small(&env);
    let a = day_file(&env, "a.csv", 800, 1, 10_000, 0.0);
    let b = day_file(&env, "b.csv", 600, 2, 20_000, 0.0);
    predict(&env, &a, &["--date", "2026-03-02"]).success();
    // The same file for a second date is scored, with a warning naming the first.
    let out = predict(&env, &a, &["--date", "2026-03-03"]).success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        text.contains(
            "warning: the same file contents were scored for 2026-03-02 too (run predict-"
        ),
        "{text}"
    );
    // Printed once: in the result, not again as a log line on stderr (the log file has it).
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(!err.contains("the same file contents"), "{err}");
    let log = std::fs::read_to_string(env.home().join("logs").join("claims.log")).unwrap();
    assert!(log.contains("the same file contents were scored for 2026-03-02"));
    // Into another sink (a trial table) it counts nowhere twice: no warning.
    let trial = format!("sqlite:{}", env.path("trial.db").display());
    let out = predict(&env, &a, &["--date", "2026-03-04", "--sink", &trial]).success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(!text.contains("warning:"), "{text}");
    assert_eq!(sqlite_rows(&env, "2026-03-02").len(), 800);
    // The same file again (a retry): replaced, and the output says whose rows went.
    let out = predict(&env, &a, &["--date", "2026-03-02"]).success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        text.contains("replaced: the date's 800 earlier predictions, from run predict-")
            && text.contains(&format!("which scored {}", a.display())),
        "{text}"
    );
    // The same contents under another name go ahead (compared by SHA-256, not path) ...
    let c = env.path("c.csv");
    std::fs::copy(&a, &c).unwrap();
    predict(&env, &c, &["--date", "2026-03-02"]).success();
    // ... and other contents at the same path (a drop file reused every day) do not.
    std::fs::copy(&b, &c).unwrap();
    let out = predict(&env, &c, &["--date", "2026-03-02"]).code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("is other contents at the same path"), "{err}");
    let first_run = sqlite_rows(&env, "2026-03-02")[0].run_id.clone();
    // A missing file or a folder on a scored date: the same usage error (exit 2) as on a
    // new date, not an I/O error a scheduler would retry.
    for (path, says) in [
        (env.path("gone.csv"), "does not exist"),
        (env.home(), "is a folder"),
    ] {
        let out = predict(&env, &path, &["--date", "2026-03-02"]).code(2);
        let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(err.contains(says), "{err}");
        // The run's stage rows end with the stage it failed in.
        let conn = claims_ops::registry::db::open(&env.home().join("claims.db")).unwrap();
        let last = claims_ops::registry::runs::list(&conn, 1)
            .unwrap()
            .remove(0);
        let page = env.run_detail(&last.run_id);
        assert!(
            page.contains("load ") && page.contains("FAILED: ") && page.contains(says),
            "{page}"
        );
    }
    // Another file on a scored date (a mistyped --date): refused, exit 2, nothing written.
    let out = predict(&env, &b, &["--date", "2026-03-02"]).code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains(&format!(
            "2026-03-02 already holds 800 predictions from run {first_run}, which scored {}",
            c.display()
        )) && err.contains(&format!(
            "`claims --home {} predict --data {} --date 2026-03-02 --force`",
            claims_ops::shell_word(&env.home().display().to_string()),
            claims_ops::shell_word(&b.display().to_string())
        )),
        "{err}"
    );
    let kept = sqlite_rows(&env, "2026-03-02");
    assert!(kept.len() == 800 && kept.iter().all(|r| r.run_id == first_run));
    // A date after today is refused (a mistyped year would become the sink's latest date
    // for good), nothing written; with --force it is scored, with a warning.
    let c = day_file(&env, "c.csv", 50, 3, 90_000, 0.0);
    let out = predict(&env, &c, &["--date", "2099-01-01"]).code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("2099-01-01 is after today (")
            && err.contains("was --date mistyped? Nothing was written.")
            && err.contains(&format!(
                "`claims --home {} predict --data {} --date 2099-01-01 --force`",
                claims_ops::shell_word(&env.home().display().to_string()),
                claims_ops::shell_word(&c.display().to_string())
            )),
        "{err}"
    );
    assert!(sqlite_rows(&env, "2099-01-01").is_empty());
    let out = predict(&env, &c, &["--date", "2099-01-01", "--force", "--json"]).success();
    let j = last_json(&out.get_output().stdout);
    let w = j["result"]["warnings"].to_string();
    assert!(w.contains("2099-01-01 is after today"), "{w}");
    // With --force, the date holds exactly the new run's rows.
    let out = predict(&env, &b, &["--date", "2026-03-02", "--force", "--json"]).success();
    let j = last_json(&out.get_output().stdout);
    assert_eq!(j["result"]["replaced"]["run_id"], first_run.as_str(), "{j}");
    assert_eq!(j["result"]["replaced"]["rows"], 800, "{j}");
    let rows = sqlite_rows(&env, "2026-03-02");
    assert_eq!(rows.len(), 600);
    assert!(
        rows.iter()
            .all(|r| r.run_id == j["result"]["run_id"].as_str().unwrap())
    );
    let mut ids: Vec<&str> = rows.iter().map(|r| r.application_id.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 600);
    assert_eq!(
        sqlite_rows(&env, "2026-03-03").len(),
        800,
        "other dates untouched"
    );
    // Reasons: up to 3 features, explaining the decision: for a predicted claim what
    // pushed the score up (positive contributions, largest first), otherwise what kept
    // it down (negative ones, most negative first).
    let mut directions = (0, 0);
    for r in &rows {
        let reasons: serde_json::Value = serde_json::from_str(&r.top_reasons).unwrap();
        let list = reasons.as_array().unwrap();
        assert!(list.len() <= 3);
        assert_eq!(r.predicted_claim, r.score >= r.threshold);
        let c: Vec<f64> = list
            .iter()
            .map(|x| x["contribution"].as_f64().unwrap())
            .collect();
        assert!(list.iter().all(|x| x["feature"].is_string()));
        if r.predicted_claim {
            assert!(
                c.iter().all(|&v| v > 0.0) && c.windows(2).all(|w| w[0] >= w[1]),
                "{c:?}"
            );
            directions.0 += 1;
        } else {
            assert!(
                c.iter().all(|&v| v < 0.0) && c.windows(2).all(|w| w[0] <= w[1]),
                "{c:?}"
            );
            directions.1 += 1;
        }
    }
    assert!(directions.0 > 0 && directions.1 > 0, "{directions:?}");
    // `claims explain ID`: a handler's lookup of one application, as the table holds it.
    for r in [
        rows.iter().find(|r| r.predicted_claim).unwrap(),
        rows.iter().find(|r| !r.predicted_claim).unwrap(),
    ] {
        let out = env
            .claims()
            .args(["explain", &r.application_id, "--json"])
            .assert()
            .success();
        let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
        let heading = if r.predicted_claim {
            "what raised the score most"
        } else {
            "what kept the score down most"
        };
        // From the model's base score (read from the registry) to the row's own log-odds.
        let logit = (r.score / (1.0 - r.score)).ln();
        assert!(
            text.contains(&format!("score {:.4} against threshold", r.score))
                && text.contains(heading)
                && text.contains("where every application of v1 starts")
                && text.contains("all other features")
                && text.contains(&format!("(log-odds {logit:+.3})"))
                && text.contains("; threshold F1-optimal on validation"),
            "{text}"
        );
        let j = last_json(&out.get_output().stdout);
        // The JSON adds up as the text does: base + listed reasons + the rest = log-odds.
        let sum = &j["scores"][0]["reasons_sum"];
        let listed: f64 = j["scores"][0]["top_reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["contribution"].as_f64().unwrap())
            .sum();
        let total = sum["base_log_odds"].as_f64().unwrap()
            + listed
            + sum["other_features"].as_f64().unwrap();
        assert!((total - logit).abs() < 1e-9, "{sum}");
        let dates: Vec<&str> = j["scores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["business_date"].as_str().unwrap())
            .collect();
        assert_eq!(dates, ["2026-03-02"], "{j}");
    }
    // An unknown id: exit 2, with the ids that contain it on that date.
    let part = &rows[0].application_id[..rows[0].application_id.len() - 1];
    let out = env
        .claims()
        .args(["explain", part, "--date", "2026-03-02"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("no champion score stored") && err.contains("ids containing it"),
        "{err}"
    );
    // A real id asked about on a date that did not score it: the date that did is named;
    // pasted with spaces around it, that is said too.
    let id = &rows[0].application_id;
    let out = env
        .claims()
        .args(["explain", &format!(" {id}"), "--date", "2026-03-01"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("the id given has spaces around it"), "{err}");
    let out = env
        .claims()
        .args(["explain", id, "--date", "2026-03-01"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains(&format!(
            "it was scored on 2026-03-02 ({}",
            hint(&env, &format!("explain '{id}' --date 2026-03-02`"))
        )),
        "{err}"
    );
    // `claims runs RUN_ID` shows the highest scores with their reasons.
    let shown = env
        .claims()
        .args(["runs", j["result"]["run_id"].as_str().unwrap()])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&shown.get_output().stdout).to_string();
    assert!(
        text.contains("top reasons") && text.contains("(+"),
        "{text}"
    );
}

#[test]
fn kill_9_while_rows_stream_in_leaves_the_old_rows() {
    let env = Env::new();
    train_small(&env);
    let old = day_file(&env, "old.csv", 2_000, 3, 100_000, 0.0);
    let new = day_file(&env, "new.csv", 150_000, 4, 500_000, 0.0);
    env.claims()
        .arg("predict")
        .arg("--data")
        .arg(&old)
        .args(["--date", "2026-04-01"])
        .assert()
        .success();
    let before = sqlite_rows(&env, "2026-04-01");
    assert_eq!(before.len(), 2_000);

    let bin = assert_cmd::cargo::cargo_bin("claims");
    let mut child = Command::new(bin)
        .arg("--home")
        .arg(env.home())
        .arg("predict")
        .arg("--data")
        .arg(&new)
        .args(["--date", "2026-04-01", "--force"])
        .env_remove("CLAIMS_HOME")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Progress events are JSON lines on stderr when it is not a terminal: kill as soon as
    // the first batch of new rows is in the open transaction (more are still to come).
    let stderr = child.stderr.take().unwrap();
    let mut killed_in_write = false;
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        if line.contains("\"stage\":\"score\"") && line.contains("scored and wrote 25000/") {
            child.kill().unwrap(); // SIGKILL
            killed_in_write = true;
            break;
        }
    }
    let status = child.wait().unwrap();
    assert!(killed_in_write, "never saw the first batch written");
    assert!(
        !status.success(),
        "the run finished before the kill; make the file larger"
    );
    let after = sqlite_rows(&env, "2026-04-01");
    assert_eq!(
        after, before,
        "a killed write must leave exactly the old rows"
    );

    env.claims()
        .arg("predict")
        .arg("--data")
        .arg(&new)
        .args(["--date", "2026-04-01", "--force"])
        .assert()
        .success();
    let rows = sqlite_rows(&env, "2026-04-01");
    assert_eq!(rows.len(), 150_000);
    assert!(
        rows.iter()
            .all(|r| r.application_id.as_str() >= "APP00500000")
    );
}

#[test]
fn bad_rows_are_quarantined_and_the_rest_scored() {
    let env = Env::new();
    train_small(&env);
    let good = day_file(&env, "good.csv", 1000, 5, 30_000, 0.0);
    let (age, marital, id) = (
        col(&good, "age"),
        col(&good, "marital_status"),
        col(&good, "application_id"),
    );
    let bad = env.path("day_3pct_bad.csv");
    // 30 bad rows (3%): every 33rd row, with three kinds of problems.
    edit_rows(&good, &bad, |i, f| {
        if i % 33 == 5 && i < 990 {
            match (i / 33) % 3 {
                0 => f[age] = "old".into(),
                1 => f[marital] = "Z".into(),
                _ => f[id] = "APP00030000".into(), // duplicate of row 1
            }
        }
    });
    let out = env
        .claims()
        .arg("predict")
        .arg("--data")
        .arg(&bad)
        .args(["--date", "2026-05-01", "--json"])
        .assert()
        .success();
    let j = last_json(&out.get_output().stdout);
    assert_eq!(j["result"]["rows_quarantined"], 30);
    assert_eq!(j["result"]["rows_scored"], 970);
    let mut s = sink::sqlite::SqliteSink::open(&env.home().join("claims.db")).unwrap();
    let q = s.read_quarantine("2026-05-01").unwrap();
    assert_eq!(q.len(), 30);
    let expected_rows: Vec<i64> = (0..1000)
        .filter(|i| i % 33 == 5 && *i < 990)
        .map(|i| i as i64 + 1)
        .collect();
    assert_eq!(
        q.iter().map(|r| r.row_number).collect::<Vec<_>>(),
        expected_rows
    );
    assert!(
        q.iter()
            .any(|r| r.reason.contains("age: value 'old' is not a number"))
    );
    assert!(
        q.iter()
            .any(|r| r.reason.contains("marital_status: unknown category 'Z'"))
    );
    assert!(
        q.iter()
            .any(|r| r.reason.contains("duplicate id 'APP00030000'"))
    );
    assert!(q.iter().all(|r| r.raw.split(',').count() == 41));
    assert_eq!(sqlite_rows(&env, "2026-05-01").len(), 970);
    // A labelled file scored as is: its label column is not used, so a bad label is not a
    // reason to quarantine the row.
    let labelled = env.generate("labelled.csv", 200, 9);
    let label = col(&labelled, "claim_status");
    let odd = env.path("labelled_odd.csv");
    edit_rows(&labelled, &odd, |i, f| {
        if i < 3 {
            f[label] = ["yes", "", "2"][i].into();
        }
    });
    let out = predict(&env, &odd, &["--date", "2026-05-09", "--json"]).success();
    let lj = last_json(&out.get_output().stdout);
    assert_eq!(lj["result"]["rows_quarantined"], 0, "{lj}");
    assert_eq!(lj["result"]["rows_scored"], 200, "{lj}");
    // A handler asking about a quarantined application learns why it has no score.
    let out = env
        .claims()
        .args(["explain", "APP00030005", "--json"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        text.contains(&format!(
            "2026-05-01: not scored, quarantined (row 6, line 7 of {}): age: value 'old' is not a number",
            bad.display()
        )),
        "{text}"
    );
    let e = last_json(&out.get_output().stdout);
    assert_eq!(e["quarantined"][0]["row_number"], 6, "{e}");
    assert_eq!(e["scores"].as_array().map(Vec::len), Some(0), "{e}");
    // An id on two rows: the second is quarantined, and the score shown is the first's.
    let out = env
        .claims()
        .args(["explain", "APP00030000", "--date", "2026-05-01"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        text.contains("duplicate id 'APP00030000'")
            && text.contains("; the score below is the id's other row")
            && text.contains("score "),
        "{text}"
    );
    // The run's details show its input and its quarantined rows with their reasons.
    let run_id = j["result"]["run_id"].as_str().unwrap();
    let shown = env.run_detail(run_id);
    assert!(
        shown.contains(&format!("data {}", bad.display()))
            && shown.contains("date 2026-05-01")
            && shown.contains("30 row(s) quarantined (table quarantine), the first 10:")
            && shown
                .contains("row 6 (line 7)         APP00030005    age: value 'old' is not a number"),
        "{shown}"
    );

    // Above the 5% limit: exit 3 and nothing written for that date.
    let worse = env.path("day_10pct_bad.csv");
    edit_rows(&good, &worse, |i, f| {
        if i % 10 == 0 {
            f[age] = "x".into()
        }
    });
    let out = env
        .claims()
        .arg("predict")
        .arg("--data")
        .arg(&worse)
        .args(["--date", "2026-05-02", "--json"])
        .assert()
        .code(3);
    // The failure's JSON summary names the run it recorded.
    let failed_json = last_json(&out.get_output().stdout);
    assert_eq!(failed_json["ok"], false, "{failed_json}");
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("100 of 1000 rows (10.0%)")
            && err.contains("limit of 5.0%")
            && err.contains("the data contract (100 problem(s))"),
        "{err}"
    );
    assert!(sqlite_rows(&env, "2026-05-02").is_empty());
    // The failed run's stage table ends with the stage that failed.
    let runs = env.claims().args(["runs", "--json"]).assert().success();
    let failed = last_json(&runs.get_output().stdout)["runs"][0]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(failed_json["run_id"], failed.as_str());
    let shown = env.run_detail(&failed);
    assert!(
        shown.contains("contract") && shown.contains("FAILED: input violates the data contract"),
        "{shown}"
    );
    // The list shows each run's time and what a triager wants first: a failed run's error,
    // a scoring run's date, and that older runs exist.
    let out = env
        .claims()
        .args(["runs", "--limit", "2"])
        .assert()
        .success();
    let list = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let line = list.lines().find(|l| l.starts_with(&failed)).unwrap_or("");
    assert!(
        line.contains(
            " s  2026-05-02: 100 of 1000 rows (10.0%) fail the contract, above the limit"
        ),
        "{list}"
    );
    assert!(list.contains("(2 most recent of "), "{list}");
}

/// A row with the wrong number of fields, or a byte that is not UTF-8, is quarantined with
/// its reason and text like any bad row; the rest of the day is scored, and the rows after
/// it keep their numbers.
#[test]
fn malformed_rows_are_quarantined_not_fatal() {
    let env = Env::new();
    train_small(&env);
    let good = day_file(&env, "good.csv", 400, 6, 60_000, 0.0);
    let text = std::fs::read(&good).unwrap();
    let mut lines: Vec<Vec<u8>> = text.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    lines[7].extend_from_slice(b",extra"); // data row 7: one field too many
    let k = col(&good, "occupation");
    let mut fields: Vec<Vec<u8>> = lines[20]
        .split(|&b| b == b',')
        .map(<[u8]>::to_vec)
        .collect();
    fields[k].push(0xe9); // data row 20: a Latin-1 byte
    lines[20] = fields.join(&b',');
    let bad = env.path("malformed.csv");
    std::fs::write(&bad, lines.join(&b'\n')).unwrap();
    let out = env
        .claims()
        .arg("predict")
        .arg("--data")
        .arg(&bad)
        .args(["--date", "2026-05-03", "--json"])
        .assert()
        .success();
    let j = last_json(&out.get_output().stdout);
    assert_eq!(
        (
            j["result"]["rows_scored"].as_u64(),
            j["result"]["rows_quarantined"].as_u64()
        ),
        (Some(398), Some(2))
    );
    let mut s = sink::sqlite::SqliteSink::open(&env.home().join("claims.db")).unwrap();
    let q = s.read_quarantine("2026-05-03").unwrap();
    let got: Vec<(i64, &str)> = q
        .iter()
        .map(|r| (r.row_number, r.reason.as_str()))
        .collect();
    let width = String::from_utf8_lossy(&lines[0]).split(',').count();
    assert_eq!(
        got,
        vec![
            (
                7,
                format!("the row has {} fields, the header has {width}", width + 1).as_str()
            ),
            (
                20,
                "occupation: not valid UTF-8 text (save the file as UTF-8)"
            ),
        ]
    );
    assert!(
        q[0].raw.ends_with(",extra") && q[1].raw.contains('\u{fffd}'),
        "{q:?}"
    );
    // The row of the wrong width has no readable id: NULL, not a stand-in made from the
    // row number. The row with a bad byte in another column keeps its id, so `explain`
    // finds it (it used to be NULL too).
    let row20 = String::from_utf8_lossy(&lines[20])
        .split(',')
        .next()
        .unwrap()
        .to_string();
    assert!(q[0].application_id.is_none(), "{q:?}");
    assert_eq!(
        q[1].application_id.as_deref(),
        Some(row20.as_str()),
        "{q:?}"
    );
    let out = env
        .claims()
        .args(["explain", &row20, "--date", "2026-05-03"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        text.contains("not scored, quarantined (row 20, line "),
        "{text}"
    );
    // Row 21 is scored under its own id.
    let row21 = String::from_utf8_lossy(&lines[21])
        .split(',')
        .next()
        .unwrap()
        .to_string();
    assert!(
        sqlite_rows(&env, "2026-05-03")
            .iter()
            .any(|r| r.application_id == row21)
    );
}

#[test]
fn unusable_files_exit_3_or_2() {
    let env = Env::new();
    train_small(&env);
    let good = day_file(&env, "good.csv", 200, 6, 40_000, 0.0);
    let dropped = without_column(&good, "income");
    let p = env.path("no_income.csv");
    std::fs::write(&p, dropped).unwrap();
    let out = env
        .claims()
        .arg("predict")
        .arg("--data")
        .arg(&p)
        .args(["--date", "2026-06-01"])
        .assert()
        .code(3);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("no_income.csv")
            && err.contains("column 'income'")
            && err.contains("missing column"),
        "{err}"
    );
    env.claims()
        .arg("predict")
        .arg("--data")
        .arg(&good)
        .args(["--date", "2026-13-01"])
        .assert()
        .code(2);
    env.claims()
        .arg("predict")
        .arg("--data")
        .arg(&good)
        .args(["--sink", "mysql://x"])
        .assert()
        .code(2);
    // A refused SQLite sink path: exit 2, and its stderr.
    let refused_sink = |path: &std::path::Path| {
        let out = env
            .claims()
            .arg("predict")
            .arg("--data")
            .arg(&good)
            .arg("--sink")
            .arg(format!("sqlite:{}", path.display()))
            .assert()
            .code(2);
        String::from_utf8_lossy(&out.get_output().stderr).to_string()
    };
    let err = refused_sink(&env.path("no-such-folder").join("out.db"));
    assert!(err.contains("no-such-folder' does not exist"), "{err}");
    assert!(!env.path("no-such-folder").exists());
    // A sink path naming the data file itself: exit 2, and the file is untouched.
    let before = std::fs::read(&good).unwrap();
    let err = refused_sink(&good);
    assert!(err.contains("not a SQLite database"), "{err}");
    assert_eq!(std::fs::read(&good).unwrap(), before);
    let fresh = Env::new();
    let out = fresh
        .claims()
        .arg("predict")
        .arg("--data")
        .arg(&good)
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("has no claims.db"), "{err}");
    let out = fresh.claims().args(["explain", "APP1"]).assert().code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("has no claims.db"), "{err}");
    // A scheduled predict on a mistyped or unmounted home still runs the failure hook.
    let (hook, config) = fresh.failure_hook();
    fresh
        .claims()
        .arg("--config")
        .arg(&config)
        .arg("predict")
        .arg("--data")
        .arg(&good)
        .assert()
        .code(2);
    let payload = std::fs::read_to_string(&hook).unwrap_or_default();
    assert!(
        payload.contains("\"job\":\"predict\"") && payload.contains("has no claims.db"),
        "{payload}"
    );
    // So does a scheduled scoring run (it used to create the home and blame the input).
    let out = fresh
        .claims()
        .args(["schedule", "trigger", "predict"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("has no claims.db"), "{err}");
    // A mistyped --home is not created (it used to get a database, a log and a failed run).
    assert!(!fresh.home().exists());
}

#[test]
fn shifted_data_raises_psi_alerts_on_the_shifted_features_only() {
    let env = Env::new();
    train_small(&env);
    let day = day_file(&env, "shifted.csv", 4000, 7, 50_000, 0.5);
    let out = env
        .claims()
        .arg("predict")
        .arg("--data")
        .arg(&day)
        .args(["--date", "2026-07-01", "--fail-on-drift", "--json"])
        .assert()
        .code(5);
    let j = last_json(&out.get_output().stdout);
    let mut alerts: Vec<String> = j["result"]["drift_alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    alerts.sort();
    let mut expected: Vec<String> = claims_ops::data::generate::SHIFTED_COLUMNS
        .iter()
        .map(|s| s.to_string())
        .collect();
    expected.sort();
    assert_eq!(alerts, expected);
    assert_eq!(
        sqlite_rows(&env, "2026-07-01").len(),
        4000,
        "rows are written even when drift fails the run"
    );
    // The run says so too: succeeded, with the exit code the command gave (was 0).
    let out = env.claims().args(["--json", "runs"]).assert().success();
    let runs = last_json(&out.get_output().stdout);
    let run = &runs["runs"][0];
    assert_eq!(
        (&run["status"], &run["exit_code"]),
        (&serde_json::json!("succeeded"), &serde_json::json!(5)),
        "{run}"
    );
    env.claims()
        .args(["drift", "--date", "2026-07-01"])
        .assert()
        .success();
    env.claims()
        .args(["drift", "--date", "2026-07-01", "--fail-on-drift"])
        .assert()
        .code(5);
    // The run succeeded (its rows are written), and the schedule status says it had alerts.
    let out = env.claims().args(["schedule", "status"]).assert().success();
    let status = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        status.contains(&format!(
            "predict last run: {} drift alert(s) on 2026-07-01 ({}, run {})",
            expected.len(),
            hint(&env, "drift --date 2026-07-01`"),
            j["result"]["run_id"].as_str().unwrap()
        )),
        "{status}"
    );

    let calm = day_file(&env, "calm.csv", 4000, 8, 60_000, 0.0);
    let out = env
        .claims()
        .arg("predict")
        .arg("--data")
        .arg(&calm)
        .args(["--date", "2026-07-02", "--fail-on-drift", "--json"])
        .assert()
        .success();
    assert!(
        last_json(&out.get_output().stdout)["result"]["drift_alerts"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // 60 calm rows: below drift.min_rows, PSI is recorded and judged only on strong
    // evidence (a feature's own test at p < 1e-6), which a calm day is not (no alert in
    // 600 calm days of 60 to 400 rows, measured), however shifted its shares look.
    let few = day_file(&env, "few.csv", 60, 9, 70_000, 0.0);
    let out = env
        .claims()
        .arg("predict")
        .arg("--data")
        .arg(&few)
        .args(["--date", "2026-07-03", "--fail-on-drift"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        text.contains(
            "drift: judged only on strong evidence: 60 rows scored, fewer than drift.min_rows (500)"
        ),
        "{text}"
    );
    assert!(!text.contains("drift alerts"), "{text}");
    // The shift above on 60 rows is such evidence: its alerts stand (all were silenced).
    let gross = day_file(&env, "gross.csv", 60, 10, 80_000, 0.5);
    let out = env
        .claims()
        .arg("predict")
        .arg("--data")
        .arg(&gross)
        .args(["--date", "2026-07-04", "--fail-on-drift", "--json"])
        .assert()
        .code(5);
    let j = last_json(&out.get_output().stdout);
    assert!(
        !j["result"]["drift_alerts"].as_array().unwrap().is_empty()
            && j["result"]["drift_not_judged"]
                .as_str()
                .unwrap()
                .starts_with("judged only on strong evidence: 60 rows"),
        "{j}"
    );
    // Without --date, drift means today; none today points to the latest date that has it.
    let out = env.claims().arg("drift").assert().code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains(&format!(
            "the latest date with drift is 2026-07-04: {}",
            hint(&env, "drift --date 2026-07-04`")
        )),
        "{err}"
    );
}

#[test]
fn sqlite_and_postgres_get_identical_rows() {
    let Some(url) = pg_database("identical") else {
        return;
    };
    let env = Env::new();
    train_small(&env);
    let good = day_file(&env, "day.csv", 1500, 9, 70_000, 0.0);
    let bad = env.path("day_bad.csv");
    let age = col(&good, "age");
    edit_rows(&good, &bad, |i, f| {
        if i % 50 == 0 {
            f[age] = "n/a\\\t".into()
        }
    });
    for target in [None, Some(url.as_str())] {
        let mut c = env.claims();
        c.arg("predict")
            .arg("--data")
            .arg(&bad)
            .args(["--date", "2026-08-01"]);
        if let Some(u) = target {
            c.args(["--sink", u]);
        }
        c.assert().success();
    }
    // Rerun into PostgreSQL: still one row per (date, application, role).
    env.claims()
        .arg("predict")
        .arg("--data")
        .arg(&bad)
        .args(["--date", "2026-08-01", "--sink", &url])
        .assert()
        .success();
    let mut pg = sink::postgres::PgSink::connect(&url).unwrap();
    let mut lite = sink::sqlite::SqliteSink::open(&env.home().join("claims.db")).unwrap();
    let (p, l) = (
        pg.read_day("2026-08-01").unwrap(),
        lite.read_day("2026-08-01").unwrap(),
    );
    assert_eq!(p.len(), 1470);
    let strip = |rows: Vec<claims_ops::sink::PredictionRow>| {
        rows.into_iter()
            .map(|mut r| {
                r.run_id.clear();
                r.scored_at.clear();
                r
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(p), strip(l));
    let strip_q = |rows: Vec<claims_ops::sink::QuarantineRow>| {
        rows.into_iter()
            .map(|mut r| {
                r.run_id.clear();
                r
            })
            .collect::<Vec<_>>()
    };
    let (pq, lq) = (
        pg.read_quarantine("2026-08-01").unwrap(),
        lite.read_quarantine("2026-08-01").unwrap(),
    );
    assert_eq!(pq.len(), 30);
    assert_eq!(strip_q(pq), strip_q(lq));
    // What the console reads: dates, the top of a day and an id search, the same from both.
    assert_eq!(pg.dates().unwrap(), lite.dates().unwrap());
    for part in [None, Some("app000701"), Some("%_")] {
        let (p, pn) = pg.champion_rows("2026-08-01", 100, part).unwrap();
        let (l, ln) = lite.champion_rows("2026-08-01", 100, part).unwrap();
        assert_eq!(pn, 1470);
        assert_eq!(ln, 1470);
        assert_eq!(strip(p), strip(l), "{part:?}");
    }
    let (top, _) = pg.champion_rows("2026-08-01", 5, None).unwrap();
    assert!(top.windows(2).all(|w| w[0].score >= w[1].score));
    // What feedback reads to measure one date again: the same rows in the same order.
    let on = pg.scores_on("2026-08-01").unwrap();
    assert_eq!(on.len(), 1470);
    assert_eq!(on, lite.scores_on("2026-08-01").unwrap());
    assert!(pg.scores_on("2026-08-02").unwrap().is_empty());
    let (found, _) = pg
        .champion_rows("2026-08-01", 100, Some("APP000701"))
        .unwrap();
    assert!(!found.is_empty() && found.iter().all(|r| r.application_id.contains("APP000701")));
    // `claims explain` reads either sink the same way (run ids and times aside).
    let id = &found[0].application_id;
    let explain = |sink: Option<&str>| {
        let mut c = env.claims();
        c.args(["explain", id]);
        if let Some(u) = sink {
            c.args(["--sink", u]);
        }
        let out = c.assert().success();
        String::from_utf8_lossy(&out.get_output().stdout)
            .lines()
            .filter(|l| !l.contains("run predict-") && !l.contains("scored at"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(explain(Some(url.as_str())), explain(None));
    // The console's source, through its worker thread: the same dates, rows and quarantine.
    let mut days = claims_ops::tui::data::DaySource::new(&url);
    assert_eq!(days.dates(&env.home()).unwrap(), lite.dates().unwrap());
    let (rows, total) = days.load(&env.home(), "2026-08-01").unwrap();
    assert_eq!(total, 1470);
    assert_eq!(
        strip(rows),
        strip(lite.champion_rows("2026-08-01", 2000, None).unwrap().0)
    );
    assert_eq!(
        days.quarantine(&env.home(), "2026-08-01").unwrap().len(),
        30
    );
    assert_eq!(
        days.find(&env.home(), "2026-08-01", "app000701")
            .unwrap()
            .len(),
        found.len()
    );
}

/// Labels received before their date was scored count once it is: the next feedback run
/// (with any file) measures the date from them.
#[test]
fn labels_received_before_scoring_are_measured_by_the_next_feedback() {
    let env = Env::new();
    train_small(&env);
    let labelled = env.path("labelled.csv");
    let spec = claims_ops::data::generate::GenSpec {
        rows: 500,
        seed: 44,
        id_offset: 70_000,
        ..Default::default()
    };
    // The applications with their labels (feedback reads only the id and label columns).
    claims_ops::data::generate::write_csv(&spec, &labelled).unwrap();
    let feedback = |file: &std::path::Path| {
        let out = env
            .claims()
            .arg("feedback")
            .arg("--data")
            .arg(file)
            .arg("--json")
            .assert()
            .success();
        last_json(&out.get_output().stdout)["result"].clone()
    };
    let early = feedback(&labelled);
    assert_eq!(
        (early["labels"].as_i64(), early["unmatched"].as_i64()),
        (Some(500), Some(500))
    );
    assert_eq!(early["dates"].as_array().unwrap().len(), 0, "{early}");
    let day = day_file(&env, "day.csv", 500, 44, 70_000, 0.0);
    env.claims()
        .arg("predict")
        .arg("--data")
        .arg(&day)
        .args(["--date", "2026-10-01"])
        .assert()
        .success();
    let strangers = env.path("strangers.csv");
    std::fs::write(&strangers, "application_id,claim_status\nZZZ1,1\n").unwrap();
    let later = feedback(&strangers);
    let dates = later["dates"].as_array().unwrap();
    assert_eq!(dates.len(), 1, "{later}");
    assert_eq!(dates[0]["business_date"], "2026-10-01", "{later}");
    assert_eq!(dates[0]["rows"], 500, "{later}");
    // Measured once: a further run does not list it again.
    assert_eq!(feedback(&strangers)["dates"].as_array().unwrap().len(), 0);
}

#[test]
fn feedback_records_realised_performance_per_date() {
    let env = Env::new();
    train_small(&env);
    for (date, seed, offset) in [("2026-09-01", 40, 80_000), ("2026-09-02", 41, 90_000)] {
        let day = day_file(&env, &format!("{date}.csv"), 1000, seed, offset, 0.0);
        env.claims()
            .arg("predict")
            .arg("--data")
            .arg(&day)
            .args(["--date", date])
            .assert()
            .success();
        // The same applications with their labels, as they arrive months later.
        let labelled = env.path(&format!("{date}-labels.csv"));
        let spec = claims_ops::data::generate::GenSpec {
            rows: 1000,
            seed,
            id_offset: offset,
            ..Default::default()
        };
        claims_ops::data::generate::write_csv(&spec, &labelled).unwrap();
    }
    let labels = env.path("labels.csv");
    let mut text = String::from("application_id,claim_status\n");
    for date in ["2026-09-01", "2026-09-02"] {
        let f = std::fs::read_to_string(env.path(&format!("{date}-labels.csv"))).unwrap();
        for l in f.lines().skip(1).take(600) {
            let mut it = l.split(',');
            text.push_str(&format!("{},{}\n", it.next().unwrap(), it.next().unwrap()));
        }
    }
    text.push_str("APP99999999,1\n");
    std::fs::write(&labels, text).unwrap();
    let out = env
        .claims()
        .arg("feedback")
        .arg("--data")
        .arg(&labels)
        .arg("--json")
        .assert()
        .success();
    let j = last_json(&out.get_output().stdout);
    assert_eq!(j["result"]["labels"], 1201);
    assert_eq!(j["result"]["unmatched"], 1);
    let dates = j["result"]["dates"].as_array().unwrap();
    assert_eq!(dates.len(), 2);
    for d in dates {
        assert_eq!(d["rows"], 600);
        assert!(d["roc_auc"].as_f64().unwrap() > 0.8, "{d}");
    }
    // The rest of 2026-09-01's labels arrive in a second file: that date is measured on
    // all 1,000 labels received, the other date keeps its 600.
    let rest = env.path("labels-rest.csv");
    let f = std::fs::read_to_string(env.path("2026-09-01-labels.csv")).unwrap();
    let mut text = String::from("application_id,claim_status\n");
    for l in f.lines().skip(601) {
        let mut it = l.split(',');
        text.push_str(&format!("{},{}\n", it.next().unwrap(), it.next().unwrap()));
    }
    std::fs::write(&rest, text).unwrap();
    let out = env
        .claims()
        .arg("feedback")
        .arg("--data")
        .arg(&rest)
        .arg("--json")
        .assert()
        .success();
    let j = last_json(&out.get_output().stdout);
    assert_eq!(j["result"]["labels"], 400);
    // A mistyped SQLite sink to read from: exit 2, and no new empty database left behind.
    let typo = env.path("nope.db");
    let out = env
        .claims()
        .arg("feedback")
        .arg("--data")
        .arg(&rest)
        .arg("--sink")
        .arg(format!("sqlite:{}", typo.display()))
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("no such database file"), "{err}");
    assert!(!typo.exists());
    // Labels none of which this home scored (a mistyped --home): said, not just counted.
    let strangers = env.path("strangers.csv");
    std::fs::write(&strangers, "application_id,claim_status\nZZZ1,1\nZZZ2,0\n").unwrap();
    let out = env
        .claims()
        .arg("feedback")
        .arg("--data")
        .arg(&strangers)
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        text.contains("warning: none of these ids has a stored champion prediction in "),
        "{text}"
    );
    let dates = j["result"]["dates"].as_array().unwrap();
    assert_eq!(dates.len(), 1, "{j}");
    assert_eq!(
        (
            dates[0]["business_date"].as_str(),
            dates[0]["rows"].as_i64()
        ),
        (Some("2026-09-01"), Some(1000))
    );
    let all = claims_ops::pipeline::feedback::history(&env.home()).unwrap();
    let rows: Vec<(String, i64)> = all
        .iter()
        .map(|r| (r.business_date.clone(), r.rows))
        .collect();
    assert_eq!(
        rows,
        [
            ("2026-09-01".to_string(), 1000),
            ("2026-09-02".to_string(), 600)
        ]
    );
    let bad = env.path("bad_labels.csv");
    std::fs::write(
        &bad,
        "application_id,claim_status\nAPP00080000,yes\nAPP00080001,1,extra\nAPP00080002,\n",
    )
    .unwrap();
    // Given relative to where it runs, the file is named absolute, as training names it.
    let out = env
        .claims()
        .current_dir(bad.parent().unwrap())
        .arg("feedback")
        .arg("--data")
        .arg("bad_labels.csv")
        .assert()
        .code(3);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains(&format!(
            "{}: row 3 (line 4), column 'claim_status': missing label (null target)",
            bad.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("row 1 (line 2), column 'claim_status': label 'yes' is not 0 or 1"),
        "{err}"
    );
    // A ragged row gets its own reason, not "label '' is not 0 or 1".
    assert!(
        err.contains("row 2 (line 3): ") && err.contains("3 fields") && !err.contains("label ''"),
        "{err}"
    );
    assert_eq!(j["result"]["on_several_dates"], 0);
    // Another day reusing 2026-09-01's ids: labels matching both dates are counted on both,
    // and the output says so.
    let again = day_file(&env, "2026-09-03.csv", 1000, 43, 80_000, 0.0);
    env.claims()
        .arg("predict")
        .arg("--data")
        .arg(&again)
        .args(["--date", "2026-09-03"])
        .assert()
        .success();
    let out = env
        .claims()
        .arg("feedback")
        .arg("--data")
        .arg(&rest)
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout);
    assert!(
        text.contains("warning: 400 of these ids have predictions on more than one business date"),
        "{text}"
    );
    // 2026-09-01 scored again from other rows (2026-09-02's file, 600 of them labelled): its
    // realised performance is measured again on them, not left at its old 1,000 rows.
    env.claims()
        .arg("predict")
        .arg("--data")
        .arg(env.path("2026-09-02.csv"))
        .args(["--date", "2026-09-01", "--force"])
        .assert()
        .success();
    let all = claims_ops::pipeline::feedback::history(&env.home()).unwrap();
    let first: Vec<i64> = all
        .iter()
        .filter(|r| r.business_date == "2026-09-01")
        .map(|r| r.rows)
        .collect();
    assert_eq!(first, [600]);
}

/// PostgreSQL as a shared production table: two homes scoring the same date at once leave
/// one run's rows, not both, and the other run says why and writes nothing; a role that may only write rows (no CREATE) writes once the
/// tables exist; a table missing a column is refused up front (exit 2) naming it; and a
/// password given as a URL parameter is never recorded.
#[test]
fn postgres_shared_table_one_writer_per_date_least_privilege_and_no_secrets() {
    let Some(url) = pg_database("shared") else {
        return;
    };
    let (a, b) = (Env::new(), Env::new());
    train_small(&a);
    train_small(&b);
    let day_a = day_file(&a, "a.csv", 20_000, 61, 100_000, 0.0);
    let day_b = day_file(&b, "b.csv", 20_000, 62, 200_000, 0.0);
    let spawn = |env: &Env, day: &std::path::Path| {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("claims"))
            .arg("--home")
            .arg(env.home())
            .args(["predict", "--date", "2026-10-01", "--sink", &url, "--data"])
            .arg(day)
            .env("CLAIMS_LOG", "warn")
            .output()
            .unwrap()
    };
    let (ra, rb) = std::thread::scope(|s| {
        let ta = s.spawn(|| spawn(&a, &day_a));
        let tb = s.spawn(|| spawn(&b, &day_b));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    // One of them writes the date; the other, finding it written by a run it did not
    // check (waiting on the date lock, or after), writes nothing and exits 2.
    let (won, lost) = if ra.status.success() {
        (&ra, &rb)
    } else {
        (&rb, &ra)
    };
    assert!(
        won.status.success(),
        "{}",
        String::from_utf8_lossy(&won.stderr)
    );
    let err = String::from_utf8_lossy(&lost.stderr);
    assert_eq!(lost.status.code(), Some(2), "{err}");
    assert!(
        err.contains("wrote 2026-10-01 while this run was starting")
            || err.contains("which is not recorded in this home"),
        "{err}"
    );
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let runs: Vec<(String, i64)> = c
        .query(
            "SELECT run_id, count(*) FROM predictions WHERE business_date = '2026-10-01' GROUP BY run_id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].1, 20_000);

    // A writer role with row rights only.
    let role = format!("claims_writer_{}", std::process::id());
    c.batch_execute(&format!(
        "CREATE ROLE {role} LOGIN PASSWORD 'pw@secret';
         REVOKE CREATE ON SCHEMA public FROM PUBLIC;
         GRANT SELECT, INSERT, DELETE ON predictions, quarantine TO {role};"
    ))
    .unwrap();
    let (prefix, db) = url.rsplit_once('/').unwrap();
    let host = prefix.rsplit_once('@').unwrap().1;
    let writer = format!("postgres://{role}@{host}/{db}?password=pw%40secret");
    let out = a
        .claims()
        .args([
            "predict",
            "--date",
            "2026-10-02",
            "--sink",
            &writer,
            "--json",
            "--data",
        ])
        .arg(&day_a)
        .assert()
        .success();
    let j = last_json(&out.get_output().stdout);
    let detail = a.run_detail(j["result"]["run_id"].as_str().unwrap());
    assert!(
        !detail.contains("secret") && detail.contains("password=***"),
        "{detail}"
    );
    let log = std::fs::read_to_string(a.home().join("logs/claims.log")).unwrap();
    assert!(!log.contains("secret"));
    // A right taken away: exit 2 (a scheduler does not retry it), naming what is needed.
    c.batch_execute(&format!("REVOKE DELETE ON predictions FROM {role}"))
        .unwrap();
    let out = a
        .claims()
        .args([
            "predict",
            "--date",
            "2026-10-04",
            "--sink",
            &writer,
            "--data",
        ])
        .arg(&day_a)
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("permission denied for table predictions")
            && err.contains("needs SELECT, INSERT and DELETE"),
        "{err}"
    );

    // An older table without run_id: refused before any scoring.
    c.batch_execute("ALTER TABLE quarantine DROP COLUMN run_id")
        .unwrap();
    let out = a
        .claims()
        .args(["predict", "--date", "2026-10-03", "--sink", &url, "--data"])
        .arg(&day_a)
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("table 'quarantine' has no column run_id"),
        "{err}"
    );
    c.batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}"))
        .unwrap();
}

/// TLS with libpq's sslmode meanings: verify-full against the server's CA (given as
/// sslrootcert) and require are encrypted and say so; disable says it is not; verify-full
/// with only the system's roots refuses a server whose CA they do not hold.
#[test]
fn postgres_tls_modes() {
    let Some(url) = pg_database("tls") else {
        return;
    };
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let ssl: String = c.query_one("SHOW ssl", &[]).unwrap().get(0);
    let cert: String = c.query_one("SHOW ssl_cert_file", &[]).unwrap().get(0);
    let ca = std::path::Path::new(&cert).with_file_name("ca.crt");
    if ssl != "on" || !ca.is_file() {
        eprintln!(
            "SKIPPED postgres_tls_modes: the test server runs without TLS (no openssl when it started?)"
        );
        return;
    }
    let env = Env::new();
    train_small(&env);
    let day = day_file(&env, "day.csv", 300, 71, 300_000, 0.0);
    let run = |query: &str| {
        env.claims()
            .args(["predict", "--date", "2026-11-01", "--data"])
            .arg(&day)
            .args(["--sink", &format!("{url}?{query}")])
            .output()
            .unwrap()
    };
    for (query, shown) in [
        (
            format!("sslmode=verify-full&sslrootcert={}", ca.display()),
            "(TLS, sslmode verify-full)",
        ),
        ("sslmode=require".to_string(), "(TLS, sslmode require)"),
        ("sslmode=disable".to_string(), "(no TLS)"),
    ] {
        let out = run(&query);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success() && text.contains(shown),
            "{query}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A refused certificate is the setup's problem: exit 2, which the scheduler does not
    // retry. So is a database that does not exist.
    let out = run("sslmode=verify-full");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(err.contains("certificate"), "{err}");
    let (prefix, _) = url.rsplit_once('/').unwrap();
    let out = env
        .claims()
        .args(["predict", "--date", "2026-11-01", "--data"])
        .arg(&day)
        .args(["--sink", &format!("{prefix}/no_such_database")])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A run that finds another session writing its date waits, says who holds the date, and
/// a SIGTERM during that wait stops it (recorded as cancelled, the date untouched) instead
/// of being ignored until the other writer finishes.
#[test]
fn postgres_wait_for_a_held_date_names_the_holder_and_stops_on_sigterm() {
    let Some(url) = pg_database("held") else {
        return;
    };
    let env = Env::new();
    train_small(&env);
    let data = day_file(&env, "day.csv", 800, 71, 300_000, 0.0);
    // Another writer of 2026-11-02, as the sink takes it: (class "clai", day number).
    let mut holder = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let day =
        chrono::Datelike::num_days_from_ce(&chrono::NaiveDate::from_ymd_opt(2026, 11, 2).unwrap());
    holder
        .execute("SELECT pg_advisory_lock($1, $2)", &[&0x636c_6169_i32, &day])
        .unwrap();
    let mut run = Command::new(assert_cmd::cargo::cargo_bin("claims"))
        .arg("--home")
        .arg(env.home())
        .args(["predict", "--date", "2026-11-02", "--sink", &url, "--data"])
        .arg(&data)
        .env_remove("CLAIMS_HOME")
        .env("CLAIMS_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(run.stderr.take().unwrap()).lines();
    let waiting = lines
        .by_ref()
        .map_while(|l| l.ok())
        .find(|l| l.contains("another run is writing 2026-11-02"))
        .expect("a waiting message");
    assert!(
        waiting.contains("held by server pid") && waiting.contains("since"),
        "{waiting}"
    );
    let t0 = std::time::Instant::now();
    let sent = Command::new("kill")
        .args(["-TERM", &run.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let rest: Vec<String> = lines.map_while(|l| l.ok()).collect();
    let status = run.wait().unwrap();
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(10),
        "took {:?} to stop",
        t0.elapsed()
    );
    assert_eq!(status.code(), Some(1), "{rest:?}");
    let db = env.home().join("claims.db");
    let conn = claims_ops::registry::db::open(&db).unwrap();
    let last = claims_ops::registry::runs::list(&conn, 1)
        .unwrap()
        .remove(0);
    assert_eq!(last.status, "failed");
    assert!(
        last.error
            .as_deref()
            .unwrap_or("")
            .contains("cancelled while waiting"),
        "{:?}",
        last.error
    );
    let n: i64 = holder
        .query_one(
            "SELECT count(*) FROM predictions WHERE business_date = '2026-11-02'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    // With a limit (the URL's lock_timeout), the wait gives up: exit 1, which the
    // scheduler retries, naming the holder.
    let t0 = std::time::Instant::now();
    let out = env
        .claims()
        .args(["predict", "--date", "2026-11-02", "--data"])
        .arg(&data)
        .args(["--sink", &format!("{url}?options=-c%20lock_timeout%3D1500")])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("past lock_timeout") && err.contains("held by server pid"),
        "{err}"
    );
    assert!(t0.elapsed() < std::time::Duration::from_secs(20));
}

/// A server that accepts the connection and never answers (a hung server, a wrong port
/// behind a proxy) fails the run within the connect timeout, with exit 1 (worth a retry),
/// instead of hanging it for ever. No PostgreSQL needed: a bare TCP listener plays it.
#[test]
fn a_postgres_server_that_never_answers_times_out() {
    let env = Env::new();
    train_small(&env);
    let data = day_file(&env, "day.csv", 100, 72, 400_000, 0.0);
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        // Keep every accepted connection open and unanswered until the test ends.
        let mut kept = Vec::new();
        for s in silent.incoming().take(4) {
            kept.push(s);
        }
        std::thread::sleep(std::time::Duration::from_secs(30));
    });
    let url =
        format!("postgres://claims@127.0.0.1:{port}/claims?connect_timeout=2&sslmode=disable");
    let t0 = std::time::Instant::now();
    let out = env
        .claims()
        .args(["predict", "--date", "2026-11-03", "--sink", &url, "--data"])
        .arg(&data)
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(1);
    let took = t0.elapsed();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("accepted the connection but did not answer within 3 s"),
        "{err}"
    );
    assert!(took < std::time::Duration::from_secs(20), "took {took:?}");
    drop(held);
}

/// Tables made by hand or by an older version are checked before any scoring: every
/// problem at once (a missing column, a type claims cannot use, a NOT NULL column it does
/// not fill), exit 2. Reading a sink (the console, feedback) never creates its tables.
#[test]
fn postgres_tables_are_checked_and_reading_creates_nothing() {
    let Some(url) = pg_database("tablecheck") else {
        return;
    };
    let env = Env::new();
    train_small(&env);
    let data = day_file(&env, "day.csv", 300, 73, 500_000, 0.0);
    // Reading first: a clear error, and still no tables.
    let mut days = claims_ops::tui::data::DaySource::new(&url);
    let e = days.dates(&env.home()).unwrap_err().to_string();
    assert!(e.contains("no predictions or quarantine table yet"), "{e}");
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let tables: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename IN ('predictions', 'quarantine')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 0);
    c.batch_execute(
        "CREATE TABLE predictions(
           business_date DATE NOT NULL, application_id VARCHAR(40) NOT NULL, model_version INTEGER NOT NULL,
           role TEXT NOT NULL, score DOUBLE PRECISION NOT NULL, predicted_claim BOOLEAN NOT NULL,
           threshold DOUBLE PRECISION NOT NULL, top_reasons JSONB NOT NULL, run_id TEXT NOT NULL,
           scored_at TIMESTAMPTZ NOT NULL, reviewer TEXT NOT NULL,
           PRIMARY KEY (business_date, application_id, role));
         CREATE TABLE quarantine(
           business_date DATE NOT NULL, source_file TEXT NOT NULL, row_number BIGINT NOT NULL,
           application_id TEXT, reason TEXT NOT NULL, raw TEXT NOT NULL);",
    )
    .unwrap();
    let predict = || {
        env.claims()
            .args(["predict", "--date", "2026-11-04", "--sink", &url, "--data"])
            .arg(&data)
            .assert()
    };
    let out = predict().code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    for want in [
        "column predictions.model_version is integer, expected bigint",
        "column predictions.reviewer is NOT NULL without a default",
        "table 'quarantine' has no column run_id",
    ] {
        assert!(err.contains(want), "{want}: {err}");
    }
    // varchar and jsonb are fine: once the rest is fixed, the day goes in and reads back.
    c.batch_execute(
        "ALTER TABLE predictions ALTER model_version TYPE BIGINT;
         ALTER TABLE predictions ALTER reviewer SET DEFAULT 'nobody';
         ALTER TABLE quarantine ADD COLUMN run_id TEXT NOT NULL;",
    )
    .unwrap();
    predict().success();
    let (rows, total) = days.load(&env.home(), "2026-11-04").unwrap();
    assert_eq!((rows.len(), total), (300, 300));
    assert!(rows.iter().all(|r| r.top_reasons.starts_with('[')));
    // A varchar(n) id column takes ids up to n characters; a longer id is quarantined with
    // the reason, not left to fail the day's write after scoring. A varchar quarantine.raw
    // (claims writes rows of any length there) is refused up front.
    c.batch_execute("ALTER TABLE predictions ALTER application_id TYPE VARCHAR(11);")
        .unwrap();
    let long = env.path("long.csv");
    let k = col(&data, "application_id");
    edit_rows(&data, &long, |i, f| {
        if i == 4 {
            f[k] = "APP-TWELVE-1".into();
        }
    });
    let out = env
        .claims()
        .args([
            "predict",
            "--date",
            "2026-11-05",
            "--sink",
            &url,
            "--json",
            "--data",
        ])
        .arg(&long)
        .assert()
        .success();
    let j = last_json(&out.get_output().stdout);
    assert_eq!(j["result"]["rows_quarantined"], 1, "{j}");
    assert!(
        j["result"]["quarantined_rows"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("is 12 characters long; the sink's application_id column holds at most 11"),
        "{j}"
    );
    c.batch_execute("ALTER TABLE quarantine ALTER raw TYPE VARCHAR(100000);")
        .unwrap();
    let out = predict().code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("column quarantine.raw is character varying(100000), but claims writes text of any length there"),
        "{err}"
    );
}

/// A role that may log in only with a client certificate (`cert` in pg_hba): `sslcert` and
/// `sslkey` get it in; without them the login is refused as the setup's problem (exit 2);
/// a key file others can read is refused before connecting, as libpq does.
#[test]
fn postgres_client_certificate_login() {
    let Some(url) = pg_database("clientcert") else {
        return;
    };
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let ca_file: String = c.query_one("SHOW ssl_ca_file", &[]).unwrap().get(0);
    let ca = std::path::PathBuf::from(&ca_file);
    let ca_key = ca.with_file_name("ca.key");
    let openssl = Command::new("openssl").arg("version").output();
    if ca_file.is_empty() || !ca_key.is_file() || !openssl.is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var("CI").is_err(),
            "the test server has no client-certificate setup in CI"
        );
        eprintln!("SKIPPED postgres_client_certificate_login: no ssl_ca_file / CA key / openssl");
        return;
    }
    c.batch_execute(
        "DO $$ BEGIN CREATE ROLE claims_cert LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;",
    )
    .unwrap();
    let db = url.rsplit_once('/').unwrap().1;
    c.batch_execute(&format!(
        "GRANT ALL ON DATABASE {db} TO claims_cert; GRANT ALL ON SCHEMA public TO claims_cert"
    ))
    .unwrap();
    let env = Env::new();
    train_small(&env);
    let day = day_file(&env, "day.csv", 200, 74, 600_000, 0.0);
    let (crt, key) = (env.path("client.crt"), env.path("client.key"));
    let ok = |args: &[&str]| {
        let out = Command::new("openssl").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let csr = env.path("client.csr");
    ok(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        csr.to_str().unwrap(),
        "-subj",
        "/CN=claims_cert",
    ]);
    // Signs the request with the test CA: as PostgreSQL's documentation shows (no
    // extensions: X.509 v1), or as v3 (`extensions`).
    let sign = |extensions: bool| {
        let ext = env.path("client.ext");
        std::fs::write(&ext, "basicConstraints=CA:FALSE\n").unwrap();
        let mut args = vec![
            "x509",
            "-req",
            "-in",
            csr.to_str().unwrap(),
            "-CA",
            &ca_file,
            "-CAkey",
            ca_key.to_str().unwrap(),
            "-CAcreateserial",
            "-out",
            crt.to_str().unwrap(),
            "-days",
            "2",
        ];
        if extensions {
            args.extend(["-extfile", ext.to_str().unwrap()]);
        }
        ok(&args);
    };
    sign(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let host = url.rsplit_once('@').unwrap().1.rsplit_once('/').unwrap().0;
    let base =
        format!("postgres://claims_cert@{host}/{db}?sslmode=verify-full&sslrootcert={ca_file}");
    let run = |sink: &str| {
        env.claims()
            .args(["predict", "--date", "2026-11-05", "--data"])
            .arg(&day)
            .args(["--sink", sink])
            .env_remove("PGSSLCERT")
            .env_remove("PGSSLKEY")
            .env("HOME", env.path("no-home"))
            .output()
            .unwrap()
    };
    let with_cert = format!("{base}&sslcert={}&sslkey={}", crt.display(), key.display());
    // Signed as PostgreSQL's documentation shows (no extensions: X.509 v1): refused with
    // a hint, since rustls takes v3 certificates only.
    let out = run(&with_cert);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("X.509 v1 certificate"), "{err}");
    sign(true);
    let out = run(&with_cert);
    assert!(
        out.status.success()
            && String::from_utf8_lossy(&out.stdout).contains("(TLS, sslmode verify-full)"),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM predictions WHERE business_date = '2026-11-05'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 200);
    // No certificate: pg_hba refuses the role, which no retry fixes.
    let out = run(&base);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A key others may read: refused before connecting, naming the file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let out = run(&with_cert);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("client.key") && err.contains("chmod 600"),
            "{err}"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    // A passphrase-protected key: said so, with the way out.
    let enc = env.path("enc.key");
    ok(&[
        "pkey",
        "-in",
        key.to_str().unwrap(),
        "-aes256",
        "-passout",
        "pass:hush",
        "-out",
        enc.to_str().unwrap(),
    ]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&enc, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let out = run(&format!(
        "{base}&sslcert={}&sslkey={}",
        crt.display(),
        enc.display()
    ));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("passphrase-protected") && !err.contains("hush"),
        "{err}"
    );
    // A certificate from a CA the server does not trust: the server's refusal of our
    // certificate is the setup's problem (exit 2, not retried), and says whose it was.
    let (other_key, other_ca) = (env.path("other-ca.key"), env.path("other-ca.crt"));
    ok(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        other_key.to_str().unwrap(),
        "-out",
        other_ca.to_str().unwrap(),
        "-days",
        "2",
        "-subj",
        "/CN=not-the-servers-ca",
    ]);
    let stranger = env.path("stranger.crt");
    let ext = env.path("client.ext");
    ok(&[
        "x509",
        "-req",
        "-in",
        csr.to_str().unwrap(),
        "-CA",
        other_ca.to_str().unwrap(),
        "-CAkey",
        other_key.to_str().unwrap(),
        "-CAcreateserial",
        "-out",
        stranger.to_str().unwrap(),
        "-days",
        "2",
        "-extfile",
        ext.to_str().unwrap(),
    ]);
    let out = run(&format!(
        "{base}&sslcert={}&sslkey={}",
        stranger.display(),
        key.display()
    ));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("refused this client's certificate"), "{err}");
    // A certificate without its key is a usage error.
    let out = run(&format!("{base}&sslcert={}", crt.display()));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("without sslkey"));
    c.batch_execute("DROP OWNED BY claims_cert").unwrap();
}

/// A backfill into PostgreSQL whose kept connection is cut between two dates (here by the
/// alert hook of the first, drifted, date: as a server restart or failover would) connects
/// again and scores the next date, instead of failing the rest of the backfill.
#[test]
fn postgres_backfill_connects_again_after_a_dropped_connection() {
    let Some(url) = pg_database("reconnect") else {
        return;
    };
    if Command::new("psql").arg("--version").output().is_err() {
        assert!(std::env::var("CI").is_err(), "psql missing in CI");
        eprintln!("SKIPPED postgres_backfill_connects_again: no psql");
        return;
    }
    let env = Env::new();
    train_small(&env);
    day_file(&env, "day_2026-11-07.csv", 600, 7, 700_000, 1.0);
    day_file(&env, "day_2026-11-08.csv", 600, 8, 710_000, 0.0);
    let db = url.rsplit_once('/').unwrap().1;
    let cfg = env.path("cut.toml");
    std::fs::write(
        &cfg,
        format!(
            "[hooks]\non_alert = \"psql -qtA '{url}' -c \\\"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND application_name = 'claims-ops'\\\" > '{}' 2>&1\"\n",
            env.path("cut.log").display()
        ),
    )
    .unwrap();
    let out = env
        .claims()
        .arg("--config")
        .arg(&cfg)
        .args([
            "predict",
            "--from",
            "2026-11-07",
            "--to",
            "2026-11-08",
            "--sink",
            &url,
            "--input-pattern",
        ])
        .arg(env.path("day_{date}.csv"))
        .args(["--json"])
        .assert()
        .success();
    let j = last_json(&out.get_output().stdout);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert_eq!(j["done"].as_u64(), Some(2), "{j}\n{err}");
    assert!(err.contains("connecting again"), "{err}");
    // The hook cut exactly one session: the backfill's own (each date's run has closed its).
    let cut = std::fs::read_to_string(env.path("cut.log")).unwrap_or_default();
    assert_eq!(cut.trim(), "t", "the hook: {cut}");
}

/// Another session holding a lock on the table (an ALTER, a VACUUM FULL) fails the run
/// after lock_timeout (set from the URL here; 10 minutes by default) with exit 1 and a
/// hint, instead of holding a nightly job for ever; the date's old rows stay.
#[test]
fn postgres_table_lock_held_elsewhere_times_out() {
    let Some(url) = pg_database("locktimeout") else {
        return;
    };
    let env = Env::new();
    train_small(&env);
    let data = day_file(&env, "day.csv", 200, 75, 800_000, 0.0);
    let predict = |sink: &str| {
        env.claims()
            .args(["predict", "--date", "2026-11-06", "--sink", sink, "--data"])
            .arg(&data)
            .output()
            .unwrap()
    };
    assert!(predict(&url).status.success());
    let mut holder = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let mut tx = holder.transaction().unwrap();
    tx.batch_execute("LOCK TABLE predictions IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let t0 = std::time::Instant::now();
    let out = predict(&format!("{url}?options=-c%20lock_timeout%3D1500"));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("lock_timeout") && err.contains("pg_locks"),
        "{err}"
    );
    assert!(t0.elapsed() < std::time::Duration::from_secs(30));
    tx.rollback().unwrap();
    let n: i64 = holder
        .query_one(
            "SELECT count(*) FROM predictions WHERE business_date = '2026-11-06'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 200);
}

/// `claims explain` finds an id exactly even when other ids contain it (a file without an
/// id column gets `noid:1`, `noid:10`, `noid:100`, ...), gives reasons as JSON values, and
/// without `--date` still lists near matches for an unknown id.
#[test]
fn explain_finds_exact_ids_among_longer_ones() {
    let env = Env::new();
    train_small(&env);
    let day = day_file(&env, "day.csv", 300, 76, 900_000, 0.0);
    let text = std::fs::read_to_string(&day).unwrap();
    let noid: String = text
        .lines()
        .map(|l| l.split_once(',').map_or(l, |(_, rest)| rest))
        .collect::<Vec<_>>()
        .join("\n");
    let file = env.path("noid.csv");
    std::fs::write(&file, noid + "\n").unwrap();
    env.claims()
        .args(["predict", "--date", "2026-11-29", "--data"])
        .arg(&file)
        .assert()
        .success();
    for id in ["noid:1", "noid:10", "noid:300"] {
        let out = env
            .claims()
            .args(["explain", id, "--json"])
            .assert()
            .success();
        let j = last_json(&out.get_output().stdout);
        let s = &j["scores"][0];
        assert_eq!(s["application_id"], id, "{j}");
        assert!(s["top_reasons"].is_array(), "{j}");
    }
    let out = env.claims().args(["explain", "noid:30"]).assert().success();
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("application noid:30\n"));
    let out = env.claims().args(["explain", "noid:9999"]).assert().code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("no champion score stored"), "{err}");
    let out = env.claims().args(["explain", "oid:29"]).assert().code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let listed = err.split("ids containing it: ").nth(1).unwrap_or("");
    assert!(
        !listed.is_empty() && listed.split(", ").all(|x| x.contains("oid:29")),
        "{err}"
    );
}
