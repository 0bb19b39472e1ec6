//! What a stored score and its reasons are read against: the scoring model's base score
//! (SHAP's base value, where every application's reasons start from), how its threshold
//! was chosen, and whether its scores are probabilities at all. `claims explain` and the
//! console's score popup show these beside the reasons, so the numbers add up on screen.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::Registry;
use crate::error::{ClaimsError, Result};

/// One model version's basis for reading its scores.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreBasis {
    /// The version.
    pub version: u32,
    /// SHAP's base value (log-odds): the reasons of every row it scored add up from it
    /// to the row's own log-odds.
    pub base_margin: f64,
    /// How its threshold was chosen ("F1-optimal on validation").
    pub threshold_rule: Option<String>,
    /// Its operating threshold, to tell its rows from another home's v{N}.
    pub threshold: f64,
    /// Its imbalance setting when it weighted the classes (`weight:auto=5.2333`): its
    /// scores then rank applications, they are not probabilities of a claim.
    pub weighted: Option<String>,
}

impl Registry {
    /// The basis of version `v`, read from its verified artifacts (the trees of
    /// `model.json`, the rule in `params.json`).
    pub fn score_basis(&self, v: u32) -> Result<ScoreBasis> {
        let m = self.manifest(v)?;
        let pre: crate::features::Preprocessor =
            serde_json::from_slice(&self.artifact(v, &m, "preprocessor.json")?).map_err(|e| {
                ClaimsError::Registry(format!("model v{v}: preprocessor.json: {e}"))
            })?;
        let trees = crate::model::shap::TreeExplainer::from_model_json(
            &self.artifact(v, &m, "model.json")?,
            pre.width(),
        )?;
        let base_margin = trees.expected_margin().ok_or_else(|| {
            ClaimsError::Registry(format!("model v{v}: not a binary:logistic model"))
        })?;
        let params: serde_json::Value =
            serde_json::from_slice(&self.artifact(v, &m, "params.json")?)
                .map_err(|e| ClaimsError::Registry(format!("model v{v}: params.json: {e}")))?;
        let imbalance = params["imbalance"].as_str().unwrap_or_default();
        Ok(ScoreBasis {
            version: v,
            base_margin,
            threshold_rule: params["threshold_rule_text"].as_str().map(str::to_string),
            threshold: params["threshold"].as_f64().unwrap_or(f64::NAN),
            weighted: imbalance.starts_with("weight").then(|| {
                match params["scale_pos_weight"].as_f64() {
                    Some(w) if !imbalance.contains(':') => format!("weight:auto={w:.4}"),
                    _ => imbalance.to_string(),
                }
            }),
        })
    }
}

/// Bases by version for the rows of one home's sink, each version read once. A row whose
/// version is missing here, or whose threshold is not that version's (a sink shared with
/// another home, whose v1 is another model), gets none: its reasons are shown without one.
pub struct Bases {
    home: PathBuf,
    read: HashMap<u32, Option<ScoreBasis>>,
}

impl Bases {
    /// For the registry in `home` (opened when first needed).
    pub fn new(home: &Path) -> Bases {
        Bases {
            home: home.to_path_buf(),
            read: HashMap::new(),
        }
    }

    /// The basis of the model that scored `r`, if this home has it.
    pub fn of(&mut self, r: &crate::sink::PredictionRow) -> Option<&ScoreBasis> {
        let v = u32::try_from(r.model_version).ok()?;
        let home = &self.home;
        self.read
            .entry(v)
            .or_insert_with(|| {
                // Reading a score must not make a registry where there is none.
                home.join("claims.db")
                    .is_file()
                    .then(|| Registry::open(home).ok())
                    .flatten()
                    .and_then(|reg| reg.score_basis(v).ok())
            })
            .as_ref()
            .filter(|b| b.threshold == r.threshold)
    }
}

#[cfg(test)]
mod tests {
    /// A row's threshold is matched against its version's `params.json` exactly: JSON must
    /// read back the very f64 that was written (serde_json's `float_roundtrip`; without it
    /// this threshold read back 1 ulp off and the row's base score was not shown).
    #[test]
    fn thresholds_read_back_exactly() {
        for t in [
            0.474_867_194_890_975_95_f64,
            0.1,
            1.0 / 3.0,
            0.354_412_345_678_901_2,
        ] {
            let text = serde_json::json!({ "threshold": t }).to_string();
            let back: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(back["threshold"].as_f64(), Some(t), "{text}");
        }
    }
}
