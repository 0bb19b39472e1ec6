//! Homes: refusing one that is not there (a mistyped --home is an error, not a new empty
//! home), and repeating the one given in the command hints a result prints.

use std::path::Path;

use serde_json::json;

use crate::cli::ScheduleAction;
use crate::config::Config;
use crate::error::{ClaimsError, Result};
use crate::schedule::units;

/// Commands that only look at a home's state, or need its champion, on a home without
/// `claims.db`: refused before anything (a database, a log folder) is created there, so a
/// mistyped --home is an error, not a new empty home.
pub fn refuse_missing_home(
    command: &crate::cli::Command,
    home: &Path,
    config: Option<&Path>,
) -> Result<()> {
    use crate::cli::Command as C;
    let reads = matches!(
        command,
        C::Drift { .. }
            | C::Feedback { .. }
            | C::Compare { .. }
            | C::Promote { .. }
            | C::Rollback { .. }
            | C::Models { .. }
            | C::Runs { .. }
            | C::Schedule {
                action: ScheduleAction::Status
            }
            // The console too: on a mistyped home it would show an empty new one.
            | C::Tui
    );
    // A scheduled scoring run needs the home's champion as `predict` does.
    let scores = matches!(&command, C::Predict { .. })
        || matches!(&command, C::Schedule { action: ScheduleAction::Trigger { job, .. } } if job == "predict");
    // `explain` reads the home's table unless a sink is given (option or config).
    let explains_home = matches!(&command, C::Explain { sink: None, .. })
        && Config::load(config).is_ok_and(|c| c.inference.sink.is_empty());
    // A scheduler started on a mistyped or unmounted home would otherwise make a new, empty
    // one and run its jobs there for as long as it runs.
    if matches!(
        &command,
        C::Schedule {
            action: ScheduleAction::Run
        }
    ) && !home.join("claims.db").is_file()
    {
        return Err(ClaimsError::Usage(format!(
            "schedule run: home '{}' has no claims.db, so the scheduler would start a new, empty home and run its jobs there (check --home or CLAIMS_HOME; to start this home, train first: `claims train --data FILE` or `claims schedule trigger train`)",
            home.display()
        )));
    }
    if (reads || scores || explains_home) && !home.join("claims.db").is_file() {
        // A home that is there but closed to this user (another account's 0700 home) is
        // not "no claims.db".
        let closed = home.is_dir() && std::fs::read_dir(home).is_err();
        let e = ClaimsError::Usage(if closed {
            format!(
                "home '{}' cannot be read by this user ({}): its owner must open it (chmod/chgrp), or run as that account",
                home.display(),
                crate::registry::current_user()
            )
        } else {
            format!(
                "home '{}' has no claims.db: no model or run is recorded there (check --home or CLAIMS_HOME; `claims train --data FILE` or `claims demo` start a home)",
                home.display()
            )
        });
        // A scheduled predict on an unmounted or mistyped home still pages.
        if let (true, Ok(cfg)) = (scores, Config::load(config)) {
            let payload = json!({"ok": false, "job": "predict", "error": e.to_string(),
                "exit_code": e.exit_code(), "home": home.to_string_lossy()});
            units::run_hook(&cfg.hooks.on_failure, &payload, cfg.hooks.timeout());
        }
        return Err(e);
    }
    Ok(())
}

/// The options a command hint must repeat to act on what this command saw: `--home`
/// when the home is neither `CLAIMS_HOME` nor the default, and `--config` when one was
/// given (a promote under other gate settings is refused). Set as
/// [`crate::HINT_ARGS`], which every printed hint then carries.
pub fn setup_args(home: &Path, config: Option<&Path>) -> String {
    let mut out = String::new();
    let implied = std::env::var_os("CLAIMS_HOME")
        .filter(|h| !h.is_empty())
        .map(|h| crate::pipeline::absolute(Path::new(&h)))
        .or_else(|| super::resolve_home(None).ok());
    if implied.as_deref() != Some(home) {
        out.push_str(&format!(
            " --home {}",
            crate::shell_word(&home.display().to_string())
        ));
    }
    if let Some(f) = config {
        out.push_str(&format!(
            " --config {}",
            crate::shell_word(&crate::pipeline::absolute(f).display().to_string())
        ));
    }
    out
}

/// What to do about a date without drift: its scoring run failed or is running (named,
/// with the command that shows it), or nothing scored it yet (the command that does).
pub(super) fn no_drift_hint(home: &Path, date: &str) -> String {
    let last = crate::registry::db::open(&home.join("claims.db"))
        .and_then(|c| crate::registry::runs::last_for_date(&c, "predict", date))
        .ok()
        .flatten();
    match last {
        Some(r) if crate::registry::runs::looks_dead(home, &r) => format!(
            "its scoring run {} was stopped before it finished (killed?): `claims runs {}` shows its last stage",
            r.run_id, r.run_id
        ),
        Some(r) if r.status == "running" => {
            format!("its scoring run {} is still running", r.run_id)
        }
        Some(r) if r.status != "succeeded" => format!(
            "its scoring run {} {}: `claims runs {}` shows why",
            r.run_id, r.status, r.run_id
        ),
        _ => format!("score it first: `claims predict --data FILE --date {date}`"),
    }
}

#[cfg(test)]
mod tests {
    /// The options a hint repeats: --home and --config as given (quoted for a shell when
    /// needed); nothing for the implied home without a config.
    #[test]
    fn hints_repeat_the_home_and_config_given() {
        let mut cfg = crate::config::Config::from_overlay("").unwrap();
        let home = std::path::Path::new("/srv/claims h");
        cfg.extra_file = Some("/etc/claims/gate's.toml".into());
        assert_eq!(
            super::setup_args(home, cfg.extra_file.as_deref()),
            " --home '/srv/claims h' --config '/etc/claims/gate'\\''s.toml'"
        );
        // Inserted into each hint naming a subcommand; a hint with its own --home is kept;
        // inside JSON text the options are JSON-escaped.
        let args = super::setup_args(home, cfg.extra_file.as_deref());
        let text = "passed (`claims promote v2`; `claims --home /x predict ...`)";
        assert_eq!(
            crate::insert_hint_args(text, &args, false),
            format!("passed (`claims{args} promote v2`; `claims --home /x predict ...`)")
        );
        let json = serde_json::json!({ "m": text }).to_string();
        let back = crate::insert_hint_args(&json, r#" --home '/a "b"'"#, true);
        let v: serde_json::Value = serde_json::from_str(&back).unwrap();
        assert!(
            v["m"]
                .as_str()
                .unwrap()
                .starts_with(r#"passed (`claims --home '/a "b"' promote v2`"#),
            "{back}"
        );
        // A path that would run a command if pasted unquoted stays one word.
        assert_eq!(
            crate::shell_word("/a'$(touch x)'"),
            r#"'/a'\''$(touch x)'\'''"#
        );
        cfg.extra_file = None;
        let implied = super::super::resolve_home(None).unwrap();
        if std::env::var_os("CLAIMS_HOME").is_none() {
            assert_eq!(super::setup_args(&implied, None), "");
        }
    }
}
