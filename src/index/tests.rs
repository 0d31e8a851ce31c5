//! Index tests on a real index in a temp dir.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use tempfile::TempDir;

use super::*;

/// A moment of the tests: `s` seconds (and `n` nanoseconds) into the test epoch.
fn at(s: u64, n: u32) -> SystemTime {
    UNIX_EPOCH + Duration::new(1_780_000_000 + s, n)
}

fn mime_of(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "csv" => "text/csv",
        "pdf" => "application/pdf",
        "md" => "text/markdown",
        _ => "text/plain",
    }
}

/// A current version recorded at `at(100 * version)`.
fn entry(share: &str, path: &str, version: u32, text: &str) -> Entry {
    Entry {
        share: share.into(),
        path: path.into(),
        version,
        valid_from: at(100 * u64::from(version), 0),
        valid_to: None,
        modified: at(100 * u64::from(version), 0),
        size: text.len() as u64,
        mime: mime_of(path).into(),
        title: None,
        author: None,
        status: "ok".into(),
        text: text.into(),
    }
}

struct Fixture {
    index: Index,
    _dir: TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = TempDir::new().unwrap();
        let index = Index::open_or_create(&dir.path().join("index")).unwrap();
        Fixture { index, _dir: dir }
    }

    fn with(entries: Vec<Entry>) -> Fixture {
        let mut f = Fixture::new();
        for e in entries {
            f.index.add(e).unwrap();
        }
        f.commit();
        f
    }

    fn commit(&mut self) {
        self.index.commit(&BTreeMap::new()).unwrap();
    }

    fn search(&self, query: &Query) -> Hits {
        self.index.searcher().search(query).unwrap()
    }

    /// The paths a query text finds among current versions.
    fn paths(&self, text: &str) -> Vec<String> {
        paths(&self.search(&q(text)))
    }
}

fn q(text: &str) -> Query {
    Query {
        q: text.into(),
        limit: 100,
        ..Query::default()
    }
}

fn paths(hits: &Hits) -> Vec<String> {
    let mut out: Vec<String> = hits.hits.iter().map(|h| h.path.clone()).collect();
    out.sort();
    out
}

const FILLER: [&str; 12] = [
    "project", "budget", "risk", "schedule", "meeting", "minutes", "review", "status", "report",
    "contract", "plan", "team",
];

#[test]
fn every_marker_finds_exactly_its_document() {
    let entries = (0..50)
        .map(|i| {
            let words: Vec<&str> = (0..40).map(|w| FILLER[(i + w) % FILLER.len()]).collect();
            let text = format!(
                "{} zqmark{i}x {}",
                words[..20].join(" "),
                words[20..].join(" ")
            );
            entry("alpha", &format!("docs/doc{i}.txt"), 1, &text)
        })
        .collect();
    let f = Fixture::with(entries);
    for i in 0..50 {
        let hits = f.search(&q(&format!("zqmark{i}x")));
        assert_eq!(hits.total, 1, "marker {i}");
        assert_eq!(paths(&hits), [format!("docs/doc{i}.txt")]);
    }
    assert_eq!(f.search(&q("budget")).total, 50);
    assert_eq!(f.search(&q("zqmark50x")).total, 0);
}

#[test]
fn phrases_match_words_in_order() {
    let f = Fixture::with(vec![
        entry("alpha", "a.txt", 1, "the quarterly budget review is due"),
        entry("alpha", "b.txt", 1, "budget for the quarterly review"),
    ]);
    assert_eq!(f.paths("\"quarterly budget\""), ["a.txt"]);
    assert_eq!(f.paths("quarterly budget"), ["a.txt", "b.txt"]);
    assert_eq!(f.paths("\"quarterly review\""), ["b.txt"]);
    assert_eq!(f.paths("\"quarterly review\"~1"), ["a.txt", "b.txt"]);
}

#[test]
fn boolean_operators() {
    let f = Fixture::with(vec![
        entry("alpha", "a.txt", 1, "apple banana"),
        entry("alpha", "b.txt", 1, "apple cherry"),
        entry("alpha", "c.txt", 1, "cherry date"),
    ]);
    assert_eq!(f.paths("apple"), ["a.txt", "b.txt"]);
    assert_eq!(f.paths("apple cherry"), ["b.txt"]);
    assert_eq!(f.paths("apple AND cherry"), ["b.txt"]);
    assert_eq!(f.paths("banana OR date"), ["a.txt", "c.txt"]);
    assert_eq!(f.paths("apple -banana"), ["b.txt"]);
    assert_eq!(f.paths("apple NOT banana"), ["b.txt"]);
    assert_eq!(f.paths("cherry AND NOT apple"), ["c.txt"]);
    assert_eq!(f.paths("(banana OR date) cherry"), ["c.txt"]);
}

