//! The API's one error type: a status, a stable code and a message for the
//! client. 4xx are the client's mistake and are not logged; 5xx hide their
//! cause from the client and log it once here.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// A deleted document's last version with content (410 answers only).
    pub last_version: Option<u32>,
}

/// The body of every error answer: `{"error": {"code", "message"}}`.
#[derive(Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable, machine-readable code (`bad_request`, `not_found`, `unauthorized`, …).
    #[schema(examples("not_found"))]
    code: &'static str,
    /// What went wrong, for people.
    message: String,
}

/// The body of a 410 answer: the error and the last version that still has content.
#[derive(Serialize, ToSchema)]
#[schema(as = GoneError)]
pub struct GoneBody {
    error: GoneDetail,
}

#[derive(Serialize, ToSchema)]
pub struct GoneDetail {
    #[schema(examples("gone"))]
    code: &'static str,
    message: String,
    /// The newest version with content (0: none).
    last_version: u32,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            last_version: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn gone(message: impl Into<String>, last_version: u32) -> ApiError {
        let mut e = ApiError::new(StatusCode::GONE, "gone", message);
        e.last_version = Some(last_version);
        e
    }

    /// A server-side failure: logged in full, answered generically.
    pub fn internal(err: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %err, "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the daemon's log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (code, message) = (self.code, self.message);
        match self.last_version {
            Some(last_version) => {
                let error = GoneDetail {
                    code,
                    message,
                    last_version,
                };
                (self.status, Json(GoneBody { error })).into_response()
            }
            None => (
                self.status,
                Json(ErrorBody {
                    error: ErrorDetail { code, message },
                }),
            )
                .into_response(),
        }
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(r: axum::extract::rejection::QueryRejection) -> ApiError {
        ApiError::bad_request(r.body_text())
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(r: axum::extract::rejection::PathRejection) -> ApiError {
        ApiError::bad_request(r.body_text())
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(r: axum::extract::rejection::JsonRejection) -> ApiError {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the request body is larger than {} bytes", super::MAX_BODY),
            );
        }
        ApiError::bad_request(r.body_text())
    }
}
