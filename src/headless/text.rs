//! Human-readable summaries of command results (the text before the `--json` line).

use std::path::Path;

use crate::pipeline::compare;
use crate::pipeline::infer::PredictOutcome;
use crate::pipeline::train::TrainOutcome;

pub(super) fn train_text(o: &TrainOutcome) -> String {
    let mut s = format!(
        "run {} succeeded\nmodel v{} registered as {}: {}\n\nchosen parameters: {} rounds {}, learning_rate {:.4}, max_depth {}, subsample {:.3}, colsample_bytree {:.3}, min_child_weight {}\nCV ROC AUC {:.4}   validation ROC AUC {:.4}   imbalance: {}\nsearch: {}\n\ntest metrics ({} rows, scored once):\n",
        o.run_id,
        o.model_version,
        o.role,
        o.model_dir,
        o.rounds,
        if o.rounds_run < o.params.n_estimators {
            format!(
                "(early-stopped after {} of at most {})",
                o.rounds_run, o.params.n_estimators
            )
        } else if o.rounds == o.rounds_run {
            format!(
                "(all {}: early stopping did not trigger and the last round was the best, so more rounds may help)",
                o.rounds_run
            )
        } else {
            format!(
                "(best of all {}: early stopping did not trigger)",
                o.rounds_run
            )
        },
        o.params.learning_rate,
        o.params.max_depth,
        o.params.subsample,
        o.params.colsample_bytree,
        o.params.min_child_weight,
        o.cv_roc_auc,
        o.validation_roc_auc,
        o.imbalance,
        o.search.describe(),
        o.test.rows
    );
    // Under the "registered" line: a newer retrain took the challenger alias.
    if let (Some(p), Some(at)) = (o.replaced_challenger, s.find("\n\n")) {
        s.insert_str(
            at + 1,
            &format!(
                "it replaces v{p} as challenger (v{p} keeps no alias; `claims promote v{p}` still takes it, with --reason unless the gate passed it)\n"
            ),
        );
    }
    s.push_str(&o.test.table(&o.threshold_rule));
    for w in &o.warnings {
        s.push_str(&format!("warning: {w}\n"));
    }
    // Weighting moves scores off the claim rate (undersampling is corrected): say so.
    if let Some(w) = o.scale_pos_weight {
        let (n, sum) = o.test.calibration.iter().fold((0usize, 0.0), |(n, s), b| {
            (n + b.count, s + b.mean_predicted * b.count as f64)
        });
        if n > 0 {
            let mean = sum / n as f64;
            let side = if mean >= o.test.positive_rate {
                "above"
            } else {
                "below"
            };
            s.push_str(&format!(
                "note: scale_pos_weight {w:.2} puts scores {side} the claim rate (mean test score {mean:.3} against a rate of {:.3}): read them as ranks against the threshold, not as probabilities\n",
                o.test.positive_rate
            ));
        }
    }
    if let Some(g) = &o.gate {
        s.push_str(&format!(
            "\npromotion gate vs champion v{}: {}{}\n",
            g.champion,
            if g.passed { "passed" } else { "refused" },
            if g.promoted {
                ", promoted to champion"
            } else {
                ""
            }
        ));
        if !g.rows_note.is_empty() {
            s.push_str(&format!("  on {}\n", g.rows_note));
        }
        for r in &g.reasons {
            s.push_str(&format!("  {r}\n"));
        }
        for n in &g.notes {
            s.push_str(&format!("  note: {n}\n"));
        }
        // What to do next, when anything is left to do.
        let v = o.model_version;
        if g.passed && !g.promoted {
            s.push_str(&format!(
                "  next: v{v} stays challenger until promoted: `claims promote v{v}` (or p in the console)\n"
            ));
        } else if !g.passed {
            s.push_str(&format!(
                "  next: v{v} stays challenger; `claims compare` shows the comparison, `claims promote v{v} --reason WHY` overrides the gate\n"
            ));
        }
    }
    s.push_str("\ntop features by gain:\n");
    for (n, g) in o.top_features.iter().take(5) {
        s.push_str(&format!("  {n:<24} {g:.2}\n"));
    }
    s
}

