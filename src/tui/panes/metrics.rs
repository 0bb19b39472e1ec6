//! The metrics pane.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph};

use crate::tui::app::App;
use crate::tui::ui::Theme;

use super::block;

/// Metrics: the selected version's table, ROC curve, confusion matrix, calibration and
/// importance, with a threshold moved by h/l.
pub fn metrics(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let Some(v) = &app.model_view else {
        f.render_widget(
            Paragraph::new("no model yet: train one (claims train, or t in the Imbalance pane)")
                .block(block("metrics", theme)),
            area,
        );
        return;
    };
    // The numbers keep their full width (46 columns) on a narrow terminal; the charts shrink.
    let numbers = if area.width < 103 {
        Constraint::Length(46)
    } else {
        Constraint::Percentage(45)
    };
    let [left, right] = Layout::horizontal([numbers, Constraint::Min(20)]).areas(area);
    let e = &v.test;
    let live = app.at_threshold();
    let t = live.unwrap_or(e.at_threshold);
    let aliases = app
        .models
        .get(app.model_sel)
        .map(|m| m.aliases.join(","))
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "(not champion or challenger)".into());
    let mut lines = vec![
        Line::styled(
            format!("v{} {}  (j/k other versions)", v.version, aliases),
            theme.accent,
        ),
        Line::from(format!(
            "ROC AUC {:.4}   PR AUC {:.4} (rate {:.3})",
            e.roc_auc, e.pr_auc, e.positive_rate
        )),
        Line::from(format!(
            "log loss {:.4}  Brier {:.4}  ECE {:.4}",
            e.log_loss, e.brier, e.ece
        )),
        Line::from(format!(
            "lift top 10% {:.2} (captures {:.0}%)",
            e.lift_top_decile,
            100.0 * e.capture_top_decile
        )),
        Line::from(""),
        Line::styled(
            if (app.threshold - e.at_threshold.threshold).abs() < 1e-9 {
                format!("threshold {:.4}  (trained; h/l to explore)", app.threshold)
            } else {
                format!(
                    "threshold {:.4}  (h/l; trained at {:.4})",
                    app.threshold, e.at_threshold.threshold
                )
            },
            theme.accent,
        ),
        Line::from(format!(
            "precision {:.4}  recall {:.4}  F1 {:.4}",
            t.precision, t.recall, t.f1
        )),
        Line::from("            predicted no  predicted claim"),
        Line::from(format!("no claim    {:>12}  {:>15}", t.tn, t.fp)),
        Line::from(format!("claim       {:>12}  {:>15}", t.fn_, t.tp)),
    ];
    if live.is_none() {
        lines.push(Line::styled(
            "(this version has no stored test scores: values at its own threshold)",
            theme.dim,
        ));
    }
    lines.push(Line::from(""));
    lines.push(Line::styled(
        "calibration (predicted -> observed):",
        theme.dim,
    ));
    for b in &e.calibration {
        lines.push(Line::from(format!(
            "  {:.2} -> {:.2}  ({} rows)",
            b.mean_predicted, b.observed, b.count
        )));
    }
    f.render_widget(
        Paragraph::new(lines).block(block("evaluation (test split)", theme)),
        left,
    );
    let [curve, imp] =
        Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(right);
    let roc: Vec<(f64, f64)> = roc_points(&v.y, &v.p);
    let point = vec![(t.fp as f64 / (t.fp + t.tn).max(1) as f64, t.recall)];
    let data = vec![
        Dataset::default()
            .name(format!("ROC (AUC {:.3})", e.roc_auc))
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(theme.accent)
            .data(&roc),
        Dataset::default()
            .name("threshold")
            .marker(Marker::Block)
            .graph_type(GraphType::Scatter)
            .style(theme.warn)
            .data(&point),
    ];
    let chart = Chart::new(data)
        .block(block("ROC curve", theme))
        .x_axis(
            Axis::default()
                .title("FPR")
                .bounds([0.0, 1.0])
                .labels(["0", "0.5", "1"]),
        )
        .y_axis(
            Axis::default()
                .title("TPR")
                .bounds([0.0, 1.0])
                .labels(["0", "0.5", "1"]),
        );
    f.render_widget(chart, curve);
    let total: f32 = v.importance.iter().map(|(_, g)| g).sum::<f32>().max(1e-9);
    let lines: Vec<Line> = v
        .importance
        .iter()
        .take(imp.height.saturating_sub(2) as usize)
        .map(|(n, g)| {
            let share = g / total;
            let bar = "#".repeat((share * 40.0).round() as usize);
            Line::from(format!(
                "{:<22} {:>5.1}% {bar}",
                n.chars().take(22).collect::<String>(),
                100.0 * share
            ))
        })
        .collect();
    f.render_widget(
        Paragraph::new(lines).block(block("feature importance (gain)", theme)),
        imp,
    );
}

fn roc_points(y: &[u8], p: &[f64]) -> Vec<(f64, f64)> {
    if y.is_empty() {
        return vec![];
    }
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    let pos = y.iter().filter(|&&v| v == 1).count().max(1) as f64;
    let neg = (y.len() as f64 - pos).max(1.0);
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut out = vec![(0.0, 0.0)];
    for (n, &i) in idx.iter().enumerate() {
        if y[i] == 1 {
            tp += 1.0
        } else {
            fp += 1.0
        }
        if n % (idx.len() / 200).max(1) == 0 || n + 1 == idx.len() {
            out.push((fp / neg, tp / pos));
        }
    }
    out
}
