//! `GET /api/v1/shares/{share}/diff/{*path}` and `docvault diff` through the
//! real daemon: text diffs of extracted text (plain text and Word), cell
//! diffs of CSV and Excel files, the error statuses, and the command line.
//!
//! A version's text is diffable once it is extracted and indexed, which
//! happens after its archive commit: tests wait for the extraction status
//! in the history, then poll the diff (with a deadline) past the short
//! moment in which the index has not committed it yet (409).

use std::io::{Read, Write};
use std::path::Path;

use serde_json::{Value, json};

use crate::util::{Response, TestDaemon, encode_path};

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A copy of a zip package (docx, xlsx) with member `name` passed through `edit`.
fn edit_member(package: &[u8], name: &str, edit: impl Fn(String) -> String) -> Vec<u8> {
    let mut src = zip::ZipArchive::new(std::io::Cursor::new(package)).expect("a zip");
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut edited = false;
    for i in 0..src.len() {
        let mut member = src.by_index(i).unwrap();
        let mut body = Vec::new();
        member.read_to_end(&mut body).unwrap();
        if member.name() == name {
            let text = String::from_utf8(body).unwrap();
            let changed = edit(text.clone());
            assert_ne!(changed, text, "the edit of {name} changed nothing");
            body = changed.into_bytes();
            edited = true;
        }
        out.start_file(member.name(), options).unwrap();
        out.write_all(&body).unwrap();
    }
    assert!(edited, "no member {name}");
    out.finish().unwrap().into_inner()
}

/// Writes the next version of `path` and waits until it is recorded and extracted.
fn version(d: &TestDaemon, path: &str, n: usize, bytes: impl AsRef<[u8]>) {
    d.write("alpha", path, bytes);
    d.wait_versions("alpha", path, n);
    d.wait_for(
        || d.history("alpha", path)[0]["extraction"]["status"] != "pending",
        &format!("extraction of {path} v{n}"),
    );
}

fn diff_route(path: &str, query: &str) -> String {
    format!("/api/v1/shares/alpha/diff/{}?{query}", encode_path(path))
}

/// The diff once both versions are indexed (409 "not in the search index
/// yet" is the moment between the extraction result and the index commit).
fn diff(d: &TestDaemon, path: &str, query: &str) -> Response {
    let route = diff_route(path, query);
    let mut response = d.request(&route);
    d.wait_for(
        || {
            response = d.request(&route);
            response.status != 409 || !response.text().contains("search index yet")
        },
        &format!("{route} to be answered from the index"),
    );
    response
}

/// An error answer: its status and message.
fn error(d: &TestDaemon, path: &str, query: &str) -> (u16, String) {
    let r = diff(d, path, query);
    let message = r.json()["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message: {}", r.text()))
        .to_owned();
    (r.status, message)
}

#[test]
fn text_diffs_of_plain_text_and_word_show_the_changed_lines() {
    let d = TestDaemon::new().share("alpha").start();
    version(
        &d,
        "minutes.txt",
        1,
        "present: Ada, Grace\nrisk R-12 amber\nnext meeting: May\n",
    );
    version(
        &d,
        "minutes.txt",
        2,
        "present: Ada, Grace\nrisk R-12 red\nnext meeting: May\n",
    );
    let r = diff(&d, "minutes.txt", "from=1&to=2");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(
        r.text(),
        "--- a/minutes.txt\tversion 1\n+++ b/minutes.txt\tversion 2\n@@ -1,3 +1,3 @@\n \
         present: Ada, Grace\n-risk R-12 amber\n+risk R-12 red\n next meeting: May\n"
    );

    let report = fixture("report.docx");
    let revised = edit_member(&report, "word/document.xml", |xml| {
        xml.replace("REPORTTAILK6", "REPORTTAILK7 revised")
    });
    version(&d, "report.docx", 1, &report);
    version(&d, "report.docx", 2, &revised);
    let r = diff(&d, "report.docx", "from=1&to=2");
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    let changed: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(['-', '+']) && !l.starts_with("---") && !l.starts_with("+++"))
        .collect();
    assert_eq!(changed.len(), 2, "one line out, one in: {text}");
    assert!(
        changed[0].starts_with('-') && changed[0].contains("REPORTTAILK6"),
        "{text}"
    );
    assert!(
        changed[1].starts_with('+') && changed[1].contains("REPORTTAILK7 revised"),
        "{text}"
    );
    assert!(
        text.starts_with("--- a/report.docx\tversion 1\n+++ b/report.docx\tversion 2\n@@ "),
        "{text}"
    );

    // The command line prints the same diff.
    let out = d.cli(&["diff", "alpha", "minutes.txt", "--from", "1", "--to", "2"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        diff(&d, "minutes.txt", "from=1&to=2").text()
    );
}