pub(super) fn compare_text(c: &compare::Comparison, report: Option<&Path>) -> String {
    let mut s = format!(
        "champion v{} vs challenger v{} on {} rows\n({})\n\n{:<20} {:>24} {:>24} {:>26} {:>7}\n",
        c.champion,
        c.challenger,
        c.rows,
        c.rows_note,
        "metric",
        "champion [95% CI]",
        "challenger [95% CI]",
        "difference [95% CI]",
        "boot. p"
    );
    for m in &c.metrics {
        let ci =
            |v: f64, i: &crate::eval::stats::Interval| format!("{v:.4} [{:.4}, {:.4}]", i.lo, i.hi);
        s.push_str(&format!(
            "{:<20} {:>24} {:>24} {:>26} {:>7}\n",
            m.metric,
            ci(m.champion, &m.champion_ci),
            ci(m.challenger, &m.challenger_ci),
            format!(
                "{:+.4} [{:+.4}, {:+.4}]",
                m.diff, m.diff_ci.lo, m.diff_ci.hi
            ),
            crate::pipeline::compare::p_text(m.p_value, c.bootstrap_rounds)
        ));
    }
    s.push_str(&format!(
        "(boot. p: paired bootstrap over {} resamples; lower is better for log_loss, brier and ece)\n",
        c.bootstrap_rounds
    ));
    if let Some(d) = &c.delong {
        s.push_str(&format!(
            "\nDeLong test, ROC AUC {:.4} vs {:.4}: z = {:.3}, p {} (the gate's test for roc_auc)\n",
            d.auc_a,
            d.auc_b,
            d.z,
            crate::pipeline::compare::p_shown(d.p_value, 10_000)
        ));
    }
    for n in &c.notes {
        s.push_str(&format!("note: {n}\n"));
    }
    s.push_str(&format!(
        "\ngate: {}\n",
        if c.decision.promote {
            format!(
                "passed: v{} may replace v{} (`claims promote v{}`; nothing changes until then, unless auto_promote is on)",
                c.challenger, c.champion, c.challenger
            )
        } else {
            format!(
                "refused: v{} is not promoted (`claims promote v{} --reason WHY` overrides the gate)",
                c.challenger, c.challenger
            )
        }
    ));
    for r in &c.decision.reasons {
        s.push_str(&format!("  {r}\n"));
    }
    match report {
        Some(r) => s.push_str(&format!("\nreport: {}\n", r.display())),
        None => s.push_str(&format!(
            "\nnot recorded: this user ({}) can only read the home, so no report or gate decision was written\n",
            crate::registry::current_user()
        )),
    }
    s
}

pub(super) fn predict_text(o: &PredictOutcome) -> String {
    let mut s = format!(
        "run {} succeeded\nbusiness date {}: {} rows read, {} scored by champion v{}, {} quarantined\nwritten to {}\npredicted claims: {} (mean score {:.4})\n",
        o.run_id,
        o.business_date,
        o.rows_read,
        o.rows_scored,
        o.model_version,
        o.rows_quarantined,
        o.sink,
        o.predicted_claims,
        o.mean_score
    );
    if o.rows_quarantined > 0 {
        s.push_str(&format!(
            "quarantined rows and their reasons: `claims runs {}`\n",
            o.run_id
        ));
    }
    if let Some(v) = o.shadow_version {
        s.push_str(&format!(
            "shadow: challenger v{v} scored the same rows (role 'challenger')\n"
        ));
    }
    if let Some(r) = &o.replaced {
        let from = match &r.data {
            Some(d) => format!(", which scored {}", d.display()),
            None => " (not recorded in this home)".to_string(),
        };
        // A retry after a promotion rescores the date with another model: say so.
        let model = match r.model_version {
            Some(v) if v != o.model_version => {
                format!(" (scored by v{v}; now by champion v{})", o.model_version)
            }
            _ => String::new(),
        };
        s.push_str(&format!(
            "replaced: the date's {} earlier predictions{model}, from run {}{from}\n",
            r.rows, r.run_id
        ));
    }
    for w in &o.warnings {
        s.push_str(&format!("warning: {w}\n"));
    }
    if let Some(why) = &o.drift_not_judged {
        s.push_str(&format!("drift: {why}\n"));
    }
    if o.drift_alerts.is_empty() && o.drift_warnings.is_empty() {
        if o.drift_not_judged.is_none() {
            s.push_str("drift: none above the warning level\n");
        }
    } else {
        s.push_str(&format!(
            "drift alerts: {}\ndrift warnings: {}\n",
            list_or_none(&o.drift_alerts),
            list_or_none(&o.drift_warnings)
        ));
    }
    s.push_str("\nhighest scores and their top reasons:\n");
    for t in o.top_scored.iter().take(5) {
        s.push_str(&format!(
            "  {:<14} {:.4}  {}\n",
            t.application_id,
            t.score,
            reasons_text(&t.top_reasons)
        ));
    }
    s
}

