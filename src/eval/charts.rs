//! The evaluation charts: ROC, precision-recall, calibration, score distribution and feature
//! importance for one or two models, drawn with plotters on any backend (PNG or SVG). The
//! files, the font and the HTML page are handled in `report`.

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::report::ModelSeries;
use crate::eval::metrics;

/// The font family the charts use (the bundled font is registered under this name).
pub(super) const FONT: &str = "sans-serif";
const MAX_POINTS: usize = 500;
const TOP_FEATURES: usize = 15;
const SCORE_BINS: usize = 20;
const MODEL_COLOURS: [RGBColor; 2] = [RGBColor(31, 119, 180), RGBColor(230, 85, 13)];
const NO_CLAIM: RGBColor = RGBColor(31, 119, 180);
const CLAIM: RGBColor = RGBColor(214, 39, 40);
const GREY: RGBColor = RGBColor(130, 130, 130);
const GRID: RGBColor = RGBColor(225, 225, 225);

/// A drawing backend whose errors can become `anyhow` errors.
pub(super) trait Backend: DrawingBackend<ErrorType: 'static> {}
impl<T: DrawingBackend<ErrorType: 'static>> Backend for T {}

pub(super) type Area<DB> = DrawingArea<DB, Shift>;
type Xy<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

pub(super) fn draw<DB: Backend>(
    root: &Area<DB>,
    stem: &str,
    models: &[ModelSeries],
) -> anyhow::Result<()> {
    root.fill(&WHITE)?;
    match stem {
        "roc" => roc_chart(root, models)?,
        "pr" => pr_chart(root, models)?,
        "calibration" => calibration_chart(root, models)?,
        "score_distribution" => score_chart(root, models)?,
        _ => importance_chart(root, models)?,
    }
    root.present()?;
    Ok(())
}

fn colour(i: usize) -> RGBColor {
    MODEL_COLOURS[i % MODEL_COLOURS.len()]
}

fn line_key(c: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 26, y)], c.stroke_width(3))
}

fn box_key(c: RGBColor) -> impl Fn((i32, i32)) -> Rectangle<(i32, i32)> {
    move |(x, y)| Rectangle::new([(x + 4, y - 7), (x + 22, y + 7)], c.filled())
}

/// Counts of positives and negatives, each at least 1 so rates stay finite.
fn class_counts(y: &[u8]) -> (f64, f64) {
    let pos = y.iter().filter(|&&v| v == 1).count();
    (pos.max(1) as f64, (y.len() - pos).max(1) as f64)
}

/// Cumulative (false positives, true positives) at each distinct score, highest first.
fn curve(y: &[u8], p: &[f64]) -> Vec<(f64, f64)> {
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    let mut out = Vec::new();
    let (mut tp, mut fp) = (0.0, 0.0);
    for (n, &i) in idx.iter().enumerate() {
        if y[i] == 1 {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        if n + 1 == idx.len() || p[idx[n + 1]] != p[i] {
            out.push((fp, tp));
        }
    }
    out
}

/// Keeps at most `MAX_POINTS` points, evenly strided, always with the first and last.
fn downsample(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    if points.len() <= MAX_POINTS {
        return points;
    }
    let step = points.len().div_ceil(MAX_POINTS - 1);
    let last = points[points.len() - 1];
    let mut out: Vec<(f64, f64)> = points.into_iter().step_by(step).collect();
    out.push(last);
    out
}

/// A unit-square chart with title, axis names and a light grid.
fn unit_chart<'a, DB: Backend>(
    area: &'a Area<DB>,
    title: &str,
    x_desc: &str,
    y_desc: &str,
) -> anyhow::Result<Xy<'a, DB>> {
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 28))
        .margin(20)
        .x_label_area_size(65)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..1f64, 0f64..1f64)?;
    chart
        .configure_mesh()
        .x_labels(11)
        .y_labels(11)
        .x_label_formatter(&|v| format!("{v:.1}"))
        .y_label_formatter(&|v| format!("{v:.1}"))
        .x_desc(x_desc)
        .y_desc(y_desc)
        .axis_desc_style((FONT, 20))
        .label_style((FONT, 16))
        .bold_line_style(GRID)
        .light_line_style(WHITE)
        .draw()?;
    Ok(chart)
}

