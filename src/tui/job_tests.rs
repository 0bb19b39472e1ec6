//! Console tests that run jobs as the event loop does (predict, compare, promote, rerun)
//! and follow what the screen shows after the database changes.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::*;
use crate::tui::app::{App, Request};

/// The event loop's job state, for tests that start jobs as the loop does.
fn jobs() -> crate::tui::Jobs {
    let (tx, rx) = std::sync::mpsc::channel();
    crate::tui::Jobs {
        tx,
        rx,
        cancel: Arc::new(AtomicBool::new(false)),
        queued: None,
        unfinished: vec![],
    }
}

/// A day scored from the console that raises drift alerts runs `hooks.on_alert` with the
/// run's summary, as a headless predict does (the alert is about the data, whoever ran it).
#[test]
fn a_console_predict_with_drift_alerts_runs_the_alert_hook() {
    let dir = home();
    let got = dir.path().join("alert.json");
    let c = Config::from_overlay(&format!(
        "[drift]\nmin_rows = 100\n[hooks]\non_alert = \"cat > '{}'\"\n",
        got.display()
    ))
    .unwrap();
    let mut a = App::new(c, dir.path().join("home"));
    let mut jobs = jobs();
    crate::tui::start(
        &mut a,
        &mut jobs,
        Request::Predict(dir.path().join("day.csv"), "2026-03-04".into(), None, false),
    );
    let scored = loop {
        match jobs.rx.recv_timeout(std::time::Duration::from_secs(60)) {
            Ok(crate::tui::Msg::Scored(r)) => break r,
            Ok(_) => {}
            Err(e) => panic!("no result: {e}"),
        }
    };
    assert!(scored.is_ok(), "{scored:?}");
    let t0 = std::time::Instant::now();
    while !got.is_file() || std::fs::read_to_string(&got).unwrap_or_default().is_empty() {
        assert!(t0.elapsed().as_secs() < 20, "the alert hook did not run");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&got).unwrap()).unwrap();
    assert_eq!(summary["business_date"], "2026-03-04");
    assert!(
        !summary["drift_alerts"].as_array().unwrap().is_empty(),
        "{summary}"
    );
}

/// What the console's c and p do is what `claims compare` and `claims promote` do: the
/// comparison is recorded, the promotion's audit says which case it was (here an
/// override of the gate's refusal, with the typed reason), and a comparison against a
/// champion that has since changed is dropped from the screen.
#[test]
fn console_compare_and_promote_are_recorded_as_the_cli_records_them() {
    let dir = home();
    let h = dir.path().join("home");
    let mut a = app(dir.path());
    let mut jobs = jobs();
    let wait = |jobs: &crate::tui::Jobs| loop {
        match jobs.rx.recv_timeout(std::time::Duration::from_secs(60)) {
            Ok(m @ (crate::tui::Msg::Compared(_) | crate::tui::Msg::Moved(_))) => break m,
            Ok(_) => {}
            Err(e) => panic!("no answer: {e}"),
        }
    };
    let decisions = || {
        let conn = crate::registry::db::open(&h.join("claims.db")).unwrap();
        conn.query_row("SELECT count(*) FROM decisions", [], |r| r.get::<_, i64>(0))
            .unwrap()
    };
    let before = decisions();
    crate::tui::start(&mut a, &mut jobs, Request::Compare);
    assert!(matches!(wait(&jobs), crate::tui::Msg::Compared(Ok(_))));
    assert_eq!(decisions(), before + 1);
    crate::tui::start(
        &mut a,
        &mut jobs,
        Request::Promote(Some(2), "uat ok".into()),
    );
    let crate::tui::Msg::Moved(said) = wait(&jobs) else {
        unreachable!()
    };
    assert!(said.contains("champion: v1 -> v2"), "{said}");
    let conn = crate::registry::db::open(&h.join("claims.db")).unwrap();
    let audit: String = conn
        .query_row(
            "SELECT reason FROM alias_history WHERE alias = 'champion' ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        audit.starts_with("override: the gate refused v2 against v1")
            && audit.ends_with(": uat ok"),
        "{audit}"
    );
    assert!(a.comparison.is_some());
    a.refresh();
    assert!(
        a.comparison.is_none(),
        "a v1-vs-v2 comparison after v2 became champion"
    );
}

/// On the latest date, the Predictions pane moves to a newly scored later date; on an
/// older date the user picked, it stays there.
#[test]
fn the_latest_date_is_followed_an_older_one_kept() {
    let dir = home();
    let mut a = app(dir.path());
    press(&mut a, key('5'));
    assert_eq!(a.date.as_deref(), Some("2026-03-02"));
    let h = dir.path().join("home");
    let score = |date: &str| {
        let req = infer::PredictRequest {
            data: dir.path().join("day.csv"),
            date: Some(date.into()),
            sink: None,
            replace: false,
        };
        infer::predict(&cfg(), &h, &req, None, Arc::new(AtomicBool::new(false))).unwrap();
    };
    score("2026-03-03");
    a.refresh();
    assert_eq!(
        a.date.as_deref(),
        Some("2026-03-03"),
        "follows the new latest date"
    );
    press(&mut a, key('h'));
    assert_eq!(a.date.as_deref(), Some("2026-03-02"));
    score("2026-03-04");
    a.refresh();
    assert_eq!(
        a.date.as_deref(),
        Some("2026-03-02"),
        "stays on the date picked"
    );
}

