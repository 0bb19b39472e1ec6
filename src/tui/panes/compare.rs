//! The compare pane.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};

use crate::tui::app::App;
use crate::tui::ui::Theme;

use super::block;

/// Champion/Challenger: both models with intervals, DeLong's test and the gate's reasons.
pub fn compare(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let Some(c) = &app.comparison else {
        let holder = |alias: &str| {
            app.models
                .iter()
                .find(|m| m.aliases.iter().any(|a| a == alias))
                .map_or("none".to_string(), |m| format!("v{}", m.version))
        };
        let mut lines = vec![
            Line::from(format!(
                "champion {}   challenger {}",
                holder("champion"),
                holder("challenger")
            )),
            Line::from(""),
            Line::from(
                if holder("champion") != "none" && holder("challenger") != "none" {
                    format!("no comparison on screen: {} compares them", app.key('c'))
                } else {
                    format!(
                        "no comparison yet: it needs a champion and a challenger (a new training run registers one: t on pane 3; then {} compares them)",
                        app.key('c')
                    )
                },
            ),
            Line::from(match app.champions.rollback_to {
                Some(v) => format!("{} rolls the champion back to v{v}", app.key('b')),
                None => "no earlier champion to roll back to".into(),
            }),
        ];
        lines.extend(history_lines(app, theme));
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: true })
                .block(block("champion / challenger", theme)),
            area,
        );
        return;
    };
    let [table, verdict] = Layout::vertical([
        Constraint::Length(c.metrics.len() as u16 + 3),
        Constraint::Min(3),
    ])
    .areas(area);
    // Wide enough: each difference's interval and bootstrap p, as `claims compare` prints.
    let wide = table.width >= 110;
    let rows: Vec<Row> = c
        .metrics
        .iter()
        .map(|m| {
            let better = if m.higher_is_better {
                m.diff > 0.0
            } else {
                m.diff < 0.0
            };
            Row::new(vec![
                Cell::from(m.metric.clone()),
                Cell::from(format!(
                    "{:.4} [{:.3},{:.3}]",
                    m.champion, m.champion_ci.lo, m.champion_ci.hi
                )),
                Cell::from(format!(
                    "{:.4} [{:.3},{:.3}]",
                    m.challenger, m.challenger_ci.lo, m.challenger_ci.hi
                )),
                Cell::from(Span::styled(
                    if wide {
                        format!("{:+.4} [{:+.3},{:+.3}]", m.diff, m.diff_ci.lo, m.diff_ci.hi)
                    } else {
                        format!("{:+.4}", m.diff)
                    },
                    if better { theme.good } else { theme.warn },
                )),
                Cell::from(if wide {
                    crate::pipeline::compare::p_text(m.p_value, c.bootstrap_rounds)
                } else {
                    String::new()
                }),
            ])
        })
        .collect();
    let t = Table::new(
        rows,
        [
            Constraint::Length(20),
            Constraint::Length(22),
            Constraint::Length(22),
            Constraint::Length(if wide { 24 } else { 9 }),
            Constraint::Length(if wide { 8 } else { 0 }),
        ],
    )
    .header(
        Row::new([
            String::from("metric"),
            format!("v{} champion", c.champion),
            format!("v{} challenger", c.challenger),
            if wide { "diff [95% CI]" } else { "diff" }.into(),
            if wide { "boot. p" } else { "" }.into(),
        ])
        .style(theme.dim),
    )
    .block(block(
        &format!("{} held-out rows, 95% CI (paired bootstrap)", c.rows),
        theme,
    ));
    f.render_widget(t, table);
    let mut lines = vec![];
    if let Some(d) = &c.delong {
        lines.push(Line::from(format!(
            "DeLong: AUC {:.4} vs {:.4}, z = {:.3}, p {}",
            d.auc_a,
            d.auc_b,
            d.z,
            crate::pipeline::compare::p_shown(d.p_value, 10_000)
        )));
    }
    for n in &c.notes {
        lines.push(Line::styled(format!("note: {n}"), theme.warn));
    }
    lines.push(Line::styled(
        format!(
            "gate: {} ({})",
            crate::pipeline::compare::gate_word(c.decision.promote),
            if c.decision.promote {
                format!("{} promotes v{}", app.key('p'), c.challenger)
            } else {
                format!(
                    "v{} is not promoted; {} overrides it with a reason",
                    c.challenger,
                    app.key('p')
                )
            }
        ),
        if c.decision.promote {
            theme.good
        } else {
            theme.alert
        },
    ));
    for r in &c.decision.reasons {
        lines.push(Line::styled(
            r.clone(),
            if r.starts_with("FAIL") {
                theme.alert
            } else {
                Style::default()
            },
        ));
    }
    // Whose rows these are (each model's test AUC on the Metrics pane is on its own split);
    // last, so a short terminal cuts it before the gate's reasons.
    lines.push(Line::styled(format!("rows: {}", c.rows_note), theme.dim));
    // Below everything else: a short terminal cuts it first.
    lines.extend(history_lines(app, theme));
    // Scrolled by j/k (PgDn/PgUp, Home/End) when taller than the pane.
    let text = Paragraph::new(lines).wrap(Wrap { trim: false });
    let rows = text.line_count(verdict.width.saturating_sub(2).max(1));
    let max = rows.saturating_sub(usize::from(verdict.height.saturating_sub(2)));
    app.detail_max.set(u16::try_from(max).unwrap_or(u16::MAX));
    let scroll = usize::from(app.detail_scroll).min(max);
    // The keys ride in the title, which a short terminal does not cut off.
    let title = format!(
        "test and decision ({} promote, {} roll back, {} recompute{})",
        app.key('p'),
        app.key('b'),
        app.key('c'),
        if max > 0 { ", j/k scroll" } else { "" }
    );
    f.render_widget(
        text.scroll((scroll as u16, 0)).block(block(&title, theme)),
        verdict,
    );
}

