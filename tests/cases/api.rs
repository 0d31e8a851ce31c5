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
        ("GET", "/metrics", None, None),
        ("GET", "/api/v1/openapi.json", None, None),
        ("GET", "/api/v1/shares", None, Some("reader")),
        ("GET", "/api/v1/events", None, Some("reader")),
        ("GET", "/api/v1/holds", None, Some("reader")),
        ("GET", "/api/v1/retention/due", None, Some("reader")),
        (
            "GET",
            "/api/v1/retention/check?share=alpha&path=doc.txt",
            None,
            Some("reader"),
        ),
        (
            "POST",
            "/api/v1/holds",
            Some(serde_json::json!({"share": "alpha", "prefix": "doc", "reason": "matrix"})),
            Some("admin"),
        ),
        ("DELETE", "/api/v1/holds/1", None, Some("admin")),
        (
            "POST",
            "/api/v1/retention/dispose",
            Some(serde_json::json!({"dry_run": true})),
            Some("admin"),
        ),
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
        (
            "GET",
            "/api/v1/shares/alpha/diff/doc.txt?from=1&to=1",
            None,
            Some("reader"),
        ),
        (
            "POST",
            "/api/v1/shares/alpha/restore/doc.txt",
            Some(serde_json::json!({"version": 1})),
            Some("editor"),
        ),
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
    // The diff route answers 409 until the text is extracted and indexed.
    d.wait_for(
        || {
            d.request("/api/v1/shares/alpha/diff/doc.txt?from=1&to=1")
                .status
                == 200
        },
        "doc.txt's text to be indexed",
    );

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

/// GET with extra headers (the daemon has no tokens).
fn get_with(
    d: &TestDaemon,
    method: &str,
    route: &str,
    headers: &[(&str, &str)],
) -> crate::util::Response {
    crate::util::http(d.addr(), method, route, headers, None).expect("request")
}

#[test]
fn downloads_carry_etag_ranges_head_and_a_unicode_file_name() {
    let d = TestDaemon::new().start();
    let v1: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    d.write("alpha", "Prüfbericht 2026.bin", &v1);
    d.wait_versions("alpha", "Prüfbericht 2026.bin", 1);
    d.write("alpha", "Prüfbericht 2026.bin", b"second version");
    d.wait_versions("alpha", "Prüfbericht 2026.bin", 2);
    let route = "/api/v1/shares/alpha/files/Pr%C3%BCfbericht%202026.bin?version=1";
    let etag = format!("\"{}\"", sha256_hex(&v1));

    let full = d.request(route);
    assert_eq!(full.status, 200);
    assert_eq!(full.body, v1);
    assert_eq!(full.header("etag"), Some(etag.as_str()));
    assert_eq!(full.header("x-docvault-version"), Some("1"));
    assert_eq!(full.header("accept-ranges"), Some("bytes"));
    assert_eq!(
        full.header("content-disposition"),
        Some(
            "attachment; filename=\"Pr_fbericht 2026.bin\"; filename*=UTF-8''Pr%C3%BCfbericht%202026%2Ebin"
        )
    );

    // If-None-Match: the same version is not sent again; another tag is.
    let cached = get_with(&d, "GET", route, &[("If-None-Match", &etag)]);
    assert_eq!(cached.status, 304);
    assert!(cached.body.is_empty());
    assert_eq!(cached.header("etag"), Some(etag.as_str()));
    let other = get_with(&d, "GET", route, &[("If-None-Match", "\"abc\", W/\"def\"")]);
    assert_eq!(other.status, 200);
    let weak = get_with(&d, "GET", route, &[("If-None-Match", &format!("W/{etag}"))]);
    assert_eq!(weak.status, 304);

    // Ranges: a middle slice, an open end, a suffix.
    for (range, from, to) in [
        ("bytes=100-199", 100, 199),
        ("bytes=9990-", 9990, 9999),
        ("bytes=-5", 9995, 9999),
    ] {
        let part = get_with(&d, "GET", route, &[("Range", range)]);
        assert_eq!(part.status, 206, "{range}");
        assert_eq!(part.body, &v1[from..=to], "{range}");
        assert_eq!(
            part.header("content-range"),
            Some(format!("bytes {from}-{to}/10000").as_str())
        );
        assert_eq!(
            part.header("content-length"),
            Some((to - from + 1).to_string().as_str())
        );
    }
    let outside = get_with(&d, "GET", route, &[("Range", "bytes=20000-")]);
    assert_eq!(outside.status, 416);
    assert_eq!(outside.header("content-range"), Some("bytes */10000"));
    assert_eq!(outside.json()["error"]["code"], "range_not_satisfiable");
    // The 416 answer is the JSON error, not the document (schemathesis found
    // it labelled with the document's type).
    assert_eq!(outside.header("content-type"), Some("application/json"));
    assert_eq!(outside.header("content-disposition"), None);
    // Malformed ranges, several ranges and an If-Range for another version get everything.
    for headers in [
        vec![("Range", "bytes=abc")],
        vec![("Range", "bytes=0-1,5-6")],
        vec![("Range", "bytes=0-1"), ("If-Range", "\"other\"")],
    ] {
        let whole = get_with(&d, "GET", route, &headers);
        assert_eq!(whole.status, 200, "{headers:?}");
        assert_eq!(whole.body, v1, "{headers:?}");
    }
    let if_range = get_with(
        &d,
        "GET",
        route,
        &[("Range", "bytes=0-1"), ("If-Range", &etag)],
    );
    assert_eq!(if_range.status, 206);

    // HEAD: the headers of a GET, no body.
    let head = get_with(&d, "HEAD", route, &[]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), Some("10000"));
    assert_eq!(head.header("etag"), Some(etag.as_str()));

    // The current version by default.
    let current = d.request("/api/v1/shares/alpha/files/Pr%C3%BCfbericht%202026.bin");
    assert_eq!(current.body, b"second version");
    assert_eq!(current.header("x-docvault-version"), Some("2"));
}

