//! What Amazon Polly accepts as SSML, checked the way Polly checks it.
//!
//! A contact flow's `SSML` prompt is synthesized by Polly. Polly reads "valid,
//! well-formed SSML" only (the `SynthesizeSpeech` API model), enclosed in one
//! `<speak>` root ("All SSML-enhanced text must be enclosed within a pair of
//! `<speak>` tags"), with the tags and attribute values its developer guide
//! lists; anything else is answered with `InvalidSsmlException`, and Amazon
//! Connect then routes the contact down the block's **Error** branch ("The
//! SSML is incorrect", Play prompt block). Where Polly and Connect disagree
//! (Connect's admin guide says unsupported tags are "ignored"), the stricter
//! reading is modelled: an unsupported tag is an error. The sources of every
//! rule are in `crates/connect-sim/README.md` ("Fidelity").

use std::fmt;

/// The Polly engine a contact flow selected with
/// `UpdateContactTextToSpeechVoice` (`TextToSpeechEngine`). Neural voices
/// support fewer tags than standard ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Standard,
    Neural,
}

impl Engine {
    /// `TextToSpeechEngine` as written in a flow (`"Neural"`, `"Standard"`).
    pub fn parse(s: &str) -> Option<Engine> {
        match s.to_ascii_lowercase().as_str() {
            "standard" => Some(Engine::Standard),
            "neural" => Some(Engine::Neural),
            _ => None,
        }
    }
}

/// Most characters of a prompt, tags included ("a maximum of 3,000 billed
/// characters, which is 6,000 characters total").
pub const MAX_TOTAL_CHARS: usize = 6000;
/// Most billed characters of a prompt: the text without its SSML tags.
pub const MAX_BILLED_CHARS: usize = 3000;
/// Longest `<break>`: "The maximum duration is 10s".
pub const MAX_BREAK_MS: u64 = 10_000;

/// Why Polly would refuse a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsmlError(pub String);

impl fmt::Display for SsmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, SsmlError> {
    Err(SsmlError(msg.into()))
}

/// The namespace Polly's `amazon:` tags live in. Polly accepts them without a
/// declaration, so one is supplied before parsing when the document has none.
const AMAZON_NS: &str = "https://aws.amazon.com/polly/ssml";

/// Checks a whole SSML document as Polly would for `engine`, and returns
/// the text a listener hears (tags removed, entities decoded, `<sub>`
/// replaced by its alias, whitespace collapsed).
pub fn check(doc: &str, engine: Engine) -> Result<String, SsmlError> {
    if doc.chars().count() > MAX_TOTAL_CHARS {
        return err(format!(
            "the prompt is {} characters; Amazon Connect reads at most {MAX_TOTAL_CHARS}",
            doc.chars().count()
        ));
    }
    let trimmed = doc.trim_start();
    if trimmed.starts_with("<!DOCTYPE") || trimmed.contains("<!ENTITY") {
        return err("a document type declaration is not SSML");
    }
    // `amazon:` tags without a namespace declaration are fine for Polly.
    let owned;
    let text = if doc.contains("amazon:") && !doc.contains("xmlns:amazon") {
        match trimmed.strip_prefix("<speak") {
            Some(rest) => {
                owned = format!("<speak xmlns:amazon=\"{AMAZON_NS}\"{rest}");
                owned.as_str()
            }
            None => doc,
        }
    } else {
        doc
    };
    let parsed = roxmltree::Document::parse(text)
        .map_err(|e| SsmlError(format!("not well-formed XML: {e}")))?;
    let root = parsed.root_element();
    if root.tag_name().name() != "speak" {
        return err(format!(
            "the root element is <{}>; Polly reads only a <speak> document",
            root.tag_name().name()
        ));
    }
    let mut heard = String::new();
    walk(root, engine, true, &mut heard)?;
    let heard = heard.split_whitespace().collect::<Vec<_>>().join(" ");
    if heard.chars().count() > MAX_BILLED_CHARS {
        return err(format!(
            "the prompt has {} billed characters (text without tags); the limit is {MAX_BILLED_CHARS}",
            heard.chars().count()
        ));
    }
    Ok(heard)
}