#[test]
fn fields_title_path_author_type() {
    let mut plan = entry("alpha", "minutes/board_2026-03.docx", 1, "agreed items");
    plan.title = Some("Steering committee".into());
    plan.author = Some("Jürgen Weiß".into());
    let mut sheet = entry("alpha", "finance/budget.xlsx", 1, "steering costs");
    sheet.author = Some("Ana Lima".into());
    let csv = entry("alpha", "finance/export.csv", 1, "numbers");
    let f = Fixture::with(vec![plan, sheet, csv]);

    assert_eq!(f.paths("title:steering"), ["minutes/board_2026-03.docx"]);
    assert_eq!(
        f.paths("steering"),
        ["finance/budget.xlsx", "minutes/board_2026-03.docx"]
    );
    assert_eq!(f.paths("path:minutes"), ["minutes/board_2026-03.docx"]);
    assert_eq!(f.paths("path:board"), ["minutes/board_2026-03.docx"]);
    assert_eq!(f.paths("path:2026"), ["minutes/board_2026-03.docx"]);
    assert_eq!(
        f.paths("finance"),
        ["finance/budget.xlsx", "finance/export.csv"]
    );
    assert_eq!(f.paths("author:weiss"), ["minutes/board_2026-03.docx"]);
    assert_eq!(f.paths("author:lima"), ["finance/budget.xlsx"]);
    assert_eq!(f.paths("type:docx"), ["minutes/board_2026-03.docx"]);
    assert_eq!(f.paths("type:DOCX"), ["minutes/board_2026-03.docx"]);
    assert_eq!(
        f.paths("type:spreadsheet"),
        ["finance/budget.xlsx", "finance/export.csv"]
    );
    assert_eq!(f.paths("type:document"), ["minutes/board_2026-03.docx"]);
    assert_eq!(f.paths("steering type:xlsx"), ["finance/budget.xlsx"]);
}

#[test]
fn filters_share_prefix_type_and_time() {
    let mut old = entry("alpha", "minutes/jan.txt", 1, "common words");
    old.modified = at(10, 0);
    let mut new = entry("alpha", "minutes-old/feb.txt", 1, "common words");
    new.modified = at(20, 0);
    let mut other = entry("beta", "minutes/mar.xlsx", 1, "common words");
    other.modified = at(30, 0);
    let f = Fixture::with(vec![old, new, other]);
    let all = || q("common");

    let share = Query {
        share: Some("beta".into()),
        ..all()
    };
    assert_eq!(paths(&f.search(&share)), ["minutes/mar.xlsx"]);
    let unknown = Query {
        share: Some("gamma".into()),
        ..all()
    };
    assert_eq!(f.search(&unknown).total, 0);

    let folder = Query {
        prefix: Some("minutes/".into()),
        ..all()
    };
    assert_eq!(
        paths(&f.search(&folder)),
        ["minutes/jan.txt", "minutes/mar.xlsx"]
    );
    let stem = Query {
        prefix: Some("minutes".into()),
        ..all()
    };
    assert_eq!(f.search(&stem).total, 3);
    let file = Query {
        prefix: Some("minutes/jan.txt".into()),
        ..all()
    };
    assert_eq!(paths(&f.search(&file)), ["minutes/jan.txt"]);
    let none = Query {
        prefix: Some("minutes/z".into()),
        ..all()
    };
    assert_eq!(f.search(&none).total, 0);

    let types = Query {
        types: Some("xlsx".into()),
        ..all()
    };
    assert_eq!(paths(&f.search(&types)), ["minutes/mar.xlsx"]);
    let either = Query {
        types: Some("xlsx, txt".into()),
        ..all()
    };
    assert_eq!(f.search(&either).total, 3);

    // after is inclusive, before exclusive.
    let after = Query {
        after: Some(at(20, 0)),
        ..all()
    };
    assert_eq!(
        paths(&f.search(&after)),
        ["minutes-old/feb.txt", "minutes/mar.xlsx"]
    );
    let before = Query {
        before: Some(at(20, 0)),
        ..all()
    };
    assert_eq!(paths(&f.search(&before)), ["minutes/jan.txt"]);
    let window = Query {
        after: Some(at(15, 0)),
        before: Some(at(25, 0)),
        ..all()
    };
    assert_eq!(paths(&f.search(&window)), ["minutes-old/feb.txt"]);

    let combined = Query {
        share: Some("alpha".into()),
        prefix: Some("minutes".into()),
        after: Some(at(11, 0)),
        ..all()
    };
    assert_eq!(paths(&f.search(&combined)), ["minutes-old/feb.txt"]);
}

