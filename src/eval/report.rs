//! Evaluation charts and the HTML report: draws ROC, precision-recall, calibration, score
//! distribution and feature importance charts for one or two models (PNG and SVG, with the
//! bundled DejaVu Sans font), and writes a self-contained HTML page with the tables and the
//! images embedded as base64 data URIs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::anyhow;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};

use crate::error::{ClaimsError, Result};
use crate::eval::metrics;

/// One model's scores on labelled rows, for the charts.
pub struct ModelSeries<'a> {
    /// Legend label, e.g. "v3 challenger".
    pub name: String,
    /// 0/1 labels.
    pub y: &'a [u8],
    /// Claim probabilities in [0, 1], one per label.
    pub p: &'a [f64],
    /// Operating threshold, marked as a point on the ROC and PR curves.
    pub threshold: f64,
    /// Feature importance by gain, in any order.
    pub importance: &'a [(String, f32)],
}

/// One table for the HTML page: a title, column names and rows of already formatted cells.
pub struct Table {
    /// Heading shown above the table.
    pub title: String,
    /// Column names.
    pub header: Vec<String>,
    /// Rows of cells (plain text, escaped when written).
    pub rows: Vec<Vec<String>>,
}

const SIZE: (u32, u32) = (1000, 700);
const FONT: &str = "sans-serif";
const MAX_POINTS: usize = 500;
const TOP_FEATURES: usize = 15;
const SCORE_BINS: usize = 20;
const MODEL_COLOURS: [RGBColor; 2] = [RGBColor(31, 119, 180), RGBColor(230, 85, 13)];
const NO_CLAIM: RGBColor = RGBColor(31, 119, 180);
const CLAIM: RGBColor = RGBColor(214, 39, 40);
const GREY: RGBColor = RGBColor(130, 130, 130);
const GRID: RGBColor = RGBColor(225, 225, 225);

/// The charts in output order (file stems).
const CHARTS: [&str; 5] = [
    "roc",
    "pr",
    "calibration",
    "score_distribution",
    "feature_importance",
];

/// A drawing backend whose errors can become `anyhow` errors.
trait Backend: DrawingBackend<ErrorType: 'static> {}
impl<T: DrawingBackend<ErrorType: 'static>> Backend for T {}

type Area<DB> = DrawingArea<DB, Shift>;
type Xy<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Draws every chart for 1 or 2 models into `dir` as PNG (1000x700) and SVG, and returns the
/// PNG paths in order: roc, pr, calibration, score_distribution, feature_importance.
pub fn write_charts(dir: &Path, models: &[ModelSeries]) -> Result<Vec<PathBuf>> {
    let n = models.len();
    if !(1..=2).contains(&n) {
        return Err(other(format!("charts take 1 or 2 models, got {n}")));
    }
    for m in models {
        if m.y.len() != m.p.len() || m.y.is_empty() {
            return Err(other(format!(
                "model '{}': {} labels and {} scores (need the same, non-zero count)",
                m.name,
                m.y.len(),
                m.p.len()
            )));
        }
    }
    register_fonts()?;
    std::fs::create_dir_all(dir).map_err(|e| ClaimsError::io(dir, e))?;
    let mut out = Vec::with_capacity(CHARTS.len());
    for stem in CHARTS {
        let png = dir.join(format!("{stem}.png"));
        let svg = png.with_extension("svg");
        {
            let bitmap = BitMapBackend::new(&png, SIZE).into_drawing_area();
            let vector = SVGBackend::new(&svg, SIZE).into_drawing_area();
            let drawn = draw(&bitmap, stem, models).and_then(|()| draw(&vector, stem, models));
            drawn.map_err(|e| other(format!("{stem} chart in {}: {e}", dir.display())))?;
        }
        out.push(png);
    }
    Ok(out)
}

