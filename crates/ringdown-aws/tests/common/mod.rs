//! Shared helpers of the moto-backed tests.
//!
//! Tests that need moto read `RINGDOWN_TEST_MOTO_URL` (see
//! `tests/emulators.sh`). Without it they print a loud skip notice and pass,
//! unless `RINGDOWN_REQUIRE_EMULATORS=1` (CI), in which case they fail.
//! moto keeps all state in one process: every test uses its own names.

#![allow(dead_code)]

use aws_config::SdkConfig;

/// The moto URL, or None after a loud skip notice (a panic when emulators
/// are required).
pub fn moto_url(test: &str) -> Option<String> {
    match std::env::var("RINGDOWN_TEST_MOTO_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            if std::env::var("RINGDOWN_REQUIRE_EMULATORS").as_deref() == Ok("1") {
                panic!("{test}: RINGDOWN_REQUIRE_EMULATORS=1 but RINGDOWN_TEST_MOTO_URL is not set (run tests/emulators.sh start)");
            }
            eprintln!(
                "\n!!!!!!!! {test}: SKIPPED: needs moto (eval \"$(tests/emulators.sh start)\") !!!!!!!!\n"
            );
            None
        }
    }
}

/// The SDK configuration for moto, or None (skipped).
pub fn moto(test: &str) -> Option<SdkConfig> {
    moto_url(test).map(|u| ringdown_aws::clients::test_sdk_config(&u))
}

/// A name prefix no other test (or earlier run against the same moto) uses.
pub fn unique_prefix(tag: &str) -> String {
    use rand::Rng;
    let n: u32 = rand::thread_rng().gen();
    format!("t{n:08x}-{tag}-")
}
