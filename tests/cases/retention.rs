//! Retention and legal holds over HTTP: check, due, holds, their audit
//! events and roles.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::TestDaemon;

/// A daemon whose "records" rule keeps the newest version and lets older
/// ones go 2 s after they were superseded.
fn daemon() -> TestDaemon {
    TestDaemon::new()
        .config(
            "\n[[retention]]\nname = \"drafts\"\npaths = [\"drafts/**\"]\nkeep_last = 1\n\
             \n[[retention]]\nname = \"records\"\nkeep_last = 1\nretain_for = \"2s\"\n",
        )
        .tokens(
            &[
                ("ria", "reader", "reader-secret"),
                ("ed", "editor", "editor-secret"),
                ("ada", "admin", "admin-secret"),
            ],
            "admin-secret",
        )
        .start()
}

fn statuses(check: &Value) -> Vec<(u64, String)> {
    check["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_u64().unwrap(),
                v["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn st(list: &[(u64, &str)]) -> Vec<(u64, String)> {
    list.iter().map(|(v, s)| (*v, s.to_string())).collect()
}

#[test]
fn versions_become_due_and_holds_protect_them() {
    let d = daemon();
    for (i, text) in ["one", "two", "three"].iter().enumerate() {
        d.write("alpha", "contracts/supply.txt", text);
        d.wait_versions("alpha", "contracts/supply.txt", i + 1);
        d.write("alpha", "plans/plan.txt", text);
        d.wait_versions("alpha", "plans/plan.txt", i + 1);
    }
    let check = |path: &str| {
        let (status, body) =
            d.get_json(&format!("/api/v1/retention/check?share=alpha&path={path}"));
        assert_eq!(status, 200, "{body}");
        body
    };
    let fresh = check("plans/plan.txt");
    assert_eq!(fresh["policy"], "records");
    assert_eq!(
        statuses(&fresh),
        st(&[(3, "current"), (2, "retained"), (1, "retained")])
    );
    assert!(fresh["versions"][1]["retain_until"].is_string());

    // A hold on contracts/ (admin), then wait until the 2 s have passed.
    let r = d.send(
        "POST",
        "/api/v1/holds",
        Some(&json!({"share": "alpha", "prefix": "contracts/", "reason": "supplier dispute"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let hold = r.json();
    assert_eq!(hold["placed_by"], "ada");
    assert_eq!(hold["prefix"], "contracts/");
    let deadline = Instant::now() + Duration::from_secs(15);
    while statuses(&check("plans/plan.txt"))[2].1 != "due" {
        assert!(Instant::now() < deadline, "v1 never became due");
        std::thread::sleep(Duration::from_millis(100));
    }
    d.wait_for(
        || statuses(&check("plans/plan.txt"))[1].1 == "due",
        "v2 due",
    );
    assert_eq!(
        statuses(&check("plans/plan.txt")),
        st(&[(3, "current"), (2, "due"), (1, "due")])
    );
    let held = check("contracts/supply.txt");
    assert_eq!(
        statuses(&held),
        st(&[(3, "current"), (2, "held"), (1, "held")])
    );
    assert_eq!(held["holds"][0]["reason"], "supplier dispute");

    // The due list: exactly plan.txt v1 and v2, with their bytes.
    let (status, due) = d.get_json("/api/v1/retention/due?share=alpha");
    assert_eq!(status, 200);
    let listed: Vec<(String, u64)> = due["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["path"].as_str().unwrap().to_owned(),
                v["version"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("plans/plan.txt".to_owned(), 1),
            ("plans/plan.txt".to_owned(), 2)
        ]
    );
    assert_eq!(due["bytes"], 3 + 3);
    assert_eq!(due["versions"][0]["policy"], "records");

    // Lifting the hold makes the contract's old versions due too.
    let id = hold["id"].as_u64().unwrap();
    let lifted = d.send("DELETE", &format!("/api/v1/holds/{id}"), None);
    assert_eq!(lifted.status, 204, "{}", lifted.text());
    assert_eq!(statuses(&check("contracts/supply.txt"))[1].1, "due");
    assert_eq!(d.get_json("/api/v1/holds").1["holds"], json!([]));
    assert_eq!(
        d.send("DELETE", &format!("/api/v1/holds/{id}"), None)
            .status,
        404
    );

    // Both hold changes are in the audit trail with their actor.
    let (_, events) = d.get_json("/api/v1/events?limit=1000");
    let kinds: Vec<(String, String)> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"].as_str().unwrap().starts_with("hold"))
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("hold_added".to_owned(), "ada".to_owned()),
            ("hold_removed".to_owned(), "ada".to_owned())
        ]
    );
}

#[test]
fn holds_survive_a_restart_and_need_admin() {
    let mut d = daemon();
    let add = json!({"share": "alpha", "prefix": "", "reason": "audit 2026"});
    for (who, status) in [("reader-secret", 403), ("editor-secret", 403)] {
        let r = d.send_as(
            "POST",
            "/api/v1/holds",
            Some(&format!("Bearer {who}")),
            Some(&add),
        );
        assert_eq!(r.status, status, "{who}");
        let r = d.send_as(
            "DELETE",
            "/api/v1/holds/1",
            Some(&format!("Bearer {who}")),
            None,
        );
        assert_eq!(r.status, status, "{who}");
    }
    let reader = d.send_as("GET", "/api/v1/holds", Some("Bearer reader-secret"), None);
    assert_eq!(reader.status, 200);
    assert_eq!(d.send_as("GET", "/api/v1/holds", None, None).status, 401);

    let r = d.send("POST", "/api/v1/holds", Some(&add));
    assert_eq!(r.status, 201, "{}", r.text());
    let ranged =
        json!({"share": "alpha", "prefix": "x/", "reason": "r", "from": "2026-01-01T00:00:00Z"});
    assert_eq!(d.send("POST", "/api/v1/holds", Some(&ranged)).status, 201);
    d.restart();
    let (_, holds) = d.get_json("/api/v1/holds");
    let ids: Vec<u64> = holds["holds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2]);
    assert_eq!(holds["holds"][1]["from"], "2026-01-01T00:00:00.000Z");

    for (body, status) in [
        (json!({"share": "nosuch", "prefix": "", "reason": "r"}), 404),
        (json!({"share": "alpha", "prefix": "", "reason": " "}), 400),
        (
            json!({"share": "alpha", "reason": "r", "from": "last week"}),
            400,
        ),
        (
            json!({"share": "alpha", "prefix": "/abs", "reason": "r"}),
            400,
        ),
        (json!({"share": "alpha"}), 400),
        (
            json!({"share": "alpha", "reason": "r", "color": "red"}),
            400,
        ),
    ] {
        let r = d.send("POST", "/api/v1/holds", Some(&body));
        assert_eq!(r.status, status, "{body}: {}", r.text());
    }
    assert_eq!(d.send("DELETE", "/api/v1/holds/abc", None).status, 400);
    for bad in [
        "/api/v1/retention/check?share=alpha",
        "/api/v1/retention/check?share=alpha&path=../x",
        "/api/v1/retention/due?bogus=1",
    ] {
        assert_eq!(d.request(bad).status, 400, "{bad}");
    }
    assert_eq!(
        d.request("/api/v1/retention/check?share=alpha&path=none.txt")
            .status,
        404
    );
    assert_eq!(d.request("/api/v1/retention/due?share=nosuch").status, 404);
}

#[test]
fn the_cli_places_lists_and_lifts_holds_and_explains_retention() {
    let d = daemon();
    d.write("alpha", "drafts/idea.txt", "first");
    d.wait_versions("alpha", "drafts/idea.txt", 1);
    d.write("alpha", "drafts/idea.txt", "second");
    d.wait_versions("alpha", "drafts/idea.txt", 2);
    let out = |args: &[&str]| {
        let o = d.cli(args);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };
    let placed = out(&[
        "holds",
        "add",
        "alpha",
        "drafts/",
        "--reason",
        "board review",
    ]);
    assert!(
        placed.starts_with("placed hold 1: alpha:\"drafts/\""),
        "{placed}"
    );
    assert!(
        placed.contains("board review") && placed.contains("by ada"),
        "{placed}"
    );
    assert!(out(&["holds", "list"]).contains("hold 1: alpha:\"drafts/\""));
    let check = out(&["retention", "check", "alpha", "drafts/idea.txt"]);
    assert!(check.contains("policy drafts"), "{check}");
    assert!(check.contains("v2    current"), "{check}");
    assert!(
        check.contains("v1    retained") && check.contains("has no retain_for"),
        "{check}"
    );
    let due = out(&["retention", "due"]);
    assert!(due.contains("0 versions due, 0 bytes"), "{due}");
    assert_eq!(out(&["holds", "remove", "1"]).trim(), "lifted hold 1");
    assert!(out(&["holds", "list"]).contains("no holds"));
    let missing = d.cli(&["holds", "remove", "1"]);
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.contains("no hold with id 1") && err.contains("404"),
        "{err}"
    );
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &std::path::Path, needle: &str) -> Vec<std::path::PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter(|e| {
            std::fs::read(e.path())
                .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .map(|e| e.path().to_owned())
        .collect()
}

fn all_objects(d: &TestDaemon) -> String {
    let git_dir = format!("--git-dir={}", d.archive().display());
    let out = crate::util::git(&[&git_dir, "cat-file", "--batch-all-objects", "--batch"]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn hits(d: &TestDaemon, word: &str) -> u64 {
    let (status, body) = d.get_json(&format!("/api/v1/search?q={word}&all_versions=true"));
    assert_eq!(status, 200, "{body}");
    body["total"].as_u64().unwrap()
}

fn due_set(d: &TestDaemon) -> Vec<(String, u64)> {
    let (_, due) = d.get_json("/api/v1/retention/due");
    due["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["path"].as_str().unwrap().to_owned(),
                v["version"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// plan.txt: v1 due, v2 kept by keep_last, v3 current; contracts/deal.txt:
/// v1 due but held; gone.txt: deleted, both versions due. The markers share
/// no run of letters: the index's store is LZ4-compressed, and a kept text
/// sharing a disposed marker's tail could put its bytes on disk by chance
/// (an LZ4 token byte followed by the shared literals).
fn scenario() -> TestDaemon {
    let d = TestDaemon::new()
        .config("\n[[retention]]\nname = \"records\"\nkeep_last = 2\nretain_for = \"2s\"\n")
        .tokens(
            &[
                ("ria", "reader", "reader-secret"),
                ("ed", "editor", "editor-secret"),
                ("ada", "admin", "admin-secret"),
            ],
            "admin-secret",
        )
        .start();
    for (i, word) in ["wolframq", "juniperx", "hexagonv"].iter().enumerate() {
        d.write("alpha", "plan.txt", format!("plan {word}"));
        d.wait_versions("alpha", "plan.txt", i + 1);
    }
    for (i, word) in ["bismuthk", "quokkaj"].iter().enumerate() {
        d.write("alpha", "contracts/deal.txt", format!("deal {word}"));
        d.wait_versions("alpha", "contracts/deal.txt", i + 1);
    }
    d.write("alpha", "gone.txt", "gone zephyrb");
    d.wait_versions("alpha", "gone.txt", 1);
    d.remove("alpha", "gone.txt");
    d.wait_versions("alpha", "gone.txt", 2);
    let r = d.send(
        "POST",
        "/api/v1/holds",
        Some(&json!({"share": "alpha", "prefix": "contracts/", "reason": "dispute"})),
    );
    assert_eq!(r.status, 201);
    // Every version's text indexed, and the due list complete.
    d.wait_for(
        || hits(&d, "wolframq") == 1 && hits(&d, "zephyrb") == 1,
        "markers indexed",
    );
    d.wait_for_within(
        Duration::from_secs(20),
        || due_set(&d).len() == 3,
        "plan v1 and gone v1, v2 to become due",
    );
    d
}

#[test]
fn disposition_removes_exactly_the_due_versions_from_archive_and_index() {
    let d = scenario();
    assert_eq!(
        due_set(&d),
        [
            ("gone.txt".to_owned(), 1),
            ("gone.txt".to_owned(), 2),
            ("plan.txt".to_owned(), 1)
        ]
    );
    assert!(all_objects(&d).contains("wolframq"));
    assert!(
        !files_containing(&d.data_dir().join("index"), "wolframq").is_empty(),
        "the raw index check must see an undisposed marker to mean anything"
    );

    for who in ["reader-secret", "editor-secret"] {
        let r = d.send_as(
            "POST",
            "/api/v1/retention/dispose",
            Some(&format!("Bearer {who}")),
            Some(&json!({"dry_run": true})),
        );
        assert_eq!(r.status, 403, "{who}");
    }
    let listed = |answer: &Value| -> Vec<(String, u64)> {
        answer["disposed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["path"].as_str().unwrap().to_owned(),
                    v["version"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let dry = d.send(
        "POST",
        "/api/v1/retention/dispose",
        Some(&json!({"dry_run": true})),
    );
    assert_eq!(dry.status, 200, "{}", dry.text());
    let dry = dry.json();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(hits(&d, "wolframq"), 1, "a dry run removes nothing");
    // Downloads before the disposition leave opened archive handles behind.
    assert_eq!(d.file("alpha", "plan.txt", Some(1)).body, b"plan wolframq");
    let real = d.send("POST", "/api/v1/retention/dispose", Some(&json!({})));
    assert_eq!(real.status, 200, "{}", real.text());
    let real = real.json();
    assert_eq!(
        listed(&real),
        listed(&dry),
        "the dry run lists exactly what the real run removes"
    );
    assert_eq!(real["bytes"], "plan wolframq".len() + "gone zephyrb".len());
    assert_eq!(
        due_set(&d),
        Vec::<(String, u64)>::new(),
        "nothing more is due"
    );

    // Gone from search, from every git object, from every index file.
    assert_eq!(hits(&d, "wolframq"), 0);
    assert_eq!(hits(&d, "zephyrb"), 0);
    let objects = all_objects(&d);
    for gone in ["wolframq", "zephyrb"] {
        assert!(!objects.contains(gone), "{gone} still in a git object");
        let index_dir = d.data_dir().join("index");
        assert_eq!(
            files_containing(&index_dir, gone),
            Vec::<std::path::PathBuf>::new(),
            "{gone} in the index files; meta: {}",
            std::fs::read_to_string(index_dir.join("meta.json")).unwrap_or_default()
        );
    }
    // Held, kept and current versions intact and restorable.
    for (word, n) in [
        ("juniperx", 1),
        ("hexagonv", 1),
        ("bismuthk", 1),
        ("quokkaj", 1),
    ] {
        assert!(objects.contains(word), "{word} lost");
        assert_eq!(hits(&d, word), n, "{word}");
    }
    let versions: Vec<u64> = d
        .history("alpha", "plan.txt")
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [3, 2], "the kept versions keep their numbers");
    assert!(d.history("alpha", "gone.txt").is_empty());
    assert_eq!(
        d.file("alpha", "contracts/deal.txt", Some(1)).body,
        b"deal bismuthk"
    );
    // fsck while nothing is being written (a restore's extraction result
    // moves the notes ref, and fsck reads refs without locking).
    let git_dir = format!("--git-dir={}", d.archive().display());
    crate::util::git(&[&git_dir, "fsck", "--full"]);
    let r = d.send(
        "POST",
        "/api/v1/shares/alpha/restore/plan.txt",
        Some(&json!({"version": 2})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        std::fs::read(d.path("alpha", "plan.txt")).unwrap(),
        b"plan juniperx"
    );
    assert_eq!(
        deleted_packs_held(d.pid()),
        Vec::<String>::new(),
        "no archive handle keeps a pruned pack"
    );

    // The proof: one disposed event per version, with its sha256 and actor.
    let (_, events) = d.get_json("/api/v1/events?limit=1000");
    let disposed: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "disposed")
        .collect();
    assert_eq!(disposed.len(), 3);
    assert!(disposed.iter().all(|e| e["actor"] == "ada"));
    assert!(disposed.iter().any(|e| e["path"] == "plan.txt"
        && e["version"] == 1
        && e["detail"]["sha256"] == crate::util::sha256_hex("plan wolframq")
        && e["detail"]["policy"] == "records"));
    assert!(d.cli(&["verify"]).status.success());
}

#[test]
fn a_crash_during_disposition_is_finished_at_the_next_start() {
    let mut d = scenario();
    d.stop();
    d.set_env("DOCVAULT_FAULT_DISPOSE", Some("after-branch"));
    d.restart();
    let _ = crate::util::http(
        d.addr(),
        "POST",
        "/api/v1/retention/dispose",
        &[
            ("Authorization", "Bearer admin-secret"),
            ("Content-Type", "application/json"),
        ],
        Some(b"{}"),
    );
    assert!(!d.wait_exit().success(), "the fault kills the daemon");
    d.set_env("DOCVAULT_FAULT_DISPOSE", None);
    d.restart();
    assert!(d.log().contains("finish"), "recovery is logged");
    assert_eq!(hits(&d, "wolframq"), 0);
    assert!(!all_objects(&d).contains("wolframq"));
    assert!(all_objects(&d).contains("juniperx"));
    let versions: Vec<u64> = d
        .history("alpha", "plan.txt")
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [3, 2]);
    let git_dir = format!("--git-dir={}", d.archive().display());
    crate::util::git(&[&git_dir, "fsck", "--full"]);
    assert!(d.cli(&["verify"]).status.success());
}

#[test]
fn auto_dispose_removes_due_versions_on_its_schedule() {
    let d = TestDaemon::new()
        .config(
            "\n[[retention]]\nname = \"scratch\"\npaths = [\"tmp/**\"]\nretain_for = \"1s\"\nauto_dispose = \"1s\"\n\
             \n[[retention]]\nname = \"records\"\nretain_for = \"1s\"\n",
        )
        .start();
    for (i, word) in ["aonezq", "atwozq"].iter().enumerate() {
        d.write("alpha", "tmp/scratch.txt", format!("scratch {word}"));
        d.wait_versions("alpha", "tmp/scratch.txt", i + 1);
        d.write("alpha", "keep.txt", format!("keep {word}"));
        d.wait_versions("alpha", "keep.txt", i + 1);
    }
    d.wait_for_within(
        Duration::from_secs(20),
        || d.history("alpha", "tmp/scratch.txt").len() == 1,
        "the scratch file's v1 to be disposed automatically",
    );
    // The other rule has no auto_dispose: its due version stays until asked.
    assert_eq!(d.history("alpha", "keep.txt").len(), 2);
    let (_, events) = d.get_json("/api/v1/events?limit=1000");
    let disposed: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "disposed")
        .collect();
    assert_eq!(disposed.len(), 1);
    assert_eq!(disposed[0]["actor"], "auto_dispose");
    assert_eq!(disposed[0]["detail"]["policy"], "scratch");
}

/// Deleted pack files of the archive the process still maps or holds open.
fn deleted_packs_held(pid: u32) -> Vec<String> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let mut held: Vec<String> = maps
        .lines()
        .filter(|l| l.ends_with("(deleted)") && l.contains("objects/pack"))
        .map(|l| l.split_whitespace().skip(5).collect::<Vec<_>>().join(" "))
        .collect();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap() {
        let target = std::fs::read_link(fd.unwrap().path()).unwrap_or_default();
        let target = target.to_string_lossy().into_owned();
        if target.ends_with("(deleted)") && target.contains("objects/pack") {
            held.push(target);
        }
    }
    held.sort();
    held.dedup();
    held
}
