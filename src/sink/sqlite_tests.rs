//! Tests of the SQLite sink's writer.

use super::*;
use crate::sink::{PredictionBatch, Sink};

#[test]
fn multi_row_inserts_write_every_row_as_given() {
    // Two full 64-row statements and three single rows, ids out of key order (the
    // cursor's last-leaf shortcut does not apply to them), then a second batch.
    let dir = tempfile::tempdir().unwrap();
    let mut sink = SqliteSink::open(&dir.path().join("s.db")).unwrap();
    let n = 2 * ROWS_PER_INSERT + 3;
    let ids: Vec<String> = (0..n).map(|i| format!("A{:05}", (i * 37) % n)).collect();
    let scores: Vec<f64> = (0..n).map(|i| i as f64 / n as f64).collect();
    let reasons: Vec<String> = (0..n).map(|i| format!("[\"r{i}\"]")).collect();
    let batch = |k: usize| PredictionBatch {
        business_date: "2026-01-02",
        model_version: 3,
        role: if k == 0 { "champion" } else { "challenger" },
        threshold: 0.5,
        run_id: "run-1",
        scored_at: "2026-01-02T00:00:00Z",
        ids: &ids,
        scores: &scores,
        reasons: &reasons,
    };
    let flag = std::sync::atomic::AtomicBool::new(false);
    let mut day = sink.begin_day("2026-01-02", None, &flag).unwrap();
    day.predictions(&batch(0)).unwrap();
    day.predictions(&batch(1)).unwrap();
    day.commit(&[]).unwrap();
    let rows = sink.read_day("2026-01-02").unwrap();
    assert_eq!(rows.len(), 2 * n);
    for r in rows {
        let i = ids.iter().position(|id| *id == r.application_id).unwrap();
        assert_eq!(r.score, scores[i]);
        assert_eq!(r.predicted_claim, scores[i] >= 0.5);
        assert_eq!(r.top_reasons, reasons[i]);
        assert_eq!(
            (r.model_version, r.threshold, r.run_id.as_str()),
            (3, 0.5, "run-1")
        );
        assert_eq!(r.scored_at, "2026-01-02T00:00:00Z");
        assert!(r.role == "champion" || r.role == "challenger");
    }
}

#[test]
fn a_failed_insert_leaves_the_committed_day_as_it_was() {
    // The statements are `INSERT OR FAIL` (no statement journal): a row that breaks a
    // constraint stops its statement with the rows before it inserted, so the day's
    // transaction must be what undoes them.
    let dir = tempfile::tempdir().unwrap();
    let mut sink = SqliteSink::open(&dir.path().join("s.db")).unwrap();
    let flag = std::sync::atomic::AtomicBool::new(false);
    let write = |sink: &mut SqliteSink, ids: &[String], run: &str| -> Result<()> {
        let scores = vec![0.25; ids.len()];
        let reasons = vec![String::new(); ids.len()];
        let mut day = sink.begin_day("2026-01-02", None, &flag)?;
        day.predictions(&PredictionBatch {
            business_date: "2026-01-02",
            model_version: 1,
            role: "champion",
            threshold: 0.5,
            run_id: run,
            scored_at: "2026-01-02T00:00:00Z",
            ids,
            scores: &scores,
            reasons: &reasons,
        })?;
        day.commit(&[])
    };
    let first: Vec<String> = (0..10).map(|i| format!("A{i}")).collect();
    write(&mut sink, &first, "run-1").unwrap();
    // Row 41 of the second run repeats row 40's id, inside the first 64-row statement.
    let mut second: Vec<String> = (0..ROWS_PER_INSERT + 5).map(|i| format!("B{i}")).collect();
    second[41] = second[40].clone();
    let e = write(&mut sink, &second, "run-2").unwrap_err().to_string();
    assert!(e.contains("UNIQUE"), "{e}");
    let rows = sink.read_day("2026-01-02").unwrap();
    assert_eq!(rows.len(), 10);
    assert!(rows.iter().all(|r| r.run_id == "run-1"));
}