/// A dashed straight line from `a` to `b`.
fn dashed(a: (f64, f64), b: (f64, f64), c: RGBColor) -> DashedLineSeries<ArrayIter, u32> {
    DashedLineSeries::new([a, b], 10, 7, c.stroke_width(2))
}

type ArrayIter = std::array::IntoIter<(f64, f64), 2>;

/// Marks the operating point of a model as a filled dot with a dark ring.
fn operating_point<DB: Backend>(
    chart: &mut Xy<DB>,
    at: (f64, f64),
    c: RGBColor,
    m: &ModelSeries,
) -> anyhow::Result<()> {
    chart
        .draw_series([Circle::new(at, 8, c.filled())])?
        .label(format!("{} at threshold {:.3}", m.name, m.threshold))
        .legend(move |(x, y)| Circle::new((x + 13, y), 7, c.filled()));
    chart.draw_series([Circle::new(at, 9, BLACK.stroke_width(2))])?;
    Ok(())
}

fn legend<'a, DB: Backend + 'a>(
    chart: &mut Xy<'a, DB>,
    pos: SeriesLabelPosition,
) -> anyhow::Result<()> {
    chart
        .configure_series_labels()
        .position(pos)
        .margin(15)
        .legend_area_size(36)
        .label_font((FONT, 18))
        .background_style(WHITE.mix(0.9))
        .border_style(GREY)
        .draw()?;
    Ok(())
}

fn roc_chart<DB: Backend>(root: &Area<DB>, models: &[ModelSeries]) -> anyhow::Result<()> {
    let mut chart = unit_chart(
        root,
        "ROC curve",
        "False positive rate",
        "True positive rate",
    )?;
    let chance = chart.draw_series(dashed((0.0, 0.0), (1.0, 1.0), GREY))?;
    chance.label("Chance (AUC 0.5)").legend(line_key(GREY));
    for (i, m) in models.iter().enumerate() {
        let c = colour(i);
        let (n_pos, n_neg) = class_counts(m.y);
        let mut pts = vec![(0.0, 0.0)];
        pts.extend(
            curve(m.y, m.p)
                .into_iter()
                .map(|(fp, tp)| (fp / n_neg, tp / n_pos)),
        );
        let auc = metrics::roc_auc(m.y, m.p);
        chart
            .draw_series(LineSeries::new(downsample(pts), c.stroke_width(3)))?
            .label(format!("{} (AUC {auc:.3})", m.name))
            .legend(line_key(c));
        let at = metrics::at_threshold(m.y, m.p, m.threshold);
        operating_point(&mut chart, (at.fp as f64 / n_neg, at.recall), c, m)?;
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight)
}

fn pr_chart<DB: Backend>(root: &Area<DB>, models: &[ModelSeries]) -> anyhow::Result<()> {
    let mut chart = unit_chart(root, "Precision-recall curve", "Recall", "Precision")?;
    let mut baselines: Vec<f64> = Vec::new();
    for (i, m) in models.iter().enumerate() {
        let c = colour(i);
        let (n_pos, _) = class_counts(m.y);
        let pts: Vec<(f64, f64)> = curve(m.y, m.p)
            .into_iter()
            .map(|(fp, tp)| (tp / n_pos, tp / (tp + fp)))
            .collect();
        let mut line = vec![(0.0, pts.first().map_or(1.0, |p| p.1))];
        line.extend(pts);
        let ap = metrics::average_precision(m.y, m.p);
        chart
            .draw_series(LineSeries::new(downsample(line), c.stroke_width(3)))?
            .label(format!("{} (AP {ap:.3})", m.name))
            .legend(line_key(c));
        let at = metrics::at_threshold(m.y, m.p, m.threshold);
        operating_point(&mut chart, (at.recall, at.precision), c, m)?;
        let rate = m.y.iter().filter(|&&v| v == 1).count() as f64 / m.y.len() as f64;
        if !baselines.iter().any(|b| (b - rate).abs() < 1e-9) {
            baselines.push(rate);
        }
    }
    for rate in baselines {
        chart
            .draw_series(dashed((0.0, rate), (1.0, rate), GREY))?
            .label(format!("Claim rate {rate:.3} (no skill)"))
            .legend(line_key(GREY));
    }
    legend(&mut chart, SeriesLabelPosition::LowerLeft)
}

