//! The console's state and the one way it changes: [`Action`]s applied by [`App::apply`].
//! Keys map to actions in [`App::action_for`]; drawing (in `ui`) only reads the state.

use std::path::PathBuf;

use super::data::{self, LogLine, ModelView};
use crate::config::Config;
use crate::eval::metrics::{AtThreshold, at_threshold};
use crate::monitor::drift::DriftRow;
use crate::pipeline::PipelineEvent;
use crate::registry::ModelRow;
use crate::registry::runs::RunRecord;
use crate::sink::PredictionRow;

pub use super::state::{Action, ImbalanceForm, Pane, Popup, Request, STRATEGIES, Trial};

/// The console state.
pub struct App {
    /// Home folder.
    pub home: PathBuf,
    /// Configuration.
    pub cfg: Config,
    /// Current pane.
    pub pane: Pane,
    /// Open popup.
    pub popup: Option<Popup>,
    /// Leave the loop.
    pub quit: bool,
    /// Status line.
    pub status: String,
    /// Requests for the event loop.
    pub requests: Vec<Request>,
    /// Runs, newest first.
    pub runs: Vec<RunRecord>,
    /// Selected run.
    pub run_sel: usize,
    /// Open run details; how many rows they (or the Champion/Challenger pane's test and
    /// decision) are scrolled down, and the most they can be (set when drawn).
    pub run_detail: Option<RunRecord>,
    pub detail_scroll: u16,
    pub detail_max: std::cell::Cell<u16>,
    /// The latest event of the job running in this console.
    pub live: Option<PipelineEvent>,
    /// Whether a job launched here is running.
    pub busy: bool,
    /// Model versions, newest first.
    pub models: Vec<ModelRow>,
    /// Selected version in Metrics.
    pub model_sel: usize,
    /// The selected version's evaluation.
    pub model_view: Option<ModelView>,
    /// The champion's test metrics (the Imbalance pane's baseline row).
    pub champion_test: Option<(u32, crate::eval::Evaluation)>,
    /// Threshold being explored in Metrics.
    pub threshold: f64,
    /// The imbalance form.
    pub form: ImbalanceForm,
    /// Results of training runs launched here, oldest first.
    pub trials: Vec<Trial>,
    /// The comparison (text lines and decision), once computed.
    pub comparison: Option<crate::pipeline::compare::Comparison>,
    /// Every move of the champion, oldest first, and the version a rollback goes back to.
    pub champions: data::Champions,
    /// Where the days' predictions are read (the configured sink).
    pub days: data::DaySource,
    /// The run that wrote the shown date's rows, to notice it being scored again.
    pub day_stamp: Option<String>,
    /// The sink error last said on the status line (said again only when it changes).
    pub sink_error: Option<String>,
    /// A comparison is running (one at a time: each records a decision).
    pub comparing: bool,
    /// Business dates with predictions.
    pub dates: Vec<String>,
    /// Shown date.
    pub date: Option<String>,
    /// That date's predictions (highest scores first, at most `data::MAX_ROWS`).
    pub predictions: Vec<PredictionRow>,
    /// How many predictions the date has in all.
    pub predictions_total: usize,
    /// Rows beyond those loaded whose id matches the confirmed filter (searched in the
    /// database when the day has more rows than the console loads).
    pub found: Vec<PredictionRow>,
    /// For a confirmed filter that matches nothing on the date: the other dates whose
    /// champion scored exactly that id, newest first.
    pub elsewhere: Vec<(String, bool)>,
    /// That date's PSI rows.
    pub drift: Vec<DriftRow>,
    /// That date's quarantined rows: (row number, id, reasons).
    pub quarantined: Vec<(i64, String, String)>,
    /// Selected prediction.
    pub pred_sel: usize,
    /// Filter text (Predictions: id or reason; Logs: any text).
    pub filter: String,
    /// Whether keys go to the filter.
    pub filtering: bool,
    /// Log lines.
    pub logs: Vec<LogLine>,
    /// Follow the log's end.
    pub follow: bool,
    /// Lines scrolled up from the end.
    pub log_scroll: usize,
    /// Wrap long log lines.
    pub wrap: bool,
    /// Minimum level shown: "", "INFO", "WARN", "ERROR".
    pub level: &'static str,
    /// Rebound keys: pressed key -> the default key it stands for ('\0' = unbound).
    pub remap: std::collections::HashMap<char, char>,
}