/// The SSML namespace a document may declare on its root.
const SSML_NS: &str = "http://www.w3.org/2001/10/synthesis";
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

fn name_of(node: roxmltree::Node) -> String {
    let tag = node.tag_name();
    match tag.namespace() {
        None | Some(SSML_NS) => tag.name().to_string(),
        Some(AMAZON_NS) => format!("amazon:{}", tag.name()),
        Some(other) => format!("{{{other}}}{}", tag.name()),
    }
}

fn attr<'a>(node: roxmltree::Node<'a, 'a>, name: &str) -> Option<&'a str> {
    node.attributes()
        .find(|a| {
            a.name() == name
                && a.namespace()
                    .is_none_or(|ns| ns == AMAZON_NS || ns == XML_NS)
        })
        .map(|a| a.value())
}

fn walk(
    node: roxmltree::Node,
    engine: Engine,
    is_root: bool,
    heard: &mut String,
) -> Result<(), SsmlError> {
    let name = name_of(node);
    check_element(node, &name, engine, is_root)?;
    if name == "sub" {
        // The alias is what is said, not the content.
        heard.push(' ');
        heard.push_str(attr(node, "alias").unwrap_or_default());
        heard.push(' ');
        return Ok(());
    }
    for child in node.children() {
        if child.is_element() {
            walk(child, engine, false, heard)?;
        } else if child.is_text() {
            heard.push_str(child.text().unwrap_or_default());
        }
    }
    Ok(())
}

const NEURAL_UNAVAILABLE: &[&str] = &["emphasis", "amazon:auto-breaths", "amazon:breath"];