fn calibration_chart<DB: Backend>(root: &Area<DB>, models: &[ModelSeries]) -> anyhow::Result<()> {
    let mut chart = unit_chart(
        root,
        "Calibration (10 equal-width bins)",
        "Mean predicted probability",
        "Observed claim rate",
    )?;
    let perfect = chart.draw_series(dashed((0.0, 0.0), (1.0, 1.0), GREY))?;
    perfect.label("Perfectly calibrated").legend(line_key(GREY));
    for (i, m) in models.iter().enumerate() {
        let c = colour(i);
        let (bins, ece) = metrics::calibration(m.y, m.p, 10);
        let pts: Vec<(f64, f64)> = bins
            .iter()
            .map(|b| (b.mean_predicted, b.observed))
            .collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), c.stroke_width(3)))?
            .label(format!("{} (ECE {ece:.3})", m.name))
            .legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (26, 0)], c.stroke_width(3))
                    + Circle::new((13, 0), 5, c.filled())
            });
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 6, c.filled())))?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)
}

/// Share (%) of each class's rows in each of `SCORE_BINS` equal-width score bins.
fn score_shares(y: &[u8], p: &[f64]) -> [[f64; SCORE_BINS]; 2] {
    let mut counts = [[0.0; SCORE_BINS]; 2];
    for (&t, &q) in y.iter().zip(p) {
        let b = ((q.clamp(0.0, 1.0) * SCORE_BINS as f64) as usize).min(SCORE_BINS - 1);
        counts[usize::from(t == 1)][b] += 1.0;
    }
    for class in &mut counts {
        let total: f64 = class.iter().sum();
        if total > 0.0 {
            class.iter_mut().for_each(|v| *v *= 100.0 / total);
        }
    }
    counts
}

fn score_chart<DB: Backend>(root: &Area<DB>, models: &[ModelSeries]) -> anyhow::Result<()> {
    let inner = root
        .margin(12, 0, 0, 0)
        .titled("Score distribution by class", (FONT, 28))?;
    let panels = inner.split_evenly((1, models.len()));
    let shares: Vec<_> = models.iter().map(|m| score_shares(m.y, m.p)).collect();
    let peak = shares.iter().flatten().flatten();
    let top = 1.35 * peak.fold(1.0f64, |a, &b| a.max(b));
    let w = 1.0 / SCORE_BINS as f64;
    for ((m, share), panel) in models.iter().zip(&shares).zip(&panels) {
        let mut chart = ChartBuilder::on(panel)
            .caption(&m.name, (FONT, 22))
            .margin(15)
            .x_label_area_size(65)
            .y_label_area_size(75)
            .build_cartesian_2d(0f64..1f64, 0f64..top)?;
        chart
            .configure_mesh()
            .x_labels(if models.len() > 1 { 6 } else { 11 })
            .x_label_formatter(&|v| format!("{v:.1}"))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .x_desc("Score")
            .y_desc("Applications (% of class)")
            .axis_desc_style((FONT, 20))
            .label_style((FONT, 16))
            .bold_line_style(GRID)
            .light_line_style(WHITE)
            .disable_x_mesh()
            .draw()?;
        let n_pos = m.y.iter().filter(|&&v| v == 1).count();
        let classes = [
            ("No claim", NO_CLAIM, m.y.len() - n_pos),
            ("Claim", CLAIM, n_pos),
        ];
        for (k, (label, c, n)) in classes.into_iter().enumerate() {
            let bars = share[k].iter().enumerate().map(|(b, &v)| {
                let x0 = b as f64 * w + w * (0.06 + 0.44 * k as f64);
                Rectangle::new([(x0, 0.0), (x0 + 0.44 * w, v)], c.mix(0.85).filled())
            });
            chart
                .draw_series(bars)?
                .label(format!("{label} (n={n})"))
                .legend(box_key(c));
        }
        let t = m.threshold;
        chart
            .draw_series(dashed((t, 0.0), (t, top), BLACK))?
            .label(format!("Threshold {t:.3}"))
            .legend(line_key(BLACK));
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    }
    Ok(())
}