/// Writes `dir/report.html`, a self-contained page (inline CSS, no scripts, no external links)
/// with the title, the tables and the images embedded as base64 data URIs, and returns its path.
pub fn write_html(
    dir: &Path,
    title: &str,
    tables: &[Table],
    images: &[PathBuf],
) -> Result<PathBuf> {
    let mut html = String::with_capacity(1 << 20);
    let t = escape(title);
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(
        html,
        "<title>{t}</title>\n<style>{CSS}</style>\n</head>\n<body>"
    );
    let _ = writeln!(html, "<h1>{t}</h1>");
    let cells = |tag: &str, cells: &[String]| -> String {
        cells
            .iter()
            .map(|c| format!("<{tag}>{}</{tag}>", escape(c)))
            .collect()
    };
    for table in tables {
        let _ = writeln!(html, "<h2>{}</h2>\n<table>", escape(&table.title));
        if !table.header.is_empty() {
            let _ = writeln!(
                html,
                "<thead><tr>{}</tr></thead>",
                cells("th", &table.header)
            );
        }
        html.push_str("<tbody>\n");
        for row in &table.rows {
            let _ = writeln!(html, "<tr>{}</tr>", cells("td", row));
        }
        html.push_str("</tbody>\n</table>\n");
    }
    if !images.is_empty() {
        html.push_str("<h2>Charts</h2>\n");
    }
    for path in images {
        let bytes = std::fs::read(path).map_err(|e| ClaimsError::io(path, e))?;
        let mime = match path.extension().and_then(|e| e.to_str()) {
            Some("svg") => "image/svg+xml",
            Some("jpg" | "jpeg") => "image/jpeg",
            _ => "image/png",
        };
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("chart");
        let _ = writeln!(
            html,
            "<figure><img alt=\"{}\" src=\"data:{mime};base64,{}\"></figure>",
            escape(&name.replace('_', " ")),
            base64(&bytes)
        );
    }
    html.push_str("</body>\n</html>\n");
    std::fs::create_dir_all(dir).map_err(|e| ClaimsError::io(dir, e))?;
    let path = dir.join("report.html");
    std::fs::write(&path, html).map_err(|e| ClaimsError::io(&path, e))?;
    Ok(path)
}

const CSS: &str = "body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;\
margin:2em auto;max-width:1040px;color:#222;padding:0 1em}\
h1{font-size:1.7em;border-bottom:2px solid #1f77b4;padding-bottom:.3em}\
h2{font-size:1.25em;margin-top:1.6em}\
table{border-collapse:collapse;margin:.5em 0 1em;font-size:.95em}\
th,td{border:1px solid #ccc;padding:.35em .8em;text-align:left}\
th{background:#f0f4f8}tbody tr:nth-child(even){background:#fafafa}\
td{font-variant-numeric:tabular-nums}\
figure{margin:1em 0}img{max-width:100%;height:auto;border:1px solid #e4e4e4}";

fn other(msg: String) -> ClaimsError {
    ClaimsError::Other(anyhow!(msg))
}

/// Registers the bundled font as "sans-serif" once per process.
fn register_fonts() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        let bytes: &'static [u8] = include_bytes!("../../assets/DejaVuSans.ttf");
        register_font(FONT, FontStyle::Normal, bytes).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(other("assets/DejaVuSans.ttf is not a usable font".into()))
    }
}

