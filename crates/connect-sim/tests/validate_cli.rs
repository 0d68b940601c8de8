//! The `connect-sim validate` command: the flows in `contact-flows/` pass,
//! a broken flow exits 2 and names the action.

use serde_json::{json, Value};

fn base() -> Value {
    let path = format!(
        "{}/../../contact-flows/ringdown-en-US.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn action<'a>(flow: &'a mut Value, id: &str) -> &'a mut Value {
    flow["Actions"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|a| a["Identifier"] == id)
        .unwrap()
}

#[test]
fn cli_exit_code_2_on_invalid() {
    let dir = std::env::temp_dir().join(format!("connect-sim-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    let mut f = base();
    action(&mut f, "say-ack")["Type"] = json!("Nope");
    std::fs::write(&bad, f.to_string()).unwrap();
    let good = format!(
        "{}/../../contact-flows/ringdown-ja-JP.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let exe = env!("CARGO_BIN_EXE_connect-sim");
    let out = std::process::Command::new(exe)
        .args(["validate", &good])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = std::process::Command::new(exe)
        .args(["validate", &good, bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("action `say-ack`"), "{stderr}");
}