impl App {
    /// A console over `home`.
    pub fn new(cfg: Config, home: PathBuf) -> App {
        let form = ImbalanceForm {
            strategy: match cfg.imbalance {
                crate::config::Imbalance::None => 0,
                crate::config::Imbalance::Weight(_) => 1,
                crate::config::Imbalance::Undersample(_) => 2,
            },
            weight: 0.0,
            ratio: match cfg.imbalance {
                crate::config::Imbalance::Undersample(r) => r,
                _ => 3.0,
            },
            cost_rule: cfg.threshold.rule == "cost",
            field: 0,
        };
        let days = data::DaySource::new(&cfg.inference.sink);
        let (remap, problems) = super::keys::key_remap(&cfg.tui.keys);
        let help_key = super::keys::shown(&remap, '?');
        App {
            remap,
            home,
            cfg,
            pane: Pane::Runs,
            popup: None,
            quit: false,
            status: if problems.is_empty() {
                format!("{help_key} for help")
            } else {
                problems.join("; ")
            },
            requests: vec![],
            runs: vec![],
            run_sel: 0,
            run_detail: None,
            detail_scroll: 0,
            detail_max: Default::default(),
            live: None,
            busy: false,
            models: vec![],
            model_sel: 0,
            model_view: None,
            champion_test: None,
            threshold: 0.5,
            form,
            trials: vec![],
            comparison: None,
            champions: data::Champions::default(),
            days,
            day_stamp: None,
            comparing: false,
            sink_error: None,
            dates: vec![],
            date: None,
            predictions: vec![],
            predictions_total: 0,
            found: vec![],
            elsewhere: vec![],
            quarantined: vec![],
            drift: vec![],
            pred_sel: 0,
            filter: String::new(),
            filtering: false,
            logs: vec![],
            follow: true,
            log_scroll: 0,
            wrap: false,
            level: "",
        }
    }

    /// Reloads everything from the database, registry and log (the 1 s poll).
    pub fn refresh(&mut self) {
        if let Ok(r) = data::load_runs(&self.home, 200) {
            // The selection stays on its run when new runs arrive above it.
            let selected = self.runs.get(self.run_sel).map(|r| r.run_id.clone());
            self.runs = r;
            self.run_sel = selected
                .and_then(|id| self.runs.iter().position(|r| r.run_id == id))
                .unwrap_or(self.run_sel)
                .min(self.runs.len().saturating_sub(1));
        }
        if let Some(d) = &self.run_detail
            && let Ok(Some(r)) = data::load_run(&self.home, &d.run_id)
        {
            self.run_detail = Some(r);
        }
        if let Ok(c) = data::load_champions(&self.home) {
            self.champions = c;
        }
        self.refresh_models();
        let read = self.days.dates(&self.home);
        let dates_ok = read.is_ok();
        let dates = match read {
            Ok(d) => {
                if self.status.starts_with("predictions: ") {
                    self.status.clear(); // the sink answers again
                }
                d
            }
            Err(e) => {
                // Said once, not every second over whatever else the line says (a
                // configured file no run has written yet stays unreadable until one does).
                let said = format!("predictions: cannot read the sink: {e}");
                if self.sink_error.as_ref() != Some(&said) {
                    self.status = said.clone();
                    self.sink_error = Some(said);
                }
                self.dates.clone()
            }
        };
        if dates_ok {
            self.sink_error = None;
        }
        // The date on screen scored again (here or elsewhere): reload it.
        if dates == self.dates
            && let Some(d) = self.date.clone()
            && let Ok(stamp) = self.days.stamp(&self.home, &d)
            && self.day_stamp.as_ref() != Some(&stamp)
        {
            self.load_date();
        }
        if dates != self.dates {
            // On the latest date, the view follows a newly scored later one; on an older
            // date the user chose, it stays.
            let was_latest = self.date.is_some() && self.date.as_ref() == self.dates.last();
            self.dates = dates;
            if was_latest
                || self.date.is_none()
                || !self
                    .dates
                    .contains(self.date.as_ref().unwrap_or(&String::new()))
            {
                self.date = self.dates.last().cloned();
            }
            self.load_date();
        }
        // A paused log view stays on its lines while new ones arrive below them.
        let last = (!self.follow)
            .then(|| self.visible_logs().last().map(|l| (*l).clone()))
            .flatten();
        self.logs = data::load_logs(&self.home, 2000);
        if let Some(last) = last {
            let shown = self.visible_logs();
            if let Some(at) = shown.iter().rposition(|l| **l == last) {
                self.log_scroll += shown.len() - 1 - at;
            }
        }
    }

