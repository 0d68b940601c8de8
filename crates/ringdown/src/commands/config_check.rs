//! `ringdown config check`: the effective configuration, secrets hidden.

use crate::config::Config;
use anyhow::Result;
use ringdown_core::phone::mask;
use std::path::Path;
use std::process::ExitCode;

/// Prints the effective configuration. Values whose key suggests a secret are
/// replaced, and phone numbers are masked.
pub fn config_check(config: Option<&Path>) -> Result<ExitCode> {
    let cfg = Config::load(config)?;
    let mut value = toml::Value::try_from(&cfg)?;
    redact(&mut value, "");
    println!("{}", toml::to_string_pretty(&value)?);
    for w in cfg.warnings() {
        eprintln!("warning: {w}");
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn redact(v: &mut toml::Value, key: &str) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t.iter_mut() {
                redact(v, k);
            }
        }
        toml::Value::Array(a) => a.iter_mut().for_each(|v| redact(v, key)),
        toml::Value::String(s) => {
            let k = key.to_ascii_lowercase();
            if ["secret", "password", "token", "credential", "access_key"]
                .iter()
                .any(|w| k.contains(w))
            {
                *s = "<hidden>".into();
            } else if s.starts_with('+')
                && s.len() > 8
                && s[1..].chars().all(|c| c.is_ascii_digit())
            {
                *s = mask(s);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_numbers_are_hidden() {
        let mut v: toml::Value =
            toml::from_str("a = \"+819012345678\"\n[x]\nsecret_key = \"abc\"\n").unwrap();
        redact(&mut v, "");
        let s = v.to_string();
        assert!(
            s.contains("+81******5678") && s.contains("<hidden>") && !s.contains("abc"),
            "{s}"
        );
    }
}
