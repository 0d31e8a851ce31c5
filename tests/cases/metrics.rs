//! `GET /metrics` through the real daemon: two dropped files show up as
//! versions, timed commits, extraction results and indexed versions, and the
//! requests made meanwhile are counted by route template and status, with no
//! client-chosen path in any label.

use crate::util::{TestDaemon, encode_path};

/// One sample of an exposition: its name, labels and value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// The samples of a Prometheus text exposition (label values without `,` or `"`).
fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("sample has a value");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
                .collect();
            Sample {
                name: name.to_owned(),
                labels,
                value: value.parse().expect("sample value is a number"),
            }
        })
        .collect()
}

/// The sum of the samples called `name` whose labels include `labels`.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples(text)
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
        })
        .map(|s| s.value)
        .sum()
}

#[test]
fn metrics_count_versions_timings_extractions_and_requests_by_route() {
    let d = TestDaemon::new().start();
    let files = [
        "board-papers/q3-layoff-plan.txt",
        "minutes/steering-2026-11.md",
    ];
    d.write("alpha", files[0], "Headcount plan for Q3, draft.");
    d.write("alpha", files[1], "# Steering committee\n\nDecisions.");
    for f in files {
        d.wait_versions("alpha", f, 1);
    }

    let got = d.file("alpha", files[0], None);
    assert_eq!(got.status, 200, "{}", got.text());
    let missing = "board-papers/secret-merger.docx";
    let route = format!("/api/v1/shares/alpha/files/{}", encode_path(missing));
    assert_eq!(d.request(&route).status, 404);
    assert_eq!(d.request("/no/such/route/acme-takeover").status, 404);

    // Extraction and indexing run after the archive commit: poll for them.
    let mut text = String::new();
    d.wait_for(
        || {
            text = d.request("/metrics").text();
            value(&text, "docvault_index_seconds_count", &[]) >= 2.0
                && value(&text, "docvault_index_lag_versions", &[]) == 0.0
        },
        "both versions to be indexed in /metrics",
    );
    let metrics = d.request("/metrics");
    assert_eq!(metrics.status, 200);
    assert_eq!(
        metrics.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = metrics.text();

    let created = [("share", "alpha"), ("event", "created")];
    assert!(
        value(&text, "docvault_versions_total", &created) >= 2.0,
        "{text}"
    );
    assert!(
        value(&text, "docvault_ingest_seconds_count", &[]) > 0.0,
        "{text}"
    );
    assert!(
        value(&text, "docvault_ingest_seconds_sum", &[]) > 0.0,
        "{text}"
    );
    assert!(
        value(&text, "docvault_index_seconds_sum", &[]) > 0.0,
        "{text}"
    );
    let ok = [("status", "ok")];
    assert!(
        value(&text, "docvault_extractions_total", &ok) >= 2.0,
        "{text}"
    );
    assert_eq!(value(&text, "docvault_settle_queue", &[]), 0.0, "{text}");
    assert_eq!(value(&text, "docvault_unreadable_files_total", &[]), 0.0);

    let files_route = "/api/v1/shares/{share}/files/{*path}";
    let requests = "docvault_http_requests_total";
    let get = |route, status| [("route", route), ("method", "GET"), ("status", status)];
    assert!(
        value(&text, requests, &get(files_route, "200")) >= 1.0,
        "{text}"
    );
    assert!(
        value(&text, requests, &get(files_route, "404")) >= 1.0,
        "{text}"
    );
    assert!(
        value(&text, requests, &get("unmatched", "404")) >= 1.0,
        "{text}"
    );
    let history = "/api/v1/shares/{share}/history/{*path}";
    assert!(
        value(&text, requests, &get(history, "200")) >= 2.0,
        "{text}"
    );
    assert!(
        value(&text, requests, &get("/metrics", "200")) >= 1.0,
        "{text}"
    );
    let timed = [("route", files_route)];
    assert!(
        value(&text, "docvault_http_request_seconds_count", &timed) >= 2.0,
        "{text}"
    );

    for raw in [
        "q3-layoff",
        "steering",
        "secret-merger",
        "acme-takeover",
        "board-papers",
    ] {
        assert!(!text.contains(raw), "{raw} leaked into /metrics:\n{text}");
    }
}
