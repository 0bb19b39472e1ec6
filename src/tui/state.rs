//! The console's plain data: panes, the imbalance form, trials, popups, actions and the
//! requests the event loop carries out. Re-exported from `app`, where the state lives.

use std::path::PathBuf;

/// The panes, in tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    /// Runs and the live run.
    Runs,
    /// A model version's evaluation.
    Metrics,
    /// Class-imbalance settings and retraining.
    Imbalance,
    /// Champion vs challenger.
    Compare,
    /// A business date's scores and drift.
    Predictions,
    /// The structured log.
    Logs,
}

impl Pane {
    /// Every pane in order.
    pub const ALL: [Pane; 6] = [
        Pane::Runs,
        Pane::Metrics,
        Pane::Imbalance,
        Pane::Compare,
        Pane::Predictions,
        Pane::Logs,
    ];

    /// Tab title.
    pub fn title(self) -> &'static str {
        match self {
            Pane::Runs => "Runs",
            Pane::Metrics => "Metrics",
            Pane::Imbalance => "Imbalance",
            Pane::Compare => "Champion/Challenger",
            Pane::Predictions => "Predictions",
            Pane::Logs => "Logs",
        }
    }

    pub(super) fn index(self) -> usize {
        Pane::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }
}

/// Imbalance strategies offered in the form.
pub const STRATEGIES: [&str; 3] = ["none", "weight", "undersample"];

/// The imbalance form.
#[derive(Debug, Clone, PartialEq)]
pub struct ImbalanceForm {
    /// Index into [`STRATEGIES`].
    pub strategy: usize,
    /// scale_pos_weight (0 = auto).
    pub weight: f64,
    /// Undersampling ratio.
    pub ratio: f64,
    /// Threshold rule: false = F1, true = cost.
    pub cost_rule: bool,
    /// The field being edited (0..4).
    pub field: usize,
}

impl ImbalanceForm {
    /// The CLI form of the chosen strategy.
    pub fn label(&self) -> String {
        match self.strategy {
            1 if self.weight > 0.0 => format!("weight:{}", self.weight),
            1 => "weight".into(),
            2 => format!("undersample:{}", self.ratio),
            _ => "none".into(),
        }
    }
}

/// A finished training run's headline numbers, for side-by-side comparison of settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Trial {
    /// Settings label.
    pub settings: String,
    /// Model version.
    pub version: u32,
    /// Test ROC AUC.
    pub roc_auc: f64,
    /// Test PR AUC.
    pub pr_auc: f64,
    /// Recall at the threshold.
    pub recall: f64,
    /// Precision at the threshold.
    pub precision: f64,
    /// Calibration error.
    pub ece: f64,
}

/// A popup over the current pane.
#[derive(Debug, Clone, PartialEq)]
pub enum Popup {
    /// Key help for the current pane.
    Help,
    /// Confirm a champion move, with the reason being typed.
    Confirm {
        /// Promote this version (Some) or roll back (None).
        promote: Option<u32>,
        /// The reason typed so far.
        reason: String,
        /// What the promotion gate said of this challenger, in lines (for a rollback: the
        /// versions the champion moves between).
        gate: Vec<String>,
        /// Whether Enter needs a typed reason (the gate refused, or was not computed).
        needs_reason: bool,
    },
    /// Confirm quitting while a run is in progress.
    Quit,
    /// Confirm rerunning a scoring run that was refused because its date already held rows
    /// from other contents: the rerun replaces them (`claims predict --force`).
    Replace {
        /// The file to score.
        data: PathBuf,
        /// The business date.
        date: String,
        /// The sink, when the run named one.
        sink: Option<String>,
        /// What the date holds now, wrapped to the popup's width.
        lines: Vec<String>,
    },
    /// One scored application in full (title, lines): score, decision, every reason.
    Score(String, Vec<String>),
}

/// Everything the console can do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Leave (asks first if a run is in progress).
    Quit,
    /// Leave now.
    ForceQuit,
    /// Switch to a pane.
    Show(Pane),
    /// Next / previous pane.
    Cycle(i32),
    /// Move the selection or scroll.
    Move(i32),
    /// Open the selected item (run details).
    Open,
    /// Close a popup, detail view or filter; cancel a running job.
    Back,
    /// Threshold (Metrics), field value (Imbalance) or date (Predictions) step.
    Adjust(i32),
    /// Next form field.
    Field(i32),
    /// Launch training with the imbalance settings.
    Train,
    /// Rerun the selected failed run.
    Rerun,
    /// Ask to promote the challenger.
    AskPromote,
    /// Ask to roll back.
    AskRollback,
    /// Confirm the popup.
    Confirm,
    /// Type a character into the active text (filter or reason).
    Type(char),
    /// Delete a character.
    Erase,
    /// Ctrl-U: clear the text being typed.
    EraseAll,
    /// Ctrl-W: delete the last word of the text being typed.
    EraseWord,
    /// Start typing a filter.
    Filter,
    /// Toggle log following.
    Follow,
    /// Toggle log wrapping.
    Wrap,
    /// Cycle the log level filter.
    Level,
    /// Toggle help.
    Help,
    /// Recompute the comparison.
    Compare,
}

/// Requests the event loop carries out for the app (work off the UI thread).
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Train: the request (data files; search size and seed when a rerun keeps them), the
    /// imbalance label, and whether the threshold rule is cost.
    Train(crate::pipeline::train::TrainRequest, String, bool),
    /// Score a file for a date (rerun of a failed inference run), replacing the date's rows
    /// even when they came from other contents (`--force`) if the flag says so.
    Predict(PathBuf, String, Option<String>, bool),
    /// Cancel the running job.
    Cancel,
    /// Compute the champion/challenger comparison.
    Compare,
    /// Move the champion alias.
    Promote(Option<u32>, String),
}
