//! Keys: which [`Action`] a key or mouse event means in the current pane and popup, and
//! the single-character rebinding from `[tui.keys]`.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};

use super::app::{Action, App, Pane, Popup};

pub use crate::config::TUI_BINDABLE as BINDABLE;

/// The key that now does what `default` did, given the remap table of [`key_remap`].
pub fn shown(remap: &std::collections::HashMap<char, char>, default: char) -> char {
    remap
        .iter()
        .filter(|&(&k, &d)| d == default && k != default)
        .map(|(&k, _)| k)
        .min()
        .unwrap_or(default)
}

/// The remap table for `[tui.keys]`; unknown actions or keys that are not one character are
/// reported in the status line instead of failing.
pub fn key_remap(
    keys: &std::collections::BTreeMap<String, String>,
) -> (std::collections::HashMap<char, char>, Vec<String>) {
    let mut map = std::collections::HashMap::new();
    let mut problems = vec![];
    for (action, key) in keys {
        let Some(&(_, default)) = BINDABLE.iter().find(|(a, _)| a == action) else {
            problems.push(format!("tui.keys.{action}: unknown action"));
            continue;
        };
        let mut chars = key.chars();
        match (chars.next(), chars.next()) {
            (Some(k), None) => {
                map.entry(default).or_insert('\0');
                map.insert(k, default);
            }
            _ => problems.push(format!(
                "tui.keys.{action} = '{key}': expected one character"
            )),
        }
    }
    (map, problems)
}

impl App {
    /// The action a key means here, if any.
    pub fn action_for(&self, mut key: KeyEvent) -> Option<Action> {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Some(Action::Quit);
        }
        // Rebound keys (not while typing text).
        if let (KeyCode::Char(c), None, false) = (key.code, &self.popup, self.filtering) {
            match self.remap.get(&c) {
                Some('\0') => return None,
                Some(d) => key.code = KeyCode::Char(*d),
                None => {}
            }
        }
        // Line editing in typed text (a filter, a reason), as in a shell.
        let typing = self.filtering || matches!(self.popup, Some(Popup::Confirm { .. }));
        if typing && key.modifiers.contains(KeyModifiers::CONTROL) {
            return match key.code {
                KeyCode::Char('u') => Some(Action::EraseAll),
                KeyCode::Char('w') => Some(Action::EraseWord),
                _ => None,
            };
        }
        if let Some(p) = &self.popup {
            return match (p, key.code) {
                (_, KeyCode::Esc) => Some(Action::Back),
                (Popup::Help | Popup::Score(..), _) => Some(Action::Back),
                (Popup::Quit, KeyCode::Char('y')) => Some(Action::ForceQuit),
                (Popup::Quit, _) => Some(Action::Back),
                (Popup::Replace { .. }, KeyCode::Enter) => Some(Action::Confirm),
                (Popup::Confirm { .. }, KeyCode::Enter) => Some(Action::Confirm),
                (Popup::Confirm { .. }, KeyCode::Backspace) => Some(Action::Erase),
                (Popup::Confirm { .. }, KeyCode::Char(c)) => Some(Action::Type(c)),
                _ => None,
            };
        }
        if self.filtering {
            return match key.code {
                KeyCode::Esc => Some(Action::Back),
                KeyCode::Enter => Some(Action::Filter),
                KeyCode::Backspace => Some(Action::Erase),
                KeyCode::Char(c) => Some(Action::Type(c)),
                _ => None,
            };
        }
        let common = match key.code {
            KeyCode::Char('q') => Some(Action::Quit),
            KeyCode::Char('?') => Some(Action::Help),
            KeyCode::Tab => Some(Action::Cycle(1)),
            KeyCode::BackTab => Some(Action::Cycle(-1)),
            KeyCode::Char(c @ '1'..='6') => {
                Some(Action::Show(Pane::ALL[(c as u8 - b'1') as usize]))
            }
            KeyCode::Char('j') | KeyCode::Down => Some(Action::Move(1)),
            KeyCode::Char('k') | KeyCode::Up => Some(Action::Move(-1)),
            KeyCode::PageDown => Some(Action::Move(20)),
            KeyCode::PageUp => Some(Action::Move(-20)),
            // To the first / last row (in the log: the oldest line / following the end).
            KeyCode::Home => Some(Action::Move(-1_000_000)),
            KeyCode::End => Some(Action::Move(1_000_000)),
            KeyCode::Esc => Some(Action::Back),
            _ => None,
        };
        if common.is_some() {
            return common;
        }
        match (self.pane, key.code) {
            (Pane::Runs | Pane::Predictions, KeyCode::Enter) => Some(Action::Open),
            (Pane::Runs, KeyCode::Char('r')) => Some(Action::Rerun),
            (
                Pane::Metrics | Pane::Imbalance | Pane::Predictions,
                KeyCode::Char('h') | KeyCode::Left,
            ) => Some(Action::Adjust(-1)),
            (
                Pane::Metrics | Pane::Imbalance | Pane::Predictions,
                KeyCode::Char('l') | KeyCode::Right,
            ) => Some(Action::Adjust(1)),
            (Pane::Imbalance, KeyCode::Char('t')) => Some(Action::Train),
            (Pane::Compare, KeyCode::Char('p')) => Some(Action::AskPromote),
            (Pane::Compare, KeyCode::Char('b')) => Some(Action::AskRollback),
            (Pane::Compare, KeyCode::Char('c')) => Some(Action::Compare),
            (Pane::Predictions | Pane::Logs, KeyCode::Char('/')) => Some(Action::Filter),
            (Pane::Logs, KeyCode::Char('f')) => Some(Action::Follow),
            (Pane::Logs, KeyCode::Char('w')) => Some(Action::Wrap),
            (Pane::Logs, KeyCode::Char('L')) => Some(Action::Level),
            _ => None,
        }
    }

    /// The action a mouse event means (wheel scrolls).
    pub fn mouse_action(&self, m: MouseEvent) -> Option<Action> {
        match m.kind {
            MouseEventKind::ScrollDown => Some(Action::Move(3)),
            MouseEventKind::ScrollUp => Some(Action::Move(-3)),
            _ => None,
        }
    }
}
