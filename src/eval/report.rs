//! Evaluation charts and the HTML report: draws ROC, precision-recall, calibration, score
//! distribution and feature importance charts for one or two models (PNG and SVG, with the
//! bundled DejaVu Sans font), and writes a self-contained HTML page with the tables and the
//! images embedded as base64 data URIs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::anyhow;
use plotters::prelude::{BitMapBackend, IntoDrawingArea, SVGBackend};
use plotters::style::{FontStyle, register_font};

use super::charts::{FONT, draw};
use crate::error::{ClaimsError, Result};

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

/// The charts in output order (file stems).
const CHARTS: [&str; 5] = [
    "roc",
    "pr",
    "calibration",
    "score_distribution",
    "feature_importance",
];

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
