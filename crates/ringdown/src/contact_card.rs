//! `ringdown roster contact-card`: a vCard (RFC 6350, version 4.0) of the
//! numbers ringdown calls from. An engineer saves it and turns on Emergency
//! Bypass for it, so a page rings through Do Not Disturb, Focus and the
//! silent switch; without that, iPhone's Repeated Calls still lets a second
//! call from the same number within three minutes through, which is why
//! every attempt comes from the same caller number.

use ringdown_core::phone::{mask, validate_e164};

/// The card's default name, as the phone shows it when ringdown calls.
pub const DEFAULT_NAME: &str = "ringdown on-call";

const NOTE: &str = "ringdown calls from these numbers when an alert needs you. \
Turn on Emergency Bypass for this contact (iPhone: Contacts, this card, Edit, \
Ringtone, Emergency Bypass; Android: mark it a starred or priority contact) \
so a page rings through Do Not Disturb and Focus.";

/// The card for `numbers` (E.164, at least one) under `name`.
pub fn render(name: &str, numbers: &[String]) -> Result<String, String> {
    if numbers.is_empty() {
        return Err("no caller number: set [aws] source_phone_number, or give --number".into());
    }
    for n in numbers {
        validate_e164(n).map_err(|e| format!("caller number {}: {e}", mask(n)))?;
    }
    let mut lines = vec![
        "BEGIN:VCARD".to_string(),
        "VERSION:4.0".to_string(),
        format!("FN:{}", escape(name)),
        format!("N:;{};;;", escape(name)),
        "ORG:ringdown".to_string(),
    ];
    for n in numbers {
        lines.push(format!("TEL;TYPE=voice:{n}"));
    }
    lines.push(format!("NOTE:{}", escape(NOTE)));
    lines.push("END:VCARD".to_string());
    Ok(lines.iter().map(|l| fold(l)).collect())
}

/// RFC 6350 §3.4: backslash, comma, semicolon and newline escaped in text.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ',' => out.push_str("\\,"),
            ';' => out.push_str("\\;"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// RFC 6350 §3.2: lines end in CRLF and are folded to at most 75 octets,
/// a continuation starting with one space, never inside a UTF-8 sequence.
fn fold(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 8);
    let mut width = 0;
    for c in line.chars() {
        let n = c.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += n;
    }
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_card_lists_every_caller_number_with_lines_as_rfc_6350_wants() {
        let card = render(
            "当番, on-call; SRE",
            &["+81312345678".to_string(), "+14155550100".to_string()],
        )
        .unwrap();
        assert!(card.starts_with("BEGIN:VCARD\r\nVERSION:4.0\r\n"), "{card}");
        assert!(card.ends_with("END:VCARD\r\n"));
        assert!(card.contains("\r\nFN:当番\\, on-call\\; SRE\r\n"), "{card}");
        assert!(card.contains("\r\nTEL;TYPE=voice:+81312345678\r\n"));
        assert!(card.contains("\r\nTEL;TYPE=voice:+14155550100\r\n"));
        assert!(card.contains("Emergency Bypass"));
        for line in card.split("\r\n") {
            assert!(line.len() <= 75, "{} octets: {line}", line.len());
            assert!(!line.contains('\n'), "{line:?}");
        }
        // Unfolding gives the note back whole.
        let unfolded = card.replace("\r\n ", "");
        assert!(unfolded.contains(&format!("NOTE:{}", escape(NOTE))));
    }

    #[test]
    fn folding_never_cuts_a_character_in_two() {
        let long = format!("NOTE:{}", "あ".repeat(60));
        let folded = fold(&long);
        assert_eq!(folded.replace("\r\n ", "").trim_end(), long);
        for line in folded.split("\r\n") {
            assert!(line.len() <= 75, "{}", line.len());
        }
    }

    #[test]
    fn a_card_needs_a_valid_caller_number() {
        assert!(render(DEFAULT_NAME, &[])
            .unwrap_err()
            .contains("source_phone_number"));
        let err = render(DEFAULT_NAME, &["0312345678".to_string()]).unwrap_err();
        assert!(err.starts_with("caller number"), "{err}");
        assert!(!err.contains("0312345678"), "masked: {err}");
    }
}
