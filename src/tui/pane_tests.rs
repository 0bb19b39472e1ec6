//! Console tests of what the panes show and keep (this session's review of the console):
//! wrapped logs, a stable run selection, trial labels, quarantined rows in run details and
//! a short drift panel. Helpers come from `tests.rs`.

use std::sync::Arc;

use super::{app, cfg, home, key, press, render};
use crate::pipeline::train;
use crate::tui::app::Pane;

/// With wrap on, the pane fills from the end: the last log line shows whole, however many
/// rows the lines before it wrap to.
#[test]
fn wrapped_logs_show_the_last_line() {
    let dir = home();
    let mut a = app(dir.path());
    a.logs = (0..60)
        .map(|i| crate::tui::data::LogLine {
            time: "2026-03-02T19:00:01.000Z".into(),
            level: if i == 59 { "ERROR" } else { "INFO" }.into(),
            run_id: "predict-x".into(),
            stage: "contract".into(),
            message: format!(
                "line {i}: {} end-of-line-{i}",
                "a long message that wraps onto more rows ".repeat(3)
            ),
        })
        .collect();
    press(&mut a, key('6'));
    assert_eq!(a.pane, Pane::Logs);
    let plain = render(&a, 80, 24);
    press(&mut a, key('w'));
    assert!(a.wrap);
    for (w, h) in [(80, 24), (120, 40), (60, 15)] {
        let shown = render(&a, w, h);
        assert!(shown.contains("end-of-line-59"), "{w}x{h}:\n{shown}");
        assert!(!shown.contains("end-of-line-10 "), "{w}x{h}:\n{shown}");
    }
    assert!(plain.contains("line 59"));
}

/// A run started elsewhere lands at the top of the list; the selection stays on its run.
#[test]
fn runs_selection_stays_on_its_run_when_runs_arrive() {
    let dir = home();
    let mut a = app(dir.path());
    press(&mut a, key('1'));
    press(&mut a, key('j'));
    let chosen = a.runs[a.run_sel].run_id.clone();
    assert_eq!(a.run_sel, 1);
    let conn = crate::registry::db::open(&dir.path().join("home").join("claims.db")).unwrap();
    crate::registry::runs::start(&conn, "predict-zzzz-new", "predict", "{}").unwrap();
    a.refresh();
    assert_eq!(a.runs[0].run_id, "predict-zzzz-new");
    assert_eq!(a.runs[a.run_sel].run_id, chosen);
}

/// A training started from the Imbalance pane lists what it used: an automatic weight's
/// value and a cost threshold rule.
#[test]
fn console_trials_name_the_weight_and_rule_used() {
    let dir = home();
    let req = train::TrainRequest {
        data: vec![dir.path().join("train.csv")],
        seed: Some(5),
        ..Default::default()
    };
    let (tx, _rx) = std::sync::mpsc::channel();
    let h = dir.path().join("home");
    let t = crate::tui::train_job(cfg(), &h, req, "weight", true, tx, Arc::default()).unwrap();
    let reg = crate::registry::Registry::open(&h).unwrap();
    let m = reg
        .list()
        .unwrap()
        .into_iter()
        .find(|m| m.version == t.version)
        .unwrap();
    let w = m.imbalance.clone().unwrap();
    assert!(w.starts_with("weight:auto="), "{w}");
    assert_eq!(t.settings, format!("{w}, cost"));
}

/// A scoring run's details list the quarantined rows it kept, with their reasons, and
/// where to find the rest.
#[test]
fn run_details_list_quarantined_rows() {
    let dir = home();
    let mut a = app(dir.path());
    press(&mut a, key('1'));
    let mut r = a.runs[0].clone();
    r.summary = Some(
        serde_json::json!({
            "rows_quarantined": 12,
            "quarantined_rows": [
                {"row": 4, "application_id": "APP14000029", "reason": "gender: unknown category '7'"},
                {"row": 9, "application_id": null, "reason": "row has 3 fields, expected 41"}
            ]
        })
        .to_string(),
    );
    let id = r.run_id.clone();
    a.run_detail = Some(r);
    let shown = render(&a, 120, 40);
    assert!(
        shown.contains("row 4  APP14000029  gender: unknown category '7'"),
        "{shown}"
    );
    assert!(
        shown.contains("row 9  (no id)  row has 3 fields"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("(the first 2; all of them: `claims runs {id}`)")),
        "{shown}"
    );
}

