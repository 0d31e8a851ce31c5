//! Integration tests: the real `docvault` binary against real folders.
//!
//! Each test starts its own daemon ([`util::TestDaemon`]) on its own temp
//! folder and port, makes changes the way editors, office suites and file
//! managers make them, and checks what the archive recorded through the HTTP
//! API, the command line and git itself. Nothing sleeps to wait for an
//! effect: waits poll with a deadline. Where a test must show that something
//! does *not* happen, it writes a later "barrier" file and waits for that
//! one's version: changes settle in order, so once the barrier is versioned
//! every earlier change has been judged.

mod util;

#[path = "cases/api.rs"]
mod api;
#[path = "cases/audit.rs"]
mod audit;
#[path = "cases/retention.rs"]
mod retention;
#[path = "cases/sandbox.rs"]
mod sandbox;
#[path = "cases/search.rs"]
mod search;

#[path = "cases/diff.rs"]
mod diff;

#[path = "cases/reindex.rs"]
mod reindex;

#[path = "cases/extraction.rs"]
mod extraction;

#[path = "cases/metrics.rs"]
mod metrics;

#[path = "cases/openapi.rs"]
mod openapi;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use unicode_normalization::UnicodeNormalization;
use util::{TestDaemon, docvault, git, sha256_hex, tree_files};

// --- helpers -----------------------------------------------------------------

/// Writes a new file `name` and waits for its first version: every change
/// made before it has been judged by then (see the module doc).
pub fn barrier(d: &TestDaemon, share: &str, name: &str) {
    d.write(share, name, format!("barrier {name}"));
    d.wait_versions(share, name, 1);
}

/// Whether every file in the share has a current version with its sha256,
/// and no live document is missing from the share.
fn in_sync(d: &TestDaemon, share: &str) -> bool {
    let on_disk: BTreeMap<String, String> = tree_files(&d.share_dir(share))
        .into_iter()
        .map(|(path, bytes)| (path, sha256_hex(bytes)))
        .collect();
    archived(d, share) == on_disk
}

/// The live documents of a share: path → sha256 of the current version.
fn archived(d: &TestDaemon, share: &str) -> BTreeMap<String, String> {
    d.documents(share, false)
        .iter()
        .map(|doc| (str_of(&doc["path"]), str_of(&doc["sha256"])))
        .collect()
}

/// `git fsck --full --strict` of the archive passes.
fn assert_fsck_clean(archive: &std::path::Path) {
    git(&[
        "-C",
        archive.to_str().unwrap(),
        "fsck",
        "--full",
        "--strict",
    ]);
}

fn str_of(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
        .to_owned()
}

fn touch(path: &std::path::Path) {
    let status = Command::new("touch").arg(path).status().expect("run touch");
    assert!(status.success(), "touch {}", path.display());
}

