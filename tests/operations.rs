//! Headless operations through the real binary: the run lock (exit 4, and no stale lock
//! after kill -9), backfill with a bad date and resume, hooks, unit files, JSON failures.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

#[test]
fn second_train_exits_4_and_a_killed_holder_leaves_no_stale_lock() {
    let env = Env::new();
    let data = env.generate("d.csv", 3000, 61);
    let bin = assert_cmd::cargo::cargo_bin("claims");
    // A long search so the first run is still going when the second starts.
    let mut first = Command::new(&bin)
        .arg("--home")
        .arg(env.home())
        .arg("train")
        .arg("--data")
        .arg(&data)
        .args(["--search-iters", "400", "--folds", "5"])
        .env_remove("CLAIMS_HOME")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lock = env.home().join("locks").join("train.lock");
    let t0 = Instant::now();
    while !std::fs::read_to_string(&lock).is_ok_and(|s| s.contains(&format!("pid {}", first.id())))
    {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "first run never took the lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = env
        .claims()
        .arg("train")
        .arg("--data")
        .arg(&data)
        .args(FAST)
        .arg("--json")
        .assert()
        .code(4);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains(&format!("pid {} since ", first.id())) && err.contains("train.lock"),
        "{err}"
    );
    let j = last_json(&out.get_output().stdout);
    assert_eq!(
        (j["ok"].as_bool(), j["exit_code"].as_i64()),
        (Some(false), Some(4))
    );
    // Predict has its own lock: not blocked by training.
    let db = env.home().join("claims.db");
    while !claims_ops::registry::db::open(&db)
        .and_then(|c| claims_ops::registry::runs::list(&c, 1))
        .is_ok_and(|r| r.len() == 1)
    {
        assert!(t0.elapsed() < Duration::from_secs(30), "no run record");
        std::thread::sleep(Duration::from_millis(20));
    }
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let killed_at = claims_ops::registry::db::now();
    // Until then, the list says the "running" run has no process, and so do the run's own
    // page and the schedule status (all three used to say "running").
    let out = env.claims().arg("runs").assert().success();
    let list = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        list.contains("died?") && list.contains("no process holds the train lock"),
        "{list}"
    );
    let dead_id =
        claims_ops::registry::runs::list(&claims_ops::registry::db::open(&db).unwrap(), 1)
            .unwrap()
            .remove(0)
            .run_id;
    let page = env.run_detail(&dead_id);
    assert!(
        page.contains("status died? (no process holds the train lock"),
        "{page}"
    );
    let out = env.claims().args(["schedule", "status"]).assert().success();
    let status = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        status.contains("died? ") && status.contains(&dead_id),
        "{status}"
    );
    // And so does the JSON a scheduler polls: still "running" as recorded, with looks_dead.
    let out = env.claims().args(["--json", "runs"]).assert().success();
    let j = last_json(&out.get_output().stdout);
    assert_eq!(
        (&j["runs"][0]["status"], &j["runs"][0]["looks_dead"]),
        (&serde_json::json!("running"), &serde_json::json!(true)),
        "{j}"
    );
    let out = env
        .claims()
        .args(["--json", "runs", &dead_id])
        .assert()
        .success();
    assert_eq!(
        last_json(&out.get_output().stdout)["run"]["looks_dead"],
        true
    );
    let out = env
        .claims()
        .args(["--json", "schedule", "status"])
        .assert()
        .success();
    let j = last_json(&out.get_output().stdout);
    assert_eq!(j["jobs"][0]["last_run"]["looks_dead"], true, "{j}");
    env.claims()
        .arg("train")
        .arg("--data")
        .arg(&data)
        .args(FAST)
        .assert()
        .success();
    // The killed run could not record its end; the next train run (holding the lock, so
    // sure it is dead) closes it as interrupted instead of leaving it "running" for ever.
    let conn = claims_ops::registry::db::open(&db).unwrap();
    let runs = claims_ops::registry::runs::list(&conn, 10).unwrap();
    let statuses: Vec<(&str, &str)> = runs
        .iter()
        .map(|r| (r.kind.as_str(), r.status.as_str()))
        .collect();
    assert_eq!(statuses, [("train", "succeeded"), ("train", "failed")]);
    let error = runs[1].error.as_deref().unwrap_or("");
    assert!(
        error.starts_with("interrupted") && error.contains(&format!("(pid {})", first.id())),
        "{error}"
    );
    // It ended at its last sign of life (its last stage's end, or its start), before the
    // kill, not when the next run found it; the error says when that was.
    let ended = runs[1].finished_at.clone().unwrap_or_default();
    assert!(ended <= killed_at, "{ended} vs killed at {killed_at}");
    assert!(error.contains("; found by the next run at "), "{error}");
}