    /// Precision, recall, F1 and the confusion matrix at the explored threshold.
    pub fn at_threshold(&self) -> Option<AtThreshold> {
        let v = self.model_view.as_ref()?;
        (!v.y.is_empty()).then(|| at_threshold(&v.y, &v.p, self.threshold))
    }

    /// Handles a pipeline event from a job started here.
    pub fn on_event(&mut self, ev: PipelineEvent) {
        self.status = format!("{}: {}", ev.run_id, ev.message);
        self.live = Some(ev);
    }

    /// Records the end of a training run started here.
    pub fn on_trained(&mut self, result: std::result::Result<Trial, String>) {
        self.busy = false;
        self.live = None;
        match result {
            Ok(t) => {
                self.status = format!(
                    "training finished: v{} test ROC AUC {:.4} ({})",
                    t.version, t.roc_auc, t.settings
                );
                self.trials.push(t);
            }
            Err(e) => self.status = format!("training failed: {e}"),
        }
        self.refresh();
    }

    /// Applies an action.
    pub fn apply(&mut self, a: Action) {
        match a {
            Action::Quit if self.busy => self.popup = Some(Popup::Quit),
            Action::Quit | Action::ForceQuit => {
                if self.busy {
                    self.requests.push(Request::Cancel);
                }
                self.quit = true;
            }
            Action::Show(p) => self.show(p),
            Action::Cycle(d) => {
                self.show(Pane::ALL[(self.pane.index() as i32 + d).rem_euclid(6) as usize])
            }
            Action::Help => self.popup = Some(Popup::Help),
            Action::Back => {
                if self.popup.take().is_none() {
                    if self.filtering || !self.filter.is_empty() {
                        // Esc clears a filter, typed or confirmed, before anything else.
                        self.filtering = false;
                        self.filter.clear();
                        self.found.clear();
                        self.pred_sel = 0;
                    } else if self.run_detail.take().is_none() && self.busy {
                        self.requests.push(Request::Cancel);
                        self.status = "cancelling the running job...".into();
                    }
                }
            }
            Action::Move(d) => self.move_by(d),
            Action::Open if self.pane == Pane::Predictions => {
                if let Some((r, _)) = self.visible_predictions().get(self.pred_sel) {
                    self.popup = Some(super::panes::predictions::score_popup(r, &self.home));
                }
            }
            Action::Open => {
                if let Some(r) = self.runs.get(self.run_sel) {
                    self.run_detail = data::load_run(&self.home, &r.run_id).ok().flatten();
                    self.detail_scroll = 0;
                }
            }
            Action::Adjust(d) => self.adjust(d),
            Action::Field(d) => {
                self.form.field = (self.form.field as i32 + d).rem_euclid(4) as usize
            }
            Action::Train => self.train(),
            Action::Rerun => self.rerun(),
            Action::AskPromote => match self
                .models
                .iter()
                .find(|m| m.aliases.iter().any(|a| a == "challenger"))
            {
                Some(m) => {
                    // Whether a reason is needed is the registry's record, as for
                    // `claims promote`; the lines show the comparison on screen when it is
                    // of this challenger against the current champion.
                    let status = crate::registry::Registry::open(&self.home)
                        .and_then(|reg| crate::pipeline::compare::gate_status(&reg, m.version));
                    let (gate, needs_reason) = super::panes::compare::gate_lines(
                        self.comparison.as_ref(),
                        m.version,
                        status.ok(),
                    );
                    self.popup = Some(Popup::Confirm {
                        promote: Some(m.version),
                        reason: String::new(),
                        gate,
                        needs_reason,
                    })
                }
                None => self.status = "no challenger to promote".into(),
            },
            Action::AskRollback => {
                // Asked only when there is somewhere to go back to.
                let target = crate::registry::Registry::open(&self.home)
                    .and_then(|reg| crate::pipeline::compare::rollback_target(&reg.conn));
                match target {
                    Ok((from, to)) => {
                        self.popup = Some(Popup::Confirm {
                            promote: None,
                            reason: String::new(),
                            gate: vec![format!("the champion goes back from v{from} to v{to}")],
                            needs_reason: false,
                        })
                    }
                    Err(e) => self.status = e.to_string(),
                }
            }
            Action::Confirm if matches!(self.popup, Some(Popup::Replace { .. })) => {
                if let Some(Popup::Replace {
                    data, date, sink, ..
                }) = self.popup.take()
                {
                    self.status = format!("scoring {date} again, replacing its rows...");
                    self.requests.push(Request::Predict(data, date, sink, true));
                }
            }
            Action::Confirm => {
                if let Some(Popup::Confirm {
                    needs_reason: true,
                    reason,
                    ..
                }) = &self.popup
                    && reason.trim().is_empty()
                {
                    self.status =
                        "type a reason first: the gate did not pass this challenger".into();
                } else if let Some(Popup::Confirm {
                    promote, reason, ..
                }) = self.popup.take()
                {
                    // An empty reason: a promotion records the gate's pass, a rollback
                    // "from the console".
                    let reason = if reason.trim().is_empty() && promote.is_none() {
                        "from the console".to_string()
                    } else {
                        reason
                    };
                    self.requests.push(Request::Promote(promote, reason));
                }
            }
            Action::Type(c) => match &mut self.popup {
                Some(Popup::Confirm { reason, .. }) => {
                    reason.push(c);
                    // "type a reason first" is answered.
                    if self.status.starts_with("type a reason") {
                        self.status.clear();
                    }
                }
                _ => {
                    self.filter.push(c);
                    self.pred_sel = 0;
                }
            },
            Action::Erase | Action::EraseAll | Action::EraseWord => {
                let text = match &mut self.popup {
                    Some(Popup::Confirm { reason, .. }) => reason,
                    _ => &mut self.filter,
                };
                match a {
                    Action::Erase => {
                        text.pop();
                    }
                    Action::EraseAll => text.clear(),
                    _ => {
                        let kept = text.trim_end().rfind(' ').map_or(0, |i| i + 1);
                        text.truncate(kept);
                    }
                }
            }
            Action::Filter => {
                self.filtering = !self.filtering;
                self.search_day();
                self.pred_sel = 0;
            }
            Action::Follow => {
                self.follow = !self.follow;
                self.log_scroll = 0;
            }
            Action::Wrap => self.wrap = !self.wrap,
            Action::Level => {
                self.level = match self.level {
                    "" => "INFO",
                    "INFO" => "WARN",
                    "WARN" => "ERROR",
                    _ => "",
                }
            }
            Action::Compare if self.comparing => {
                self.status = "a comparison is already running".into();
            }
            Action::Compare => {
                self.comparing = true;
                self.requests.push(Request::Compare);
                self.status = "comparing champion and challenger...".into();
            }
        }
    }

