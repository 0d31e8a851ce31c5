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