#[test]
fn backfill_finishes_the_good_dates_and_resumes_the_bad_one() {
    let env = Env::new();
    train_small(&env);
    let dir = env.path("incoming");
    std::fs::create_dir_all(&dir).unwrap();
    for d in 1..=10 {
        day_file(
            &env,
            &format!("incoming/applications_2026-02-{d:02}.csv"),
            100,
            100 + d,
            1_000_000 + d as usize * 1000,
            0.0,
        );
    }
    // One broken file: the income column is missing.
    let bad = dir.join("applications_2026-02-05.csv");
    let good_text = std::fs::read_to_string(&bad).unwrap();
    let broken = without_column(&bad, "income");
    std::fs::write(&bad, broken).unwrap();
    let pattern = format!("{}/applications_{{date}}.csv", dir.display());
    let run = |env: &Env| {
        env.claims()
            .args([
                "predict",
                "--from",
                "2026-02-01",
                "--to",
                "2026-02-10",
                "--input-pattern",
                &pattern,
                "--json",
            ])
            .assert()
    };
    let out = run(&env).code(3);
    let j = last_json(&out.get_output().stdout);
    assert_eq!(
        (j["done"].as_u64(), j["failed"].as_u64()),
        (Some(9), Some(1)),
        "{j}"
    );
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        text.contains("2026-02-05 failed") && text.contains("income"),
        "{text}"
    );
    // Each date's run carries its date and exit code at the top, for an orchestrator.
    let out = env.claims().args(["--json", "runs"]).assert().success();
    let j = last_json(&out.get_output().stdout);
    let codes: Vec<(String, i64)> = j["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "predict")
        .map(|r| {
            let date = r["business_date"].as_str().unwrap_or("none").to_string();
            (date, r["exit_code"].as_i64().unwrap_or(-1))
        })
        .collect();
    assert_eq!(codes.len(), 10, "{codes:?}");
    assert!(
        codes
            .iter()
            .all(|(d, c)| *c == if d == "2026-02-05" { 3 } else { 0 }),
        "{codes:?}"
    );
    // The backfill's exit in the home's log names the failed date's run, not the last one.
    let failed_run = j["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["business_date"] == "2026-02-05")
        .unwrap()["run_id"]
        .clone();
    let log = std::fs::read_to_string(env.home().join("logs").join("claims.log")).unwrap();
    let exit: serde_json::Value = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .rfind(|l| l["fields"]["exit_code"] == 3)
        .unwrap();
    assert_eq!(exit["fields"]["run_id"], failed_run, "{exit}");
    // Fix the file and rerun: only that date runs.
    std::fs::write(&bad, good_text).unwrap();
    let out = run(&env).success();
    let j = last_json(&out.get_output().stdout);
    assert_eq!(
        (
            j["done"].as_u64(),
            j["skipped"].as_u64(),
            j["failed"].as_u64()
        ),
        (Some(1), Some(9), Some(0)),
        "{j}"
    );
    let dates = j["dates"].as_array().unwrap();
    assert_eq!(
        dates.iter().find(|d| d["status"] == "done").unwrap()["date"],
        "2026-02-05"
    );
    // "Done" is judged by the target table: another sink gets every date, and a date whose
    // rows were deleted there is scored again.
    let other = env.path("other.db");
    let to_other = |env: &Env| {
        env.claims()
            .args(["predict", "--from", "2026-02-01", "--to", "2026-02-03"])
            .args(["--input-pattern", &pattern, "--json", "--sink"])
            .arg(format!("sqlite:{}", other.display()))
            .assert()
            .success()
    };
    let j = last_json(&to_other(&env).get_output().stdout);
    assert_eq!(
        (j["done"].as_u64(), j["skipped"].as_u64()),
        (Some(3), Some(0)),
        "{j}"
    );
    let conn = rusqlite::Connection::open(&other).unwrap();
    conn.execute(
        "DELETE FROM predictions WHERE business_date = '2026-02-02'",
        [],
    )
    .unwrap();
    drop(conn);
    let j = last_json(&to_other(&env).get_output().stdout);
    assert_eq!(
        (j["done"].as_u64(), j["skipped"].as_u64()),
        (Some(1), Some(2)),
        "{j}"
    );
    // Rows whose run never finished (killed after its commit: still "running", no drift)
    // are not "done": the resumed backfill scores the date again (it was skipped).
    let conn = rusqlite::Connection::open(&other).unwrap();
    let writer: String = conn
        .query_row(
            "SELECT run_id FROM predictions WHERE business_date = '2026-02-03' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let reg = rusqlite::Connection::open(env.home().join("claims.db")).unwrap();
    reg.execute(
        "UPDATE runs SET status = 'running', finished_at = NULL WHERE run_id = ?1",
        [&writer],
    )
    .unwrap();
    let j = last_json(&to_other(&env).get_output().stdout);
    let dates = j["dates"].as_array().unwrap();
    assert_eq!(
        dates
            .iter()
            .find(|d| d["status"] == "done")
            .map(|d| &d["date"]),
        Some(&serde_json::json!("2026-02-03")),
        "{j}"
    );
    assert_eq!(j["skipped"].as_u64(), Some(2), "{j}");
    // A corrected file delivered again for a date done is not skipped quietly: it is refused
    // as a single predict would be (exit 2, with the command that rescores it); a date whose
    // file was archived since is skipped, and says so.
    day_file(
        &env,
        "incoming/applications_2026-02-02.csv",
        100,
        999,
        2_000_000,
        0.0,
    );
    std::fs::rename(
        dir.join("applications_2026-02-03.csv"),
        env.path("archived.csv"),
    )
    .unwrap();
    let out = env
        .claims()
        .args(["predict", "--from", "2026-02-01", "--to", "2026-02-03"])
        .args(["--input-pattern", &pattern, "--json", "--sink"])
        .arg(format!("sqlite:{}", other.display()))
        .assert()
        .code(2);
    let j = last_json(&out.get_output().stdout);
    assert_eq!(
        (
            j["skipped"].as_u64(),
            j["changed"].as_u64(),
            j["failed"].as_u64()
        ),
        (Some(2), Some(1), Some(0)),
        "{j}"
    );
    let dates = j["dates"].as_array().unwrap();
    let detail = |d: &str| {
        dates.iter().find(|x| x["date"] == d).unwrap()["detail"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        detail("2026-02-02").contains("its file now holds other contents than run predict-"),
        "{j}"
    );
    assert!(
        detail("2026-02-02").contains("--date 2026-02-02 --sink ")
            && detail("2026-02-02").contains(" --force`"),
        "{j}"
    );
    assert!(detail("2026-02-03").contains("no file at"), "{j}");
    assert!(!detail("2026-02-03").contains("--force"), "{j}");
    assert!(
        detail("2026-02-01").starts_with("already done by run predict-"),
        "{j}"
    );
    // Nothing was recorded for the changed date: a rerun of the backfill pages no one.
    let conn = rusqlite::Connection::open(env.home().join("claims.db")).unwrap();
    let runs_of = |date: &str| -> i64 {
        conn.query_row(
            "SELECT count(*) FROM runs WHERE json_extract(args, '$.date') = ?1",
            [date],
            |r| r.get(0),
        )
        .unwrap()
    };
    let before = runs_of("2026-02-02");
    env.claims()
        .args(["predict", "--from", "2026-02-02", "--to", "2026-02-02"])
        .args(["--input-pattern", &pattern, "--sink"])
        .arg(format!("sqlite:{}", other.display()))
        .assert()
        .code(2);
    assert_eq!(runs_of("2026-02-02"), before);
}

#[test]
fn failure_hook_gets_the_json_summary_on_stdin() {
    let env = Env::new();
    train_small(&env);
    let got = env.path("hook.json");
    let cfg = env.path("hooks.toml");
    std::fs::write(
        &cfg,
        format!("[hooks]\non_failure = \"cat > '{}'\"\n", got.display()),
    )
    .unwrap();
    env.claims()
        .arg("--config")
        .arg(&cfg)
        .arg("predict")
        .arg("--data")
        .arg(env.path("missing.csv"))
        .args(["--date", "2026-03-04"])
        .assert()
        .code(2);
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&got).unwrap()).unwrap();
    assert_eq!(j["job"], "predict");
    assert_eq!(j["exit_code"], 2);
    // Which day of which home, as the scheduler's payload says it.
    assert_eq!(
        (&j["ok"], &j["date"]),
        (&false.into(), &"2026-03-04".into())
    );
    assert_eq!(
        j["home"].as_str().map(std::path::PathBuf::from),
        Some(env.home())
    );
    assert!(j["error"].as_str().unwrap().contains("missing.csv"));
    // The run it recorded, to look up with `claims runs RUN_ID`.
    assert!(
        j["run_id"]
            .as_str()
            .is_some_and(|r| r.starts_with("predict-")),
        "{j}"
    );
}

#[test]
fn schedule_units_and_status() {
    let env = Env::new();
    let out = env
        .claims()
        .args(["schedule", "print", "--cron"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(text.contains("CRON_TZ=Europe/London"));
    assert!(text.contains("0 19 * * * ") && text.contains("schedule trigger predict"));
    assert!(text.contains("0 0 1 * * ") && text.contains("schedule trigger train"));
    // JSON log lines to cron.log only; the plain outcome line to cron.out.
    let logs = env.home().join("logs");
    assert!(
        text.contains(&format!(
            "schedule trigger predict >> {} 2>> {}",
            logs.join("cron.out").display(),
            logs.join("cron.log").display()
        )),
        "{text}"
    );
    let units = env.path("units");
    env.claims()
        .args(["schedule", "print", "--systemd", "--out-dir"])
        .arg(&units)
        .assert()
        .success();
    let timer = std::fs::read_to_string(units.join("claims-predict.timer")).unwrap();
    assert!(
        timer.contains("OnCalendar=*-*-* 19:00:00 Europe/London"),
        "{timer}"
    );
    match Command::new("systemd-analyze").arg("--version").output() {
        Ok(o) if o.status.success() => {
            let files: Vec<_> = std::fs::read_dir(&units)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            let out = Command::new("systemd-analyze")
                .arg("verify")
                .args(&files)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success(),
                "systemd-analyze verify failed:\n{err}"
            );
        }
        _ => eprintln!("SKIPPED systemd-analyze verify: systemd-analyze is not installed here"),
    }
    // Generated lines carry the --config file they were printed with.
    let cfg = env.path("site.toml");
    std::fs::write(&cfg, "seed = 7\n").unwrap();
    let out = env
        .claims()
        .arg("--config")
        .arg(&cfg)
        .args(["schedule", "print", "--cron"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        text.contains(&format!("--config {}", cfg.display())),
        "{text}"
    );
    // Status shows each job's last run however it was started (here: the CLI).
    train_small(&env);
    let out = env
        .claims()
        .args(["schedule", "status", "--json"])
        .assert()
        .success();
    let j = last_json(&out.get_output().stdout);
    assert_eq!(j["jobs"].as_array().unwrap().len(), 2);
    assert_eq!(j["jobs"][0]["job"], "train");
    assert_eq!(j["jobs"][0]["last_run"]["status"], "succeeded");
    assert!(j["jobs"][1]["last_run"].is_null());
    let out = env.claims().args(["schedule", "status"]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        text.contains("succeeded 20") && text.contains(" train-"),
        "{text}"
    );
    // A scheduler's first start marks where it starts watching: not shown as an instant run.
    {
        let conn = claims_ops::registry::db::open(&env.home().join("claims.db")).unwrap();
        claims_ops::schedule::init_state(
            &conn,
            claims_ops::schedule::Job::Predict,
            chrono::Utc::now(),
        )
        .unwrap();
    }
    let out = env.claims().args(["schedule", "status"]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    // No scheduler runs here: said so, and the mark is not called "watching".
    assert!(
        text.contains("first started 20")
            && text.contains("(nothing has been due)")
            && text.contains("built-in scheduler: not running"),
        "{text}"
    );
    // While one runs, the status says so.
    let mut sched = Command::new(assert_cmd::cargo::cargo_bin("claims"))
        .arg("--home")
        .arg(env.home())
        .args(["schedule", "run"])
        .env_remove("CLAIMS_HOME")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let text = loop {
        let out = env
            .claims()
            .args(["schedule", "status", "--json"])
            .assert()
            .success();
        let j = last_json(&out.get_output().stdout);
        if j["scheduler_running"] == true {
            let out = env.claims().args(["schedule", "status"]).assert().success();
            break String::from_utf8_lossy(&out.get_output().stdout).to_string();
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "{j}");
        std::thread::sleep(Duration::from_millis(100));
    };
    // A second scheduler on the home says one already runs (stderr; it still starts: a
    // standby is allowed).
    let mut second = Command::new(assert_cmd::cargo::cargo_bin("claims"))
        .arg("--home")
        .arg(env.home())
        .args(["schedule", "run"])
        .env_remove("CLAIMS_HOME")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = String::new();
    {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(second.stderr.take().unwrap()).lines();
        while !said.contains("scheduler running") {
            said.push_str(&lines.next().unwrap().unwrap());
            said.push('\n');
        }
    }
    let _ = second.kill();
    let _ = second.wait();
    assert!(said.contains("another scheduler already runs on"), "{said}");
    let _ = sched.kill();
    let _ = sched.wait();
    assert!(
        text.contains("watching since 20") && text.contains("built-in scheduler: running"),
        "{text}"
    );
    // A predict left "running" by a killed process (made here: a record no process's
    // lock stands behind) ...
    {
        let conn = claims_ops::registry::db::open(&env.home().join("claims.db")).unwrap();
        claims_ops::registry::runs::start(&conn, "predict-killed", "predict", "{}").unwrap();
    }
    // A scheduled predict with no input is a recorded failure with a reason (a run in
    // `claims runs`, with the hook's run id), exit 2 as for the CLI, not a crash.
    let (hook, hooks) = env.failure_hook();
    let out = env
        .claims()
        .arg("--config")
        .arg(&hooks)
        .args([
            "--json",
            "schedule",
            "trigger",
            "predict",
            "--date",
            "2026-03-01",
        ])
        .assert()
        .code(2);
    let e = json_error(&out.get_output().stdout, 2);
    assert!(e.contains("input for 2026-03-01 not found"), "{e}");
    let sent: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&hook).unwrap().trim()).unwrap();
    let run_id = sent["run_id"].as_str().unwrap().to_string();
    assert_eq!(
        (sent["job"].as_str(), sent["exit_code"].as_i64()),
        (Some("predict"), Some(2))
    );
    let shown = env.run_detail(&run_id);
    // It records the file the schedule's pattern names, which the console's rerun scores.
    assert!(
        shown.contains("status failed")
            && shown.contains("input for 2026-03-01 not found")
            && shown.contains(&format!(
                "data {}",
                env.home()
                    .join("incoming/applications_2026-03-01.csv")
                    .display()
            )),
        "{shown}"
    );
    // `schedule status` says why the job's last run failed, under its table.
    let out = env.claims().args(["schedule", "status"]).assert().success();
    let status = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        status.contains("predict last failed: ")
            && status.contains("input for 2026-03-01 not found")
            && status.contains(&format!("({}`)", hint(&env, &format!("runs {run_id}")))),
        "{status}"
    );
    // ... is closed as interrupted by it, as by a run that got further.
    let killed = env.run_detail("predict-killed");
    assert!(
        killed.contains("status failed") && killed.contains("interrupted"),
        "{killed}"
    );
    // Bad input found by the pattern: exit 3, as for the CLI.
    let incoming = env.home().join("incoming");
    std::fs::create_dir_all(&incoming).unwrap();
    std::fs::write(incoming.join("applications_2026-03-02.csv"), "a,b\n1,2\n").unwrap();
    env.claims()
        .args(["schedule", "trigger", "predict", "--date", "2026-03-02"])
        .assert()
        .code(3);
    // The monthly retrain on December 1 reads November's labelled file. With neither
    // file there, the error names both at once.
    let out = env
        .claims()
        .args(["schedule", "trigger", "train", "--date", "2026-12-01"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("history.csv") && err.contains("labelled_2026-11.csv"),
        "{err}"
    );
    std::fs::copy(env.path("train.csv"), incoming.join("history.csv")).unwrap();
    let out = env
        .claims()
        .args(["schedule", "trigger", "train", "--date", "2026-12-01"])
        .assert()
        .code(2);
    // The outcome on stdout, the error once on stderr (it used to be glued into both).
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        text.starts_with("train 2026-12-01: failed after 1 attempt(s) (run train-"),
        "{text}"
    );
    assert!(!text.contains("labelled_2026-11.csv"), "{text}");
    assert!(
        err.contains("labelled_2026-11.csv") && !err.contains("history.csv"),
        "{err}"
    );
    // The failed run records the files it would have trained on (the console reruns it).
    let conn = claims_ops::registry::db::open(&env.home().join("claims.db")).unwrap();
    let last = claims_ops::registry::runs::last_of_kind(&conn, "train")
        .unwrap()
        .unwrap();
    let args = last.args.unwrap_or_default();
    assert!(
        args.contains("history.csv") && args.contains("labelled_2026-11.csv"),
        "{args}"
    );
}

/// `claims schedule print --cron | head -1`: the reader leaving early is not a crash (it
/// was a panic, exit 101); the command's own exit code stands and nothing goes to stderr.
/// The same for stderr (`claims train ... 2>&1 | head -1`): a failure keeps its exit code.
#[test]
fn a_closed_output_pipe_is_not_a_crash() {
    let env = Env::new();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("claims"))
        .arg("--home")
        .arg(env.home())
        .args(["train", "--data"])
        .arg(env.path("missing.csv"))
        .env("CLAIMS_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(writer)
        .status()
        .unwrap();
    assert_eq!(
        out.code(),
        Some(2),
        "a missing file is exit 2, closed stderr or not"
    );

    let env = Env::new();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let bin = assert_cmd::cargo::cargo_bin("claims");
    let out = std::process::Command::new(bin)
        .arg("--home")
        .arg(env.home())
        .args(["--json", "schedule", "print", "--cron"])
        .env("CLAIMS_LOG", "warn")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// `claims demo` on a home in use refuses (exit 2) before touching anything: it would
/// promote its sample model over the user's champion and replace today's predictions.
#[test]
fn demo_refuses_a_home_in_use() {
    let env = Env::new();
    train_small(&env);
    let out = env.claims().arg("demo").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("already has 1 model version(s)") && err.contains("new home"),
        "{err}"
    );
    assert!(!env.home().join("demo").exists());
    let registry = claims_ops::registry::Registry::open(&env.home()).unwrap();
    assert_eq!(registry.list().unwrap().len(), 1);
    drop(registry);
    // A home database emptied to 0 bytes beside its model folders is refused by every
    // command, and stays as it is (it used to get a fresh schema: "no models yet", and the
    // next training moved v1 aside).
    let db = env.home().join("claims.db");
    std::fs::write(&db, b"").unwrap();
    for args in [&["models"][..], &["runs"], &["train", "--data", "x.csv"]] {
        let out = env.claims().args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("the database is empty (0 bytes)") && err.contains("model folders v1"),
            "{err}"
        );
        assert_eq!(std::fs::metadata(&db).unwrap().len(), 0);
    }
    // Nor does reading the home's table (explain) give it a schema behind the check's back.
    env.claims().args(["explain", "APP1"]).assert().code(1);
    assert_eq!(std::fs::metadata(&db).unwrap().len(), 0);
    // A claims.db that is gone beside model folders is refused too.
    std::fs::remove_file(&db).unwrap();
    let out = env
        .claims()
        .args(["train", "--data", "x.csv"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the database is missing"), "{err}");
    assert!(!db.exists());
    assert!(env.home().join("models").join("v1").is_dir());
}

/// Ctrl-C (SIGINT) or SIGTERM during a headless train: the run stops at its next boosting
/// round and is recorded as failed (cancelled), not left "running".
#[test]
fn a_stop_signal_records_the_run_as_cancelled() {
    let env = Env::new();
    let data = env.generate("d.csv", 3000, 62);
    let db = env.home().join("claims.db");
    for signal in ["-INT", "-TERM"] {
        let run = Command::new(assert_cmd::cargo::cargo_bin("claims"))
            .arg("--home")
            .arg(env.home())
            .args(["train", "--data"])
            .arg(&data)
            .args(["--search-iters", "400", "--folds", "5"])
            .env_remove("CLAIMS_HOME")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        while !claims_ops::registry::db::open(&db)
            .and_then(|c| claims_ops::registry::runs::list(&c, 1))
            .is_ok_and(|r| r.first().is_some_and(|r| r.status == "running"))
        {
            assert!(t0.elapsed() < Duration::from_secs(30), "no running run");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
        let sent = Command::new("kill")
            .args([signal, &run.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let out = run.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{signal}: {err}");
        assert!(err.contains("stop requested"), "{signal}: {err}");
        let conn = claims_ops::registry::db::open(&db).unwrap();
        let last = claims_ops::registry::runs::list(&conn, 1)
            .unwrap()
            .remove(0);
        assert_eq!(last.status, "failed", "{signal}");
        assert_eq!(last.error.as_deref(), Some("cancelled"), "{signal}");
        assert!(last.finished_at.is_some());
    }
}

/// `generate` without --id-offset gives files of different seeds different ids (a labels
/// file of one must not match another's predictions); --id-offset still sets them.
#[test]
fn generated_ids_differ_by_seed() {
    let env = Env::new();
    let first_id = |seed: &str, extra: &[&str]| {
        let out = env.path(&format!("g{seed}{}.csv", extra.len()));
        env.claims()
            .args(["generate", "--rows", "3", "--seed", seed, "--out"])
            .arg(&out)
            .args(extra)
            .assert()
            .success();
        let text = std::fs::read_to_string(&out).unwrap();
        text.lines()
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(first_id("5", &[]), "APP05000000");
    assert_eq!(first_id("6", &[]), "APP06000000");
    assert_eq!(first_id("6", &["--id-offset", "0"]), "APP00000000");
    // A folder for --out is a usage error that names it (it used to fail at the rename).
    let folder = env.path("gen.csv");
    std::fs::create_dir_all(&folder).unwrap();
    let out = env
        .claims()
        .args(["generate", "--rows", "3", "--out"])
        .arg(&folder)
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("gen.csv' is a folder"), "{err}");
    // `runs --limit 0` is refused by name (it used to list nothing and say "0 most recent").
    let out = env.claims().args(["runs", "--limit", "0"]).assert().code(2);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("--limit"));
    // config-path is how a user finds a broken user config: it works with one.
    let xdg = env.path("xdg");
    std::fs::create_dir_all(xdg.join("claims-ops")).unwrap();
    std::fs::write(xdg.join("claims-ops").join("config.toml"), "bogus = 1\n").unwrap();
    let out = env
        .claims()
        .env("XDG_CONFIG_HOME", &xdg)
        .arg("config-path")
        .assert()
        .success();
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("config.toml (present)"));
    env.claims()
        .env("XDG_CONFIG_HOME", &xdg)
        .args(["generate", "--rows", "1", "--out"])
        .arg(env.path("x.csv"))
        .assert()
        .code(2);
    // The error names the file with the bad key, not the last file read.
    let extra = env.path("extra.toml");
    std::fs::write(&extra, "seed = 7\n").unwrap();
    let out = env
        .claims()
        .env("XDG_CONFIG_HOME", &xdg)
        .arg("--config")
        .arg(&extra)
        .args(["generate", "--rows", "1", "--out"])
        .arg(env.path("x.csv"))
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("claims-ops/config.toml") && !err.contains("extra.toml"),
        "{err}"
    );
}

/// A backfill treats drift as a single `predict` does: the alert hook runs for a date with
/// alerts, and `--fail-on-drift` exits 5 (it used to exit 0 and run no hook).
#[test]
fn a_backfill_raises_drift_like_predict() {
    let env = Env::new();
    train_small(&env);
    day_file(&env, "day_2026-11-05.csv", 600, 5, 10_000, 0.0);
    day_file(&env, "day_2026-11-06.csv", 600, 6, 20_000, 1.0);
    let alerts = env.path("alerts.json");
    let cfg = env.path("alert.toml");
    std::fs::write(
        &cfg,
        format!(
            "[hooks]\non_alert = \"cat >> '{}'; echo >> '{}'\"\n",
            alerts.display(),
            alerts.display()
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
            "2026-11-05",
            "--to",
            "2026-11-06",
            "--input-pattern",
        ])
        .arg(env.path("day_{date}.csv"))
        .args(["--fail-on-drift", "--json"])
        .assert()
        .code(5);
    let j = last_json(&out.get_output().stdout);
    assert_eq!(
        (j["done"].as_u64(), j["exit_code"].as_i64()),
        (Some(2), Some(5)),
        "{j}"
    );
    let drifted = j["drift_alerts"].as_array().unwrap();
    assert_eq!(drifted.len(), 1, "{j}");
    assert!(
        drifted[0].as_str().unwrap().ends_with("on 2026-11-06"),
        "{j}"
    );
    let got = std::fs::read_to_string(&alerts).unwrap();
    let hooked: Vec<serde_json::Value> = got
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(hooked.len(), 1, "{got}");
    assert_eq!(hooked[0]["business_date"], "2026-11-06");
    assert!(!hooked[0]["drift_alerts"].as_array().unwrap().is_empty());
    // The alert payload carries what a failure payload does (job, date, home): one paging
    // script reads both, and tells homes apart.
    assert_eq!(
        (&hooked[0]["job"], &hooked[0]["date"], &hooked[0]["home"]),
        (
            &serde_json::json!("predict"),
            &serde_json::json!("2026-11-06"),
            &serde_json::json!(env.home())
        ),
        "{got}"
    );
    // A scheduled trigger's --json carries the run's result, as `predict --json` does.
    let sched = env.path("sched.toml");
    std::fs::write(
        &sched,
        format!(
            "[schedule.predict]\ninput_pattern = '{}'\n",
            env.path("day_{date}.csv").display()
        ),
    )
    .unwrap();
    let out = env
        .claims()
        .arg("--config")
        .arg(&sched)
        .args([
            "--json",
            "schedule",
            "trigger",
            "predict",
            "--date",
            "2026-11-06",
        ])
        .assert()
        .success();
    let t = last_json(&out.get_output().stdout);
    let result = &t["outcome"]["result"];
    assert_eq!(result["rows_scored"], 600, "{t}");
    assert!(
        !result["drift_alerts"].as_array().unwrap().is_empty(),
        "{t}"
    );
    assert_eq!(result["run_id"], t["outcome"]["run_id"], "{t}");
    // Under --log-format json every stderr line is a JSON log line, the backfill's own
    // per-date lines and its final error too.
    let out = env
        .claims()
        .args([
            "--log-format",
            "json",
            "predict",
            "--from",
            "2026-11-05",
            "--to",
            "2026-11-06",
        ])
        .arg("--input-pattern")
        .arg(env.path("day_{date}.csv"))
        .args(["--force", "--fail-on-drift"])
        .assert()
        .code(5);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let lines: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .all(|l| l["level"].is_string() && l["timestamp"].is_string())
    );
    let said = |m: &str| {
        lines.iter().any(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|s| s.contains(m))
        })
    };
    assert!(said("2026-11-06: done") && said("drift alert"), "{err}");
}

