//! Any bytes into `parse::parse` (and `parse_with` under tight limits).
//!
//! Asserts: the result is `Ok` or a `ParseError` with a snake_case reason code
//! and a message; parsing is deterministic (the same bytes give the same
//! alerts and fingerprints); accepted alerts respect the `Limits` (count, label
//! and annotation count, name and value sizes), have no empty label values,
//! and a non-sender fingerprint is the Prometheus fingerprint of the labels;
//! what tight limits accept, the default limits accept with the same identity;
//! the webhook fast path agrees exactly with the general path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringdown_core::parse::{self, Limits};
use ringdown_fuzz::{check_fast_path, check_result, identity, tight_limits};

fuzz_target!(|data: &[u8]| {
    let default = Limits::default();
    let first = parse::parse(data);
    check_result(&first, &default);
    assert_eq!(first, parse::parse(data), "parse is not deterministic");
    check_fast_path(data, &default);

    let tight = tight_limits();
    let small = parse::parse_with(data, &tight);
    check_result(&small, &tight);
    check_fast_path(data, &tight);

    if let Ok(small) = &small {
        let Ok(full) = &first else {
            panic!("accepted under tight limits, rejected under the default: {first:?}");
        };
        assert_eq!(small.len(), full.len());
        for (s, f) in small.iter().zip(full) {
            assert_eq!(identity(s), identity(f));
        }
    }
});
