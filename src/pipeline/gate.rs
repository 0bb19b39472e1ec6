//! The promotion gate: its decision on compared metrics, what it said of a version (for
//! promote), the train-time gate stage (comparison, decision, report, auto-promotion), and
//! the config a model records as trained with.

use std::path::{Path, PathBuf};

use serde::Serialize;

use rusqlite::{OptionalExtension, params};

use super::compare::{Decision, MetricRow};
use super::{RunCtx, compare};
use crate::config::GateConfig;
use crate::config::{Config, Imbalance};
use crate::error::Result;
use crate::eval::stats::DeLong;
use crate::registry::Registry;
use crate::registry::db;

/// The gate's verdict after a retrain.
#[derive(Debug, Clone, Serialize)]
pub struct GateSummary {
    /// The champion compared against.
    pub champion: u32,
    /// Whether the gate passed.
    pub passed: bool,
    /// Whether the model was promoted (gate passed and auto_promote on).
    pub promoted: bool,
    /// Which held-out rows were compared (and how many the champion had seen).
    pub rows_note: String,
    /// Every check in words.
    pub reasons: Vec<String>,
    /// What to keep in mind reading them ([`compare::Comparison::notes`]).
    pub notes: Vec<String>,
    /// The comparison report page, if written.
    pub report: Option<PathBuf>,
}

/// The config this model was trained with: the merged files with the command line's
/// `--seed`, `--folds`, `--search-iters` and `--imbalance` written in, so the manifest alone
/// retrains the same model. Without what is not the model's and may be secret: the sink's
/// password (the URL is kept redacted) and the hooks' commands (which may hold a token);
/// the manifest is kept for good, and its hash forbids scrubbing it later.
pub(super) fn effective_toml(
    cfg: &Config,
    seed: u64,
    folds: usize,
    iters: usize,
    imb: &Imbalance,
) -> String {
    use toml::Value;
    let mut t: toml::Table = cfg.merged_toml.parse().unwrap_or_default();
    let mut section = |name: &str, f: &dyn Fn(&mut toml::Table)| {
        let mut s = match t.remove(name) {
            Some(Value::Table(s)) => s,
            _ => toml::Table::new(),
        };
        f(&mut s);
        t.insert(name.into(), Value::Table(s));
    };
    section("search", &|s| {
        s.insert("folds".into(), Value::Integer(folds as i64));
        s.insert("iterations".into(), Value::Integer(iters as i64));
    });
    section("imbalance", &|s| match imb {
        Imbalance::None => {
            s.insert("strategy".into(), Value::from("none"));
        }
        Imbalance::Weight(w) => {
            s.insert("strategy".into(), Value::from("weight"));
            s.insert(
                "scale_pos_weight".into(),
                w.map_or(Value::from("auto"), Value::from),
            );
        }
        Imbalance::Undersample(r) => {
            s.insert("strategy".into(), Value::from("undersample"));
            s.insert("undersample_ratio".into(), Value::from(*r));
        }
    });
    t.insert("seed".into(), Value::Integer(seed as i64));
    t.remove("hooks");
    if let Some(Value::Table(inference)) = t.get_mut("inference")
        && let Some(Value::String(url)) = inference.get_mut("sink")
    {
        *url = crate::sink::postgres::redact(url);
    }
    toml::to_string(&t).unwrap_or_default()
}