/// At 100 columns and more, the Runs list shows a failed run's date and cause beside it;
/// narrower, its date.
#[test]
fn the_runs_list_shows_a_failed_runs_cause() {
    let dir = home();
    let conn = crate::registry::db::open(&dir.path().join("home").join("claims.db")).unwrap();
    let args = r#"{"data":"/in/applications_2026-03-09.csv","date":"2026-03-09"}"#;
    crate::registry::runs::start(&conn, "predict-failed-x", "predict", args).unwrap();
    crate::registry::runs::finish(
        &conn,
        "predict-failed-x",
        Err((
            "input for 2026-03-09 not found: incoming/applications_2026-03-09.csv",
            2,
        )),
    )
    .unwrap();
    let mut a = app(dir.path());
    a.refresh();
    let wide = render(&a, 120, 40);
    assert!(
        wide.contains("predict-failed-x") && wide.contains(" input for 2026-03-09 not found"),
        "{wide}"
    );
    // Narrow: no room for the cause, but the date it was for is shown.
    let narrow = render(&a, 80, 24);
    assert!(
        !narrow.contains("input for 2026-03-09") && narrow.contains(" 2026-03-09 "),
        "{narrow}"
    );
}

/// `r` on a failed training run reruns it with the same files, search size, folds, seed
/// and imbalance, not the console's defaults.
#[test]
fn rerun_keeps_the_failed_runs_settings() {
    let dir = home();
    let mut a = app(dir.path());
    let args = r#"{"data":["/data/t.csv"],"search_iters":5,"folds":3,"imbalance":{"Weight":2.0},"seed":7}"#;
    {
        let conn = crate::registry::db::open(&dir.path().join("home").join("claims.db")).unwrap();
        crate::registry::runs::start(&conn, "train-failed-x", "train", args).unwrap();
        crate::registry::runs::finish(&conn, "train-failed-x", Err(("boom", 1))).unwrap();
    }
    a.refresh();
    press(&mut a, key('1'));
    a.run_sel = a
        .runs
        .iter()
        .position(|r| r.run_id == "train-failed-x")
        .unwrap();
    a.requests.clear();
    press(&mut a, key('r'));
    let want = crate::pipeline::train::TrainRequest {
        data: vec!["/data/t.csv".into()],
        search_iters: Some(5),
        folds: Some(3),
        imbalance: Some(crate::config::Imbalance::Weight(Some(2.0))),
        seed: Some(7),
    };
    assert!(
        matches!(&a.requests[..], [Request::Train(req, label, _)] if *req == want && label == "weight:2"),
        "{:?}",
        a.requests
    );
}

/// `r` on a run whose process died (still "running", no process holds its lock) reruns
/// it, as on a failed one: it was refused as not failed.
#[test]
fn rerun_of_a_died_run_is_allowed() {
    let dir = home();
    let mut a = app(dir.path());
    let args = r#"{"data":["/data/t.csv"],"search_iters":5,"folds":3,"seed":7}"#;
    {
        let conn = crate::registry::db::open(&dir.path().join("home").join("claims.db")).unwrap();
        crate::registry::runs::start(&conn, "train-died-x", "train", args).unwrap();
    }
    a.refresh();
    press(&mut a, key('1'));
    a.run_sel = a
        .runs
        .iter()
        .position(|r| r.run_id == "train-died-x")
        .unwrap();
    assert_eq!(a.runs[a.run_sel].status, "died?");
    a.requests.clear();
    press(&mut a, key('r'));
    assert!(
        matches!(&a.requests[..], [Request::Train(req, ..)] if req.search_iters == Some(5)),
        "{:?} / {}",
        a.requests,
        a.status
    );
}

/// `r` on a scheduled scoring run that failed before it started (its file was late; only
/// its date is recorded) scores the file the schedule's pattern names for that date.
#[test]
fn rerun_of_a_late_scheduled_file_uses_the_pattern() {
    let dir = home();
    let mut a = app(dir.path());
    let args = r#"{"date":"2026-03-09","trigger":"schedule"}"#;
    {
        let conn = crate::registry::db::open(&dir.path().join("home").join("claims.db")).unwrap();
        crate::registry::runs::start(&conn, "predict-late-x", "predict", args).unwrap();
        crate::registry::runs::finish(
            &conn,
            "predict-late-x",
            Err(("input for 2026-03-09 not found", 2)),
        )
        .unwrap();
    }
    a.refresh();
    press(&mut a, key('1'));
    a.run_sel = a
        .runs
        .iter()
        .position(|r| r.run_id == "predict-late-x")
        .unwrap();
    a.requests.clear();
    press(&mut a, key('r'));
    let want = crate::schedule::runner::resolve(
        &a.home,
        &a.cfg
            .schedule
            .predict
            .input_pattern
            .replace("{date}", "2026-03-09"),
    );
    assert!(
        matches!(&a.requests[..], [Request::Predict(data, date, None, false)] if *data == want && date == "2026-03-09"),
        "{:?} {}",
        a.requests,
        a.status
    );
}

