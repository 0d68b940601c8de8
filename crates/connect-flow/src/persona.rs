//! Scripted callers ("personas"): who answers, when, and what they press.
//!
//! YAML shape (see README.md):
//!
//! ```yaml
//! time_scale: 60                  # optional
//! default: { answer_after_secs: 3, keys: [{key: "1", delay_secs: 1}] }
//! personas:
//!   "+81312345678": { voicemail: { answer_after_secs: 8 } }
//!   "+14155550100": never_answers
//!   "+14155550101": busy
//!   "+14155550103": telecom_failure
//!   "+14155550102": { answer_after_secs: 2, keys: [{key: "1", delay_secs: 1}], hang_up_after_prompt: 1 }
//! ```
//!
//! Key timing: key entries are pressed in order. Entry *i* is pressed `delay_secs`
//! after the caller is *able to press*: that is the end of the prompt of the
//! GetParticipantInput action that is collecting (the caller listens to the whole
//! prompt), or — while a stored-input action is still collecting digits — the
//! previous key press. An entry that was not pressed before an input action timed
//! out waits for the next input action, and its delay starts again there. A
//! multi-character entry such as `"2#"` is typed at once.
//!
//! An entry with `at_secs` is pressed at that moment of the call instead,
//! whatever plays: it interrupts a `GetParticipantInput` prompt, and is lost
//! during a `MessageParticipant` prompt, as on Amazon Connect.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One keypad entry of a scripted caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPress {
    /// Keys typed at once, e.g. `"1"`, `"9"`, `"24#"`.
    pub key: String,
    /// Seconds after the caller is able to press (see module docs).
    #[serde(default)]
    pub delay_secs: f64,
    /// Pressed at this many seconds after the call was placed, whatever is
    /// playing then, instead of `delay_secs` after a prompt: an impatient
    /// caller. During a `GetParticipantInput` prompt the key interrupts it;
    /// during a `MessageParticipant` prompt Amazon Connect does not hear it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_secs: Option<f64>,
}

impl KeyPress {
    pub fn new(key: &str, delay_secs: f64) -> KeyPress {
        KeyPress {
            key: key.to_string(),
            delay_secs,
            at_secs: None,
        }
    }

    /// A key pressed `at_secs` after the call was placed.
    pub fn at(key: &str, at_secs: f64) -> KeyPress {
        KeyPress {
            key: key.to_string(),
            delay_secs: 0.0,
            at_secs: Some(at_secs),
        }
    }
}

/// A person who picks up.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HumanPersona {
    /// Seconds of ringing before they pick up. At or beyond the ring timeout the
    /// call is unanswered.
    #[serde(default)]
    pub answer_after_secs: f64,
    #[serde(default)]
    pub keys: Vec<KeyPress>,
    /// Hang up in the middle of the Nth `MessageParticipant` prompt (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hang_up_after_prompt: Option<u32>,
    /// Hang up this many seconds after answering, whatever is happening.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hang_up_after_secs: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoicemailSpec {
    /// Seconds of ringing before the voicemail picks up.
    #[serde(default)]
    pub answer_after_secs: f64,
}

/// Scripted behaviour of the phone at one number.
#[derive(Debug, Clone, PartialEq)]
pub enum Persona {
    /// Rings until the ring timeout → `TELECOM_UNANSWERED`.
    NeverAnswers,
    /// Busy tone → `TELECOM_BUSY`.
    Busy,
    /// The network fails the call → `TELECOM_PROBLEM`.
    TelecomFailure,
    /// An answering machine: picks up and never presses a key.
    Voicemail { answer_after_secs: f64 },
    /// A person.
    Human(HumanPersona),
}

impl Persona {
    /// A person who answers after `answer_after_secs` and presses `keys`
    /// (each `(key, delay_secs)`).
    pub fn human(answer_after_secs: f64, keys: &[(&str, f64)]) -> Persona {
        Persona::Human(HumanPersona {
            answer_after_secs,
            keys: keys.iter().map(|(k, d)| KeyPress::new(k, *d)).collect(),
            ..Default::default()
        })
    }

    pub fn voicemail(answer_after_secs: f64) -> Persona {
        Persona::Voicemail { answer_after_secs }
    }

    /// Short name for logs and transcripts.
    pub fn kind(&self) -> &'static str {
        match self {
            Persona::NeverAnswers => "never_answers",
            Persona::Busy => "busy",
            Persona::TelecomFailure => "telecom_failure",
            Persona::Voicemail { .. } => "voicemail",
            Persona::Human(_) => "human",
        }
    }
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
enum SimpleKind {
    NeverAnswers,
    Busy,
    TelecomFailure,
    Voicemail,
}

#[derive(Deserialize, Serialize)]
#[serde(untagged)]
enum PersonaRepr {
    Simple(SimpleKind),
    Voicemail { voicemail: VoicemailSpec },
    Human(HumanPersona),
}

impl<'de> Deserialize<'de> for Persona {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let repr = PersonaRepr::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "a persona is one of: never_answers | busy | telecom_failure | voicemail | \
                 {voicemail: {answer_after_secs}} | {answer_after_secs, keys: [{key, delay_secs}], \
                 hang_up_after_prompt, hang_up_after_secs}",
            )
        })?;
        Ok(match repr {
            PersonaRepr::Simple(SimpleKind::NeverAnswers) => Persona::NeverAnswers,
            PersonaRepr::Simple(SimpleKind::Busy) => Persona::Busy,
            PersonaRepr::Simple(SimpleKind::TelecomFailure) => Persona::TelecomFailure,
            PersonaRepr::Simple(SimpleKind::Voicemail) => Persona::Voicemail {
                answer_after_secs: 5.0,
            },
            PersonaRepr::Voicemail { voicemail } => Persona::Voicemail {
                answer_after_secs: voicemail.answer_after_secs,
            },
            PersonaRepr::Human(h) => Persona::Human(h),
        })
    }
}

impl Serialize for Persona {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let repr = match self {
            Persona::NeverAnswers => PersonaRepr::Simple(SimpleKind::NeverAnswers),
            Persona::Busy => PersonaRepr::Simple(SimpleKind::Busy),
            Persona::TelecomFailure => PersonaRepr::Simple(SimpleKind::TelecomFailure),
            Persona::Voicemail { answer_after_secs } => PersonaRepr::Voicemail {
                voicemail: VoicemailSpec {
                    answer_after_secs: *answer_after_secs,
                },
            },
            Persona::Human(h) => PersonaRepr::Human(h.clone()),
        };
        repr.serialize(s)
    }
}

/// Personas keyed by E.164 number, with a default for every other number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonaBook {
    /// Optional time scale carried by a personas file (the sim config wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_scale: Option<f64>,
    #[serde(default = "default_persona")]
    pub default: Persona,
    #[serde(default)]
    pub personas: BTreeMap<String, Persona>,
}

fn default_persona() -> Persona {
    Persona::human(3.0, &[("1", 1.0)])
}

impl Default for PersonaBook {
    fn default() -> Self {
        PersonaBook {
            time_scale: None,
            default: default_persona(),
            personas: BTreeMap::new(),
        }
    }
}

impl PersonaBook {
    pub fn from_yaml(text: &str) -> Result<PersonaBook, serde_yaml::Error> {
        serde_yaml::from_str(text)
    }

    /// The persona for a number (falls back to `default`).
    pub fn lookup(&self, phone: &str) -> &Persona {
        self.personas.get(phone).unwrap_or(&self.default)
    }
}
