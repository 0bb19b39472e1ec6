//! The Predictions pane's day: loading a date, knowing when the day is larger than what
//! the console loads, searching the whole day for a confirmed filter, and the rows shown.

use super::app::{App, Pane};
use super::data;
use crate::sink::PredictionRow;

impl App {
    /// Loads the selected date's rows, drift and quarantine.
    pub(super) fn load_date(&mut self) {
        if let Some(d) = &self.date {
            let (rows, total) = match self.days.load(&self.home, d) {
                Ok(r) => r,
                Err(e) => {
                    self.status = format!("predictions: cannot read the sink: {e}");
                    Default::default()
                }
            };
            // Every champion row of a date is written by one run (a rerun replaces
            // them all): its id tells when the date is scored again.
            self.day_stamp = Some(rows.first().map(|r| r.run_id.clone()).unwrap_or_default());
            self.predictions = rows;
            self.predictions_total = total;
            self.drift = data::load_drift(&self.home, d);
            self.quarantined = self.days.quarantine(&self.home, d).unwrap_or_default();
        }
        self.search_day();
        self.pred_sel = 0;
    }

    /// Whether the date has more rows than the console loaded.
    pub fn day_truncated(&self) -> bool {
        self.predictions_total > self.predictions.len()
    }

    /// For a confirmed filter on a day larger than what is loaded: the matching ids of the
    /// whole day, from the database.
    pub(super) fn search_day(&mut self) {
        self.found.clear();
        self.elsewhere.clear();
        let Some(d) = &self.date else { return };
        if self.pane == Pane::Predictions
            && self.day_truncated()
            && !self.filtering
            && !self.filter.is_empty()
        {
            match self.days.find(&self.home, d, &self.filter) {
                Ok(rows) => self.found = rows,
                Err(e) => self.status = format!("search failed: {e}"),
            }
        }
        // Nothing here (scored or quarantined): the dates that scored that id.
        self.elsewhere.clear();
        let d = d.clone();
        let needle = self.filter.trim().to_string();
        if self.pane == Pane::Predictions
            && !self.filtering
            && !needle.is_empty()
            && self.visible_predictions().is_empty()
            && !self
                .quarantined
                .iter()
                .any(|(_, id, _)| id.contains(&needle))
        {
            match self.days.dates_of_id(&self.home, &needle) {
                Ok(dates) => self.elsewhere = dates.into_iter().filter(|x| x.0 != d).collect(),
                Err(e) => self.status = format!("search failed: {e}"),
            }
        }
    }

    /// Predictions matching the filter (on the id or the reasons as shown), each with its
    /// reasons as shown.
    pub fn visible_predictions(&self) -> Vec<(&PredictionRow, String)> {
        let f = self.filter.to_lowercase();
        let mut out: Vec<(&PredictionRow, String)> = self
            .predictions
            .iter()
            .map(|r| (r, super::panes::predictions::reasons_shown(&r.top_reasons)))
            .filter(|(r, shown)| {
                f.is_empty()
                    || r.application_id.to_lowercase().contains(&f)
                    || shown.to_lowercase().contains(&f)
            })
            .collect();
        if !self.found.is_empty() {
            // The whole day's id matches, beyond the loaded rows, in score order.
            let loaded: std::collections::HashSet<&str> = self
                .predictions
                .iter()
                .map(|r| r.application_id.as_str())
                .collect();
            let more = self
                .found
                .iter()
                .filter(|r| !loaded.contains(r.application_id.as_str()));
            out.extend(more.map(|r| (r, super::panes::predictions::reasons_shown(&r.top_reasons))));
            out.sort_by(|a, b| {
                b.0.score
                    .total_cmp(&a.0.score)
                    .then_with(|| a.0.application_id.cmp(&b.0.application_id))
            });
        }
        out
    }
}
