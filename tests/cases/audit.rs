//! The audit trail: `/api/v1/events` shows every version and restore with
//! its actor, survives restarts, catches up what a crash lost, and
//! `docvault verify` catches a tampered event.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::util::{TestDaemon, git};

fn all_events(d: &TestDaemon) -> Vec<Value> {
    let mut events = Vec::new();
    let mut since = 0;
    loop {
        let (status, page) = d.get_json(&format!("/api/v1/events?since={since}&limit=2"));
        assert_eq!(status, 200, "{page}");
        let batch = page["events"].as_array().unwrap().clone();
        if batch.is_empty() {
            assert_eq!(page["next"], since);
            return events;
        }
        since = page["next"].as_u64().unwrap();
        assert_eq!(batch.last().unwrap()["seq"], since);
        events.extend(batch);
    }
}

/// (kind, path, version, actor) of each event.
fn summary(events: &[Value]) -> Vec<(String, String, u64, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["path"].as_str().unwrap_or_default().to_owned(),
                e["version"].as_u64().unwrap_or_default(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn events_show_every_version_and_restore_with_its_actor() {
    let mut d = TestDaemon::new()
        .tokens(
            &[
                ("ed-editor", "editor", "ed-secret"),
                ("ria-reader", "reader", "ria-secret"),
            ],
            "ed-secret",
        )
        .start();
    d.write("alpha", "plan.txt", "one");
    d.wait_versions("alpha", "plan.txt", 1);
    d.write("alpha", "plan.txt", "two");
    d.wait_versions("alpha", "plan.txt", 2);
    let r = d.send(
        "POST",
        "/api/v1/shares/alpha/restore/plan.txt",
        Some(&json!({"version": 1})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    d.rename("alpha", "plan.txt", "final-plan.txt");
    d.wait_versions("alpha", "final-plan.txt", 1);

    let events = all_events(&d);
    let w = |k: &str, p: &str, v: u64| (k.to_owned(), p.to_owned(), v, "watcher".to_owned());
    let expected = [
        w("created", "plan.txt", 1),
        w("modified", "plan.txt", 2),
        (
            "restored".to_owned(),
            "plan.txt".to_owned(),
            3,
            "ed-editor".to_owned(),
        ),
    ];
    assert_eq!(summary(&events)[..3], expected[..]);
    // The rename: both paths, in one commit.
    let mut rename: Vec<_> = summary(&events)[3..].to_vec();
    rename.sort();
    assert_eq!(
        rename,
        vec![
            w("deleted", "plan.txt", 4),
            w("renamed", "final-plan.txt", 1)
        ]
    );
    assert_eq!(events[2]["detail"]["restored_from"], 1);
    assert!(events.iter().all(|e| e["share"] == "alpha"));
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>());

    // A reader may read the feed; bad paging is a 400.
    let as_reader = d.send_as("GET", "/api/v1/events", Some("Bearer ria-secret"), None);
    assert_eq!(as_reader.status, 200);
    for bad in ["limit=0", "limit=5000", "since=-1", "since=x", "what=1"] {
        let r = d.request(&format!("/api/v1/events?{bad}"));
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }

    // A restart neither loses nor repeats an event.
    d.restart();
    assert_eq!(all_events(&d), events);
    assert!(d.cli(&["verify"]).status.success());
}

#[test]
fn a_lost_audit_commit_is_caught_up_and_tampering_is_caught_by_verify() {
    let mut d = TestDaemon::new().start();
    for i in 0..3 {
        d.write("alpha", &format!("doc{i}.txt"), format!("content {i}"));
        d.wait_versions("alpha", &format!("doc{i}.txt"), 1);
    }
    let before = all_events(&d);
    assert_eq!(before.len(), 3);
    d.stop();

    // As if the daemon died between the archive commit and its audit commit.
    let archive = d.archive();
    let git_dir = format!("--git-dir={}", archive.display());
    git(&[
        &git_dir,
        "update-ref",
        "refs/docvault/audit",
        "refs/docvault/audit~1",
    ]);
    d.restart();
    let after = all_events(&d);
    assert_eq!(summary(&after), summary(&before));
    assert_eq!(after.last().unwrap()["seq"], 3);
    d.stop();

    assert_verified(&d, 3);

    // Tamper: rewrite the newest audit commit with a different actor.
    let head =
        String::from_utf8(git(&[&git_dir, "rev-parse", "refs/docvault/audit"]).stdout).unwrap();
    let head = head.trim();
    let events =
        String::from_utf8(git(&[&git_dir, "show", &format!("{head}:events.jsonl")]).stdout)
            .unwrap();
    assert!(events.contains("\"actor\":\"watcher\""));
    let forged = events.replacen("\"actor\":\"watcher\"", "\"actor\":\"mallory\"", 1);
    let blob = pipe(&["git", &git_dir, "hash-object", "-w", "--stdin"], &forged);
    let listing = String::from_utf8(git(&[&git_dir, "ls-tree", head]).stdout).unwrap();
    let old_blob = listing
        .lines()
        .find(|l| l.ends_with("\tevents.jsonl"))
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap()
        .to_owned();
    let tree = pipe(
        &["git", &git_dir, "mktree"],
        &listing.replace(&old_blob, &blob),
    );
    let parent = format!("{head}~1");
    let commit = pipe(
        &[
            "git",
            &git_dir,
            "commit-tree",
            &tree,
            "-p",
            &parent,
            "-m",
            "forged",
        ],
        "",
    );
    git(&[&git_dir, "update-ref", "refs/docvault/audit", &commit]);

    let caught = d.cli(&["verify", "--chain-only"]);
    assert!(!caught.status.success());
    let err = String::from_utf8_lossy(&caught.stderr);
    assert!(
        err.contains("audit trail: event 3") && err.contains("does not match its hash"),
        "{err}"
    );
}

/// Version commits within a second of the audit ref's last move leave the
/// ref where it is (their audit commits are written with them): the ref
/// catches up while the daemon runs, and a SIGKILL before it does loses
/// and changes no event.
#[test]
fn the_audit_ref_catches_up_and_a_kill_before_it_does_loses_nothing() {
    let mut d = TestDaemon::new().start();
    let burst = |d: &TestDaemon, names: std::ops::Range<usize>| {
        for i in names {
            d.write("alpha", &format!("doc{i}.txt"), format!("content {i}"));
            d.wait_versions("alpha", &format!("doc{i}.txt"), 1);
        }
    };
    burst(&d, 0..4);
    assert_eq!(all_events(&d).len(), 4);
    // On disk (what `verify` reads beside the running daemon), the log
    // reaches the fourth event within a few seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let out = d.cli(&["verify", "--chain-only"]);
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        if said.contains("checked 4 audit events") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the ref stayed behind: {said}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Versions in quick succession, then a kill at once: the ref is behind
    // at least the last of them.
    burst(&d, 4..8);
    let before = all_events(&d);
    assert_eq!(before.len(), 8);
    assert!(!d.kill().success());
    d.restart();
    assert_eq!(all_events(&d), before);
    d.stop();
    assert_verified(&d, 8);
}

/// `docvault verify` passes, with `n` audit events and `n` versions.
fn assert_verified(d: &TestDaemon, n: usize) {
    let ok = d.cli(&["verify"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let said = String::from_utf8_lossy(&ok.stdout);
    assert!(
        said.contains(&format!("checked {n} audit events and {n} versions")),
        "{said}"
    );
}

/// Runs a command with `input` on stdin; its trimmed stdout.
fn pipe(cmd: &[&str], input: &str) -> String {
    let mut child = Command::new(cmd[0])
        .args(&cmd[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{cmd:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn sighup_reloads_tokens_and_rules_and_logs_it() {
    let d = TestDaemon::new()
        .tokens(&[("ada", "admin", "old-secret")], "old-secret")
        .start();
    let config = std::fs::read_to_string(d.config_path()).unwrap();
    assert_eq!(
        d.send_as("GET", "/api/v1/holds", Some("Bearer new-secret"), None)
            .status,
        401
    );

    // A broken file changes nothing.
    std::fs::write(d.config_path(), format!("{config}\nbogus_key = 1\n")).unwrap();
    crate::util::signal(d.pid(), "HUP");
    d.wait_for(
        || d.log().contains("the configuration does not load"),
        "the refusal in the log",
    );
    assert_eq!(d.request("/api/v1/holds").status, 200);

    let added = format!(
        "{config}\n[[tokens]]\nname = \"bob\"\nrole = \"reader\"\nsha256 = \"{}\"\n\
         \n[[retention]]\nname = \"records\"\nretain_for = \"7y\"\n",
        crate::util::sha256_hex("new-secret")
    );
    std::fs::write(d.config_path(), added).unwrap();
    crate::util::signal(d.pid(), "HUP");
    d.wait_for(
        || {
            d.send_as("GET", "/api/v1/holds", Some("Bearer new-secret"), None)
                .status
                == 200
        },
        "the new token to work",
    );
    d.write("alpha", "a.txt", "x");
    d.wait_versions("alpha", "a.txt", 1);
    let (_, check) = d.get_json("/api/v1/retention/check?share=alpha&path=a.txt");
    assert_eq!(check["policy"], "records");
    let events = all_events(&d);
    let reload = events
        .iter()
        .find(|e| e["kind"] == "config_reloaded")
        .expect("a config_reloaded event");
    assert_eq!(reload["actor"], "sighup");
    assert_eq!(reload["detail"]["tokens"], json!(["ada", "bob"]));
    assert_eq!(reload["detail"]["retention"], json!(["records"]));
    assert_eq!(reload["detail"]["needs_restart"], json!([]));
    assert_eq!(
        events
            .iter()
            .filter(|e| e["kind"] == "config_reloaded")
            .count(),
        1
    );
}
