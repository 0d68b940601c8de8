//! Any text into `ssml::escape` and `ssml::render_message`.
//!
//! Input: byte 0 flags (bit 0: English, bit 1: a huge alert count), bytes 1–2
//! the character budget (u16, little endian), byte 3 the alert count, then
//! UTF-8 text (lossy) split on NUL into the title and the details, so seeds are
//! readable files.
//!
//! Asserts: `escape` leaves no `<`, `>`, `"`, `'` and no `&` that does not
//! start one of the five entities, no control characters, and unescaping gives
//! back the text exactly (less control characters); `render_message` is one
//! `<speak>…</speak>` document within its budget whose body has no `<` or `>`
//! and only entity `&`s, so alert text such as `<break time="60s"/>` or
//! `<audio src=...>` is never markup; with room enough the whole title is
//! spoken (nothing lost to escaping), and an injected `<break time="60s"/>`
//! appears escaped.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringdown_core::ssml::{escape, render_message, MIN_MESSAGE_CHARS};
use ringdown_core::Language;

const ENTITIES: [(&str, char); 5] = [
    ("&amp;", '&'),
    ("&lt;", '<'),
    ("&gt;", '>'),
    ("&quot;", '"'),
    ("&apos;", '\''),
];

/// The specification of the cleaning `escape` does: newlines and tabs become
/// spaces; other controls and U+FFFE/U+FFFF go.
fn cleaned(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            '\n' | '\r' | '\t' => Some(' '),
            '\u{FFFE}' | '\u{FFFF}' => None,
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

/// Checks `s` is escaped text and returns it unescaped.
fn unescape(s: &str) -> String {
    assert!(
        !s.contains(['<', '>', '"', '\'']),
        "markup character left in {s:?}"
    );
    assert!(
        !s.chars().any(char::is_control),
        "control character in {s:?}"
    );
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some((e, c)) = ENTITIES.iter().find(|(e, _)| rest.starts_with(e)) else {
            panic!("bare & in {s:?}");
        };
        out.push(*c);
        rest = &rest[e.len()..];
    }
    out.push_str(rest);
    out
}

/// Checks the document and returns its body, unescaped.
fn body(m: &str, max: usize) -> String {
    assert!(
        m.chars().count() <= max.max(MIN_MESSAGE_CHARS),
        "over budget {max}: {m:?}"
    );
    assert!(m.starts_with("<speak>") && m.ends_with("</speak>"), "{m:?}");
    assert_eq!(m.matches('<').count(), 2, "markup in {m:?}");
    let lower = m.to_lowercase();
    assert!(
        !lower.contains("<break") && !lower.contains("<audio"),
        "{m:?}"
    );
    unescape(&m["<speak>".len()..m.len() - "</speak>".len()])
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let lang = if data[0] & 1 == 1 {
        Language::EnUs
    } else {
        Language::JaJp
    };
    let count = if data[0] & 2 == 2 {
        usize::MAX
    } else {
        usize::from(data[3])
    };
    let max = usize::from(u16::from_le_bytes([data[1], data[2]]));
    let text = String::from_utf8_lossy(&data[4..]);
    let mut parts = text.split('\0').map(String::from);
    let title = parts.next().unwrap_or_default();
    let details: Vec<String> = parts.collect();

    for t in std::iter::once(&title).chain(&details) {
        assert_eq!(unescape(&escape(t)), cleaned(t), "escape lost text");
    }

    body(&render_message(lang, &title, &details, count, max), max);

    // With room for everything, every word of the title is spoken.
    let roomy = 1 << 20;
    let spoken = body(&render_message(lang, &title, &details, count, roomy), roomy);
    let want = cleaned(&title)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(spoken.contains(&want), "{want:?} not in {spoken:?}");

    // Alert text trying to inject SSML is read out, escaped.
    for attack in [r#"<break time="60s"/>"#, r#"<audio src="x"/>"#] {
        let t = format!("{title}{attack}");
        let m = render_message(lang, &t, &details, count, roomy);
        body(&m, roomy);
        assert!(m.contains(&escape(attack)), "{m:?}");
    }
});
