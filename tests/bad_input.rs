//! Every bad input the training pipeline must refuse: exit code, and a message that names
//! the file, row, column and what was expected. A refused run is recorded as failed and
//! registers nothing.

mod common;

use std::path::Path;

use common::*;

/// `claims train` on `files`, which must exit with `code`; its stderr.
fn train_err(env: &Env, files: &[&Path], code: i32) -> String {
    let mut cmd = env.claims();
    cmd.arg("train");
    for f in files {
        cmd.arg("--data").arg(f);
    }
    let out = cmd.args(FAST).assert().code(code);
    String::from_utf8_lossy(&out.get_output().stderr).to_string()
}

fn refuse(env: &Env, data: &Path, code: i32, needles: &[&str]) {
    let err = train_err(env, &[data], code);
    for n in needles {
        assert!(err.contains(n), "expected {n:?} in stderr:\n{err}");
    }
}

fn assert_nothing_registered(env: &Env) {
    let reg = claims_ops::registry::Registry::open(&env.home()).unwrap();
    assert!(reg.list().unwrap().is_empty());
}

#[test]
fn contract_violations_exit_3_with_file_row_column_reason() {
    let env = Env::new();
    let good = env.generate("good.csv", 600, 11);
    let age = col(&good, "age");
    let marital = col(&good, "marital_status");
    let label = col(&good, "claim_status");
    let id = col(&good, "application_id");
    type Edit = Box<dyn Fn(usize, &mut Vec<String>)>;
    let cases: Vec<(&str, Edit, Vec<&str>)> = vec![
        (
            "type.csv",
            Box::new(move |i, f| {
                if i == 4 {
                    f[age] = "abc".into()
                }
            }),
            vec!["row 5", "column 'age'", "'abc' is not a number"],
        ),
        (
            "nan.csv",
            Box::new(move |i, f| {
                if i == 7 {
                    f[age] = "NaN".into()
                }
            }),
            vec![
                "row 8",
                "column 'age'",
                "'NaN' is not a number, and the column needs one",
            ],
        ),
        (
            "range.csv",
            Box::new(move |i, f| {
                if i == 9 {
                    f[age] = "300".into()
                }
            }),
            vec![
                "row 10",
                "column 'age'",
                "value '300' is out of the allowed range [18, 120]",
            ],
        ),
        (
            "category.csv",
            Box::new(move |i, f| {
                if i == 2 {
                    f[marital] = "Q".into()
                }
            }),
            vec!["row 3", "column 'marital_status'", "unknown category 'Q'"],
        ),
        (
            "null_label.csv",
            Box::new(move |i, f| {
                if i == 6 {
                    f[label] = "".into()
                }
            }),
            vec!["row 7", "column 'claim_status'", "missing label"],
        ),
        (
            "bad_label.csv",
            Box::new(move |i, f| {
                if i == 6 {
                    f[label] = "2".into()
                }
            }),
            vec!["row 7", "not 0 or 1"],
        ),
        (
            "missing_value.csv",
            Box::new(move |i, f| {
                if i == 0 {
                    f[age] = "".into()
                }
            }),
            vec!["row 1", "column 'age'", "missing required value"],
        ),
        (
            "dup_id.csv",
            Box::new(move |i, f| {
                if i == 8 {
                    f[id] = "APP00000002".into()
                }
            }),
            vec!["row 9", "duplicate id 'APP00000002'", "row 3"],
        ),
        (
            "single_class.csv",
            Box::new(move |_, f| f[label] = "0".into()),
            vec!["single class"],
        ),
    ];
    for (name, edit, needles) in cases {
        let p = env.path(name);
        edit_rows(&good, &p, edit);
        let mut n = needles.clone();
        n.push(name);
        refuse(&env, &p, 3, &n);
    }
    assert_nothing_registered(&env);
    let runs = env.claims().args(["runs", "--json"]).assert().success();
    let j = last_json(&runs.get_output().stdout);
    let runs = j["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 9);
    // Each with the exit code the command gave (3: bad input), for an orchestrator that
    // reads runs rather than error texts.
    assert!(runs.iter().all(|r| r["status"] == "failed"
        && r["exit_code"] == 3
        && r["error"].as_str().unwrap().contains("contract")));
}

#[test]
fn missing_and_extra_columns_exit_3() {
    let env = Env::new();
    let good = env.generate("good.csv", 300, 12);
    let text = std::fs::read_to_string(&good).unwrap();
    let dropped = without_column(&good, "age");
    // The file's name holds an escape sequence (it would retitle the terminal): quoted
    // escaped, never sent raw.
    let p = env.path("no_age\u{1b}]0;x\u{7}.csv");
    std::fs::write(&p, dropped).unwrap();
    refuse(
        &env,
        &p,
        3,
        &[
            "no_age\\u001b]0;x\\u0007.csv",
            "column 'age'",
            "missing column",
        ],
    );
    assert!(!train_err(&env, &[&p], 3).contains('\u{1b}'));
    let extra: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| format!("{l},{}", if i == 0 { "surprise" } else { "1" }))
        .collect();
    let p = env.path("extra.csv");
    std::fs::write(&p, extra.join("\n")).unwrap();
    refuse(
        &env,
        &p,
        3,
        &["extra.csv", "column 'surprise'", "unexpected column"],
    );
    // A header name with a space before it, or other capitals: named as the missing
    // column's likely spelling, not as an unexpected column besides.
    let header = text.lines().next().unwrap().to_string();
    let renamed = header
        .replacen(",age,", ", age,", 1)
        .replacen(",income,", ",Income,", 1);
    let p = env.path("spaced.csv");
    std::fs::write(&p, text.replacen(&header, &renamed, 1)).unwrap();
    let err = train_err(&env, &[&p], 3);
    assert!(
        err.contains("the header has ' age' (spaces around the name); rename it to 'age'")
            && err.contains("the header has 'Income' (other capitals); rename it to 'income'")
            && !err.contains("unexpected column"),
        "{err}"
    );
    assert_nothing_registered(&env);
}

