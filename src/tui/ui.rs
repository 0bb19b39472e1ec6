//! Drawing: a pure function of [`App`] (tabs, the pane, the status line, popups). Colours
//! come from the theme in config and stay readable on dark and light terminals (the
//! default foreground for text, one accent, red/yellow only for alerts and warnings).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Tabs, Wrap};

use super::app::{App, Pane, Popup};
use super::panes;

/// The theme's styles.
pub struct Theme {
    /// Accent (titles, selected tab).
    pub accent: Style,
    /// Selected row.
    pub selected: Style,
    /// Alerts and failures.
    pub alert: Style,
    /// Warnings.
    pub warn: Style,
    /// Good outcomes.
    pub good: Style,
    /// Secondary text.
    pub dim: Style,
}

fn color(name: &str, fallback: Color) -> Color {
    name.parse::<Color>().unwrap_or(fallback)
}

impl Theme {
    /// The theme named in config (`[tui] accent = "cyan"`).
    pub fn from(app: &App) -> Theme {
        let accent = color(&app.cfg.tui.accent, Color::Cyan);
        Theme {
            accent: Style::default().fg(accent).add_modifier(Modifier::BOLD),
            selected: Style::default().add_modifier(Modifier::REVERSED),
            alert: Style::default()
                .fg(color(&app.cfg.tui.alert, Color::Red))
                .add_modifier(Modifier::BOLD),
            warn: Style::default().fg(Color::Yellow),
            good: Style::default().fg(Color::Green),
            dim: Style::default().add_modifier(Modifier::DIM),
        }
    }
}

/// Draws the whole screen.
pub fn draw(f: &mut Frame, app: &App) {
    let theme = Theme::from(app);
    let [tabs, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(5),
        Constraint::Length(1),
    ])
    .areas(f.area());
    // Short titles when narrow, so all six tabs fit in 80 columns.
    let narrow = f.area().width < 100;
    let titles: Vec<Line> = Pane::ALL
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let t = match p {
                Pane::Compare if narrow => "Champ/Chall",
                Pane::Predictions if narrow => "Scores",
                _ => p.title(),
            };
            Line::from(format!("{} {t}", i + 1))
        })
        .collect();
    let sel = Pane::ALL.iter().position(|p| *p == app.pane).unwrap_or(0);
    f.render_widget(
        Tabs::new(titles)
            .select(sel)
            .highlight_style(theme.accent.add_modifier(Modifier::REVERSED))
            .divider("|"),
        tabs,
    );
    match app.pane {
        Pane::Runs => panes::runs(f, body, app, &theme),
        Pane::Metrics => panes::metrics(f, body, app, &theme),
        Pane::Imbalance => panes::imbalance(f, body, app, &theme),
        Pane::Compare => panes::compare(f, body, app, &theme),
        Pane::Predictions => panes::predictions(f, body, app, &theme),
        Pane::Logs => panes::logs(f, body, app, &theme),
    }
    let busy = if app.busy { "[running] " } else { "" };
    let filter = if app.filtering {
        format!(" filter: {}_", app.filter)
    } else {
        String::new()
    };
    let line = Line::from(vec![
        Span::styled(busy, theme.warn),
        Span::raw(app.status.clone()),
        Span::styled(filter, theme.accent),
    ]);
    f.render_widget(Paragraph::new(line), status);
    match &app.popup {
        Some(Popup::Help) => popup(f, "Keys (Esc closes)", &help(app.pane, &app.remap), &theme),
        Some(Popup::Score(title, lines)) => popup(f, title, lines, &theme),
        Some(Popup::Quit) => popup(
            f,
            "Quit?",
            &[
                "A run is in progress.".into(),
                "y: cancel it and quit   any other key: stay".into(),
            ],
            &theme,
        ),
        Some(Popup::Replace { lines, .. }) => popup(f, "Score the date again?", lines, &theme),
        Some(Popup::Confirm {
            promote,
            reason,
            gate,
            needs_reason,
        }) => {
            let what = match promote {
                Some(v) => format!("Promote v{v} to champion?"),
                None => "Roll the champion back to the previous version?".into(),
            };
            let mut lines = vec![what, String::new()];
            if !gate.is_empty() {
                lines.extend(gate.iter().cloned());
                lines.push(String::new());
            }
            let label = if *needs_reason {
                "Reason (required)"
            } else {
                "Reason"
            };
            // A long reason shows its end (where the typing is), so the box keeps its size
            // and its key hint; the whole reason is recorded.
            let room = usize::from(f.area().width)
                .saturating_sub(label.len() + 10)
                .max(10);
            let n = reason.chars().count();
            let shown: String = if n > room {
                let tail: String = reason.chars().skip(n + 1 - room).collect();
                format!("…{tail}")
            } else {
                reason.clone()
            };
            lines.push(format!("{label}: {shown}_"));
            // Enter without one: said here, where the eyes are (the popup can hide the
            // status line).
            if *needs_reason && reason.trim().is_empty() && app.status.starts_with("type a reason")
            {
                lines.push(app.status.clone());
            }
            lines.extend([String::new(), "Enter confirms, Esc cancels".into()]);
            popup(f, "Confirm", &lines, &theme);
        }
        None => {}
    }
}