/// SIGTERM while `schedule trigger` waits to retry ends the wait: no further attempt, and
/// the process exits at once (it used to sleep out the backoff and try again; with the
/// default waits systemd would kill it first).
#[test]
fn a_stop_during_the_retry_wait_ends_the_trigger() {
    let env = Env::new();
    train_small(&env);
    day_file(&env, "day_2026-11-02.csv", 200, 5, 10_000, 0.0);
    let hook = env.path("hook.json");
    let cfg = env.path("retry.toml");
    std::fs::write(
        &cfg,
        format!(
            "[schedule]\nretries = 2\nretry_backoff_seconds = 30\n[schedule.predict]\ninput_pattern = '{}'\n\
             [inference]\nsink = 'postgres://u@127.0.0.1:1/db'\n[hooks]\non_failure = \"cat >> '{}'\"\n",
            env.path("day_{date}.csv").display(),
            hook.display()
        ),
    )
    .unwrap();
    let run = Command::new(assert_cmd::cargo::cargo_bin("claims"))
        .arg("--home")
        .arg(env.home())
        .arg("--config")
        .arg(&cfg)
        .args(["schedule", "trigger", "predict", "--date", "2026-11-02"])
        .env_remove("CLAIMS_HOME")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first attempt fails at once (nothing listens on port 1); then it waits 30 s.
    std::thread::sleep(Duration::from_secs(3));
    let t0 = Instant::now();
    let sent = Command::new("kill")
        .args(["-TERM", &run.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = run.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "{:?}: {err}",
        t0.elapsed()
    );
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("Connection refused"), "{err}");
    let conn = claims_ops::registry::db::open(&env.home().join("claims.db")).unwrap();
    let runs = claims_ops::registry::runs::list(&conn, 10).unwrap();
    assert_eq!(runs.iter().filter(|r| r.kind == "predict").count(), 1);
    // The failure hook ran once, for that one attempt.
    let got = std::fs::read_to_string(&hook).unwrap();
    assert_eq!(got.lines().count(), 1, "{got}");
}

