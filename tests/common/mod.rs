//! Shared helpers for the integration tests: a temporary home, generated data, and a
//! runner for the real `claims` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use claims_ops::data::generate::{GenSpec, write_csv};

/// A temporary home folder and data folder.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    /// `claims --home HOME args...`, with a small, fast search unless the caller overrides.
    pub fn claims(&self) -> Command {
        let mut c = Command::cargo_bin("claims").unwrap();
        c.arg("--home")
            .arg(self.home())
            .env_remove("CLAIMS_HOME")
            .env("CLAIMS_LOG", "warn");
        c
    }
    /// What `claims runs RUN_ID` prints (it must succeed).
    pub fn run_detail(&self, run_id: &str) -> String {
        let out = self.claims().args(["runs", run_id]).assert().success();
        String::from_utf8_lossy(&out.get_output().stdout).to_string()
    }
    /// A config file whose `hooks.on_failure` appends each summary to a file: (that file,
    /// the config file).
    pub fn failure_hook(&self) -> (PathBuf, PathBuf) {
        let hook = self.path("hook.json");
        let config = self.path("hooks.toml");
        std::fs::write(
            &config,
            format!("[hooks]\non_failure = \"cat >> '{}'\"\n", hook.display()),
        )
        .unwrap();
        (hook, config)
    }

    /// Writes a generated labelled file and returns its path.
    pub fn generate(&self, name: &str, rows: usize, seed: u64) -> PathBuf {
        let p = self.path(name);
        write_csv(
            &GenSpec {
                rows,
                seed,
                ..GenSpec::default()
            },
            &p,
        )
        .unwrap();
        p
    }
}

/// Rewrites a CSV: `f(row_index, fields)` edits each data row (0-based); header kept.
pub fn edit_rows(src: &Path, dst: &Path, f: impl Fn(usize, &mut Vec<String>)) {
    let text = std::fs::read_to_string(src).unwrap();
    let mut lines = text.lines();
    let mut out = vec![lines.next().unwrap().to_string()];
    for (i, l) in lines.enumerate() {
        let mut fields: Vec<String> = l.split(',').map(str::to_string).collect();
        f(i, &mut fields);
        out.push(fields.join(","));
    }
    std::fs::write(dst, out.join("\n") + "\n").unwrap();
}

/// Index of a column in the generator's header.
pub fn col(path: &Path, name: &str) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .next()
        .unwrap()
        .split(',')
        .position(|c| c == name)
        .unwrap()
}

/// The `error` text of a `--json` failure summary, after checking its exit code.
pub fn json_error(stdout: &[u8], code: i64) -> String {
    let j = last_json(stdout);
    assert_eq!(j["exit_code"], code, "{j}");
    assert_eq!(j["ok"], false, "{j}");
    j["error"].as_str().unwrap_or_default().to_string()
}

/// Parses the last stdout line as JSON.
pub fn last_json(out: &[u8]) -> serde_json::Value {
    let s = String::from_utf8_lossy(out);
    serde_json::from_str(s.lines().last().unwrap()).unwrap()
}

/// Fast training flags for tests.
pub const FAST: [&str; 4] = ["--search-iters", "3", "--folds", "3"];

/// A fresh database on the test PostgreSQL server (`CLAIMS_TEST_PG`, set by `make test`).
/// `None` (with the reason printed) outside CI when there is no server; a failure in CI.
pub fn pg_database(tag: &str) -> Option<String> {
    let Some(base) = std::env::var("CLAIMS_TEST_PG")
        .ok()
        .filter(|s| !s.is_empty())
    else {
        assert!(
            std::env::var("CI").is_err(),
            "CLAIMS_TEST_PG is not set in CI: .ci/run must start PostgreSQL"
        );
        eprintln!(
            "SKIPPED {tag}: no PostgreSQL server (CLAIMS_TEST_PG unset; scripts/pg-test-server.sh starts one)"
        );
        return None;
    };
    let name = format!("claims_{tag}_{}", std::process::id());
    let mut c =
        postgres::Client::connect(&base, postgres::NoTls).expect("connect to CLAIMS_TEST_PG");
    c.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .unwrap();
    c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let (prefix, _) = base.rsplit_once('/').unwrap();
    Some(format!("{prefix}/{name}"))
}

/// Trains a small champion in `env`'s home.
pub fn train_small(env: &Env) {
    let data = env.generate("train.csv", 2000, 31);
    env.claims()
        .arg("train")
        .arg("--data")
        .arg(&data)
        .args(FAST)
        .assert()
        .success();
}

/// Writes an unlabelled day file with ids starting at `offset`.
pub fn day_file(
    env: &Env,
    name: &str,
    rows: usize,
    seed: u64,
    offset: usize,
    shift: f64,
) -> PathBuf {
    let p = env.path(name);
    let spec = GenSpec {
        rows,
        seed,
        shift,
        with_labels: false,
        id_offset: offset,
        ..GenSpec::default()
    };
    write_csv(&spec, &p).unwrap();
    p
}

/// The CSV text of `src` without column `name` (for missing-column tests).
pub fn without_column(src: &Path, name: &str) -> String {
    let text = std::fs::read_to_string(src).unwrap();
    let k = col(src, name);
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            l.split(',')
                .enumerate()
                .filter(|(i, _)| *i != k)
                .map(|(_, v)| v)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    lines.join("\n")
}

/// The start of a command hint as `claims` prints it for this test's home (`--home`
/// repeated, since the tests pass it): `` `claims --home H REST``.
pub fn hint(env: &Env, rest: &str) -> String {
    format!(
        "`claims --home {} {rest}",
        claims_ops::shell_word(&env.home().display().to_string())
    )
}
