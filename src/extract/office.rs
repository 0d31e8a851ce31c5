//! Office formats. (being written)
use super::{Doc, ExtractError, Limits};
pub fn docx(_d: &[u8], _l: &Limits) -> Result<Doc, ExtractError> { Err(ExtractError::Unsupported) }
pub fn xlsx(_d: &[u8], _l: &Limits) -> Result<Doc, ExtractError> { Err(ExtractError::Unsupported) }
pub fn pptx(_d: &[u8], _l: &Limits) -> Result<Doc, ExtractError> { Err(ExtractError::Unsupported) }
pub fn odf_text(_d: &[u8], _l: &Limits) -> Result<Doc, ExtractError> { Err(ExtractError::Unsupported) }
pub fn ods(_d: &[u8], _l: &Limits) -> Result<Doc, ExtractError> { Err(ExtractError::Unsupported) }