/// A read-only command on a mistyped home refuses (exit 2) and creates nothing; a success
/// summary under --json says `"ok": true`; an impossible date is named as such.
#[test]
fn mistyped_homes_dates_and_ok_summaries() {
    let env = Env::new();
    for args in [
        vec!["runs"],
        vec!["models"],
        vec!["drift"],
        vec!["schedule", "status"],
        vec!["schedule", "run"],
        vec!["tui"],
    ] {
        let out = env.claims().args(&args).assert().code(2);
        let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(err.contains("has no claims.db"), "{args:?}: {err}");
        assert!(!env.home().exists(), "{args:?} created the home");
    }
    train_small(&env);
    let out = env.claims().args(["--json", "models"]).assert().success();
    assert_eq!(last_json(&out.get_output().stdout)["ok"], true);
    let out = env
        .claims()
        .args(["drift", "--date", "2026-02-30"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("'2026-02-30': not a calendar date"), "{err}");
    // Run arguments are an object in JSON; usage errors name what is missing or clashing.
    let out = env.claims().args(["--json", "runs"]).assert().success();
    let j = last_json(&out.get_output().stdout);
    assert!(j["runs"][0]["args"]["data"].is_array(), "{j}");
    let out = env.claims().args(["--json", "predict"]).assert().code(2);
    let e = json_error(&out.get_output().stdout, 2);
    assert!(e.contains("--data <FILE>"), "{e}");
    // A failed command's summary names the command.
    let out = env
        .claims()
        .args(["--json", "predict", "--data", "nope.csv"])
        .assert()
        .code(2);
    assert_eq!(last_json(&out.get_output().stdout)["command"], "predict");
    env.claims()
        .args(["schedule", "print", "--cron", "--out-dir", "x"])
        .assert()
        .code(2);
    env.claims()
        .args(["predict", "--data", "x.csv", "--force"])
        .assert()
        .code(2);
}

/// A scoring run whose date was scored again says so in `claims runs` (list and detail),
/// and its quarantined rows and reasons stay with the run after the table's went with the
/// replaced rows.
#[test]
fn a_replaced_run_says_so_and_keeps_its_quarantine_reasons() {
    let env = Env::new();
    train_small(&env);
    let good = day_file(&env, "good.csv", 300, 1, 10_000, 0.0);
    let bad = env.path("bad.csv");
    let age = col(&good, "age");
    edit_rows(&good, &bad, |i, f| {
        if i == 4 || i == 8 {
            f[age] = "old".into();
        }
    });
    let run = |data: &std::path::Path, force: bool| {
        let mut c = env.claims();
        c.args(["predict", "--date", "2026-05-01", "--json", "--data"])
            .arg(data);
        if force {
            c.arg("--force");
        }
        let out = c.assert().success();
        let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
        let id = last_json(&out.get_output().stdout)["result"]["run_id"]
            .as_str()
            .unwrap()
            .to_string();
        (id, text)
    };
    let (first, said) = run(&bad, false);
    assert!(
        said.contains(&format!(
            "quarantined rows and their reasons: `claims --home {} runs {first}`",
            env.home().display()
        )),
        "{said}"
    );
    let (second, said) = run(&good, true);
    assert!(!said.contains("quarantined rows and"), "{said}");
    let out = env.claims().arg("runs").assert().success();
    let list = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        list.contains(&format!("2026-05-01 (rows replaced by {second})")),
        "{list}"
    );
    let out = env.claims().args(["runs", &first]).assert().success();
    let detail = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        detail.contains(&format!("its rows were replaced by run {second}"))
            && detail.contains("2 row(s) quarantined (kept with the run)")
            && detail.contains("row 5 (line 6)")
            && detail.contains("age: value 'old' is not a number"),
        "{detail}"
    );
    let out = env.claims().args(["runs", &second]).assert().success();
    let detail = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(!detail.contains("replaced by run"), "{detail}");
}

