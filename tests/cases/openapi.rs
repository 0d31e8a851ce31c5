//! `GET /api/v1/openapi.json` through the real daemon: an OpenAPI 3 document,
//! open to everyone while the routes it describes need a token, naming every
//! route of the contract that this daemon serves with its methods.

use serde_json::Value;

use crate::util::TestDaemon;

/// The contract's routes (DESIGN.md, "Contract: HTTP API") that this daemon
/// serves, as OpenAPI paths with their methods. Retention, holds and the
/// audit trail are not served yet; each gets its line here when it is.
const CONTRACT: &[(&str, &[&str])] = &[
    ("/healthz", &["get"]),
    ("/readyz", &["get"]),
    ("/metrics", &["get"]),
    ("/api/v1/openapi.json", &["get"]),
    ("/api/v1/shares", &["get"]),
    ("/api/v1/shares/{share}/documents", &["get"]),
    ("/api/v1/shares/{share}/files/{path}", &["get", "head"]),
    ("/api/v1/shares/{share}/history/{path}", &["get"]),
    ("/api/v1/shares/{share}/diff/{path}", &["get"]),
    ("/api/v1/shares/{share}/restore/{path}", &["post"]),
    ("/api/v1/search", &["get"]),
    ("/api/v1/events", &["get"]),
    ("/api/v1/retention/check", &["get"]),
    ("/api/v1/retention/due", &["get"]),
    ("/api/v1/holds", &["get", "post"]),
    ("/api/v1/holds/{id}", &["delete"]),
    ("/api/v1/retention/dispose", &["post"]),
];

#[test]
fn openapi_json_is_an_openapi_3_document_of_every_contract_route() {
    let d = TestDaemon::new()
        .tokens(&[("pmo", "reader", "reader-secret")], "reader-secret")
        .start();
    let r = d.send_as("GET", "/api/v1/openapi.json", None, None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let doc = r.json();
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3."), "openapi: {}", doc["openapi"]);
    assert_eq!(doc["info"]["title"], "docvault");
    let paths = doc["paths"].as_object().expect("paths");
    for (path, methods) in CONTRACT {
        let item = paths
            .get(*path)
            .unwrap_or_else(|| panic!("{path} is missing from {:?}", paths.keys()));
        for method in *methods {
            let op = &item[*method];
            assert!(op.is_object(), "{method} {path} is not described");
            let success = match (*method, *path) {
                ("post", "/api/v1/holds") => "201",
                ("delete", _) => "204",
                _ => "200",
            };
            assert!(
                op["responses"][success].is_object(),
                "{method} {path} has no {success}"
            );
        }
    }
    assert_eq!(paths.len(), CONTRACT.len(), "{:?}", paths.keys());

    // Every `$ref` names a schema the document holds.
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(schemas.contains_key(name), "$ref {r} has no schema");
    }
    let error = &schemas["Error"]["properties"]["error"];
    assert!(error.is_object(), "{}", schemas["Error"]);
    assert_eq!(
        schemas["GoneError"]["properties"]["error"]["$ref"],
        "#/components/schemas/GoneDetail"
    );
    assert!(
        schemas["GoneDetail"]["required"]
            .as_array()
            .unwrap()
            .contains(&Value::from("last_version"))
    );
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}