    fn show(&mut self, p: Pane) {
        if p != self.pane {
            // A message belongs to the pane it was said on (the log keeps them all).
            self.status.clear();
            self.detail_scroll = 0;
        }
        self.pane = p;
        self.filtering = false;
        self.filter.clear();
        self.found.clear();
        if p == Pane::Compare && self.comparison.is_none() {
            self.apply(Action::Compare);
        }
    }

    fn move_by(&mut self, d: i32) {
        let step = |sel: usize, len: usize| {
            (sel as i32 + d).clamp(0, len.saturating_sub(1) as i32) as usize
        };
        // Open run details and the Champion/Challenger text scroll; the run list under the
        // details (what `r` reruns) stays put.
        if self.pane == Pane::Compare || (self.pane == Pane::Runs && self.run_detail.is_some()) {
            let max = i32::from(self.detail_max.get());
            self.detail_scroll = (i32::from(self.detail_scroll) + d).clamp(0, max) as u16;
            return;
        }
        match self.pane {
            Pane::Runs => self.run_sel = step(self.run_sel, self.runs.len()),
            Pane::Metrics => {
                let before = self.model_sel;
                self.model_sel = step(self.model_sel, self.models.len());
                if before != self.model_sel {
                    self.load_model();
                }
            }
            Pane::Imbalance => self.form.field = step(self.form.field, 4),
            Pane::Predictions => {
                self.pred_sel = step(self.pred_sel, self.visible_predictions().len())
            }
            Pane::Logs => {
                // Scrolling up pauses following; scrolling back to the end resumes it.
                let max = self.visible_logs().len();
                self.log_scroll = (self.log_scroll as i32 - d).clamp(0, max as i32) as usize;
                self.follow = self.log_scroll == 0;
            }
            Pane::Compare => {}
        }
    }