/// Records v2 of `path` (superseding v1 at the same moment).
fn change(f: &mut Fixture, path: &str, text: &str) {
    let v2 = entry("alpha", path, 2, text);
    f.index.supersede("alpha", path, 1, v2.valid_from).unwrap();
    f.index.add(v2).unwrap();
    f.commit();
}

#[test]
fn an_old_marker_is_found_only_with_all_versions_and_only_on_the_old_version() {
    let mut f = Fixture::with(vec![entry("alpha", "plan.txt", 1, "shared oldmarker")]);
    change(&mut f, "plan.txt", "shared newmarker");

    assert_eq!(f.search(&q("oldmarker")).total, 0);
    let history = Query {
        all_versions: true,
        ..q("oldmarker")
    };
    let hits = f.search(&history);
    assert_eq!(hits.total, 1);
    assert_eq!((hits.hits[0].version, hits.hits[0].current), (1, false));
    assert_eq!(hits.hits[0].versions_matched, 1);

    let hits = f.search(&q("newmarker"));
    assert_eq!((hits.hits[0].version, hits.hits[0].current), (2, true));

    // Both versions match: one hit, the newest version, both counted.
    let both = f.search(&Query {
        all_versions: true,
        ..q("shared")
    });
    assert_eq!(both.total, 1);
    assert_eq!(both.hits.len(), 1);
    assert_eq!((both.hits[0].version, both.hits[0].current), (2, true));
    assert_eq!(both.hits[0].versions_matched, 2);
}

#[test]
fn as_of_sees_the_version_current_at_that_moment_exactly() {
    let mut v1 = entry("alpha", "plan.txt", 1, "before text");
    v1.valid_from = at(100, 5);
    let mut f = Fixture::with(vec![v1]);
    let changed = at(200, 7);
    let mut v2 = entry("alpha", "plan.txt", 2, "after text");
    v2.valid_from = changed;
    f.index.supersede("alpha", "plan.txt", 1, changed).unwrap();
    f.index.add(v2).unwrap();
    f.commit();

    let as_of = |t: SystemTime| {
        let hits = f.search(&Query {
            as_of: Some(t),
            ..q("text")
        });
        hits.hits.iter().map(|h| h.version).collect::<Vec<_>>()
    };
    assert_eq!(as_of(at(100, 4)), Vec::<u32>::new());
    assert_eq!(as_of(at(100, 5)), [1]);
    assert_eq!(as_of(at(200, 6)), [1]);
    assert_eq!(as_of(at(200, 7)), [2]);
    assert_eq!(as_of(at(300, 0)), [2]);

    let old = Query {
        as_of: Some(at(150, 0)),
        ..q("before")
    };
    assert_eq!(f.search(&old).total, 1);
    let new = Query {
        as_of: Some(at(150, 0)),
        ..q("after")
    };
    assert_eq!(f.search(&new).total, 0);

    let both = Query {
        as_of: Some(at(150, 0)),
        all_versions: true,
        ..q("text")
    };
    assert!(matches!(
        f.index.searcher().search(&both),
        Err(IndexError::BadQuery(_))
    ));
}

#[test]
fn a_deleted_document_leaves_default_search_and_stays_in_history() {
    let mut f = Fixture::with(vec![
        entry("alpha", "gone.txt", 1, "deleted marker"),
        entry("alpha", "kept.txt", 1, "kept marker"),
    ]);
    f.index
        .supersede("alpha", "gone.txt", 1, at(500, 0))
        .unwrap();
    f.commit();

    assert_eq!(f.paths("marker"), ["kept.txt"]);
    let history = f.search(&Query {
        all_versions: true,
        ..q("deleted")
    });
    assert_eq!(paths(&history), ["gone.txt"]);
    assert!(!history.hits[0].current);
    let before = Query {
        as_of: Some(at(499, 0)),
        ..q("marker")
    };
    assert_eq!(f.search(&before).total, 2);
    let after = Query {
        as_of: Some(at(500, 0)),
        ..q("marker")
    };
    assert_eq!(f.search(&after).total, 1);
}