fn chmod(path: &std::path::Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

// --- 1. a new file -------------------------------------------------------------

#[test]
fn dropped_file_becomes_v1_created_with_its_bytes_and_sha256() {
    let d = TestDaemon::new().share("alpha").settle("200ms").start();
    let small = b"Project charter\nscope: new office\n".to_vec();
    // Larger than the archive's 1 MiB in-memory limit: streamed into git.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    d.write("alpha", "charter.txt", &small);
    d.write("alpha", "plans/site plan.bin", &big);

    for (path, bytes) in [("charter.txt", &small), ("plans/site plan.bin", &big)] {
        let versions = d.wait_versions("alpha", path, 1);
        assert_eq!(versions.len(), 1, "{path}: {versions:?}");
        let v1 = &versions[0];
        assert_eq!(v1["version"], 1, "{path}: {v1}");
        assert_eq!(v1["event"], "created", "{path}: {v1}");
        assert_eq!(v1["size"], bytes.len() as u64, "{path}: {v1}");
        let on_disk = fs::read(d.path("alpha", path)).unwrap();
        assert_eq!(v1["sha256"], sha256_hex(&on_disk), "{path}: {v1}");
        assert_eq!(v1["sha256"], sha256_hex(bytes), "{path}: {v1}");
        assert!(v1["renamed_from"].is_null() && v1["renamed_to"].is_null());

        let file = d.file("alpha", path, None);
        assert_eq!(file.status, 200, "{path}: {}", file.text());
        assert!(file.body == *bytes, "{path}: downloaded bytes differ");
        assert_eq!(file.header("x-docvault-version"), Some("1"));
        let etag = format!("\"{}\"", sha256_hex(bytes));
        assert_eq!(file.header("etag"), Some(etag.as_str()));
        let v1_file = d.file("alpha", path, Some(1));
        assert!(
            v1_file.status == 200 && v1_file.body == *bytes,
            "{path}?version=1"
        );
    }
}

// --- 2.–4. how editors save ------------------------------------------------------

#[test]
fn office_save_through_a_temp_file_is_one_modified_version() {
    let d = TestDaemon::new().share("alpha").start();
    d.write("alpha", "doc.docx", "v1 of the status report");
    d.wait_versions("alpha", "doc.docx", 1);

    // The document is opened: the suites' lock files appear.
    d.write("alpha", "~$doc.docx", "owner: pmo");
    d.write("alpha", ".~lock.doc.docx#", "pmo,host,2026");
    // LibreOffice: write lu123.tmp beside the document, rename it over it.
    d.write("alpha", "lu123.tmp", "v2 of the status report");
    d.rename("alpha", "lu123.tmp", "doc.docx");
    d.wait_versions("alpha", "doc.docx", 2);
    // The temp is the document's name plus .tmp.
    d.write("alpha", "doc.docx.tmp", "v3 of the status report, final");
    d.rename("alpha", "doc.docx.tmp", "doc.docx");
    d.wait_versions("alpha", "doc.docx", 3);
    // Word: new content in ~WRD0000.tmp, the document moved aside to
    // ~WRL0001.tmp, the new one renamed into place, the old one deleted.
    d.write("alpha", "~WRD0000.tmp", "v4 of the status report, signed");
    d.rename("alpha", "doc.docx", "~WRL0001.tmp");
    d.rename("alpha", "~WRD0000.tmp", "doc.docx");
    d.remove("alpha", "~WRL0001.tmp");
    d.wait_versions("alpha", "doc.docx", 4);
    // The document is closed: the locks go.
    d.remove("alpha", "~$doc.docx");
    d.remove("alpha", ".~lock.doc.docx#");
    barrier(&d, "alpha", "marker.txt");

    assert_eq!(
        d.events("alpha", "doc.docx"),
        ["created", "modified", "modified", "modified"]
    );
    let history = d.history("alpha", "doc.docx");
    assert!(history.iter().all(|v| v["renamed_from"].is_null()));
    assert_eq!(
        d.document_paths("alpha", true),
        ["doc.docx", "marker.txt"],
        "temp and lock files must never become documents"
    );
    let current = d.file("alpha", "doc.docx", None);
    assert_eq!(current.text(), "v4 of the status report, signed");
}

#[test]
fn excel_save_delete_then_rename_is_one_modified_version_never_deleted() {
    let d = TestDaemon::new().share("alpha").start();
    d.write("alpha", "book.xlsx", "budget v1");
    d.wait_versions("alpha", "book.xlsx", 1);

    // Excel: new content into a temp named like A1B2C3D4 (no extension),
    // the original deleted, the temp renamed into place.
    d.write("alpha", "A1B2C3D4", "budget v2");
    d.remove("alpha", "book.xlsx");
    d.rename("alpha", "A1B2C3D4", "book.xlsx");
    d.wait_versions("alpha", "book.xlsx", 2);

    // Again with a ~book.tmp temp, and a moment (well inside the delete
    // grace) in which book.xlsx does not exist: part of the scenario, not a wait.
    d.write("alpha", "~book.tmp", "budget v3");
    d.remove("alpha", "book.xlsx");
    std::thread::sleep(Duration::from_millis(50));
    d.rename("alpha", "~book.tmp", "book.xlsx");
    d.wait_versions("alpha", "book.xlsx", 3);
    barrier(&d, "alpha", "marker.txt");

    assert_eq!(
        d.events("alpha", "book.xlsx"),
        ["created", "modified", "modified"],
        "{:#?}",
        d.history("alpha", "book.xlsx")
    );
    assert_eq!(d.document_paths("alpha", true), ["book.xlsx", "marker.txt"]);
    assert_eq!(d.file("alpha", "book.xlsx", None).text(), "budget v3");
}

#[test]
fn vim_save_with_backup_rename_is_one_modified_version() {
    let d = TestDaemon::new().share("alpha").start();
    d.write("alpha", "notes.txt", "minutes, draft\n");
    d.wait_versions("alpha", "notes.txt", 1);

    // vim: probe that the folder is writable, move the original aside,
    // write the new file, drop the backup.
    d.write("alpha", "4913", "");
    d.remove("alpha", "4913");
    d.rename("alpha", "notes.txt", "notes.txt~");
    d.write("alpha", "notes.txt", "minutes, approved\n");
    d.remove("alpha", "notes.txt~");
    d.wait_versions("alpha", "notes.txt", 2);
    barrier(&d, "alpha", "marker.txt");

    assert_eq!(
        d.events("alpha", "notes.txt"),
        ["created", "modified"],
        "{:#?}",
        d.history("alpha", "notes.txt")
    );
    assert_eq!(d.document_paths("alpha", true), ["marker.txt", "notes.txt"]);
    assert_eq!(
        d.file("alpha", "notes.txt", None).text(),
        "minutes, approved\n"
    );
}

// --- 5. bulk copies ----------------------------------------------------------------

#[test]
fn cp_r_of_a_nested_tree_versions_every_file() {
    let d = TestDaemon::new().share("alpha").start();
    let source = d.root().join("import/project");
    let mut dir = source.clone();
    let mut expected = BTreeMap::new();
    for level in 1..=5 {
        dir = dir.join(format!("level {level}"));
        fs::create_dir_all(&dir).unwrap();
        for n in 0..10 {
            let bytes = format!("level {level} file {n}\n").repeat(level * 10 + n);
            let name = format!("doc-{n}.txt");
            fs::write(dir.join(&name), &bytes).unwrap();
            let rel = dir.join(&name);
            let rel = rel.strip_prefix(&source).unwrap().to_str().unwrap();
            expected.insert(format!("project/{rel}"), sha256_hex(&bytes));
        }
    }
    assert_eq!(expected.len(), 50);

    let status = Command::new("cp")
        .arg("-r")
        .arg(&source)
        .arg(d.path("alpha", "project"))
        .status()
        .expect("run cp");
    assert!(status.success());

    d.wait_for_within(
        Duration::from_secs(30),
        || archived(&d, "alpha").len() >= expected.len(),
        "all 50 copied files to be versioned",
    );
    assert_eq!(archived(&d, "alpha"), expected);
    for path in expected.keys() {
        assert_eq!(d.events("alpha", path), ["created"], "{path}");
    }
}

// --- 6.–7. renames and deletions ---------------------------------------------------

#[test]
fn rename_is_recorded_on_both_paths() {
    let d = TestDaemon::new().share("alpha").start();
    d.write("alpha", "a.txt", "risk register");
    d.wait_versions("alpha", "a.txt", 1);

    d.rename("alpha", "a.txt", "b.txt");
    d.wait_versions("alpha", "b.txt", 1);
    d.wait_versions("alpha", "a.txt", 2);

    let a = d.history("alpha", "a.txt");
    assert_eq!(a.len(), 2, "{a:#?}");
    assert_eq!(a[0]["version"], 2);
    assert_eq!(a[0]["event"], "deleted", "{a:#?}");
    assert_eq!(a[0]["renamed_to"], "b.txt", "{a:#?}");
    let b = d.history("alpha", "b.txt");
    assert_eq!(b.len(), 1, "{b:#?}");
    assert_eq!(b[0]["version"], 1);
    assert_eq!(b[0]["event"], "renamed", "{b:#?}");
    assert_eq!(b[0]["renamed_from"], "a.txt", "{b:#?}");
    assert_eq!(b[0]["sha256"], sha256_hex("risk register"));
    assert_eq!(d.file("alpha", "b.txt", None).text(), "risk register");
}

#[test]
fn folder_rename_is_recorded_on_every_document_in_it() {
    let d = TestDaemon::new().share("alpha").start();
    let files = ["x.txt", "y.txt", "sub/z.txt"];
    for f in files {
        d.write("alpha", &format!("dir1/{f}"), format!("content of {f}"));
    }
    for f in files {
        d.wait_versions("alpha", &format!("dir1/{f}"), 1);
    }

    d.rename("alpha", "dir1", "dir2");
    for f in files {
        d.wait_versions("alpha", &format!("dir2/{f}"), 1);
        d.wait_versions("alpha", &format!("dir1/{f}"), 2);
    }

    for f in files {
        let (old, new) = (format!("dir1/{f}"), format!("dir2/{f}"));
        let before = d.history("alpha", &old);
        assert_eq!(before.len(), 2, "{old}: {before:#?}");
        assert_eq!(before[0]["event"], "deleted", "{old}: {before:#?}");
        assert_eq!(before[0]["renamed_to"], new.as_str(), "{old}: {before:#?}");
        let after = d.history("alpha", &new);
        assert_eq!(after.len(), 1, "{new}: {after:#?}");
        assert_eq!(after[0]["event"], "renamed", "{new}: {after:#?}");
        assert_eq!(after[0]["renamed_from"], old.as_str(), "{new}: {after:#?}");
    }
    assert_eq!(
        d.document_paths("alpha", false),
        ["dir2/sub/z.txt", "dir2/x.txt", "dir2/y.txt"]
    );
}

#[test]
fn deletion_is_a_version_and_old_bytes_stay_downloadable() {
    let d = TestDaemon::new().share("alpha").start();
    d.write("alpha", "gone.txt", "contract draft");
    d.wait_versions("alpha", "gone.txt", 1);

    d.remove("alpha", "gone.txt");
    let versions = d.wait_versions("alpha", "gone.txt", 2);
    assert_eq!(versions[0]["version"], 2);
    assert_eq!(versions[0]["event"], "deleted", "{versions:#?}");
    assert!(versions[0]["renamed_to"].is_null());

    let current = d.file("alpha", "gone.txt", None);
    assert_eq!(current.status, 410, "{}", current.text());
    assert_eq!(current.json()["error"]["code"], "gone");
    let deleted = d.file("alpha", "gone.txt", Some(2));
    assert_eq!(
        deleted.status,
        410,
        "a deletion has no bytes: {}",
        deleted.text()
    );
    let old = d.file("alpha", "gone.txt", Some(1));
    assert_eq!(old.status, 200, "{}", old.text());
    assert_eq!(old.text(), "contract draft");

    assert!(d.document_paths("alpha", false).is_empty());
    let all = d.documents("alpha", true);
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0]["path"], "gone.txt");
    assert_eq!(all[0]["deleted"], true);

    // Numbers are never reused: a document that comes back goes on at v3.
    d.write("alpha", "gone.txt", "contract, signed");
    let versions = d.wait_versions("alpha", "gone.txt", 3);
    assert_eq!(versions[0]["version"], 3);
    assert_eq!(versions[0]["event"], "created", "{versions:#?}");
    assert_eq!(
        d.file("alpha", "gone.txt", Some(1)).text(),
        "contract draft"
    );
    assert_eq!(d.file("alpha", "gone.txt", None).text(), "contract, signed");
}