#[test]
fn empty_header_only_and_missing_files() {
    let env = Env::new();
    let empty = env.path("empty.csv");
    std::fs::write(&empty, "").unwrap();
    refuse(&env, &empty, 3, &["empty.csv", "empty"]);
    let good = env.generate("good.csv", 50, 13);
    let header = std::fs::read_to_string(&good)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    let only = env.path("header_only.csv");
    std::fs::write(&only, header + "\n").unwrap();
    refuse(&env, &only, 3, &["header_only.csv", "no data rows"]);
    // Not CSV text at all: said by what it is, not as a parser's "invalid utf-8".
    let gz = env.path("day.csv.gz");
    std::fs::write(&gz, [0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00]).unwrap();
    refuse(&env, &gz, 3, &["day.csv.gz", "gzip-compressed"]);
    let utf16 = env.path("utf16.csv");
    let mut bytes = vec![0xff, 0xfe];
    bytes.extend(
        "application_id,age\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes),
    );
    std::fs::write(&utf16, bytes).unwrap();
    refuse(
        &env,
        &utf16,
        3,
        &["utf16.csv", "UTF-16 text: save it as UTF-8"],
    );
    refuse(
        &env,
        &env.path("nope.csv"),
        2,
        &["nope.csv", "does not exist"],
    );
    // A Parquet file under a .csv name, lines ending in CR alone (old Mac), a pipe.
    let pq = env.path("export.csv");
    std::fs::write(&pq, b"PAR1\x15\x04\x15").unwrap();
    refuse(
        &env,
        &pq,
        3,
        &["export.csv", "it is a Parquet file: name it .parquet"],
    );
    let cr = env.path("mac.csv");
    let text = std::fs::read_to_string(&good).unwrap().replace('\n', "\r");
    std::fs::write(&cr, text).unwrap();
    refuse(&env, &cr, 3, &["mac.csv", "lines end in CR alone"]);
    let fifo = env.path("pipe.csv");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        refuse(&env, &fifo, 2, &["pipe.csv", "is not a regular file"]);
    }
    assert_nothing_registered(&env);
}

