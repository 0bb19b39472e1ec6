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
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if let Some(c) = commit {
        println!("cargo:rustc-env=CLAIMS_GIT_COMMIT={c}");
    }
    println!("cargo:rerun-if-changed=.git/HEAD");
}