#[test]
fn supersede_finds_uncommitted_entries_and_reports_unknown_ones() {
    let mut f = Fixture::new();
    f.index
        .add(entry("alpha", "a.txt", 1, "first draft"))
        .unwrap();
    f.index.supersede("alpha", "a.txt", 1, at(200, 0)).unwrap();
    f.index
        .add(entry("alpha", "a.txt", 2, "second draft"))
        .unwrap();
    f.commit();
    assert_eq!(f.search(&q("draft")).hits[0].version, 2);
    assert_eq!(
        f.search(&Query {
            all_versions: true,
            ..q("first")
        })
        .total,
        1
    );

    let err = f
        .index
        .supersede("alpha", "b.txt", 1, at(300, 0))
        .unwrap_err();
    assert_eq!(err.to_string(), "alpha:b.txt v1 is not in the index");
}

#[test]
fn a_cleared_share_cannot_be_superseded_back_to_life() {
    let mut f = Fixture::with(vec![entry("alpha", "a.txt", 1, "old words")]);
    f.index.clear_share("alpha").unwrap();
    let err = f
        .index
        .supersede("alpha", "a.txt", 1, at(300, 0))
        .unwrap_err();
    assert!(matches!(err, IndexError::NotIndexed { .. }), "{err}");
    f.commit();
    let history = f.search(&Query {
        all_versions: true,
        ..q("words")
    });
    assert_eq!(history.total, 0);

    // Added again after the clear (a reindex), an entry can be superseded
    // before any commit, and keeps its text.
    f.index.clear_share("alpha").unwrap();
    f.index
        .add(entry("alpha", "a.txt", 1, "new words"))
        .unwrap();
    f.index.supersede("alpha", "a.txt", 1, at(400, 0)).unwrap();
    f.index.remove("alpha", "a.txt", 1).unwrap();
    let err = f
        .index
        .supersede("alpha", "a.txt", 1, at(500, 0))
        .unwrap_err();
    assert!(matches!(err, IndexError::NotIndexed { .. }), "{err}");
    f.index
        .add(entry("alpha", "a.txt", 1, "newer words"))
        .unwrap();
    f.index.supersede("alpha", "a.txt", 1, at(600, 0)).unwrap();
    f.commit();
    let history = f.search(&Query {
        all_versions: true,
        ..q("newer")
    });
    assert_eq!(history.total, 1);
    assert!(!history.hits[0].current);
    assert_eq!(f.search(&q("words")).total, 0);
}

#[test]
fn add_replaces_the_same_version() {
    let mut f = Fixture::with(vec![entry("alpha", "a.txt", 1, "wrong words")]);
    f.index
        .add(entry("alpha", "a.txt", 1, "right words"))
        .unwrap();
    f.commit();
    assert_eq!(f.search(&q("wrong")).total, 0);
    let hits = f.search(&Query {
        all_versions: true,
        ..q("words")
    });
    assert_eq!((hits.total, hits.hits[0].versions_matched), (1, 1));
}

#[test]
fn remove_and_clear() {
    let mut f = Fixture::with(vec![
        entry("alpha", "a.txt", 1, "words"),
        entry("beta", "b.txt", 1, "words"),
        entry("beta", "c.txt", 1, "words"),
    ]);
    f.index.remove("alpha", "a.txt", 1).unwrap();
    f.commit();
    assert_eq!(f.paths("words"), ["b.txt", "c.txt"]);
    f.index.clear_share("beta").unwrap();
    f.index.add(entry("alpha", "d.txt", 1, "words")).unwrap();
    f.commit();
    assert_eq!(f.paths("words"), ["d.txt"]);
    f.index.clear().unwrap();
    f.commit();
    assert_eq!(f.search(&q("words")).total, 0);
    assert_eq!(f.search(&q("")).total, 0);
}

#[test]
fn operations_of_one_batch_apply_in_order() {
    let mut f = Fixture::new();
    f.index.add(entry("alpha", "a.txt", 1, "words")).unwrap();
    f.index.remove("alpha", "a.txt", 1).unwrap();
    f.index.add(entry("alpha", "b.txt", 1, "words")).unwrap();
    f.index.add(entry("beta", "c.txt", 1, "words")).unwrap();
    f.index.clear_share("beta").unwrap();
    f.index.add(entry("beta", "d.txt", 1, "words")).unwrap();
    f.commit();
    assert_eq!(f.paths("words"), ["b.txt", "d.txt"]);
    f.index.add(entry("alpha", "e.txt", 1, "words")).unwrap();
    f.index.clear().unwrap();
    f.index.add(entry("alpha", "f.txt", 1, "words")).unwrap();
    f.commit();
    assert_eq!(f.paths("words"), ["f.txt"]);
}

