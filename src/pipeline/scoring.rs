//! Scoring for the inference pipeline: a model's probabilities, TreeSHAP values and reason
//! texts for batches of typed rows ([`Explainer`]), and the scoring thread that streams
//! batches into an open sink transaction while the caller's thread writes them
//! ([`score_and_stream`]).

use super::RunCtx;
use super::infer::Scored;
use crate::data::{Dataset, MISSING_CODE};
use crate::error::{ClaimsError, Result};
use crate::model::TrainedModel;
use crate::model::shap::TreeExplainer;
use crate::model::xgb::{DMatrix, FeatureKind};
use crate::sink;

/// Where a model feature's shown value comes from in a [`Dataset`].
#[derive(Clone, Copy)]
enum Source {
    Numeric(usize),
    Categorical(usize),
    Absent,
}

/// Rows per scoring batch: small enough to keep memory flat, large enough for XGBoost.
const BATCH: usize = 25_000;

/// How reason texts are written: precomputed JSON pieces per model feature.
struct ReasonText {
    /// `"feature":"name"` per model feature, JSON-escaped once.
    name_json: Vec<String>,
    sources: Vec<Source>,
    /// JSON string literal of every category value, per categorical column of the data.
    category_json: Vec<Vec<String>>,
    top: usize,
    /// The model's decision threshold: a row at or above it is explained by what raised
    /// its score, a row below by what lowered it.
    threshold: f64,
}

/// A model ready to score and explain typed rows: the booster for the probability, its
/// trees for TreeSHAP reason codes, and how to write the reason texts.
pub(super) struct Explainer {
    model: TrainedModel,
    trees: TreeExplainer,
    names: Vec<String>,
    kinds: Vec<FeatureKind>,
    text: ReasonText,
    threads: usize,
    /// Whether the TreeSHAP pass's probabilities are used (see `own_scores_match`).
    own_scores: bool,
}

/// `format!("{v:.4}")` for the common value that has at most 4 decimals: its shortest
/// round-trip text padded with zeros (the same digits, since such a value is within far less
/// than half a unit of the 4th decimal of that text); `None` for anything else.
fn four_decimals(v: f64) -> Option<String> {
    let mut buf = ryu::Buffer::new();
    let s = buf.format_finite(v);
    let (_, frac) = s.split_once('.')?;
    if frac.len() > 4 || s.contains('e') {
        return None;
    }
    let mut out = String::with_capacity(s.len() + 4 - frac.len());
    out.push_str(s);
    out.extend(std::iter::repeat_n('0', 4 - frac.len()));
    Some(out)
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

impl ReasonText {
    /// The value a reviewer reads next to a reason, as a JSON string literal.
    fn push_value(&self, data: &Dataset, j: usize, row: usize, out: &mut String) {
        use std::fmt::Write;
        match self.sources[j] {
            Source::Numeric(k) => {
                let v = data.numeric[k][row];
                // Whole numbers as they are; measurements to 4 decimals.
                let _ = if v.is_nan() {
                    write!(out, "\"missing\"")
                } else if v.fract() == 0.0 {
                    write!(out, "\"{v}\"")
                } else if let Some(s) = four_decimals(v) {
                    write!(out, "\"{s}\"")
                } else {
                    write!(out, "\"{v:.4}\"")
                };
            }
            Source::Categorical(k) => {
                let c = data.categorical[k][row];
                match self.category_json[k].get(c as usize) {
                    Some(s) if c != MISSING_CODE => out.push_str(s),
                    _ => out.push_str("\"missing\""),
                }
            }
            Source::Absent => out.push_str("\"\""),
        }
    }

    /// The reasons for one row's decision as a JSON list (keys in sorted order, as
    /// `serde_json` writes them): for a predicted claim (`up`) the largest positive
    /// contributions, else the largest negative ones (what kept the score low), each with
    /// its sign.
    fn reasons(
        &self,
        data: &Dataset,
        row: usize,
        phi: &[f32],
        up: bool,
        idx: &mut Vec<usize>,
    ) -> String {
        pick_reasons(phi, up, self.top, idx);
        let mut out = String::with_capacity(80 * idx.len() + 2);
        let mut num = ryu::Buffer::new();
        out.push('[');
        for (n, &j) in idx.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            out.push_str("{\"contribution\":");
            out.push_str(num.format((f64::from(phi[j]) * 1e4).round() / 1e4));
            out.push(',');
            out.push_str(&self.name_json[j]);
            out.push_str(",\"value\":");
            self.push_value(data, j, row, &mut out);
            out.push('}');
        }
        out.push(']');
        out
    }
}