// --- 8. no content change, no version ----------------------------------------------

#[test]
fn same_bytes_rewrite_and_touch_make_no_version() {
    let mut d = TestDaemon::new().share("alpha").start();
    d.write("alpha", "same.txt", "unchanged content");
    d.wait_versions("alpha", "same.txt", 1);

    d.write("alpha", "same.txt", "unchanged content");
    barrier(&d, "alpha", "marker-1.txt");
    assert_eq!(d.events("alpha", "same.txt"), ["created"], "rewrite");

    touch(&d.path("alpha", "same.txt"));
    barrier(&d, "alpha", "marker-2.txt");
    assert_eq!(d.events("alpha", "same.txt"), ["created"], "touch");

    // A save without changes through a temp file: new inode, same bytes.
    d.write("alpha", "lu42.tmp", "unchanged content");
    d.rename("alpha", "lu42.tmp", "same.txt");
    barrier(&d, "alpha", "marker-3.txt");
    assert_eq!(d.events("alpha", "same.txt"), ["created"], "temp + rename");

    // The start-up scan sees a new mtime and inode, hashes, and agrees.
    touch(&d.path("alpha", "same.txt"));
    barrier(&d, "alpha", "marker-4.txt");
    d.restart();
    assert_eq!(
        d.events("alpha", "same.txt"),
        ["created"],
        "after a restart"
    );
}

