//! Moving the champion alias: promotion and rollback, recorded in the alias history with
//! who, when and why (`claims promote`, `claims rollback`, the console).

use rusqlite::OptionalExtension;

use crate::error::{ClaimsError, Result};
use crate::registry::{Registry, current_user, db, set_alias};

/// Refuses to make `v` the champion unless the files scoring reads from it (model,
/// preprocessor, threshold, drift profile) load and match their recorded hashes: an edited
/// or corrupt version would otherwise fail every scoring run after the promotion.
fn check_servable(reg: &Registry, v: u32) -> Result<()> {
    let check = || -> Result<()> {
        reg.load_model(v)?;
        reg.threshold(v)?;
        let m = reg.manifest(v)?;
        reg.artifact(v, &m, "profile.json")?;
        Ok(())
    };
    check().map_err(|e| {
        ClaimsError::Registry(format!(
            "v{v} cannot become the champion: scoring could not load it ({e}); the champion is unchanged (`claims models --verify` lists every file that differs)"
        ))
    })
}

/// Makes `version` the champion (recorded with who, when and why); returns the previous one.
pub fn promote(reg: &mut Registry, version: u32, reason: &str) -> Result<Option<u32>> {
    promote_from(reg, version, reason, None)
}

/// [`promote`], refusing when the champion is no longer `expected` (some: the champion the
/// reason was written against; another promotion landed in between).
pub(crate) fn promote_from(
    reg: &mut Registry,
    version: u32,
    reason: &str,
    expected: Option<Option<u32>>,
) -> Result<Option<u32>> {
    reg.manifest(version)?;
    check_servable(reg, version)?;
    let tx = reg
        .conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(db::sql)?;
    let from: Option<u32> = tx
        .query_row(
            "SELECT version FROM aliases WHERE alias = 'champion'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(db::sql)?;
    if from == Some(version) {
        return Err(ClaimsError::Usage(format!(
            "v{version} is already the champion"
        )));
    }
    if let Some(expected) = expected.filter(|e| *e != from) {
        let was = |v: Option<u32>| v.map_or("none".to_string(), |v| format!("v{v}"));
        return Err(ClaimsError::Usage(format!(
            "the champion changed from {} to {} while v{version} was being promoted (another promotion or rollback); nothing was changed: look at `claims models` and promote again if still wanted",
            was(expected),
            was(from)
        )));
    }
    set_alias(&tx, "champion", version, &current_user(), reason)?;
    tx.execute(
        "DELETE FROM aliases WHERE alias = 'challenger' AND version = ?1",
        [version],
    )
    .map_err(db::sql)?;
    tx.commit().map_err(db::sql)?;
    // In the log too, so the Logs pane and a log reader see which model scores from now.
    let was = from.map_or("none".to_string(), |v| format!("v{v}"));
    tracing::info!(from = ?from, to = version, user = %current_user(), "champion: {was} -> v{version} (promoted: {reason})");
    Ok(from)
}

/// Promotes `version` as `claims promote` and the console do: after a passing gate as it
/// is; overriding a refusal, or promoting a version never compared with the current
/// champion, only with a stated `reason` (else a usage error saying why). The audit trail
/// records which it was, and under which gate settings. A pass recorded under other gate
/// settings than `gate` (a `claims compare --config` with a looser gate) needs a reason
/// too. Returns the previous champion and the reason recorded.
pub fn promote_audited(
    reg: &mut Registry,
    version: u32,
    reason: Option<String>,
    gate: &crate::config::GateConfig,
) -> Result<(Option<u32>, String)> {
    use super::gate::GateStatus as G;
    reg.manifest(version)?; // a version that does not exist says so first
    let status = super::gate::gate_status(reg, version)?;
    let current = super::gate::gate_settings(gate);
    let status_champion = match &status {
        G::NoChampion => None,
        G::NotCompared(c) | G::Passed(c, ..) | G::Refused(c, ..) => Some(*c),
    };
    let reason = match (status, reason) {
        (G::Refused(champion, at, _), None) => {
            return Err(ClaimsError::Usage(format!(
                "the promotion gate refused v{version} against v{champion} ({at}; see `claims compare`); to promote it anyway give a reason (`--reason WHY`, or typed in the console)"
            )));
        }
        (G::NotCompared(champion), None) if champion != version => {
            return Err(ClaimsError::Usage(format!(
                "v{version} was never compared with the champion v{champion}: compare them first (`claims compare --challenger v{version}`, or c in the console), or give a reason to promote without the gate (`--reason WHY`, or typed in the console)"
            )));
        }
        (G::Passed(champion, at, used), None) if used != current => {
            // Recorded before the class minimum existed: that pass may rest on a few claims.
            let older = if !used.contains("of each class") {
                " (recorded by an older claims, before gate.min_class_rows: the pass may rest on a handful of claims)"
            } else if !used.contains("bootstrap rounds") {
                " (recorded by an older claims, whose record left out gate.min_relative_uplift and gate.bootstrap_rounds)"
            } else {
                ""
            };
            return Err(ClaimsError::Usage(format!(
                "v{version} passed the gate against v{champion} ({at}) under other settings than this config's: '{used}', where this config's are '{current}'{older}; compare them under this config (`claims compare --challenger v{version}`), or give a reason (`--reason WHY`, or typed in the console)"
            )));
        }
        (G::Passed(_, at, used), Some(r)) if used != current => {
            format!(
                "gate passed under other settings than this config's ({at}; {used}; this config: {current}): {r}"
            )
        }
        (G::Passed(_, at, gate), None) => format!("gate passed ({at}; {gate})"),
        (G::Passed(_, at, gate), Some(r)) => format!("gate passed ({at}; {gate}): {r}"),
        (G::Refused(champion, at, gate), Some(r)) => {
            format!("override: the gate refused v{version} against v{champion} ({at}; {gate}): {r}")
        }
        (G::NotCompared(champion), Some(r)) if champion != version => {
            format!("not compared with v{champion}: {r}")
        }
        (_, r) => r.unwrap_or_else(|| "manual promotion".into()),
    };
    // The reason speaks of the champion the status was read against: if another
    // promotion lands before this one's transaction, refuse rather than record it wrongly.
    let from = promote_from(reg, version, &reason, Some(status_champion))?;
    Ok((from, reason))
}

/// How the audit trail marks a rollback.
const ROLLBACK_PREFIX: &str = "rollback: ";

/// What a rollback would do now: (the champion, the version it goes back to), or why it
/// cannot (the console asks before opening its confirmation).
pub fn rollback_target(conn: &rusqlite::Connection) -> Result<(u32, u32)> {
    let current: u32 = conn
        .query_row(
            "SELECT version FROM aliases WHERE alias = 'champion'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(db::sql)?
        .ok_or_else(|| ClaimsError::Usage("no champion to roll back".into()))?;
    // Promotions push onto a stack and rollbacks pop it, so repeated rollbacks walk back
    // through earlier champions (v3 -> v2 -> v1) instead of swapping the last two.
    let mut stack: Vec<u32> = vec![];
    {
        let mut st = conn
            .prepare(
                "SELECT to_version, reason FROM alias_history WHERE alias = 'champion' ORDER BY id",
            )
            .map_err(db::sql)?;
        let moves = st
            .query_map([], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?)))
            .map_err(db::sql)?;
        for m in moves {
            let (to, why) = m.map_err(db::sql)?;
            if why.starts_with(ROLLBACK_PREFIX) {
                stack.pop();
                if stack.last() != Some(&to) {
                    stack.push(to);
                }
            } else if stack.last() != Some(&to) {
                stack.push(to);
            }
        }
    }
    match stack.as_slice() {
        [.., before, last] if *last == current => Ok((current, *before)),
        _ => Err(ClaimsError::Usage(format!(
            "v{current} has no earlier champion to roll back to (rollbacks walk back through the promotions before it; `claims promote VERSION` picks any version)"
        ))),
    }
}

/// Moves the champion back to the version it replaced (again: to the one before that);
/// returns (from, to).
pub fn rollback(reg: &mut Registry, reason: &str) -> Result<(u32, u32)> {
    let (_, target) = rollback_target(&reg.conn)?;
    check_servable(reg, target)?;
    let tx = reg
        .conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(db::sql)?;
    let (current, previous) = rollback_target(&tx)?;
    if previous != target {
        return Err(ClaimsError::Usage(format!(
            "the champion moved while rollback was checking v{target}: run it again"
        )));
    }
    set_alias(
        &tx,
        "champion",
        previous,
        &current_user(),
        &format!("{ROLLBACK_PREFIX}{reason}"),
    )?;
    tx.commit().map_err(db::sql)?;
    tracing::info!(from = current, to = previous, user = %current_user(), "champion: v{current} -> v{previous} (rolled back: {reason})");
    Ok((current, previous))
}