/// The `TOP_FEATURES` most important features, largest first, as % of the model's total gain.
fn top_features(importance: &[(String, f32)]) -> Vec<(String, f64)> {
    // In one order whatever order XGBoost listed them in (it varies between processes):
    // by gain, then by name, summed in that order, so the same model draws the same chart.
    let mut sorted: Vec<&(String, f32)> = importance.iter().collect();
    sorted.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let total: f64 = sorted.iter().map(|(_, v)| f64::from(v.max(0.0))).sum();
    let scale = if total > 0.0 { 100.0 / total } else { 1.0 };
    sorted
        .into_iter()
        .take(TOP_FEATURES)
        .map(|(n, g)| (n.clone(), f64::from(*g) * scale))
        .collect()
}

/// Shortens long feature names to `max` characters with an ellipsis.
fn short_name(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        name.to_string()
    } else {
        name.chars().take(max - 1).chain(['…']).collect()
    }
}

fn importance_chart<DB: Backend>(root: &Area<DB>, models: &[ModelSeries]) -> anyhow::Result<()> {
    let title = "Feature importance (top 15 by gain)";
    let inner = root.margin(12, 0, 0, 0).titled(title, (FONT, 28))?;
    let panels = inner.split_evenly((1, models.len()));
    let max_chars = if models.len() > 1 { 26 } else { 40 };
    for (i, (m, panel)) in models.iter().zip(&panels).enumerate() {
        let c = colour(i);
        let top = top_features(m.importance);
        let names: Vec<String> = top.iter().map(|(n, _)| short_name(n, max_chars)).collect();
        let longest = names.iter().map(|n| n.chars().count()).max().unwrap_or(4);
        let n = top.len().max(1);
        let x_max = top.iter().map(|t| t.1).fold(0.0f64, f64::max).max(1e-9) * 1.15;
        let mut chart = ChartBuilder::on(panel)
            .caption(&m.name, (FONT, 22))
            .margin(15)
            .x_label_area_size(65)
            .y_label_area_size((longest as u32 * 9 + 20).clamp(60, 340))
            .build_cartesian_2d(0f64..x_max, (0..n as i32 - 1).into_segmented())?;
        let label_of = |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(k) if (*k as usize) < names.len() => {
                names[names.len() - 1 - *k as usize].clone()
            }
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .bold_line_style(GRID)
            .light_line_style(WHITE)
            .y_labels(n)
            .y_label_formatter(&label_of)
            .x_labels(6)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .x_desc("Share of total gain (%)")
            .axis_desc_style((FONT, 20))
            .label_style((FONT, 15))
            .draw()?;
        let rows = top.len();
        // Bars drawn in rank order (plotters' Histogram groups its data in a hash map, so
        // the same chart came out with its bars in another order each run).
        chart.draw_series(top.iter().enumerate().map(|(k, t)| {
            let y = (rows - 1 - k) as i32;
            let span = [
                (0.0, SegmentValue::Exact(y)),
                (t.1, SegmentValue::Exact(y + 1)),
            ];
            let mut bar = Rectangle::new(span, c.filled());
            bar.set_margin(5, 5, 0, 0);
            bar
        }))?;
        chart.draw_series(top.iter().enumerate().map(|(k, t)| {
            let at = (t.1, SegmentValue::CenterOf((rows - 1 - k) as i32));
            Text::new(
                format!(" {:.1}", t.1),
                at,
                TextStyle::from((FONT, 14)).pos(Pos::new(HPos::Left, VPos::Center)),
            )
        }))?;
    }
    Ok(())
}