impl Explainer {
    pub(super) fn new(
        model: TrainedModel,
        data: &Dataset,
        top: usize,
        threshold: f64,
    ) -> Result<Explainer> {
        let names = model.pre.feature_names();
        let kinds = model.pre.feature_kinds();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let trees = TreeExplainer::from_model_json(&model.booster.to_json()?, names.len())?;
        let sources = names
            .iter()
            .map(|n| {
                if let Some(k) = data.numeric_names.iter().position(|c| c == n) {
                    Source::Numeric(k)
                } else if let Some(k) = data.categorical_names.iter().position(|c| c == n) {
                    Source::Categorical(k)
                } else {
                    Source::Absent
                }
            })
            .collect();
        let text = ReasonText {
            name_json: names
                .iter()
                .map(|n| format!("\"feature\":{}", json_str(n)))
                .collect(),
            category_json: data
                .categories
                .iter()
                .map(|vals| vals.iter().map(|v| json_str(v)).collect())
                .collect(),
            sources,
            top,
            threshold,
        };
        let mut e = Explainer {
            model,
            trees,
            names,
            kinds,
            text,
            threads,
            own_scores: false,
        };
        e.own_scores = e.own_scores_match(data)?;
        Ok(e)
    }

    /// XGBoost's own probabilities for `rows` of `data`.
    fn xgboost_scores(&self, x: &[f32], n: usize) -> Result<Vec<f64>> {
        let m = DMatrix::from_dense(x, n, &self.names, &self.kinds)?;
        Ok(self
            .model
            .booster
            .predict(&m)?
            .into_iter()
            .map(f64::from)
            .collect())
    }

    /// Scores `rows` of `data`; returns the probabilities and each row's reasons.
    ///
    /// One pass over the trees on all cores gives each row's probability and, with reasons
    /// on, its SHAP values and reason text (the probability summed like XGBoost does, so it
    /// is bit-identical; [`Explainer::new`] checked that on real rows, and XGBoost scores
    /// the rows itself if it was not).
    fn batch(
        &self,
        data: &Dataset,
        rows: std::ops::Range<usize>,
    ) -> Result<(Vec<f64>, Vec<String>)> {
        let n = rows.len();
        let x = self.model.pre.transform_rows(data, rows.clone())?;
        let text = &self.text;
        let shap = text.top > 0;
        // When XGBoost scores the rows (the explainer's own sums differ, or give no
        // probability), its scores are the ones stored, so they pick the reasons too.
        let theirs = if self.own_scores {
            None
        } else {
            Some(self.xgboost_scores(&x, n)?)
        };
        let out = self.trees.explain(&x, n, self.threads, shap, &|i, p, phi| {
            let reasons = if shap {
                // One index buffer per scoring thread, not one allocation per row.
                thread_local!(static IDX: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) });
                // The decision as the table records it (score >= threshold, the same f64).
                let score = theirs.as_ref().map_or(f64::from(p), |t| t[i]);
                let up = score >= text.threshold;
                IDX.with_borrow_mut(|idx| text.reasons(data, rows.start + i, phi, up, idx))
            } else {
                "[]".to_string()
            };
            (p, reasons)
        });
        let (probs, reasons): (Vec<f32>, Vec<String>) = out.into_iter().unzip();
        let scores = match theirs {
            Some(t) => t,
            None => probs.into_iter().map(f64::from).collect(),
        };
        Ok((scores, reasons))
    }

    /// Whether, on the first rows of `data`, the explainer's probabilities equal XGBoost's
    /// bit for bit (they should: same trees, same f32 sums); if not, XGBoost scores every
    /// row and a warning says so.
    fn own_scores_match(&self, data: &Dataset) -> Result<bool> {
        let e = &self.trees;
        let n = data.len().min(2_000);
        let own = e.has_probability() && n > 0 && {
            let x = self.model.pre.transform_rows(data, 0..n)?;
            let theirs = self.xgboost_scores(&x, n)?;
            let ours = e.explain(&x, n, 1, false, &|_, p, _| f64::from(p));
            ours == theirs
        };
        if !own && n > 0 {
            tracing::warn!(
                "TreeSHAP pass probabilities differ from XGBoost's on the first rows; XGBoost scores the rows"
            );
        }
        Ok(own)
    }
}

