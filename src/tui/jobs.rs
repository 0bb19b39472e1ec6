//! Runs the console starts: training again on the latest training run's files (`t`) and
//! rerunning a failed run with its recorded inputs (`r`). Each becomes a [`Request`] that
//! the event loop hands to a worker thread.

use std::path::PathBuf;

use super::app::{App, Request};

impl App {
    /// The data files of the latest successful training run (what `t` retrains on).
    pub fn training_data(&self) -> Option<Vec<PathBuf>> {
        self.runs
            .iter()
            .filter(|r| r.kind == "train" && r.status == "succeeded")
            .find_map(|r| {
                let args: serde_json::Value = serde_json::from_str(r.args.as_deref()?).ok()?;
                serde_json::from_value(args["data"].clone()).ok()
            })
    }

    pub(super) fn train(&mut self) {
        match self.training_data() {
            Some(data) => {
                let label = self.form.label();
                if self.busy {
                    self.status =
                        format!("queued training with {label} (replaces any queued request)");
                } else {
                    self.status = format!("training with {label}...");
                }
                self.requests.retain(|r| !matches!(r, Request::Train(..)));
                let req = crate::pipeline::train::TrainRequest {
                    data,
                    ..Default::default()
                };
                self.requests
                    .push(Request::Train(req, label, self.form.cost_rule));
            }
            None => {
                self.status =
                    "no training data known yet: run `claims train --data FILE` once".into()
            }
        }
    }

    pub(super) fn rerun(&mut self) {
        let Some(r) = self.runs.get(self.run_sel) else {
            return;
        };
        // A run whose process died (killed, out of memory) is rerun like a failed one:
        // the rerun records it as interrupted.
        if !matches!(r.status.as_str(), "failed" | "died?") {
            self.status = format!("{} reruns a failed (or died) run", self.key('r'));
            return;
        }
        let args: serde_json::Value = r
            .args
            .as_deref()
            .and_then(|a| serde_json::from_str(a).ok())
            .unwrap_or_default();
        // A scheduled run that failed before it started (its file was late) recorded only
        // its date: rerunning it scores the file the schedule's pattern names for that date.
        let scheduled_input = (args["trigger"] == "schedule")
            .then(|| args["date"].as_str())
            .flatten()
            .map(|d| {
                let pattern = &self.cfg.schedule.predict.input_pattern;
                crate::schedule::runner::resolve(&self.home, &pattern.replace("{date}", d))
            });
        if r.kind == "predict" {
            let data = args["data"]
                .as_str()
                .map(str::to_string)
                .or_else(|| scheduled_input.map(|p| p.display().to_string()));
            match (data.as_deref(), args["date"].as_str()) {
                (Some(data), Some(date)) => {
                    // A recorded sink had its password taken out: the config's sink is the
                    // same table when it reads the same once redacted; otherwise the
                    // console cannot know the password, and says so (never the default).
                    let sink = match args["sink"].as_str().filter(|s| !s.is_empty()) {
                        Some(s) if s.contains("***") => {
                            let own = &self.cfg.inference.sink;
                            if crate::sink::postgres::redact(own) == s {
                                Some(own.clone())
                            } else {
                                self.status = format!(
                                    "{} wrote to {s}, whose password is not recorded: rerun with `claims predict --sink URL`",
                                    r.run_id
                                );
                                return;
                            }
                        }
                        s => s.map(str::to_string),
                    };
                    // Refused because the date was already scored from other contents: the
                    // same rerun would be refused again, so ask whether to replace the rows.
                    if let Some(holds) = r
                        .error
                        .as_deref()
                        .and_then(crate::pipeline::rerun::refused_for_date)
                    {
                        // What the date held then: a later run may have scored it since.
                        let mut lines = wrap(&format!("When {} ran: {holds}", r.run_id), 72);
                        lines.push(String::new());
                        lines.extend(wrap(
                            &format!("Replace {date}'s scores (whichever run wrote them) with those of {data}?"),
                            72,
                        ));
                        lines.push(
                            "Enter replaces them (as `claims predict --force`), Esc cancels".into(),
                        );
                        self.popup = Some(super::app::Popup::Replace {
                            data: data.into(),
                            date: date.to_string(),
                            sink,
                            lines,
                        });
                        return;
                    }
                    self.requests.push(Request::Predict(
                        data.into(),
                        date.to_string(),
                        sink,
                        false,
                    ));
                    self.status = format!("rerunning {} (predict {date})", r.run_id);
                }
                _ => self.status = "this run's inputs are not recorded".into(),
            }
            return;
        }
        // The same files, search size, folds, seed and imbalance as the failed run.
        match serde_json::from_value::<crate::pipeline::train::TrainRequest>(args) {
            Ok(req) if !req.data.is_empty() => {
                let label = req
                    .imbalance
                    .as_ref()
                    .map_or_else(|| self.form.label(), |i| i.label());
                self.requests
                    .push(Request::Train(req, label, self.form.cost_rule));
                self.status = format!("rerunning {}", r.run_id);
            }
            _ => self.status = "this run's inputs are not recorded".into(),
        }
    }
}

/// `text` in lines of at most `width` characters, broken at spaces (a longer word has a
/// line of its own).
pub(super) fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = vec![];
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}