/// A labels file gets the header checks training's files get, and a mistyped sink stores
/// no label (they were kept before the sink was found missing).
#[test]
fn a_labels_file_with_a_bad_header_or_sink_stores_nothing() {
    let env = Env::new();
    train_small(&env);
    let labels = env.path("labels.csv");
    let count = |env: &Env| -> i64 {
        let conn = claims_ops::registry::db::open(&env.home().join("claims.db")).unwrap();
        conn.query_row("SELECT count(*) FROM labels", [], |r| r.get(0))
            .unwrap()
    };
    for (text, want) in [
        (
            "application_id,claim_status,claim_status\nAPP1,0,1\n",
            "column 'claim_status': column appears twice in the header",
        ),
        (
            "application_id;claim_status\nAPP1;0\n",
            "the file seems separated by ';'",
        ),
        (
            "application_id,Claim_Status\nAPP1,0\n",
            "the header has 'Claim_Status' (other capitals); rename it to 'claim_status'",
        ),
        (
            "application_id,claim_status\nAPP1,0\nAPP1,1\n",
            "duplicate id 'APP1' (first seen in row 1)",
        ),
    ] {
        std::fs::write(&labels, text).unwrap();
        let out = env
            .claims()
            .args(["feedback", "--data"])
            .arg(&labels)
            .assert()
            .code(3);
        let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(err.contains(want), "{want}: {err}");
    }
    std::fs::write(&labels, "application_id,claim_status\nAPP1,0\n").unwrap();
    let nowhere = format!("sqlite:{}", env.path("nope.db").display());
    env.claims()
        .args(["feedback", "--sink", &nowhere, "--data"])
        .arg(&labels)
        .assert()
        .code(2);
    assert_eq!(count(&env), 0, "labels stored by a failed feedback");
    env.claims()
        .args(["feedback", "--data"])
        .arg(&labels)
        .assert()
        .success();
    assert_eq!(count(&env), 1);
}

#[test]
fn duplicate_ids_across_files() {
    let env = Env::new();
    let a = env.generate("a.csv", 400, 14);
    let b = env.generate("b.csv", 400, 15); // same ids APP00000000.. as a.csv
    let err = train_err(&env, &[&a, &b], 3);
    assert!(
        err.contains("b.csv: row 1")
            && err.contains("duplicate id 'APP00000000' (first seen in")
            && err.contains("a.csv row 1"),
        "{err}"
    );
}

/// The same file given twice is refused up front (it used to report every row as a
/// duplicate of itself); a file separated by semicolons is named as such, not as 37
/// missing columns.
#[test]
fn a_file_twice_or_with_another_delimiter() {
    let env = Env::new();
    let a = env.generate("a.csv", 300, 14);
    let err = train_err(&env, &[&a, &env.path("./a.csv")], 2);
    assert!(err.contains("a.csv' is given twice"), "{err}");
    let semi = env.path("semi.csv");
    std::fs::write(
        &semi,
        std::fs::read_to_string(&a).unwrap().replace(',', ";"),
    )
    .unwrap();
    let err = train_err(&env, &[&semi], 3);
    assert!(
        err.contains("the file seems separated by ';'") && !err.contains("missing column"),
        "{err}"
    );
    assert_nothing_registered(&env);
}

/// Rows with too few or too many fields, and a byte that is not UTF-8, are each named by
/// row (and column) in training as in scoring, all of them, and exit 3.
#[test]
fn ragged_rows_and_bad_bytes_name_the_row() {
    let env = Env::new();
    let good = env.generate("good.csv", 300, 17);
    let text = std::fs::read(&good).unwrap();
    let mut lines: Vec<Vec<u8>> = text.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    let width = lines[0].split(|&b| b == b',').count();
    // Data row 10 loses its last two fields; row 12 gets one more.
    let cut: Vec<&[u8]> = lines[10].split(|&b| b == b',').collect();
    lines[10] = cut[..width - 2].join(&b',');
    lines[12].extend_from_slice(b",extra");
    let ragged = env.path("ragged.csv");
    std::fs::write(&ragged, lines.join(&b'\n')).unwrap();
    refuse(
        &env,
        &ragged,
        3,
        &[
            &format!(
                "ragged.csv: row 10 (line 11): the row has {} fields, the header has {width}",
                width - 2
            ),
            &format!(
                "ragged.csv: row 12 (line 13): the row has {} fields, the header has {width}",
                width + 1
            ),
        ],
    );
    // Data row 8's occupation gets a Latin-1 byte.
    let mut lines: Vec<Vec<u8>> = text.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    let k = col(&good, "occupation");
    let mut fields: Vec<Vec<u8>> = lines[8].split(|&b| b == b',').map(<[u8]>::to_vec).collect();
    fields[k].push(0xe9);
    lines[8] = fields.join(&b',');
    let latin = env.path("latin1.csv");
    std::fs::write(&latin, lines.join(&b'\n')).unwrap();
    refuse(
        &env,
        &latin,
        3,
        &["latin1.csv: row 8 (line 9), column 'occupation': not valid UTF-8 text"],
    );
    assert_nothing_registered(&env);
}

