use super::RunRecord;

/// Thousands of runs started within a second or two draw the same 4-digit suffix many
/// times over (about 30 expected pairs): each gets an id of its own, none fails.
#[test]
fn runs_started_in_the_same_second_get_distinct_ids() {
    let dir = tempfile::tempdir().unwrap();
    let conn = crate::registry::db::open(&dir.path().join("claims.db")).unwrap();
    let ids: std::collections::HashSet<String> = (0..2000)
        .map(|_| super::start_new(&conn, "predict", "{}").unwrap())
        .collect();
    assert_eq!(ids.len(), 2000);
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 2000);
}

fn failed(args: &str, error: &str) -> RunRecord {
    RunRecord {
        run_id: "predict-x".into(),
        kind: "predict".into(),
        status: "failed".into(),
        started_at: String::new(),
        finished_at: None,
        args: Some(args.into()),
        error: Some(error.into()),
        summary: None,
        replaced_by: None,
        exit_code: Some(3),
        stages: vec![],
    }
}

/// A killed run is closed as interrupted in the stage it had started and not recorded,
/// ending at that stage's start; without one, after its last recorded stage.
#[test]
fn a_killed_run_is_closed_in_the_stage_it_died_in() {
    use super::*;
    let dir = tempfile::tempdir().unwrap();
    let conn = crate::registry::db::open(&dir.path().join("claims.db")).unwrap();
    let record = |stage: &str, at: &str| StageRecord {
        stage: stage.into(),
        started_at: at.into(),
        duration_ms: 1500,
        rows_in: None,
        rows_out: None,
        note: None,
    };
    for id in ["train-a", "train-b", "train-c"] {
        start(&conn, id, "train", "{}").unwrap();
        begin_stage(&conn, id, "load", "2026-11-29T19:00:00.000Z").unwrap();
        stage(&conn, id, &record("load", "2026-11-29T19:00:00.000Z")).unwrap();
    }
    begin_stage(&conn, "train-a", "search", "2026-11-29T19:00:01.600Z").unwrap();
    // One killed 40 minutes into its search: closed at its last heartbeat.
    begin_stage(&conn, "train-c", "search", "2026-11-29T19:00:01.600Z").unwrap();
    alive(&conn, "train-c", "2026-11-29T19:40:02.000Z").unwrap();
    let mut closed = close_interrupted(&conn, "train").unwrap();
    closed.sort();
    assert_eq!(closed, ["train-a", "train-b", "train-c"]);
    let runs = list(&conn, 10).unwrap();
    let run = |id: &str| runs.iter().find(|r| r.run_id == id).unwrap();
    let a = run("train-a");
    let error = a.error.as_deref().unwrap();
    assert!(
        error.contains("during its search stage, started at 2026-11-29T19:00:01.600Z"),
        "{error}"
    );
    assert_eq!(a.finished_at.as_deref(), Some("2026-11-29T19:00:01.600Z"));
    let b = run("train-b");
    let error = b.error.as_deref().unwrap();
    assert!(error.contains("stopped) after its load stage;"), "{error}");
    assert_eq!(b.finished_at.as_deref(), Some("2026-11-29T19:00:01.500Z"));
    let c = run("train-c");
    let error = c.error.as_deref().unwrap();
    assert!(
        error.contains("during its search stage, started at 2026-11-29T19:00:01.600Z; last heard from at 2026-11-29T19:40:02.000Z;"),
        "{error}"
    );
    assert_eq!(c.finished_at.as_deref(), Some("2026-11-29T19:40:02.000Z"));
    // A finished run takes no beat.
    alive(&conn, "train-c", "2026-11-29T20:00:00.000Z").unwrap();
    assert_eq!(
        get(&conn, "train-c")
            .unwrap()
            .unwrap()
            .finished_at
            .as_deref(),
        Some("2026-11-29T19:40:02.000Z")
    );
}

#[test]
fn took_keeps_a_short_run_off_zero() {
    let mut r = failed("{}", "x");
    assert_eq!(r.took(), None);
    r.started_at = "2026-11-29T04:58:58.500Z".into();
    for (end, shown) in [
        ("2026-11-29T04:58:58.540Z", "0.04 s"),
        ("2026-11-29T04:58:58.900Z", "0.4 s"),
        ("2026-11-29T04:59:10.800Z", "12.3 s"),
        ("2026-11-29T05:00:28.500Z", "1.5 min"),
    ] {
        r.finished_at = Some(end.into());
        assert_eq!(r.took().as_deref(), Some(shown), "{end}");
    }
}

#[test]
fn a_contract_failure_lists_its_first_problem_first() {
    let r = failed(
        r#"{"date": "2026-11-25", "data": "/srv/claims/incoming/day.csv"}"#,
        "input violates the data contract (2 problem(s))\n  - /srv/claims/incoming/day.csv, column 'income': missing column\n  - /srv/claims/incoming/day.csv, column 'age': missing column",
    );
    assert_eq!(
        r.gist(),
        "2026-11-25: column 'income': missing column (the first of 2 problem(s))"
    );
    // A row's problem, in a training run of two files.
    let r = failed(
        r#"{"data": ["/h/history.csv", "/h/new: month.csv"]}"#,
        "input violates the data contract (1 problem(s))\n  - /h/new: month.csv: row 3 (line 4), column 'claim_status': missing label (null target)",
    );
    assert_eq!(
        r.gist(),
        "row 3 (line 4), column 'claim_status': missing label (null target)"
    );
    // Other failures keep their first line after the date.
    let r = failed(
        r#"{"date": "2026-11-25"}"#,
        "no champion model in /h yet\ncause",
    );
    assert_eq!(r.gist(), "2026-11-25: no champion model in /h yet");
}
