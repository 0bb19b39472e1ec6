//! The runs pane.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Gauge, Paragraph, Row, Table, Wrap};

use crate::tui::app::App;
use crate::tui::ui::Theme;

use super::{block, duration, short_time, status_style};

/// Runs: every run, the live run's progress, and a run's details on Enter.
pub fn runs(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let live_h = if app.live.is_some() { 3 } else { 0 };
    let [live, list] =
        Layout::vertical([Constraint::Length(live_h), Constraint::Min(3)]).areas(area);
    if let Some(ev) = &app.live {
        let g = Gauge::default()
            .block(block(&format!("running {}", ev.run_id), theme))
            .gauge_style(theme.accent)
            .ratio(ev.progress.unwrap_or(0.0).clamp(0.0, 1.0))
            .label(ev.message.clone());
        f.render_widget(g, live);
    }
    if let Some(r) = &app.run_detail {
        let mut lines = vec![
            Line::from(vec![
                Span::raw(format!("{}  {}  ", r.run_id, r.kind)),
                Span::styled(r.status.clone(), status_style(&r.status, theme)),
            ]),
            Line::from(format!(
                "started {}  finished {}  ({})",
                r.started_at,
                r.finished_at.clone().unwrap_or("-".into()),
                duration(r)
            )),
        ];
        // The inputs, as the CLI's `claims runs RUN_ID` shows them.
        if let Some(args) = r.args_line() {
            lines.push(Line::from(args.trim_end().to_string()));
        }
        lines.push(Line::from(""));
        let stages = r.stage_lines();
        if let Some((head, rows)) = stages.split_first() {
            lines.push(Line::styled(head.clone(), theme.dim));
            lines.extend(rows.iter().map(|l| Line::from(l.clone())));
        }
        let summary = r.summary_json();
        if let Some(q) = summary["rows_quarantined"].as_u64() {
            lines.push(Line::from(format!("quarantined rows: {q}")));
            // The rows and reasons the run kept (its first ten), as `claims runs ID` shows.
            let kept = summary["quarantined_rows"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for k in &kept {
                lines.push(Line::from(format!(
                    "  row {}  {}  {}",
                    k["row"].as_i64().unwrap_or(0),
                    k["application_id"].as_str().unwrap_or("(no id)"),
                    k["reason"].as_str().unwrap_or("")
                )));
            }
            if (kept.len() as u64) < q {
                lines.push(Line::styled(
                    format!(
                        "  (the first {}; all of them: `claims runs {}`)",
                        kept.len(),
                        r.run_id
                    ),
                    theme.dim,
                ));
            }
        }
        if let Some(a) = summary["drift_alerts"].as_array().filter(|a| !a.is_empty()) {
            let names: Vec<&str> = a.iter().filter_map(|v| v.as_str()).collect();
            lines.push(Line::styled(
                format!("drift alerts: {}", names.join(", ")),
                theme.alert,
            ));
        }
        if let Some(e) = &r.error {
            lines.push(Line::from(""));
            lines.push(Line::styled("error:", theme.alert));
            // A file name from the error may hold a bidi control: shown escaped.
            lines.extend(
                e.lines()
                    .map(|l| Line::from(crate::for_terminal(l).into_owned())),
            );
        }
        // Scrolled by j/k, PgDn/PgUp, Home/End, at most until the last line is at the bottom.
        let text = Paragraph::new(lines).wrap(Wrap { trim: false });
        let rows = text.line_count(list.width.saturating_sub(2).max(1));
        let fits = usize::from(list.height.saturating_sub(2));
        let max = rows.saturating_sub(fits);
        app.detail_max.set(u16::try_from(max).unwrap_or(u16::MAX));
        let scroll = usize::from(app.detail_scroll).min(max);
        let title = if max == 0 {
            "run details (Esc closes)".to_string()
        } else {
            format!(
                "run details (Esc closes; j/k scroll: {}/{} rows)",
                (scroll + fits).min(rows),
                rows
            )
        };
        f.render_widget(
            text.scroll((scroll as u16, 0)).block(block(&title, theme)),
            list,
        );
        return;
    }
    let wide = list.width >= 100;
    let rows: Vec<Row> = app
        .runs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let (rows_in, rows_out) = r
                .summary
                .as_deref()
                .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
                .map(|j| {
                    // Rows read from the files (a training run from before it recorded them:
                    // its training split).
                    let i = j["rows_read"].as_u64().or(j["split_rows"][0].as_u64());
                    // Out: the rows a scoring run wrote, the version a training run registered.
                    let o = match (j["rows_scored"].as_u64(), j["model_version"].as_u64()) {
                        (Some(n), _) => n.to_string(),
                        (None, Some(v)) => format!("v{v}"),
                        (None, None) => "-".into(),
                    };
                    (i.map_or("-".into(), |v| v.to_string()), o)
                })
                .unwrap_or(("-".into(), "-".into()));
            let mut cells = vec![
                Cell::from(r.run_id.clone()),
                Cell::from(r.kind.clone()),
                Cell::from(Span::styled(
                    r.status.clone(),
                    status_style(&r.status, theme),
                )),
            ];
            if wide {
                cells.push(Cell::from(short_time(&r.started_at)));
            }
            cells.push(Cell::from(duration(r)));
            if wide {
                cells.push(Cell::from(rows_in));
            } else {
                // Narrow: the business date a scoring run was for, instead of rows in.
                let date = r.args_json()["date"].as_str().unwrap_or("-").to_string();
                cells.push(Cell::from(date));
            }
            cells.push(Cell::from(rows_out));
            // What the run was for, and a failed run's cause at a glance (as `claims runs`
            // lists it; Enter shows all of it).
            if wide {
                let style = if r.error.is_some() {
                    theme.alert
                } else {
                    theme.dim
                };
                cells.push(Cell::from(Span::styled(r.gist(), style)));
            }
            let row = Row::new(cells);
            if i == app.run_sel {
                row.style(theme.selected)
            } else {
                row
            }
        })
        .collect();
    let mut widths = vec![
        Constraint::Length(28),
        Constraint::Length(7),
        Constraint::Length(9),
    ];
    let mut header = vec!["run", "kind", "status"];
    if wide {
        widths.push(Constraint::Length(11));
        header.push("started");
    }
    widths.extend([
        Constraint::Length(8),
        Constraint::Length(if wide { 8 } else { 10 }),
        Constraint::Length(8),
    ]);
    header.extend(["took", if wide { "rows in" } else { "date" }, "out"]);
    if wide {
        widths.push(Constraint::Min(10));
        header.push("date / error");
    }
    let t = Table::new(rows, widths)
        .header(Row::new(header).style(theme.dim))
        .block(block(
            &format!("runs ({}), Enter for details", app.runs.len()),
            theme,
        ));
    f.render_widget(t, list);
}
