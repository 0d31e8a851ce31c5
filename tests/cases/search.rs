//! Full-text search through the real daemon and `GET /api/v1/search`: real
//! fixtures found by their markers, the query syntax and filters, old
//! versions (`all_versions`, `as_of`), deletions, snippets, bad queries, the
//! index repaired at start-up after a crash, and `docvault search`.
//!
//! A version becomes searchable after its archive commit (it is extracted in
//! a worker first), so a test that has just seen a version in the history
//! polls the search, with a deadline, until it finds it. `/readyz` answers
//! 200 only once the start-up scan and the indexing of what it found are
//! done: right after a (re)start everything must be found without polling.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use crate::util::{Response, TestDaemon, WAIT, encode};

// --- helpers -----------------------------------------------------------------

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Copies a fixture to `shares/<share>/<rel>` (before or after the start).
fn copy_fixture(d: &TestDaemon, name: &str, share: &str, rel: &str) {
    let bytes = fs::read(fixture(name)).unwrap_or_else(|e| panic!("read fixture {name}: {e}"));
    d.write(share, rel, bytes);
}

/// `GET /api/v1/search` with these parameters (percent-encoded here).
fn search_raw(d: &TestDaemon, params: &[(&str, &str)]) -> Response {
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    d.request(&format!("/api/v1/search?{}", query.join("&")))
}

/// A search that must succeed: its JSON answer.
fn search(d: &TestDaemon, params: &[(&str, &str)]) -> Value {
    let r = search_raw(d, params);
    assert_eq!(r.status, 200, "search {params:?}: {}", r.text());
    let body = r.json();
    let hits = body["hits"].as_array().expect("hits is an array");
    assert!(
        body["total"]
            .as_u64()
            .is_some_and(|t| t as usize >= hits.len()),
        "search {params:?}: total below the hits shown: {body:#}"
    );
    body
}

/// A plain query.
fn q(d: &TestDaemon, query: &str) -> Value {
    search(d, &[("q", query)])
}

fn hits(answer: &Value) -> &Vec<Value> {
    answer["hits"].as_array().expect("hits is an array")
}

fn total(answer: &Value) -> u64 {
    answer["total"].as_u64().expect("total is a number")
}

/// `share/path` of every hit, sorted.
fn found(answer: &Value) -> Vec<String> {
    let mut out: Vec<String> = hits(answer)
        .iter()
        .map(|h| format!("{}/{}", s(&h["share"]), s(&h["path"])))
        .collect();
    out.sort();
    out
}

/// `(share/path, version, current, versions_matched)` of every hit, sorted:
/// what two indexes answering "the same" must agree on.
fn summary(answer: &Value) -> Vec<(String, u64, bool, u64)> {
    let mut out: Vec<_> = hits(answer)
        .iter()
        .map(|h| {
            (
                format!("{}/{}", s(&h["share"]), s(&h["path"])),
                h["version"].as_u64().expect("version"),
                h["current"].as_bool().expect("current"),
                h["versions_matched"].as_u64().expect("versions_matched"),
            )
        })
        .collect();
    out.sort();
    out
}

fn s(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
}

/// Asserts that a search finds exactly `expected` (`share/path`), no more,
/// no fewer, and that `total` says so.
fn assert_finds(d: &TestDaemon, params: &[(&str, &str)], expected: &[&str]) -> Value {
    let answer = search(d, params);
    let mut want: Vec<String> = expected.iter().map(|p| (*p).to_owned()).collect();
    want.sort();
    assert_eq!(found(&answer), want, "search {params:?}: {answer:#}");
    assert_eq!(
        total(&answer),
        want.len() as u64,
        "search {params:?}: {answer:#}"
    );
    answer
}

