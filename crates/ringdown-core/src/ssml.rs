//! What the call says, as SSML for the contact flow's `rd_message` attribute.
//!
//! Alert text comes from whoever can post to the queue, so it is *always*
//! escaped: `<break time="60s"/>`, `<audio src=...>` or a stray `&` in an alert
//! is read out literally, never interpreted by Polly. The only tags in the output
//! are the `<speak>` root this module writes itself.

use crate::alert::Language;

/// Length of the smallest document, `<speak></speak>`; a smaller `max_chars`
/// is raised to this.
pub const MIN_MESSAGE_CHARS: usize = 15;

const OPEN: &str = "<speak>";
const CLOSE: &str = "</speak>";
const ELLIPSIS: char = '…';

/// Control characters are dropped (newlines and tabs become spaces), as are
/// the non-characters XML forbids.
fn clean(c: char) -> Option<char> {
    match c {
        '\n' | '\r' | '\t' => Some(' '),
        '\u{FFFE}' | '\u{FFFF}' => None,
        c if c.is_control() => None,
        c => Some(c),
    }
}

fn entity(c: char) -> Option<&'static str> {
    match c {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        '"' => Some("&quot;"),
        '\'' => Some("&apos;"),
        _ => None,
    }
}

/// Characters `c` takes once escaped.
fn escaped_len(c: char) -> usize {
    entity(c).map_or(1, str::len)
}

fn push_escaped(out: &mut String, c: char) {
    match entity(c) {
        Some(e) => out.push_str(e),
        None => out.push(c),
    }
}

/// Escapes `& < > " '` for SSML and strips control characters.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars().filter_map(clean) {
        push_escaped(&mut out, c);
    }
    out
}

/// Cleaned text with runs of whitespace collapsed, ended as a sentence.
fn sentence(text: &str, stop: &str) -> Option<String> {
    let cleaned: String = text.chars().filter_map(clean).collect();
    let mut s = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.is_empty() {
        return None;
    }
    if !s.ends_with(['。', '.', '!', '?', '！', '？']) {
        s.push_str(stop);
    }
    Some(s)
}

struct Wording {
    intro: &'static str,
    stop: &'static str,
    sep: &'static str,
    count: String,
}

fn wording(lang: Language, alert_count: usize) -> Wording {
    match lang {
        Language::JaJp => Wording {
            intro: "障害アラートです。",
            stop: "。",
            sep: "",
            count: format!("関連アラート {alert_count} 件。"),
        },
        Language::EnUs => Wording {
            intro: "Alert.",
            stop: ".",
            sep: " ",
            count: format!("{alert_count} related alerts."),
        },
    }
}

/// The complete `<speak>` document read on the call: an intro, the title, the
/// details, and (for more than one alert) how many alerts the incident holds.
///
/// The result is at most `max(max_chars, MIN_MESSAGE_CHARS)` characters. When
/// the text does not fit, the last sentence that fits partly is cut on a
/// character boundary *before* escaping and ends in `…`, so no entity or tag is
/// ever split; later details are dropped. With very small budgets the count and
/// then the intro are left out before the title is.
pub fn render_message(
    lang: Language,
    title: &str,
    details: &[String],
    alert_count: usize,
    max_chars: usize,
) -> String {
    let w = wording(lang, alert_count);
    let count = (alert_count > 1).then_some(w.count.as_str());
    render(&w, w.intro, title, details, count, max_chars).0
}

/// The `<speak>` document read when the engineer presses 3: `heading`
/// ("The 30 incidents of this storm."), then one sentence per item, cut
/// like [`render_message`] to `max_chars`; items that do not fit are
/// summed up as "and N more".
pub fn render_list(lang: Language, heading: &str, items: &[String], max_chars: usize) -> String {
    let w = wording(lang, 0);
    let items: Vec<String> = items
        .iter()
        .filter(|i| sentence(i, w.stop).is_some())
        .cloned()
        .collect();
    let (whole, full) = render(&w, "", heading, &items, None, max_chars);
    if full > items.len() {
        return whole;
    }
    // Not every item fits: leave room to say how many are not read.
    for keep in (0..=full.saturating_sub(1).min(items.len())).rev() {
        let more = match lang {
            Language::JaJp => format!("ほか{}件。", items.len() - keep),
            Language::EnUs => format!("And {} more.", items.len() - keep),
        };
        let (out, full) = render(&w, "", heading, &items[..keep], Some(&more), max_chars);
        if full > keep && out.contains(&*escape(&more)) {
            return out;
        }
    }
    whole
}

