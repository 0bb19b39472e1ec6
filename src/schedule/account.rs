//! The account a systemd service runs as (`schedule print --systemd --user NAME`): its
//! name checked as systemd reads it, and looked up here to warn before the unit is
//! installed (another machine may have the account, so a miss is a warning).

use std::path::Path;

use crate::error::{ClaimsError, Result};

/// A name systemd accepts in `User=`: a numeric id, or a letter or `_` followed by
/// letters, digits, `_`, `-` or `.`, at most 31 characters (systemd's portable names).
pub fn check_account_name(name: &str) -> Result<()> {
    let b = name.as_bytes();
    let numeric = !b.is_empty() && b.iter().all(u8::is_ascii_digit);
    let portable = !b.is_empty()
        && b.len() <= 31
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_-.".contains(c));
    if numeric || portable {
        Ok(())
    } else {
        Err(ClaimsError::Usage(format!(
            "--user '{}': expected an account name (a letter or '_', then letters, digits, '_', '-' or '.', at most 31 characters) or a numeric user id",
            name
        )))
    }
}

/// The account's user id, when this machine has it (a numeric name is its own id).
fn uid_of(name: &str) -> Option<u32> {
    if let Ok(id) = name.parse::<u32>() {
        return Some(id);
    }
    let c = std::ffi::CString::new(name).ok()?;
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is to a live local of the size given; getpwnam_r writes the
    // entry's strings into `buf` and sets `out` to `&pw` or null.
    let rc =
        unsafe { libc::getpwnam_r(c.as_ptr(), &mut pw, buf.as_mut_ptr(), buf.len(), &mut out) };
    (rc == 0 && !out.is_null()).then_some(pw.pw_uid)
}

/// What to say before the units are installed: no `User=` while printing as root (a
/// system-wide service would run as root), an account this machine lacks, or a home
/// the account does not own (its jobs could not write their runs and models there).
pub fn account_warnings(user: Option<&str>, home: &Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut out = vec![];
    match user {
        None if unsafe { libc::geteuid() } == 0 => out.push(
            "these services have no User=: installed system-wide they run as root; give --user NAME (the account that owns the home)".to_string(),
        ),
        None => {}
        Some(name) => match uid_of(name) {
            None => out.push(format!(
                "this machine has no account named '{}': systemd will not start the services here until it has",
                name
            )),
            Some(uid) => {
                if let Ok(m) = std::fs::metadata(home)
                    && m.uid() != uid
                {
                        out.push(format!(
                            "home '{}' is owned by user id {}, not by '{name}' (user id {uid}): its jobs could not write there (sudo chown -R {name} '{}')",
                            home.display(),
                            m.uid(),
                            home.display()
                        ));
                }
            }
        },
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names_are_checked_as_systemd_reads_them() {
        for ok in ["claims", "svc_claims-1.a", "_x", "1001"] {
            assert!(check_account_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x", "a b", "root\nUser=x", "1x$", &"a".repeat(32)] {
            let e = check_account_name(bad).unwrap_err().to_string();
            assert!(e.contains("expected an account name"), "{bad}: {e}");
        }
    }

    /// `--user` lands in each service (not in the timers); a name systemd would read as
    /// more than a name is refused before any unit is made.
    #[test]
    fn services_carry_the_user_given() {
        let cfg = crate::config::Config::from_overlay("").unwrap().schedule;
        let bin = Path::new("/usr/bin/claims");
        let units =
            crate::schedule::units::systemd(&cfg, bin, Path::new("/srv/h"), None, Some("claims"))
                .unwrap();
        for (name, body) in &units {
            let has = body.lines().any(|l| l == "User=claims");
            assert_eq!(has, name.ends_with(".service"), "{name}: {body}");
        }
        let e = crate::schedule::units::systemd(
            &cfg,
            bin,
            Path::new("/srv/h"),
            None,
            Some("x\nExecStartPre=/bin/sh"),
        );
        assert!(e.is_err());
    }

    /// An account this machine lacks is said; root owning a folder that `nobody` would
    /// run in is said too (both looked up, not assumed).
    #[test]
    fn warnings_name_a_missing_account_and_a_home_it_does_not_own() {
        let dir = tempfile::tempdir().unwrap();
        let w = account_warnings(Some("no-such-account-claims"), dir.path());
        assert!(
            w[0].contains("no account named 'no-such-account-claims'"),
            "{w:?}"
        );
        use std::os::unix::fs::MetadataExt;
        let owner = std::fs::metadata(dir.path()).unwrap().uid();
        assert!(account_warnings(Some(&owner.to_string()), dir.path()).is_empty());
        let other = (owner + 1).to_string();
        let w = account_warnings(Some(&other), dir.path());
        assert!(
            w[0].contains("not by") && w[0].contains("chown -R"),
            "{w:?}"
        );
        if let Some(uid) = uid_of("root") {
            assert_eq!(uid, 0);
        }
    }
}
