//! The six panes. Each draws from the app state only.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Borders, Cell, Chart, Dataset, Gauge, GraphType, Paragraph, Row, Table, Wrap,
};

use super::app::{App, STRATEGIES};
use super::ui::Theme;

fn block<'a>(title: &str, theme: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(format!(" {title} "), theme.accent))
}

fn short_time(s: &str) -> String {
    s.get(5..16).unwrap_or(s).replace('T', " ")
}

fn duration(r: &crate::registry::runs::RunRecord) -> String {
    let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
    match (
        parse(&r.started_at),
        r.finished_at.as_deref().and_then(parse),
    ) {
        (Some(a), Some(b)) => format!("{:.1}s", (b - a).num_milliseconds() as f64 / 1000.0),
        _ => "-".into(),
    }
}

fn status_style(s: &str, theme: &Theme) -> Style {
    match s {
        "failed" => theme.alert,
        "running" => theme.warn,
        _ => theme.good,
    }
}

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
            Line::from(""),
            Line::styled(
                format!(
                    "{:<11} {:>8} {:>9} {:>9}  note",
                    "stage", "ms", "rows in", "rows out"
                ),
                theme.dim,
            ),
        ];
        let n = |v: Option<i64>| v.map_or("-".to_string(), |x| x.to_string());
        for s in &r.stages {
            lines.push(Line::from(format!(
                "{:<11} {:>8} {:>9} {:>9}  {}",
                s.stage,
                s.duration_ms,
                n(s.rows_in),
                n(s.rows_out),
                s.note.clone().unwrap_or_default()
            )));
        }
        let summary: serde_json::Value = r
            .summary
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        if let Some(q) = summary["rows_quarantined"].as_u64() {
            lines.push(Line::from(format!("quarantined rows: {q}")));
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
            lines.extend(e.lines().map(|l| Line::from(l.to_string())));
        }
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(block("run details (Esc closes)", theme)),
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
                    let i = j["rows_read"].as_u64().or(j["split_rows"][0].as_u64());
                    let o = j["rows_scored"]
                        .as_u64()
                        .or(j["model_version"].as_u64().map(|_| 1));
                    (
                        i.map_or("-".into(), |v| v.to_string()),
                        o.map_or("-".into(), |v| {
                            if j["rows_scored"].is_null() {
                                "model".into()
                            } else {
                                v.to_string()
                            }
                        }),
                    )
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
            cells.extend([
                Cell::from(duration(r)),
                Cell::from(rows_in),
                Cell::from(rows_out),
            ]);
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
        Constraint::Length(7),
        Constraint::Length(8),
        Constraint::Length(8),
    ]);
    header.extend(["took", "rows in", "out"]);
    let t = Table::new(rows, widths)
        .header(Row::new(header).style(theme.dim))
        .block(block(
            &format!("runs ({}), Enter for details", app.runs.len()),
            theme,
        ));
    f.render_widget(t, list);
}

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
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(area);
    let e = &v.test;
    let live = app.at_threshold();
    let t = live.unwrap_or(e.at_threshold);
    let aliases = app
        .models
        .get(app.model_sel)
        .map(|m| m.aliases.join(","))
        .unwrap_or_default();
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
            format!(
                "threshold {:.2}  (h/l; trained at {:.4})",
                app.threshold, e.at_threshold.threshold
            ),
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