#[test]
fn bad_config_and_usage_exit_2() {
    let env = Env::new();
    let data = env.generate("d.csv", 300, 16);
    let cases = [
        (
            "[search.space]\nlearning_rate = { min = 0.1, max = 1.5 }\n",
            vec![
                "search.space.learning_rate.max",
                "'1.5'",
                "within [0.000001, 1]",
            ],
        ),
        (
            "[imbalance]\nstrategy = \"smote\"\n",
            vec!["imbalance.strategy", "'smote'", "none, weight, undersample"],
        ),
        ("[search]\nfoldz = 3\n", vec!["foldz"]),
        (
            "[split]\ntest = 0.7\n",
            vec!["c3.toml", "split.test", "'0.7'"],
        ),
        ("[threads]\nper_fit = 0\n", vec!["threads.per_fit", "'0'"]),
        ("seed = \"x\"\n", vec!["seed"]),
        ("this is not toml", vec!["invalid TOML"]),
        // The key at fault is named, not only the one that came second.
        (
            "[schema]\ntarget = \"age\"\n",
            vec![
                "schema.numeric",
                "'age'",
                "named twice",
                "also in schema.target",
            ],
        ),
        (
            "[schema]\nid_column = \"\"\n",
            vec![
                "schema.id_column",
                "must name the id column (the default is application_id",
            ],
        ),
    ];
    // `train` with config file `cfg`, which must be refused (exit 2); its stderr.
    let refused = |cfg: &Path| -> String {
        let out = env
            .claims()
            .arg("--config")
            .arg(cfg)
            .arg("train")
            .arg("--data")
            .arg(&data)
            .assert()
            .code(2);
        String::from_utf8_lossy(&out.get_output().stderr).to_string()
    };
    for (i, (text, needles)) in cases.iter().enumerate() {
        let cfg = env.path(&format!("c{i}.toml"));
        std::fs::write(&cfg, text).unwrap();
        let err = refused(&cfg);
        for n in needles {
            assert!(
                err.contains(n),
                "config {text:?}: expected {n:?} in:\n{err}"
            );
        }
    }
    env.claims()
        .arg("--config")
        .arg(env.path("absent.toml"))
        .arg("models")
        .assert()
        .code(2);
    // A folder, and a file saved as UTF-16: exit 2 with what is wrong (was "no such
    // file", and exit 1 "stream did not contain valid UTF-8").
    let folder = env.path("cfg.toml");
    std::fs::create_dir(&folder).unwrap();
    let utf16 = env.path("utf16.toml");
    let mut bytes = vec![0xff, 0xfe];
    bytes.extend("seed = 3\n".encode_utf16().flat_map(u16::to_le_bytes));
    std::fs::write(&utf16, bytes).unwrap();
    // Without its byte-order mark it reads as UTF-8 with NULs (was a TOML parse error).
    let utf16_bare = env.path("utf16-bare.toml");
    let bytes: Vec<u8> = "seed = 3\n"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    std::fs::write(&utf16_bare, bytes).unwrap();
    for (cfg, want) in [
        (&folder, "is a folder"),
        (&utf16, "is not UTF-8 text"),
        (&utf16_bare, "is not UTF-8 text"),
    ] {
        let err = refused(cfg);
        assert!(err.contains(want), "{want}: {err}");
    }
    let out = env
        .claims()
        .arg("train")
        .arg("--data")
        .arg(&data)
        .args(["--imbalance", "smote"])
        .assert()
        .code(2);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("--imbalance 'smote'"));
    env.claims()
        .arg("train")
        .arg("--data")
        .arg(&data)
        .args(["--folds", "1"])
        .assert()
        .code(2);
    env.claims().args(["frobnicate"]).assert().code(2);
    // Mistyped options are refused before a run is recorded: they are not a scheduled
    // job's failure in `schedule status`.
    for bad in [["--folds", "1"], ["--search-iters", "0"]] {
        env.claims()
            .arg("train")
            .arg("--data")
            .arg(&data)
            .args(bad)
            .assert()
            .code(2);
    }
    let runs = claims_ops::registry::db::open(&env.home().join("claims.db"))
        .and_then(|c| claims_ops::registry::runs::list(&c, 50))
        .unwrap();
    assert!(
        runs.iter().all(
            |r| !r.error.as_deref().unwrap_or("").contains("--folds '1'")
                && !r
                    .error
                    .as_deref()
                    .unwrap_or("")
                    .contains("--search-iters '0'")
        ),
        "{runs:?}"
    );
}

