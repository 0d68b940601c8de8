//! Any string into `phone::validate_e164` and `phone::mask`.
//!
//! Asserts: `validate_e164` accepts exactly `+`, a non-zero digit, 8–15 ASCII
//! digits in all (checked against an independent reading of the rule); its
//! errors start with the masked number and never contain the input itself;
//! `mask` never reveals more than `+`, the two digits after it (the country
//! code, or its first two digits) and the last four digits of a number, and
//! reveals nothing at all of anything that is not `+` and digits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringdown_core::phone::{mask, validate_e164};

fn is_e164(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 9
        && b.len() <= 16
        && b[0] == b'+'
        && (b'1'..=b'9').contains(&b[1])
        && b[2..].iter().all(u8::is_ascii_digit)
}

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let s = s.as_ref();
    let m = mask(s);
    let chars: Vec<char> = s.chars().collect();
    let masked: Vec<char> = m.chars().collect();

    // What is revealed: only '+' and digits, in place, at the head (3) or tail (4).
    let looks_like_number = chars.first() == Some(&'+')
        && chars.len() >= 8
        && chars[1..].iter().all(char::is_ascii_digit);
    if looks_like_number {
        assert_eq!(masked.len(), chars.len(), "{s:?} -> {m:?}");
        for (i, (&c, &k)) in chars.iter().zip(&masked).enumerate() {
            if i < 3 || i >= chars.len() - 4 {
                assert_eq!(c, k, "{s:?} -> {m:?}");
            } else {
                assert_eq!(k, '*', "digit {i} of {s:?} revealed: {m:?}");
            }
        }
        assert_eq!(m.chars().filter(char::is_ascii_digit).count(), 6);
    } else {
        assert!(m.chars().all(|c| c == '*'), "{s:?} revealed in {m:?}");
        assert!((4..=16).contains(&masked.len()));
    }

    match validate_e164(s) {
        Ok(()) => assert!(is_e164(s), "accepted {s:?}"),
        Err(e) => {
            assert!(!is_e164(s), "rejected {s:?}: {e}");
            assert!(e.starts_with(&format!("`{m}`")), "{e}");
            if s.chars().filter(char::is_ascii_digit).count() >= 7 {
                // The example number in the message aside, the input never appears.
                let without_example = e.replace("+81312345678", "");
                assert!(!without_example.contains(s), "{s:?} leaked: {e}");
            }
        }
    }
});