/// One model's part in a run: champion, or a challenger in shadow mode.
pub(super) struct Role {
    pub(super) explainer: Explainer,
    pub(super) version: u32,
    pub(super) role: &'static str,
    pub(super) threshold: f64,
}

/// What the scoring thread hands back: the champion's scores and its ten highest rows.
pub(super) struct Streamed {
    pub(super) scores: Vec<f64>,
    pub(super) top: Vec<Scored>,
    pub(super) predicted_claims: usize,
    /// Seconds the scoring thread worked (scores, TreeSHAP, reason texts).
    pub(super) scoring_s: f64,
    /// Seconds this thread spent in the sink.
    pub(super) writing_s: f64,
}

/// A scored batch on its way to the writer.
struct ScoredBatch {
    /// Index into the roles.
    role: usize,
    /// First row of the batch in the data.
    start: usize,
    scores: Vec<f64>,
    reasons: Vec<String>,
}

/// Scores every role's rows in batches on a worker thread while this thread writes the
/// previous batch into the open transaction `day` (so scoring and SQL overlap).
pub(super) fn score_and_stream(
    roles: Vec<Role>,
    data: &Dataset,
    date: &str,
    scored_at: &str,
    day: &mut dyn sink::DayWriter,
    ctx: &RunCtx,
) -> Result<Streamed> {
    let n = data.len();
    let total = n * roles.len();
    let meta: Vec<(u32, &'static str, f64)> = roles
        .iter()
        .map(|r| (r.version, r.role, r.threshold))
        .collect();
    let (tx, rx) = std::sync::mpsc::sync_channel::<ScoredBatch>(1);
    std::thread::scope(|s| {
        let scorer = std::thread::Builder::new().name("claims-score".into());
        let producer = scorer
            .spawn_scoped(s, move || -> Result<Streamed> {
                let mut out = Streamed {
                    scores: Vec::with_capacity(n),
                    top: vec![],
                    predicted_claims: 0,
                    scoring_s: 0.0,
                    writing_s: 0.0,
                };
                for (k, r) in roles.iter().enumerate() {
                    let mut start = 0;
                    while start < n {
                        if ctx.cancelled() {
                            return Err(ClaimsError::Other(anyhow::anyhow!("cancelled")));
                        }
                        let end = (start + BATCH).min(n);
                        let t0 = std::time::Instant::now();
                        let (scores, reasons) = r.explainer.batch(data, start..end)?;
                        out.scoring_s += t0.elapsed().as_secs_f64();
                        if k == 0 {
                            out.scores.extend_from_slice(&scores);
                            out.predicted_claims +=
                                scores.iter().filter(|&&p| p >= r.threshold).count();
                            keep_top(&mut out.top, data, start, &scores, &reasons, 10);
                        }
                        let batch = ScoredBatch {
                            role: k,
                            start,
                            scores,
                            reasons,
                        };
                        if tx.send(batch).is_err() {
                            // The writer stopped; its error is the one reported.
                            return Ok(out);
                        }
                        start = end;
                    }
                }
                Ok(out)
            })
            .map_err(|e| ClaimsError::Other(e.into()))?;
        let mut written = 0usize;
        let mut write_err = None;
        let mut writing_s = 0.0;
        for b in rx {
            let (version, role, threshold) = meta[b.role];
            let batch = sink::PredictionBatch {
                business_date: date,
                model_version: i64::from(version),
                role,
                threshold,
                run_id: &ctx.run_id,
                scored_at,
                ids: &data.ids[b.start..b.start + b.scores.len()],
                scores: &b.scores,
                reasons: &b.reasons,
            };
            let t0 = std::time::Instant::now();
            if let Err(e) = day.predictions(&batch) {
                write_err = Some(e);
                break;
            }
            writing_s += t0.elapsed().as_secs_f64();
            written += batch.len();
            ctx.emit(
                "score",
                Some(written as f64 / total.max(1) as f64),
                format!("scored and wrote {written}/{total} rows"),
            );
        }
        let produced = producer
            .join()
            .map_err(|_| ClaimsError::Other(anyhow::anyhow!("scoring thread panicked")))?;
        match write_err {
            Some(e) => Err(e),
            None => produced.map(|p| Streamed { writing_s, ..p }),
        }
    })
}

/// Leaves in `idx` the features of the `top` largest contributions in the decision's
/// direction (positive when `up`, else negative), largest first, ties to the earlier
/// feature: an insertion into a short sorted list (what a stable sort would give).
fn pick_reasons(phi: &[f32], up: bool, top: usize, idx: &mut Vec<usize>) {
    let toward = |v: f32| if up { v } else { -v };
    idx.clear();
    for (j, &v) in phi.iter().enumerate() {
        let v = toward(v);
        if v > 0.0 && (idx.len() < top || idx.last().is_some_and(|&l| v > toward(phi[l]))) {
            let at = idx.partition_point(|&k| toward(phi[k]) >= v);
            idx.insert(at, j);
            idx.truncate(top);
        }
    }
}

/// Keeps the `k` highest-scoring rows seen so far in `top` (highest first, ties to the
/// earlier row); `scores` and `reasons` are rows `start..` of `data`.
fn keep_top(
    top: &mut Vec<Scored>,
    data: &Dataset,
    start: usize,
    scores: &[f64],
    reasons: &[String],
    k: usize,
) {
    for (i, &score) in scores.iter().enumerate() {
        if top.len() < k || top.last().is_some_and(|t| score > t.score) {
            let at = top.partition_point(|t| t.score >= score);
            top.insert(
                at,
                Scored {
                    application_id: data.ids[start + i].clone(),
                    score,
                    top_reasons: serde_json::from_str(&reasons[i]).unwrap_or_default(),
                },
            );
            top.truncate(k);
        }
    }
}

#[cfg(test)]
mod tests {
    /// The reasons picked are what a stable sort of the contributions in the decision's
    /// direction gives (positive ones for a claim, negative ones otherwise), on random
    /// contributions with ties and zeros.
    #[test]
    fn reasons_follow_the_decision() {
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7);
        let mut idx = vec![];
        for case in 0..3000 {
            let n = 1 + case % 12;
            let phi: Vec<f32> = (0..n)
                .map(|_| (rand::Rng::random_range(&mut rng, -4..=4) as f32) * 0.25)
                .collect();
            for up in [true, false] {
                for top in [1, 3, 5] {
                    super::pick_reasons(&phi, up, top, &mut idx);
                    let sign = if up { 1.0 } else { -1.0 };
                    let mut want: Vec<usize> = (0..n).filter(|&j| phi[j] * sign > 0.0).collect();
                    want.sort_by(|&a, &b| (phi[b] * sign).total_cmp(&(phi[a] * sign)));
                    want.truncate(top);
                    assert_eq!(idx, want, "{phi:?} up={up} top={top}");
                }
            }
        }
    }

    #[test]
    fn four_decimals_matches_format() {
        let mut checked = 0;
        for v in [
            4.0658,
            -3.25,
            0.1,
            1234567.5,
            2.0549,
            0.00015,
            1e-5,
            123.45678,
            -0.5,
            7.9999,
            0.30000000000000004,
            1.00005,
            2.5e20,
        ] {
            if let Some(s) = super::four_decimals(v) {
                assert_eq!(s, format!("{v:.4}"), "{v}");
                checked += 1;
            }
        }
        // Every value written with 4 decimals or fewer, as the files hold them.
        for k in (1..600_000i64).step_by(7) {
            for v in [
                k as f64 / 10_000.0,
                -(k as f64) / 10_000.0,
                k as f64 / 100.0,
            ] {
                let s = super::four_decimals(v);
                if v.fract() != 0.0 {
                    assert_eq!(s.as_deref(), Some(format!("{v:.4}").as_str()), "{v}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 200_000, "{checked}");
    }
}