/// A SQLite sink file whose tables lack columns `claims` writes, or have a NOT NULL column
/// it does not fill, is refused before scoring (exit 2, every problem named), as the
/// PostgreSQL sink is; a new sink file gets the two prediction tables and nothing else.
#[test]
fn a_sqlite_sink_with_other_tables_is_refused_and_a_new_one_holds_only_its_own() {
    let env = Env::new();
    train_small(&env);
    let day = day_file(&env, "day.csv", 200, 1, 10_000, 0.0);
    let run = |db: &std::path::Path| {
        env.claims()
            .args(["predict", "--date", "2026-01-05", "--sink"])
            .arg(format!("sqlite:{}", db.display()))
            .arg("--data")
            .arg(&day)
            .assert()
    };
    let old = env.path("old.db");
    rusqlite::Connection::open(&old)
        .unwrap()
        .execute_batch(
            "CREATE TABLE predictions(business_date TEXT, application_id TEXT, score REAL)",
        )
        .unwrap();
    let out = run(&old).code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("table 'predictions' has no column model_version, role, predicted_claim, threshold, top_reasons, run_id, scored_at"),
        "{err}"
    );
    let extra = env.path("extra.db");
    rusqlite::Connection::open(&extra)
        .unwrap()
        .execute_batch(
            "CREATE TABLE quarantine(business_date TEXT NOT NULL, source_file TEXT NOT NULL, row_number INTEGER NOT NULL,
               application_id TEXT, reason TEXT NOT NULL, raw TEXT NOT NULL, run_id TEXT NOT NULL, owner TEXT NOT NULL)",
        )
        .unwrap();
    let out = run(&extra).code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains(
            "column quarantine.owner is NOT NULL without a default, and claims does not write it"
        ),
        "{err}"
    );
    let tables = |db: &std::path::Path| -> Vec<String> {
        rusqlite::Connection::open(db)
            .unwrap()
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    // A refused sink gets no table besides its own (each used to get the other table).
    assert_eq!(tables(&old), ["predictions"]);
    assert_eq!(tables(&extra), ["quarantine"]);
    // A run that fails leaves no new, empty database behind (a later read would take it
    // for a real sink): a file over the bad-row limit, a missing data file.
    let bad = env.path("bad.csv");
    let age = col(&day, "age");
    edit_rows(&day, &bad, |i, f| {
        if i % 5 == 0 {
            f[age] = "x".into()
        }
    });
    let never = env.path("never.db");
    for data in [&bad, &env.path("missing.csv")] {
        env.claims()
            .args(["predict", "--date", "2026-01-06", "--sink"])
            .arg(format!("sqlite:{}", never.display()))
            .arg("--data")
            .arg(data)
            .assert()
            .failure();
        assert!(!never.exists() && !env.path("never.db-wal").exists());
    }
    let fresh = env.path("fresh.db");
    run(&fresh).success();
    assert_eq!(tables(&fresh), ["predictions", "quarantine"]);
}

/// A PostgreSQL URL whose host has a character no host name has is exit 2 (a typo, not a
/// failed lookup a scheduler would retry).
#[test]
fn a_postgres_host_with_a_space_is_a_usage_error() {
    let env = Env::new();
    train_small(&env);
    let day = day_file(&env, "day.csv", 50, 1, 10_000, 0.0);
    let out = env
        .claims()
        .args([
            "predict",
            "--date",
            "2026-01-07",
            "--sink",
            "postgres://u@bad url/db",
            "--data",
        ])
        .arg(&day)
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("host 'bad url' is not a host name or address"),
        "{err}"
    );
}