pub(super) fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// One stored score in full, as `claims explain` and the console's score popup show it:
/// the decision against the threshold (and how the threshold was chosen), who scored it
/// and when, and every reason with its value and contribution. With the scoring model's
/// `basis`, the reasons start from its base score and end at this score: the features not
/// listed one by one are summed on a line of their own, so the numbers add up.
pub fn score_lines(
    r: &crate::sink::PredictionRow,
    basis: Option<&crate::registry::basis::ScoreBasis>,
) -> Vec<String> {
    // Digits enough that a score just under the threshold does not print as equal to it.
    let digits = (4..=8)
        .find(|&d| format!("{:.d$}", r.score) != format!("{:.d$}", r.threshold))
        .unwrap_or(4);
    let rule = basis
        .and_then(|b| b.threshold_rule.as_deref())
        .map_or(String::new(), |t| format!("; threshold {t}"));
    // Lines kept within the 80-column popup.
    let mut lines = vec![
        format!(
            "score {:.digits$} against threshold {:.digits$}: {}",
            r.score,
            r.threshold,
            if r.predicted_claim {
                "predicted claim"
            } else {
                "no claim predicted"
            }
        ),
        format!(
            "business date {}, {} v{}, run {}",
            r.business_date, r.role, r.model_version, r.run_id
        ),
        format!("scored at {}{rule}", r.scored_at),
    ];
    if let Some(w) = basis.and_then(|b| b.weighted.as_deref()) {
        lines.push(format!(
            "v{} used {w}: its scores rank applications but are not",
            r.model_version
        ));
        lines.push("claim probabilities, and the odds below are the model's, not real odds".into());
    }
    lines.push(String::new());
    let reasons: serde_json::Value = serde_json::from_str(&r.top_reasons).unwrap_or_default();
    let Some(a) = reasons.as_array().filter(|a| !a.is_empty()) else {
        lines.push(
            "no reasons stored (inference.top_reasons = 0, or no feature moved this score the decision's way)"
                .into(),
        );
        return lines;
    };
    let sum = basis.and_then(|b| reasons_sum(r, b));
    let basis = basis.filter(|_| sum.is_some());
    if let Some(b) = basis {
        lines.push(format!(
            "base score {:.4} (log-odds {:+.3}): where every application of v{} starts",
            1.0 / (1.0 + (-b.base_margin).exp()),
            b.base_margin,
            b.version
        ));
    }
    // Rows stored before reasons followed the decision hold positive ones whatever the
    // decision: the heading follows the signs.
    let signs: Vec<f64> = a
        .iter()
        .filter_map(|x| x["contribution"].as_f64())
        .collect();
    let (up, down) = (
        signs.iter().all(|&c| c >= 0.0),
        signs.iter().all(|&c| c <= 0.0),
    );
    let from = if basis.is_some() {
        "from there"
    } else {
        "against the model's base score"
    };
    lines.push(if up {
        format!("what raised the score most, {from} (log-odds):")
    } else if down {
        format!("what kept the score down most, {from} (log-odds):")
    } else {
        format!("reasons, {from} (log-odds):")
    });
    let line = |name: &str, value: &str, c: f64| {
        // Two significant digits for odds far below 1 (x0.0040, not x0.00).
        let odds = c.exp();
        let d = if odds > 0.0 && odds < 0.1 {
            (1.0 - odds.log10().floor()).min(12.0) as usize
        } else {
            2
        };
        format!("  {name:<26} {value:<16} {c:+.3}  odds x{odds:.d$}")
    };
    for x in a {
        let value = format!("= {}", x["value"].as_str().unwrap_or(""));
        lines.push(line(
            x["feature"].as_str().unwrap_or(""),
            &value,
            x["contribution"].as_f64().unwrap_or(f64::NAN),
        ));
    }
    if let Some(s) = sum {
        lines.push(line("all other features", "", s.other_features));
        lines.push(format!(
            "  = score {:.digits$} (log-odds {:+.3})",
            r.score, s.log_odds
        ));
    }
    // For readers who do not think in log-odds (a UAT walkthrough).
    lines.push("(odds x2: that value doubled the odds of a claim; x0.5: halved them)".into());
    // Only the decision's side is stored one by one: a close call has weighty factors on
    // the other side, and the reader must know where they are. (Rows stored before
    // reasons followed the decision hold raising reasons whatever the decision: no note.)
    if let Some(other) = match (up && r.predicted_claim, down && !r.predicted_claim) {
        (true, false) => Some("lowered"),
        (false, true) => Some("raised"),
        _ => None,
    } {
        lines.push(if basis.is_some() {
            format!("(what {other} it is not listed one by one: see \"all other features\")")
        } else {
            format!("(what {other} it is not listed: only reasons for the decision are kept)")
        });
    }
    lines
}

