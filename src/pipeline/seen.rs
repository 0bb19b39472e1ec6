//! Which of a challenger's held-out rows the champion saw in training or early stopping,
//! so a comparison never scores the champion on its own training rows: by the exact
//! fingerprints of their values, by near fingerprints (numbers rounded, for a re-export
//! of the same rows when the data has no ids), and by application id. What a model from
//! before one of these files lacks comes from its splits, rebuilt once from its files
//! (while they are still there as they were).

use std::collections::HashSet;

use super::compare::{Rebuilt, rebuild};
use crate::data::fingerprint::{self, Fingerprints};
use crate::error::{ClaimsError, Result};
use crate::registry::Registry;

/// For each row of the challenger's test split: whether the champion saw it.
pub struct Seen {
    /// By exact fingerprint (or, for a model from before them, by id in its rebuilt
    /// splits); an error says why it could not be checked.
    pub seen: std::result::Result<Vec<bool>, String>,
    /// By an application id it trained on.
    pub by_id: Vec<bool>,
    /// By values equal to [`fingerprint::NEAR_DIGITS`] significant digits.
    pub by_near: Vec<bool>,
    /// By the same categories and whole numbers, where those identify the champion's rows.
    pub by_coarse: Vec<bool>,
    /// Whether the champion kept no ids and its splits could not be rebuilt.
    pub ids_unknown: bool,
}

/// The fingerprints model `v` keeps in `file` (exact, or near); `None` for a model
/// registered before it kept them.
fn fingerprints(reg: &Registry, v: u32, file: &str) -> Result<Option<Fingerprints>> {
    let m = reg.manifest(v)?;
    if !m.files.contains_key(file) {
        return Ok(None);
    }
    let bytes = reg.artifact(v, &m, file)?;
    Fingerprints::from_bytes(&bytes)
        .map(Some)
        .map_err(|e| ClaimsError::Registry(format!("model v{v}: {file}: {e}")))
}

/// The fingerprints of the rows version `v` trained or early-stopped on; `None` for a
/// model registered before they were kept.
pub fn seen_rows(reg: &Registry, v: u32) -> Result<Option<Fingerprints>> {
    fingerprints(reg, v, fingerprint::FILE)
}

/// The application ids model `v` trained or early-stopped on (`None`: a model from before
/// they were kept; an empty set: its files had no id column).
fn seen_ids(reg: &Registry, v: u32) -> Result<Option<fingerprint::SeenIds>> {
    let m = reg.manifest(v)?;
    if !m.files.contains_key(fingerprint::IDS_FILE) {
        return Ok(None);
    }
    let bytes = reg.artifact(v, &m, fingerprint::IDS_FILE)?;
    fingerprint::SeenIds::from_bytes(&bytes)
        .map(Some)
        .map_err(|e| ClaimsError::Registry(format!("model v{v}: {}: {e}", fingerprint::IDS_FILE)))
}

/// Which rows of `chal`'s test split (the challenger's, rebuilt) `champion` saw.
pub fn by_champion(reg: &Registry, champion: u32, challenger: u32, chal: &Rebuilt) -> Result<Seen> {
    let test = &chal.splits.2;
    let exact = seen_rows(reg, champion)?;
    let near = fingerprints(reg, champion, fingerprint::NEAR_FILE)?;
    let coarse = fingerprints(reg, champion, fingerprint::COARSE_FILE)?;
    let kept_ids = seen_ids(reg, champion)?;
    let champ = (exact.is_none() || near.is_none() || coarse.is_none() || kept_ids.is_none())
        .then(|| rebuild(reg, champion).map_err(|e| e.to_string()));
    // The rows the champion learned from, in its rebuilt data.
    let learned = |c: &Rebuilt| {
        c.splits
            .0
            .iter()
            .chain(&c.splits.1)
            .copied()
            .collect::<Vec<_>>()
    };
    let seen = match (exact, &champ) {
        (Some(fp), _) => fp.contains(&chal.data, test).map_err(|col| {
            format!("v{challenger}'s data has no {col}, which v{champion}'s row fingerprints cover")
        }),
        (None, Some(Ok(champ))) => {
            let ids: HashSet<&str> = learned(champ)
                .into_iter()
                .map(|i| champ.data.ids[i].as_str())
                .collect();
            Ok(test
                .iter()
                .map(|&i| ids.contains(chal.data.ids[i].as_str()))
                .collect())
        }
        (None, Some(Err(e))) => Err(e.clone()),
        (None, None) => Err(format!("v{champion} could not be rebuilt")),
    };
    // Rows of an application the champion learned from under other values (a re-export
    // with rounded values, a corrected row): by the ids it kept, or those of its splits.
    let (by_id, ids_unknown) = match (kept_ids, &champ) {
        (Some(ids), _) => (ids.contains(&chal.data, test), false),
        (None, Some(Ok(champ))) => {
            let ids = fingerprint::SeenIds::of(&champ.data, learned(champ));
            (ids.contains(&chal.data, test), false)
        }
        (None, _) => (vec![false; test.len()], true),
    };
    // And the same rows re-exported with rounded numbers, where there are no ids: by their
    // numbers at 4 significant digits, and by their categories and whole numbers alone
    // where those tell the champion's rows apart (floats rounded to fewer digits).
    let other = |kept: Option<Fingerprints>,
                 make: fn(&crate::data::Dataset, Vec<usize>) -> Fingerprints| {
        match (kept, &champ) {
            (Some(fp), _) => Some(fp),
            (None, Some(Ok(champ))) => Some(make(&champ.data, learned(champ))),
            (None, _) => None,
        }
        .filter(Fingerprints::identifies_rows)
        .and_then(|fp| fp.contains(&chal.data, test).ok())
        .unwrap_or_else(|| vec![false; test.len()])
    };
    let by_near = other(near, Fingerprints::near);
    let by_coarse = other(coarse, Fingerprints::coarse);
    Ok(Seen {
        seen,
        by_id,
        by_near,
        by_coarse,
        ids_unknown,
    })
}