    fn adjust(&mut self, d: i32) {
        match self.pane {
            Pane::Metrics => {
                let trained = self
                    .model_view
                    .as_ref()
                    .map(|v| v.test.at_threshold.threshold);
                self.threshold = step_threshold(self.threshold, d, trained);
            }
            Pane::Imbalance => match self.form.field {
                0 => self.form.strategy = (self.form.strategy as i32 + d).rem_euclid(3) as usize,
                1 => self.form.weight = (self.form.weight + 0.5 * d as f64).clamp(0.0, 50.0),
                2 => self.form.ratio = (self.form.ratio + 0.5 * d as f64).clamp(0.5, 20.0),
                _ => self.form.cost_rule = !self.form.cost_rule,
            },
            Pane::Predictions => {
                if let Some(i) = self
                    .date
                    .as_ref()
                    .and_then(|d| self.dates.iter().position(|x| x == d))
                {
                    let j =
                        (i as i32 + d).clamp(0, self.dates.len().saturating_sub(1) as i32) as usize;
                    self.date = self.dates.get(j).cloned();
                    self.load_date();
                }
            }
            _ => {}
        }
    }

    /// The key bound to what `default` does by default (see `[tui.keys]`).
    pub fn key(&self, default: char) -> char {
        super::keys::shown(&self.remap, default)
    }
}

/// The explored threshold one step (`d` = +1 or -1) along the 0.01 grid from `t`, stopping
/// at the `trained` threshold on the way, so the version's own operating point can be
/// reached again after moving off it.
pub(crate) fn step_threshold(t: f64, d: i32, trained: Option<f64>) -> f64 {
    let grid = |x: f64| (x * 100.0).round() / 100.0;
    // The next grid value in that direction (from off the grid, the nearest one past t).
    let next = if d > 0 {
        let g = grid(t);
        if g > t + 1e-9 { g } else { grid(g + 0.01) }
    } else {
        let g = grid(t);
        if g < t - 1e-9 { g } else { grid(g - 0.01) }
    }
    .clamp(0.01, 0.99);
    match trained {
        Some(tr)
            if (d > 0 && tr > t + 1e-9 && tr < next) || (d < 0 && tr < t - 1e-9 && tr > next) =>
        {
            tr
        }
        _ => next,
    }
}