#[test]
fn snippets_mark_matches_and_escape_everything_else() {
    let text = "Intro <script>alert('x')</script> & then the needle appears.\n\nMore   text.";
    let f = Fixture::with(vec![entry("alpha", "a.html", 1, text)]);
    let snippet = &f.search(&q("needle")).hits[0].snippet;
    assert_eq!(
        snippet,
        "Intro &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; then the <mark>needle</mark> appears. More text"
    );
    // No match in the text (the path matched): the start of the text, escaped.
    let snippet = &f.search(&q("path:a")).hits[0].snippet;
    assert!(snippet.starts_with("Intro &lt;script&gt;"), "{snippet}");
    assert!(!snippet.contains("<mark>"));
}

#[test]
fn snippet_of_a_long_text_is_short_and_centered_on_the_match() {
    let text = format!(
        "{} needle {}",
        "lorem ipsum ".repeat(200),
        "dolor sit ".repeat(200)
    );
    let f = Fixture::with(vec![entry("alpha", "a.txt", 1, &text)]);
    let snippet = &f.search(&q("needle")).hits[0].snippet;
    assert!(snippet.contains("<mark>needle</mark>"), "{snippet}");
    assert!(snippet.len() < 260, "{}", snippet.len());
    let opening = &f.search(&q("path:a")).hits[0].snippet;
    assert!(
        opening.ends_with('…') && opening.chars().count() <= 201,
        "{opening}"
    );
}

#[test]
fn snippets_of_long_texts_find_late_and_folded_matches() {
    let late = format!("{} needle here", "filler words ".repeat(60_000));
    let folded = format!("{} die Übergabe folgt", "filler words ".repeat(800));
    let f = Fixture::with(vec![
        entry("alpha", "late.txt", 1, &late),
        entry("alpha", "folded.txt", 1, &folded),
    ]);
    let late = &f.search(&q("needle")).hits[0].snippet;
    assert!(late.ends_with("<mark>needle</mark> here"), "{late}");
    let folded = &f.search(&q("ubergabe")).hits[0].snippet;
    assert!(
        folded.ends_with("die <mark>Übergabe</mark> folgt"),
        "{folded}"
    );
}

#[test]
fn ascii_folding_finds_accented_words_both_ways() {
    let f = Fixture::with(vec![
        entry("alpha", "a.txt", 1, "Übergabe der Unterlagen"),
        entry("alpha", "b.txt", 1, "ubergabe plain"),
    ]);
    assert_eq!(f.paths("ubergabe"), ["a.txt", "b.txt"]);
    assert_eq!(f.paths("Übergabe"), ["a.txt", "b.txt"]);
    assert_eq!(f.paths("UBERGABE unterlagen"), ["a.txt"]);
    assert_eq!(
        f.search(&q("Übergabe"))
            .hits
            .iter()
            .find(|h| h.path == "a.txt")
            .unwrap()
            .snippet,
        "<mark>Übergabe</mark> der Unterlagen"
    );
}

#[test]
fn ids_are_found_whole_and_by_parts() {
    let f = Fixture::with(vec![
        entry(
            "alpha",
            "risks.txt",
            1,
            "Risk R-12 escalated; order A-1312/B due 2026-Q3.",
        ),
        entry(
            "alpha",
            "other.txt",
            1,
            "Risk R-13 and order A-1313/C in 2027-Q3",
        ),
    ]);
    assert_eq!(f.paths("R-12"), ["risks.txt"]);
    assert_eq!(f.paths("r-12"), ["risks.txt"]);
    assert_eq!(f.paths("12"), ["risks.txt"]);
    assert_eq!(f.paths("\"R-12\""), ["risks.txt"]);
    assert_eq!(f.paths("A-1312/B"), ["risks.txt"]);
    assert_eq!(f.paths("1312"), ["risks.txt"]);
    assert_eq!(f.paths("2026-Q3"), ["risks.txt"]);
    assert_eq!(f.paths("2026"), ["risks.txt"]);
    assert_eq!(f.paths("q3"), ["other.txt", "risks.txt"]);
    assert_eq!(f.paths("\"2026 q3\""), ["risks.txt"]);
    assert_eq!(f.paths("\"risk escalated\""), Vec::<String>::new());
    assert_eq!(f.paths("\"R-12 escalated\""), ["risks.txt"]);
    assert_eq!(f.paths("R-14"), Vec::<String>::new());
    let snippet = &f.search(&q("A-1312/B")).hits[0].snippet;
    assert!(snippet.contains("<mark>A-1312/B</mark>"), "{snippet}");
}