fn check_element(
    node: roxmltree::Node,
    name: &str,
    engine: Engine,
    is_root: bool,
) -> Result<(), SsmlError> {
    let known = [
        "speak",
        "break",
        "emphasis",
        "lang",
        "mark",
        "p",
        "phoneme",
        "prosody",
        "s",
        "say-as",
        "sub",
        "w",
        "amazon:auto-breaths",
        "amazon:breath",
        "amazon:domain",
        "amazon:effect",
    ];
    if !known.contains(&name) {
        return err(format!("<{name}> is not a tag Amazon Polly supports"));
    }
    if name == "speak" && !is_root {
        return err("<speak> may only be the root: the document is wrapped in <speak> twice");
    }
    if engine == Engine::Neural && NEURAL_UNAVAILABLE.contains(&name) {
        return err(format!("<{name}> is not available for neural voices"));
    }
    for a in node.attributes() {
        let allowed: &[&str] = match name {
            "speak" => &["lang"],
            "break" => &["time", "strength"],
            "emphasis" => &["level"],
            "lang" => &["lang", "onlangfailure"],
            "mark" => &["name"],
            "p" | "s" => &["lang"],
            "phoneme" => &["alphabet", "ph"],
            "prosody" => &["volume", "rate", "pitch", "max-duration"],
            "say-as" => &["interpret-as", "format"],
            "sub" => &["alias"],
            "w" => &["role"],
            "amazon:auto-breaths" => &["volume", "frequency", "duration"],
            "amazon:breath" => &["volume", "duration"],
            "amazon:domain" => &["name"],
            "amazon:effect" => &["name", "phonation", "vocal-tract-length"],
            _ => &[],
        };
        if !allowed.contains(&a.name()) {
            return err(format!("<{name}> has no attribute `{}`", a.name()));
        }
    }
    match name {
        "break" => {
            if let Some(t) = attr(node, "time") {
                let ms = duration_ms(t)
                    .ok_or_else(|| SsmlError(format!("<break time=\"{t}\"> is not a duration")))?;
                if ms > MAX_BREAK_MS {
                    return err(format!(
                        "<break time=\"{t}\"> is longer than Polly's 10 s maximum"
                    ));
                }
            }
            if let Some(s) = attr(node, "strength") {
                one_of(
                    name,
                    "strength",
                    s,
                    &["none", "x-weak", "weak", "medium", "strong", "x-strong"],
                )?;
            }
            if node.has_children() {
                return err("<break> must be empty");
            }
        }
        "prosody" => {
            if node.attributes().len() == 0 {
                return err("<prosody> must contain at least one attribute");
            }
            if let Some(v) = attr(node, "volume") {
                let db = v
                    .strip_suffix("dB")
                    .is_some_and(|n| n.starts_with(['+', '-']) && n[1..].parse::<f64>().is_ok());
                if !db {
                    one_of(
                        name,
                        "volume",
                        v,
                        &[
                            "default", "silent", "x-soft", "soft", "medium", "loud", "x-loud",
                        ],
                    )?;
                }
            }
            if let Some(r) = attr(node, "rate") {
                match r.strip_suffix('%') {
                    Some(n) => match n.parse::<f64>() {
                        Ok(p) if (20.0..=200.0).contains(&p) && !n.starts_with(['+', '-']) => {}
                        _ => {
                            return err(format!(
                                "<prosody rate=\"{r}\">: a percentage must lie in 20%–200%"
                            ))
                        }
                    },
                    None => one_of(
                        name,
                        "rate",
                        r,
                        &["x-slow", "slow", "medium", "fast", "x-fast"],
                    )?,
                }
            }
            if let Some(p) = attr(node, "pitch") {
                if engine == Engine::Neural {
                    return err("<prosody pitch> is not supported for neural voices");
                }
                let pct = p
                    .strip_suffix('%')
                    .is_some_and(|n| n.starts_with(['+', '-']) && n[1..].parse::<f64>().is_ok());
                if !pct {
                    one_of(
                        name,
                        "pitch",
                        p,
                        &["default", "x-low", "low", "medium", "high", "x-high"],
                    )?;
                }
            }
            if attr(node, "max-duration").is_some() && engine == Engine::Neural {
                return err("<prosody amazon:max-duration> is not available for neural voices");
            }
        }
        "say-as" => {
            let Some(i) = attr(node, "interpret-as") else {
                return err("<say-as> needs interpret-as");
            };
            one_of(
                name,
                "interpret-as",
                i,
                &[
                    "characters",
                    "spell-out",
                    "cardinal",
                    "number",
                    "ordinal",
                    "digits",
                    "fraction",
                    "unit",
                    "date",
                    "time",
                    "address",
                    "expletive",
                    "telephone",
                ],
            )?;
        }
        "lang" if attr(node, "lang").is_none() => return err("<lang> needs xml:lang"),
        "sub" if attr(node, "alias").is_none() => return err("<sub> needs alias"),
        "mark" if attr(node, "name").is_none() => return err("<mark> needs name"),
        "phoneme" => {
            if attr(node, "ph").is_none() {
                return err("<phoneme> needs ph");
            }
            if let Some(a) = attr(node, "alphabet") {
                one_of(name, "alphabet", a, &["ipa", "x-sampa"])?;
            }
        }
        "amazon:effect" => {
            if engine == Engine::Neural && attr(node, "name") != Some("drc") {
                return err(
                    "<amazon:effect> other than name=\"drc\" is not available for neural voices",
                );
            }
            if let Some(n) = attr(node, "name") {
                one_of(name, "name", n, &["drc", "whispered"])?;
            }
        }
        "amazon:domain" => {
            let n = attr(node, "name").unwrap_or_default();
            one_of(name, "name", n, &["news", "conversational"])?;
        }
        _ => {}
    }
    Ok(())
}