/// `r` on a scoring run refused because its date already held another file's rows asks
/// whether to replace them (the CLI's `--force`); Esc leaves everything as it was, Enter
/// scores the file and replaces the rows.
#[test]
fn rerun_of_a_refused_date_asks_then_replaces() {
    let dir = home();
    let h = dir.path().join("home");
    // 2026-03-02 holds day.csv's rows; another file for that date is refused.
    let other = dir.path().join("other.csv");
    crate::data::generate::write_csv(
        &crate::data::generate::GenSpec {
            rows: 200,
            seed: 9,
            with_labels: false,
            id_offset: 70_000,
            ..Default::default()
        },
        &other,
    )
    .unwrap();
    let req = infer::PredictRequest {
        data: other.clone(),
        date: Some("2026-03-02".into()),
        sink: None,
        replace: false,
    };
    let refused = infer::predict(&cfg(), &h, &req, None, Arc::new(AtomicBool::new(false)));
    assert!(refused.is_err());
    let mut a = app(dir.path());
    press(&mut a, key('1'));
    a.run_sel = a.runs.iter().position(|r| r.status == "failed").unwrap();
    a.requests.clear();
    press(&mut a, key('r'));
    let Some(Popup::Replace { lines, .. }) = &a.popup else {
        panic!("no question: {:?} {}", a.popup, a.status)
    };
    let text = lines.join(" ");
    assert!(
        text.contains("When predict-")
            && text.contains(": 2026-03-02 already holds 300 predictions")
            && text.contains("(whichever run wrote them)")
            && text.contains("Enter replaces them")
            && !text.contains("claims --home"),
        "{text}"
    );
    assert!(lines.iter().all(|l| l.chars().count() <= 76), "{lines:?}");
    assert!(a.requests.is_empty(), "nothing runs before the answer");
    press(&mut a, KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    assert!(a.popup.is_none() && a.requests.is_empty());
    press(&mut a, key('r'));
    press(&mut a, KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    assert!(
        matches!(&a.requests[..], [Request::Predict(d, date, None, true)] if *d == other && date == "2026-03-02"),
        "{:?}",
        a.requests
    );
    let mut jobs = jobs();
    let next = a.requests.remove(0);
    crate::tui::start(&mut a, &mut jobs, next);
    let scored = loop {
        match jobs.rx.recv_timeout(std::time::Duration::from_secs(60)) {
            Ok(crate::tui::Msg::Scored(r)) => break r,
            Ok(_) => {}
            Err(e) => panic!("no result: {e}"),
        }
    };
    let said = scored.unwrap();
    assert!(
        said.starts_with("200 scored for 2026-03-02") && said.contains("replacing the 300 rows"),
        "{said}"
    );
    let conn = crate::registry::db::open(&h.join("claims.db")).unwrap();
    let rows: i64 = conn
        .query_row(
            "SELECT count(*) FROM predictions WHERE business_date = '2026-03-02'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 200);
}

/// `c` pressed again while a comparison runs starts no second one (each records a
/// decision); once its answer is in, `c` compares again.
#[test]
fn one_comparison_at_a_time() {
    let dir = home();
    let mut a = app(dir.path());
    a.requests.clear();
    a.apply(crate::tui::app::Action::Compare);
    a.apply(crate::tui::app::Action::Compare);
    let compares = |a: &App| {
        a.requests
            .iter()
            .filter(|r| matches!(r, Request::Compare))
            .count()
    };
    assert_eq!(compares(&a), 1);
    assert!(a.status.contains("already running"), "{}", a.status);
    let mut jobs = jobs();
    crate::tui::handle(
        &mut a,
        &mut jobs,
        crate::tui::Msg::Compared(Err("x".into())),
    );
    a.apply(crate::tui::app::Action::Compare);
    assert_eq!(compares(&a), 2);
}

/// A job asked for while one runs is queued and the status line says so; a newer request
/// replaces the queued one and says which it replaced (a queued retrain was replaced by an
/// `r` rerun without a word).
#[test]
fn a_queued_job_is_said_and_so_is_its_replacement() {
    let dir = home();
    let mut a = app(dir.path());
    let mut jobs = jobs();
    a.busy = true;
    let train = Request::Train(Default::default(), "weight:2".into(), false);
    crate::tui::start(&mut a, &mut jobs, train);
    assert!(
        a.status.starts_with("queued: training (weight:2)"),
        "{}",
        a.status
    );
    let predict = Request::Predict("/d/x.csv".into(), "2026-03-02".into(), None, false);
    crate::tui::start(&mut a, &mut jobs, predict);
    assert!(
        a.status.contains("scoring 2026-03-02")
            && a.status.contains("replaces the queued training (weight:2)"),
        "{}",
        a.status
    );
    assert!(matches!(jobs.queued, Some(Request::Predict(..))));
}