#[test]
fn fuzzy_terms_allow_edits() {
    let f = Fixture::with(vec![
        entry("alpha", "a.txt", 1, "budget review"),
        entry("alpha", "b.txt", 1, "something else"),
    ]);
    assert_eq!(f.paths("budgte~1"), ["a.txt"]);
    assert_eq!(f.paths("bugdet~1 review"), ["a.txt"]);
    assert_eq!(f.paths("budgat~1"), ["a.txt"]);
    assert_eq!(f.paths("bxdgxt~1"), Vec::<String>::new());
    assert_eq!(f.paths("bxdgxt~2"), ["a.txt"]);
    assert_eq!(f.paths("content:revew~1"), ["a.txt"]);
    assert_eq!(f.paths("budgte~1 -review"), Vec::<String>::new());
}

#[test]
fn paging_and_totals() {
    let entries = (0..30)
        .map(|i| entry("alpha", &format!("d{i:02}.txt"), 1, "same words"))
        .collect();
    let f = Fixture::with(entries);
    let page = |offset, limit| {
        f.search(&Query {
            offset,
            limit,
            ..q("same")
        })
    };
    assert_eq!((page(0, 10).total, page(0, 10).hits.len()), (30, 10));
    assert_eq!(page(25, 10).hits.len(), 5);
    assert_eq!(page(40, 10).hits.len(), 0);
    assert_eq!((page(0, 0).total, page(0, 0).hits.len()), (30, 0));
    let mut seen: Vec<String> = (0..3).flat_map(|p| paths(&page(p * 10, 10))).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 30);
    let history = f.search(&Query {
        all_versions: true,
        offset: 25,
        limit: 10,
        ..q("same")
    });
    assert_eq!((history.total, history.hits.len()), (30, 5));
    assert_eq!(
        f.search(&Query {
            limit: usize::MAX,
            offset: usize::MAX,
            ..q("same")
        })
        .hits
        .len(),
        0
    );
}

#[test]
fn an_empty_query_lists_every_current_document() {
    let mut f = Fixture::with(vec![
        entry("alpha", "a.txt", 1, "x"),
        entry("alpha", "b.txt", 1, "y"),
    ]);
    change(&mut f, "a.txt", "z");
    assert_eq!(f.paths(""), ["a.txt", "b.txt"]);
    assert_eq!(
        f.search(&Query {
            all_versions: true,
            ..q(" ")
        })
        .total,
        2
    );
}

#[test]
fn bad_queries_say_why_and_never_panic() {
    let f = Fixture::with(vec![entry("alpha", "a.txt", 1, "words")]);
    let cases = [
        ("title:", "expected word at position 6"),
        ("\"unclosed", "missing delimiter \" at position 9"),
        (
            "a AND",
            "cannot parse the query: an operator without a word after it?",
        ),
        (
            "a OR",
            "cannot parse the query: an operator without a word after it?",
        ),
        (")(", "expected word at position 0"),
        ("(a", "expected ')' at position 2"),
        (
            "-alone",
            "a query cannot only exclude: add a word to search for",
        ),
        (
            "NOT alone",
            "a query cannot only exclude: add a word to search for",
        ),
        ("nosuchfield:x", "unknown field \"nosuchfield\""),
        ("title:*", "field:* (has a value) is not supported"),
        (
            "path:/re/",
            "Unsupported query: Regex queries are not allowed.",
        ),
    ];
    for (text, reason) in cases {
        match f.index.searcher().search(&q(text)) {
            Err(e @ IndexError::BadQuery(_)) => {
                assert_eq!(e.to_string(), format!("bad query: {reason}"), "{text:?}")
            }
            other => panic!("{text:?} gave {other:?}"),
        }
    }
}