// --- 9.–10. nothing on disk is lost across a stop or a crash ------------------------

#[test]
fn changes_made_while_stopped_are_versioned_before_ready() {
    let mut d = TestDaemon::new().share("alpha").start();
    for name in ["keep.txt", "change.txt", "remove.txt"] {
        d.write("alpha", name, format!("{name} as it was"));
    }
    for name in ["keep.txt", "change.txt", "remove.txt"] {
        d.wait_versions("alpha", name, 1);
    }
    let status = d.stop();
    assert!(status.success(), "SIGTERM: {status}");

    d.write("alpha", "change.txt", "changed while docvault was stopped");
    d.write("alpha", "added.txt", "added while docvault was stopped");
    d.remove("alpha", "remove.txt");
    touch(&d.path("alpha", "keep.txt"));
    d.restart();

    // /readyz answered 200: the start-up scan's versions are committed.
    assert_eq!(d.events("alpha", "keep.txt"), ["created"]);
    assert_eq!(d.events("alpha", "change.txt"), ["created", "modified"]);
    assert_eq!(d.events("alpha", "added.txt"), ["created"]);
    assert_eq!(d.events("alpha", "remove.txt"), ["created", "deleted"]);
    assert_eq!(
        d.history("alpha", "change.txt")[0]["sha256"],
        sha256_hex("changed while docvault was stopped")
    );
    assert!(in_sync(&d, "alpha"));
}

#[test]
fn sigkill_during_a_burst_loses_nothing_and_leaves_a_sound_archive() {
    let mut d = TestDaemon::new().share("alpha").start();
    let content = |i: usize, round: &str| format!("{round} file {i}\n").repeat(50 + i * 7);
    let name = |i: usize| format!("burst/{:02}/f{i:03}.txt", i % 7);

    for i in 0..150 {
        d.write("alpha", &name(i), content(i, "first"));
    }
    // Ingest is at work once the first of them is committed ...
    d.wait_for_within(
        Duration::from_secs(30),
        || d.get_json("/api/v1/shares").1[0]["versions"].as_u64() > Some(0),
        "the first burst files to be versioned",
    );
    // ... and keeps working while files keep coming (paced, so that batches
    // settle and commit one after another); kill it mid-way.
    for i in 150..220 {
        d.write("alpha", &name(i), content(i, "first"));
        std::thread::sleep(Duration::from_millis(2));
    }
    let versions_at_kill = d.get_json("/api/v1/shares").1[0]["versions"].clone();
    d.kill();
    eprintln!("killed with {versions_at_kill} versions committed");
    for i in 220..300 {
        d.write("alpha", &name(i), content(i, "first"));
    }
    for i in (0..300).step_by(25) {
        d.write("alpha", &name(i), content(i, "second"));
    }
    d.restart();

    // Ready means the start-up scan is committed: everything on disk is in.
    let archived = archived(&d, "alpha");
    let mut missing = Vec::new();
    for i in 0..300 {
        let bytes = fs::read(d.path("alpha", &name(i))).unwrap();
        if archived.get(&name(i)) != Some(&sha256_hex(&bytes)) {
            missing.push(name(i));
        }
    }
    assert!(
        missing.is_empty(),
        "{} of 300 files have no current version with their sha256: {missing:?}\n{}",
        missing.len(),
        d.log_tail()
    );
    assert_eq!(archived.len(), 300);

    // fsck with no writer at work (a live daemon may move a ref between
    // fsck's object walk and its ref check): kill it once more, which must
    // leave at worst dangling objects behind, never missing ones.
    d.kill();
    assert_fsck_clean(&d.archive());
}

