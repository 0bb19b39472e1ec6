//! The imbalance pane.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Row, Table};

use crate::tui::app::{App, STRATEGIES};
use crate::tui::ui::Theme;

use super::block;

/// Imbalance: the settings form, the training job, and each setting's results side by side.
pub fn imbalance(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let [form, results] =
        Layout::vertical([Constraint::Length(10), Constraint::Min(3)]).areas(area);
    let fm = &app.form;
    let fields = [
        ("strategy", STRATEGIES[fm.strategy].to_string()),
        (
            "scale_pos_weight",
            if fm.weight > 0.0 {
                format!("{:.1}", fm.weight)
            } else {
                "auto (negatives/positives)".into()
            },
        ),
        ("undersample ratio", format!("{:.1} : 1", fm.ratio)),
        (
            "threshold rule",
            if fm.cost_rule {
                "cost".into()
            } else {
                "F1-optimal".into()
            },
        ),
    ];
    let mut lines: Vec<Line> = fields
        .iter()
        .enumerate()
        .map(|(i, (k, v))| {
            let text = format!("{:<18} < {v} >", k);
            if i == fm.field {
                Line::styled(text, theme.selected)
            } else {
                Line::from(text)
            }
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::styled(
        format!(
            "{} trains with --imbalance {} on the last training data",
            app.key('t'),
            fm.label(),
        ),
        theme.dim,
    ));
    lines.push(Line::styled(
        format!(
            "  search: {} candidates x {} folds (the config's, not the last run's)",
            app.cfg.search.iterations, app.cfg.search.folds
        ),
        theme.dim,
    ));
    match &app.live {
        Some(ev) if app.busy => lines.push(Line::styled(
            // Stage messages mostly start with the stage's name already ("fit: started").
            if ev.message.starts_with(&format!("{}:", ev.stage)) {
                format!("running: {}", ev.message)
            } else {
                format!("running: {}: {}", ev.stage, ev.message)
            },
            theme.warn,
        )),
        _ => {}
    }
    f.render_widget(
        Paragraph::new(lines).block(block("imbalance settings (j/k field, h/l value)", theme)),
        form,
    );
    // The champion's settings first, as the baseline the new settings are judged against.
    let baseline = app
        .models
        .iter()
        .find(|m| m.aliases.iter().any(|a| a == "champion"))
        .map(|m| {
            Row::new(
                vec![
                    format!("{} (champion)", m.imbalance.clone().unwrap_or_default()),
                    format!("v{}", m.version),
                    m.test_roc_auc.map_or("-".into(), |a| format!("{a:.4}")),
                ]
                .into_iter()
                .chain(match &app.champion_test {
                    Some((v, e)) if *v == m.version => vec![
                        format!("{:.4}", e.pr_auc),
                        format!("{:.3}", e.at_threshold.precision),
                        format!("{:.3}", e.at_threshold.recall),
                        format!("{:.4}", e.ece),
                    ],
                    _ => vec!["-".into(); 4],
                })
                .collect::<Vec<String>>(),
            )
            .style(theme.dim)
        });
    let rows: Vec<Row> = baseline
        .into_iter()
        .chain(app.trials.iter().map(|t| {
            Row::new(vec![
                t.settings.clone(),
                format!("v{}", t.version),
                format!("{:.4}", t.roc_auc),
                format!("{:.4}", t.pr_auc),
                format!("{:.3}", t.precision),
                format!("{:.3}", t.recall),
                format!("{:.4}", t.ece),
            ])
        }))
        .collect();
    let t = Table::new(
        rows,
        [
            // Room for "weight:auto=5.7050 (champion)" where the columns fit beside it.
            Constraint::Length(if results.width < 100 { 24 } else { 31 }),
            Constraint::Length(6),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(9),
            Constraint::Length(7),
            Constraint::Length(7),
        ],
    )
    .header(
        Row::new([
            "settings",
            "model",
            "ROC AUC",
            "PR AUC",
            "precision",
            "recall",
            "ECE",
        ])
        .style(theme.dim),
    )
    .block(block("results of runs started here (test split)", theme));
    f.render_widget(t, results);
}
