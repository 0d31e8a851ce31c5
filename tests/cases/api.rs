//! The HTTP API's contract: authentication and roles on every route,
//! downloads (ETag, Range, HEAD), restore, and the hardening rules.

use serde_json::Value;

use crate::util::{TestDaemon, docvault, sha256_hex};

/// Every route with a method, a body and the lowest role it needs.
/// `None`: open to everyone.
fn routes() -> Vec<(
    &'static str,
    &'static str,
    Option<Value>,
    Option<&'static str>,
)> {
    vec![
        ("GET", "/healthz", None, None),
        ("GET", "/readyz", None, None),
        ("GET", "/api/v1/shares", None, Some("reader")),
        (
            "GET",
            "/api/v1/shares/alpha/documents",
            None,
            Some("reader"),
        ),
        (
            "GET",
            "/api/v1/shares/alpha/history/doc.txt",
            None,
            Some("reader"),
        ),
        (
            "GET",
            "/api/v1/shares/alpha/files/doc.txt",
            None,
            Some("reader"),
        ),
        (
            "HEAD",
            "/api/v1/shares/alpha/files/doc.txt",
            None,
            Some("reader"),
        ),
        ("GET", "/api/v1/search?q=matrix", None, Some("reader")),
    ]
}

fn rank(role: &str) -> u8 {
    match role {
        "reader" => 1,
        "editor" => 2,
        "admin" => 3,
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn every_route_checks_the_token_and_its_role() {
    let d = TestDaemon::new()
        .tokens(
            &[
                ("ann-reader", "reader", "reader-secret"),
                ("ed-editor", "editor", "editor-secret"),
                ("ada-admin", "admin", "admin-secret"),
            ],
            "admin-secret",
        )
        .start();
    d.write("alpha", "doc.txt", "matrix text");
    d.wait_versions("alpha", "doc.txt", 1);

    let callers: [(&str, Option<&str>, u8); 5] = [
        ("no token", None, 0),
        ("unknown token", Some("Bearer not-a-token"), 0),
        ("reader", Some("Bearer reader-secret"), 1),
        ("editor", Some("Bearer editor-secret"), 2),
        ("admin", Some("Bearer admin-secret"), 3),
    ];
    for (method, route, body, needs) in routes() {
        for (who, auth, has) in callers {
            let r = d.send_as(method, route, auth, body.as_ref());
            let expected = match needs {
                None => None,
                Some(_) if has == 0 => Some(401),
                Some(role) if has < rank(role) => Some(403),
                Some(_) => None,
            };
            match expected {
                Some(status) => {
                    assert_eq!(r.status, status, "{method} {route} as {who}: {}", r.text());
                    if method != "HEAD" {
                        let code = r.json()["error"]["code"].as_str().unwrap().to_owned();
                        let want = if status == 401 {
                            "unauthorized"
                        } else {
                            "forbidden"
                        };
                        assert_eq!(code, want, "{method} {route} as {who}");
                    }
                    if status == 401 {
                        assert!(
                            r.header("www-authenticate")
                                .is_some_and(|h| h.starts_with("Bearer"))
                        );
                    }
                }
                None => assert!(
                    r.status < 400,
                    "{method} {route} as {who}: {} {}",
                    r.status,
                    r.text()
                ),
            }
        }
    }
}

#[test]
fn token_new_prints_a_token_whose_config_lines_work() {
    let out = docvault(&["token", "new", "--name", "Ünï \"pmo\"", "--role", "editor"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let token = text
        .lines()
        .find_map(|l| l.strip_prefix("token: "))
        .expect("a token line")
        .to_owned();
    let config = &text[text.find("[[tokens]]").expect("config lines")..];
    assert!(
        config.contains(&format!("sha256 = \"{}\"", sha256_hex(&token))),
        "{text}"
    );
    assert!(
        !config.contains(&token),
        "the config lines must not hold the token itself"
    );
    let again = docvault(&["token", "new", "--name", "x", "--role", "admin"]);
    assert!(
        !String::from_utf8_lossy(&again.stdout).contains(&token),
        "tokens repeat"
    );
    let bad = docvault(&["token", "new", "--name", "x", "--role", "boss"]);
    assert!(!bad.status.success());

    // The printed lines, pasted into a config, let that token in.
    let d = TestDaemon::new().config(&format!("\n{config}")).start();
    let ok = d.send_as(
        "GET",
        "/api/v1/shares",
        Some(&format!("Bearer {token}")),
        None,
    );
    assert_eq!(ok.status, 200, "{}", ok.text());
    let no = d.send_as("GET", "/api/v1/shares", None, None);
    assert_eq!(no.status, 401);
    let forbidden = d.send_as("GET", "/api/v1/shares", Some("Bearer x"), None);
    assert_eq!(forbidden.status, 401);
}
