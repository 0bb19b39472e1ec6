//! The model registry under the home folder: versioned model folders (`models/vN/`) with a
//! manifest that holds the sha256 of every artifact, the input data's hashes, the config,
//! the seed and the code version; aliases (`champion`, `challenger`) in SQLite with their
//! history. Writes are atomic (staging folder, then rename); reads verify every hash, so a
//! corrupt or edited artifact is refused.

pub mod basis;
pub mod db;
pub mod mounts;
pub mod runs;

use std::io::Write;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{ClaimsError, Result};
use db::{now, sql};

/// Hex sha256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Hex sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| ClaimsError::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = std::io::Read::read(&mut f, &mut buf).map_err(|e| ClaimsError::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// An input data file as recorded in a manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DataFileRecord {
    /// Path as given.
    pub path: String,
    /// sha256 of its bytes.
    pub sha256: String,
    /// Data rows read.
    pub rows: usize,
}

/// What a model version is and where it came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Version number.
    pub version: u32,
    /// When registered (UTC).
    pub created_at: String,
    /// The training run that made it.
    pub run_id: String,
    /// claims-ops version and git commit.
    pub code_version: String,
    /// XGBoost library version used.
    pub xgboost_version: String,
    /// Seed of the run.
    pub seed: u64,
    /// The merged configuration (TOML).
    pub config_toml: String,
    /// Input files.
    pub data_files: Vec<DataFileRecord>,
    /// sha256 of every artifact file in the folder, by file name.
    pub files: std::collections::BTreeMap<String, String>,
    /// The champion when it was registered (the model it was compared with and would
    /// replace); `None` for the first model, and in manifests from before it was kept.
    #[serde(default)]
    pub champion_at_training: Option<u32>,
    /// How its train/validation/test rows were drawn ([`crate::data::split::SPLIT_VERSION`]);
    /// 1 in manifests from before it was kept.
    #[serde(default = "first_split_version")]
    pub split_version: u32,
}

fn first_split_version() -> u32 {
    1
}

impl Manifest {
    /// A manifest of run `run_id` with nothing else in it, for tests that register models.
    #[cfg(test)]
    pub(crate) fn for_test(run_id: &str) -> Manifest {
        Manifest {
            version: 0,
            created_at: String::new(),
            run_id: run_id.into(),
            code_version: String::new(),
            xgboost_version: String::new(),
            seed: 1,
            config_toml: String::new(),
            data_files: vec![],
            files: Default::default(),
            champion_at_training: None,
            split_version: crate::data::split::SPLIT_VERSION,
        }
    }
}

/// A version's row in the registry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelRow {
    /// Version number.
    pub version: u32,
    /// When registered.
    pub created_at: String,
    /// Training run.
    pub run_id: String,
    /// Test ROC AUC.
    pub test_roc_auc: Option<f64>,
    /// Imbalance strategy.
    pub imbalance: Option<String>,
    /// Operating threshold.
    pub threshold: Option<f64>,
    /// Aliases pointing at it.
    pub aliases: Vec<String>,
}

/// The registry: the home folder and its database.
pub struct Registry {
    /// The home folder.
    pub home: PathBuf,
    /// The database connection.
    pub conn: Connection,
}

/// The code version recorded in manifests.
pub fn code_version() -> String {
    format!(
        "{} ({})",
        env!("CARGO_PKG_VERSION"),
        option_env!("CLAIMS_GIT_COMMIT").unwrap_or("unknown commit")
    )
}

/// The largest file a model version may hold (a model of thousands of deep trees is a few
/// hundred MB).
const MAX_MODEL_FILE_BYTES: u64 = 4 << 30;

/// Reads a file of model version `v`. A missing file is a registry problem (it fails the
/// same way on every retry, so a scheduler must not retry it); other I/O errors may pass.
fn read_model_file(path: &Path, v: u32) -> Result<Vec<u8>> {
    // Not a regular file (a pipe would hang the run, /dev/zero would fill the memory), or
    // larger than any model: the folder was tampered with; its hashes would refuse it
    // anyway, after reading it.
    if let Ok(m) = std::fs::metadata(path)
        && (!m.is_file() || m.len() > MAX_MODEL_FILE_BYTES)
    {
        return Err(ClaimsError::Registry(format!(
            "{}: not a regular file of at most {} GiB, so model v{v} is not used: restore the models/v{v} folder from a backup, or promote or train another version",
            path.display(),
            MAX_MODEL_FILE_BYTES >> 30
        )));
    }
    std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ClaimsError::Registry(format!(
            "{}: missing, so model v{v} is not used: restore the file (the whole models/v{v} folder from a backup), or promote or train another version",
            path.display()
        )),
        _ => ClaimsError::io(path, e),
    })
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = std::fs::File::create(path).map_err(|e| ClaimsError::io(path, e))?;
    f.write_all(bytes).map_err(|e| ClaimsError::io(path, e))?;
    f.sync_all().map_err(|e| ClaimsError::io(path, e))
}

