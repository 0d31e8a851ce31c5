//! `GET /api/v1/search`: full-text search over current versions, every
//! version, or the shares as they were at a moment.

use std::time::SystemTime;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{ApiError, AppState, Work};
use crate::index::{Hits, IndexError, MAX_LIMIT, MAX_OFFSET};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// The query: words, "phrases", `OR`, `NOT`/`-word`, `title:`, `path:`, `author:`, `type:`, `word~1`.
    #[serde(default)]
    q: String,
    /// Only this share.
    #[param(nullable = false)]
    share: Option<String>,
    /// Only paths starting with this.
    #[param(nullable = false)]
    prefix: Option<String>,
    /// Only this type (`docx`, `pdf`, …) or family (`document`, `spreadsheet`, …).
    #[serde(rename = "type")]
    #[param(rename = "type", nullable = false)]
    types: Option<String>,
    /// Modified at or after this time (RFC 3339).
    #[param(format = DateTime, nullable = false)]
    after: Option<String>,
    /// Modified before this time (RFC 3339).
    #[param(format = DateTime, nullable = false)]
    before: Option<String>,
    /// Search every version, not only current ones (not with `as_of`).
    #[serde(default)]
    all_versions: bool,
    /// Search the shares as they were at this time (RFC 3339).
    #[param(format = DateTime, nullable = false)]
    as_of: Option<String>,
    /// Hits per page.
    #[param(minimum = 1, maximum = 1000, default = 20, nullable = false)]
    limit: Option<usize>,
    /// Hits to skip.
    #[param(minimum = 0, maximum = 100_000, default = 0, nullable = false)]
    offset: Option<usize>,
}

/// Full-text search.
#[utoipa::path(get, path = "/api/v1/search", tag = "search",
    params(SearchParams),
    responses(
        (status = 200, description = "The matching documents", body = Hits),
        (status = 400, description = "A bad parameter, or a query the parser rejects (with its reason)", body = super::error::ErrorBody),
        (status = 500, description = "The index could not be read", body = super::error::ErrorBody),
        (status = 503, description = "The search index is off", body = super::error::ErrorBody),
    ))]
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
    let prepared = searcher.prepare(&query).map_err(search_error)?;
    let work = Work::short_if(prepared.is_light());
    let hits = super::on_cpu(&state, work, move || prepared.run()).await?;
    hits.map(Json).map_err(search_error)
}

fn search_error(e: IndexError) -> ApiError {
    match e {
        IndexError::BadQuery(reason) => ApiError::bad_request(format!("bad query: {reason}")),
        e => ApiError::internal(e),
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
