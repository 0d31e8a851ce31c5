//! The OpenAPI document of the API, served at `GET /api/v1/openapi.json`.
//!
//! It is not written by hand: every route is registered with utoipa-axum's
//! `routes!`, which takes the route's path and methods from the handler's
//! `#[utoipa::path]` and registers exactly those with axum, so a route cannot
//! be served without being described, nor described without being served.
//! What a layer adds to every route of a group is added to the document by
//! the same code that adds the layer ([`needs_token`]: the bearer token and
//! its 401/403), and [`finish`] adds what every API route shares (the 503 of
//! the time limit) and writes axum's wildcards (`{*path}`) as OpenAPI's
//! `{path}`.

use std::sync::Arc;

use axum::Extension;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::Modify;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, Header, OpenApi, Ref, RefOr, ResponseBuilder};

use super::auth::role_name;
use crate::config::Role;

/// The name of the bearer security scheme in the document.
const BEARER: &str = "bearer";

/// What the document says before the routes are added to it.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "docvault",
        description = "Every version of every document of the watched shares: list, history, \
            bytes, diff, search and restore. Errors are `{\"error\": {\"code\", \"message\"}}`. \
            Optional fields are `null` when empty, never missing."
    ),
    components(schemas(super::error::ErrorBody, super::error::GoneBody)),
    modifiers(&BearerScheme),
    tags(
        (name = "health", description = "Liveness, readiness, metrics and this document"),
        (name = "shares", description = "Shares and their documents"),
        (name = "documents", description = "One document: history, bytes, diff, restore"),
        (name = "search", description = "Full-text search"),
    )
)]
pub struct ApiDoc;

/// Adds the `bearer` security scheme (`Authorization: Bearer <token>`).
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "A token from `docvault token new` whose sha256 is in the config's `[[tokens]]`. \
                 With no tokens configured (loopback only), every request is allowed.",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(BEARER, SecurityScheme::Http(scheme));
    }
}

/// Marks every operation of a route group as needing a token of `role`:
/// the bearer security requirement, 401 and, above the lowest role, 403.
pub fn needs_token(spec: &mut OpenApi, role: Role) {
    for item in spec.paths.paths.values_mut() {
        for op in operations(item) {
            op.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
            let unauthorized = ResponseBuilder::new()
                .description("No token, or one that is not configured")
                .content("application/json", error_content("Error"))
                .header("WWW-Authenticate", string_header())
                .build();
            add_response(op, "401", unauthorized);
            if role > Role::Reader {
                let forbidden = ResponseBuilder::new()
                    .description(format!(
                        "The token's role is below {}, which this route needs",
                        role_name(role)
                    ))
                    .content("application/json", error_content("Error"))
                    .build();
                add_response(op, "403", forbidden);
            }
        }
    }
}

/// The document as served: wildcards written OpenAPI's way, and the time
/// limit's 503 on every API route.
pub fn finish(mut spec: OpenApi) -> OpenApi {
    let paths = std::mem::take(&mut spec.paths.paths);
    for (path, mut item) in paths {
        if path.starts_with("/api/") {
            for op in operations(&mut item) {
                let timeout = ResponseBuilder::new()
                    .description(format!(
                        "Not ready, or the answer took longer than {:?}",
                        super::REQUEST_TIMEOUT
                    ))
                    .content("application/json", error_content("Error"))
                    .build();
                add_response(op, "503", timeout);
            }
        }
        spec.paths.paths.insert(openapi_path(&path), item);
    }
    spec
}

/// `/files/{*path}` (axum's wildcard) → `/files/{path}`.
pub fn openapi_path(axum_path: &str) -> String {
    axum_path.replace("{*", "{")
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
}

/// Adds a response unless the operation already describes that status.
fn add_response(op: &mut Operation, status: &str, response: utoipa::openapi::Response) {
    op.responses
        .responses
        .entry(status.to_owned())
        .or_insert(RefOr::T(response));
}

fn error_content(schema: &str) -> Content {
    Content::new(Some(Ref::from_schema_name(schema)))
}

fn string_header() -> Header {
    Header::new(ObjectBuilder::new().schema_type(Type::String))
}

/// The document, serialized once at start.
#[derive(Clone)]
pub struct Document(pub Arc<String>);

impl Document {
    pub fn new(spec: &OpenApi) -> Document {
        let json = spec
            .to_pretty_json()
            .expect("an OpenAPI document always serializes");
        Document(Arc::new(json))
    }
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "health",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API",
        content_type = "application/json", body = Object)))]