/// Run details longer than the pane scroll with the list keys, and the list under them
/// (what `r` would rerun) stays on the run whose details are open.
#[test]
fn run_details_scroll_and_the_list_stays() {
    let dir = home();
    let mut a = app(dir.path());
    press(&mut a, key('1'));
    let mut r = a.runs[0].clone();
    let rows: Vec<serde_json::Value> = (0..10)
        .map(|i| serde_json::json!({"row": i, "application_id": format!("APP{i}"), "reason": format!("reason-{i}")}))
        .collect();
    r.summary = Some(
        serde_json::json!({"rows_quarantined": 10, "quarantined_rows": rows, "drift_alerts": ["age"]})
            .to_string(),
    );
    r.error = Some(
        (0..12)
            .map(|i| format!("error line {i}"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    a.run_detail = Some(r);
    let sel = a.run_sel;
    let top = render(&a, 80, 24);
    assert!(top.contains("run details (Esc closes; j/k scroll"), "{top}");
    assert!(!top.contains("error line 11"), "{top}");
    press(&mut a, key('j'));
    assert_eq!((a.detail_scroll, a.run_sel), (1, sel));
    press(
        &mut a,
        ratatui::crossterm::event::KeyEvent::from(ratatui::crossterm::event::KeyCode::End),
    );
    let end = render(&a, 80, 24);
    assert!(
        end.contains("error line 11") && !end.contains("started "),
        "{end}"
    );
    assert_eq!((a.detail_scroll, a.run_sel), (a.detail_max.get(), sel));
    press(&mut a, key('k'));
    assert_eq!(a.detail_scroll, a.detail_max.get() - 1);
}

/// A drift panel shorter than the list keeps the score, the alerts and the highest PSI,
/// and says how many lower ones it leaves out.
#[test]
fn drift_panel_keeps_what_matters_when_short() {
    let dir = home();
    let mut a = app(dir.path());
    press(&mut a, key('5'));
    let row = |feature: &str, value: f64, level: &str| crate::monitor::drift::DriftRow {
        feature: feature.into(),
        metric: "psi".into(),
        value,
        threshold: Some(0.25),
        breached: level == "alert",
        level: level.into(),
    };
    a.drift = (0..40)
        .map(|i| row(&format!("feature_{i:02}"), f64::from(i) / 1000.0, "ok"))
        .collect();
    a.drift.push(row("score", 0.001, "ok"));
    a.drift.push(row("zz_alerted", 0.4, "alert"));
    a.date = Some("2026-03-02".into());
    let shown = render(&a, 120, 30);
    assert!(shown.contains("score "), "{shown}");
    assert!(shown.contains("zz_alerted"), "{shown}");
    assert!(shown.contains("feature_39"), "{shown}");
    assert!(!shown.contains("feature_00"), "{shown}");
    assert!(
        shown.contains("lower: claims drift") && shown.contains("  --date 2026-03-02"),
        "{shown}"
    );
}

/// The Scores title says how many of the day's applications the model flagged as claims.
#[test]
fn scores_title_counts_the_flagged() {
    let dir = home();
    let mut a = app(dir.path());
    press(&mut a, key('5'));
    let flagged = a.predictions.iter().filter(|p| p.predicted_claim).count();
    assert!(flagged > 0);
    let shown = render(&a, 120, 40);
    assert!(
        shown.contains(&format!(
            "{} scored, {flagged} flagged",
            a.predictions.len()
        )),
        "{shown}"
    );
}

/// Without a comparison (e.g. right after a promotion) the Champion/Challenger pane says
/// who holds which alias and how to get a comparison, lists who moved the champion, latest
/// first, and names the version `b` goes back to (or that there is none).
#[test]
fn compare_pane_without_a_comparison_names_aliases_history_and_rollback() {
    let dir = home();
    let mut a = app(dir.path());
    a.comparison = None;
    press(&mut a, key('4'));
    let shown = render(&a, 120, 30);
    assert!(
        shown.contains("champion v1   challenger v2")
            && shown.contains("no comparison on screen: c compares them"),
        "{shown}"
    );
    assert!(
        shown.contains("no earlier champion to roll back to")
            && shown.contains("champion history (latest first):")
            && shown.contains("none -> v1"),
        "{shown}"
    );
    let mut reg = crate::registry::Registry::open(&dir.path().join("home")).unwrap();
    crate::pipeline::compare::promote(&mut reg, 2, "UAT sign-off CLM-12").unwrap();
    a.refresh();
    let shown = render(&a, 120, 30);
    let (new, old) = (
        shown.find("v1 -> v2").expect(&shown),
        shown.find("none -> v1").expect(&shown),
    );
    assert!(new < old, "latest first:\n{shown}");
    assert!(shown.contains(": UAT sign-off CLM-12"), "{shown}");
    assert!(shown.contains("b rolls the champion back to v1"), "{shown}");
}

/// At 80x24 the Champion/Challenger pane's test and decision scroll with j/k, down to the
/// champion history at the end.
#[test]
fn compare_pane_scrolls_to_its_history() {
    let dir = home();
    let mut a = app(dir.path());
    press(&mut a, key('4'));
    assert!(a.comparison.is_some());
    let top = render(&a, 80, 24);
    assert!(
        top.contains("j/k scroll") && !top.contains("champion history"),
        "{top}"
    );
    press(
        &mut a,
        ratatui::crossterm::event::KeyEvent::from(ratatui::crossterm::event::KeyCode::End),
    );
    let end = render(&a, 80, 24);
    assert!(end.contains("champion history (latest first):"), "{end}");
    assert_eq!(a.detail_scroll, a.detail_max.get());
}

/// A challenger trained elsewhere (here its alias moved in the database to a new version)
/// drops the comparison on screen, which `p` would otherwise have used to promote the new
/// challenger on the old one's numbers; the Metrics pane stays on the version looked at
/// when a newer one arrives above it (it used to move to the version now at its place).
#[test]
fn a_new_challenger_drops_the_comparison_and_the_metrics_pane_keeps_its_version() {
    let dir = home();
    let h = dir.path().join("home");
    let mut a = app(dir.path());
    assert!(a.comparison.is_some());
    press(&mut a, key('2'));
    a.model_sel = a.models.iter().position(|m| m.version == 1).unwrap();
    let conn = crate::registry::db::open(&h.join("claims.db")).unwrap();
    conn.execute(
        "INSERT INTO models(version, created_at, run_id, dir, manifest_sha256) VALUES (3, '2026-03-03T00:00:00Z', 'train-x', 'models/v3', 'x')",
        [],
    )
    .unwrap();
    conn.execute(
        "UPDATE aliases SET version = 3 WHERE alias = 'challenger'",
        [],
    )
    .unwrap();
    a.refresh();
    assert!(a.comparison.is_none());
    assert_eq!(a.models[a.model_sel].version, 1);
}

/// A paused log view stays on the lines being read while a scheduler writes new ones (each
/// new line used to move it by one).
#[test]
fn a_paused_log_stays_on_its_lines() {
    let dir = home();
    let mut a = app(dir.path());
    press(&mut a, key('6'));
    press(&mut a, key('k'));
    press(&mut a, key('k'));
    assert!(!a.follow);
    let before = render(&a, 120, 40);
    let log = dir.path().join("home").join("logs").join("claims.log");
    let mut text = std::fs::read_to_string(&log).unwrap();
    for i in 0..5 {
        text.push_str(&format!(
            "{{\"timestamp\":\"2026-03-02T19:01:0{i}.000Z\",\"level\":\"INFO\",\"fields\":{{\"message\":\"new line {i}\"}}}}\n"
        ));
    }
    std::fs::write(&log, text).unwrap();
    a.refresh();
    assert_eq!(render(&a, 120, 40), before);
}

/// A day's quarantined rows are listed with their reasons under its scores.
#[test]
fn quarantined_rows_show_under_the_scores() {
    let dir = home();
    let mut a = app(dir.path());
    press(&mut a, key('5'));
    a.quarantined = vec![(4, "APP1".into(), "age: value 'abc' is not a number".into())];
    let shown = render(&a, 120, 40);
    assert!(
        shown.contains("1 row(s) quarantined, not scored:")
            && shown.contains("row 4      APP1          age: value 'abc' is not a number"),
        "{shown}"
    );
    // Filtering for it says it was quarantined, not just "0 match".
    a.filter = "app1".into();
    let shown = render(&a, 120, 40);
    assert!(
        shown.contains(
            "No score on 2026-03-02 matches 'app1': APP1 was quarantined (row 4), not scored"
        ) && shown.contains("APP1, row 4:")
            && shown.contains("    age: value 'abc' is not a number"),
        "{shown}"
    );
    // An id scored, or quarantined, only on other dates: the list names them (the console
    // shows one date at a time; a handler used to read "0 match" and give up).
    a.quarantined.clear();
    a.elsewhere = vec![("2026-03-01".into(), false), ("2026-02-27".into(), true)];
    let shown = render(&a, 120, 40);
    assert!(
        shown
            .contains("'app1' was not scored on 2026-03-02. The champion scored it on 2026-03-01.")
            && shown.contains("was quarantined on 2026-02-27 (the reason is on that date)"),
        "{shown}"
    );
}

/// A configured sink file no run has written yet is said once on the status line, not
/// every second over whatever the line says next (a queued job, a gate verdict).
#[test]
fn an_unreadable_sink_is_said_once() {
    let dir = home();
    let sink = dir.path().join("not-yet.db");
    let c = crate::config::Config::from_overlay(&format!(
        "[inference]\nsink = \"sqlite:{}\"\n",
        sink.display()
    ))
    .unwrap();
    let mut a = crate::tui::app::App::new(c, dir.path().join("home"));
    a.refresh();
    assert!(a.status.contains("cannot read the sink"), "{}", a.status);
    a.status = "queued: training (none) starts when the running job ends".into();
    a.refresh();
    assert!(a.status.starts_with("queued:"), "{}", a.status);
    assert!(!sink.exists(), "the console made the sink file");
}
