//! RTF. (being written)
use super::{Doc, ExtractError, Limits};
pub fn rtf(_d: &[u8], _l: &Limits) -> Result<Doc, ExtractError> { Err(ExtractError::Unsupported) }
