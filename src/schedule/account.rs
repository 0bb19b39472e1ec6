//! The account a systemd service runs as (`schedule print --systemd --user NAME`): its
//! name checked as systemd reads it, and looked up here to warn before the unit is
//! installed (another machine may have the account, so a miss is a warning).

use std::path::Path;

use crate::error::{ClaimsError, Result};

/// A name systemd accepts in `User=`: a numeric id as systemd writes one (no leading
/// zero; not 65535 or 4294967295, which mean "no user"), or a letter or `_` followed by
/// letters, digits, `_`, `-` or `.`, at most 31 characters (systemd's portable names).
pub fn check_account_name(name: &str) -> Result<()> {
    let b = name.as_bytes();
    let numeric = !b.is_empty()
        && b.iter().all(u8::is_ascii_digit)
        && (b == b"0" || b[0] != b'0')
        && name
            .parse::<u32>()
            .is_ok_and(|id| id != 65535 && id != u32::MAX);
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
            "--user '{}': expected an account name (a letter or '_', then letters, digits, '_', '-' or '.', at most 31 characters) or a numeric user id (no leading zero, not 65535 or 4294967295)",
            name.escape_debug()
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

/// What to say before the units are installed: no `User=` (or root's) while printing as
/// root (a system-wide service would run as root), an account this machine lacks, or a
/// home whose folder or files the account does not own (its jobs could not write their
/// runs, locks, logs and models there).
pub fn account_warnings(user: Option<&str>, home: &Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let as_root = "installed system-wide these services run as root; give --user NAME (the account that owns the home)";
    let mut out = vec![];
    match user {
        None if unsafe { libc::geteuid() } == 0 => {
            out.push(format!("these services have no User=: {as_root}"))
        }
        None => {}
        Some(name) => match uid_of(name) {
            None => out.push(format!(
                "this machine has no account named '{name}': systemd will not start the services here until it has"
            )),
            // Root may write anywhere: only the warning that the jobs run as root.
            Some(0) => out.push(format!("--user {name} is root: {as_root}")),
            Some(uid) => {
                let other = home_entries(home).into_iter().find_map(|p| {
                    let m = std::fs::symlink_metadata(&p).ok()?;
                    (m.uid() != uid).then_some((p, m.uid()))
                });
                if let Some((p, owner)) = other {
                    out.push(format!(
                        "'{}' is owned by user id {owner}, not by '{name}' (user id {uid}): its jobs could not write there (sudo chown -R {name} {})",
                        p.display(),
                        crate::shell_word(&home.display().to_string())
                    ));
                }
            }
        },
    }
    out
}

/// The home and what its jobs write into, where they exist: the database and its log
/// files, and what lies in `locks/`, `logs/`, `models/` and `reports/` (two levels under
/// `models/`: each version's files), so a file a root run left behind is found before the
/// jobs trip on it.
fn home_entries(home: &Path) -> Vec<std::path::PathBuf> {
    let list = |dir: &Path| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir)
            .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default()
    };
    let mut out = vec![home.to_path_buf()];
    out.extend(["claims.db", "claims.db-wal", "claims.db-shm"].map(|f| home.join(f)));
    for dir in ["locks", "logs", "models", "reports"] {
        out.push(home.join(dir));
        out.extend(list(&home.join(dir)));
    }
    for version in list(&home.join("models")) {
        out.extend(list(&version));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names_are_checked_as_systemd_reads_them() {
        for ok in ["claims", "svc_claims-1.a", "_x", "1001", "0"] {
            assert!(check_account_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-x",
            "a b",
            "root\nUser=x",
            "1x$",
            &"a".repeat(32),
            "007",
            "65535",
            "4294967295",
            "99999999999",
        ] {
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

    /// An account this machine lacks is said; a home (or a file in it) owned by another
    /// account is named (both looked up, not assumed); root is told it is root.
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
        let own = account_warnings(Some(&owner.to_string()), dir.path());
        assert!(own.iter().all(|w| w.contains("is root")), "{own:?}");
        let other = (owner + 1).to_string();
        let w = account_warnings(Some(&other), dir.path());
        assert!(
            w[0].contains("not by") && w[0].contains("chown -R"),
            "{w:?}"
        );
        // Root owning the home is not told it cannot write there, only that it is root.
        let w = account_warnings(Some("0"), dir.path());
        assert!(w.len() == 1 && w[0].contains("is root"), "{w:?}");
        // A file inside the home owned by another account is named (the folder is fine).
        if owner == 0 {
            let home = dir.path().join("h");
            std::fs::create_dir_all(home.join("logs")).unwrap();
            std::fs::write(home.join("logs/claims.log"), "").unwrap();
            std::os::unix::fs::chown(&home, Some(4242), None).unwrap();
            std::os::unix::fs::chown(home.join("logs"), Some(4242), None).unwrap();
            let w = account_warnings(Some("4242"), &home);
            assert!(
                w[0].contains("logs/claims.log' is owned by user id 0"),
                "{w:?}"
            );
        }
        if let Some(uid) = uid_of("root") {
            assert_eq!(uid, 0);
        }
    }
}