/// `s` with its control characters escaped (`\n`, `\u{1b}`): text quoted from an input
/// file, printed without letting a newline or an escape sequence reach the terminal.
pub use crate::data::values::escape_controls as printable;

/// The `drift` command's table: each row's value, threshold and level, and what sets the
/// level.
pub(super) fn drift_table(date: &str, rows: &[crate::monitor::drift::DriftRow]) -> String {
    let mut text = format!(
        "drift for {date}\n{:<26} {:<12} {:>10} {:>10}  {}\n",
        "feature", "metric", "value", "threshold", "level"
    );
    for r in rows {
        let t = r.threshold.map_or("-".to_string(), |t| format!("{t:.3}"));
        // A test's p-value judges nothing on a day of enough rows (PSI does): with
        // thousands of rows it is tiny for shifts too small to matter, and "ok"
        // beside 0.0000 read as a contradiction.
        let level = if r.metric.ends_with("_pvalue") && r.level == "ok" {
            "context"
        } else {
            r.level.as_str()
        };
        text.push_str(&format!(
            "{:<26} {:<12} {:>10.4} {:>10}  {level}\n",
            r.feature, r.metric, r.value, t
        ));
    }
    text.push_str(
        "PSI sets each feature's level; the threshold is the one a warn or alert row crossed, the alert level on an ok row.\nKS and chi-square p-values are context (they judge only a day under drift.min_rows).\n",
    );
    text
}

/// How a stored score's reasons add up: from the scoring model's base score, through the
/// listed reasons and all other features together, to the row's own log-odds.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct ReasonsSum {
    /// The base score's log-odds (SHAP's base value).
    pub base_log_odds: f64,
    /// The base score as a probability.
    pub base_score: f64,
    /// What the features not listed one by one add.
    pub other_features: f64,
    /// The row's own log-odds.
    pub log_odds: f64,
}

