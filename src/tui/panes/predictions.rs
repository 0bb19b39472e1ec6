//! The predictions pane.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use crate::tui::app::App;
use crate::tui::ui::Theme;

use super::block;

/// Predictions: a date's scores with top reasons, filterable, and that date's drift.
pub fn predictions(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let side = if area.width >= 100 { 38 } else { 0 };
    let [list, drift] =
        Layout::horizontal([Constraint::Min(40), Constraint::Length(side)]).areas(area);
    // Too narrow for the drift panel: one line under the list names what drifted.
    let summary = if side == 0 && !app.drift.is_empty() {
        1
    } else {
        0
    };
    // Quarantined rows (up to 3, with reasons) under the list. A filter that matches
    // quarantined ids shows those, each reason in full (wrapped): a handler searching for
    // an application that was not scored reads why.
    let q = app.quarantined.len();
    let needle = app.filter.to_lowercase();
    let matched: Vec<_> = app
        .quarantined
        .iter()
        .filter(|(_, id, _)| !needle.is_empty() && id.to_lowercase().contains(&needle))
        .take(3)
        .collect();
    let wide = usize::from(list.width.saturating_sub(4).max(20));
    let q_lines = match (q, matched.is_empty()) {
        (0, _) => 0,
        (_, true) => q.min(3) as u16 + 1,
        (_, false) => {
            let lines: usize = matched
                .iter()
                .map(|(_, _, why)| 1 + why.chars().count().div_ceil(wide))
                .sum();
            (lines + 1).min(9) as u16
        }
    };
    let [list, quarantine, drift_line] = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(q_lines),
        Constraint::Length(summary),
    ])
    .areas(list);
    if q > 0 && matched.is_empty() {
        let mut lines = vec![Line::styled(
            format!(
                "{q} row(s) quarantined, not scored{}:",
                match app.predictions.first().filter(|_| q > 3) {
                    // The run id first: a narrow pane cuts the end.
                    Some(p) => format!(" (first 3; all: `claims runs {}`)", p.run_id),
                    None if q > 3 => " (first 3; all in table quarantine)".to_string(),
                    None => String::new(),
                }
            ),
            theme.warn,
        )];
        lines.extend(
            app.quarantined
                .iter()
                .take(3)
                .map(|(row, id, why)| Line::from(format!("  row {row:<6} {id:<13} {why}"))),
        );
        f.render_widget(Paragraph::new(lines), quarantine);
    } else if q > 0 {
        let mut lines = vec![Line::styled(
            format!("quarantined, not scored, matching '{}':", app.filter),
            theme.warn,
        )];
        for (row, id, why) in matched {
            lines.push(Line::from(format!("  {id}, row {row}:")));
            lines.push(Line::from(format!("    {why}")));
        }
        let wrap = ratatui::widgets::Wrap { trim: false };
        f.render_widget(Paragraph::new(lines).wrap(wrap), quarantine);
    }
    if summary > 0 {
        let named = |level: &str| {
            app.drift
                .iter()
                .filter(|d| d.level == level)
                .map(|d| d.feature.as_str())
                .collect::<Vec<_>>()
        };
        let (alerts, warns) = (named("alert"), named("warn"));
        let text = if alerts.is_empty() && warns.is_empty() {
            "drift (PSI): nothing above the warning level".to_string()
        } else {
            // Counts first, so a narrow line that cuts the names still says how many.
            let full = format!(
                "drift (PSI) {} alert(s), {} warning(s): {}; warnings: {}",
                alerts.len(),
                warns.len(),
                if alerts.is_empty() {
                    "none".into()
                } else {
                    alerts.join(", ")
                },
                if warns.is_empty() {
                    "none".into()
                } else {
                    warns.join(", ")
                }
            );
            let room = usize::from(drift_line.width);
            if full.chars().count() <= room {
                full
            } else {
                // Cut at a name, and say where the rest is.
                let more = " ... (all: claims drift)";
                let cut: String = full.chars().take(room.saturating_sub(more.len())).collect();
                let whole = full[cut.len()..].starts_with([',', ';']);
                let at = if whole {
                    cut.len()
                } else {
                    cut.rfind(", ").unwrap_or(cut.len())
                };
                format!("{}{more}", &cut[..at])
            }
        };
        let style = match (alerts.is_empty(), warns.is_empty()) {
            (false, _) => theme.alert,
            (true, false) => theme.warn,
            (true, true) => theme.dim,
        };
        f.render_widget(Line::styled(text, style), drift_line);
    }
    // No date: none scored yet, or the sink cannot be read (its error in full here; the
    // status line may cut it).
    let date = app.date.clone().unwrap_or_else(|| {
        app.status
            .strip_prefix("predictions: ")
            .map_or("no predictions yet".into(), str::to_string)
    });
    let visible = app.visible_predictions();
    let height = list.height.saturating_sub(3) as usize;
    let first = app.pred_sel.saturating_sub(height.saturating_sub(1));
    let rows: Vec<Row> = visible
        .iter()
        .enumerate()
        .skip(first)
        .take(height)
        .map(|(i, (r, text))| {
            let row = Row::new(vec![
                Cell::from(r.application_id.clone()),
                Cell::from(Span::styled(
                    format!("{:.4}", r.score),
                    if r.predicted_claim {
                        theme.warn
                    } else {
                        Style::default()
                    },
                )),
                Cell::from(if r.predicted_claim {
                    Span::raw("yes")
                } else {
                    Span::styled("no", theme.dim)
                }),
                Cell::from(text.clone()),
            ]);
            if i == app.pred_sel {
                row.style(theme.selected)
            } else {
                row
            }
        })
        .collect();
    let model = app.predictions.first().map_or(String::new(), |p| {
        format!(
            ", {} v{}, threshold {:.4}",
            p.role, p.model_version, p.threshold
        )
    });
    // An active filter leads the title (it stays on when the date changes).
    // A day larger than what is loaded says so: the top rows by score are shown, and a
    // confirmed filter searches every id of the day.
    let total = app.predictions_total.max(app.predictions.len());
    // Scored, not "applications": quarantined ones were not scored (listed below).
    let held = match app.quarantined.len() {
        0 => String::new(),
        q => format!(" ({q} quarantined)"),
    };
    // How many the model flagged as claims: counted from the rows when all are loaded, else
    // the scoring run's own count (as `claims predict` printed it).
    let flagged = if app.day_truncated() {
        app.predictions.first().and_then(|p| {
            let run = app.runs.iter().find(|r| r.run_id == p.run_id)?;
            run.summary_json()["predicted_claims"].as_u64()
        })
    } else {
        Some(app.predictions.iter().filter(|p| p.predicted_claim).count() as u64)
    };
    let held = match flagged {
        Some(n) if total > 0 => format!(", {n} flagged{held}"),
        _ => held,
    };
    // A partial list says so before the counts a narrow title may cut.
    let scored = if app.day_truncated() {
        format!("{total} scored{held}, top {} shown", app.predictions.len())
    } else {
        format!("{total} scored{held}")
    };
    // Key hints close the title only when they fit (`?` lists every key anyway).
    let hinted = |base: String, hint: String| {
        if base.chars().count() + hint.chars().count() + 4 <= list.width as usize {
            format!("{base} {hint}")
        } else {
            base
        }
    };
    let title = match (app.filter.is_empty(), app.day_truncated()) {
        (true, false) => hinted(
            // Who scored it and at which threshold first: a narrow title cuts the end.
            format!("{date}{model}: {scored}"),
            format!("(h/l date, {} filter, Enter details)", app.key('/')),
        ),
        (true, true) => hinted(
            format!("{date}{model}: {scored}"),
            format!("({} filter: Enter searches all ids)", app.key('/')),
        ),
        (false, truncated) if truncated && app.filtering => format!(
            "{date}: {} of the top {} match '{}' (Enter searches all {total} ids)",
            visible.len(),
            app.predictions.len(),
            app.filter
        ),
        // The whole day's search stops at as many rows as the console loads: more may match.
        (false, _) if app.found.len() >= crate::tui::data::MAX_ROWS => format!(
            "{date}: at least {} of {total} match '{}'{model}, the {} highest shown (narrow it; Esc clears)",
            app.found.len(),
            app.filter,
            visible.len()
        ),
        (false, _) => format!(
            "{date}: {} of {total} match '{}'{model} (Esc clears)",
            visible.len(),
            app.filter
        ),
    };
    let title = super::fit_title(&title, list.width);
    // No row matches: the list says where the application is, in full (a title is cut).
    if visible.is_empty() && !app.filter.is_empty() {
        let (f_, needle) = (&app.filter, app.filter.to_lowercase());
        let held = app
            .quarantined
            .iter()
            .find(|(_, id, _)| id.to_lowercase().contains(&needle));
        let note = match held {
            // Not scored but quarantined (a handler would otherwise read that it does
            // not exist): the reason is in the panel below.
            Some((row, id, _)) => format!(
                "No score on {date} matches '{f_}': {id} was quarantined (row {row}), not scored; why is below."
            ),
            // Scored on other dates: which, so a handler need not page through them.
            None if !app.elsewhere.is_empty() => {
                let on = |held: bool| {
                    let d: Vec<&str> = app
                        .elsewhere
                        .iter()
                        .filter(|e| e.1 == held)
                        .map(|e| e.0.as_str())
                        .collect();
                    d.join(", ")
                };
                let (scored, held) = (on(false), on(true));
                let mut says = format!("'{f_}' was not scored on {date}.");
                if !scored.is_empty() {
                    says.push_str(&format!(" The champion scored it on {scored}."));
                }
                if !held.is_empty() {
                    says.push_str(&format!(
                        " It was quarantined on {held} (the reason is on that date)."
                    ));
                }
                says.push_str(" h/l goes there.");
                says
            }
            None if app.filtering => format!("No id or reason on {date} matches '{f_}' yet."),
            None => format!(
                "No id or reason on {date} matches '{f_}' (h/l shows other dates; a whole id is looked up on every date, and none scored '{f_}'). Esc clears the filter."
            ),
        };
        let wrap = ratatui::widgets::Wrap { trim: false };
        let text = Paragraph::new(note).wrap(wrap).block(block(&title, theme));
        f.render_widget(text, list);
        return draw_drift(f, drift, app, side, theme);
    }
    let t = Table::new(
        rows,
        [
            Constraint::Length(13),
            Constraint::Length(7),
            Constraint::Length(5),
            Constraint::Min(20),
        ],
    )
    .header(
        Row::new([
            "application",
            "score",
            "claim",
            "reasons for the decision (log-odds)",
        ])
        .style(theme.dim),
    )
    .block(block(&title, theme));
    f.render_widget(t, list);
    draw_drift(f, drift, app, side, theme);
}