/// Every key of a pane, for the help popup, with single-character keys as `[tui.keys]`
/// rebound them (`remap`: pressed key -> default key, a default mapped to '\0' is free).
pub fn help(pane: Pane, remap: &std::collections::HashMap<char, char>) -> Vec<String> {
    let key = |default: char| super::keys::shown(remap, default).to_string();
    let line = |keys: String, what: &str| format!("{keys:<13}{what}");
    let mut v: Vec<String> = vec![
        line(
            format!("{} / Ctrl-C", key('q')),
            "quit (asks if a run is in progress)",
        ),
        line("Tab / S-Tab".into(), "next / previous pane;  1-6 jump"),
        line(
            "j k / arrows".into(),
            "move;  PgUp PgDn  page;  Home End  ends;  mouse wheel scrolls",
        ),
        line(key('?'), "this help;  Esc  close / back"),
    ];
    let specific: Vec<(String, &str)> = match pane {
        Pane::Runs => vec![
            ("Enter".into(), "run details: stages, timings, rows, error"),
            (
                key('r'),
                "rerun the selected failed run with the same inputs",
            ),
            ("Esc".into(), "close details, or cancel the running job"),
        ],
        Pane::Metrics => vec![
            ("j / k".into(), "older / newer model version"),
            (
                "h / l".into(),
                "move the threshold (precision, recall, F1, confusion update)",
            ),
        ],
        Pane::Imbalance => vec![
            ("j / k".into(), "choose a field"),
            ("h / l".into(), "change its value"),
            (key('t'), "train with these settings in the background"),
            ("Esc".into(), "cancel the running training"),
        ],
        Pane::Compare => vec![
            (key('c'), "recompute the comparison"),
            (key('p'), "promote the challenger (asks for a reason)"),
            (key('b'), "roll the champion back (asks for a reason)"),
        ],
        Pane::Predictions => vec![
            (
                "Enter".into(),
                "the selected score in full: decision, every reason",
            ),
            ("h / l".into(), "previous / next business date"),
            (key('/'), "filter by application id or reason"),
        ],
        Pane::Logs => vec![
            (key('f'), "follow the end on/off (scrolling up pauses it)"),
            (key('/'), "search (level, run, stage, text)"),
            (key('L'), "minimum level: all, INFO, WARN, ERROR"),
            (key('w'), "wrap long lines"),
        ],
    };
    v.push(String::new());
    v.extend(specific.into_iter().map(|(k, what)| line(k, what)));
    v
}

fn popup(f: &mut Frame, title: &str, lines: &[String], theme: &Theme) {
    let area = f.area();
    let w =
        (lines.iter().map(|l| l.chars().count()).max().unwrap_or(20) as u16 + 4).min(area.width);
    let text: Vec<Line> = lines.iter().map(|l| Line::from(l.clone())).collect();
    let body = Paragraph::new(text).wrap(Wrap { trim: false });
    // As tall as its lines once wrapped to the box's inner width, as ratatui wraps them (a
    // gate line wrapped on an 80-column screen pushed the key hint out of the box).
    let wrapped = body.line_count(w.saturating_sub(2).max(1));
    let h = (wrapped as u16 + 2).min(area.height);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    f.render_widget(Clear, r);
    f.render_widget(
        body.block(
            Block::default()
                .borders(Borders::ALL)
                .title(Span::styled(title.to_string(), theme.accent)),
        ),
        r,
    );
}