/// [`ReasonsSum`] of row `r` under `basis`; `None` at a score of exactly 0 or 1, whose
/// log-odds are infinite.
pub fn reasons_sum(
    r: &crate::sink::PredictionRow,
    basis: &crate::registry::basis::ScoreBasis,
) -> Option<ReasonsSum> {
    if !(r.score > 0.0 && r.score < 1.0) {
        return None;
    }
    let reasons: serde_json::Value = serde_json::from_str(&r.top_reasons).unwrap_or_default();
    let listed: f64 = reasons
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x["contribution"].as_f64())
        .sum();
    let log_odds = (r.score / (1.0 - r.score)).ln();
    Some(ReasonsSum {
        base_log_odds: basis.base_margin,
        base_score: 1.0 / (1.0 + (-basis.base_margin).exp()),
        other_features: log_odds - basis.base_margin - listed,
        log_odds,
    })
}

/// Reasons JSON as "feature=value (+0.41), ...".
pub fn reasons_text(v: &serde_json::Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    format!(
                        "{}={} ({:+.2})",
                        r["feature"].as_str().unwrap_or(""),
                        r["value"].as_str().unwrap_or(""),
                        r["contribution"].as_f64().unwrap_or(0.0)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn printable_escapes_control_characters_only() {
        assert_eq!(
            super::printable("age: 'a\nb'\u{1b}[31m é"),
            "age: 'a\\nb'\\u{1b}[31m é"
        );
    }

    /// With the model's base value the reasons add up to the row's log-odds on screen; a
    /// score that rounds to its threshold gets the digits that tell them apart; a weighted
    /// model's scores are said not to be probabilities.
    #[test]
    fn score_lines_add_up_from_the_base_score() {
        use crate::registry::basis::ScoreBasis;
        let row = |score: f64, claim: bool, reasons: &str| crate::sink::PredictionRow {
            business_date: "2026-03-02".into(),
            application_id: "A1".into(),
            model_version: 2,
            role: "champion".into(),
            score,
            predicted_claim: claim,
            threshold: 0.43161,
            top_reasons: reasons.into(),
            run_id: "predict-x".into(),
            scored_at: "2026-03-02T06:00:00Z".into(),
        };
        let reasons = r#"[{"feature":"age","value":"47","contribution":-1.13},
            {"feature":"location","value":"L","contribution":-0.138}]"#;
        let basis = ScoreBasis {
            version: 2,
            base_margin: -1.575,
            threshold_rule: Some("F1-optimal on validation".into()),
            threshold: 0.43161,
            weighted: None,
        };
        let r = row(0.43158, false, reasons);
        let text = super::score_lines(&r, Some(&basis)).join("\n");
        let logit = (0.43158f64 / (1.0 - 0.43158)).ln();
        let rest = logit + 1.575 + 1.13 + 0.138;
        assert!(
            text.contains("score 0.43158 against threshold 0.43161: no claim predicted")
                && text.contains("; threshold F1-optimal on validation")
                && text.contains(
                    "base score 0.1715 (log-odds -1.575): where every application of v2 starts"
                )
                && text.contains(&format!("all other features{:26}{rest:+.3}", ""))
                && text.contains(&format!("= score 0.43158 (log-odds {logit:+.3})"))
                && text.contains("(what raised it is not listed one by one"),
            "{text}"
        );
        // Every line fits the 80-column popup's 78 inner columns.
        assert!(text.lines().all(|l| l.chars().count() <= 78), "{text}");
        // Odds far below 1 keep two significant digits.
        let low = row(
            0.0004,
            false,
            r#"[{"feature":"age","value":"45","contribution":-5.5}]"#,
        );
        let weighted = ScoreBasis {
            weighted: Some("weight:auto=5.2333".into()),
            ..basis.clone()
        };
        let text = super::score_lines(&low, Some(&weighted)).join("\n");
        assert!(
            text.contains("odds x0.0041")
                && text.contains(
                    "v2 used weight:auto=5.2333: its scores rank applications but are not\nclaim probabilities, and the odds below are the model's, not real odds"
                ),
            "{text}"
        );
        // Without a basis (a sink shared with another home): no sum, the old wording.
        let text = super::score_lines(&r, None).join("\n");
        assert!(
            !text.contains("all other features")
                && text.contains("against the model's base score")
                && text.contains(
                    "(what raised it is not listed: only reasons for the decision are kept)"
                ),
            "{text}"
        );
    }
}
