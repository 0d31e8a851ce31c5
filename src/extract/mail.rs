//! E-mail. (being written)
use super::{Doc, ExtractError, Limits};
pub fn eml(_d: &[u8], _l: &Limits) -> Result<Doc, ExtractError> { Err(ExtractError::Unsupported) }