/// Who moved the champion, when and why, latest first (what `claims models` ends with).
fn history_lines(app: &App, theme: &Theme) -> Vec<Line<'static>> {
    let h = &app.champions.history;
    if h.is_empty() {
        return vec![];
    }
    let mut lines = vec![
        Line::from(""),
        Line::styled("champion history (latest first):", theme.dim),
    ];
    lines.extend(h.iter().rev().map(|m| Line::from(m.line())));
    lines
}

/// What the promotion gate said of challenger `version`, for the confirm popup, and
/// whether promoting it needs a typed reason (the gate refused it or has not run on it).
pub fn gate_lines(
    comparison: Option<&crate::pipeline::compare::Comparison>,
    version: u32,
    status: Option<crate::pipeline::compare::GateStatus>,
) -> (Vec<String>, bool) {
    use crate::pipeline::compare::GateStatus as G;
    // A reason is needed unless the recorded gate passed (or there is no champion yet).
    let needs_reason = !matches!(status, Some(G::Passed(..)) | Some(G::NoChampion));
    let champion = match &status {
        Some(G::Passed(ch, ..)) | Some(G::Refused(ch, ..)) | Some(G::NotCompared(ch)) => Some(*ch),
        _ => None,
    };
    let on_screen = comparison
        .filter(|c| c.challenger == version && champion.is_none_or(|ch| c.champion == ch));
    let lines = match (on_screen, &status) {
        (Some(c), _) if c.decision.promote => {
            vec![format!("Gate: passed (v{version} passed every check)")]
        }
        (Some(c), _) => {
            let failed: Vec<&String> = c
                .decision
                .reasons
                .iter()
                .filter(|r| r.starts_with("FAIL"))
                .collect();
            let mut lines = vec![format!(
                "Gate: refused ({} check(s) failed); promoting overrides it",
                failed.len()
            )];
            lines.extend(failed.iter().map(|r| format!("  {r}")));
            lines
        }
        (None, Some(G::Passed(ch, at, _))) => {
            vec![format!("Gate: passed (v{version} against v{ch}, {at})")]
        }
        (None, Some(G::Refused(ch, at, _))) => vec![format!(
            "Gate: refused (v{version} against v{ch}, {at}); promoting overrides it"
        )],
        (None, Some(G::NotCompared(ch))) => vec![format!(
            "Gate: v{version} not compared with the current champion v{ch}; c on this pane compares them"
        )],
        (None, Some(G::NoChampion)) => {
            vec![format!("no champion yet: v{version} becomes the first")]
        }
        (None, None) => vec![format!(
            "Gate: not computed for v{version} yet; recompute on this pane to see it"
        )],
    };
    (lines, needs_reason)
}
