//! The promotion gate after a retrain (comparison, decision, report, auto-promotion) and
//! the config a model records as trained with.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{RunCtx, compare};
use crate::config::{Config, Imbalance};
use crate::error::Result;
use crate::registry::Registry;

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
    /// The comparison report page, if written.
    pub report: Option<PathBuf>,
}

/// The config this model was trained with: the merged files with the command line's
/// `--seed`, `--folds`, `--search-iters` and `--imbalance` written in, so the manifest alone
/// retrains the same model.
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
    toml::to_string(&t).unwrap_or_else(|_| cfg.merged_toml.clone())
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
                reasons: vec![format!(
                    "FAIL the comparison could not be made: {e} (`claims compare` retries it; `claims promote v{version} --reason ...` decides by hand)"
                )],
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
    let promoted = c.decision.promote && cfg.registry.auto_promote;
    if promoted {
        compare::promote(&mut reg, version, "auto_promote: the gate passed")?;
    }
    let note = format!(
        "v{version} vs champion v{champion}: gate {}{}",
        if c.decision.promote {
            "passed"
        } else {
            "refused"
        },
        if promoted {
            ", promoted (auto_promote)"
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
        report,
    };
    Ok((summary, Some(c.rows), note))
}