/// The gate stage: challenger `version` against the champion; a comparison that cannot be
/// made is a refusal with its reason.
pub(super) fn run(
    ctx: &RunCtx,
    cfg: &Config,
    home: &Path,
    version: u32,
) -> Result<(GateSummary, Option<usize>, String)> {
    let mut reg = Registry::open(home)?;
    let champion = reg.alias("champion")?.unwrap_or(0);
    let c = match compare::compare(&reg, champion, version, &cfg.gate) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("promotion gate not evaluated: {e}");
            let summary = GateSummary {
                champion,
                passed: false,
                promoted: false,
                rows_note: String::new(),
                // A refusal that a retry cannot change (too few new rows, other columns)
                // gets no "retries it"; one that names the way out is not repeated.
                reasons: vec![format!(
                    "FAIL the comparison could not be made: {e}{}",
                    match &e {
                        _ if e.to_string().contains("by hand") => String::new(),
                        crate::error::ClaimsError::Usage(_) =>
                            format!(" (`claims promote v{version} --reason ...` decides by hand)"),
                        _ => format!(
                            " (`claims compare` retries it; `claims promote v{version} --reason ...` decides by hand)"
                        ),
                    }
                )],
                notes: vec![],
                report: None,
            };
            return Ok((
                summary,
                Some(0),
                format!("v{version} vs champion v{champion}: gate not evaluated ({e})"),
            ));
        }
    };
    let dir = compare::report_dir(home, &ctx.run_id).join("compare");
    let report = match compare::write_report(&reg, &dir, &c) {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::warn!("comparison report not written: {e}");
            None
        }
    };
    compare::record_decision(&reg, Some(&ctx.run_id), &c, report.as_deref())?;
    // Only over the champion it was compared with: a promotion or rollback made while the
    // comparison ran is not undone by one judged against the old champion (the version
    // stays challenger, and the run says why).
    // A retrain that changed nothing (byte for byte the champion) passes a
    // non-inferiority gate; promoting it would only add an entry to the audit trail.
    let same = reg
        .identical_to(version)
        .is_ok_and(|v| v.contains(&champion));
    let promoted = c.decision.promote
        && cfg.registry.auto_promote
        && !same
        && match super::champion::promote_from(
            &mut reg,
            version,
            "auto_promote: the gate passed",
            Some(Some(champion)),
        ) {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!("auto_promote skipped: {e}");
                false
            }
        };
    let note = format!(
        "v{version} vs champion v{champion}: gate {}{}",
        if c.decision.promote {
            "passed"
        } else {
            "refused"
        },
        if promoted {
            ", promoted (auto_promote)"
        } else if c.decision.promote && cfg.registry.auto_promote && same {
            " (auto_promote left it: identical to the champion, a promotion would change nothing)"
        } else if c.decision.promote && cfg.registry.auto_promote {
            " (auto_promote did not promote it: the champion changed meanwhile, see the log; `claims compare` then `claims promote`)"
        } else if c.decision.promote {
            " (auto_promote is off: `claims promote` to promote)"
        } else {
            ""
        }
    );
    let summary = GateSummary {
        champion,
        passed: c.decision.promote,
        promoted,
        rows_note: c.rows_note.clone(),
        reasons: c.decision.reasons.clone(),
        notes: c.notes.clone(),
        report,
    };
    Ok((summary, Some(c.rows), note))
}