#[test]
fn absorbed_commits_round_trip_through_commit_and_reopen() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("index");
    let absorbed: BTreeMap<String, String> = [
        ("alpha".into(), "a".repeat(40)),
        ("beta".into(), "b".repeat(40)),
    ]
    .into();
    {
        let mut index = Index::open_or_create(&path).unwrap();
        assert!(index.absorbed().is_empty());
        index
            .add(entry("alpha", "a.txt", 1, "kept across reopen"))
            .unwrap();
        index.commit(&absorbed).unwrap();
        assert_eq!(index.absorbed(), absorbed);
    }
    let index = Index::open_or_create(&path).unwrap();
    assert_eq!(index.absorbed(), absorbed);
    assert_eq!(index.searcher().search(&q("reopen")).unwrap().total, 1);
}

#[test]
fn files_left_between_commits_are_removed_at_the_next_open() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("index");
    let segment_files = || {
        std::fs::read_dir(&path)
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                let name = name.to_string_lossy().into_owned();
                name.len() > 33 && name.as_bytes()[32] == b'.'
            })
            .count()
    };
    {
        let mut index = Index::open_or_create(&path).unwrap();
        index
            .add(entry("alpha", "kept.txt", 1, "committed words"))
            .unwrap();
        index.commit(&BTreeMap::new()).unwrap();
    }
    let committed = segment_files();
    {
        // A "crash": the writer writes the segment of an uncommitted entry.
        let mut index = Index::open_or_create(&path).unwrap();
        index
            .add(entry("alpha", "lost.txt", 1, "uncommitted words"))
            .unwrap();
        index.flush_ops().unwrap();
        let _ = index.writer.prepare_commit().unwrap();
    }
    assert!(segment_files() > committed);
    let index = Index::open_or_create(&path).unwrap();
    assert_eq!(segment_files(), committed);
    let hits = index.searcher().search(&q("words")).unwrap();
    assert_eq!(paths(&hits), ["kept.txt"]);
}

#[test]
fn a_second_writer_is_refused() {
    let f = Fixture::new();
    let err = Index::open_or_create(f.index.dir())
        .err()
        .expect("second writer");
    assert!(
        err.to_string().starts_with("cannot open index at "),
        "{err}"
    );
}

#[test]
fn hits_serialize_with_rfc3339_times_and_null_titles() {
    let f = Fixture::with(vec![entry("alpha", "a.txt", 1, "words")]);
    let json = serde_json::to_value(f.search(&q("words"))).unwrap();
    let hit = &json["hits"][0];
    assert_eq!(hit["modified"], "2026-05-28T20:28:20.000000000Z");
    assert_eq!(hit["title"], serde_json::Value::Null);
    assert_eq!(hit["current"], true);
    assert_eq!(json["total"], 1);
}

#[test]
fn text_of_gives_each_version_its_own_text_and_status() {
    let mut failed = entry("alpha", "broken.docx", 1, "");
    failed.status = "failed".into();
    let mut f = Fixture::with(vec![
        entry("alpha", "plan.txt", 1, "risk R-12 amber\n"),
        entry("alpha", "plan.txt.bak", 1, "other document\n"),
        entry("beta", "plan.txt", 1, "another share\n"),
        failed,
    ]);
    change(&mut f, "plan.txt", "risk R-12 red\n");
    let searcher = f.index.searcher();
    let text = |share, path, version| searcher.text_of(share, path, version).unwrap();

    let v1 = text("alpha", "plan.txt", 1).expect("v1 is indexed");
    assert_eq!(
        (v1.text.as_str(), v1.status.as_str()),
        ("risk R-12 amber\n", "ok")
    );
    let v2 = text("alpha", "plan.txt", 2).expect("v2 is indexed");
    assert_eq!(v2.text, "risk R-12 red\n");
    assert_eq!(text("beta", "plan.txt", 1).unwrap().text, "another share\n");
    let broken = text("alpha", "broken.docx", 1).expect("failed versions are indexed too");
    assert_eq!(
        (broken.text.as_str(), broken.status.as_str()),
        ("", "failed")
    );
    assert_eq!(text("alpha", "plan.txt", 3), None);
    assert_eq!(text("alpha", "plan", 1), None);

    // Uncommitted entries are not seen; removed ones are gone once committed.
    f.index
        .add(entry("alpha", "new.txt", 1, "not yet"))
        .unwrap();
    f.index.remove("alpha", "plan.txt", 1).unwrap();
    assert_eq!(searcher.text_of("alpha", "new.txt", 1).unwrap(), None);
    f.commit();
    assert_eq!(
        searcher
            .text_of("alpha", "new.txt", 1)
            .unwrap()
            .unwrap()
            .text,
        "not yet"
    );
    assert_eq!(searcher.text_of("alpha", "plan.txt", 1).unwrap(), None);
}

