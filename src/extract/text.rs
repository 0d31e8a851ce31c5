//! Text formats. (being written)
use super::{Doc, ExtractError, Limits};
pub fn plain(_d: &[u8], _l: &Limits) -> Result<Doc, ExtractError> { Err(ExtractError::Unsupported) }
pub fn markdown(_d: &[u8], _l: &Limits) -> Result<Doc, ExtractError> { Err(ExtractError::Unsupported) }
pub fn delimited(_d: &[u8], _sep: u8, _l: &Limits) -> Result<Doc, ExtractError> { Err(ExtractError::Unsupported) }
pub fn html(_d: &[u8], _l: &Limits) -> Result<Doc, ExtractError> { Err(ExtractError::Unsupported) }
pub fn json(_d: &[u8], _l: &Limits) -> Result<Doc, ExtractError> { Err(ExtractError::Unsupported) }
pub fn xml(_d: &[u8], _l: &Limits) -> Result<Doc, ExtractError> { Err(ExtractError::Unsupported) }