/// Applies the gate to metrics compared on rows holding `claims` claims and `others`
/// non-claims.
pub fn decide(
    gate: &GateConfig,
    rows: &[MetricRow],
    delong: Option<&DeLong>,
    (claims, others): (usize, usize),
) -> Decision {
    let mut reasons = vec![];
    let mut ok = true;
    let mut check = |pass: bool, text: String| {
        ok &= pass;
        reasons.push(format!("{} {text}", if pass { "PASS" } else { "FAIL" }));
    };
    // With a handful of claims neither test holds its level: a verdict needs enough of
    // each class (a test split with one claim once promoted a constant-score model).
    check(
        claims >= gate.min_class_rows && others >= gate.min_class_rows,
        format!(
            "the compared rows hold {claims} claim(s) and {others} non-claim(s): must be at least min_class_rows {} of each",
            gate.min_class_rows
        ),
    );
    let get = |m: &str| rows.iter().find(|r| r.metric == m);
    match get(&gate.primary_metric) {
        Some(r) if gate.mode == "non_inferiority" => {
            check(
                r.diff_ci.lo > -gate.non_inferiority_margin,
                format!(
                    "{} difference {:+.4} ({:.4} -> {:.4}), 95% interval [{:+.4}, {:+.4}]: lower end must be above -{} (non-inferiority margin)",
                    r.metric,
                    r.diff,
                    r.champion,
                    r.challenger,
                    r.diff_ci.lo,
                    r.diff_ci.hi,
                    gate.non_inferiority_margin
                ),
            );
        }
        Some(r) => {
            let rel = if r.champion != 0.0 {
                r.diff / r.champion.abs()
            } else {
                f64::INFINITY
            };
            check(
                r.diff > 0.0,
                format!(
                    "{} uplift {:+.4} ({:.4} -> {:.4}) must be positive",
                    r.metric, r.diff, r.champion, r.challenger
                ),
            );
            // The minimum uplifts are listed when set: at 0 they repeat the line above.
            if gate.min_uplift > 0.0 {
                check(
                    r.diff >= gate.min_uplift,
                    format!(
                        "{} uplift {:+.4} must be >= min_uplift {}",
                        r.metric, r.diff, gate.min_uplift
                    ),
                );
            }
            if gate.min_relative_uplift > 0.0 {
                check(
                    rel >= gate.min_relative_uplift,
                    format!(
                        "relative uplift {:+.2}% must be >= min_relative_uplift {:.2}%",
                        100.0 * rel,
                        100.0 * gate.min_relative_uplift
                    ),
                );
            }
            // Shown as the comparison's DeLong line and table show them (`<0.0001`, not
            // `0.0000`).
            let (p, how, shown) = match (gate.primary_metric.as_str(), delong) {
                ("roc_auc", Some(d)) => (
                    d.p_value,
                    format!("DeLong z {:.3}", d.z),
                    super::compare::p_text(d.p_value, 10_000),
                ),
                // Not the bootstrap in its place: DeLong is missing only when a class has
                // fewer than 2 rows, where no p-value means anything.
                ("roc_auc", None) => (f64::NAN, String::new(), String::new()),
                _ => (
                    r.p_value,
                    "paired bootstrap".to_string(),
                    super::compare::p_text(r.p_value, gate.bootstrap_rounds),
                ),
            };
            // Significance counts only for an improvement: a small p for a worse
            // challenger says it is significantly worse.
            check(
                p <= gate.max_p_value && r.diff > 0.0,
                if p.is_nan() {
                    "no p-value: DeLong's test needs at least 2 claims and 2 non-claims".to_string()
                } else if r.diff > 0.0 {
                    format!(
                        "p-value {shown} ({how}) must be <= max_p_value {}",
                        gate.max_p_value
                    )
                } else if r.diff == 0.0 {
                    format!(
                        "p-value {shown} ({how}): no difference between the models (the challenger must improve on the champion)"
                    )
                } else {
                    format!("p-value {shown} ({how}) is for a difference that favours the champion")
                },
            );
        }
        None => check(
            false,
            format!("primary metric '{}' not computed", gate.primary_metric),
        ),
    }
    for (m, tol) in &gate.max_worse {
        if let Some(r) = get(m) {
            check(
                r.diff <= *tol,
                // `diff` is how much worse the challenger is on this metric.
                if r.diff > 0.0 {
                    format!(
                        "{m} {:.4} -> {:.4} (worse by {:.4}; tolerance for worse {tol})",
                        r.champion, r.challenger, r.diff
                    )
                } else if r.diff < 0.0 {
                    format!(
                        "{m} {:.4} -> {:.4} (better by {:.4}; tolerance for worse {tol})",
                        r.champion, r.challenger, -r.diff
                    )
                } else {
                    format!(
                        "{m} {:.4} -> {:.4} (unchanged; tolerance for worse {tol})",
                        r.champion, r.challenger
                    )
                },
            );
        }
    }
    Decision {
        promote: ok,
        reasons,
    }
}

/// What the gate said about a version against the current champion.
#[derive(Debug, Clone, PartialEq)]
pub enum GateStatus {
    /// There is no champion (the version would be the first).
    NoChampion,
    /// No comparison with the current champion was recorded.
    NotCompared(u32),
    /// The latest comparison passed: (champion, when, the gate's settings).
    Passed(u32, String, String),
    /// The latest comparison refused: (champion, when, the gate's settings).
    Refused(u32, String, String),
}

