//! The console's model versions: the list, the version looked at (kept when newer ones
//! arrive), and the comparison, dropped when champion or challenger changes.

use super::app::{Action, App, Pane};
use super::data;

impl App {
    /// Reloads the model versions (part of the 1 s poll).
    pub(super) fn refresh_models(&mut self) {
        if let Ok(m) = data::load_models(&self.home) {
            // A new version, or an alias moved (a promote here or elsewhere).
            let changed = m != self.models;
            let first = self.models.is_empty();
            // The version looked at stays selected when a newer one is added above it.
            let looked_at = self.models.get(self.model_sel).map(|m| m.version);
            self.models = m;
            if first {
                // Open on the model in production, not the newest.
                self.model_sel = self
                    .models
                    .iter()
                    .position(|m| m.aliases.iter().any(|a| a == "champion"))
                    .unwrap_or(0);
            } else if let Some(at) =
                looked_at.and_then(|v| self.models.iter().position(|m| m.version == v))
            {
                self.model_sel = at;
            }
            self.model_sel = self.model_sel.min(self.models.len().saturating_sub(1));
            if changed || self.model_view.is_none() {
                self.load_model();
            }
            let alias = |name: &str| {
                self.models
                    .iter()
                    .find(|m| m.aliases.iter().any(|a| a == name))
                    .map(|m| m.version)
            };
            let (champion, challenger) = (alias("champion"), alias("challenger"));
            // A comparison of models that are no longer champion and challenger (a
            // promotion, a rollback, a new challenger trained, here or elsewhere) is not
            // shown or used any more: `p` would promote the new challenger on the old
            // one's numbers. On its pane, the new pair is compared at once.
            if self
                .comparison
                .as_ref()
                .is_some_and(|c| Some(c.champion) != champion || Some(c.challenger) != challenger)
            {
                self.comparison = None;
                // Its verdict on the status line went with it.
                if self.status.contains(": gate passes") || self.status.contains(": gate refuses") {
                    self.status.clear();
                }
                if self.pane == Pane::Compare && challenger.is_some() && !self.busy {
                    self.apply(Action::Compare);
                }
            }
            if champion != self.champion_test.as_ref().map(|c| c.0) {
                self.champion_test = champion.and_then(|v| {
                    data::load_model_view(&self.home, v)
                        .ok()
                        .map(|view| (v, view.test))
                });
            }
        }
    }

    pub(super) fn load_model(&mut self) {
        self.model_view = self
            .models
            .get(self.model_sel)
            .and_then(|m| data::load_model_view(&self.home, m.version).ok());
        if let Some(v) = &self.model_view {
            self.threshold = v.test.at_threshold.threshold;
        }
    }
}