impl Registry {
    /// Whether this user can only read the home's database (see [`db::open`]).
    pub fn read_only(&self) -> bool {
        self.conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false)
    }

    /// Opens the registry in `home` (created if needed).
    pub fn open(home: &Path) -> Result<Registry> {
        std::fs::create_dir_all(home.join("models")).map_err(|e| ClaimsError::io(home, e))?;
        let conn = db::open(&home.join("claims.db"))?;
        Ok(Registry {
            home: home.to_path_buf(),
            conn,
        })
    }

    /// The folder of model version `v`.
    pub fn model_dir(&self, v: u32) -> PathBuf {
        self.home.join("models").join(format!("v{v}"))
    }

    /// Writes `files` as a new version atomically and records it; the first version becomes
    /// champion, later ones challenger (the promotion gate decides the rest). Returns
    /// (version, role).
    pub fn register(
        &mut self,
        mut manifest: Manifest,
        files: &[(&str, Vec<u8>)],
        test_roc_auc: f64,
        imbalance: &str,
        threshold: f64,
    ) -> Result<(u32, String)> {
        let models = self.home.join("models");
        let staging = models.join(format!(".staging-{}", manifest.run_id));
        let _ = std::fs::remove_dir_all(&staging);
        // Until the rename below, a failure (a full disk) removes the staged files: left,
        // they would hold the space the next attempt needs.
        let staged = |e: ClaimsError| {
            let _ = std::fs::remove_dir_all(&staging);
            e
        };
        std::fs::create_dir_all(&staging).map_err(|e| ClaimsError::io(&staging, e))?;
        for (name, bytes) in files {
            let path = staging.join(name);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| staged(ClaimsError::io(dir, e)))?;
            }
            write_synced(&path, bytes).map_err(staged)?;
            manifest
                .files
                .insert((*name).to_string(), sha256_hex(bytes));
        }
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| staged(sql(e)))?;
        let version: u32 = tx
            .query_row(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM models",
                [],
                |r| r.get(0),
            )
            .map_err(|e| staged(sql(e)))?;
        let champion: Option<u32> = tx
            .query_row(
                "SELECT version FROM aliases WHERE alias = 'champion'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| staged(sql(e)))?;
        manifest.version = version;
        manifest.created_at = now();
        manifest.champion_at_training = champion;
        let mbytes = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| staged(ClaimsError::Other(e.into())))?;
        write_synced(&staging.join("manifest.json"), &mbytes).map_err(staged)?;
        let dir = models.join(format!("v{version}"));
        if dir.exists() {
            // The database has no such version: a registration killed between the rename
            // and the commit left this folder. Keep it aside rather than block every train.
            let aside = models.join(format!(".orphan-v{version}-{}", std::process::id()));
            tracing::warn!(
                "{} is not a registered model (an interrupted registration left it); moved to {}",
                dir.display(),
                aside.display()
            );
            std::fs::rename(&dir, &aside).map_err(|e| staged(ClaimsError::io(&dir, e)))?;
        }
        std::fs::rename(&staging, &dir).map_err(|e| staged(ClaimsError::io(&dir, e)))?;
        let result = (|| -> Result<String> {
            tx.execute(
                "INSERT INTO models(version, created_at, run_id, dir, manifest_sha256, test_roc_auc, imbalance, threshold)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![version, manifest.created_at, manifest.run_id, format!("models/v{version}"), sha256_hex(&mbytes), test_roc_auc, imbalance, threshold],
            )
            .map_err(sql)?;
            let (role, reason) = match champion {
                None => ("champion", "first model"),
                Some(_) => ("challenger", "new challenger"),
            };
            set_alias(&tx, role, version, &current_user(), reason)?;
            Ok(role.to_string())
        })();
        match result.and_then(|role| tx.commit().map_err(sql).map(|_| role)) {
            Ok(role) => Ok((version, role)),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    /// Version `v`'s decision threshold, as registered.
    pub fn threshold(&self, v: u32) -> Result<f64> {
        self.conn
            .query_row(
                "SELECT threshold FROM models WHERE version = ?1",
                [v],
                |r| r.get(0),
            )
            .map_err(sql)
    }

    /// Version `v`'s test ROC AUC, as registered (`None` for a model registered without one).
    pub fn test_roc_auc(&self, v: u32) -> Result<Option<f64>> {
        self.conn
            .query_row(
                "SELECT test_roc_auc FROM models WHERE version = ?1",
                [v],
                |r| r.get(0),
            )
            .map_err(sql)
    }

    /// Reads and verifies the manifest of version `v`.
    pub fn manifest(&self, v: u32) -> Result<Manifest> {
        let expected: Option<String> = self
            .conn
            .query_row(
                "SELECT manifest_sha256 FROM models WHERE version = ?1",
                [v],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)?;
        let expected = expected.ok_or_else(|| {
            ClaimsError::Usage(format!(
                "model version v{v} does not exist (see `claims models`)"
            ))
        })?;
        let path = self.model_dir(v).join("manifest.json");
        let bytes = read_model_file(&path, v)?;
        if sha256_hex(&bytes) != expected {
            return Err(ClaimsError::Registry(format!(
                "{}: manifest was changed or is corrupt (sha256 differs from the registry's record), so model v{v} is not used: restore the file, or promote or train another version",
                path.display()
            )));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| ClaimsError::Registry(format!("{}: {e}", path.display())))
    }

    /// Reads artifact `name` of version `v`, checking its sha256 against the manifest.
    pub fn artifact(&self, v: u32, manifest: &Manifest, name: &str) -> Result<Vec<u8>> {
        let path = self.model_dir(v).join(name);
        let expected = manifest
            .files
            .get(name)
            .ok_or_else(|| ClaimsError::Registry(format!("model v{v} has no artifact '{name}'")))?;
        let bytes = read_model_file(&path, v)?;
        let got = sha256_hex(&bytes);
        if &got != expected {
            return Err(ClaimsError::Registry(format!(
                "{}: artifact was changed or is corrupt (sha256 {got}, manifest says {expected}), so model v{v} is not used: restore the file, or promote or train another version",
                path.display()
            )));
        }
        Ok(bytes)
    }

    /// Loads version `v` as a scorer, verifying the hash of each artifact it reads.
    pub fn load_model(&self, v: u32) -> Result<crate::model::TrainedModel> {
        let m = self.manifest(v)?;
        let pre_bytes = self.artifact(v, &m, "preprocessor.json")?;
        let pre = serde_json::from_slice(&pre_bytes)
            .map_err(|e| ClaimsError::Registry(format!("model v{v}: preprocessor.json: {e}")))?;
        let booster =
            crate::model::xgb::Booster::from_json(&self.artifact(v, &m, "model.json")?)?;
        Ok(crate::model::TrainedModel { pre, booster })
    }

    /// Checks the manifest and every artifact of version `v`; returns the files checked.
    pub fn verify(&self, v: u32) -> Result<usize> {
        let (checked, problems) = self.check_files(v);
        match problems.into_iter().next() {
            Some(p) => Err(ClaimsError::Registry(p)),
            None => Ok(checked),
        }
    }

    /// Checks every file of version `v` (the manifest, then each artifact's sha256) and
    /// returns the files checked and one line per problem, without stopping at the first.
    pub fn check_files(&self, v: u32) -> (usize, Vec<String>) {
        let m = match self.manifest(v) {
            Ok(m) => m,
            Err(e) => return (1, vec![format!("v{v}: {e}")]),
        };
        let problems = m
            .files
            .keys()
            .filter_map(|name| {
                self.artifact(v, &m, name)
                    .err()
                    .map(|e| format!("v{v} {name}: {e}"))
            })
            .collect();
        (m.files.len() + 1, problems)
    }

    /// Earlier versions whose model and preprocessing files are byte for byte those of
    /// version `v`, with the same threshold (a retrain that changed nothing), newest
    /// first. Versions whose manifest cannot be read are skipped.
    pub fn identical_to(&self, v: u32) -> Result<Vec<u32>> {
        let key =
            |m: &Manifest| ["model.json", "preprocessor.json"].map(|f| m.files.get(f).cloned());
        let this = key(&self.manifest(v)?);
        let threshold = self.threshold(v)?;
        Ok(self
            .list()?
            .into_iter()
            .map(|m| m.version)
            .filter(|&o| o < v)
            .filter(|&o| self.manifest(o).is_ok_and(|m| key(&m) == this))
            .filter(|&o| self.threshold(o).is_ok_and(|t| t == threshold))
            .collect())
    }

    /// The version an alias points at.
    pub fn alias(&self, alias: &str) -> Result<Option<u32>> {
        self.conn
            .query_row(
                "SELECT version FROM aliases WHERE alias = ?1",
                [alias],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)
    }

    /// The version training run `run_id` registered, if it registered one.
    pub fn version_of_run(&self, run_id: &str) -> Result<Option<u32>> {
        self.conn
            .query_row(
                "SELECT version FROM models WHERE run_id = ?1",
                [run_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)
    }

    /// All versions, newest first, with their aliases.
    pub fn list(&self) -> Result<Vec<ModelRow>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT m.version, m.created_at, m.run_id, m.test_roc_auc, m.imbalance, m.threshold,
                        (SELECT group_concat(alias, ',') FROM aliases a WHERE a.version = m.version)
                 FROM models m ORDER BY m.version DESC",
            )
            .map_err(sql)?;
        let rows = st
            .query_map([], |r| {
                let aliases: Option<String> = r.get(6)?;
                Ok(ModelRow {
                    version: r.get(0)?,
                    created_at: r.get(1)?,
                    run_id: r.get(2)?,
                    test_roc_auc: r.get(3)?,
                    imbalance: r.get(4)?,
                    threshold: r.get(5)?,
                    aliases: aliases
                        .map(|a| a.split(',').map(str::to_string).collect())
                        .unwrap_or_default(),
                })
            })
            .map_err(sql)?;
        rows.collect::<std::result::Result<_, _>>().map_err(sql)
    }

    /// Every move of the champion alias, oldest first: who moved it, when and why.
    pub fn champion_history(&self) -> Result<Vec<ChampionMove>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT at, from_version, to_version, by_user, reason FROM alias_history
                 WHERE alias = 'champion' ORDER BY id",
            )
            .map_err(sql)?;
        let rows = st
            .query_map([], |r| {
                Ok(ChampionMove {
                    at: r.get(0)?,
                    from: r.get(1)?,
                    to: r.get(2)?,
                    by: r.get(3)?,
                    reason: r.get(4)?,
                })
            })
            .map_err(sql)?;
        rows.collect::<std::result::Result<_, _>>().map_err(sql)
    }
}