/// A backfill date whose file is missing is a recorded failed run (in `claims runs`, with
/// the file's absolute path), like a single `predict` of a missing file.
#[test]
fn a_backfill_date_with_no_file_is_a_recorded_failure() {
    let env = Env::new();
    train_small(&env);
    day_file(&env, "applications_2026-02-01.csv", 100, 1, 1_000_000, 0.0);
    // A gap in a range pages no one: the failure hook is not run for a missing file.
    let (hook, hooks) = env.failure_hook();
    let out = env
        .claims()
        .current_dir(env.path(""))
        .arg("--config")
        .arg(&hooks)
        .args([
            "predict",
            "--from",
            "2026-02-01",
            "--to",
            "2026-02-02",
            "--input-pattern",
            "applications_{date}.csv",
        ])
        .assert()
        .code(2);
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let missing = env.path("applications_2026-02-02.csv");
    assert!(
        text.contains(&format!(
            "2026-02-02 failed: data file '{}' does not exist",
            missing.display()
        )),
        "{text}"
    );
    let out = env.claims().arg("runs").assert().success();
    let runs = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        runs.lines()
            .any(|l| l.contains("failed") && l.contains("2026-02-02")),
        "{runs}"
    );
    assert!(!hook.exists(), "the hook ran for a missing file");
    // Asked for the failed date's drift, `drift` names the run that failed and how to see
    // why; for a date nothing scored, the command that scores it.
    let out = env
        .claims()
        .args(["drift", "--date", "2026-02-02"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("(its scoring run predict-")
            && err.contains(&format!("failed: {}", hint(&env, "runs predict-"))),
        "{err}"
    );
    let out = env
        .claims()
        .args(["drift", "--date", "2026-01-15"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains(&format!(
            "score it first: {}",
            hint(&env, "predict --data FILE --date 2026-01-15`")
        )),
        "{err}"
    );
    // A range whose every date fails leaves no new, empty sink file behind.
    let sink = env.path("new-sink.db");
    env.claims()
        .current_dir(env.path(""))
        .args(["predict", "--from", "2026-02-03", "--to", "2026-02-04"])
        .args(["--input-pattern", "applications_{date}.csv"])
        .arg("--sink")
        .arg(format!("sqlite:{}", sink.display()))
        .assert()
        .code(2);
    assert!(!sink.exists(), "the backfill made an empty sink file");
}

/// A backfill whose pattern finds one day's file under two dates (a copy under the wrong
/// name) scores both, and says so for the second date: in its line, in the summary and in
/// `--json` (the warning was only in that run's record).
#[test]
fn a_backfill_says_when_a_file_was_scored_for_another_date_too() {
    let env = Env::new();
    train_small(&env);
    let first = day_file(&env, "applications_2026-02-01.csv", 100, 1, 1_000_000, 0.0);
    std::fs::copy(&first, env.path("applications_2026-02-02.csv")).unwrap();
    let out = env
        .claims()
        .current_dir(env.path(""))
        .args([
            "predict",
            "--from",
            "2026-02-01",
            "--to",
            "2026-02-02",
            "--input-pattern",
            "applications_{date}.csv",
            "--json",
        ])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        stdout.contains("warning for 2026-02-02: ") && stdout.contains("2026-02-01"),
        "{stdout}"
    );
    let j = last_json(&out.get_output().stdout);
    let warned = j["dates"][1]["warnings"].to_string();
    assert!(warned.contains("2026-02-01"), "{j}");
    assert_eq!(j["dates"][0]["warnings"], serde_json::json!([]), "{j}");
}

