//! Checks of the `[gate]` section: the promotion gate's test, mode, bounds and guards.

use super::sections::GateConfig;
use super::validate::bad;
use crate::error::Result;

/// Checks the gate's settings; the first bad key is named in the error.
pub(super) fn gate(g: &GateConfig) -> Result<()> {
    if !["roc_auc", "pr_auc"].contains(&g.primary_metric.as_str()) {
        return Err(bad(
            "gate.primary_metric",
            &g.primary_metric,
            "expected roc_auc or pr_auc",
        ));
    }
    if !["superiority", "non_inferiority"].contains(&g.mode.as_str()) {
        return Err(bad(
            "gate.mode",
            &g.mode,
            "expected superiority or non_inferiority",
        ));
    }
    if !(0.0..=0.5).contains(&g.non_inferiority_margin) {
        return Err(bad(
            "gate.non_inferiority_margin",
            g.non_inferiority_margin,
            "must be in [0, 0.5]",
        ));
    }
    // At 0 a minimum is off; a negative one (or NaN) would silently be off too.
    if !(0.0..=1.0).contains(&g.min_uplift) {
        return Err(bad(
            "gate.min_uplift",
            g.min_uplift,
            "must be in [0, 1] (0: off)",
        ));
    }
    if !(0.0..=10.0).contains(&g.min_relative_uplift) {
        return Err(bad(
            "gate.min_relative_uplift",
            g.min_relative_uplift,
            "must be in [0, 10] (a fraction of the champion's value, 0.02 = 2%; 0: off)",
        ));
    }
    if !(0.0..=1.0).contains(&g.max_p_value) {
        return Err(bad("gate.max_p_value", g.max_p_value, "must be in [0, 1]"));
    }
    if !(100..=100_000).contains(&g.bootstrap_rounds) {
        return Err(bad(
            "gate.bootstrap_rounds",
            g.bootstrap_rounds,
            "must be in [100, 100000]",
        ));
    }
    if !(2..=1_000_000).contains(&g.min_class_rows) {
        return Err(bad(
            "gate.min_class_rows",
            g.min_class_rows,
            "must be in [2, 1000000]",
        ));
    }
    // A bootstrap p-value is never below 2 / (rounds + 1) (each tail counts as
    // (1 + k) / (rounds + 1)): a stricter bound would refuse every challenger.
    let floor = 2.0 / (g.bootstrap_rounds as f64 + 1.0);
    if g.mode == "superiority" && g.primary_metric == "pr_auc" && g.max_p_value < floor {
        let needed = (2.0 / g.max_p_value - 1.0).ceil();
        let fix = if needed.is_finite() && needed <= 100_000.0 {
            format!("raise gate.bootstrap_rounds to at least {needed} or gate.max_p_value")
        } else {
            "raise gate.max_p_value".to_string()
        };
        return Err(bad(
            "gate.max_p_value",
            g.max_p_value,
            &format!(
                "cannot be met with primary_metric pr_auc: its bootstrap p-value is at least 2 / (gate.bootstrap_rounds + 1) = {floor:.4} with {} rounds; {fix}",
                g.bootstrap_rounds
            ),
        ));
    }
    for (k, v) in &g.max_worse {
        if !["log_loss", "brier", "ece"].contains(&k.as_str()) {
            return Err(bad(
                &format!("gate.max_worse.{k}"),
                v,
                "guard metrics are log_loss, brier, ece",
            ));
        }
        if v.is_nan() || *v < 0.0 {
            return Err(bad(&format!("gate.max_worse.{k}"), v, "must be >= 0"));
        }
    }
    Ok(())
}
