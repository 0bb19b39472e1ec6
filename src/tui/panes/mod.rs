//! The six panes, one file each; each draws from the app state only. Shared helpers here.

pub mod compare;
mod imbalance;
mod logs;
mod metrics;
pub mod predictions;
mod runs;

pub use compare::compare;
pub use imbalance::imbalance;
pub use logs::logs;
pub use metrics::metrics;
pub use predictions::predictions;
pub use runs::runs;

use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders};

use super::ui::Theme;

pub(super) fn block<'a>(title: &str, theme: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(format!(" {title} "), theme.accent))
}

pub(super) fn short_time(s: &str) -> String {
    s.get(5..16).unwrap_or(s).replace('T', " ")
}

pub(super) fn duration(r: &crate::registry::runs::RunRecord) -> String {
    r.took().unwrap_or_else(|| "-".into())
}

pub(super) fn status_style(s: &str, theme: &Theme) -> Style {
    match s {
        "failed" => theme.alert,
        "running" => theme.warn,
        "died?" => theme.alert,
        _ => theme.good,
    }
}
