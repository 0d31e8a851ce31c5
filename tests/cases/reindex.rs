//! `docvault reindex` rebuilds the search index from the archive alone, and
//! the rebuilt index answers the same queries with the same results.

use crate::util::TestDaemon;

fn hits(d: &TestDaemon, q: &str, all_versions: bool) -> Vec<(String, u64, bool)> {
    let route = format!("/api/v1/search?q={q}&all_versions={all_versions}&limit=100");
    let (status, body) = d.get_json(&route);
    assert_eq!(status, 200, "{body}");
    let mut hits: Vec<_> = body["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| {
            let path = h["path"].as_str().expect("path").to_owned();
            (
                path,
                h["version"].as_u64().expect("version"),
                h["current"].as_bool().expect("current"),
            )
        })
        .collect();
    hits.sort();
    hits
}

#[test]
fn reindex_rebuilds_the_same_answers_from_the_archive() {
    let mut d = TestDaemon::new().share("alpha").start();
    d.write(
        "alpha",
        "plan.md",
        "# Plan\nthe ZEBRAPLAN milestone, version one",
    );
    d.wait_versions("alpha", "plan.md", 1);
    d.write(
        "alpha",
        "plan.md",
        "# Plan\nthe ZEBRAPLAN milestone, version two",
    );
    d.write(
        "alpha",
        "notes/minutes.txt",
        "minutes mention ZEBRAPLAN too",
    );
    d.write("alpha", "gone.txt", "ZEBRAPLAN in a file that is deleted");
    d.wait_versions("alpha", "plan.md", 2);
    d.wait_versions("alpha", "gone.txt", 1);
    d.remove("alpha", "gone.txt");
    d.wait_versions("alpha", "gone.txt", 2);
    d.wait_for(
        || hits(&d, "ZEBRAPLAN", true).len() == 3,
        "every ZEBRAPLAN version indexed",
    );
    d.wait_for(
        || hits(&d, "ZEBRAPLAN", false).len() == 2,
        "the deleted file out of default search",
    );
    let before = (
        hits(&d, "ZEBRAPLAN", false),
        hits(&d, "ZEBRAPLAN", true),
        hits(&d, "one", true),
    );
    assert_eq!(d.stop().code(), Some(0));

    let out = d.cli(&["reindex"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "reindex failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("reindexed 4 versions of 1 shares in "),
        "{stdout}"
    );

    d.restart();
    let after = (
        hits(&d, "ZEBRAPLAN", false),
        hits(&d, "ZEBRAPLAN", true),
        hits(&d, "one", true),
    );
    assert_eq!(after, before);
}

#[test]
fn reindex_refuses_while_the_daemon_runs() {
    let d = TestDaemon::new().share("alpha").start();
    let out = d.cli(&["reindex"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("stop the daemon before reindexing"),
        "{stderr}"
    );
}