fn one_of(tag: &str, attribute: &str, value: &str, allowed: &[&str]) -> Result<(), SsmlError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        err(format!(
            "<{tag} {attribute}=\"{value}\">: the value must be one of {}",
            allowed.join(", ")
        ))
    }
}

/// `"500ms"`, `"2s"`, `"1.5s"` in milliseconds.
fn duration_ms(t: &str) -> Option<u64> {
    let (n, scale) = match t.strip_suffix("ms") {
        Some(n) => (n, 1.0),
        None => (t.strip_suffix('s')?, 1000.0),
    };
    let v: f64 = n.parse().ok()?;
    (v >= 0.0 && v.is_finite()).then(|| (v * scale).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_document_is_heard_as_its_text() {
        assert_eq!(
            check(
                "<speak>Disk full on db-1 &amp; db-2.</speak>",
                Engine::Neural
            )
            .unwrap(),
            "Disk full on db-1 & db-2."
        );
        assert_eq!(
            check(
                "<speak><s>Hi</s> <break time=\"500ms\"/><sub alias=\"database\">DB</sub></speak>",
                Engine::Neural
            )
            .unwrap(),
            "Hi database"
        );
    }

    #[test]
    fn what_polly_refuses() {
        let bad = [
            ("<speak><speak>x</speak></speak>", "twice"),
            ("<speak>x</speak><speak>y</speak>", "well-formed"),
            ("x <speak>y</speak>", "well-formed"),
            ("Disk & full", "well-formed"),
            ("<speak>a < b</speak>", "well-formed"),
            ("<voice>x</voice>", "root element"),
            (
                "<speak><voice name=\"Mizuki\">x</voice></speak>",
                "not a tag",
            ),
            ("<speak><audio src=\"x\"/></speak>", "not a tag"),
            ("<speak><break time=\"11s\"/></speak>", "10 s"),
            ("<speak><break time=\"soon\"/></speak>", "duration"),
            ("<speak><break strength=\"huge\"/></speak>", "one of"),
            ("<speak><prosody>x</prosody></speak>", "at least one"),
            ("<speak><prosody rate=\"300%\">x</prosody></speak>", "20%"),
            (
                "<speak><prosody pitch=\"high\">x</prosody></speak>",
                "neural",
            ),
            ("<speak><emphasis>x</emphasis></speak>", "neural"),
            (
                "<speak><amazon:effect name=\"whispered\">x</amazon:effect></speak>",
                "neural",
            ),
            ("<speak><say-as>1</say-as></speak>", "interpret-as"),
            (
                "<speak><say-as interpret-as=\"emoji\">1</say-as></speak>",
                "one of",
            ),
            ("<speak><p foo=\"1\">x</p></speak>", "no attribute"),
            ("<!DOCTYPE speak><speak>x</speak>", "document type"),
        ];
        for (doc, why) in bad {
            let e = check(doc, Engine::Neural).expect_err(doc);
            assert!(e.0.contains(why), "{doc}: {e}");
        }
        let long = format!("<speak>{}</speak>", "a".repeat(MAX_BILLED_CHARS + 1));
        assert!(check(&long, Engine::Neural)
            .unwrap_err()
            .0
            .contains("billed"));
        let huge = format!("<speak>{}</speak>", "<s>a</s>".repeat(800));
        assert!(check(&huge, Engine::Neural).unwrap_err().0.contains("6000"));
    }

    #[test]
    fn standard_voices_take_what_neural_ones_cannot() {
        for doc in [
            "<speak><emphasis>x</emphasis></speak>",
            "<speak><prosody pitch=\"+5%\">x</prosody></speak>",
            "<speak><amazon:effect name=\"whispered\">x</amazon:effect></speak>",
        ] {
            check(doc, Engine::Standard).expect(doc);
        }
        check(
            "<speak><amazon:effect name=\"drc\">x</amazon:effect><prosody rate=\"80%\" volume=\"+3dB\">y</prosody></speak>",
            Engine::Neural,
        )
        .unwrap();
    }
}