/// Imbalance: the settings form, the training job, and each setting's results side by side.
pub fn imbalance(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let [form, results] = Layout::vertical([Constraint::Length(9), Constraint::Min(3)]).areas(area);
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
            "t trains with --imbalance {} on the last training data",
            fm.label()
        ),
        theme.dim,
    ));
    match &app.live {
        Some(ev) if app.busy => lines.push(Line::styled(
            format!("running: {} {}", ev.stage, ev.message),
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
            Row::new(vec![
                format!("{} (champion)", m.imbalance.clone().unwrap_or_default()),
                format!("v{}", m.version),
                m.test_roc_auc.map_or("-".into(), |a| format!("{a:.4}")),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ])
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
            Constraint::Length(24),
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

/// Champion/Challenger: both models with intervals, DeLong's test and the gate's reasons.
pub fn compare(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let Some(c) = &app.comparison else {
        f.render_widget(
            Paragraph::new("no comparison yet (needs a champion and a challenger; c computes it)")
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
                    format!("{:+.4}", m.diff),
                    if better { theme.good } else { theme.warn },
                )),
            ])
        })
        .collect();
    let t = Table::new(
        rows,
        [
            Constraint::Length(20),
            Constraint::Length(22),
            Constraint::Length(22),
            Constraint::Length(9),
        ],
    )
    .header(
        Row::new([
            String::from("metric"),
            format!("v{} champion", c.champion),
            format!("v{} challenger", c.challenger),
            "diff".into(),
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
            "DeLong: AUC {:.4} vs {:.4}, z = {:.3}, p = {:.4}",
            d.auc_a, d.auc_b, d.z, d.p_value
        )));
    }
    lines.push(Line::styled(
        format!(
            "gate: {}",
            if c.decision.promote {
                "PROMOTE"
            } else {
                "REFUSE"
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
    lines.push(Line::styled(
        "p promote challenger   b roll back   c recompute",
        theme.dim,
    ));
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block("test and decision", theme)),
        verdict,
    );
}

/// Predictions: a date's scores with top reasons, filterable, and that date's drift.
pub fn predictions(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let side = if area.width >= 100 { 38 } else { 0 };
    let [list, drift] =
        Layout::horizontal([Constraint::Min(40), Constraint::Length(side)]).areas(area);
    let date = app
        .date
        .clone()
        .unwrap_or_else(|| "no predictions yet".into());
    let visible = app.visible_predictions();
    let height = list.height.saturating_sub(3) as usize;
    let first = app.pred_sel.saturating_sub(height.saturating_sub(1));
    let rows: Vec<Row> = visible
        .iter()
        .enumerate()
        .skip(first)
        .take(height)
        .map(|(i, r)| {
            let reasons: serde_json::Value =
                serde_json::from_str(&r.top_reasons).unwrap_or_default();
            let text = reasons
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|x| {
                            format!(
                                "{}={}",
                                x["feature"].as_str().unwrap_or(""),
                                x["value"].as_str().unwrap_or("")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
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
                Cell::from(text),
            ]);
            if i == app.pred_sel {
                row.style(theme.selected)
            } else {
                row
            }
        })
        .collect();
    let title = format!(
        "{date}: {} of {} applications (h/l date, / filter)",
        visible.len(),
        app.predictions.len()
    );
    let t = Table::new(
        rows,
        [
            Constraint::Length(13),
            Constraint::Length(7),
            Constraint::Min(20),
        ],
    )
    .header(
        Row::new(["application", "score", "top reasons (pushing the score up)"]).style(theme.dim),
    )
    .block(block(&title, theme));
    f.render_widget(t, list);
    if side > 0 {
        let lines: Vec<Line> = app
            .drift
            .iter()
            .map(|d| {
                let style = match d.level.as_str() {
                    "alert" => theme.alert,
                    "warn" => theme.warn,
                    _ => Style::default(),
                };
                Line::styled(
                    format!(
                        "{:<22} {:>6.3} {}",
                        d.feature.chars().take(22).collect::<String>(),
                        d.value,
                        if d.level == "ok" { "" } else { &d.level }
                    ),
                    style,
                )
            })
            .collect();
        f.render_widget(
            Paragraph::new(lines).block(block("drift (PSI)", theme)),
            drift,
        );
    }
}

/// Logs: the structured log's tail, following by default.
pub fn logs(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let lines = app.visible_logs();
    let height = area.height.saturating_sub(2) as usize;
    let end = lines.len().saturating_sub(app.log_scroll);
    let start = end.saturating_sub(height);
    let text: Vec<Line> = lines[start..end]
        .iter()
        .map(|l| {
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
        })
        .collect();
    let title = format!(
        "log {}{}{} (f follow, / search, L level, w wrap)",
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
        }
    );
    let mut p = Paragraph::new(text).block(block(&title, theme));
    if app.wrap {
        p = p.wrap(Wrap { trim: false });
    }
    f.render_widget(p, area);
}
