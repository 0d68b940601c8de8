//! Alertmanager-style label matchers: `name=value`, `name!=value`,
//! `name=~regex`, `name!~regex`. Used by silences and by policy `match`.
//!
//! As in Alertmanager, regexes are anchored at both ends (`=~"web.*"` does not
//! match `myweb`), and a missing label behaves as the empty string, so
//! `team!=""` means "has a team label".

use crate::alert::Labels;
use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}
impl Eq for Matcher {}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatcherError {
    #[error(
        "matcher `{0}` has no operator: write name=value, name!=value, name=~regex or name!~regex"
    )]
    NoOperator(String),
    #[error("matcher `{0}` has an empty or invalid label name")]
    BadName(String),
    #[error("matcher `{input}`: invalid regular expression: {reason}")]
    BadRegex { input: String, reason: String },
}

/// Longest regex source we compile; bounds memory for hostile silences.
const MAX_REGEX_LEN: usize = 1024;

impl Matcher {
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Self, MatcherError> {
        let valid_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' || c == '/');
        if !valid_name {
            return Err(MatcherError::BadName(format!(
                "{name}{}{value}",
                op.as_str()
            )));
        }
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => {
                let input = || format!("{name}{}{value}", op.as_str());
                if value.len() > MAX_REGEX_LEN {
                    return Err(MatcherError::BadRegex {
                        input: input(),
                        reason: format!("longer than {MAX_REGEX_LEN} characters"),
                    });
                }
                Some(
                    regex::RegexBuilder::new(&format!("^(?:{value})$"))
                        .size_limit(1 << 20)
                        .build()
                        .map_err(|e| MatcherError::BadRegex {
                            input: input(),
                            reason: e.to_string(),
                        })?,
                )
            }
            _ => None,
        };
        Ok(Matcher {
            name: name.to_string(),
            op,
            value: value.to_string(),
            regex,
        })
    }

    /// Equality matcher, the common case (`match: {systemname: web}`).
    pub fn equal(name: &str, value: &str) -> Result<Self, MatcherError> {
        Self::new(name, MatchOp::Equal, value)
    }

    /// Parses `name=value`, `name!="value"`, `name=~"re.*"`, `name!~re`.
    /// Surrounding whitespace and double quotes around the value are removed.
    pub fn parse(input: &str) -> Result<Self, MatcherError> {
        let s = input.trim();
        let pos = s
            .find(['=', '!'])
            .ok_or_else(|| MatcherError::NoOperator(input.to_string()))?;
        let (name, rest) = s.split_at(pos);
        let (op, value) = if let Some(v) = rest.strip_prefix("=~") {
            (MatchOp::Regex, v)
        } else if let Some(v) = rest.strip_prefix("!~") {
            (MatchOp::NotRegex, v)
        } else if let Some(v) = rest.strip_prefix("!=") {
            (MatchOp::NotEqual, v)
        } else if let Some(v) = rest.strip_prefix('=') {
            (MatchOp::Equal, v)
        } else {
            return Err(MatcherError::NoOperator(input.to_string()));
        };
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        Self::new(name.trim(), op, value)
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        let v = labels.get(&self.name).map(String::as_str).unwrap_or("");
        self.matches_value(v)
    }

    pub fn matches_value(&self, v: &str) -> bool {
        match self.op {
            MatchOp::Equal => v == self.value,
            MatchOp::NotEqual => v != self.value,
            MatchOp::Regex => self.regex.as_ref().is_some_and(|r| r.is_match(v)),
            MatchOp::NotRegex => !self.regex.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }
}

/// True when every matcher matches (an empty list matches everything).
pub fn all_match(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

impl Serialize for Matcher {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Matcher {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Matcher::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::labels;

    #[test]
    fn operators_behave_like_alertmanager() {
        let l = labels(&[("systemname", "web"), ("severity", "critical")]);
        assert!(Matcher::parse("systemname=web").unwrap().matches(&l));
        assert!(Matcher::parse("systemname=\"web\"").unwrap().matches(&l));
        assert!(!Matcher::parse("systemname!=web").unwrap().matches(&l));
        assert!(Matcher::parse("severity=~crit.*").unwrap().matches(&l));
        assert!(
            !Matcher::parse("severity=~crit").unwrap().matches(&l),
            "regex is anchored"
        );
        assert!(Matcher::parse("severity!~warn.*").unwrap().matches(&l));
        assert!(
            Matcher::parse("team=\"\"").unwrap().matches(&l),
            "missing label is empty"
        );
        assert!(!Matcher::parse("team!=\"\"").unwrap().matches(&l));
    }

    #[test]
    fn round_trips_through_display() {
        for s in ["a=b", "a!=b", "a=~b.*", "a!~\"x|y\""] {
            let m = Matcher::parse(s).unwrap();
            assert_eq!(Matcher::parse(&m.to_string()).unwrap(), m);
        }
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(matches!(
            Matcher::parse("novalue"),
            Err(MatcherError::NoOperator(_))
        ));
        assert!(matches!(
            Matcher::parse("=x"),
            Err(MatcherError::BadName(_))
        ));
        assert!(matches!(
            Matcher::parse("a=~("),
            Err(MatcherError::BadRegex { .. })
        ));
    }
}