#[test]
fn a_deleted_document_answers_410_with_its_last_version() {
    let d = TestDaemon::new().start();
    d.write("alpha", "gone.txt", "soon gone");
    d.wait_versions("alpha", "gone.txt", 1);
    d.remove("alpha", "gone.txt");
    d.wait_versions("alpha", "gone.txt", 2);
    let r = d.request("/api/v1/shares/alpha/files/gone.txt");
    assert_eq!(r.status, 410);
    assert_eq!(r.json()["error"]["last_version"], 1);
    let old = d.request("/api/v1/shares/alpha/files/gone.txt?version=1");
    assert_eq!(old.body, b"soon gone");
    assert_eq!(
        d.request("/api/v1/shares/alpha/files/gone.txt?version=2")
            .status,
        410
    );
    assert_eq!(
        d.request("/api/v1/shares/alpha/files/gone.txt?version=9")
            .status,
        404
    );
}

fn restore(d: &TestDaemon, path: &str, body: Value) -> crate::util::Response {
    d.send(
        "POST",
        &format!(
            "/api/v1/shares/alpha/restore/{}",
            crate::util::encode_path(path)
        ),
        Some(&body),
    )
}

#[test]
fn restore_writes_the_old_bytes_back_and_versions_them() {
    use std::os::unix::fs::PermissionsExt;
    let d = TestDaemon::new().start();
    d.write("alpha", "plan.txt", "first plan");
    d.wait_versions("alpha", "plan.txt", 1);
    d.write("alpha", "plan.txt", "second plan");
    d.wait_versions("alpha", "plan.txt", 2);
    std::fs::set_permissions(
        d.path("alpha", "plan.txt"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();

    let r = restore(&d, "plan.txt", serde_json::json!({"version": 1}));
    assert_eq!(r.status, 200, "{}", r.text());
    let answer = r.json();
    assert_eq!(answer["path"], "plan.txt");
    assert_eq!(answer["version"], 3);
    assert_eq!(answer["restored_from"], 1);
    assert_eq!(
        std::fs::read(d.path("alpha", "plan.txt")).unwrap(),
        b"first plan"
    );
    let mode = std::fs::metadata(d.path("alpha", "plan.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640, "the file's mode is kept");
    let history = d.history("alpha", "plan.txt");
    assert_eq!(history[0]["event"], "restored");
    assert_eq!(history[0]["restored_from"], 1);
    assert_eq!(history[0]["sha256"], sha256_hex("first plan"));
    // The watcher's events for the rename add nothing; no temp file is left.
    crate::barrier(&d, "alpha", "after-restore.txt");
    assert_eq!(d.history("alpha", "plan.txt").len(), 3);
    let names: Vec<String> = std::fs::read_dir(d.share_dir("alpha"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names.iter().all(|n| !n.contains("docvault-restore")),
        "{names:?}"
    );

    // The same bytes again: nothing written, no version.
    let again = restore(&d, "plan.txt", serde_json::json!({"version": 3}));
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["unchanged"], true);
    assert_eq!(d.history("alpha", "plan.txt").len(), 3);

    // The CLI does the same through the API.
    let out = d.cli(&["restore", "alpha", "plan.txt", "--version", "2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "restored plan.txt v2 as v4"
    );
    assert_eq!(
        std::fs::read(d.path("alpha", "plan.txt")).unwrap(),
        b"second plan"
    );
    let bad = d.cli(&["restore", "alpha", "plan.txt", "--version", "99"]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("no version 99") && err.contains("404"),
        "{err}"
    );
}

#[test]
fn restore_recreates_a_deleted_document_and_its_folders() {
    let d = TestDaemon::new().start();
    d.write("alpha", "minutes/2026/board.txt", "board minutes");
    d.wait_versions("alpha", "minutes/2026/board.txt", 1);
    std::fs::remove_dir_all(d.path("alpha", "minutes")).unwrap();
    d.wait_versions("alpha", "minutes/2026/board.txt", 2);

    let r = restore(
        &d,
        "minutes/2026/board.txt",
        serde_json::json!({"version": 1}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["version"], 3);
    assert_eq!(
        std::fs::read(d.path("alpha", "minutes/2026/board.txt")).unwrap(),
        b"board minutes"
    );
    let history = d.history("alpha", "minutes/2026/board.txt");
    let events: Vec<&str> = history
        .iter()
        .map(|v| v["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["restored", "deleted", "created"]);
    assert_eq!(
        d.file("alpha", "minutes/2026/board.txt", None).body,
        b"board minutes"
    );
    // Restoring the deletion itself is refused.
    let gone = restore(
        &d,
        "minutes/2026/board.txt",
        serde_json::json!({"version": 2}),
    );
    assert_eq!(gone.status, 410, "{}", gone.text());
    // Like every 410, it names the newest version with content.
    assert_eq!(gone.json()["error"]["last_version"], 3, "{}", gone.text());
}

#[test]
fn restore_versions_unsettled_content_on_disk_first() {
    // A long settle: the second write is still settling when the restore comes.
    let d = TestDaemon::new().settle("3s").start();
    d.write("alpha", "budget.txt", "approved budget");
    d.wait_versions("alpha", "budget.txt", 1);
    d.write("alpha", "budget.txt", "unsaved edits nobody versioned yet");
    let r = restore(&d, "budget.txt", serde_json::json!({"version": 1}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["version"], 3);
    let history = d.history("alpha", "budget.txt");
    let shas: Vec<&str> = history
        .iter()
        .map(|v| v["sha256"].as_str().unwrap())
        .collect();
    assert_eq!(
        shas,
        [
            sha256_hex("approved budget"),
            sha256_hex("unsaved edits nobody versioned yet"),
            sha256_hex("approved budget"),
        ]
    );
    assert_eq!(history[1]["event"], "modified");
    assert_eq!(
        d.file("alpha", "budget.txt", Some(2)).body,
        b"unsaved edits nobody versioned yet"
    );
}

#[test]
fn restore_to_another_path_needs_overwrite_for_an_existing_file() {
    let d = TestDaemon::new().start();
    d.write("alpha", "risk.csv", "id,status\nR-12,green\n");
    d.wait_versions("alpha", "risk.csv", 1);
    d.write("alpha", "other.csv", "precious");
    d.wait_versions("alpha", "other.csv", 1);

    let copy = restore(
        &d,
        "risk.csv",
        serde_json::json!({"version": 1, "to": "archive/risk-v1.csv"}),
    );
    assert_eq!(copy.status, 200, "{}", copy.text());
    assert_eq!(copy.json()["path"], "archive/risk-v1.csv");
    assert_eq!(copy.json()["version"], 1);
    let history = d.history("alpha", "archive/risk-v1.csv");
    assert_eq!(history[0]["event"], "restored");
    assert_eq!(history[0]["restored_from"], 1);

    let refused = restore(
        &d,
        "risk.csv",
        serde_json::json!({"version": 1, "to": "other.csv"}),
    );
    assert_eq!(refused.status, 409, "{}", refused.text());
    assert_eq!(
        std::fs::read(d.path("alpha", "other.csv")).unwrap(),
        b"precious"
    );
    let replaced = restore(
        &d,
        "risk.csv",
        serde_json::json!({"version": 1, "to": "other.csv", "overwrite": true}),
    );
    assert_eq!(replaced.status, 200, "{}", replaced.text());
    assert_eq!(replaced.json()["version"], 2);
    assert_eq!(d.file("alpha", "other.csv", Some(1)).body, b"precious");
}

#[test]
fn restore_refuses_bad_requests_without_touching_anything() {
    let d = TestDaemon::new().start();
    d.write("alpha", "doc.txt", "content");
    d.wait_versions("alpha", "doc.txt", 1);
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), d.path("alpha", "escape")).unwrap();
    let cases: Vec<(&str, Value, u16)> = vec![
        ("doc.txt", serde_json::json!({"version": 7}), 404),
        ("nothing.txt", serde_json::json!({"version": 1}), 404),
        ("doc.txt", serde_json::json!({}), 400),
        ("doc.txt", serde_json::json!({"version": "one"}), 400),
        (
            "doc.txt",
            serde_json::json!({"version": 1, "extra": true}),
            400,
        ),
        (
            "doc.txt",
            serde_json::json!({"version": 1, "to": "../x.txt"}),
            400,
        ),
        (
            "doc.txt",
            serde_json::json!({"version": 1, "to": "/etc/x.txt"}),
            400,
        ),
        (
            "doc.txt",
            serde_json::json!({"version": 1, "to": "a\\b.txt"}),
            400,
        ),
        (
            "doc.txt",
            serde_json::json!({"version": 1, "to": "escape/x.txt"}),
            400,
        ),
        (
            "doc.txt",
            serde_json::json!({"version": 1, "to": "notes.tmp"}),
            400,
        ),
    ];
    for (path, body, status) in cases {
        let r = restore(&d, path, body.clone());
        assert_eq!(r.status, status, "{path} {body}: {}", r.text());
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let raw = d.send_as("POST", "/api/v1/shares/alpha/restore/doc.txt", None, None);
    assert_eq!(raw.status, 400, "no body: {}", raw.text());
    let broken = crate::util::http(
        d.addr(),
        "POST",
        "/api/v1/shares/alpha/restore/doc.txt",
        &[("Content-Type", "application/json")],
        Some(b"{not json"),
    )
    .unwrap();
    assert_eq!(broken.status, 400, "{}", broken.text());
    assert!(
        std::fs::read_dir(outside.path()).unwrap().next().is_none(),
        "wrote through the symlink"
    );
    assert!(!d.path("alpha", "notes.tmp").exists());
    assert_eq!(d.history("alpha", "doc.txt").len(), 1);
}

/// Ways to name something outside the share, raw and percent-encoded.
const TRAVERSALS: &[&str] = &[
    "..",
    "../etc/passwd",
    "a/../../etc/passwd",
    "%2e%2e/etc/passwd",
    "%2E%2E%2Fetc%2Fpasswd",
    "a%2f..%2f..%2fetc",
    "..%5c..%5cwindows",
    "a%5cb",
    "%00",
    "doc.txt%00.pdf",
    "%2fetc%2fpasswd",
    "/etc/passwd",
    "./doc.txt",
    "a//b",
];

#[test]
fn every_path_route_refuses_traversal_with_400() {
    let d = TestDaemon::new().start();
    d.write("alpha", "doc.txt", "inside");
    d.wait_versions("alpha", "doc.txt", 1);
    let body = serde_json::json!({"version": 1});
    for bad in TRAVERSALS {
        for (method, route, body) in [
            ("GET", format!("/api/v1/shares/alpha/files/{bad}"), None),
            ("GET", format!("/api/v1/shares/alpha/history/{bad}"), None),
            (
                "GET",
                format!("/api/v1/shares/alpha/diff/{bad}?from=1&to=1"),
                None,
            ),
            (
                "POST",
                format!("/api/v1/shares/alpha/restore/{bad}"),
                Some(&body),
            ),
        ] {
            let r = d.send(method, &route, body);
            assert_eq!(r.status, 400, "{method} {route}: {}", r.text());
            assert_eq!(r.json()["error"]["code"], "bad_request", "{route}");
        }
    }
}

#[test]
fn client_mistakes_get_json_errors_with_the_right_status() {
    let d = TestDaemon::new().start();
    d.write("alpha", "doc.txt", "x");
    d.wait_versions("alpha", "doc.txt", 1);
    let cases: &[(&str, &str, u16)] = &[
        ("GET", "/nope", 404),
        ("GET", "/api/v1/nope", 404),
        ("GET", "/api/v1/shares/nosuch/documents", 404),
        ("GET", "/api/v1/shares/nosuch/history/doc.txt", 404),
        ("DELETE", "/api/v1/shares", 405),
        ("POST", "/api/v1/shares/alpha/files/doc.txt", 405),
        ("GET", "/api/v1/shares/alpha/restore/doc.txt", 405),
        ("GET", "/api/v1/shares/alpha/documents?limit=0", 400),
        ("GET", "/api/v1/shares/alpha/documents?limit=100000", 400),
        ("GET", "/api/v1/shares/alpha/documents?limit=abc", 400),
        ("GET", "/api/v1/shares/alpha/documents?cursor=zz", 400),
        ("GET", "/api/v1/shares/alpha/documents?bogus=1", 400),
        ("GET", "/api/v1/shares/alpha/files/doc.txt?version=-1", 400),
        (
            "GET",
            "/api/v1/shares/alpha/files/doc.txt?version=99999999999",
            400,
        ),
        ("GET", "/api/v1/search?q=x&limit=100000", 400),
        ("GET", "/api/v1/search?q=x&offset=99999999", 400),
        ("GET", "/api/v1/search?q=%22unbalanced", 400),
        ("GET", "/api/v1/search?q=x&as_of=yesterday", 400),
    ];
    for (method, route, status) in cases {
        let r = d.send(method, route, None);
        assert_eq!(r.status, *status, "{method} {route}: {}", r.text());
        let json = r.json();
        assert!(json["error"]["code"].is_string(), "{route}: {json}");
        assert!(
            json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{route}"
        );
    }
    // A body over the limit is 413; the file is untouched.
    let huge = serde_json::json!({"version": 1, "to": "x".repeat(100_000)});
    let r = d.send("POST", "/api/v1/shares/alpha/restore/doc.txt", Some(&huge));
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "too_large");
    // Every answer carries the security headers.
    for route in [
        "/healthz",
        "/api/v1/shares",
        "/nope",
        "/api/v1/shares/alpha/files/doc.txt",
    ] {
        let r = d.request(route);
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{route}"
        );
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{route}");
        assert!(
            r.header("content-security-policy")
                .is_some_and(|c| c.contains("default-src 'none'"))
        );
    }
}

#[test]
fn sigterm_lets_an_in_flight_download_finish() {
    use std::io::{Read, Write};
    let mut d = TestDaemon::new().start();
    let big: Vec<u8> = (0..24 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    d.write("alpha", "big.bin", &big);
    d.wait_versions("alpha", "big.bin", 1);

    let mut stream = std::net::TcpStream::connect(d.addr()).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "GET /api/v1/shares/alpha/files/big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut first = vec![0u8; 64 * 1024];
    stream.read_exact(&mut first).unwrap();
    // The client is slow: most of the body is still to come.
    crate::util::signal(d.pid(), "TERM");
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    first.extend(rest);
    let body_at = first.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(first.starts_with(b"HTTP/1.1 200"));
    assert_eq!(
        first.len() - body_at,
        big.len(),
        "the download was cut short"
    );
    assert!(first[body_at..] == big[..]);
    assert!(
        d.wait_exit().success(),
        "exit 0 after the in-flight request"
    );
}
