//! Writing one business date to PostgreSQL: each batch of predictions, then the quarantine
//! rows, go in with `COPY` (text format) inside the transaction that deleted the date's old
//! rows, so a crash before the commit leaves them.

use std::io::Write;

use super::postgres::err;
use super::{DayWriter, PredictionBatch, QuarantineRow};
use crate::error::Result;

/// COPY text format: backslash, tab, newline and carriage return escaped. A NUL byte,
/// which PostgreSQL's text cannot hold (a quarantined row's raw line may have one), is
/// stored as the four characters `\x00`, as `claims` shows it.
fn copy_text(s: &str, out: &mut Vec<u8>) {
    for b in s.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            0 => out.extend_from_slice(b"\\\\x00"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

/// An open PostgreSQL transaction replacing one date; each batch goes in with one COPY.
pub(super) struct PgDay<'c> {
    tx: postgres::Transaction<'c>,
    date: chrono::NaiveDate,
    buf: Vec<u8>,
}

impl<'c> PgDay<'c> {
    /// The writer for `date` in `tx` (which holds the date and has deleted its rows).
    pub(super) fn new(tx: postgres::Transaction<'c>, date: chrono::NaiveDate) -> Self {
        PgDay {
            tx,
            date,
            buf: Vec::with_capacity(1 << 20),
        }
    }
}

impl DayWriter for PgDay<'_> {
    fn predictions(&mut self, b: &PredictionBatch) -> Result<()> {
        if b.is_empty() {
            return Ok(());
        }
        let buf = &mut self.buf;
        buf.clear();
        // The columns every row shares, encoded once.
        let mut role = vec![];
        copy_text(b.role, &mut role);
        let mut tail = vec![b'\t'];
        copy_text(b.run_id, &mut tail);
        tail.push(b'\t');
        tail.extend_from_slice(b.scored_at.as_bytes());
        tail.push(b'\n');
        for i in 0..b.len() {
            buf.extend_from_slice(b.business_date.as_bytes());
            buf.push(b'\t');
            copy_text(&b.ids[i], buf);
            let _ = write!(buf, "\t{}\t", b.model_version);
            buf.extend_from_slice(&role);
            let _ = write!(
                buf,
                "\t{:?}\t{}\t{:?}\t",
                b.scores[i],
                if b.scores[i] >= b.threshold { "t" } else { "f" },
                b.threshold
            );
            copy_text(&b.reasons[i], buf);
            buf.extend_from_slice(&tail);
        }
        let mut w = self
            .tx
            .copy_in(
                "COPY predictions (business_date, application_id, model_version, role, score, predicted_claim,
                 threshold, top_reasons, run_id, scored_at) FROM STDIN",
            )
            .map_err(|e| err("copy", e))?;
        w.write_all(buf).map_err(|e| err("copy", e))?;
        w.finish().map_err(|e| err("copy", e))?;
        Ok(())
    }

    fn commit(mut self: Box<Self>, quarantine: &[QuarantineRow]) -> Result<()> {
        // One COPY, as for the predictions (a round trip per row was 0.7 s for 9,500 rows
        // over localhost, and grows with the network's latency).
        if !quarantine.is_empty() {
            let buf = &mut self.buf;
            buf.clear();
            for q in quarantine {
                let _ = write!(buf, "{}\t", self.date);
                copy_text(&q.source_file, buf);
                let _ = write!(buf, "\t{}\t", q.row_number);
                match &q.application_id {
                    Some(id) => copy_text(id, buf),
                    None => buf.extend_from_slice(b"\\N"),
                }
                for text in [&q.reason, &q.raw, &q.run_id] {
                    buf.push(b'\t');
                    copy_text(text, buf);
                }
                buf.push(b'\n');
            }
            let mut w = self
                .tx
                .copy_in(
                    "COPY quarantine (business_date, source_file, row_number, application_id, reason, raw, run_id) FROM STDIN",
                )
                .map_err(|e| err("copy quarantine", e))?;
            w.write_all(buf).map_err(|e| err("copy quarantine", e))?;
            w.finish().map_err(|e| err("copy quarantine", e))?;
        }
        self.tx.commit().map_err(|e| err("commit", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes() {
        let mut b = vec![];
        copy_text("a\tb\\c\nd", &mut b);
        assert_eq!(b, b"a\\tb\\\\c\\nd");
        b.clear();
        copy_text("4\x002", &mut b);
        assert_eq!(b, b"4\\\\x002", "COPY reads it back as the text 4\\x002");
    }
}
