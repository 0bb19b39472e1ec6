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
                "it replaces v{p} as challenger (v{p} keeps no alias; `claims promote v{p}` still takes it)\n"
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
            s.push_str(&format!(
                "note: scale_pos_weight {w:.2} puts scores above the claim rate (mean test score {:.3} against a rate of {:.3}): read them as ranks against the threshold, not as probabilities\n",
                sum / n as f64,
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

/// Reasons JSON as "feature=value (+0.41), ...".
/// One stored score in full, as `claims explain` and the console's score popup show it:
/// the decision against the threshold, who scored it and when, and every reason with its
/// value and contribution (named by the contributions' sign, against an average
/// applicant, which is what SHAP values measure from).
pub fn score_lines(r: &crate::sink::PredictionRow) -> Vec<String> {
    let mut lines = vec![
        format!(
            "score {:.4} against threshold {:.4}: {}",
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
        format!("scored at {}", r.scored_at),
        String::new(),
    ];
    let reasons: serde_json::Value = serde_json::from_str(&r.top_reasons).unwrap_or_default();
    match reasons.as_array().filter(|a| !a.is_empty()) {
        Some(a) => {
            // Rows stored before reasons followed the decision hold positive ones whatever
            // the decision: the heading follows the signs.
            let signs: Vec<f64> = a.iter().filter_map(|x| x["contribution"].as_f64()).collect();
            lines.push(if signs.iter().all(|&c| c >= 0.0) {
                "what raised the score most, against an average applicant (log-odds):".into()
            } else if signs.iter().all(|&c| c <= 0.0) {
                "what kept the score down most, against an average applicant (log-odds):".into()
            } else {
                "reasons, against an average applicant (log-odds):".into()
            });
            for x in a {
                let c = x["contribution"].as_f64().unwrap_or(f64::NAN);
                lines.push(format!(
                    "  {:<26} = {:<14} {:+.3}  odds x{:.2}",
                    x["feature"].as_str().unwrap_or(""),
                    x["value"].as_str().unwrap_or(""),
                    c,
                    c.exp()
                ));
            }
            // For readers who do not think in log-odds (a UAT walkthrough).
            lines.push(
                "(odds x2: that value doubled the odds of a claim; x0.5: halved them)"
                    .into(),
            );
            // Only the decision's side is stored: a close call has weighty factors on the
            // other side that are not shown, and the reader must know it.
            // (Rows stored before reasons followed the decision hold raising reasons whatever
            // the decision: no such note for them.)
            let (up, down) = (
                signs.iter().all(|&c| c >= 0.0),
                signs.iter().all(|&c| c <= 0.0),
            );
            if let Some(other) = match (up && r.predicted_claim, down && !r.predicted_claim) {
                (true, false) => Some("lowered"),
                (false, true) => Some("raised"),
                _ => None,
            } {
                lines.push(format!(
                    "(what {other} it is not listed: only reasons for the decision are kept)"
                ));
            }
        }
        None => lines.push(
            "no reasons stored (inference.top_reasons = 0, or no feature moved this score the decision's way)"
                .into(),
        ),
    }
    lines
}

/// `s` with its control characters escaped (`\n`, `\u{1b}`): text quoted from an input
/// file, printed without letting a newline or an escape sequence reach the terminal.
pub use crate::data::values::escape_controls as printable;

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
}
