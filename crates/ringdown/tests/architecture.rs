//! The layering ARCHITECTURE.md promises, checked against the manifests and
//! sources so a change that breaks it fails here rather than in review.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn manifest(krate: &str) -> toml::Table {
    let text = std::fs::read_to_string(root().join("crates").join(krate).join("Cargo.toml"))
        .unwrap_or_else(|e| panic!("{krate}/Cargo.toml: {e}"));
    text.parse().unwrap()
}

fn dependencies(krate: &str, section: &str) -> Vec<String> {
    manifest(krate)
        .get(section)
        .and_then(|d| d.as_table())
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default()
}

fn crates() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root().join("crates"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().filter_map(|e| e.ok()) {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                out.push((p, text));
            }
        }
    }
    out
}

#[test]
fn the_core_has_no_io_no_clock_no_tokio_and_no_aws() {
    let deps = dependencies("ringdown-core", "dependencies");
    for banned in ["tokio", "reqwest", "hyper", "rusqlite"] {
        assert!(
            !deps.iter().any(|d| d == banned),
            "core depends on {banned}"
        );
    }
    assert!(
        !deps.iter().any(|d| d.starts_with("aws-")),
        "core depends on an AWS crate: {deps:?}"
    );
    // chrono without its `clock` feature has no `Utc::now`: the compiler
    // keeps the core from reading the clock.
    let workspace: toml::Table = std::fs::read_to_string(root().join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let chrono = &workspace["workspace"]["dependencies"]["chrono"];
    assert_eq!(chrono["default-features"].as_bool(), Some(false));
    let core_chrono = &manifest("ringdown-core")["dependencies"]["chrono"];
    assert!(
        core_chrono.get("features").is_none(),
        "the core must not turn chrono's clock on"
    );
    for (path, text) in sources(&root().join("crates/ringdown-core/src")) {
        for io in [
            "std::fs",
            "std::net",
            "std::process",
            "SystemTime::now",
            "Instant::now",
        ] {
            assert!(!text.contains(io), "{} uses {io}", path.display());
        }
    }
}

#[test]
fn only_ringdown_aws_reaches_aws_and_it_reexports_no_sdk() {
    // connect-sim and the proof stage play AWS's other side in tests.
    let allowed = ["ringdown-aws", "connect-sim", "ringdown-proof"];
    for krate in crates() {
        let deps = dependencies(&krate, "dependencies");
        let sdk: Vec<_> = deps.iter().filter(|d| d.starts_with("aws-sdk-")).collect();
        assert!(
            sdk.is_empty() || allowed.contains(&krate.as_str()),
            "{krate} depends on {sdk:?}: reach AWS through ringdown-aws"
        );
    }
    let lib = std::fs::read_to_string(root().join("crates/ringdown-aws/src/lib.rs")).unwrap();
    assert!(
        !lib.lines()
            .any(|l| l.trim_start().starts_with("pub use aws_")),
        "ringdown-aws re-exports an SDK crate"
    );
    for (path, text) in sources(&root().join("crates/ringdown/src")) {
        assert!(
            !text.contains("aws_sdk_") && !text.contains("aws_config"),
            "{} names an AWS SDK crate: the binary makes no SDK call",
            path.display()
        );
    }
}

#[test]
fn the_daemon_links_neither_the_simulator_nor_the_test_stage() {
    let deps = dependencies("ringdown", "dependencies");
    for test_only in ["connect-sim", "ringdown-proof"] {
        assert!(
            !deps.iter().any(|d| d == test_only),
            "ringdown links {test_only}"
        );
    }
}