/// One move of the champion alias (a promotion or a rollback).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChampionMove {
    /// When (UTC).
    pub at: String,
    /// The champion before (`None`: there was none).
    pub from: Option<u32>,
    /// The champion after.
    pub to: u32,
    /// Who moved it.
    pub by: String,
    /// The reason given (a rollback's starts with "rollback: ").
    pub reason: String,
}

impl ChampionMove {
    /// As lists show it: "2026-11-29T05:01:02Z  v1 -> v2  by ana: reason".
    pub fn line(&self) -> String {
        format!(
            "{}  {} -> v{}  by {}: {}",
            self.at,
            self.from.map_or("none".into(), |v| format!("v{v}")),
            self.to,
            self.by,
            self.reason
        )
    }
}

/// Who is acting, for the alias history.
pub fn current_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(user_from_uid)
        .unwrap_or_else(|| "unknown".into())
}

/// The process's user from its uid (`/proc/self/status`, then `/etc/passwd`), for a
/// scheduler or container that sets neither USER nor LOGNAME.
fn user_from_uid() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let name = passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)? == uid).then(|| name.to_string())
    });
    Some(name.unwrap_or(format!("uid {uid}")))
}

/// Points `alias` at `version` and records the move.
pub fn set_alias(
    conn: &Connection,
    alias: &str,
    version: u32,
    by: &str,
    reason: &str,
) -> Result<()> {
    let from: Option<u32> = conn
        .query_row(
            "SELECT version FROM aliases WHERE alias = ?1",
            [alias],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql)?;
    let at = now();
    conn.execute(
        "INSERT INTO aliases(alias, version, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
        params![alias, version, at],
    )
    .map_err(sql)?;
    conn.execute(
        "INSERT INTO alias_history(alias, from_version, to_version, at, by_user, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![alias, from, version, at, by, reason],
    )
    .map_err(sql)?;
    Ok(())
}

#[cfg(test)]
#[path = "mod_tests.rs"]
mod tests;