/// One small index shared by the property test.
fn shared_searcher() -> &'static Searcher {
    static SEARCHER: OnceLock<Searcher> = OnceLock::new();
    SEARCHER.get_or_init(|| {
        let f = Fixture::with(vec![
            entry(
                "alpha",
                "a/b R-12.docx",
                1,
                "Übergabe R-12 <b>budget</b> 2026-Q3",
            ),
            entry("alpha", "c.csv", 1, "numbers, more numbers"),
        ]);
        let searcher = f.index.searcher();
        // The index must outlive the test: keep its directory.
        std::mem::forget(f);
        searcher
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn no_query_text_panics(text in prop_oneof![
        "[a-zA-Z0-9 :\"()~^*+\\-!/\\[\\]{}<>=.,'\\\\?|&@#%$_]{0,24}",
        "(title|path|author|type|content|share|version|modified|size|nosuch):[a-z0-9\"*~\\[\\] ]{0,10}",
        any::<String>(),
    ]) {
        let query = Query { q: text, limit: 5, ..Query::default() };
        match shared_searcher().search(&query) {
            Ok(_) | Err(IndexError::BadQuery(_)) => {}
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }
}

/// Opening an index holds the writer's lock from the moment it takes it:
/// a lock file's lock (flock) is shared with every process forked while it
/// is held, until that process execs, so a lock released and taken again
/// while another thread starts a program can find itself busy.
#[test]
fn opening_an_index_while_other_threads_start_programs_succeeds() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    // Indexes closed before any program starts: no fork holds their locks.
    let dirs: Vec<TempDir> = (0..80).map(|_| TempDir::new().unwrap()).collect();
    for dir in &dirs {
        Index::open_or_create(dir.path()).unwrap().finish().unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let spawner = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::process::Command::new("true").status().unwrap();
            }
        })
    };
    let failed: Vec<String> = dirs
        .iter()
        .filter_map(|dir| match Index::open_or_create(dir.path()) {
            Ok(index) => index.finish().err().map(|e| e.to_string()),
            Err(e) => Some(e.to_string()),
        })
        .collect();
    stop.store(true, Ordering::Relaxed);
    spawner.join().unwrap();
    assert!(
        failed.is_empty(),
        "{} of {} failed: {failed:?}",
        failed.len(),
        dirs.len()
    );
}

#[test]
fn large_segments_merge_four_at_a_time_and_small_ones_eight() {
    let mut schema = tantivy::schema::Schema::builder();
    let n = schema.add_u64_field("n", tantivy::schema::INDEXED);
    let index = tantivy::Index::create_in_ram(schema.build());
    // One indexing thread: one segment per commit.
    let mut writer: IndexWriter = index.writer_with_num_threads(1, 15_000_000).unwrap();
    writer.set_merge_policy(Box::new(merge_policy()));
    let mut commit = |docs: u64| {
        for i in 0..docs {
            writer.add_document(tantivy::doc!(n => i)).unwrap();
        }
        writer.commit().unwrap();
    };
    // Six small segments: fewer than eight, left alone.
    (0..6).for_each(|_| commit(1));
    // Four segments of one level above the small ones: merged into one.
    (0..4).for_each(|_| commit(1200));
    writer.wait_merging_threads().unwrap();
    let mut sizes: Vec<u32> = index
        .searchable_segment_metas()
        .unwrap()
        .iter()
        .map(|s| s.num_docs())
        .collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [1, 1, 1, 1, 1, 1, 4800]);
}

#[test]
fn the_reader_follows_a_merge_that_no_commit_follows() {
    let mut f = Fixture::new();
    for i in 0..3 {
        f.index
            .add(entry("s", &format!("d{i}.txt"), 1, "merged text"))
            .unwrap();
        f.commit();
    }
    let segments = || f.index.reader.searcher().segment_readers().len();
    assert_eq!(segments(), 3, "three commits of one entry each");
    let ids = f.index.writer.index().searchable_segment_ids().unwrap();
    f.index.writer.merge(&ids).wait().unwrap();
    // Until the reader lets go of them, the merged-away segments stay
    // mapped (and on disk, though deleted).
    let deadline = Instant::now() + Duration::from_secs(10);
    while segments() != 1 {
        assert!(
            Instant::now() < deadline,
            "the reader still sees {} segments after the merge",
            segments()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(f.search(&q("merged")).total, 3);
}