#[test]
fn many_small_commits_end_in_few_packs_and_every_version_stays_readable() {
    let mut d = TestDaemon::new().share("alpha").start();
    let packs = |d: &TestDaemon| {
        fs::read_dir(d.archive().join("objects/pack"))
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().ends_with(".pack")
            })
            .count()
    };
    let content = |i: usize| format!("small change number {i}\n").repeat(i + 1);
    // One commit, so one pack, per file: each waits for the one before.
    let commits = docvault::packs::MERGE_AT + 6;
    for i in 0..commits {
        d.write("alpha", &format!("notes/n{i:02}.txt"), content(i));
        d.wait_versions("alpha", &format!("notes/n{i:02}.txt"), 1);
    }
    d.wait_for(
        || packs(&d) < docvault::packs::MERGE_AT,
        "the writer to merge its small packs",
    );
    for i in 0..commits {
        let (status, body) = d.get(&format!(
            "/api/v1/shares/alpha/files/notes/n{i:02}.txt?version=1"
        ));
        assert_eq!(
            (status, body),
            (200, content(i).into_bytes()),
            "n{i:02}.txt"
        );
    }
    d.kill();
    assert_fsck_clean(&d.archive());
}

// --- 11. the archive is a plain git repository -------------------------------------

#[test]
fn git_clone_of_the_share_branch_equals_the_share() {
    let d = TestDaemon::new().share("alpha").start();
    d.write("alpha", "plan.txt", "plan");
    d.write("alpha", "budget/2026 budget.csv", "item,cost\nrent,100\n");
    d.write("alpha", "budget/old.csv", "to be deleted");
    d.write("alpha", "deep/a/b/c/minutes.md", "# Minutes\n");
    d.write("alpha", "binary.bin", (0..=255u8).collect::<Vec<u8>>());
    d.wait_for(|| in_sync(&d, "alpha"), "the share to be archived");
    d.write("alpha", "plan.txt", "plan, revised");
    d.remove("alpha", "budget/old.csv");
    d.wait_for(|| in_sync(&d, "alpha"), "the edits to be archived");

    let clone = d.root().join("clone");
    git(&[
        "clone",
        "--quiet",
        "--branch",
        "alpha",
        d.archive().to_str().unwrap(),
        clone.to_str().unwrap(),
    ]);
    let cloned = tree_files(&clone);
    let share = tree_files(&d.share_dir("alpha"));
    assert_eq!(
        cloned.keys().collect::<Vec<_>>(),
        share.keys().collect::<Vec<_>>()
    );
    assert!(cloned == share, "cloned bytes differ from the share's");

    // `git log -- path` lists a document's commits, newest first, and each
    // commit's note under refs/notes/docvault holds its version record.
    let archive = d.archive();
    let archive = archive.to_str().unwrap();
    let history = d.history("alpha", "plan.txt");
    let commits: Vec<String> = history.iter().map(|v| str_of(&v["commit"])).collect();
    let log = git(&[
        "-C",
        archive,
        "log",
        "--format=%H",
        "alpha",
        "--",
        "plan.txt",
    ]);
    let logged: Vec<String> = String::from_utf8_lossy(&log.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(logged, commits);
    for version in &history {
        let commit = str_of(&version["commit"]);
        let note = git(&["-C", archive, "notes", "--ref=docvault", "show", &commit]);
        let records: Vec<Value> = String::from_utf8_lossy(&note.stdout)
            .lines()
            .map(|line| serde_json::from_str(line).expect("one JSON record per line"))
            .collect();
        let record = records
            .iter()
            .find(|r| r["path"] == "plan.txt")
            .unwrap_or_else(|| panic!("no record of plan.txt in the note of {commit}"));
        for key in ["version", "event", "sha256", "size"] {
            assert_eq!(record[key], version[key], "{key} in the note of {commit}");
        }
        assert_eq!(record["share"], "alpha");
    }
}

// --- 12. temp and lock files ---------------------------------------------------------

#[test]
fn office_and_editor_temp_and_lock_files_are_never_versioned() {
    let d = TestDaemon::new().share("alpha").start();
    let ignored = [
        "~$x.docx",
        ".~lock.x.odt#",
        "~WRL0001.tmp",
        ".x.txt.swp",
        "x.txt~",
        ".#x",
        "4913",
        "y.part",
        "Thumbs.db",
        ".DS_Store",
        "sub/~$nested.xlsx",
        "sub/Thumbs.db",
        "sub/THUMBS.DB",
        "desktop.ini",
        "._x.docx",
        ".x.txt.swx",
        "setup.exe.crdownload",
        "lu98765.tmp",
        ".report.pdf.Ab12Cd",
    ];
    for name in ignored {
        d.write("alpha", name, format!("temporary {name}"));
    }
    d.write("alpha", "real.txt", "the real document");
    d.wait_versions("alpha", "real.txt", 1);

    assert_eq!(d.document_paths("alpha", true), ["real.txt"]);
    for name in ignored {
        assert!(d.history("alpha", name).is_empty(), "{name} was versioned");
    }
    let archive = d.archive();
    let tree = git(&[
        "-C",
        archive.to_str().unwrap(),
        "ls-tree",
        "-r",
        "--name-only",
        "alpha",
    ]);
    assert_eq!(String::from_utf8_lossy(&tree.stdout), "real.txt\n");
}

// --- 13. unreadable files --------------------------------------------------------------

#[test]
fn unreadable_file_is_skipped_until_it_becomes_readable() {
    let d = TestDaemon::new().share("alpha").run_as_nobody();
    // One unreadable file is there before the start-up scan: ready anyway.
    let early = d.path("alpha", "early.txt");
    create_with_mode(&early, b"board minutes", 0o000);
    let mut d = d.start();
    let pid = d.pid();
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        status.lines().any(|l| l.starts_with("Uid:\t65534\t")),
        "the daemon must run as nobody for this test to mean anything:\n{status}"
    );

    let secret = d.path("alpha", "secret.txt");
    create_with_mode(&secret, b"salaries", 0o000);
    d.write("alpha", "ok.txt", "public");
    chmod(&d.path("alpha", "ok.txt"), 0o644);
    d.wait_versions("alpha", "ok.txt", 1);

    for name in ["early.txt", "secret.txt"] {
        assert!(
            d.history("alpha", name).is_empty(),
            "{name}: an unreadable file cannot have a version"
        );
    }
    assert!(d.is_running(), "the daemon died\n{}", d.log_tail());
    assert_eq!(d.get("/healthz").0, 200);

    chmod(&secret, 0o644);
    touch(&secret);
    let versions = d.wait_versions("alpha", "secret.txt", 1);
    assert_eq!(versions[0]["event"], "created");
    assert_eq!(versions[0]["sha256"], sha256_hex("salaries"));
    assert_eq!(d.file("alpha", "secret.txt", None).text(), "salaries");

    // Fixing the permissions alone (no new content, no new mtime) is a
    // change the daemon sees.
    chmod(&early, 0o644);
    let versions = d.wait_versions("alpha", "early.txt", 1);
    assert_eq!(versions[0]["sha256"], sha256_hex("board minutes"));
}