/// The latest recorded gate decision on challenger `version` against the current champion.
pub fn gate_status(reg: &Registry, version: u32) -> Result<GateStatus> {
    let Some(champion) = reg.alias("champion")? else {
        return Ok(GateStatus::NoChampion);
    };
    let latest: Option<(bool, String, Option<String>)> = reg
        .conn
        .query_row(
            "SELECT promote, at, gate FROM decisions WHERE challenger = ?1 AND champion = ?2 ORDER BY id DESC LIMIT 1",
            params![version, champion],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(db::sql)?;
    Ok(match latest {
        None => GateStatus::NotCompared(champion),
        Some((true, at, gate)) => GateStatus::Passed(champion, at, gate.unwrap_or_default()),
        Some((false, at, gate)) => GateStatus::Refused(champion, at, gate.unwrap_or_default()),
    })
}

/// The gate's settings in one line, as recorded with each decision: every setting
/// [`decide`] or the bootstrap reads, so a pass under a looser gate (another `--config`)
/// is told apart from one under this config's at `claims promote`.
pub fn gate_settings(gate: &GateConfig) -> String {
    let primary = if gate.mode == "non_inferiority" {
        format!(
            "non-inferiority on {}, margin {}",
            gate.primary_metric, gate.non_inferiority_margin
        )
    } else {
        let relative = if gate.min_relative_uplift > 0.0 {
            format!(", min_relative_uplift {}", gate.min_relative_uplift)
        } else {
            String::new()
        };
        format!(
            "superiority on {}, max_p_value {}, min_uplift {}{relative}",
            gate.primary_metric, gate.max_p_value, gate.min_uplift
        )
    };
    let guards: Vec<String> = gate
        .max_worse
        .iter()
        .map(|(m, t)| format!("{m} +{t}"))
        .collect();
    format!(
        "{primary}; guards {}; at least {} of each class; {} bootstrap rounds",
        guards.join(", "),
        gate.min_class_rows,
        gate.bootstrap_rounds
    )
}

#[cfg(test)]
mod tests {
    /// Every setting `decide` or the bootstrap reads is in the recorded settings: a pass
    /// under a looser relative uplift or fewer bootstrap rounds is not this config's pass.
    /// Minimum uplifts below 0 (which would be off without saying) are refused.
    #[test]
    fn recorded_settings_tell_looser_gates_apart() {
        use super::*;
        let settings = |toml: &str| gate_settings(&Config::from_overlay(toml).unwrap().gate);
        let base = settings("");
        for looser in [
            "[gate]\nmin_relative_uplift = 0.02\n",
            "[gate]\nbootstrap_rounds = 200\n",
            "[gate]\nmin_uplift = 0.01\n",
        ] {
            assert_ne!(settings(looser), base, "{looser}");
        }
        for bad in [
            "min_uplift = -0.1",
            "min_relative_uplift = nan",
            "min_uplift = inf",
        ] {
            let e = Config::from_overlay(&format!("[gate]\n{bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(bad.split(' ').next().unwrap()), "{e}");
        }
    }

    /// A challenger as good as the champion (a tiny, insignificant loss): superiority
    /// refuses it; non-inferiority promotes it when the interval's lower end is inside
    /// the margin, and refuses it when not; a significantly worse one fails the p check.
    #[test]
    fn gate_modes() {
        use super::*;
        use crate::eval::stats::Interval;
        use crate::pipeline::compare::MetricRow;
        let row = |diff: f64, lo: f64, hi: f64, p: f64| MetricRow {
            metric: "roc_auc".into(),
            higher_is_better: true,
            champion: 0.95,
            champion_ci: Interval { lo: 0.94, hi: 0.96 },
            challenger: 0.95 + diff,
            challenger_ci: Interval { lo: 0.94, hi: 0.96 },
            diff,
            diff_ci: Interval { lo, hi },
            p_value: p,
        };
        let gate = |toml: &str| Config::from_overlay(toml).unwrap().gate;
        let level = [row(-0.001, -0.004, 0.002, 0.6)];
        assert!(!decide(&gate(""), &level, None, (100, 500)).promote);
        let ni = gate("[gate]\nmode = \"non_inferiority\"\n");
        let d = decide(&ni, &level, None, (100, 500));
        assert!(d.promote, "{:?}", d.reasons);
        assert!(
            d.reasons[1].contains("non-inferiority margin"),
            "{:?}",
            d.reasons
        );
        let tight = gate("[gate]\nmode = \"non_inferiority\"\nnon_inferiority_margin = 0.003\n");
        assert!(!decide(&tight, &level, None, (100, 500)).promote);
        // Too few claims among the compared rows: no verdict, in either mode.
        let d = decide(&ni, &level, None, (9, 500));
        assert!(!d.promote, "{:?}", d.reasons);
        assert_eq!(
            d.reasons[0],
            "FAIL the compared rows hold 9 claim(s) and 500 non-claim(s): must be at least min_class_rows 10 of each"
        );
        assert!(!decide(&ni, &level, None, (500, 9)).promote);
        assert!(decide(&ni, &level, None, (10, 10)).promote);
        // A clear gain, but on roc_auc without DeLong's test (a class with under 2 rows):
        // no p-value stands in for it.
        let gain = [row(0.03, 0.01, 0.05, 0.002)];
        let delong = DeLong {
            auc_a: 0.95,
            auc_b: 0.98,
            var_diff: 1e-4,
            z: 3.0,
            p_value: 0.0027,
        };
        let lenient = gate("[gate]\nmin_class_rows = 2\n");
        assert!(decide(&lenient, &gain, Some(&delong), (2, 500)).promote);
        let d = decide(&lenient, &gain, None, (2, 500));
        assert!(!d.promote, "{:?}", d.reasons);
        assert!(
            d.reasons.contains(
                &"FAIL no p-value: DeLong's test needs at least 2 claims and 2 non-claims"
                    .to_string()
            ),
            "{:?}",
            d.reasons
        );
        let worse = [row(-0.02, -0.03, -0.01, 0.001)];
        let significant = DeLong {
            auc_b: 0.93,
            z: -3.3,
            p_value: 0.001,
            ..delong
        };
        let d = decide(&gate(""), &worse, Some(&significant), (100, 500));
        assert!(
            d.reasons
                .iter()
                .any(|r| r.starts_with("FAIL p-value") && r.contains("favours the champion")),
            "{:?}",
            d.reasons
        );
    }

    /// The config kept in a model's manifest holds no secret: the sink's password is
    /// redacted and the hooks' commands left out; it still loads as a config.
    #[test]
    fn the_manifest_config_keeps_no_secret() {
        use super::*;
        let cfg = Config::from_overlay(
            "[inference]\nsink = \"postgres://claims:S3cr3tPW@db:5432/claims?sslmode=require\"\n[hooks]\non_failure = \"curl -H 'Authorization: Bearer HOOKTOKEN123' https://x\"\n",
        )
        .unwrap();
        let kept = effective_toml(&cfg, 7, 3, 5, &Imbalance::None);
        assert!(
            !kept.contains("S3cr3tPW") && !kept.contains("HOOKTOKEN123"),
            "{kept}"
        );
        assert!(
            kept.contains("postgres://claims:***@db:5432/claims?sslmode=require"),
            "{kept}"
        );
        let back = Config::from_overlay(&kept).unwrap();
        assert_eq!((back.seed, back.search.folds), (7, 3));
    }

    /// A retrain identical to the champion: its tolerance lines say "unchanged", not
    /// "better by -0.0000".
    #[test]
    fn identical_metrics_read_unchanged() {
        use super::*;
        use crate::eval::stats::Interval;
        use crate::pipeline::compare::MetricRow;
        let same = |metric: &str, higher: bool, diff: f64| MetricRow {
            metric: metric.into(),
            higher_is_better: higher,
            champion: 0.05,
            champion_ci: Interval { lo: 0.04, hi: 0.06 },
            challenger: 0.05,
            challenger_ci: Interval { lo: 0.04, hi: 0.06 },
            diff,
            diff_ci: Interval { lo: 0.0, hi: 0.0 },
            p_value: 1.0,
        };
        let rows = [
            same("roc_auc", true, 0.0),
            same("brier", false, -0.0),
            same("ece", false, 0.0),
            same("log_loss", false, -0.0),
        ];
        let gate = Config::from_overlay("").unwrap().gate;
        let delong = crate::eval::stats::DeLong {
            auc_a: 0.05,
            auc_b: 0.05,
            var_diff: 0.0,
            z: 0.0,
            p_value: 1.0,
        };
        let d = decide(&gate, &rows, Some(&delong), (100, 500));
        assert!(!d.promote, "{:?}", d.reasons);
        assert!(
            d.reasons.iter().all(|r| !r.contains("-0.0000")),
            "{:?}",
            d.reasons
        );
        assert!(
            d.reasons
                .iter()
                .any(|r| r == "PASS brier 0.0500 -> 0.0500 (unchanged; tolerance for worse 0.01)"),
            "{:?}",
            d.reasons
        );
        // No difference favours neither model.
        assert!(
            d.reasons.iter().any(|r| r.starts_with("FAIL p-value")
                && r.contains("no difference between the models")
                && !r.contains("favours")),
            "{:?}",
            d.reasons
        );
    }
}
