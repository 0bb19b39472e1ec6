//! Bakes the folder of the XGBoost shared library into the binary's run path, so `claims`
//! (and a `cargo install`ed copy) starts without LD_LIBRARY_PATH, and records the git
//! commit for model manifests.
fn main() {
    println!("cargo:rerun-if-env-changed=XGBOOST_LIB_DIR");
    println!("cargo:rerun-if-env-changed=CLAIMS_XGB_RPATH");
    // CLAIMS_XGB_RPATH wins (the source-build route copies its library there);
    // otherwise the prebuilt library's own folder.
    let dir = std::env::var("CLAIMS_XGB_RPATH")
        .ok()
        .or_else(|| std::env::var("XGBOOST_LIB_DIR").ok())
        .filter(|d| !d.is_empty());
    if let Some(dir) = dir {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    // Then `lib/xgboost/lib` beside the binary's folder: `make install-system` puts the
    // library there (with the wheel's OpenMP in `lib/xgboost_cpu.libs`, where the library
    // looks for it), for service accounts that cannot read the build's folder (the loader
    // skips a run path it cannot open and tries the next).
    println!("cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN/../lib/xgboost/lib");
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    if let Some(c) = git(&["rev-parse", "--short=12", "HEAD"]) {
        // Built from a tree with uncommitted changes to tracked files: say so, so a
        // manifest never names a commit that did not produce the model.
        let dirty =
            git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
        let suffix = if dirty { "-dirty" } else { "" };
        println!("cargo:rustc-env=CLAIMS_GIT_COMMIT={c}{suffix}");
    }
    // A commit moves the branch's ref, not HEAD; edits and staging change the rest.
    println!("cargo:rerun-if-changed=.git/HEAD");
    if let Ok(head) = std::fs::read_to_string(".git/HEAD")
        && let Some(r) = head.trim().strip_prefix("ref: ")
    {
        println!("cargo:rerun-if-changed=.git/{r}");
    }
    // (A path that does not exist would make every build rerun this script.)
    for f in [".git/packed-refs", ".git/index"] {
        if std::path::Path::new(f).exists() {
            println!("cargo:rerun-if-changed={f}");
        }
    }
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=build.rs");
}
