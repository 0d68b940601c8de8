//! Alert parsing (owned by the parsing work; this is the agreed interface).
use crate::alert::Alert;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("unrecognised alert payload")]
    UnknownFormat,
}

impl ParseError {
    pub fn reason_code(&self) -> &'static str {
        "unknown_format"
    }
}

pub fn parse(_bytes: &[u8]) -> Result<Vec<Alert>, ParseError> {
    Err(ParseError::UnknownFormat)
}