/// Training flags out of range are refused before any run starts (exit 2, the range named):
/// a huge --search-iters crashed on memory, a seed above i64::MAX failed at the search.
#[test]
fn training_flags_out_of_range_are_usage_errors() {
    let env = Env::new();
    let data = env.generate("t.csv", 50, 1);
    for (flag, value, range) in [
        ("--search-iters", "1000000000", "1..=100000"),
        ("--folds", "1", "2..=20"),
        ("--seed", "18446744073709551615", "0..=9223372036854775807"),
    ] {
        let out = env
            .claims()
            .args(["train", "--data"])
            .arg(&data)
            .args([flag, value])
            .assert()
            .code(2);
        let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(err.contains(flag) && err.contains(range), "{flag}: {err}");
    }
    assert!(!env.home().join("claims.db").exists());
}

/// A file given as the home folder: a usage error (exit 2) naming it, and the file is
/// left as it was.
#[test]
fn a_file_as_home_is_a_usage_error() {
    let env = Env::new();
    let file = env.generate("day.csv", 50, 1);
    let before = std::fs::read(&file).unwrap();
    let out = assert_cmd::Command::cargo_bin("claims")
        .unwrap()
        .arg("--home")
        .arg(&file)
        .args(["models"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("is a file, not a folder"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), before);
}

/// A home whose log cannot be written (here `logs` is a file; in life, a logs folder owned
/// by another account) says so once, and the command still works: the README promises
/// every run is logged there.
#[test]
fn an_unwritable_log_is_said_once() {
    let env = Env::new();
    train_small(&env);
    let logs = env.home().join("logs");
    std::fs::remove_dir_all(&logs).unwrap();
    std::fs::write(&logs, "not a folder").unwrap();
    let out = env.claims().arg("models").assert().success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert_eq!(
        err.matches("warning: cannot write the log").count(),
        1,
        "{err}"
    );
    assert!(err.contains("this run is logged on stderr only"), "{err}");
    // Under --log-format json it is a JSON line like every other (cron.log stays JSON).
    let out = env
        .claims()
        .args(["--log-format", "json", "models"])
        .assert()
        .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let line = err
        .lines()
        .find(|l| l.contains("cannot write the log"))
        .unwrap_or_else(|| panic!("{err}"));
    let j: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(j["level"], "WARN", "{line}");
}

/// A run that fails under `--log-format json` prints its error once on stderr: one ERROR
/// line carrying the exit code (the run's own "run failed" line goes to the log file only).
#[test]
fn a_failed_run_under_json_logs_has_one_error_line() {
    let env = Env::new();
    let full = env.generate("full.csv", 300, 3);
    // Its name holds a bidi control: JSON escapes leave it raw, so every line is
    // escaped again before it is written (stderr and the log), and stays JSON.
    let data = env.path("no_\u{202e}age.csv");
    std::fs::write(&data, without_column(&full, "age")).unwrap();
    let out = env
        .claims()
        .args(["--log-format", "json", "train", "--data"])
        .arg(&data)
        .assert()
        .code(3);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let errors: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .filter(|l: &serde_json::Value| l["level"] == "ERROR")
        .collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert_eq!(errors[0]["fields"]["exit_code"], 3, "{err}");
    assert!(!err.contains('\u{202e}'), "{err}");
    let message = errors[0]["fields"]["message"].as_str().unwrap();
    assert!(message.contains("no_\u{202e}age.csv"), "{message}");
    let log = std::fs::read_to_string(env.home().join("logs").join("claims.log")).unwrap();
    assert!(!log.contains('\u{202e}'), "{log}");
    assert!(
        log.contains("run failed: input violates the data contract"),
        "{log}"
    );
    // The process's exit is in the log with its code, and so is an error outside any run.
    let exits = |log: &str| -> Vec<serde_json::Value> {
        log.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|l| l["fields"]["exit_code"].is_number())
            .collect()
    };
    let exit = &exits(&log)[0];
    assert_eq!(exit["fields"]["exit_code"], 3, "{log}");
    assert!(
        exit["fields"]["run_id"]
            .as_str()
            .unwrap()
            .starts_with("train-"),
        "{log}"
    );
    let bad = env.path("bad.toml");
    std::fs::write(&bad, "[search]\niteratons = 3\n").unwrap();
    env.claims()
        .arg("--config")
        .arg(&bad)
        .args(["train", "--data"])
        .arg(&full)
        .assert()
        .code(2);
    let log = std::fs::read_to_string(env.home().join("logs").join("claims.log")).unwrap();
    let exit = exits(&log).pop().unwrap();
    assert_eq!(exit["fields"]["exit_code"], 2, "{log}");
    let message = exit["fields"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("exit 2: ") && message.contains("iteratons"),
        "{log}"
    );
}

