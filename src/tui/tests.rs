//! Console tests: every pane rendered with a TestBackend at 80x24 and 120x40 from real data
//! (a small training run, a challenger, a scored day with drift), compared with insta
//! snapshots (run ids and times are redacted); and state tests driven by key events.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::{Action, App, Pane, Popup, Request};
use super::ui;
use crate::config::Config;
use crate::data::generate::{GenSpec, write_csv};
use crate::pipeline::{compare, infer, train};

fn cfg() -> Config {
    // A 300-row day still judges drift here, so the panes show warnings and alerts.
    Config::from_overlay(
        "[search]\niterations = 3\nfolds = 3\n[threads]\nparallel_fits = 1\n[drift]\nmin_rows = 100\n",
    )
        .unwrap()
}

/// A home with two models (champion v1, challenger v2), one scored day and a log.
fn home() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path().join("home");
    let c = cfg();
    let data = dir.path().join("train.csv");
    write_csv(
        &GenSpec {
            rows: 1500,
            seed: 3,
            ..GenSpec::default()
        },
        &data,
    )
    .unwrap();
    for seed in [1, 2] {
        let req = train::TrainRequest {
            data: vec![data.clone()],
            seed: Some(seed),
            ..Default::default()
        };
        train::train(&c, &h, &req, None, Arc::new(AtomicBool::new(false))).unwrap();
    }
    let day = dir.path().join("day.csv");
    write_csv(
        &GenSpec {
            rows: 300,
            seed: 4,
            shift: 0.5,
            with_labels: false,
            id_offset: 50_000,
            ..GenSpec::default()
        },
        &day,
    )
    .unwrap();
    let req = infer::PredictRequest {
        data: day,
        date: Some("2026-03-02".into()),
        sink: None,
        replace: false,
    };
    infer::predict(&c, &h, &req, None, Arc::new(AtomicBool::new(false))).unwrap();
    let log = h.join("logs");
    std::fs::create_dir_all(&log).unwrap();
    let lines = [
        r#"{"timestamp":"2026-03-02T19:00:01.000Z","level":"INFO","fields":{"message":"run started","kind":"predict"},"span":{"run_id":"predict-x","stage":"load"}}"#,
        r#"{"timestamp":"2026-03-02T19:00:02.000Z","level":"INFO","fields":{"message":"contract: 300 rows pass, 0 quarantined","rows_in":300},"span":{"run_id":"predict-x","stage":"contract"}}"#,
        r#"{"timestamp":"2026-03-02T19:00:03.000Z","level":"WARN","fields":{"message":"catch-up policy 'latest' skips missed runs","job":"predict"}}"#,
        r#"{"timestamp":"2026-03-02T19:00:04.000Z","level":"ERROR","fields":{"message":"run failed: input for 2026-03-03 not found"},"span":{"run_id":"predict-y","stage":"load"}}"#,
    ];
    std::fs::write(log.join("claims.log"), lines.join("\n") + "\n").unwrap();
    dir
}

fn app(dir: &Path) -> App {
    let c = cfg();
    let h = dir.join("home");
    let mut a = App::new(c.clone(), h.clone());
    a.refresh();
    let reg = crate::registry::Registry::open(&h).unwrap();
    a.comparison = compare::compare(&reg, 1, 2, &c.gate).ok();
    a.status = "? for help".into();
    a
}