/// The date's drift panel beside the list (when the pane is wide enough for it).
fn draw_drift(f: &mut Frame, drift: Rect, app: &App, side: u16, theme: &Theme) {
    if side > 0 {
        // The score's drift first, then alerts, warnings and the highest PSI: when the
        // panel is shorter than the list, what it cuts is what matters least.
        let rank = |d: &&crate::monitor::drift::DriftRow| {
            let level = match d.level.as_str() {
                "alert" => 0,
                "warn" => 1,
                _ => 2,
            };
            (d.feature != "score", level)
        };
        let mut shown_rows: Vec<&crate::monitor::drift::DriftRow> = app.drift.iter().collect();
        shown_rows.sort_by(|a, b| {
            rank(a).cmp(&rank(b)).then(
                b.value
                    .partial_cmp(&a.value)
                    .unwrap_or(std::cmp::Ordering::Equal),
            )
        });
        let room = drift.height.saturating_sub(2) as usize;
        let more = shown_rows.len().saturating_sub(room);
        // What is left out takes two lines: how many, and the command that lists them.
        if more > 0 {
            shown_rows.truncate(room.saturating_sub(2));
        }
        let mut lines: Vec<Line> = shown_rows
            .into_iter()
            .map(|d| {
                let (style, shown) = match d.level.as_str() {
                    "alert" => (theme.alert, "alert"),
                    "warn" => (theme.warn, "warn"),
                    crate::monitor::drift::FEW_ROWS => (theme.dim, "few"),
                    _ => (Style::default(), ""),
                };
                Line::styled(
                    format!(
                        "{:<23} {:>6.3} {shown}",
                        d.feature.chars().take(23).collect::<String>(),
                        d.value,
                    ),
                    style,
                )
            })
            .collect();
        if more > 0 {
            let hidden = app.drift.len() - lines.len();
            lines.push(Line::styled(
                format!("+{hidden} lower: claims drift"),
                theme.dim,
            ));
            lines.push(Line::styled(
                format!("  --date {}", app.date.as_deref().unwrap_or("DATE")),
                theme.dim,
            ));
        }
        let title = if app
            .drift
            .iter()
            .any(|d| d.level == crate::monitor::drift::FEW_ROWS)
        {
            "drift (PSI; few rows)"
        } else {
            "drift (PSI)"
        };
        f.render_widget(Paragraph::new(lines).block(block(title, theme)), drift);
    }
}

/// A row's stored reasons (JSON) as the console and the CLI show them:
/// `feature=value (+contribution), ...` (negative contributions for a row below the
/// threshold: what kept its score down).
pub fn reasons_shown(stored: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(stored).unwrap_or_default();
    crate::headless::reasons_text(&v)
}

/// The popup for one scored application: its score against the threshold, who scored it
/// and when, and every stored reason with its value and contribution, from the scoring
/// model's base score (read from `home`'s registry) to this score.
pub fn score_popup(
    r: &crate::sink::PredictionRow,
    home: &std::path::Path,
) -> crate::tui::state::Popup {
    let mut bases = crate::registry::basis::Bases::new(home);
    let mut lines = crate::headless::score_lines(r, bases.of(r));
    lines.push(String::new());
    lines.push("any key closes".into());
    crate::tui::state::Popup::Score(r.application_id.clone(), lines)
}
