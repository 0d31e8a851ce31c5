//! Every document is versioned whatever its extraction makes of it: real
//! documents get their title, author and type recorded; damaged, encrypted,
//! hostile and unknown files are versioned all the same, with a status
//! that says why there is no text.

use std::path::Path;

use crate::util::TestDaemon;

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Waits until v1 of `path` has a final extraction status; returns its record.
fn extracted(d: &TestDaemon, path: &str) -> serde_json::Value {
    d.wait_versions("alpha", path, 1);
    let mut record = serde_json::Value::Null;
    d.wait_for(
        || {
            record = d.history("alpha", path)[0].clone();
            record["extraction"]["status"] != "pending"
        },
        &format!("extraction of {path}"),
    );
    record
}

#[test]
fn bad_documents_are_versioned_with_a_status_that_says_why() {
    let d = TestDaemon::new().share("alpha").start();
    let cases = [
        ("random.docx", "random.docx", "unsupported", None),
        ("random.pdf", "random.pdf", "unsupported", None),
        ("random.xlsx", "random.xlsx", "unsupported", None),
        ("truncated.docx", "truncated.docx", "failed", None),
        ("truncated.pdf", "truncated.pdf", "failed", None),
        ("encrypted.docx", "encrypted.docx", "encrypted", None),
        ("encrypted.pdf", "encrypted.pdf", "encrypted", None),
        (
            "zipbomb.xlsx",
            "zipbomb.xlsx",
            "refused",
            Some("decompressed size over limit"),
        ),
        ("billion-laughs.docx", "billion-laughs.docx", "ok", None),
        ("empty.docx", "empty.docx", "ok", None),
        ("lines-only.pdf", "lines-only.pdf", "ok", None),
    ];
    for (fixture_name, path, _, _) in &cases {
        d.write("alpha", path, fixture(fixture_name));
    }
    for (_, path, status, message) in cases {
        let record = extracted(&d, path);
        assert_eq!(record["event"], "created", "{path}: {record}");
        assert_eq!(record["extraction"]["status"], status, "{path}: {record}");
        if let Some(message) = message {
            assert_eq!(record["extraction"]["message"], message, "{path}: {record}");
        }
        let (code, bytes) = d.get(&format!("/api/v1/shares/alpha/files/{path}"));
        assert_eq!(code, 200, "{path}");
        assert_eq!(
            bytes,
            fixture(path),
            "{path}: the archive holds the exact bytes"
        );
    }
}

#[test]
fn real_documents_get_type_title_and_author_from_their_content() {
    let d = TestDaemon::new().share("alpha").start();
    d.write("alpha", "deck.pptx", fixture("deck.pptx"));
    d.write("alpha", "looks-like-word.docx", fixture("notapdf.docx"));
    let deck = extracted(&d, "deck.pptx");
    assert_eq!(deck["extraction"]["status"], "ok");
    assert_eq!(deck["title"], "Roadmap Deck");
    assert_eq!(deck["author"], "Hedy Lamarr");
    let pdf = extracted(&d, "looks-like-word.docx");
    assert_eq!(pdf["mime"], "application/pdf", "{pdf}");
}