fn render(a: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| ui::draw(f, a)).unwrap();
    let buf = t.backend().buffer().clone();
    (0..h)
        .map(|y| {
            (0..w)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn press(a: &mut App, k: KeyEvent) {
    if let Some(act) = a.action_for(k) {
        a.apply(act);
    }
}

#[test]
fn every_pane_at_80x24_and_120x40() {
    let dir = home();
    let mut a = app(dir.path());
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"(train|predict)-\d{8}T\d{6}-[0-9a-f]{4}", "[run-id]");
    // The champion history's times and user.
    settings.add_filter(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "[at]");
    settings.add_filter(r"  by \S+: ", "  by [user]: ");
    settings.add_filter(r"\d{2}-\d{2} \d{2}:\d{2}", "[time]");
    // With the padding around it: a duration's width (0.04 s, 1.2 s) depends on the
    // machine's speed, and the column pads it to the same width.
    settings.add_filter(r" *\d+\.\d+ (s|min)\b *", " [dur] ");
    settings.bind(|| {
        for pane in Pane::ALL {
            a.apply(Action::Show(pane));
            if pane == Pane::Compare && a.comparison.is_none() {
                panic!("comparison missing");
            }
            a.requests.clear();
            a.status = "? for help".into();
            for (w, h) in [(80, 24), (120, 40)] {
                insta::assert_snapshot!(
                    format!("{}_{w}x{h}", pane.title().replace('/', "_")),
                    render(&a, w, h)
                );
            }
        }
    });
}

#[test]
fn threshold_moves_update_the_confusion_matrix() {
    let dir = home();
    let mut a = app(dir.path());
    press(&mut a, key('2'));
    assert_eq!(a.pane, Pane::Metrics);
    let before = a.at_threshold().expect("stored test scores");
    for _ in 0..10 {
        press(&mut a, key('l'));
    }
    let after = a.at_threshold().unwrap();
    assert!(
        (after.threshold - before.threshold - 0.10).abs() < 0.011,
        "{} -> {}",
        before.threshold,
        after.threshold
    );
    assert!(
        after.tp + after.fp <= before.tp + before.fp,
        "a higher threshold flags fewer rows"
    );
    assert_eq!(
        after.tp + after.fp + after.tn + after.fn_,
        before.tp + before.fp + before.tn + before.fn_
    );
    assert!(render(&a, 120, 40).contains(&format!("threshold {:.4}", after.threshold)));
    // Back down, the steps stop at the trained threshold: its own numbers, labelled so.
    for _ in 0..10 {
        press(&mut a, key('h'));
    }
    let back = a.at_threshold().unwrap();
    assert_eq!(back, before, "the trained threshold's matrix again");
    assert!(render(&a, 120, 40).contains(&format!("threshold {:.4}  (trained", before.threshold)));
}

#[test]
fn threshold_steps_follow_the_grid_and_stop_at_the_trained_one() {
    use super::app::step_threshold;
    let near = |a: f64, b: f64| (a - b).abs() < 1e-9;
    // From the trained 0.6162: up to 0.62 (not 0.63), down to 0.61.
    assert!(near(step_threshold(0.6162, 1, Some(0.6162)), 0.62));
    assert!(near(step_threshold(0.6162, -1, Some(0.6162)), 0.61));
    // Crossing it on the way back stops there.
    assert!(near(step_threshold(0.62, -1, Some(0.6162)), 0.6162));
    assert!(near(step_threshold(0.61, 1, Some(0.6162)), 0.6162));
    // On the grid and away from it: plain 0.01 steps, within 0.01-0.99.
    assert!(near(step_threshold(0.50, 1, Some(0.6162)), 0.51));
    assert!(near(step_threshold(0.01, -1, None), 0.01));
    assert!(near(step_threshold(0.99, 1, None), 0.99));
}

#[test]
fn promote_confirm_and_cancel() {
    let dir = home();
    let mut a = app(dir.path());
    press(&mut a, key('4'));
    a.requests.clear();
    press(&mut a, key('p'));
    assert!(matches!(
        a.popup,
        Some(Popup::Confirm {
            promote: Some(2),
            ..
        })
    ));
    press(&mut a, KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    assert!(
        a.popup.is_none() && a.requests.is_empty(),
        "Esc cancels without a request"
    );
    press(&mut a, key('p'));
    // The gate refused v2: the popup says so and why, and Enter needs a reason.
    let shown = render(&a, 100, 30);
    assert!(
        shown.contains("Gate: refused (3 check(s) failed)")
            && shown.contains("FAIL roc_auc uplift")
            && shown.contains("Reason (required): _"),
        "{shown}"
    );
    press(&mut a, KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    assert!(a.requests.is_empty() && a.popup.is_some());
    assert!(a.status.contains("type a reason first"), "{}", a.status);
    // The popup itself says why Enter did nothing, under the reason (the status line can
    // be hidden behind it).
    let shown = render(&a, 100, 30);
    let lines: Vec<&str> = shown.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("Reason (required): _"))
        .unwrap();
    assert!(lines[at + 1].contains("type a reason first"), "{shown}");
    for c in "uat ok".chars() {
        press(&mut a, key(c));
    }
    assert!(render(&a, 80, 24).contains("Reason (required): uat ok_"));
    // Typing answered "type a reason first"; a long reason shows its end and the box keeps
    // its key hint.
    assert!(!a.status.contains("type a reason first"), "{}", a.status);
    for c in " and a long note".chars().cycle().take(120) {
        press(&mut a, key(c));
    }
    let shown = render(&a, 80, 24);
    assert!(
        shown.contains("Enter confirms, Esc cancels") && shown.contains("Reason (required): …"),
        "{shown}"
    );
    for _ in 0..120 {
        press(
            &mut a,
            KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE),
        );
    }
    press(&mut a, KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    assert_eq!(a.requests, vec![Request::Promote(Some(2), "uat ok".into())]);
    // Nothing to roll back to yet (v1 was never replaced): a message, no confirmation.
    press(&mut a, key('b'));
    assert!(a.popup.is_none(), "{:?}", a.popup);
    assert!(a.status.contains("no earlier champion"), "{}", a.status);
    // Once v2 is promoted, the confirmation says where the champion goes back to.
    let mut reg = crate::registry::Registry::open(&dir.path().join("home")).unwrap();
    compare::promote(&mut reg, 2, "uat ok").unwrap();
    press(&mut a, key('b'));
    assert!(matches!(
        &a.popup,
        Some(Popup::Confirm { promote: None, gate, .. }) if gate[0].contains("from v2 to v1")
    ));
}

/// Enter on a score opens it in full: the decision against the threshold and every reason
/// with its value and contribution; any key closes it.
#[test]
fn a_score_opens_in_full() {
    let dir = home();
    let mut a = app(dir.path());
    press(&mut a, key('5'));
    press(&mut a, KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    let top = a.visible_predictions()[0].0.clone();
    let shown = render(&a, 120, 40);
    assert!(
        shown.contains(&top.application_id)
            && shown.contains(&format!("score {:.4} against threshold", top.score))
            && shown.contains(if top.predicted_claim {
                "what raised the score most, from there (log-odds):"
            } else {
                "what kept the score down most, from there (log-odds):"
            })
            && shown.contains("odds x")
            && shown.contains("all other features")
            && shown.contains(&format!("  = score {:.4} (log-odds", top.score))
            && shown.contains("where every application of v"),
        "{shown}"
    );
    // At 80x24 the popup still fits its closing hint under the legend.
    let small = render(&a, 80, 24);
    assert!(
        small.contains("(odds x2: that value doubled the odds of a claim; x0.5: halved them)")
            && small.contains(if top.predicted_claim {
                "(what lowered it is not listed one by one: see \"all other features\")"
            } else {
                "(what raised it is not listed one by one: see \"all other features\")"
            }),
        "{small}"
    );
    assert!(matches!(a.popup, Some(Popup::Score(..))));
    press(&mut a, key('x'));
    assert!(a.popup.is_none());
}

/// A day larger than the console loads says so, and a confirmed filter finds an id
/// beyond the loaded rows (it used to say the day had 2,000 rows and find nothing).
#[test]
fn a_large_day_is_counted_and_searched_whole() {
    let dir = home();
    let day = dir.path().join("big.csv");
    let rows = super::data::MAX_ROWS + 100;
    let spec = GenSpec {
        rows,
        seed: 8,
        with_labels: false,
        id_offset: 70_000,
        ..GenSpec::default()
    };
    write_csv(&spec, &day).unwrap();
    let req = infer::PredictRequest {
        data: day,
        date: Some("2026-03-04".into()),
        sink: None,
        replace: false,
    };
    let h = dir.path().join("home");
    infer::predict(&cfg(), &h, &req, None, Arc::new(AtomicBool::new(false))).unwrap();
    let mut a = app(dir.path());
    press(&mut a, key('5'));
    assert_eq!(a.date.as_deref(), Some("2026-03-04"));
    let screen = render(&a, 120, 40);
    // The flagged count of a day larger than what is loaded is its scoring run's.
    let run = a
        .runs
        .iter()
        .find(|r| r.run_id == a.predictions[0].run_id)
        .unwrap();
    let flagged = run.summary_json()["predicted_claims"].as_u64().unwrap();
    // At 120 columns the counts come before the note that the list is partial.
    assert!(
        screen.contains(&format!("{rows} scored, {flagged} flagged, top")),
        "{screen}"
    );
    let wide = render(&a, 160, 40);
    assert!(
        wide.contains(&format!(
            "{rows} scored, {flagged} flagged, top {} shown",
            super::data::MAX_ROWS
        )),
        "{wide}"
    );
    let loaded: std::collections::HashSet<String> = a
        .predictions
        .iter()
        .map(|p| p.application_id.clone())
        .collect();
    let beyond = (0..rows)
        .map(|i| format!("APP{:08}", 70_000 + i))
        .find(|id| !loaded.contains(id))
        .unwrap();
    press(&mut a, key('/'));
    for c in beyond.chars() {
        press(&mut a, key(c));
    }
    assert!(a.visible_predictions().is_empty());
    assert!(render(&a, 120, 40).contains(&format!("Enter searches all {rows} ids")));
    press(&mut a, KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    let found: Vec<String> = a
        .visible_predictions()
        .iter()
        .map(|(p, _)| p.application_id.clone())
        .collect();
    assert_eq!(found, vec![beyond.clone()]);
    assert!(render(&a, 120, 40).contains(&format!("1 of {rows} match '{beyond}'")));
    // Enter on it opens the score in full.
    press(&mut a, KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    assert!(
        matches!(&a.popup, Some(Popup::Score(title, _)) if title.contains(&beyond)),
        "{:?}",
        a.popup
    );
    press(&mut a, KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    press(&mut a, KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    assert!(a.filter.is_empty() && a.found.is_empty());
    // A filter every row matches: the day's search stops at what the console loads, and
    // the title says more may match (it said "2000 of 2100 match").
    for c in "/APP\n".chars() {
        let code = if c == '\n' {
            KeyCode::Enter
        } else {
            KeyCode::Char(c)
        };
        press(&mut a, KeyEvent::new(code, KeyModifiers::NONE));
    }
    let (max, shown) = (super::data::MAX_ROWS, render(&a, 160, 40));
    assert!(
        shown.contains(&format!("at least {max} of {rows} match 'APP'")),
        "{shown}"
    );
}

#[test]
fn filter_and_follow() {
    let dir = home();
    let mut a = app(dir.path());
    press(&mut a, key('5'));
    let all = a.visible_predictions().len();
    assert_eq!(all, 300);
    // End and Home jump to the last and first rows.
    press(&mut a, KeyEvent::new(KeyCode::End, KeyModifiers::NONE));
    assert_eq!(a.pred_sel, 299);
    press(&mut a, KeyEvent::new(KeyCode::Home, KeyModifiers::NONE));
    assert_eq!(a.pred_sel, 0);
    press(&mut a, key('/'));
    for c in "APP0005000".chars() {
        press(&mut a, key(c));
    }
    let some = a.visible_predictions().len();
    assert!((1..20).contains(&some), "{some}");
    press(&mut a, KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    assert_eq!(a.visible_predictions().len(), all);
    // The filter matches the reasons as shown ("feature=value"), not the stored JSON.
    let shown = a.visible_predictions()[0].1.clone();
    let first = shown.split(" (").next().unwrap().to_string();
    assert!(first.contains('='), "{shown}");
    press(&mut a, key('/'));
    for c in first.chars() {
        press(&mut a, key(c));
    }
    let matched = a.visible_predictions();
    assert!(!matched.is_empty() && matched.len() < all, "{first}");
    assert!(
        matched
            .iter()
            .all(|(_, s)| s.to_lowercase().contains(&first.to_lowercase()))
    );
    // Confirmed with Enter, the filter stays and leads the title; Esc then clears it.
    press(&mut a, KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    assert!(!a.filtering && a.filter == first);
    assert!(render(&a, 120, 40).contains(&format!("match '{first}'")));
    press(&mut a, KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    assert!(a.filter.is_empty());

    press(&mut a, key('6'));
    assert!(a.follow);
    press(&mut a, key('k')); // scrolling up pauses following
    assert!(!a.follow && a.log_scroll == 1);
    press(&mut a, key('f'));
    assert!(a.follow && a.log_scroll == 0);
    press(&mut a, key('f'));
    assert!(!a.follow);
    press(&mut a, key('L'));
    press(&mut a, key('L'));
    assert_eq!(a.visible_logs().len(), 2, "WARN and ERROR only");
    press(&mut a, key('q'));
    assert!(a.quit);
}

#[test]
fn keys_can_be_rebound_in_config() {
    let mut keys = std::collections::BTreeMap::new();
    keys.insert("train".to_string(), "T".to_string());
    keys.insert("quit".to_string(), "x".to_string());
    keys.insert("nonsense".to_string(), "z".to_string());
    let (map, problems) = super::keys::key_remap(&keys);
    assert_eq!(map.get(&'T'), Some(&'t'));
    assert_eq!(map.get(&'t'), Some(&'\0'), "the old key is unbound");
    assert_eq!(map.get(&'x'), Some(&'q'));
    assert_eq!(
        problems,
        vec!["tui.keys.nonsense: unknown action".to_string()]
    );
    let mut c = cfg();
    c.tui.keys = keys;
    let mut a = App::new(c, std::env::temp_dir().join("claims-no-home"));
    assert!(a.action_for(key('q')).is_none());
    // The help popup shows the keys as rebound.
    let help = super::ui::help(super::app::Pane::Imbalance, &a.remap).join("\n");
    assert!(help.contains("x / Ctrl-C   quit"), "{help}");
    assert!(
        help.contains("T            train with these settings"),
        "{help}"
    );
    assert!(!help.contains("t            train"), "{help}");
    assert!(help.contains("?            this help"), "{help}");
    // And so do the panes' hints and the status line.
    assert_eq!((a.key('t'), a.key('q'), a.key('p')), ('T', 'x', 'p'));
    press(&mut a, key('x'));
    assert!(a.quit);
}

/// The config's colour check (kept free of the UI crates) accepts exactly what ratatui does.
#[test]
fn config_colours_are_ratatui_colours() {
    for s in [
        "cyan",
        "Light-Blue",
        "light_red",
        "bright green",
        "grey",
        "silver",
        "DarkGray",
        "lightblack",
        "reset",
        "0",
        "255",
        "256",
        "-1",
        "#30a0ff",
        "#30A0FF",
        "#30a0f",
        "#30a0fg",
        "30a0ff",
        "purplish",
        "",
        "light",
        "blue ",
        "#ffffff0",
    ] {
        assert_eq!(
            crate::config::is_colour(s),
            s.parse::<ratatui::style::Color>().is_ok(),
            "{s:?}"
        );
    }
}

/// A run's details show its inputs, as `claims runs RUN_ID` does.
#[test]
fn run_details_show_the_inputs() {
    let dir = home();
    let mut a = app(dir.path());
    press(&mut a, key('1'));
    press(&mut a, KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    let screen = render(&a, 120, 40);
    assert!(
        screen.contains("args  data ") && screen.contains("day.csv"),
        "{screen}"
    );
    assert!(screen.contains("date 2026-03-02"), "{screen}");
}

/// Typed text edits as in a shell: Ctrl-W drops the last word, Ctrl-U the whole line
/// (they used to be typed as the letters w and u).
#[test]
fn ctrl_w_and_ctrl_u_edit_the_filter() {
    let mut a = App::new(cfg(), std::env::temp_dir().join("claims-no-home"));
    a.pane = super::app::Pane::Predictions;
    press(&mut a, key('/'));
    assert!(a.filtering);
    for c in "abc def".chars() {
        press(&mut a, key(c));
    }
    let ctrl = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
    press(&mut a, ctrl('w'));
    assert_eq!(a.filter, "abc ");
    press(&mut a, ctrl('u'));
    assert_eq!(a.filter, "");
}

/// The date on screen scored again (by another process) is reloaded on the next poll, not
/// only when a new date appears.
#[test]
fn a_rescored_date_is_reloaded() {
    let dir = home();
    let mut a = app(dir.path());
    let before = a.predictions_total;
    assert!(before > 0);
    // As a rerun writes a date: every row by the new run, here one more than before.
    let conn = crate::registry::db::open(&dir.path().join("home").join("claims.db")).unwrap();
    conn.execute_batch(
        "BEGIN;
         UPDATE predictions SET run_id = 'predict-again' WHERE business_date = '2026-03-02';
         INSERT INTO predictions VALUES ('2026-03-02', 'ZZZ-new', 1, 'champion', 0.99, 1, 0.5, '[]', 'predict-again', 't');
         COMMIT;",
    )
    .unwrap();
    a.refresh();
    assert_eq!(a.predictions_total, before + 1);
    assert_eq!(a.predictions[0].application_id, "ZZZ-new");
}

#[path = "job_tests.rs"]
mod job_tests;

#[path = "pane_tests.rs"]
mod pane_tests;