/// A backfill range that is mostly without inputs (a mistyped year) is refused before
/// anything runs, instead of recording a failed run for each date.
#[test]
fn a_backfill_range_mostly_without_inputs_is_refused() {
    let env = Env::new();
    train_small(&env);
    day_file(&env, "applications_2026-02-01.csv", 100, 1, 1_000_000, 0.0);
    let runs_before = claims_ops::registry::runs::list(
        &claims_ops::registry::db::open(&env.home().join("claims.db")).unwrap(),
        1000,
    )
    .unwrap()
    .len();
    let out = env
        .claims()
        .current_dir(env.path(""))
        .args(["predict", "--from", "2016-02-01", "--to", "2026-02-01"])
        .args(["--input-pattern", "applications_{date}.csv"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("3653 of the 3654 dates from 2016-02-01 to 2026-02-01 have no input file")
            && err.contains("applications_2016-02-01.csv")
            && err.contains("nothing was scored or recorded"),
        "{err}"
    );
    let runs_after = claims_ops::registry::runs::list(
        &claims_ops::registry::db::open(&env.home().join("claims.db")).unwrap(),
        1000,
    )
    .unwrap()
    .len();
    assert_eq!(runs_after, runs_before);
    // Dates already done whose files were archived since do not count as missing: a
    // resumed backfill of 40 days skips them all.
    let days: Vec<String> = (1..=40)
        .map(|k| {
            (chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap() + chrono::Days::new(k))
                .to_string()
        })
        .collect();
    for (k, d) in days.iter().enumerate() {
        day_file(
            &env,
            &format!("applications_{d}.csv"),
            20,
            k as u64,
            2_000_000 + 100 * k,
            0.0,
        );
    }
    let range = ["--from", &days[0], "--to", &days[39]];
    let backfill = || {
        env.claims()
            .current_dir(env.path(""))
            .arg("predict")
            .args(range)
            .args(["--input-pattern", "applications_{date}.csv"])
            .assert()
    };
    backfill().success();
    for d in &days {
        std::fs::remove_file(env.path(&format!("applications_{d}.csv"))).unwrap();
    }
    let out = backfill().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(text.contains("0 done, 40 skipped, 0 failed"), "{text}");
}

/// A broken config does not hide the home's run and model records (what someone fixing it
/// needs to see); the commands that use the config still refuse it.
#[test]
fn a_broken_config_still_shows_runs_and_models() {
    let env = Env::new();
    train_small(&env);
    let bad = env.path("bad.toml");
    std::fs::write(&bad, "[inference]\ntop_reason = 3\n").unwrap();
    for cmd in ["runs", "models"] {
        let out = env
            .claims()
            .arg("--config")
            .arg(&bad)
            .arg(cmd)
            .assert()
            .success();
        let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
        let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(
            text.contains("train-") || text.contains("v1"),
            "{cmd}: {text}"
        );
        assert!(
            err.contains("warning: ") && err.contains("top_reason"),
            "{cmd}: {err}"
        );
    }
    let out = env
        .claims()
        .arg("--config")
        .arg(&bad)
        .args(["predict", "--data"])
        .arg(env.path("train.csv"))
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("top_reason"), "{err}");
}

