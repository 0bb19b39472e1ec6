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

/// `title` cut to fit a block `width` columns wide, at a word's end and marked with "…":
/// ratatui cuts a long title at the border, even inside a number ("top 2000" read "top 200").
pub(super) fn fit_title(title: &str, width: u16) -> String {
    // Two border columns and the space before the title (the one after may be cut).
    let room = usize::from(width).saturating_sub(3);
    let chars: Vec<char> = title.chars().collect();
    if chars.len() <= room {
        return title.to_string();
    }
    let keep = room.saturating_sub(1);
    let mut end = keep;
    if chars.get(keep) != Some(&' ') {
        end = chars[..keep]
            .iter()
            .rposition(|c| *c == ' ')
            .unwrap_or(keep);
    }
    let cut: String = chars[..end].iter().collect();
    format!("{}…", cut.trim_end_matches([' ', ',', ':', ';', '(']))
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

#[cfg(test)]
mod tests {
    use super::fit_title;

    #[test]
    fn a_long_title_is_cut_at_a_words_end() {
        let t = "2026-11-27, champion v1: 5000 scored, 1057 flagged, top 2000 shown";
        assert_eq!(fit_title(t, 80), t);
        // 59 columns leave 56 for the title: "top 2000" would be cut to "top 20".
        assert_eq!(
            fit_title(t, 59),
            "2026-11-27, champion v1: 5000 scored, 1057 flagged, top…"
        );
        assert_eq!(
            fit_title(t, 58),
            "2026-11-27, champion v1: 5000 scored, 1057 flagged…"
        );
        assert!(fit_title(t, 3).ends_with('…'));
    }
}
