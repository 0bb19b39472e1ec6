//! Tests of the registry.

/// A registration that fails while staging its files (here a file stands where a
/// folder must go; in life, a full disk) leaves no staged files behind to hold the
/// space the next attempt needs, and registers nothing.
#[test]
fn a_failed_registration_leaves_no_staged_files() {
    let home = tempfile::tempdir().unwrap();
    let mut reg = super::Registry::open(home.path()).unwrap();
    let manifest = super::Manifest::for_test("train-x");
    let files = [
        ("model.json", b"{}".to_vec()),
        ("report", b"a file".to_vec()),
        ("report/roc.png", b"png".to_vec()),
    ];
    assert!(
        reg.register(manifest.clone(), &files, 0.9, "none", 0.5)
            .is_err()
    );
    let left: Vec<_> = std::fs::read_dir(home.path().join("models"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(reg.list().unwrap().is_empty());
    // Registered, each manifest names the champion of its time (its lineage).
    let files = [("model.json", b"{}".to_vec())];
    for (want_role, want_parent) in [("champion", None), ("challenger", Some(1))] {
        let (v, role) = reg
            .register(manifest.clone(), &files, 0.9, "none", 0.5)
            .unwrap();
        assert_eq!(role, want_role);
        assert_eq!(reg.manifest(v).unwrap().champion_at_training, want_parent);
    }
}

/// Without USER or LOGNAME the audit trail still names the user (from the uid).
#[cfg(target_os = "linux")]
#[test]
fn the_user_is_found_from_the_uid() {
    let name = super::user_from_uid().unwrap();
    assert!(!name.is_empty() && name != "unknown", "{name}");
    if let Ok(user) = std::env::var("USER")
        && !user.is_empty()
        && !name.starts_with("uid ")
    {
        assert_eq!(name, user);
    }
}