/// An empty CLAIMS_HOME (a unit file's unset variable) is no home, not a `--home` without
/// a value: `--home` given beside it works (every command was refused).
#[test]
fn an_empty_claims_home_is_no_home() {
    let env = Env::new();
    train_small(&env);
    let out = env
        .claims()
        .env("CLAIMS_HOME", "")
        .args(["models"])
        .assert()
        .success();
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("champion"));
}

/// Root in another account's home writes no log there (a root-owned log folder or file
/// would lock the account's jobs out of it, and handing one over would trust links the
/// account controls): a planted link to a root-only file leaves that file as it was.
#[test]
fn root_writes_no_log_in_another_accounts_home() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return; // only root can be in another account's home
    }
    let env = Env::new();
    let home = env.path("acct");
    let outside = env.path("root-only");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("claims.log"), "keep\n").unwrap();
    std::fs::create_dir_all(&home).unwrap();
    std::os::unix::fs::symlink(&outside, home.join("logs")).unwrap();
    std::os::unix::fs::lchown(home.join("logs"), Some(4242), Some(4242)).unwrap();
    std::os::unix::fs::chown(&home, Some(4242), Some(4242)).unwrap();
    let out = assert_cmd::Command::cargo_bin("claims")
        .unwrap()
        .env_remove("CLAIMS_HOME")
        .arg("--home")
        .arg(&home)
        .args(["schedule", "print", "--systemd", "--user", "4242"])
        .assert()
        .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("logged on stderr only"), "{err}");
    assert_eq!(
        std::fs::read_to_string(outside.join("claims.log")).unwrap(),
        "keep\n"
    );
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(outside.join("claims.log")).unwrap().uid(),
        0
    );
}