/// HTML-escapes text for element content and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Standard base64 (RFC 4648, with padding).
fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = (chunk.iter().enumerate()).fold(0, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ABC[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn draw<DB: Backend>(root: &Area<DB>, stem: &str, models: &[ModelSeries]) -> anyhow::Result<()> {
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
    let total: f64 = importance.iter().map(|(_, v)| f64::from(v.max(0.0))).sum();
    let scale = if total > 0.0 { 100.0 / total } else { 1.0 };
    let mut v: Vec<(String, f64)> = importance
        .iter()
        .map(|(n, g)| (n.clone(), f64::from(*g) * scale))
        .collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v.truncate(TOP_FEATURES);
    v
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
        chart.draw_series(
            Histogram::horizontal(&chart)
                .style(c.filled())
                .margin(5)
                .data(
                    top.iter()
                        .enumerate()
                        .map(|(k, t)| ((rows - 1 - k) as i32, t.1)),
                ),
        )?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic labels (about 12% claims) and scores; `skill` separates the classes.
    fn synthetic(n: usize, skill: f64) -> (Vec<u8>, Vec<f64>) {
        let mut s = 7u64;
        let mut next = move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut y = Vec::with_capacity(n);
        let mut p = Vec::with_capacity(n);
        for _ in 0..n {
            let t = u8::from(next() < 0.12);
            let z = -2.3 + skill * f64::from(t) + (next() + next() + next() - 1.5) * 2.5;
            y.push(t);
            p.push((1000.0 / (1.0 + (-z).exp())).round() / 1000.0);
        }
        (y, p)
    }

    fn importance(k: usize) -> Vec<(String, f32)> {
        let kinds = ["age", "vehicle_value", "region_postcode_claim_frequency"];
        let gain = |i: usize| ((i * 7 + k * 3) % 20 + 1) as f32 * 10.0;
        (0..20)
            .map(|i| (format!("feature_{i}_{}", kinds[i % 3]), gain(i)))
            .collect()
    }

    fn series<'a>(
        name: &str,
        y: &'a [u8],
        p: &'a [f64],
        imp: &'a [(String, f32)],
    ) -> ModelSeries<'a> {
        ModelSeries {
            name: name.into(),
            y,
            p,
            threshold: 0.3,
            importance: imp,
        }
    }

    fn check_charts(dir: &Path, models: &[ModelSeries]) {
        let pngs = write_charts(dir, models).expect("charts");
        assert_eq!(pngs.len(), CHARTS.len());
        for (png, stem) in pngs.iter().zip(CHARTS) {
            assert_eq!(png, &dir.join(format!("{stem}.png")));
            for f in [png.clone(), png.with_extension("svg")] {
                let len = std::fs::metadata(&f).expect("chart file").len();
                assert!(len > 5_000, "{} is only {len} bytes", f.display());
            }
        }
    }

    #[test]
    fn charts_for_one_and_two_models() {
        let ((y, p1), (_, p2)) = (synthetic(3000, 2.0), synthetic(3000, 2.6));
        let (imp1, imp2) = (importance(0), importance(1));
        let (m1, m2) = (
            series("v2 champion", &y, &p1, &imp1),
            series("v3", &y, &p2, &imp2),
        );
        let one = tempfile::tempdir().expect("tempdir");
        check_charts(one.path(), std::slice::from_ref(&m1));
        let two = tempfile::tempdir().expect("tempdir");
        check_charts(two.path(), &[m1, m2]);
        assert!(write_charts(two.path(), &[]).is_err());
    }

    #[test]
    fn charts_survive_degenerate_input() {
        let (y, p) = (vec![0u8; 50], vec![0.5; 50]);
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(write_charts(dir.path(), &[series("flat", &y, &p, &[])]).is_ok());
        let short = series("short", &y, &p[..10], &[]);
        assert!(write_charts(dir.path(), &[short]).is_err());
    }

    #[test]
    fn html_is_self_contained_and_escaped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let img = dir.path().join("x.png");
        std::fs::write(&img, b"\x89PNG fake").expect("write");
        let table = Table {
            title: "Metrics & more".into(),
            header: vec!["metric".into(), "value".into()],
            rows: vec![vec!["<b>".into(), "0.91".into()]],
        };
        let path = write_html(dir.path(), "Report \"v3\"", &[table], &[img]).expect("html");
        assert_eq!(path, dir.path().join("report.html"));
        let html = std::fs::read_to_string(path).expect("read");
        assert!(html.contains("<td>&lt;b&gt;</td>"));
        assert!(html.contains("<h2>Metrics &amp; more</h2>"));
        assert!(html.contains("<h1>Report &quot;v3&quot;</h1>"));
        assert!(html.contains("data:image/png;base64,iVBORyBmYWtl"));
        assert!(!html.contains("http") && !html.contains("<script"));
    }

    #[test]
    fn base64_matches_rfc4648() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    /// Writes sample charts and a page to /tmp/report-preview for a visual check.
    #[test]
    #[ignore]
    fn preview() {
        let ((y, p1), (_, p2)) = (synthetic(5000, 2.0), synthetic(5000, 2.6));
        let (imp1, imp2) = (importance(0), importance(1));
        let mut m2 = series("v3 challenger", &y, &p2, &imp2);
        m2.threshold = 0.35;
        let models = [series("v2 champion", &y, &p1, &imp1), m2];
        let dir = Path::new("/tmp/report-preview");
        check_charts(&dir.join("one"), &models[..1]);
        check_charts(dir, &models);
        let pngs = write_charts(dir, &models).expect("charts");
        let t = Table {
            title: "t".into(),
            header: vec!["a".into()],
            rows: vec![vec!["1".into()]],
        };
        write_html(dir, "Evaluation <preview>", &[t], &pngs).expect("html");
    }
}