/// Under `--log-format json` a bad argument is one JSON line on stderr, like every other
/// line there (a log shipper reads them); stdout keeps the `--json` summary.
#[test]
fn a_bad_argument_under_json_logs_is_a_json_line() {
    let env = Env::new();
    let out = env
        .claims()
        .args(["--log-format", "json", "--json", "predict", "--bogus"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    let line: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(line["level"], "ERROR");
    assert_eq!(
        line["fields"]["message"],
        "unexpected argument '--bogus' found"
    );
    assert_eq!(
        json_error(&out.get_output().stdout, 2),
        "unexpected argument '--bogus' found"
    );
}

/// Ids that no table can key on (a NUL byte, a tab, 300 bytes) are set aside like any bad
/// value, the same way on both sinks; a NUL byte elsewhere in a quarantined row is stored
/// as the text `\x00` (PostgreSQL's text cannot hold it: the whole day used to fail there).
#[test]
fn unkeyable_ids_and_nul_bytes_are_quarantined_alike_in_both_sinks() {
    let env = Env::new();
    train_small(&env);
    let day = day_file(&env, "day.csv", 200, 8, 90_000, 0.0);
    let bad = env.path("bad.csv");
    let (id, age) = (col(&day, "application_id"), col(&day, "age"));
    edit_rows(&day, &bad, |i, f| match i {
        3 => f[id] = "APP\u{0}X".into(),
        4 => f[id] = "APP\tX".into(),
        5 => f[id] = format!("APP{}", "9".repeat(300)),
        6 => f[age] = "4\u{0}2".into(),
        _ => {}
    });
    let mut sinks = vec![format!("sqlite:{}", env.path("s.db").display())];
    sinks.extend(pg_database("nul"));
    for sink in sinks {
        let out = env
            .claims()
            .args(["predict", "--data"])
            .arg(&bad)
            .args(["--date", "2026-05-01", "--sink", &sink, "--json"])
            .assert()
            .success();
        let j = last_json(&out.get_output().stdout);
        assert_eq!(j["result"]["rows_quarantined"], 4, "{sink}: {j}");
        let reasons: Vec<String> = j["result"]["quarantined_rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["reason"].as_str().unwrap().to_string())
            .collect();
        let all = reasons.join("\n");
        for needle in [
            "application_id: id 'APP\\0X' holds a control character (U+0000)",
            "application_id: id 'APP\\tX' holds a control character (U+0009)",
            "application_id: id 'APP999",
            "is 303 bytes long; at most 256",
            "age: value '4\\u{0}2' is not a number",
        ] {
            assert!(all.contains(needle), "{sink}: {needle:?} in\n{all}");
        }
        assert!(!all.contains('\0'), "{sink}: {all}");
        // The stored rows, read back through the sink as `claims explain` does.
        let mut s = claims_ops::sink::open_to_read(&sink, &env.home()).unwrap();
        let q = s.read_quarantine("2026-05-01").unwrap();
        assert_eq!(q.len(), 4, "{sink}");
        assert!(
            q.iter().any(|r| r.raw.contains(",4\\x002,"))
                && q.iter().all(|r| !r.raw.contains('\0')),
            "{sink}: {q:?}"
        );
    }
}

/// A missing day file is named as such even when the sink cannot be reached (it was the
/// connection error, exit 1, which the scheduler retried).
#[test]
fn a_missing_file_is_named_even_when_the_sink_is_down() {
    let env = Env::new();
    train_small(&env);
    let out = env
        .claims()
        .args(["predict", "--date", "2026-05-02", "--data"])
        .arg(env.path("nope.csv"))
        .args(["--sink", "postgres://claims@127.0.0.1:1/claims"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("nope.csv' does not exist"), "{err}");
}