#[test]
fn unreadable_folder_does_not_stop_watching_the_rest_of_the_share() {
    let d = TestDaemon::new().share("alpha").run_as_nobody();
    d.write("alpha", "private/salaries.txt", "confidential");
    chmod(&d.path("alpha", "private"), 0o000);
    let mut d = d.start();

    // Changes beside the unreadable folder are versioned as promptly as
    // anywhere else (within the usual deadline, far below poll_every = 30s).
    d.write("alpha", "ok.txt", "public");
    d.wait_versions("alpha", "ok.txt", 1);
    d.write("alpha", "sub/later.txt", "also public");
    d.wait_versions("alpha", "sub/later.txt", 1);
    assert!(d.is_running());

    // Once the folder is opened up, its documents are versioned.
    chmod(&d.path("alpha", "private"), 0o755);
    chmod(&d.path("alpha", "private/salaries.txt"), 0o644);
    touch(&d.path("alpha", "private/salaries.txt"));
    d.wait_versions("alpha", "private/salaries.txt", 1);
}

/// Creates a file with `bytes` and permission bits `mode` (root can write
/// into a mode 000 file; the daemon, as nobody, cannot read it).
fn create_with_mode(path: &std::path::Path, bytes: &[u8], mode: u32) {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    std::io::Write::write_all(&mut file, bytes).unwrap();
    drop(file);
    chmod(path, mode);
}

// --- 14. file names ------------------------------------------------------------------

