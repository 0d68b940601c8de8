//! Phone numbers: E.164 validation and masking for logs.

/// `+81******5678`: country code prefix (up to 3 digits after `+`) and the last
/// four digits stay, everything between is masked. Anything that does not look
/// like a number is masked entirely, so a mistake never leaks one.
/// [`mask`], leaving an already masked number as it is (masking twice
/// would lose the digits kept for recognition).
pub fn mask_once(number: &str) -> String {
    if number.contains('*') {
        number.to_string()
    } else {
        mask(number)
    }
}

pub fn mask(number: &str) -> String {
    let digits: Vec<char> = number.chars().collect();
    if digits.first() != Some(&'+')
        || digits.len() < 8
        || !digits[1..].iter().all(char::is_ascii_digit)
    {
        return "*".repeat(number.chars().count().clamp(4, 16));
    }
    let keep_head = 3; // '+' and two digits
    let keep_tail = 4;
    let mut out = String::with_capacity(digits.len());
    for (i, c) in digits.iter().enumerate() {
        if i < keep_head || i >= digits.len() - keep_tail {
            out.push(*c);
        } else {
            out.push('*');
        }
    }
    out
}

/// E.164: `+`, a non-zero first digit, 8 to 15 digits in all.
pub fn validate_e164(number: &str) -> Result<(), String> {
    let Some(rest) = number.strip_prefix('+') else {
        return Err(format!("`{}` is not in E.164 form: it must start with + and the country code, e.g. +81312345678", mask(number)));
    };
    if !rest.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "`{}` is not in E.164 form: only digits may follow +",
            mask(number)
        ));
    }
    if rest.starts_with('0') {
        return Err(format!("`{}` is not in E.164 form: the country code cannot start with 0 (drop the trunk prefix, 090… → +8190…)", mask(number)));
    }
    if !(8..=15).contains(&rest.len()) {
        return Err(format!(
            "`{}` is not in E.164 form: it has {} digits, E.164 allows 8 to 15",
            mask(number),
            rest.len()
        ));
    }
    Ok(())
}

/// Japanese mobile numbers (+8170/+8180/+8190) need an allow-list request on a
/// new Amazon Connect instance; used to turn DestinationNotAllowed into advice.
pub fn is_japanese_mobile(number: &str) -> bool {
    ["+8170", "+8180", "+8190"]
        .iter()
        .any(|p| number.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_like_the_brief_says() {
        assert_eq!(mask("+819012345678"), "+81******5678");
        assert_eq!(mask("+14155550123"), "+14*****0123");
        assert_eq!(mask("090-1234"), "********");
        assert!(!mask("secret-ish").contains("secret"));
    }

    #[test]
    fn e164() {
        assert!(validate_e164("+819012345678").is_ok());
        assert!(validate_e164("09012345678").is_err());
        assert!(validate_e164("+0901234567").is_err());
        assert!(validate_e164("+81-90-1234").is_err());
        assert!(validate_e164("+1234567").is_err());
        let err = validate_e164("09077778888").unwrap_err();
        assert!(!err.contains("7777"), "errors mask the number: {err}");
    }
}
