//! The logs pane.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::tui::app::App;
use crate::tui::data::LogLine;
use crate::tui::ui::Theme;

use super::block;

impl App {
    /// Log lines passing the level and text filters.
    pub fn visible_logs(&self) -> Vec<&LogLine> {
        let rank = |l: &str| match l {
            "ERROR" => 3,
            "WARN" => 2,
            "INFO" => 1,
            _ => 0,
        };
        let min = rank(self.level);
        let f = self.filter.to_lowercase();
        self.logs
            .iter()
            .filter(|l| rank(&l.level) >= min)
            .filter(|l| {
                f.is_empty()
                    || format!("{} {} {} {}", l.level, l.run_id, l.stage, l.message)
                        .to_lowercase()
                        .contains(&f)
            })
            .collect()
    }
}

/// Logs: the structured log's tail, following by default.
pub fn logs(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let lines = app.visible_logs();
    let height = area.height.saturating_sub(2) as usize;
    let end = lines.len().saturating_sub(app.log_scroll);
    let line = |l: &crate::tui::data::LogLine| {
        let style = match l.level.as_str() {
            "ERROR" => theme.alert,
            "WARN" => theme.warn,
            _ => Style::default(),
        };
        Line::from(vec![
            Span::styled(
                format!("{} ", l.time.get(11..19).unwrap_or(&l.time)),
                theme.dim,
            ),
            Span::styled(format!("{:<5} ", l.level), style),
            Span::styled(
                if l.stage.is_empty() {
                    String::new()
                } else {
                    format!("[{}] ", l.stage)
                },
                theme.accent,
            ),
            Span::raw(l.message.clone()),
        ])
    };
    // Wrapped, a line can take several rows: take lines back from the end until they fill
    // the pane, and skip the first one's rows that do not fit, so the last line shows.
    let (text, skip): (Vec<Line>, usize) = if app.wrap {
        let width = area.width.saturating_sub(2).max(1);
        let (mut rows, mut start) = (0, end);
        while start > 0 && rows < height {
            start -= 1;
            rows += Paragraph::new(line(lines[start]))
                .wrap(Wrap { trim: false })
                .line_count(width)
                .max(1);
        }
        let text = lines[start..end].iter().map(|l| line(l)).collect();
        (text, rows.saturating_sub(height))
    } else {
        let start = end.saturating_sub(height);
        (lines[start..end].iter().map(|l| line(l)).collect(), 0)
    };
    let title = format!(
        "log {}{}{} ({} follow, {} search, {} level, {} wrap)",
        if app.follow { "[follow]" } else { "[paused]" },
        if app.level.is_empty() {
            String::new()
        } else {
            format!(" [>= {}]", app.level)
        },
        if app.filter.is_empty() {
            String::new()
        } else {
            format!(" [/{}]", app.filter)
        },
        app.key('f'),
        app.key('/'),
        app.key('L'),
        app.key('w')
    );
    let mut p = Paragraph::new(text).block(block(&title, theme));
    if app.wrap {
        p = p
            .wrap(Wrap { trim: false })
            .scroll((u16::try_from(skip).unwrap_or(u16::MAX), 0));
    }
    f.render_widget(p, area);
}