#[test]
fn odd_file_names_are_versioned_and_downloadable() {
    let d = TestDaemon::new().share("alpha").start();
    let nfd: String = "Prüfbericht.txt".nfd().collect();
    assert_ne!(nfd, "Prüfbericht.txt");
    let long = format!("{}.txt", "l".repeat(196));
    assert_eq!(long.chars().count(), 200);
    // (name on disk, document name = NFC)
    let names: Vec<(String, String)> = vec![
        ("Meeting notes 2026 (final).txt".into(), String::new()),
        ("Übergabe.txt".into(), String::new()),
        (nfd.clone(), "Prüfbericht.txt".into()),
        (long, String::new()),
        ("-draft.txt".into(), String::new()),
        ("budget+plan 100% #2 & more.txt".into(), String::new()),
        ("Sub folder/ä ö ü.txt".into(), String::new()),
    ];
    for (i, (disk, _)) in names.iter().enumerate() {
        d.write("alpha", disk, format!("document {i}: {disk}"));
    }
    for (i, (disk, doc)) in names.iter().enumerate() {
        let doc = if doc.is_empty() { disk } else { doc };
        let versions = d.wait_versions("alpha", doc, 1);
        assert_eq!(versions.len(), 1, "{doc}: {versions:#?}");
        assert_eq!(versions[0]["event"], "created", "{doc}");
        let file = d.file("alpha", doc, None);
        assert_eq!(file.status, 200, "{doc}: {}", file.text());
        assert_eq!(file.text(), format!("document {i}: {disk}"), "{doc}");
    }
    // A URL in NFD names the same (NFC) document.
    assert_eq!(d.history("alpha", &nfd).len(), 1);
    let mut expected: Vec<String> = names
        .iter()
        .map(|(disk, doc)| if doc.is_empty() { disk } else { doc }.clone())
        .collect();
    expected.sort();
    assert_eq!(d.document_paths("alpha", true), expected);
}

// --- 15. configuration errors -------------------------------------------------------------

#[test]
fn config_errors_name_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    fs::create_dir_all(root.join("shares/alpha")).unwrap();
    let share = "[[shares]]\nname = \"alpha\"\npath = \"shares/alpha\"\n";
    let check = |name: &str, text: &str| {
        let file = root.join(name);
        fs::write(&file, text).unwrap();
        let out = docvault(&["check-config", "--config", file.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status, stderr, file.display().to_string())
    };

    let (status, stderr, file) = check(
        "missing.toml",
        "[[shares]]\nname = \"alpha\"\npath = \"shares/gone\"\n",
    );
    assert!(!status.success());
    assert_eq!(
        stderr,
        format!(
            "error: {file}: shares[0].path: share folder {}/shares/gone does not exist \
             (create it, or set create = true)\n",
            root.display()
        )
    );

    let (status, stderr, file) =
        check("fast.toml", &format!("{share}[watch]\nsettle = \"fast\"\n"));
    assert!(!status.success());
    assert_eq!(
        stderr,
        format!("error: {file}: watch.settle: invalid duration \"fast\": expected number at 0\n")
    );

    let (status, stderr, file) = check("setle.toml", &format!("{share}[watch]\nsetle = \"1s\"\n"));
    assert!(!status.success());
    assert!(
        stderr.starts_with(&format!(
            "error: {file}: line 5: watch.setle: unknown field `setle`, expected one of `settle`"
        )),
        "{stderr}"
    );

    let (status, stderr, file) = check(
        "good.toml",
        &format!("data_dir = \"data\"\n{share}[watch]\nsettle = \"1s\"\n"),
    );
    assert!(status.success(), "{stderr}");
    let out = docvault(&["check-config", "--config", &file]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().next(), Some(format!("{file}: ok").as_str()));
}

// --- 16. the HTTP API -----------------------------------------------------------------------