#[test]
fn cell_diffs_of_csv_and_xlsx_report_exactly_the_changed_cell() {
    let d = TestDaemon::new().share("alpha").start();
    version(
        &d,
        "risks.csv",
        1,
        "id,risk,status\nR-12,\"Supplier, insolvent\",amber\nR-13,Late delivery,green\n",
    );
    version(
        &d,
        "risks.csv",
        2,
        "id,risk,status\nR-12,\"Supplier, insolvent\",red\nR-13,Late delivery,green\n",
    );
    let r = diff(&d, "risks.csv", "from=1&to=2&format=cells");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({
            "share": "alpha", "path": "risks.csv", "from": 1, "to": 2,
            "changes": [{"sheet": "risks.csv", "cell": "C2", "old": "amber", "new": "red"}]
        })
    );

    // budget.xlsx as openpyxl wrote it, with R-12 green in v1 and red in v2.
    let red = fixture("budget.xlsx");
    let green = edit_member(&red, "xl/worksheets/sheet2.xml", |xml| {
        xml.replace("<t>red</t>", "<t>green</t>")
    });
    version(&d, "plans/budget.xlsx", 1, &green);
    version(&d, "plans/budget.xlsx", 2, &red);
    let r = diff(&d, "plans/budget.xlsx", "from=1&to=2&format=cells");
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(
        body["changes"],
        json!([{"sheet": "Risks", "cell": "C2", "old": "green", "new": "red"}]),
        "{body:#}"
    );
    let r = diff(&d, "plans/budget.xlsx", "from=2&to=2&format=cells");
    assert_eq!(r.json()["changes"], json!([]));

    let out = d.cli(&[
        "diff",
        "alpha",
        "plans/budget.xlsx",
        "--from",
        "1",
        "--to",
        "2",
        "--cells",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Risks!C2: \"green\" -> \"red\"\n"
    );
    let out = d.cli(&[
        "diff",
        "alpha",
        "risks.csv",
        "--from",
        "1",
        "--to",
        "2",
        "--cells",
        "--json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["changes"][0]["cell"], "C2");

    // Cells of a document that is not a spreadsheet: 400 naming the formats.
    version(&d, "notes.txt", 1, "a\n");
    assert_eq!(
        error(&d, "notes.txt", "from=1&to=1&format=cells"),
        (
            400,
            "version 1 of notes.txt is text/plain, not a spreadsheet; format=cells reads xlsx, xlsm, ods, csv and tsv".into()
        )
    );
}

#[test]
fn diff_errors_are_400_404_409_410_and_the_cli_says_so_in_one_line() {
    let d = TestDaemon::new().share("alpha").start();
    version(&d, "plan.txt", 1, "one\n");
    version(&d, "random.docx", 1, fixture("random.docx"));
    d.remove("alpha", "plan.txt");
    d.wait_versions("alpha", "plan.txt", 2);

    let cases: [(&str, &str, u16, &str); 7] = [
        (
            "plan.txt",
            "from=1",
            400,
            "to is required: the version number to compare",
        ),
        (
            "plan.txt",
            "from=x&to=1",
            400,
            "from must be a version number, not \"x\"",
        ),
        (
            "plan.txt",
            "from=1&to=1&format=word",
            400,
            "unknown format \"word\": leave it out (or say unified) for a diff of the text, or use format=cells",
        ),
        ("plan.txt", "from=1&to=9", 404, "plan.txt has no version 9"),
        (
            "nothing.txt",
            "from=1&to=2",
            404,
            "no document nothing.txt in share alpha",
        ),
        (
            "plan.txt",
            "from=1&to=2",
            410,
            "version 2 of plan.txt records its deletion and has no content",
        ),
        (
            "random.docx",
            "from=1&to=1",
            409,
            "version 1 of random.docx has no extracted text to compare (extraction status: unsupported)",
        ),
    ];
    for (path, query, status, message) in cases {
        assert_eq!(
            error(&d, path, query),
            (status, message.to_owned()),
            "{path}?{query}"
        );
    }
    let r = d.request("/api/v1/shares/beta/diff/x.txt?from=1&to=1");
    assert_eq!(r.status, 404, "{}", r.text());

    let out = d.cli(&["diff", "alpha", "plan.txt", "--from", "1", "--to", "9"]);
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: plan.txt has no version 9 (HTTP 404)\n"
    );
}