fn render(
    w: &Wording,
    intro: &str,
    title: &str,
    details: &[String],
    count: Option<&str>,
    max_chars: usize,
) -> (String, usize) {
    let max = max_chars.max(MIN_MESSAGE_CHARS);
    let sep_len = w.sep.chars().count();
    let intro_len = intro.chars().count();
    let count_len = count.map_or(0, |c| sep_len + c.chars().map(escaped_len).sum::<usize>());
    let frame = OPEN.len() + CLOSE.len();

    // Which fixed parts fit: intro and count, intro only, or neither.
    let (with_intro, count) = if frame + intro_len + count_len <= max {
        (true, count)
    } else if frame + intro_len <= max {
        (true, None)
    } else {
        (false, None)
    };
    let with_intro = with_intro && !intro.is_empty();
    let mut remaining = max - frame - if with_intro { intro_len } else { 0 };
    if count.is_some() {
        remaining -= count_len;
    }

    let mut out = String::with_capacity(max * 3);
    out.push_str(OPEN);
    if with_intro {
        out.push_str(intro);
    }
    let mut first = !with_intro;
    let mut full = 0;
    let texts = std::iter::once(title).chain(details.iter().map(String::as_str));
    for s in texts.filter_map(|t| sentence(t, w.stop)) {
        let sep = if first { 0 } else { sep_len };
        let cost = sep + s.chars().map(escaped_len).sum::<usize>();
        if cost <= remaining {
            if !first {
                out.push_str(w.sep);
            }
            for c in s.chars() {
                push_escaped(&mut out, c);
            }
            remaining -= cost;
            first = false;
            full += 1;
            continue;
        }
        // Cut this sentence to what fits (with its separator and `…`), then stop.
        let Some(mut room) = remaining.checked_sub(sep + 1) else {
            break;
        };
        let mut cut = String::new();
        for c in s.chars() {
            let l = escaped_len(c);
            if l > room {
                break;
            }
            room -= l;
            push_escaped(&mut cut, c);
        }
        if !cut.trim().is_empty() {
            if !first {
                out.push_str(w.sep);
            }
            out.push_str(cut.trim_end());
            out.push(ELLIPSIS);
        }
        break;
    }
    if let Some(c) = count {
        if !first {
            out.push_str(w.sep);
        }
        for ch in c.chars() {
            push_escaped(&mut out, ch);
        }
    }
    out.push_str(CLOSE);
    (out, full)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escapes_markup_and_strips_controls() {
        assert_eq!(
            escape(r#"<break time="60s"/> & 'x'"#),
            "&lt;break time=&quot;60s&quot;/&gt; &amp; &apos;x&apos;"
        );
        assert_eq!(escape("a\u{0}b\u{7}c\nd\te\u{FFFF}"), "abc d e");
        assert_eq!(
            escape("&amp;"),
            "&amp;amp;",
            "already-escaped text is literal"
        );
        assert_eq!(escape("障害"), "障害");
    }

    #[test]
    fn japanese_and_english_messages() {
        let d = vec!["DB down".to_string()];
        assert_eq!(
            render_message(Language::JaJp, "ディスク満杯", &d, 3, 1000),
            "<speak>障害アラートです。ディスク満杯。DB down。関連アラート 3 件。</speak>"
        );
        assert_eq!(
            render_message(Language::EnUs, "Disk full", &d, 3, 1000),
            "<speak>Alert. Disk full. DB down. 3 related alerts.</speak>"
        );
        assert_eq!(
            render_message(Language::EnUs, "Disk full.", &[], 1, 1000),
            "<speak>Alert. Disk full.</speak>",
            "no count for a single alert, no doubled full stop"
        );
    }

    #[test]
    fn a_list_names_what_did_not_fit() {
        let items: Vec<String> = (1..=40).map(|i| format!("web{i}: disk full")).collect();
        assert_eq!(
            render_list(
                Language::EnUs,
                "The 2 incidents of this storm",
                &items[..2],
                1000
            ),
            "<speak>The 2 incidents of this storm. web1: disk full. web2: disk full.</speak>"
        );
        let long = render_list(Language::EnUs, "The 40 incidents", &items, 200);
        assert!(long.chars().count() <= 200, "{long}");
        assert!(long.contains("web1: disk full."), "{long}");
        assert!(!long.contains("web40"), "{long}");
        let read = long.matches(": disk full.").count();
        assert!(
            long.ends_with(&format!("And {} more.</speak>", 40 - read)),
            "{long}"
        );
        let ja = render_list(Language::JaJp, "この障害の40件", &items, 120);
        assert!(ja.contains("ほか"), "{ja}");
    }

    #[test]
    fn injection_attempts_are_spoken_literally() {
        let title = r#"</speak><speak><break time="60s"/><audio src="https://evil/x.mp3"/>"#;
        let m = render_message(Language::EnUs, title, &["a & b".into()], 2, 2000);
        assert_eq!(m.matches('<').count(), 2, "{m}");
        assert!(m.starts_with("<speak>") && m.ends_with("</speak>"));
        assert!(m.contains("&lt;break time=&quot;60s&quot;/&gt;"));
        assert!(m.contains("a &amp; b"));
    }

    #[test]
    fn truncates_before_escaping_never_inside_an_entity() {
        let title = "&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&";
        for max in 15..120 {
            let m = render_message(Language::EnUs, title, &[], 5, max);
            assert!(m.chars().count() <= max, "{max}: {m}");
            let inner = &m[OPEN.len()..m.len() - CLOSE.len()];
            assert!(!inner.contains('<'));
            assert_eq!(inner.matches('&').count(), inner.matches("&amp;").count());
        }
        let m = render_message(Language::JaJp, &"長".repeat(500), &["x".into()], 2, 100);
        assert_eq!(m.chars().count(), 100, "{m}");
        assert!(m.contains('…') && m.ends_with("関連アラート 2 件。</speak>"));
        assert_eq!(
            render_message(Language::JaJp, "x", &[], 9, 0),
            "<speak></speak>"
        );
    }

    fn well_formed(m: &str, max: usize) -> Result<(), TestCaseError> {
        prop_assert!(m.chars().count() <= max.max(MIN_MESSAGE_CHARS));
        prop_assert!(m.starts_with(OPEN) && m.ends_with(CLOSE));
        prop_assert_eq!(m.matches(OPEN).count(), 1);
        prop_assert_eq!(m.matches(CLOSE).count(), 1);
        let inner = &m[OPEN.len()..m.len() - CLOSE.len()];
        prop_assert!(!inner.contains('<') && !inner.contains('>'));
        prop_assert!(!inner.chars().any(char::is_control));
        let mut rest = inner;
        while let Some(i) = rest.find('&') {
            rest = &rest[i..];
            prop_assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                    .iter()
                    .any(|e| rest.starts_with(e)),
                "bare & in {}",
                m
            );
            rest = &rest[1..];
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn output_is_always_well_formed_and_bounded(
            title in ".{0,200}",
            details in prop::collection::vec("[<>&\"' a-z\\n\\u{0}-\\u{1f}日本]{0,50}", 0..5),
            count in 0usize..100,
            max in 0usize..400,
            ja in any::<bool>(),
        ) {
            let lang = if ja { Language::JaJp } else { Language::EnUs };
            well_formed(&render_message(lang, &title, &details, count, max), max)?;
        }

        #[test]
        fn lists_are_always_well_formed_and_bounded(
            lang in prop_oneof![Just(Language::EnUs), Just(Language::JaJp)],
            heading in ".{0,40}",
            items in proptest::collection::vec(".{0,60}", 0..30),
            max in 0usize..600,
        ) {
            well_formed(&render_list(lang, &heading, &items, max), max)?;
        }

        #[test]
        fn escape_leaves_no_markup(s in ".{0,200}") {
            let e = escape(&s);
            prop_assert!(!e.contains('<') && !e.contains('>') && !e.contains('"') && !e.contains('\''));
            prop_assert!(!e.chars().any(char::is_control));
        }
    }
}
