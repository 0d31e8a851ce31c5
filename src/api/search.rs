//! `GET /api/v1/search`: full-text search over current versions, every
//! version, or the shares as they were at a moment.

use std::time::SystemTime;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;

use super::{ApiError, AppState};
use crate::index::{Hits, IndexError, MAX_LIMIT, MAX_OFFSET};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    #[serde(default)]
    q: String,
    share: Option<String>,
    prefix: Option<String>,
    #[serde(rename = "type")]
    types: Option<String>,
    after: Option<String>,
    before: Option<String>,
    #[serde(default)]
    all_versions: bool,
    as_of: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

pub async fn search(
    State(state): State<AppState>,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<Hits>, ApiError> {
    let Query(p) = params?;
    let query = to_query(p)?;
    let Some(searcher) = state.searcher.clone() else {
        return Err(ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the search index is not open",
        ));
    };
    let hits = tokio::task::spawn_blocking(move || searcher.search(&query))
        .await
        .map_err(ApiError::internal)?;
    match hits {
        Ok(hits) => Ok(Json(hits)),
        Err(IndexError::BadQuery(reason)) => {
            Err(ApiError::bad_request(format!("bad query: {reason}")))
        }
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// Checks the parameters and turns them into an index query.
pub fn to_query(p: SearchParams) -> Result<crate::index::Query, ApiError> {
    let limit = p.limit.unwrap_or(20);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let offset = p.offset.unwrap_or(0);
    if offset > MAX_OFFSET {
        return Err(ApiError::bad_request(format!(
            "offset must be at most {MAX_OFFSET}"
        )));
    }
    if p.all_versions && p.as_of.is_some() {
        return Err(ApiError::bad_request(
            "all_versions and as_of cannot be combined",
        ));
    }
    Ok(crate::index::Query {
        q: p.q,
        share: p.share.filter(|s| !s.is_empty()),
        prefix: p.prefix.filter(|s| !s.is_empty()),
        types: p.types.filter(|s| !s.is_empty()),
        after: time("after", p.after)?,
        before: time("before", p.before)?,
        all_versions: p.all_versions,
        as_of: time("as_of", p.as_of)?,
        limit,
        offset,
    })
}

/// An RFC 3339 time with any UTC offset (`Z`, `+02:00`, `-05:00`).
pub fn time(name: &str, value: Option<String>) -> Result<Option<SystemTime>, ApiError> {
    let Some(v) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let parsed = time::OffsetDateTime::parse(&v, &time::format_description::well_known::Rfc3339);
    parsed
        .map(|t| Some(SystemTime::from(t)))
        .map_err(|e| ApiError::bad_request(format!("{name}: {v:?} is not an RFC 3339 time: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_with_offsets_are_the_same_instant() {
        let z = time("as_of", Some("2026-06-30T16:00:00Z".into())).unwrap();
        let plus = time("as_of", Some("2026-06-30T18:00:00+02:00".into())).unwrap();
        let minus = time("as_of", Some("2026-06-30T11:00:00.000000000-05:00".into())).unwrap();
        assert_eq!(z, plus);
        assert_eq!(z, minus);
        assert!(time("as_of", Some("yesterday".into())).is_err());
    }

    proptest::proptest! {
        #[test]
        fn time_parsing_never_panics(s in "\\PC{0,40}") {
            let _ = time("as_of", Some(s));
        }
    }
}
