//! `GET /metrics` and the middleware that counts and times every request by
//! the route template it matched (see [`crate::metrics`]).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};
use crate::metrics::{Format, Metrics};

/// Every metric family, in the format the `Accept` header asks for.
#[utoipa::path(get, path = "/metrics", tag = "health",
    params(("Accept" = Option<String>, Header, nullable = false,
        description = "`application/openmetrics-text` for OpenMetrics; Prometheus text 0.0.4 otherwise")),
    responses(
        (status = 200, description = "Every metric family", content(
            (String = "text/plain"),
            (String = "application/openmetrics-text"),
        )),
        (status = 500, description = "The metrics could not be encoded", body = super::error::ErrorBody),
    ))]
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept);
    match state.metrics.encode(format) {
        Ok(body) => ([(header::CONTENT_TYPE, format.content_type())], body).into_response(),
        Err(e) => ApiError::internal(format!("cannot encode metrics: {e}")).into_response(),
    }
}

/// Records the request's route template, method, status and duration (to
/// the response head: a streamed body is not waited for).
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.request(
        route.as_deref(),
        &method,
        response.status(),
        started.elapsed(),
    );
    response
}

#[cfg(test)]
mod tests {
    use std::sync::RwLock;

    use axum::body::Body;
    use axum::http::{Method, StatusCode};
    use tower::ServiceExt;

    use super::*;
    use crate::api::router;
    use crate::catalog::Catalog;

    fn state() -> AppState {
        AppState::for_tests(
            Arc::new(RwLock::new(Catalog::default())),
            "/nonexistent/archive.git".into(),
            None,
        )
    }

    async fn call(state: &AppState, method: Method, uri: &str, accept: Option<&str>) -> Response {
        let mut req = axum::http::Request::builder().method(method).uri(uri);
        if let Some(accept) = accept {
            req = req.header(header::ACCEPT, accept);
        }
        let req = req.body(Body::empty()).unwrap();
        router(state.clone()).oneshot(req).await.unwrap()
    }

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn requests_are_counted_by_route_template_not_raw_path() {
        let state = state();
        let raw = "/api/v1/shares/alpha/files/secret%20plans/budget.xlsx";
        assert_eq!(
            call(&state, Method::GET, raw, None).await.status(),
            StatusCode::NOT_FOUND
        );
        let unknown = "/no/such/route/q3-layoffs";
        assert_eq!(
            call(&state, Method::GET, unknown, None).await.status(),
            StatusCode::NOT_FOUND
        );
        let response = call(&state, Method::GET, "/metrics", None).await;
        assert_eq!(response.status(), StatusCode::OK);
        let text = body(response).await;
        assert!(
            text.contains(concat!(
                r#"docvault_http_requests_total{route="/api/v1/shares/{share}/files/{*path}","#,
                r#"method="GET",status="404"} 1"#
            )),
            "{text}"
        );
        assert!(
            text.contains(
                r#"docvault_http_requests_total{route="unmatched",method="GET",status="404"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"docvault_http_request_seconds_count{route="unmatched"} 1"#),
            "{text}"
        );
        for secret in ["secret", "budget", "q3-layoffs", "alpha"] {
            assert!(!text.contains(secret), "{secret} leaked into:\n{text}");
        }
    }

    #[tokio::test]
    async fn content_type_matches_the_negotiated_format() {
        let state = state();
        let plain = call(&state, Method::GET, "/metrics", None).await;
        assert_eq!(
            plain.headers()[header::CONTENT_TYPE],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        assert!(!body(plain).await.contains("# EOF"));
        let accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
        let open = call(&state, Method::GET, "/metrics", Some(accept)).await;
        assert_eq!(
            open.headers()[header::CONTENT_TYPE],
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        );
        let text = body(open).await;
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(
            text.contains("# TYPE docvault_settle_queue gauge\n"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_wrong_method_on_a_known_route_keeps_its_template() {
        let state = state();
        let response = call(&state, Method::POST, "/api/v1/shares", None).await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        let text = body(call(&state, Method::GET, "/metrics", None).await).await;
        assert!(
            text.contains(
                r#"docvault_http_requests_total{route="/api/v1/shares",method="POST",status="405"} 1"#
            ),
            "{text}"
        );
    }
}
