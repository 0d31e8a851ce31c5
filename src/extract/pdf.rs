//! PDF. (being written)
use super::{Doc, ExtractError, Limits};
pub fn pdf(_d: &[u8], _l: &Limits) -> Result<Doc, ExtractError> { Err(ExtractError::Unsupported) }