fn assert_error(d: &TestDaemon, route: &str, status: u16, code: &str) -> String {
    let r = d.request(route);
    assert_eq!(r.status, status, "GET {route}: {}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("application/json"),
        "GET {route}"
    );
    let body = r.json();
    assert_eq!(body["error"]["code"], code, "GET {route}: {body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "GET {route}: {body}");
    message.to_owned()
}

#[test]
fn http_api_answers_and_errors() {
    let d = TestDaemon::new().share("alpha").share("beta").start();
    assert_eq!(
        d.get_json("/healthz"),
        (200, serde_json::json!({"status": "ok"}))
    );
    assert_eq!(
        d.get_json("/readyz"),
        (200, serde_json::json!({"status": "ready"}))
    );

    for path in ["a.txt", "b.txt", "sub/c.txt"] {
        d.write("alpha", path, format!("content of {path}"));
    }
    d.wait_for(|| in_sync(&d, "alpha"), "three documents");

    let (status, shares) = d.get_json("/api/v1/shares");
    assert_eq!(status, 200);
    let shares = shares.as_array().expect("a list of shares").clone();
    assert_eq!(shares.len(), 2, "{shares:?}");
    assert_eq!(shares[0]["name"], "alpha");
    assert_eq!(shares[0]["documents"], 3);
    assert_eq!(shares[0]["versions"], 3);
    assert!(shares[0]["last_change"].is_string(), "{shares:?}");
    assert_eq!(shares[1]["name"], "beta");
    assert_eq!(shares[1]["documents"], 0);
    assert_eq!(shares[1]["versions"], 0);
    assert!(shares[1]["last_change"].is_null(), "{shares:?}");
    // An empty share has its branch from the first start on.
    let archive = d.archive();
    git(&[
        "-C",
        archive.to_str().unwrap(),
        "rev-parse",
        "--verify",
        "refs/heads/beta",
    ]);
    let (status, page) = d.get_json("/api/v1/shares/beta/documents");
    assert_eq!(
        (status, page["documents"].as_array().map(Vec::len)),
        (200, Some(0))
    );

    // limit=1 walks every document through next_cursor.
    let mut seen = Vec::new();
    let mut route = "/api/v1/shares/alpha/documents?limit=1".to_owned();
    loop {
        let (status, page) = d.get_json(&route);
        assert_eq!(status, 200, "{route}: {page}");
        let docs = page["documents"].as_array().unwrap();
        assert_eq!(docs.len(), 1, "{route}: {page}");
        seen.push(str_of(&docs[0]["path"]));
        assert_eq!(docs[0]["version"], 1);
        assert_eq!(docs[0]["deleted"], false);
        match page["next_cursor"].as_str() {
            Some(c) => route = format!("/api/v1/shares/alpha/documents?limit=1&cursor={c}"),
            None => break,
        }
        assert!(seen.len() < 10, "pagination does not end");
    }
    assert_eq!(seen, ["a.txt", "b.txt", "sub/c.txt"]);
    let (_, page) = d.get_json("/api/v1/shares/alpha/documents?prefix=sub/");
    assert_eq!(page["documents"].as_array().unwrap().len(), 1, "{page}");

    let not_found = [
        "/api/v1/shares/nope/documents",
        "/api/v1/shares/nope/history/a.txt",
        "/api/v1/shares/nope/files/a.txt",
        "/api/v1/shares/alpha/history/missing.txt",
        "/api/v1/shares/alpha/files/missing.txt",
        "/api/v1/shares/alpha/files/a.txt?version=99",
        "/api/v1/nothing-here",
        "/no/such/route",
    ];
    for route in not_found {
        assert_error(&d, route, 404, "not_found");
    }
    let bad_request = [
        "/api/v1/shares/alpha/files/../../etc/passwd",
        "/api/v1/shares/alpha/files/sub/../a.txt",
        "/api/v1/shares/alpha/files/%2E%2E/a.txt",
        "/api/v1/shares/alpha/history/..%2Fa.txt",
        "/api/v1/shares/alpha/files/a.txt?version=abc",
        "/api/v1/shares/alpha/files/a.txt?version=-1",
        "/api/v1/shares/alpha/documents?limit=0",
        "/api/v1/shares/alpha/documents?cursor=zz",
        "/api/v1/shares/alpha/documents?deleted=maybe",
    ];
    for route in bad_request {
        assert_error(&d, route, 400, "bad_request");
    }
}

// --- 17. the command line -----------------------------------------------------------------------

#[test]
fn cli_history_and_cat_talk_to_the_daemon() {
    let d = TestDaemon::new().share("alpha").start();
    let v1: &[u8] = b"first\x00\xff\xfe binary, no newline";
    d.write("alpha", "doc.txt", v1);
    d.wait_versions("alpha", "doc.txt", 1);
    d.write("alpha", "doc.txt", "second\n");
    d.wait_versions("alpha", "doc.txt", 2);

    let out = d.cli(&["history", "alpha", "doc.txt"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("VER"), "{stdout}");
    assert!(
        lines[1].starts_with("v2") && lines[1].contains("modified"),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with("v1") && lines[2].contains("created"),
        "{stdout}"
    );

    let out = d.cli(&["history", "alpha", "doc.txt", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(json["path"], "doc.txt");
    let versions = json["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{json}");
    assert_eq!(versions[0]["version"], 2);
    assert_eq!(versions[1]["sha256"], sha256_hex(v1));

    let out = d.cli(&["cat", "alpha", "doc.txt", "--version", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout == v1, "cat --version 1 printed {:?}", out.stdout);
    let out = d.cli(&["cat", "alpha", "doc.txt"]);
    assert_eq!(out.stdout, b"second\n");

    let out = d.cli(&["cat", "alpha", "missing.txt"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: ") && stderr.contains("(HTTP 404)"),
        "{stderr}"
    );
}

// --- 18. shutdown ------------------------------------------------------------------------------------

#[test]
fn sigterm_exits_with_status_0() {
    // Idle since the start-up scan: nothing in hand, nothing pending.
    let mut idle = TestDaemon::new().share("alpha").start();
    let status = idle.stop();
    assert_eq!(status.code(), Some(0), "idle daemon on SIGTERM: {status}");

    // After some work.
    let mut busy = TestDaemon::new().share("alpha").start();
    busy.write("alpha", "a.txt", "a");
    busy.wait_versions("alpha", "a.txt", 1);
    let status = busy.stop();
    assert_eq!(status.code(), Some(0), "daemon on SIGTERM: {status}");
}

// --- the allocator ----------------------------------------------------------------------

/// The binary sets mimalloc's options before its first allocation (see
/// `src/main.rs` and `docvault::alloc::configure`); mimalloc's verbose
/// report lists each option by name.
#[test]
fn the_allocator_gives_freed_memory_back_at_once() {
    let out = Command::new(util::BIN)
        .arg("--version")
        .env("MIMALLOC_VERBOSE", "1")
        .output()
        .expect("run docvault");
    assert!(out.status.success());
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(
        report.contains("option 'arena_eager_commit': 0"),
        "{report}"
    );
    assert!(report.contains("option 'purge_delay': 0"), "{report}");
}