pub async fn openapi_json(Extension(doc): Extension<Document>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        doc.0.as_str().to_owned(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::RwLock;

    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode};
    use serde_json::Value;
    use tower::ServiceExt;

    use super::*;
    use crate::api::{AppState, openapi_document, router};
    use crate::catalog::Catalog;
    use crate::config::TokenConfig;

    fn state() -> AppState {
        AppState::for_tests(
            Arc::new(RwLock::new(Catalog::default())),
            "/nonexistent/archive.git".into(),
            None,
        )
    }

    fn spec() -> Value {
        serde_json::to_value(openapi_document()).unwrap()
    }

    /// `(METHOD, /openapi/{path})` of every operation in the document.
    fn spec_operations() -> BTreeSet<(String, String)> {
        let spec = spec();
        let mut ops = BTreeSet::new();
        for (path, item) in spec["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if method != "parameters" {
                    ops.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        ops
    }

    /// `(METHOD, /axum/{*path})` of every route the router serves, read from
    /// its `Debug` form (axum has no other way to list them): the path
    /// router's route ids, their paths and the methods with an endpoint.
    fn router_operations() -> BTreeSet<(String, String)> {
        let debug = format!("{:?}", router(state()));
        let start = debug
            .find("path_router: PathRouter {")
            .expect("axum's Router Debug form");
        let end = debug
            .find("fallback_router:")
            .expect("axum's Router Debug form");
        let routes = &debug[start..end];
        let (methods, paths) = routes.split_once("node: Node {").expect("a route node");
        let mut ops = BTreeSet::new();
        for entry in methods.split("RouteId(").skip(1) {
            let (id, rest) = entry.split_once(')').unwrap();
            let Some(fields) = rest.split_once("MethodRouter {") else {
                continue;
            };
            let fields = fields.1.split("fallback:").next().unwrap();
            let path_key = format!("RouteId({id}): \"");
            let path = paths
                .split(&path_key)
                .nth(1)
                .expect("every route id has a path");
            let path = &path[..path.find('"').unwrap()];
            for field in fields.split(',').filter(|f| !f.trim().is_empty()) {
                let (method, endpoint) = field.trim().split_once(": ").unwrap();
                if endpoint != "None" {
                    ops.insert((method.to_uppercase(), path.to_owned()));
                }
            }
        }
        ops
    }

    #[test]
    fn the_document_describes_exactly_the_routes_the_router_serves() {
        let served: BTreeSet<_> = router_operations()
            .into_iter()
            .map(|(m, p)| (m, openapi_path(&p)))
            .collect();
        assert!(
            served.len() >= 12,
            "too few routes read from the router: {served:?}"
        );
        assert_eq!(served, spec_operations());
    }

    #[tokio::test]
    async fn every_described_operation_reaches_its_handler() {
        for (method, path) in spec_operations() {
            let uri = path
                .replace("{share}", "nosuchshare")
                .replace("{path}", "a/b.txt");
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let body = if method == Method::POST {
                r#"{"version":1}"#
            } else {
                ""
            };
            let req = Request::builder()
                .method(method.clone())
                .uri(&uri)
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap();
            let response = router(state()).oneshot(req).await.unwrap();
            assert_ne!(
                response.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {uri}"
            );
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains("no such route"), "{method} {uri}: {text}");
        }
    }

    #[test]
    fn optional_fields_are_required_and_nullable_in_every_answer_schema() {
        let spec = spec();
        for (name, schema) in spec["components"]["schemas"].as_object().unwrap() {
            if name == "RestoreBody" || name == "NewHold" || name == "DisposeBody" {
                continue; // requests: their optional fields may be left out
            }
            let Some(properties) = schema["properties"].as_object() else {
                continue;
            };
            let required: BTreeSet<&str> = schema["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for property in properties.keys() {
                assert!(
                    required.contains(property.as_str()),
                    "{name}.{property} may be missing"
                );
            }
        }
        let entry = &spec["components"]["schemas"]["HistoryEntry"]["properties"];
        for field in [
            "title",
            "author",
            "renamed_from",
            "renamed_to",
            "restored_from",
        ] {
            let types = entry[field]["type"].as_array().unwrap();
            assert!(types.contains(&Value::from("null")), "{field}: {types:?}");
        }
    }

    #[test]
    fn routes_behind_a_token_say_so_and_the_others_do_not() {
        let spec = spec();
        let public = ["/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"];
        for (path, item) in spec["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let responses = op["responses"].as_object().unwrap();
                if public.contains(&path.as_str()) {
                    assert!(op.get("security").is_none(), "{method} {path}");
                    assert!(!responses.contains_key("401"), "{method} {path}");
                    continue;
                }
                assert_eq!(
                    op["security"],
                    serde_json::json!([{ "bearer": [] }]),
                    "{method} {path}"
                );
                assert!(responses.contains_key("401"), "{method} {path}");
                let editor = path.contains("/restore/")
                    || path.ends_with("/dispose")
                    || (path.contains("/holds") && method != "get");
                assert_eq!(responses.contains_key("403"), editor, "{method} {path}");
                assert!(
                    responses.contains_key("503"),
                    "{method} {path}: the time limit"
                );
            }
        }
        assert_eq!(
            spec["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
    }

    #[test]
    fn wildcards_are_openapi_path_parameters() {
        let spec = spec();
        let paths = spec["paths"].as_object().unwrap();
        assert!(
            paths.keys().all(|p| !p.contains("{*")),
            "{:?}",
            paths.keys()
        );
        let history = &paths["/api/v1/shares/{share}/history/{path}"]["get"]["parameters"];
        let names: Vec<&str> = history
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["share", "path"]);
        assert!(
            history
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p["in"] == "path" && p["required"] == true)
        );
    }

    #[test]
    fn query_bounds_are_the_handlers_bounds() {
        let spec = spec();
        let params = spec["paths"]["/api/v1/search"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .clone();
        let param =
            |name: &str| params.iter().find(|p| p["name"] == name).unwrap()["schema"].clone();
        assert_eq!(param("limit")["maximum"], crate::index::MAX_LIMIT);
        assert_eq!(param("limit")["minimum"], 1);
        assert_eq!(param("offset")["maximum"], crate::index::MAX_OFFSET);
    }

    #[tokio::test]
    async fn the_document_is_served_without_a_token() {
        let mut state = state();
        state.auth = Arc::new(crate::api::auth::Auth::new(vec![TokenConfig {
            name: "pmo".into(),
            role: Role::Admin,
            sha256: [7; 32],
        }]));
        let req = Request::builder()
            .uri("/api/v1/openapi.json")
            .body(Body::empty())
            .unwrap();
        let response = router(state.clone()).oneshot(req).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "application/json");
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let served: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(served, spec());
        assert_eq!(served["openapi"], "3.1.0");
        // The routes behind it still need one.
        let req = Request::builder()
            .uri("/api/v1/shares")
            .body(Body::empty())
            .unwrap();
        let response = router(state).oneshot(req).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
}