/// Polls a search until `cond` holds on its answer; returns that answer.
fn wait_search(
    d: &TestDaemon,
    params: &[(&str, &str)],
    within: Duration,
    mut cond: impl FnMut(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let answer = search(d, params);
        if cond(&answer) {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for search {params:?}; last answer: {answer:#}\n{}",
            d.log_tail()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls until the query finds exactly one document; returns its hit.
fn wait_found(d: &TestDaemon, query: &str) -> Value {
    let answer = wait_search(d, &[("q", query)], WAIT, |a| total(a) >= 1);
    assert_eq!(total(&answer), 1, "{query}: {answer:#}");
    hits(&answer)[0].clone()
}

/// Right after a (re)start `/readyz` has said that the index holds
/// everything, so `now()` must give `expected` at once. When it does not,
/// polls on to tell a readiness race (right a little later) from entries
/// the index lost (never right), and fails saying which.
fn assert_at_ready<T: PartialEq + std::fmt::Debug>(
    d: &TestDaemon,
    what: &str,
    expected: &T,
    mut now: impl FnMut() -> T,
) {
    let ready = Instant::now();
    let first = now();
    if first == *expected {
        return;
    }
    loop {
        std::thread::sleep(Duration::from_millis(10));
        let again = now();
        if again == *expected {
            panic!(
                "{what}: /readyz answered 200 before the index held everything: right after \
                 ready the answer was\n{first:#?}\nand only {:?} later the expected\n{expected:#?}\n{}",
                ready.elapsed(),
                d.log_tail()
            );
        }
        if ready.elapsed() > WAIT {
            panic!(
                "{what}: the index never caught up: expected\n{expected:#?}\nright after ready\n\
                 {first:#?}\nafter {WAIT:?}\n{again:#?}\n{}",
                d.log_tail()
            );
        }
    }
}

/// A time `nanos` nanoseconds before an RFC 3339 time, as RFC 3339.
fn before(rfc3339: &str, nanos: u64) -> String {
    let t = humantime::parse_rfc3339_weak(rfc3339)
        .unwrap_or_else(|e| panic!("{rfc3339:?} is not RFC 3339: {e}"));
    humantime::format_rfc3339_nanos(t - Duration::from_nanos(nanos)).to_string()
}

fn set_mtime(path: &Path, rfc3339: &str) {
    let t = humantime::parse_rfc3339(rfc3339).expect("a valid time");
    fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(t))
        .unwrap_or_else(|e| panic!("set mtime of {}: {e}", path.display()));
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap_or_else(|e| panic!("mkdir {}: {e}", to.display()));
    for entry in fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display())) {
        let entry = entry.expect("read dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("copy {}: {e}", entry.path().display()));
        }
    }
}

fn stdout_of(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "docvault exited with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// --- 1. every fixture by its marker --------------------------------------------

/// The fixtures copied into the share and the title each must show.
const CORPUS: &[(&str, Option<&str>)] = &[
    ("report.docx", Some("Quarterly Wombat Report")),
    ("budget.xlsx", Some("Budget 2025")),
    ("deck.pptx", Some("Roadmap Deck")),
    ("writer.odt", Some("Harbour Lighthouse Survey")),
    ("writer.pdf", Some("Harbour Lighthouse Survey")),
    ("reportlab.pdf", Some("Tide Tables")),
    ("mail.eml", Some("Launch window moved – Grüße from Houston")),
    ("writer.rtf", Some("Harbour Lighthouse Survey")),
    ("page.html", Some("Garden Party Plans")),
    ("notes.md", Some("Kestrel Meeting Notes")),
    ("table.csv", None),
];

#[test]
fn every_fixture_is_found_by_its_marker_and_only_it() {
    let d = TestDaemon::new().share("docs");
    for (name, _) in CORPUS {
        copy_fixture(&d, name, "docs", name);
    }
    let d = d.start();

    // Each marker against the whole corpus: precision and recall 1.0. The
    // three files LibreOffice made from one source share their markers; the
    // type tells them apart.
    let cases: &[(&str, &[&str])] = &[
        ("REPORTBODYK1", &["report.docx"]),
        ("REPORTHEADERK3", &["report.docx"]),
        ("BUDGETITEMP1", &["budget.xlsx"]),
        ("XLSXRISKP2", &["budget.xlsx"]),
        ("DECKSLIDE01Z", &["deck.pptx"]),
        ("DECKSLIDE12Z", &["deck.pptx"]),
        ("DECKNOTES02Z", &["deck.pptx"]),
        ("WRITERBODYM2 type:odt", &["writer.odt"]),
        ("WRITERBODYM2 type:pdf", &["writer.pdf"]),
        ("WRITERBODYM2 type:rtf", &["writer.rtf"]),
        ("WRITERBODYM2", &["writer.odt", "writer.pdf", "writer.rtf"]),
        ("REPORTLABPAGEONE", &["reportlab.pdf"]),
        ("REPORTLABPAGETWO", &["reportlab.pdf"]),
        ("MAILTEXTB1", &["mail.eml"]),
        ("MAILATTACHB3", &["mail.eml"]),
        ("HTMLBODYX1", &["page.html"]),
        ("HTMLLISTX2", &["page.html"]),
        ("MDBODYY1", &["notes.md"]),
        ("CSVCELLW1", &["table.csv"]),
        // Script and style are not text; nobody has these words.
        ("HTMLSCRIPTX9", &[]),
        ("HTMLSTYLEX8", &[]),
        ("NOSUCHMARKERQ7", &[]),
    ];
    // Ready means indexed: every marker finds its documents at once.
    let expected: Vec<(&str, Vec<String>, u64)> = cases
        .iter()
        .map(|(query, paths)| {
            let paths: Vec<String> = paths.iter().map(|p| format!("docs/{p}")).collect();
            let n = paths.len() as u64;
            (*query, paths, n)
        })
        .collect();
    assert_at_ready(&d, "every marker", &expected, || {
        cases
            .iter()
            .map(|(query, _)| {
                let answer = q(&d, query);
                (*query, found(&answer), total(&answer))
            })
            .collect::<Vec<_>>()
    });

    let mut marked = BTreeSet::new();
    for (query, expected) in cases {
        let expected: Vec<String> = expected.iter().map(|p| format!("docs/{p}")).collect();
        let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
        let answer = assert_finds(&d, &[("q", query)], &expected);
        let word = query.split(' ').next().unwrap();
        for hit in hits(&answer) {
            marked.insert(s(&hit["path"]).to_owned());
            assert_eq!(hit["version"], 1, "{query}: {hit:#}");
            assert_eq!(hit["current"], true, "{query}: {hit:#}");
            assert_eq!(hit["versions_matched"], 1, "{query}: {hit:#}");
            let snippet = s(&hit["snippet"]);
            assert!(
                snippet.contains(&format!("<mark>{word}</mark>")),
                "{query}: the snippet should mark {word}: {hit:#}"
            );
        }
    }
    let all: BTreeSet<String> = CORPUS.iter().map(|(n, _)| (*n).to_owned()).collect();
    assert_eq!(marked, all, "every fixture is found by some marker");

    // What a hit says about its document.
    for (name, title) in CORPUS {
        let answer = assert_finds(
            &d,
            &[("q", ""), ("prefix", name)],
            &[&format!("docs/{name}")],
        );
        let hit = &hits(&answer)[0];
        assert_eq!(hit["title"].as_str(), *title, "{name}: {hit:#}");
        assert!(
            !s(&hit["mime"]).is_empty() && s(&hit["mime"]) != "application/octet-stream",
            "{name}: {hit:#}"
        );
        let modified = s(&hit["modified"]);
        assert!(
            humantime::parse_rfc3339(modified).is_ok(),
            "{name}: modified {modified:?}"
        );
        assert!(hit["score"].is_number(), "{name}: {hit:#}");
    }

    // Folded letters: "Grüße" is found by "grusse" (and by itself).
    let greeting = [
        "docs/mail.eml",
        "docs/report.docx",
        "docs/writer.odt",
        "docs/writer.pdf",
        "docs/writer.rtf",
    ];
    assert_finds(&d, &[("q", "grusse")], &greeting);
    assert_finds(&d, &[("q", "Grüße")], &greeting);
    // An empty query is every document.
    let answer = search(&d, &[("q", ""), ("limit", "100")]);
    assert_eq!(total(&answer), CORPUS.len() as u64, "{answer:#}");
}

// --- 2. query syntax, fields and filters ---------------------------------------------

/// Two shares: board minutes in folders, office files, a Markdown agenda.
fn fields_corpus() -> TestDaemon {
    let d = TestDaemon::new().share("alpha").share("beta");
    d.write(
        "alpha",
        "minutes/2026-03 board.txt",
        "Board minutes: the steering committee approved the budget. Next meeting in April.\n",
    );
    d.write(
        "alpha",
        "minutes/2026-04 board.txt",
        "Board minutes: the committee was steering the budget review; the vote was postponed.\n",
    );
    d.write(
        "alpha",
        "drafts/agenda.md",
        "# Steering Committee Agenda\n\nThe budget comes first.\n",
    );
    d.write(
        "beta",
        "minutes/2026-03 board.txt",
        "Board minutes of the beta project: the steering committee approved the budget.\n",
    );
    copy_fixture(&d, "budget.xlsx", "alpha", "reports/budget.xlsx");
    copy_fixture(&d, "table.csv", "alpha", "reports/table.csv");
    copy_fixture(&d, "reportlab.pdf", "alpha", "reports/tides.pdf");
    copy_fixture(&d, "report.docx", "alpha", "reports/report.docx");
    set_mtime(
        &d.path("alpha", "minutes/2026-03 board.txt"),
        "2020-01-15T09:00:00Z",
    );
    set_mtime(
        &d.path("alpha", "minutes/2026-04 board.txt"),
        "2024-06-01T09:00:00Z",
    );
    d.start()
}

#[test]
fn phrases_fields_types_filters_and_exclusions_narrow_the_search() {
    let d = fields_corpus();
    // Everything is indexed once /readyz says so; that promise has its own
    // tests, this one is about the query language: wait for all 8.
    wait_search(&d, &[("q", "")], WAIT, |a| total(a) == 8);
    let m03 = "alpha/minutes/2026-03 board.txt";
    let m04 = "alpha/minutes/2026-04 board.txt";
    let agenda = "alpha/drafts/agenda.md";
    let beta = "beta/minutes/2026-03 board.txt";
    let steering = [m03, m04, agenda, beta];

    // Words are all required; a phrase needs them in order, side by side.
    assert_finds(&d, &[("q", "steering committee")], &steering);
    assert_finds(&d, &[("q", "\"steering committee\"")], &[m03, agenda, beta]);
    assert_finds(&d, &[("q", "\"committee steering\"")], &[]);
    assert_finds(&d, &[("q", "steering wombat")], &[]);
    assert_finds(
        &d,
        &[("q", "postponed OR wombat")],
        &[m04, "alpha/reports/report.docx"],
    );
    assert_finds(&d, &[("q", "stering~1")], &steering);
    // IDs whole and by their parts.
    assert_finds(&d, &[("q", "R-12")], &["alpha/reports/budget.xlsx"]);

    // Exclusion.
    assert_finds(&d, &[("q", "steering -postponed")], &[m03, agenda, beta]);
    assert_finds(&d, &[("q", "steering NOT postponed")], &[m03, agenda, beta]);
    assert_finds(&d, &[("q", "steering -beta")], &[m03, m04, agenda]);

    // Fields.
    assert_finds(&d, &[("q", "title:wombat")], &["alpha/reports/report.docx"]);
    assert_finds(&d, &[("q", "title:\"steering committee\"")], &[agenda]);
    assert_finds(&d, &[("q", "title:board")], &[]);
    assert_finds(
        &d,
        &[("q", "author:lovelace")],
        &["alpha/reports/report.docx"],
    );
    assert_finds(
        &d,
        &[("q", "author:\"Rachel Carson\"")],
        &["alpha/reports/tides.pdf"],
    );
    assert_finds(&d, &[("q", "path:minutes")], &[m03, m04, beta]);
    assert_finds(&d, &[("q", "path:drafts")], &[agenda]);
    assert_finds(&d, &[("q", "path:board")], &[m03, m04, beta]);
    assert_finds(&d, &[("q", "path:tides")], &["alpha/reports/tides.pdf"]);
    assert_finds(&d, &[("q", "path:minutes postponed")], &[m04]);
    assert_finds(&d, &[("q", "path:steering")], &[]);

    // Types, in the query and as a parameter.
    let sheets = ["alpha/reports/budget.xlsx", "alpha/reports/table.csv"];
    assert_finds(&d, &[("q", "type:spreadsheet")], &sheets);
    assert_finds(&d, &[("q", ""), ("type", "spreadsheet")], &sheets);
    assert_finds(&d, &[("q", "type:pdf")], &["alpha/reports/tides.pdf"]);
    assert_finds(
        &d,
        &[("q", ""), ("type", "pdf")],
        &["alpha/reports/tides.pdf"],
    );
    assert_finds(
        &d,
        &[("q", ""), ("type", "xlsx,pdf")],
        &["alpha/reports/budget.xlsx", "alpha/reports/tides.pdf"],
    );
    assert_finds(&d, &[("q", "type:xlsx")], &["alpha/reports/budget.xlsx"]);
    assert_finds(&d, &[("q", "steering"), ("type", "md")], &[agenda]);
    assert_finds(&d, &[("q", "steering"), ("type", "spreadsheet")], &[]);

    // Share and path prefix.
    assert_finds(&d, &[("q", "steering"), ("share", "beta")], &[beta]);
    assert_finds(
        &d,
        &[("q", "steering"), ("share", "alpha")],
        &[m03, m04, agenda],
    );
    assert_finds(&d, &[("q", "steering"), ("share", "gamma")], &[]);
    assert_finds(
        &d,
        &[("q", "budget"), ("prefix", "minutes/")],
        &[m03, m04, beta],
    );
    assert_finds(
        &d,
        &[("q", "budget"), ("prefix", "minutes/"), ("share", "alpha")],
        &[m03, m04],
    );
    assert_finds(
        &d,
        &[("q", "steering"), ("prefix", "min")],
        &[m03, m04, beta],
    );
    assert_finds(
        &d,
        &[("q", "steering"), ("prefix", "minutes/2026-04")],
        &[m04],
    );
    assert_finds(&d, &[("q", "steering"), ("prefix", "Minutes/")], &[]);
    assert_finds(
        &d,
        &[("q", ""), ("prefix", "reports/")],
        &[
            "alpha/reports/budget.xlsx",
            "alpha/reports/report.docx",
            "alpha/reports/table.csv",
            "alpha/reports/tides.pdf",
        ],
    );

    // Modification time.
    assert_finds(
        &d,
        &[("q", "board"), ("before", "2021-01-01T00:00:00Z")],
        &[m03],
    );
    assert_finds(
        &d,
        &[("q", "board"), ("after", "2023-01-01T00:00:00Z")],
        &[m04, beta],
    );
    assert_finds(
        &d,
        &[
            ("q", "board"),
            ("after", "2023-01-01T00:00:00Z"),
            ("before", "2025-01-01T00:00:00Z"),
        ],
        &[m04],
    );
    let answer = assert_finds(&d, &[("q", "postponed")], &[m04]);
    assert_eq!(
        hits(&answer)[0]["modified"]
            .as_str()
            .map(|m| m.starts_with("2024-06-01T09:00:00")),
        Some(true),
        "{answer:#}"
    );

    // Paging: limit and offset walk the hits, total stays.
    let mut paged = Vec::new();
    for offset in 0..4 {
        let offset = offset.to_string();
        let page = search(
            &d,
            &[("q", "steering"), ("limit", "1"), ("offset", &offset)],
        );
        assert_eq!(total(&page), 4, "{page:#}");
        assert_eq!(hits(&page).len(), 1, "{page:#}");
        paged.extend(found(&page));
    }
    paged.sort();
    let mut all = steering.to_vec();
    all.sort();
    assert_eq!(paged, all);
    let past = search(&d, &[("q", "steering"), ("offset", "10")]);
    assert_eq!(total(&past), 4, "{past:#}");
    assert!(hits(&past).is_empty(), "{past:#}");
}

// --- 3.–4. old versions ------------------------------------------------------------

/// `notes.txt` v1 with OLDMARK, then v2 with NEWMARK (and SHAREDMARK in
/// both), each searchable; returns the history, newest first.
fn two_versions(d: &TestDaemon) -> Vec<Value> {
    d.write("alpha", "notes.txt", "draft minutes OLDMARK SHAREDMARK\n");
    d.wait_versions("alpha", "notes.txt", 1);
    wait_found(d, "OLDMARK");
    d.write("alpha", "notes.txt", "final minutes NEWMARK SHAREDMARK\n");
    let history = d.wait_versions("alpha", "notes.txt", 2);
    let hit = wait_found(d, "NEWMARK");
    assert_eq!(hit["version"], 2, "{hit:#}");
    history
}

#[test]
fn old_version_is_found_only_with_all_versions_and_only_as_old() {
    let d = TestDaemon::new().share("alpha").start();
    two_versions(&d);

    // Current versions only: v1's words are gone with v1.
    assert_finds(&d, &[("q", "OLDMARK")], &[]);
    let new = assert_finds(&d, &[("q", "NEWMARK")], &["alpha/notes.txt"]);
    assert_eq!(hits(&new)[0]["version"], 2);
    assert_eq!(hits(&new)[0]["current"], true);

    // Every version: the old word on the old version, not current.
    let old = assert_finds(
        &d,
        &[("q", "OLDMARK"), ("all_versions", "true")],
        &["alpha/notes.txt"],
    );
    let hit = &hits(&old)[0];
    assert_eq!(hit["version"], 1, "{hit:#}");
    assert_eq!(hit["current"], false, "{hit:#}");
    assert_eq!(hit["versions_matched"], 1, "{hit:#}");
    assert!(
        s(&hit["snippet"]).contains("<mark>OLDMARK</mark>"),
        "{hit:#}"
    );

    let new = assert_finds(
        &d,
        &[("q", "NEWMARK"), ("all_versions", "true")],
        &["alpha/notes.txt"],
    );
    assert_eq!(hits(&new)[0]["version"], 2);
    assert_eq!(hits(&new)[0]["current"], true);

    // A word in both versions: one hit, the newest version, two matched.
    let both = assert_finds(
        &d,
        &[("q", "SHAREDMARK"), ("all_versions", "true")],
        &["alpha/notes.txt"],
    );
    let hit = &hits(&both)[0];
    assert_eq!(hit["version"], 2, "{hit:#}");
    assert_eq!(hit["current"], true, "{hit:#}");
    assert_eq!(hit["versions_matched"], 2, "{hit:#}");
    let current = assert_finds(&d, &[("q", "SHAREDMARK")], &["alpha/notes.txt"]);
    assert_eq!(hits(&current)[0]["versions_matched"], 1);
    // "false" is the default.
    assert_finds(&d, &[("q", "OLDMARK"), ("all_versions", "false")], &[]);
}

#[test]
fn as_of_finds_the_version_current_at_that_moment() {
    let d = TestDaemon::new().share("alpha").start();
    let history = two_versions(&d);
    let v1_at = s(&history[1]["at"]).to_owned();
    let v2_at = s(&history[0]["at"]).to_owned();

    let just_before = before(&v2_at, 1);
    let long_before = before(&v1_at, 1_000_000_000);
    let later =
        humantime::format_rfc3339(SystemTime::now() + Duration::from_secs(3600)).to_string();

    for (as_of, old, new) in [
        (long_before.as_str(), false, false),
        (v1_at.as_str(), true, false),
        (just_before.as_str(), true, false),
        (v2_at.as_str(), false, true),
        (later.as_str(), false, true),
    ] {
        for (word, expected, version) in [("OLDMARK", old, 1), ("NEWMARK", new, 2)] {
            let want: &[&str] = if expected { &["alpha/notes.txt"] } else { &[] };
            let answer = assert_finds(&d, &[("q", word), ("as_of", as_of)], want);
            if expected {
                assert_eq!(hits(&answer)[0]["version"], version, "{as_of}: {answer:#}");
            }
        }
        // The shared word: exactly the version of that moment, never both.
        let shared = search(&d, &[("q", "SHAREDMARK"), ("as_of", as_of)]);
        let versions: Vec<u64> = hits(&shared)
            .iter()
            .map(|h| h["version"].as_u64().unwrap())
            .collect();
        let want: Vec<u64> = match (old, new) {
            (true, _) => vec![1],
            (_, true) => vec![2],
            _ => vec![],
        };
        assert_eq!(versions, want, "SHAREDMARK as_of {as_of}: {shared:#}");
    }
    // `+00:00` is `Z`.
    let offset_form = v2_at.trim_end_matches('Z').to_owned() + "+00:00";
    assert_finds(
        &d,
        &[("q", "NEWMARK"), ("as_of", &offset_form)],
        &["alpha/notes.txt"],
    );
}

/// `t` shifted by `hours` and written with that UTC offset (`+02:00`),
/// without a fraction of a second when it has none.
fn with_offset(rfc3339: &str, hours: i64) -> String {
    let t = humantime::parse_rfc3339_weak(rfc3339).expect("RFC 3339");
    let shift = Duration::from_secs(hours.unsigned_abs() * 3600);
    let local = if hours >= 0 { t + shift } else { t - shift };
    let whole = local
        .duration_since(SystemTime::UNIX_EPOCH)
        .is_ok_and(|d| d.subsec_nanos() == 0);
    let utc = if whole {
        humantime::format_rfc3339(local).to_string()
    } else {
        humantime::format_rfc3339_nanos(local).to_string()
    };
    let sign = if hours >= 0 { '+' } else { '-' };
    format!(
        "{}{sign}{:02}:00",
        utc.trim_end_matches('Z'),
        hours.unsigned_abs()
    )
}

#[test]
fn as_of_accepts_rfc3339_times_with_any_utc_offset() {
    let d = TestDaemon::new().share("alpha").start();
    d.write("alpha", "memo.txt", "memo OFFSETMARK\n");
    let history = d.wait_versions("alpha", "memo.txt", 1);
    wait_found(&d, "OFFSETMARK");
    let at = s(&history[0]["at"]).to_owned();

    // The same moments as `at` and 1 ns before it, written in Berlin
    // summer time and New York winter time, with and without a fraction of
    // a second: valid RFC 3339 all, each must mean its moment.
    let whole_second = {
        let t = humantime::parse_rfc3339_weak(&at).expect("RFC 3339");
        let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        humantime::format_rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(secs + 1))
            .to_string()
    };
    let mut cases = Vec::new();
    for hours in [2, -5] {
        cases.push((with_offset(&at, hours), true));
        cases.push((with_offset(&before(&at, 1), hours), false));
        cases.push((with_offset(&whole_second, hours), true));
    }
    let mut wrong = Vec::new();
    for (as_of, present) in &cases {
        let r = search_raw(&d, &[("q", "OFFSETMARK"), ("as_of", as_of)]);
        let answer = if r.status == 200 {
            let n = total(&r.json());
            if (n == 1) == *present {
                continue;
            }
            format!("found {n}")
        } else {
            format!("{} {}", r.status, r.text())
        };
        let want = if *present { "found 1" } else { "found 0" };
        wrong.push(format!("as_of={as_of}: {answer}, expected {want}"));
    }
    assert!(
        wrong.is_empty(),
        "v1 recorded at {at}; wrong answers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn as_of_between_deletion_and_recreation_finds_nothing() {
    let d = TestDaemon::new().share("alpha").start();
    d.write("alpha", "plan.txt", "plan, first life PHOENIXMARK\n");
    d.wait_versions("alpha", "plan.txt", 1);
    wait_found(&d, "PHOENIXMARK");
    d.remove("alpha", "plan.txt");
    d.wait_versions("alpha", "plan.txt", 2);
    wait_search(&d, &[("q", "PHOENIXMARK")], WAIT, |a| total(a) == 0);
    d.write("alpha", "plan.txt", "plan, second life REBORNMARK\n");
    let history = d.wait_versions("alpha", "plan.txt", 3);
    wait_found(&d, "REBORNMARK");
    assert_eq!(history[1]["event"], "deleted", "{history:#?}");
    let deleted_at = s(&history[1]["at"]).to_owned();
    let recreated_at = s(&history[0]["at"]).to_owned();

    // While deleted, the document was not there: nothing of it is found.
    for as_of in [deleted_at.as_str(), &before(&recreated_at, 1)] {
        assert_finds(&d, &[("q", "PHOENIXMARK"), ("as_of", as_of)], &[]);
        assert_finds(&d, &[("q", "plan"), ("as_of", as_of)], &[]);
    }
    // Before the deletion, the first life; after the re-creation, the second.
    assert_finds(
        &d,
        &[("q", "PHOENIXMARK"), ("as_of", &before(&deleted_at, 1))],
        &["alpha/plan.txt"],
    );
    assert_finds(
        &d,
        &[("q", "REBORNMARK"), ("as_of", &recreated_at)],
        &["alpha/plan.txt"],
    );
    assert_finds(&d, &[("q", "PHOENIXMARK")], &[]);
    let old = assert_finds(
        &d,
        &[("q", "PHOENIXMARK"), ("all_versions", "true")],
        &["alpha/plan.txt"],
    );
    assert_eq!(hits(&old)[0]["version"], 1);
    assert_eq!(hits(&old)[0]["current"], false);
}

// --- 5. deletion -----------------------------------------------------------------------

#[test]
fn deleted_document_leaves_default_search_and_stays_in_all_versions() {
    let d = TestDaemon::new().share("alpha").start();
    d.write("alpha", "contracts/lease.txt", "lease contract DELMARK\n");
    d.write("alpha", "contracts/keep.txt", "kept contract KEEPMARK\n");
    d.wait_versions("alpha", "contracts/lease.txt", 1);
    wait_found(&d, "DELMARK");
    wait_found(&d, "KEEPMARK");

    d.remove("alpha", "contracts/lease.txt");
    let history = d.wait_versions("alpha", "contracts/lease.txt", 2);
    assert_eq!(history[0]["event"], "deleted", "{history:#?}");
    // At once: the deletion's commit supersedes the indexed version.
    wait_search(&d, &[("q", "DELMARK")], Duration::from_secs(2), |a| {
        total(a) == 0
    });
    assert_finds(&d, &[("q", "contract")], &["alpha/contracts/keep.txt"]);
    assert_finds(&d, &[("q", "path:lease")], &[]);

    let old = assert_finds(
        &d,
        &[("q", "DELMARK"), ("all_versions", "true")],
        &["alpha/contracts/lease.txt"],
    );
    let hit = &hits(&old)[0];
    assert_eq!(hit["version"], 1, "{hit:#}");
    assert_eq!(hit["current"], false, "{hit:#}");
    assert_finds(
        &d,
        &[("q", "contract"), ("all_versions", "true")],
        &["alpha/contracts/keep.txt", "alpha/contracts/lease.txt"],
    );
    // As of before the deletion it was there.
    let deleted_at = s(&history[0]["at"]);
    assert_finds(
        &d,
        &[("q", "DELMARK"), ("as_of", &before(deleted_at, 1))],
        &["alpha/contracts/lease.txt"],
    );
    assert_finds(&d, &[("q", "DELMARK"), ("as_of", deleted_at)], &[]);
}

#[test]
fn renamed_document_is_found_under_its_new_path_only() {
    let d = TestDaemon::new().share("alpha").start();
    d.write(
        "alpha",
        "drafts/charter.txt",
        "project charter RENAMEMARK\n",
    );
    d.wait_versions("alpha", "drafts/charter.txt", 1);
    wait_found(&d, "RENAMEMARK");

    d.rename("alpha", "drafts", "final");
    d.wait_versions("alpha", "final/charter.txt", 1);
    d.wait_versions("alpha", "drafts/charter.txt", 2);
    let answer = wait_search(&d, &[("q", "RENAMEMARK")], WAIT, |a| {
        found(a) == ["alpha/final/charter.txt"]
    });
    assert_eq!(total(&answer), 1, "{answer:#}");
    assert_finds(&d, &[("q", "path:final")], &["alpha/final/charter.txt"]);
    assert_finds(&d, &[("q", "path:drafts")], &[]);
    assert_finds(&d, &[("q", "charter"), ("prefix", "drafts/")], &[]);
    // Both lives, each once, with every version.
    assert_finds(
        &d,
        &[("q", "RENAMEMARK"), ("all_versions", "true")],
        &["alpha/drafts/charter.txt", "alpha/final/charter.txt"],
    );
}

// --- 6. snippets ---------------------------------------------------------------------------

/// Whether the HTML holds no tag but `<mark>` and `</mark>`.
fn only_marks(html: &str) -> bool {
    !html
        .replace("<mark>", "")
        .replace("</mark>", "")
        .contains(['<', '>'])
}

#[test]
fn snippets_mark_the_words_and_escape_the_document() {
    let d = TestDaemon::new().share("alpha").start();
    d.write(
        "alpha",
        "xss/page-notes.txt",
        "Pasted from the intranet: <script>alert(1)</script> SNIPMARK & \"quotes\" <b>bold</b>\n",
    );
    let filler = "The committee reviewed routine items without remark. ".repeat(200);
    d.write(
        "alpha",
        "xss/long.txt",
        format!("{filler}<img src=x onerror=alert(2)> FARMARK <i>tail</i>\n{filler}"),
    );

    let hit = wait_found(&d, "snipmark");
    let snippet = s(&hit["snippet"]);
    eprintln!("snippet for snipmark: {snippet}");
    assert!(
        snippet.contains("<mark>SNIPMARK</mark>"),
        "the word as written in the document, marked: {snippet}"
    );
    assert!(
        snippet.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{snippet}"
    );
    assert!(snippet.contains("&amp;"), "{snippet}");
    // The passage ends with its last word: `</b` without its `>`.
    assert!(snippet.contains("&lt;b&gt;bold&lt;/b"), "{snippet}");
    assert!(!snippet.contains("<script"), "{snippet}");
    assert!(only_marks(snippet), "{snippet}");

    // A phrase and two words: each marked.
    let answer = search(&d, &[("q", "intranet SNIPMARK")]);
    let snippet = s(&hits(&answer)[0]["snippet"]);
    assert!(
        snippet.contains("<mark>intranet</mark>") && snippet.contains("<mark>SNIPMARK</mark>"),
        "{snippet}"
    );
    assert!(only_marks(snippet), "{snippet}");

    // Deep in a long text: the passage around the word.
    let hit = wait_found(&d, "FARMARK");
    let snippet = s(&hit["snippet"]);
    assert!(snippet.contains("<mark>FARMARK</mark>"), "{snippet}");
    assert!(
        snippet.contains("&lt;img src=x onerror=alert(2)&gt;"),
        "{snippet}"
    );
    assert!(only_marks(snippet), "{snippet}");
    assert!(snippet.chars().count() < 600, "{snippet}");

    // No word of the text matched (a path query): the opening, escaped.
    let answer = assert_finds(&d, &[("q", "path:notes")], &["alpha/xss/page-notes.txt"]);
    let snippet = s(&hits(&answer)[0]["snippet"]);
    assert!(snippet.starts_with("Pasted from the intranet"), "{snippet}");
    assert!(snippet.contains("&lt;script&gt;"), "{snippet}");
    assert!(
        !snippet.contains("<mark>") && only_marks(snippet),
        "{snippet}"
    );
}

// --- 7. bad queries --------------------------------------------------------------------------

#[test]
fn bad_queries_are_400_with_the_reason_never_500() {
    let d = TestDaemon::new().share("alpha").start();
    d.write("alpha", "doc.txt", "anything at all\n");
    d.wait_versions("alpha", "doc.txt", 1);
    wait_found(&d, "anything");

    let error_of = |params: &[(&str, &str)]| -> String {
        let r = search_raw(&d, params);
        assert_eq!(r.status, 400, "{params:?}: {}", r.text());
        let body = r.json();
        assert_eq!(body["error"]["code"], "bad_request", "{params:?}: {body}");
        body["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("{params:?}: no message: {body}"))
            .to_owned()
    };

    for query in [
        "title:",
        "\"unclosed",
        ")(",
        "AND",
        "nosuchfield:word",
        "-anything",
    ] {
        let message = error_of(&[("q", query)]);
        assert!(
            message.starts_with("bad query"),
            "{query:?}: {message:?} should start with \"bad query\""
        );
        assert!(
            message.len() > "bad query: ".len(),
            "{query:?}: {message:?}"
        );
    }
    for params in [
        &[("q", "x"), ("limit", "0")][..],
        &[("q", "x"), ("limit", "1001")],
        &[("q", "x"), ("limit", "-1")],
        &[("q", "x"), ("limit", "ten")],
        &[("q", "x"), ("offset", "100001")],
        &[("q", "x"), ("as_of", "yesterday")],
        &[("q", "x"), ("after", "2026-13-01T00:00:00Z")],
        &[("q", "x"), ("before", "soon")],
        &[("q", "x"), ("all_versions", "maybe")],
        &[
            ("q", "x"),
            ("all_versions", "true"),
            ("as_of", "2026-01-01T00:00:00Z"),
        ],
        &[("q", "x"), ("frobnicate", "1")],
    ] {
        error_of(params);
    }

    // Odd input of every kind: an answer or a 400, never a 500.
    let long = "word ".repeat(2000);
    let deep = format!("{}x{}", "(".repeat(200), ")".repeat(200));
    let odd = [
        "OR",
        "NOT",
        "-",
        "+",
        "a AND",
        "a OR",
        "(a",
        "a)",
        "title:(",
        "^2",
        "a^",
        "a^x",
        "~",
        "a~9",
        "\"a b\"~",
        "\"a b\"~2",
        "*",
        "a*",
        "*a",
        "path:*",
        "title:*",
        "[a TO b]",
        "{a TO }",
        "title:[a TO z]",
        "version:abc",
        "version:1",
        "version:>0",
        "size:>10",
        "valid_to:1",
        "valid_from:[1 TO 2]",
        "modified:>2020",
        "doc_hash:1",
        "share:alpha",
        "mime:text/plain",
        "status:ok",
        "content:anything",
        "path_raw:doc.txt",
        "IN [a b]",
        "title: IN [a]",
        "\\",
        "a\\",
        "\"\"",
        "''",
        "a:b:c",
        "::",
        "\u{0}",
        "Übergabe~2",
        "日本語",
        "🙂",
        "a-",
        "-a-",
        "R-12/",
        "//",
        "..",
        &long,
        &deep,
    ];
    for query in odd {
        let r = search_raw(&d, &[("q", query)]);
        let shown: String = query.chars().take(60).collect();
        assert!(
            r.status == 200 || r.status == 400,
            "{shown:?}: {} {}",
            r.status,
            r.text()
        );
        let body = r.json();
        if r.status == 400 {
            assert_eq!(body["error"]["code"], "bad_request", "{shown:?}: {body}");
        } else {
            assert!(body["hits"].is_array(), "{shown:?}: {body}");
        }
    }
    // Still answering.
    assert_finds(&d, &[("q", "anything")], &["alpha/doc.txt"]);
}

// --- 8. the index repaired at start-up ------------------------------------------------------

/// The searches two indexes must answer alike.
fn snapshot(d: &TestDaemon, queries: &[Vec<(&str, String)>]) -> Vec<(String, Value)> {
    queries
        .iter()
        .map(|params| {
            let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let answer = search(d, &params);
            let key = format!("{params:?}");
            let value = serde_json::json!({
                "total": total(&answer),
                "hits": format!("{:?}", summary(&answer)),
            });
            (key, value)
        })
        .collect()
}

#[test]
fn deleted_index_is_rebuilt_at_start_up_with_the_same_results() {
    let mut d = TestDaemon::new().share("alpha").share("beta");
    copy_fixture(&d, "report.docx", "alpha", "reports/report.docx");
    copy_fixture(&d, "budget.xlsx", "beta", "budget.xlsx");
    d = d.start();
    d.write("alpha", "a.txt", "alpha one REBUILDA1 common\n");
    d.write("alpha", "b.txt", "bravo one REBUILDB1 common\n");
    d.write("beta", "c.txt", "charlie one REBUILDC1 common\n");
    for (share, path) in [("alpha", "a.txt"), ("alpha", "b.txt"), ("beta", "c.txt")] {
        d.wait_versions(share, path, 1);
    }
    wait_found(&d, "REBUILDA1");
    wait_found(&d, "REBUILDB1");
    wait_found(&d, "REBUILDC1");
    d.write("alpha", "a.txt", "alpha two REBUILDA2 common\n");
    let a_history = d.wait_versions("alpha", "a.txt", 2);
    d.remove("alpha", "b.txt");
    d.wait_versions("alpha", "b.txt", 2);
    wait_found(&d, "REBUILDA2");
    wait_search(&d, &[("q", "REBUILDB1")], WAIT, |a| total(a) == 0);

    let a2_at = s(&a_history[0]["at"]).to_owned();
    let mid = before(&a2_at, 1);
    let mut queries: Vec<Vec<(&str, String)>> = Vec::new();
    for word in [
        "REBUILDA1",
        "REBUILDA2",
        "REBUILDB1",
        "REBUILDC1",
        "common",
        "REPORTBODYK1",
        "XLSXRISKP2",
        "",
    ] {
        queries.push(vec![("q", word.into()), ("limit", "100".into())]);
        queries.push(vec![
            ("q", word.into()),
            ("all_versions", "true".into()),
            ("limit", "100".into()),
        ]);
        queries.push(vec![
            ("q", word.into()),
            ("as_of", mid.clone()),
            ("limit", "100".into()),
        ]);
    }
    let before_crash = snapshot(&d, &queries);
    // The snapshot is what it should be, not just the same twice.
    assert_finds(&d, &[("q", "common")], &["alpha/a.txt", "beta/c.txt"]);
    assert_finds(
        &d,
        &[("q", "common"), ("as_of", &mid)],
        &["alpha/a.txt", "alpha/b.txt", "beta/c.txt"],
    );

    let status = d.stop();
    assert!(status.success(), "SIGTERM: {status}");
    let index = d.data_dir().join("index");
    assert!(index.is_dir(), "the index lives in {}", index.display());
    fs::remove_dir_all(&index).expect("remove the index");
    let started = Instant::now();
    d.restart();
    eprintln!("rebuilt the index and ready in {:?}", started.elapsed());

    // Ready means indexed: the same answers at once.
    assert_at_ready(&d, "the rebuilt index", &before_crash, || {
        snapshot(&d, &queries)
    });
}

#[test]
fn stale_index_is_caught_up_at_start_up_including_superseded_versions() {
    let mut d = TestDaemon::new().share("alpha").start();
    d.write("alpha", "a.txt", "alpha one STALEA1 shared\n");
    d.write("alpha", "b.txt", "bravo one STALEB1 shared\n");
    d.write("alpha", "c.txt", "charlie one STALEC1 shared\n");
    for word in ["STALEA1", "STALEB1", "STALEC1"] {
        wait_found(&d, word);
    }
    // The index as it was then: what a crash before the next index commits leaves.
    let status = d.stop();
    assert!(status.success(), "SIGTERM: {status}");
    let saved = d.root().join("index-then");
    copy_dir(&d.data_dir().join("index"), &saved);
    d.restart();

    d.write("alpha", "a.txt", "alpha two STALEA2 shared\n");
    d.remove("alpha", "b.txt");
    d.write("alpha", "d.txt", "delta one STALED1 shared\n");
    d.wait_versions("alpha", "a.txt", 2);
    d.wait_versions("alpha", "b.txt", 2);
    wait_found(&d, "STALEA2");
    wait_found(&d, "STALED1");
    wait_search(&d, &[("q", "STALEB1")], WAIT, |a| total(a) == 0);
    assert_finds(&d, &[("q", "STALEA1")], &[]);
    assert_finds(
        &d,
        &[("q", "shared")],
        &["alpha/a.txt", "alpha/c.txt", "alpha/d.txt"],
    );
    let old = assert_finds(
        &d,
        &[("q", "STALEB1"), ("all_versions", "true")],
        &["alpha/b.txt"],
    );
    assert_eq!(hits(&old)[0]["current"], false, "{old:#}");
    let old = assert_finds(
        &d,
        &[("q", "STALEA1"), ("all_versions", "true")],
        &["alpha/a.txt"],
    );
    assert_eq!(hits(&old)[0]["current"], false, "{old:#}");
    let queries: Vec<Vec<(&str, String)>> = [
        "STALEA1", "STALEA2", "STALEB1", "STALEC1", "STALED1", "shared",
    ]
    .into_iter()
    .flat_map(|w| {
        [
            vec![("q", w.to_owned())],
            vec![("q", w.to_owned()), ("all_versions", "true".to_owned())],
        ]
    })
    .collect();
    let expected = snapshot(&d, &queries);

    let status = d.stop();
    assert!(status.success(), "SIGTERM: {status}");
    let index = d.data_dir().join("index");
    fs::remove_dir_all(&index).expect("remove the index");
    copy_dir(&saved, &index);
    d.restart();

    // The old index learnt what it missed, at once: the new versions, and
    // that the versions it held as current were superseded or deleted.
    assert_at_ready(&d, "the stale index caught up", &expected, || {
        snapshot(&d, &queries)
    });
}

#[test]
fn sigkill_after_the_archive_commit_loses_nothing_from_the_index() {
    let mut d = TestDaemon::new().share("alpha").start();
    let mut caught = Vec::new();
    for (round, word) in ["KILLMARKONE", "KILLMARKTWO"].into_iter().enumerate() {
        d.write("alpha", "crash.txt", format!("crash test {word}\n"));
        // Poll tightly: kill as soon as the version is committed, ideally
        // before it is extracted and indexed.
        let deadline = Instant::now() + WAIT;
        while d.history("alpha", "crash.txt").len() < round + 1 {
            assert!(
                Instant::now() < deadline,
                "crash.txt v{} never appeared\n{}",
                round + 1,
                d.log_tail()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        caught.push(total(&q(&d, word)) == 0);
        d.kill();
        d.restart();

        // Ready means indexed: found at once, as the current version.
        let expected = vec![("alpha/crash.txt".to_owned(), round as u64 + 1, true, 1)];
        assert_at_ready(&d, word, &expected, || summary(&q(&d, word)));
    }
    eprintln!("killed before the version was searchable: {caught:?}");
    // v1's word is history now.
    assert_finds(&d, &[("q", "KILLMARKONE")], &[]);
    let old = assert_finds(
        &d,
        &[("q", "KILLMARKONE"), ("all_versions", "true")],
        &["alpha/crash.txt"],
    );
    assert_eq!(hits(&old)[0]["version"], 1);
    assert_eq!(hits(&old)[0]["current"], false);
}

// --- 9. the command line ----------------------------------------------------------------------

#[test]
fn cli_search_prints_hits_as_json_and_as_text() {
    let d = TestDaemon::new().share("alpha").start();
    d.write("alpha", "cli/status report.txt", "weekly status CLIMARK\n");
    d.write("alpha", "cli/other.txt", "weekly nothing else\n");
    wait_found(&d, "CLIMARK");
    wait_found(&d, "nothing");

    let out = d.cli(&["search", "CLIMARK", "--json"]);
    let json: Value = serde_json::from_str(&stdout_of(&out)).expect("--json prints JSON");
    assert_eq!(json["total"], 1, "{json:#}");
    let hit = &json["hits"][0];
    assert_eq!(hit["share"], "alpha", "{json:#}");
    assert_eq!(hit["path"], "cli/status report.txt", "{json:#}");
    assert_eq!(hit["version"], 1, "{json:#}");
    assert_eq!(hit["current"], true, "{json:#}");

    let text = stdout_of(&d.cli(&["search", "CLIMARK"]));
    assert!(text.contains("alpha/cli/status report.txt"), "{text}");
    assert!(text.starts_with("1 documents"), "{text}");
    assert!(text.contains("CLIMARK"), "{text}");

    let text = stdout_of(&d.cli(&["search", "weekly", "--limit", "1"]));
    assert!(text.starts_with("2 documents"), "{text}");
    let json: Value = serde_json::from_str(&stdout_of(
        &d.cli(&["search", "weekly", "--share", "beta", "--json"]),
    ))
    .expect("JSON");
    assert_eq!(json["total"], 0, "{json:#}");

    d.write("alpha", "cli/status report.txt", "weekly status, revised\n");
    d.wait_versions("alpha", "cli/status report.txt", 2);
    wait_search(&d, &[("q", "revised")], WAIT, |a| total(a) == 1);
    let text = stdout_of(&d.cli(&["search", "CLIMARK", "--all-versions"]));
    assert!(
        text.contains("alpha/cli/status report.txt v1 (old version)"),
        "{text}"
    );

    let out = d.cli(&["search", "title:"]);
    assert!(!out.status.success(), "a bad query fails");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad query"), "{stderr}");
}

#[test]
fn cli_search_text_output_shows_the_snippet_unescaped() {
    let d = TestDaemon::new().share("alpha").start();
    d.write(
        "alpha",
        "brief.txt",
        "The client's brief: cost < budget & \"on time\" QUOTEMARK\n",
    );
    wait_found(&d, "QUOTEMARK");
    let text = stdout_of(&d.cli(&["search", "QUOTEMARK"]));
    assert!(
        text.contains("The client's brief: cost < budget & \"on time\" [QUOTEMARK]"),
        "the snippet line should read as the document does:\n{text}"
    );
}
