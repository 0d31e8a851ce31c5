//! Disposition: versions whose retention ended are removed physically — from
//! the archive's history, its notes and its object files, and from the search
//! index — in a way a crash cannot leave half done.
//!
//! A *disposed* version is gone: its blob is unreachable and pruned (unless a
//! kept version has the same content), its record is dropped from the notes,
//! its entry and text are gone from every index file. Every other version
//! keeps its number, blob and record.
//!
//! How: each affected branch is rewritten from the first commit holding a
//! disposed version on. In the commits where a disposed version was its
//! path's content (from its commit until the path's next version), the path
//! is left out of the tree; messages lose the disposed versions' lines and
//! say how many were disposed; author, committer and times are kept. Records
//! of the kept versions are noted on the new commits. All new objects are
//! written and synced first, then a journal (`DATA_DIR/disposition.json`)
//! names the old and new heads, the new notes commits and the disposed
//! versions. Then, in this order: the notes ref moves to a *union* notes
//! commit (the notes of the old and of the new commits, so a reader sees
//! every version's record whichever branch head it reads), the branches move,
//! the notes ref moves to the final notes commit (a new root: the old notes
//! history would keep the disposed records), the `disposed` events are
//! appended to the audit log (with its absorbed heads carried over to the new
//! commits), the index is purged (entries deleted, segments merged into one,
//! old files deleted, absorbed heads carried over), reflogs are expired and
//! the archive is repacked and pruned by the `git` program (libgit2 has no
//! repack or prune), and the journal is deleted. [`recover`] redoes every
//! step after the journal at start-up; each is idempotent. A crash before the
//! journal leaves the old state (the new objects are garbage the next
//! disposition prunes).
//!
//! Fault injection: with `DOCVAULT_FAULT_DISPOSE` set to a step name
//! (`before-journal`, `after-journal`, `after-notes`, `after-branch`,
//! `after-audit`, `after-index`, `after-prune`) the process kills itself with
//! SIGKILL at that step, so tests can crash it anywhere.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use git2::build::TreeUpdateBuilder;
use git2::{FileMode, Oid, Repository, Tree};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::archive::{self, Archive, ArchiveError, NOTES_REF, branch_ref};
use crate::audit::{AUDIT_REF, AuditLog, Draft};
use crate::catalog::VersionRecord;
use crate::index::{Index, IndexError};

/// The journal of a disposition in progress, in the data dir.
pub const JOURNAL: &str = "disposition.json";
/// The environment variable naming the step at which to kill the process.
pub const FAULT_ENV: &str = "DOCVAULT_FAULT_DISPOSE";
const JOURNAL_TEMP: &str = ".disposition.json.tmp";
const INDEX_DIR: &str = "index";

/// One version, by its address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct VersionRef {
    pub share: String,
    pub path: String,
    pub version: u32,
}

impl VersionRef {
    pub fn new(share: &str, path: &str, version: u32) -> VersionRef {
        VersionRef {
            share: share.to_owned(),
            path: path.to_owned(),
            version,
        }
    }

    fn of(r: &VersionRecord) -> VersionRef {
        VersionRef::new(&r.share, &r.path, r.version)
    }
}

/// A version disposition removed, with the facts its audit event keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disposed {
    pub share: String,
    pub path: String,
    pub version: u32,
    pub size: u64,
    pub sha256: String,
    /// The git blob id; None for a deletion.
    pub blob: Option<String>,
    /// Whether the blob left the archive (false when a kept version has the
    /// same content, and for deletions).
    pub blob_gone: bool,
    /// The retention rule that made it due, when the caller named one.
    #[serde(default)]
    pub policy: Option<String>,
}

/// What a disposition did.
#[derive(Debug, Default)]
pub struct Disposition {
    /// The disposed versions, by share, path and version.
    pub disposed: Vec<Disposed>,
    /// Per rewritten share: the old and the new branch head.
    pub heads: BTreeMap<String, (Oid, Oid)>,
    /// Every rewritten commit, old id to new id, for commit ids held in
    /// memory (extraction jobs in flight, absorbed heads).
    pub rewritten: HashMap<Oid, Oid>,
}

#[derive(Debug, thiserror::Error)]
pub enum DisposeError {
    #[error("{share}:{path} has no version {version}")]
    UnknownVersion {
        share: String,
        path: String,
        version: u32,
    },
    #[error(
        "{share}:{path} v{version} is the current version of a live document; it cannot be disposed"
    )]
    CurrentVersion {
        share: String,
        path: String,
        version: u32,
    },
    #[error(
        "{share}:{path} v{version} records the document's deletion; it can only be disposed with every version of the document"
    )]
    Deletion {
        share: String,
        path: String,
        version: u32,
    },
    #[error("the archive is not as disposition expects: {0}")]
    Inconsistent(String),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("disposition journal {path}: {source}")]
    Journal { path: PathBuf, source: io::Error },
    #[error("unreadable disposition journal {path}: {source}")]
    BadJournal {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot prune the archive (`git {args}`): {reason}")]
    Prune { args: String, reason: String },
}

type Result<T, E = DisposeError> = std::result::Result<T, E>;

fn git<T>(what: &str, r: std::result::Result<T, git2::Error>) -> Result<T> {
    r.map_err(|source| {
        ArchiveError::Git {
            what: what.to_owned(),
            source,
        }
        .into()
    })
}

/// What a disposition will do, written before any ref moves.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Journal {
    /// When, and who asked (the audit events').
    at: String,
    actor: String,
    notes: NotesMove,
    branches: Vec<BranchMove>,
    /// The audit ref before: when it still points there, the events are not appended yet.
    audit_before: Option<String>,
    /// The audit log's absorbed heads that were rewritten, as they become.
    audit_absorbed: BTreeMap<String, String>,
    /// The index's absorbed heads after (None: there was no index).
    index_absorbed: Option<BTreeMap<String, String>>,
    disposed: Vec<Disposed>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct NotesMove {
    old: String,
    /// The notes of the old and of the new commits.
    union: String,
    new: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct BranchMove {
    share: String,
    old: String,
    new: String,
}

/// Disposes `versions` (duplicates are ignored; none is a no-op).
///
/// The caller is the one writer (nothing else writes the archive or the
/// index meanwhile) and passes the index it holds, or None: then the index in
/// `data_dir` is opened for the purge if there is one. The `disposed` events
/// are appended to `audit` (with `actor`), so the caller does not log them.
/// Refuses (changing nothing) an unknown version, the current version of a
/// live document, and a document's deletion without all its versions.
///
/// After it returns — or fails: a failure after the journal is finished by
/// [`recover`] — reload the catalog ([`Archive::load_catalog`]) and take the
/// index's absorbed heads again.
pub fn dispose(
    data_dir: &Path,
    archive: &Archive,
    index: Option<&mut Index>,
    audit: &mut AuditLog,
    versions: &[VersionRef],
    policies: &BTreeMap<VersionRef, String>,
    actor: &str,
) -> Result<Disposition> {
    with_index(data_dir, index, |mut index| {
        if let Some(journal) = read_journal(data_dir)? {
            warn!("finishing an interrupted disposition first");
            finish(data_dir, archive, index.as_deref_mut(), audit, &journal)?;
        }
        let versions: BTreeSet<VersionRef> = versions.iter().cloned().collect();
        if versions.is_empty() {
            return Ok(Disposition::default());
        }
        let absorbed = index.as_ref().map(|i| i.absorbed());
        let (journal, rewritten) = plan(
            archive,
            &versions,
            policies,
            absorbed,
            audit.absorbed(),
            actor,
        )?;
        fault("before-journal");
        write_journal(data_dir, &journal)?;
        fault("after-journal");
        finish(data_dir, archive, index, audit, &journal)?;
        Ok(Disposition {
            heads: heads(&journal)?,
            disposed: journal.disposed,
            rewritten,
        })
    })
}

/// Finishes a disposition a crash interrupted (its journal is in `data_dir`);
/// call at start-up, holding the data dir's lock, before the catalog and the
/// audit log are loaded. Returns the versions it disposed, None when there
/// was nothing to finish. Idempotent.
pub fn recover(
    data_dir: &Path,
    archive: &Archive,
    index: Option<&mut Index>,
) -> Result<Option<Vec<Disposed>>> {
    let _ = std::fs::remove_file(data_dir.join(JOURNAL_TEMP));
    let Some(journal) = read_journal(data_dir)? else {
        return Ok(None);
    };
    info!(
        versions = journal.disposed.len(),
        "finishing an interrupted disposition"
    );
    let mut audit = AuditLog::load(archive)?;
    with_index(data_dir, index, |index| {
        finish(data_dir, archive, index, &mut audit, &journal)
    })?;
    Ok(Some(journal.disposed))
}

/// Runs `f` with the caller's index, or with the data dir's index opened for
/// it (and closed after), or with none when there is no index.
fn with_index<T>(
    data_dir: &Path,
    index: Option<&mut Index>,
    f: impl FnOnce(Option<&mut Index>) -> Result<T>,
) -> Result<T> {
    if index.is_some() {
        return f(index);
    }
    let dir = data_dir.join(INDEX_DIR);
    if !dir.join("meta.json").exists() {
        return f(None);
    }
    let mut opened = Index::open_or_create(&dir)?;
    let result = f(Some(&mut opened));
    let closed = opened.finish();
    let value = result?;
    closed?;
    Ok(value)
}

/// Checks the request, writes every new object (commits, notes) and returns
/// the journal, and every rewritten commit's new id.
fn plan(
    archive: &Archive,
    versions: &BTreeSet<VersionRef>,
    policies: &BTreeMap<VersionRef, String>,
    index_absorbed: Option<BTreeMap<String, String>>,
    audit_absorbed: &BTreeMap<String, String>,
    actor: &str,
) -> Result<(Journal, HashMap<Oid, Oid>)> {
    let repo = archive.repo();
    let shares = branch_shares(repo)?;
    let catalog = archive.load_catalog(shares.iter().map(String::as_str))?;
    let mut records = Vec::with_capacity(versions.len());
    for v in versions {
        let doc = catalog.document(&v.share, &v.path);
        let unknown = || DisposeError::UnknownVersion {
            share: v.share.clone(),
            path: v.path.clone(),
            version: v.version,
        };
        let (Some(doc), Some(record)) = (doc, doc.and_then(|d| d.version(v.version))) else {
            return Err(unknown());
        };
        if doc.current().is_some_and(|c| c.version == v.version) {
            refuse_current(doc, record, versions)?;
        }
        records.push(record);
    }
    let kept_blobs: HashSet<&str> = catalog
        .shares()
        .flat_map(|(_, s)| s.docs.values())
        .flat_map(|d| d.versions.iter())
        .filter(|r| !versions.contains(&VersionRef::of(r)))
        .filter_map(|r| r.blob.as_deref())
        .collect();
    let disposed = records
        .iter()
        .map(|r| Disposed {
            share: r.share.clone(),
            path: r.path.clone(),
            version: r.version,
            size: r.size,
            sha256: r.sha256.clone(),
            blob: r.blob.clone(),
            blob_gone: r.blob.as_deref().is_some_and(|b| !kept_blobs.contains(b)),
            policy: policies.get(&VersionRef::of(r)).cloned(),
        })
        .collect();

    let notes_old = git("reading notes", repo.refname_to_id(NOTES_REF))?;
    let notes_commit = git("reading notes", repo.find_commit(notes_old))?;
    let notes_tree = git("reading notes", notes_commit.tree())?;
    let mut rewritten = HashMap::new();
    let mut notes = Vec::new();
    let mut branches = Vec::new();
    let affected: BTreeSet<&str> = versions.iter().map(|v| v.share.as_str()).collect();
    for share in affected {
        let head = archive
            .branch_head(share)?
            .ok_or_else(|| DisposeError::Inconsistent(format!("share {share} has no branch")))?;
        let doomed = versions.iter().filter(|v| v.share == share).count();
        let new = rewrite_branch(repo, share, head, versions, doomed, &notes_tree, &mut notes)?;
        branches.push(BranchMove {
            share: share.to_owned(),
            old: head.to_string(),
            new: new.to_string(),
        });
    }
    for n in &notes {
        rewritten.insert(n.old, n.new);
    }
    let (union, new) = write_notes(repo, &notes_commit, &notes_tree, &notes, versions.len())?;
    archive.sync()?;

    let translate = |c: &str| {
        Oid::from_str(c)
            .ok()
            .and_then(|o| rewritten.get(&o))
            .map(Oid::to_string)
    };
    let journal = Journal {
        at: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        actor: actor.to_owned(),
        notes: NotesMove {
            old: notes_old.to_string(),
            union: union.to_string(),
            new: new.to_string(),
        },
        branches,
        audit_before: repo.refname_to_id(AUDIT_REF).ok().map(|o| o.to_string()),
        audit_absorbed: audit_absorbed
            .iter()
            .filter_map(|(s, c)| translate(c).map(|n| (s.clone(), n)))
            .collect(),
        index_absorbed: index_absorbed.map(|m| {
            m.into_iter()
                .map(|(s, c)| {
                    let n = translate(&c).unwrap_or(c);
                    (s, n)
                })
                .collect()
        }),
        disposed,
    };
    Ok((journal, rewritten))
}

/// Refuses disposing a document's current version unless the document is
/// deleted and every version of it goes: a live document keeps its content,
/// and a deleted one must not come back to life with an older version.
fn refuse_current(
    doc: &crate::catalog::Document,
    current: &VersionRecord,
    versions: &BTreeSet<VersionRef>,
) -> Result<()> {
    let (share, path, version) = (current.share.clone(), current.path.clone(), current.version);
    if !current.is_deletion() {
        return Err(DisposeError::CurrentVersion {
            share,
            path,
            version,
        });
    }
    if !doc
        .versions
        .iter()
        .all(|r| versions.contains(&VersionRef::of(r)))
    {
        return Err(DisposeError::Deletion {
            share,
            path,
            version,
        });
    }
    Ok(())
}

/// The shares that have a branch in the archive.
fn branch_shares(repo: &Repository) -> Result<Vec<String>> {
    let refs = git("listing branches", repo.references_glob("refs/heads/*"))?;
    let mut shares = Vec::new();
    for r in refs {
        let r = git("listing branches", r)?;
        if let Some(share) = r.name().ok().and_then(|n| n.strip_prefix("refs/heads/")) {
            shares.push(share.to_owned());
        }
    }
    Ok(shares)
}

/// A rewritten commit: its old and new id, where its old note was, and the
/// lines of its new note (None: no version of it is kept).
struct Renoted {
    old: Oid,
    new: Oid,
    old_note: Option<String>,
    new_note: Option<String>,
}

/// Rewrites one share's first-parent history from its first commit holding a
/// disposed version; returns the new head. `doomed` is how many of
/// `versions` are this share's (each must be found on the branch).
fn rewrite_branch(
    repo: &Repository,
    share: &str,
    head: Oid,
    versions: &BTreeSet<VersionRef>,
    doomed: usize,
    notes_tree: &Tree<'_>,
    notes: &mut Vec<Renoted>,
) -> Result<Oid> {
    let mut parent = None;
    let mut found = 0;
    // Paths whose content is a disposed version, and its blob.
    let mut absent: BTreeMap<String, Option<Oid>> = BTreeMap::new();
    for old in first_parent_chain(repo, head)? {
        let (old_note, lines) = note_of(repo, notes_tree, old)?;
        let here = lines
            .iter()
            .filter(|(_, r)| versions.contains(&VersionRef::of(r)))
            .count();
        if found == 0 && here == 0 {
            parent = Some(old);
            continue;
        }
        found += here;
        for (_, r) in &lines {
            if versions.contains(&VersionRef::of(r)) && !r.is_deletion() {
                let blob = r.blob.as_deref().and_then(|b| Oid::from_str(b).ok());
                absent.insert(r.path.clone(), blob);
            } else {
                absent.remove(&r.path);
            }
        }
        let commit = git("reading commit", repo.find_commit(old))?;
        let tree = without(repo, &git("reading tree", commit.tree())?, &absent, old)?;
        let kept: Vec<&(String, VersionRecord)> = lines
            .iter()
            .filter(|(_, r)| !versions.contains(&VersionRef::of(r)))
            .collect();
        let message = if here == 0 {
            String::from_utf8_lossy(commit.message_raw_bytes()).into_owned()
        } else {
            let records: Vec<&VersionRecord> = kept.iter().map(|(_, r)| r).collect();
            disposal_message(share, &records, here)
        };
        let parents = match parent {
            Some(p) => vec![git("reading commit", repo.find_commit(p))?],
            None => Vec::new(),
        };
        let parents: Vec<&git2::Commit<'_>> = parents.iter().collect();
        let new = git(
            "writing rewritten commit",
            repo.commit(
                None,
                &commit.author(),
                &commit.committer(),
                &message,
                &tree,
                &parents,
            ),
        )?;
        let new_note = (!kept.is_empty()).then(|| {
            kept.iter()
                .map(|(line, _)| format!("{line}\n"))
                .collect::<String>()
        });
        notes.push(Renoted {
            old,
            new,
            old_note,
            new_note,
        });
        parent = Some(new);
    }
    if found != doomed {
        return Err(DisposeError::Inconsistent(format!(
            "{doomed} versions of share {share} to dispose, {found} found on its branch"
        )));
    }
    parent.ok_or_else(|| DisposeError::Inconsistent(format!("share {share} has no commit")))
}

/// The commits from the root to `head`, oldest first; refuses merges (the
/// branches docvault writes are linear).
fn first_parent_chain(repo: &Repository, head: Oid) -> Result<Vec<Oid>> {
    let mut chain = Vec::new();
    let mut next = Some(head);
    while let Some(id) = next {
        let commit = git("walking history", repo.find_commit(id))?;
        if commit.parent_count() > 1 {
            return Err(DisposeError::Inconsistent(format!(
                "commit {id} is a merge; branches must be linear"
            )));
        }
        chain.push(id);
        next = commit.parent_id(0).ok();
    }
    chain.reverse();
    Ok(chain)
}

/// A note's lines, each with its record.
type NoteLines = Vec<(String, VersionRecord)>;

/// Where `commit`'s note is in the notes tree, and its lines.
fn note_of(
    repo: &Repository,
    notes_tree: &Tree<'_>,
    commit: Oid,
) -> Result<(Option<String>, NoteLines)> {
    let fanout = archive::note_path(commit);
    let (place, blob) = match notes_tree.get_path(Path::new(&fanout)) {
        Ok(e) => (fanout, e.id()),
        Err(_) => match notes_tree.get_name(&commit.to_string()) {
            Some(e) => (commit.to_string(), e.id()),
            None => return Ok((None, Vec::new())),
        },
    };
    let blob = git("reading note", repo.find_blob(blob))?;
    let bad = |reason: String| ArchiveError::Record { commit, reason };
    let text = std::str::from_utf8(blob.content()).map_err(|e| bad(e.to_string()))?;
    let mut lines = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let record: VersionRecord = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
        lines.push((line.to_owned(), record));
    }
    Ok((Some(place), lines))
}

/// `tree` without the `absent` paths, each of which must hold its disposed blob.
fn without<'r>(
    repo: &'r Repository,
    tree: &Tree<'r>,
    absent: &BTreeMap<String, Option<Oid>>,
    commit: Oid,
) -> Result<Tree<'r>> {
    if absent.is_empty() {
        return Ok(tree.clone());
    }
    let mut update = TreeUpdateBuilder::new();
    for (path, blob) in absent {
        let entry = tree.get_path(Path::new(path)).ok();
        if entry.as_ref().map(|e| e.id()) != *blob {
            return Err(DisposeError::Inconsistent(format!(
                "{path} in commit {commit} is not the disposed version's content"
            )));
        }
        update.remove(path);
    }
    let id = git("rewriting tree", update.create_updated(repo, tree))?;
    git("reading rewritten tree", repo.find_tree(id))
}

/// The message of a commit that lost `disposed` of its versions.
fn disposal_message(share: &str, kept: &[&VersionRecord], disposed: usize) -> String {
    let note = match disposed {
        1 => "1 version disposed".to_owned(),
        n => format!("{n} versions disposed"),
    };
    if kept.is_empty() {
        return format!("{share}: {note}\n");
    }
    format!("{}\n{note}\n", archive::records_message(share, kept))
}

/// Writes the union notes commit (on top of the old notes: the notes of the
/// old and of the new commits) and the final one (a new root without the old
/// commits' notes, so no notes history keeps the disposed records).
fn write_notes(
    repo: &Repository,
    old: &git2::Commit<'_>,
    old_tree: &Tree<'_>,
    notes: &[Renoted],
    disposed: usize,
) -> Result<(Oid, Oid)> {
    let mut union = TreeUpdateBuilder::new();
    let mut last = TreeUpdateBuilder::new();
    for n in notes.iter().filter(|n| n.old != n.new) {
        if let Some(place) = &n.old_note {
            last.remove(place);
        }
        if let Some(text) = &n.new_note {
            let blob = git("writing note", repo.blob(text.as_bytes()))?;
            let place = archive::note_path(n.new);
            union.upsert(&place, blob, FileMode::Blob);
            last.upsert(&place, blob, FileMode::Blob);
        }
    }
    let sig = archive::signature()?;
    let union_tree = git("writing notes", union.create_updated(repo, old_tree))?;
    let union_tree = git("writing notes", repo.find_tree(union_tree))?;
    let union = git(
        "writing notes commit",
        repo.commit(
            None,
            &sig,
            &sig,
            "Notes of the commits rewritten by disposition added\n",
            &union_tree,
            &[old],
        ),
    )?;
    let last_tree = git("writing notes", last.create_updated(repo, old_tree))?;
    let last_tree = git("writing notes", repo.find_tree(last_tree))?;
    let message = format!("Notes rewritten by disposition ({disposed} versions disposed)\n");
    let last = git(
        "writing notes commit",
        repo.commit(None, &sig, &sig, &message, &last_tree, &[]),
    )?;
    Ok((union, last))
}

/// Every step after the journal, each idempotent: refs, audit, index, prune.
fn finish(
    data_dir: &Path,
    archive: &Archive,
    index: Option<&mut Index>,
    audit: &mut AuditLog,
    journal: &Journal,
) -> Result<()> {
    move_refs(archive, journal)?;
    record_audit(archive, audit, journal)?;
    fault("after-audit");
    if let Some(index) = index {
        let versions: Vec<(String, String, u32)> = journal
            .disposed
            .iter()
            .map(|d| (d.share.clone(), d.path.clone(), d.version))
            .collect();
        let absorbed = journal
            .index_absorbed
            .clone()
            .unwrap_or_else(|| index.absorbed());
        index.purge(&versions, &absorbed)?;
    }
    fault("after-index");
    prune(archive.path())?;
    fault("after-prune");
    check_gone(archive, &journal.disposed);
    let path = data_dir.join(JOURNAL);
    std::fs::remove_file(&path).map_err(|source| DisposeError::Journal {
        path: path.clone(),
        source,
    })?;
    sync_dir(data_dir).map_err(|source| DisposeError::Journal { path, source })?;
    info!(
        versions = journal.disposed.len(),
        actor = %journal.actor,
        "versions disposed"
    );
    Ok(())
}

/// Notes to the union, branches to their new heads, notes to the final
/// commit: whichever of those a crash left done. A reader sees every
/// version's record at each point.
fn move_refs(archive: &Archive, journal: &Journal) -> Result<()> {
    let repo = archive.repo();
    let notes = &journal.notes;
    let (old, union, new) = (oid(&notes.old)?, oid(&notes.union)?, oid(&notes.new)?);
    let now = repo.refname_to_id(NOTES_REF).ok();
    let msg = "docvault: disposition";
    if now == Some(new) {
        return check_branches(archive, journal);
    }
    if now == Some(old) {
        git(
            "moving notes ref",
            repo.reference_matching(NOTES_REF, union, true, old, msg),
        )?;
        archive.sync()?;
    } else if now != Some(union) {
        return Err(DisposeError::Inconsistent(
            "the notes ref moved during disposition".into(),
        ));
    }
    fault("after-notes");
    for b in &journal.branches {
        let (old, new) = (oid(&b.old)?, oid(&b.new)?);
        match archive.branch_head(&b.share)? {
            Some(head) if head == new => {}
            Some(head) if head == old => {
                git(
                    "moving branch",
                    repo.reference_matching(&branch_ref(&b.share), new, true, old, msg),
                )?;
            }
            _ => {
                return Err(DisposeError::Inconsistent(format!(
                    "branch {} moved during disposition",
                    b.share
                )));
            }
        }
    }
    archive.sync()?;
    fault("after-branch");
    git(
        "moving notes ref",
        repo.reference_matching(NOTES_REF, new, true, union, msg),
    )?;
    archive.sync()?;
    Ok(())
}

fn check_branches(archive: &Archive, journal: &Journal) -> Result<()> {
    for b in &journal.branches {
        if archive.branch_head(&b.share)? != Some(oid(&b.new)?) {
            return Err(DisposeError::Inconsistent(format!(
                "branch {} is not where disposition moved it",
                b.share
            )));
        }
    }
    Ok(())
}

/// Appends the `disposed` events (one per version) and carries the audit
/// log's absorbed heads over to the new commits, unless done already.
fn record_audit(archive: &Archive, audit: &mut AuditLog, journal: &Journal) -> Result<()> {
    let now = archive.repo().refname_to_id(AUDIT_REF).ok();
    if now.map(|o| o.to_string()) != journal.audit_before {
        return Ok(());
    }
    let drafts = journal.disposed.iter().map(|d| draft(d, journal)).collect();
    let absorbed = journal
        .audit_absorbed
        .iter()
        .map(|(share, c)| Ok((share.clone(), oid(c)?)))
        .collect::<Result<Vec<_>>>()?;
    audit.append_durable(archive, drafts, &absorbed)?;
    archive.sync()?;
    Ok(())
}

fn draft(d: &Disposed, journal: &Journal) -> Draft {
    Draft {
        at: journal.at.clone(),
        kind: "disposed".into(),
        share: Some(d.share.clone()),
        path: Some(d.path.clone()),
        version: Some(d.version),
        actor: journal.actor.clone(),
        detail: serde_json::json!({
            "sha256": d.sha256,
            "size": d.size,
            "blob": d.blob,
            "blob_gone": d.blob_gone,
            "policy": d.policy,
        }),
    }
}

/// Drops what keeps the old objects: reflog entries of commits no ref
/// reaches (bare repositories normally have no reflogs), then repacks what
/// is reachable and deletes every other object.
///
/// Not `git repack -a -d`: that would put the large blobs (kept loose so
/// that downloads stream them, see [`crate::archive::INLINE_LIMIT`]) into
/// the pack, where libgit2 can only read them whole. The new pack holds
/// every reachable object but the large blobs that are loose (those that
/// are only in a pack, from a `git gc` or an older docvault, stay packed);
/// every other pack is removed, then `git prune` removes the unreachable
/// loose objects (disposed large blobs among them) and `git prune-packed`
/// the loose ones now in the pack.
fn prune(archive: &Path) -> Result<()> {
    if archive.join("logs").is_dir() {
        run_git(
            archive,
            &["reflog", "expire", "--expire-unreachable=now", "--all"],
        )?;
    }
    if let Some(kept) = repack_reachable(archive)? {
        let dir = std::fs::File::open(archive).map_err(|e| DisposeError::Prune {
            args: "syncfs".into(),
            reason: e.to_string(),
        })?;
        nix::unistd::syncfs(&dir).map_err(|e| DisposeError::Prune {
            args: "syncfs".into(),
            reason: e.to_string(),
        })?;
        remove_packs_but(archive, &kept)?;
    }
    run_git(archive, &["prune", "--expire=now"])?;
    run_git(archive, &["prune-packed", "-q"])
}

/// Writes every reachable object except the loose large blobs into one new
/// pack (`git rev-list --objects --all --filter … --filter-print-omitted`
/// → `git pack-objects` → `git index-pack`); returns its name
/// (`pack-<hash>`), or `None` when nothing is reachable.
fn repack_reachable(archive: &Path) -> Result<Option<String>> {
    let filter = format!("--filter=blob:limit={}", crate::archive::INLINE_LIMIT + 1);
    let list_args = [
        "rev-list",
        "--objects",
        "--all",
        &filter,
        "--filter-print-omitted",
    ];
    let pack_args = ["pack-objects", "--stdout", "-q"];
    let index_args = ["index-pack", "--stdin"];
    let failed = |args: &[&str], reason: String| DisposeError::Prune {
        args: args.join(" "),
        reason,
    };
    let spawn = |args: &[&str], stdin: Stdio| {
        git_command(archive, args)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| failed(args, format!("cannot run git: {e}")))
    };
    let mut list = spawn(&list_args, Stdio::null())?;
    let mut pack = spawn(&pack_args, Stdio::piped())?;
    let packed = Stdio::from(pack.stdout.take().expect("stdout is piped"));
    let index = spawn(&index_args, packed)?;
    let listed = list.stdout.take().expect("stdout is piped");
    let mut to_pack = pack.stdin.take().expect("stdin is piped");
    let objects = archive.join("objects");
    let feeder = std::thread::spawn(move || -> std::io::Result<u64> {
        use std::io::{BufRead, Write};
        let mut lines = 0;
        for line in std::io::BufReader::new(listed).lines() {
            let line = line?;
            let entry = match line.strip_prefix('~') {
                Some(oid) if oid.len() > 2 && objects.join(&oid[..2]).join(&oid[2..]).is_file() => {
                    continue;
                }
                Some(oid) => oid.to_owned(),
                None => line,
            };
            writeln!(to_pack, "{entry}")?;
            lines += 1;
        }
        Ok(lines)
    });
    let indexed = index
        .wait_with_output()
        .map_err(|e| failed(&index_args, e.to_string()))?;
    let fed = feeder.join().expect("the feeder does not panic");
    let check = |args: &[&str], out: std::process::Output| {
        if out.status.success() {
            return Ok(out);
        }
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        Err(failed(args, format!("{}: {stderr}", out.status)))
    };
    check(
        &list_args,
        list.wait_with_output()
            .map_err(|e| failed(&list_args, e.to_string()))?,
    )?;
    check(
        &pack_args,
        pack.wait_with_output()
            .map_err(|e| failed(&pack_args, e.to_string()))?,
    )?;
    let lines = fed.map_err(|e| failed(&pack_args, e.to_string()))?;
    if lines == 0 {
        return Ok(None);
    }
    let indexed = check(&index_args, indexed)?;
    let out = String::from_utf8_lossy(&indexed.stdout);
    let hash = out
        .trim()
        .strip_prefix("pack\t")
        .filter(|h| h.len() >= 40 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| failed(&index_args, format!("unexpected output {:?}", out.trim())))?;
    Ok(Some(format!("pack-{hash}")))
}

/// Removes every pack but `kept` (its index first, so that no reader
/// finds it half gone).
fn remove_packs_but(archive: &Path, kept: &str) -> Result<()> {
    let dir = archive.join("objects").join("pack");
    let failed = |reason: String| DisposeError::Prune {
        args: "removing old packs".into(),
        reason,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| failed(e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            stem.starts_with("pack-") && stem != kept
        })
        .collect();
    files.sort_by_key(|p| p.extension().is_none_or(|e| e != "idx"));
    for file in files {
        std::fs::remove_file(&file).map_err(|e| failed(format!("{}: {e}", file.display())))?;
    }
    Ok(())
}

fn run_git(archive: &Path, args: &[&str]) -> Result<()> {
    let failed = |reason: String| DisposeError::Prune {
        args: args.join(" "),
        reason,
    };
    let out = git_command(archive, args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| failed(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(failed(format!("{}: {}", out.status, stderr.trim())));
    }
    Ok(())
}

/// `git --git-dir ARCHIVE ARGS`, with no git environment leaking in.
fn git_command(archive: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("git");
    command
        .arg("--git-dir")
        .arg(archive)
        .args(args)
        .env_remove("GIT_DIR")
        .env_remove("GIT_OBJECT_DIRECTORY")
        .env_remove("GIT_ALTERNATE_OBJECT_DIRECTORIES");
    command
}

/// Warns about a blob that should have left the archive and did not.
fn check_gone(archive: &Archive, disposed: &[Disposed]) {
    let Ok(odb) = archive.repo().odb() else {
        return;
    };
    // The handle's view of the packs changed under it.
    let _ = odb.refresh();
    for d in disposed.iter().filter(|d| d.blob_gone) {
        let blob = d.blob.as_deref().and_then(|b| Oid::from_str(b).ok());
        if blob.is_some_and(|b| odb.exists(b)) {
            warn!(share = %d.share, path = %d.path, version = d.version,
                "a disposed version's blob is still in the archive (another ref keeps it)");
        }
    }
}

fn heads(journal: &Journal) -> Result<BTreeMap<String, (Oid, Oid)>> {
    journal
        .branches
        .iter()
        .map(|b| Ok((b.share.clone(), (oid(&b.old)?, oid(&b.new)?))))
        .collect()
}

fn oid(hex: &str) -> Result<Oid> {
    Oid::from_str(hex).map_err(|e| DisposeError::Inconsistent(format!("bad object id {hex}: {e}")))
}

/// Writes the journal atomically and durably: temp file, fsync, rename, fsync dir.
fn write_journal(data_dir: &Path, journal: &Journal) -> Result<()> {
    let path = data_dir.join(JOURNAL);
    let temp = data_dir.join(JOURNAL_TEMP);
    let io_err = |source| DisposeError::Journal {
        path: path.clone(),
        source,
    };
    let json = serde_json::to_vec_pretty(journal).expect("a journal always serializes");
    let mut file = File::create(&temp).map_err(io_err)?;
    file.write_all(&json).map_err(io_err)?;
    file.sync_all().map_err(io_err)?;
    std::fs::rename(&temp, &path).map_err(io_err)?;
    sync_dir(data_dir).map_err(io_err)
}

fn read_journal(data_dir: &Path) -> Result<Option<Journal>> {
    let path = data_dir.join(JOURNAL);
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(DisposeError::Journal { path, source }),
    };
    serde_json::from_slice(&data)
        .map(Some)
        .map_err(|source| DisposeError::BadJournal { path, source })
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Kills the process at `step` when [`FAULT_ENV`] names it (crash tests).
fn fault(step: &str) {
    if std::env::var_os(FAULT_ENV).is_some_and(|s| s == step) {
        warn!(step, "{FAULT_ENV}: killing the process");
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        std::process::abort();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;
    use std::os::unix::process::ExitStatusExt;
    use std::time::SystemTime;

    use git2::FileMode;
    use tempfile::TempDir;

    use super::*;
    use crate::archive::{Staged, TreeOp};
    use crate::catalog::{Catalog, Event};
    use crate::index::{Entry, Query};

    // Markers: no 4 bytes in common with each other or the filler text, so
    // lz4 (the docstore's compression) stores each as a literal run, and a
    // raw grep of the index files finds them while they are there.
    const M1: &str = "kwjfhdbzqpx";
    const M2: &str = "vgymtrnucso";
    const M3: &str = "lahexibowfe";
    const OTHER: &str = "zuqyikvadmj";
    const BETA: &str = "fyxogpukwel";

    /// An archive, index and audit log written the way ingest writes them.
    struct Vault {
        dir: TempDir,
        archive: Archive,
        index: Index,
        audit: AuditLog,
        versions: BTreeMap<(String, String), u32>,
    }

    impl Vault {
        fn new() -> Vault {
            let dir = TempDir::new().unwrap();
            let (archive, index, audit) = open(dir.path());
            Vault {
                dir,
                archive,
                index,
                audit,
                versions: BTreeMap::new(),
            }
        }

        fn data(&self) -> &Path {
            self.dir.path()
        }

        /// One commit of `share` with these changes (content None: deletion).
        fn commit(&mut self, share: &str, changes: &[(&str, Option<&str>)]) -> Oid {
            let mut staged = Vec::new();
            for (path, content) in changes {
                let key = (share.to_owned(), path.to_string());
                let version = self.versions.get(&key).map_or(1, |v| v + 1);
                self.versions.insert(key, version);
                staged.push(match content {
                    Some(text) => {
                        // As ingest does: large files are streamed to loose objects.
                        let blob = if text.len() as u64 > crate::archive::INLINE_LIMIT {
                            let file = self.dir.path().join("large.tmp");
                            std::fs::write(&file, text).unwrap();
                            let blob = self.archive.store_file(&file, text.len() as u64);
                            blob.unwrap()
                        } else {
                            self.archive.store_bytes(text.as_bytes()).unwrap()
                        };
                        let event = if version == 1 {
                            Event::Created
                        } else {
                            Event::Modified
                        };
                        let mut r =
                            VersionRecord::new(share, path, version, event, blob.size, blob.sha256);
                        r.blob = Some(blob.oid.to_string());
                        r.mode = Some("100644".into());
                        let tree = TreeOp::Upsert {
                            oid: blob.oid,
                            mode: FileMode::Blob,
                        };
                        Staged { record: r, tree }
                    }
                    None => Staged {
                        record: VersionRecord::new(
                            share,
                            path,
                            version,
                            Event::Deleted,
                            0,
                            [0; 32],
                        ),
                        tree: TreeOp::Remove,
                    },
                });
            }
            let commit = self.archive.commit_batch(share, &mut staged, &[]).unwrap();
            let now = SystemTime::now();
            for (s, (_, content)) in staged.iter().zip(changes) {
                let r = &s.record;
                if r.version > 1 {
                    let _ = self.index.supersede(share, &r.path, r.version - 1, now);
                }
                if let Some(text) = content {
                    self.index
                        .add(entry(share, &r.path, r.version, text))
                        .unwrap();
                }
            }
            let drafts = staged
                .iter()
                .map(|s| Draft::of_version(&s.record))
                .collect();
            let heads = [(share.to_owned(), commit)];
            self.audit.append(&self.archive, drafts, &heads).unwrap();
            let mut absorbed = self.index.absorbed();
            absorbed.insert(share.to_owned(), commit.to_string());
            self.index.commit(&absorbed).unwrap();
            commit
        }

        fn catalog(&self) -> Catalog {
            Archive::open(self.archive.path())
                .unwrap()
                .load_catalog(["alpha", "beta"])
                .unwrap()
        }

        fn dispose(&mut self, versions: &[(&str, &str, u32)]) -> Result<Disposition> {
            let refs: Vec<VersionRef> = versions
                .iter()
                .map(|(s, p, v)| VersionRef::new(s, p, *v))
                .collect();
            let data = self.dir.path().to_owned();
            dispose(
                &data,
                &self.archive,
                Some(&mut self.index),
                &mut self.audit,
                &refs,
                &BTreeMap::new(),
                "retention",
            )
        }
    }

    fn open(data: &Path) -> (Archive, Index, AuditLog) {
        let archive = Archive::open_or_init(&data.join("archive.git")).unwrap();
        let index = Index::open_or_create(&data.join(INDEX_DIR)).unwrap();
        let audit = AuditLog::load(&archive).unwrap();
        (archive, index, audit)
    }

    fn entry(share: &str, path: &str, version: u32, text: &str) -> Entry {
        let now = SystemTime::now();
        Entry {
            share: share.into(),
            path: path.into(),
            version,
            valid_from: now,
            valid_to: None,
            modified: now,
            size: text.len() as u64,
            mime: "text/plain".into(),
            title: None,
            author: None,
            status: "ok".into(),
            text: text.into(),
        }
    }

    /// plan.txt v1..v3 (M1, M2, M3) among other documents, in two shares.
    fn scenario() -> Vault {
        let mut v = Vault::new();
        v.commit(
            "alpha",
            &[
                ("plan.txt", Some(&format!("project plan first draft {M1}"))),
                ("other.txt", Some(&format!("budget overview {OTHER}"))),
            ],
        );
        v.commit(
            "alpha",
            &[("plan.txt", Some(&format!("project plan second draft {M2}")))],
        );
        v.commit(
            "beta",
            &[(
                "notes/minutes.txt",
                Some(&format!("meeting minutes {BETA}")),
            )],
        );
        v.commit(
            "alpha",
            &[("risks/register.txt", Some("risk register for the team"))],
        );
        v.commit(
            "alpha",
            &[("plan.txt", Some(&format!("project plan final {M3}")))],
        );
        v
    }

    fn git_out(archive: &Path, args: &[&str]) -> (bool, Vec<u8>, String) {
        let out = Command::new("git")
            .arg("--git-dir")
            .arg(archive)
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), out.stdout, stderr)
    }

    /// Every object of the archive, reachable or not, uncompressed.
    fn all_objects(archive: &Path) -> Vec<u8> {
        let (ok, out, err) = git_out(archive, &["cat-file", "--batch-all-objects", "--batch"]);
        assert!(ok, "{err}");
        out
    }

    fn contains(haystack: &[u8], needle: &str) -> bool {
        haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    }

    /// `git fsck --full --strict` finds nothing wrong in `archive`.
    pub(crate) fn assert_fsck_clean(archive: &Path) {
        let (ok, out, err) = git_out(archive, &["fsck", "--full", "--strict", "--no-dangling"]);
        let out = String::from_utf8_lossy(&out);
        // (A bare repository's HEAD names a branch that does not exist: a notice.)
        let complaints = err.lines().filter(|l| !l.starts_with("notice:")).count();
        assert!(ok && out.trim().is_empty() && complaints == 0, "{out}{err}");
    }

    /// The names of the files under `dir` holding `marker`.
    fn files_with(dir: &Path, marker: &str) -> Vec<String> {
        walkdir::WalkDir::new(dir)
            .into_iter()
            .map(Result::unwrap)
            .filter(|e| e.file_type().is_file())
            .filter(|e| contains(&std::fs::read(e.path()).unwrap(), marker))
            .map(|e| e.path().display().to_string())
            .collect()
    }

    fn hits(index: &Index, word: &str) -> u64 {
        let query = Query {
            q: word.into(),
            all_versions: true,
            limit: 10,
            ..Query::default()
        };
        index.searcher().search(&query).unwrap().total as u64
    }

    /// Every record of the catalog without its commit id.
    fn records(catalog: &Catalog) -> Vec<VersionRecord> {
        let mut out = Vec::new();
        for (_, share) in catalog.shares() {
            for doc in share.docs.values() {
                for r in &doc.versions {
                    let mut r = r.clone();
                    r.commit = None;
                    out.push(r);
                }
            }
        }
        out
    }

    fn blob_of(catalog: &Catalog, share: &str, path: &str, version: u32) -> Oid {
        let r = catalog
            .document(share, path)
            .unwrap()
            .version(version)
            .unwrap();
        Oid::from_str(r.blob.as_deref().unwrap()).unwrap()
    }

    /// Checks the state after plan.txt v1 and v2 were disposed.
    fn assert_disposed(data: &Path, before: &Catalog) {
        let archive_path = data.join("archive.git");
        let archive = Archive::open(&archive_path).unwrap();
        let after = archive.load_catalog(["alpha", "beta"]).unwrap();
        let expected: Vec<VersionRecord> = records(before)
            .into_iter()
            .filter(|r| !(r.path == "plan.txt" && r.version < 3))
            .collect();
        assert_eq!(records(&after), expected);
        let plan = after.document("alpha", "plan.txt").unwrap();
        assert_eq!(plan.versions.len(), 1);
        assert_eq!(plan.versions[0].version, 3);
        let mut content = Vec::new();
        archive
            .copy_blob(blob_of(&after, "alpha", "plan.txt", 3), &mut content)
            .unwrap();
        assert_eq!(content, format!("project plan final {M3}").as_bytes());
        for v in [1, 2] {
            let blob = blob_of(before, "alpha", "plan.txt", v);
            assert!(archive.repo().find_blob(blob).is_err(), "v{v} blob stays");
        }

        let objects = all_objects(&archive_path);
        for gone in [M1, M2] {
            assert!(!contains(&objects, gone), "{gone} still in a git object");
        }
        for kept in [M3, OTHER, BETA] {
            assert!(contains(&objects, kept), "{kept} lost");
        }
        assert_fsck_clean(&archive_path);
        assert!(!data.join(JOURNAL).exists());

        let index = Index::open_or_create(&data.join(INDEX_DIR)).unwrap();
        for gone in [M1, M2] {
            assert_eq!(hits(&index, gone), 0, "{gone} found");
            assert_eq!(index.physical(gone), (1, 0, false), "{gone} in a segment");
            assert!(files_with(&data.join(INDEX_DIR), gone).is_empty(), "{gone}");
        }
        for kept in [M3, OTHER, BETA] {
            assert_eq!(hits(&index, kept), 1, "{kept} not found");
            // The positive control of the raw grep above.
            assert!(
                !files_with(&data.join(INDEX_DIR), kept).is_empty(),
                "{kept}"
            );
        }
        let alpha = archive.branch_head("alpha").unwrap().unwrap().to_string();
        assert_eq!(index.absorbed().get("alpha"), Some(&alpha));

        let audit = AuditLog::load(&archive).unwrap();
        assert_eq!(audit.absorbed().get("alpha"), Some(&alpha));
        let (events, _) = crate::audit::read_log(archive.repo()).unwrap();
        crate::audit::verify_chain(&events).unwrap();
        let disposed: Vec<(String, u32)> = events
            .iter()
            .filter(|e| e.kind == "disposed")
            .map(|e| (e.path.clone().unwrap(), e.version.unwrap()))
            .collect();
        assert_eq!(disposed, [("plan.txt".into(), 1), ("plan.txt".into(), 2)]);
    }

    /// Nothing disposed: every version, blob and marker is where it was.
    fn assert_untouched(data: &Path, before: &Catalog) {
        let archive_path = data.join("archive.git");
        let archive = Archive::open(&archive_path).unwrap();
        let after = archive.load_catalog(["alpha", "beta"]).unwrap();
        assert_eq!(records(&after), records(before));
        let objects = all_objects(&archive_path);
        for marker in [M1, M2, M3, OTHER, BETA] {
            assert!(contains(&objects, marker), "{marker}");
        }
        assert_fsck_clean(&archive_path);
        let index = Index::open_or_create(&data.join(INDEX_DIR)).unwrap();
        assert_eq!(hits(&index, M1), 1);
    }

    #[test]
    fn disposed_versions_leave_history_objects_and_index() {
        let mut v = scenario();
        let before = v.catalog();
        let archive_path = v.archive.path().to_owned();
        let objects = all_objects(&archive_path);
        assert!(contains(&objects, M1) && contains(&objects, M2));
        assert!(!files_with(&v.data().join(INDEX_DIR), M1).is_empty());
        let old_head = v.archive.branch_head("alpha").unwrap().unwrap();
        let beta_head = v.archive.branch_head("beta").unwrap();
        let (_, old_log, _) = git_out(&archive_path, &["log", "--format=%at %an|%s", "alpha"]);

        let done = v
            .dispose(&[("alpha", "plan.txt", 1), ("alpha", "plan.txt", 2)])
            .unwrap();

        let got: Vec<(String, u32, bool)> = done
            .disposed
            .iter()
            .map(|d| (d.path.clone(), d.version, d.blob_gone))
            .collect();
        assert_eq!(
            got,
            [("plan.txt".into(), 1, true), ("plan.txt".into(), 2, true)]
        );
        assert_eq!(
            done.disposed[0].sha256,
            before.document("alpha", "plan.txt").unwrap().versions[0].sha256
        );
        let (old, new) = done.heads["alpha"];
        assert_eq!(old, old_head);
        assert_eq!(v.archive.branch_head("alpha").unwrap(), Some(new));
        assert_eq!(v.archive.branch_head("beta").unwrap(), beta_head);
        // The writer's own handles see the new state.
        let reloaded = v.archive.load_catalog(["alpha", "beta"]).unwrap();
        assert_eq!(
            reloaded
                .document("alpha", "plan.txt")
                .unwrap()
                .versions
                .len(),
            1
        );
        assert_eq!(hits(&v.index, M1), 0);
        assert_eq!(hits(&v.index, M3), 1);
        assert_eq!(v.audit.absorbed().get("alpha"), Some(&new.to_string()));
        drop(v.index);
        assert_disposed(v.dir.path(), &before);

        // History: same commits, times and authors; messages say what went.
        let (ok, log, err) = git_out(&archive_path, &["log", "--format=%at %an|%s", "alpha"]);
        assert!(ok, "{err}");
        let (log, old_log) = (
            String::from_utf8(log).unwrap(),
            String::from_utf8(old_log).unwrap(),
        );
        let times = |log: &str| {
            log.lines()
                .map(|l| l.split('|').next().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(times(&log), times(&old_log));
        let subjects: Vec<&str> = log.lines().map(|l| l.split('|').nth(1).unwrap()).collect();
        assert_eq!(
            subjects,
            [
                "alpha: modified plan.txt",
                "alpha: created risks/register.txt",
                "alpha: 1 version disposed",
                "alpha: created other.txt",
                "alpha: archive started",
            ]
        );
        let (_, body, _) = git_out(&archive_path, &["log", "--format=%B", "-1", "alpha~3"]);
        assert_eq!(
            String::from_utf8(body).unwrap().trim_end(),
            "alpha: created other.txt\n\ncreated other.txt (v1)\n\n1 version disposed"
        );
        let (ok, _, err) = git_out(
            &archive_path,
            &["log", "--oneline", "alpha", "--", "plan.txt"],
        );
        assert!(ok, "{err}");
        // No tree of the branch holds the disposed blobs.
        let repo = Repository::open_bare(&archive_path).unwrap();
        let doomed: Vec<Oid> = [1, 2]
            .iter()
            .map(|&n| blob_of(&before, "alpha", "plan.txt", n))
            .collect();
        for commit in first_parent_chain(&repo, new).unwrap() {
            let tree = repo.find_commit(commit).unwrap().tree().unwrap();
            tree.walk(git2::TreeWalkMode::PreOrder, |_, e| {
                assert!(!doomed.contains(&e.id()), "commit {commit}");
                git2::TreeWalkResult::Ok
            })
            .unwrap();
        }
    }

    #[test]
    fn a_blob_a_kept_version_shares_stays() {
        let mut v = Vault::new();
        let same = format!("shared content {M1}");
        v.commit("alpha", &[("a.txt", Some(&same))]);
        v.commit("alpha", &[("a.txt", Some("something else"))]);
        v.commit("alpha", &[("copy.txt", Some(&same))]);
        v.commit("alpha", &[("b.txt", Some(&format!("own content {M2}")))]);
        v.commit("alpha", &[("b.txt", Some("newer"))]);
        let done = v
            .dispose(&[("alpha", "a.txt", 1), ("alpha", "b.txt", 1)])
            .unwrap();
        let gone: Vec<(String, bool)> = done
            .disposed
            .iter()
            .map(|d| (d.path.clone(), d.blob_gone))
            .collect();
        assert_eq!(gone, [("a.txt".into(), false), ("b.txt".into(), true)]);
        let objects = all_objects(v.archive.path());
        assert!(contains(&objects, M1));
        assert!(!contains(&objects, M2));
        let blob = Oid::from_str(done.disposed[0].blob.as_deref().unwrap()).unwrap();
        let archive = Archive::open(v.archive.path()).unwrap();
        assert!(archive.repo().find_blob(blob).is_ok());
        let catalog = archive.load_catalog(["alpha"]).unwrap();
        let a = catalog.document("alpha", "a.txt").unwrap();
        assert_eq!(
            a.versions.iter().map(|r| r.version).collect::<Vec<_>>(),
            [2]
        );
        assert_eq!(
            catalog
                .document("alpha", "copy.txt")
                .unwrap()
                .versions
                .len(),
            1
        );
        // The index still finds the kept copy's text, not the disposed entry.
        assert_eq!(hits(&v.index, M1), 1);
        assert_fsck_clean(v.archive.path());
    }

    #[test]
    fn a_deleted_document_whose_versions_all_go_leaves_the_catalog() {
        let mut v = Vault::new();
        v.commit("alpha", &[("keep.txt", Some("kept"))]);
        v.commit("alpha", &[("old.txt", Some(&format!("old {M1}")))]);
        v.commit("alpha", &[("old.txt", Some(&format!("older {M2}")))]);
        v.commit("alpha", &[("old.txt", None)]);
        v.commit("alpha", &[("keep.txt", Some("kept too"))]);
        let all = [
            ("alpha", "old.txt", 1),
            ("alpha", "old.txt", 2),
            ("alpha", "old.txt", 3),
        ];
        let done = v.dispose(&all).unwrap();
        assert_eq!(done.disposed.len(), 3);
        assert_eq!(done.disposed[2].blob, None);
        assert!(!done.disposed[2].blob_gone);
        let catalog = v.catalog();
        assert!(catalog.document("alpha", "old.txt").is_none());
        assert_eq!(
            catalog
                .document("alpha", "keep.txt")
                .unwrap()
                .versions
                .len(),
            2
        );
        let objects = all_objects(v.archive.path());
        assert!(!contains(&objects, M1) && !contains(&objects, M2));
        assert_fsck_clean(v.archive.path());
        let (_, log, _) = git_out(v.archive.path(), &["log", "--format=%s", "alpha"]);
        let log = String::from_utf8(log).unwrap();
        assert_eq!(log.matches("alpha: 1 version disposed").count(), 3, "{log}");
    }

    #[test]
    fn refused_requests_change_nothing() {
        let mut v = Vault::new();
        v.commit("alpha", &[("live.txt", Some("one"))]);
        v.commit("alpha", &[("live.txt", Some("two"))]);
        v.commit("alpha", &[("gone.txt", Some("three"))]);
        v.commit("alpha", &[("gone.txt", None)]);
        let head = v.archive.branch_head("alpha").unwrap();
        let err = v.dispose(&[("alpha", "live.txt", 2)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "alpha:live.txt v2 is the current version of a live document; it cannot be disposed"
        );
        let err = v.dispose(&[("alpha", "gone.txt", 2)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "alpha:gone.txt v2 records the document's deletion; it can only be disposed with every version of the document"
        );
        let err = v.dispose(&[("alpha", "live.txt", 7)]).unwrap_err();
        assert_eq!(err.to_string(), "alpha:live.txt has no version 7");
        let err = v.dispose(&[("nosuch", "x", 1)]).unwrap_err();
        assert_eq!(err.to_string(), "nosuch:x has no version 1");
        assert_eq!(v.archive.branch_head("alpha").unwrap(), head);
        assert!(!v.data().join(JOURNAL).exists());
        assert_eq!(
            v.catalog()
                .document("alpha", "live.txt")
                .unwrap()
                .versions
                .len(),
            2
        );
    }

    #[test]
    fn disposing_nothing_changes_nothing() {
        let mut v = scenario();
        let before = v.catalog();
        let notes = v.archive.repo().refname_to_id(NOTES_REF).unwrap();
        let done = v.dispose(&[]).unwrap();
        assert!(done.disposed.is_empty() && done.heads.is_empty());
        assert_eq!(v.archive.repo().refname_to_id(NOTES_REF).unwrap(), notes);
        assert!(
            recover(v.dir.path(), &v.archive, Some(&mut v.index))
                .unwrap()
                .is_none()
        );
        drop(v.index);
        assert_untouched(v.dir.path(), &before);
    }

    /// Where the crash child finds its data dir.
    const CHILD_ENV: &str = "DOCVAULT_TEST_DISPOSE_CHILD";

    /// Not a test of its own: the process the crash test kills mid-disposition.
    #[test]
    fn crash_child() {
        let Some(data) = std::env::var_os(CHILD_ENV) else {
            return;
        };
        let data = PathBuf::from(data);
        let (archive, mut index, mut audit) = open(&data);
        let versions = [
            VersionRef::new("alpha", "plan.txt", 1),
            VersionRef::new("alpha", "plan.txt", 2),
        ];
        dispose(
            &data,
            &archive,
            Some(&mut index),
            &mut audit,
            &versions,
            &BTreeMap::new(),
            "retention",
        )
        .unwrap();
    }

    #[test]
    fn a_crash_at_any_step_recovers_to_the_old_or_the_new_state() {
        let steps = [
            "before-journal",
            "after-journal",
            "after-notes",
            "after-branch",
            "after-audit",
            "after-index",
            "after-prune",
        ];
        for step in steps {
            let v = scenario();
            let before = v.catalog();
            let dir = v.dir;
            drop((v.archive, v.index, v.audit));
            let status = Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "dispose::tests::crash_child", "--test-threads=1"])
                .env(CHILD_ENV, dir.path())
                .env(FAULT_ENV, step)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert_eq!(status.signal(), Some(9), "{step}: {status}");
            let archive = Archive::open(&dir.path().join("archive.git")).unwrap();
            // Readers between two steps see every version with its record.
            let seen = archive.load_catalog(["alpha", "beta"]).unwrap();
            let plan = seen.document("alpha", "plan.txt").unwrap().versions.len();
            let moved = !matches!(step, "before-journal" | "after-journal" | "after-notes");
            assert_eq!(plan, if moved { 1 } else { 3 }, "{step}");
            let recovered = recover(dir.path(), &archive, None).unwrap();
            assert_eq!(recovered.is_some(), step != "before-journal", "{step}");
            drop(archive);
            if step == "before-journal" {
                assert_untouched(dir.path(), &before);
            } else {
                assert_disposed(dir.path(), &before);
            }
            let archive = Archive::open(&dir.path().join("archive.git")).unwrap();
            assert!(recover(dir.path(), &archive, None).unwrap().is_none());
        }
    }

    fn loose_path(archive: &Path, oid: Oid) -> PathBuf {
        let hex = oid.to_string();
        archive.join("objects").join(&hex[..2]).join(&hex[2..])
    }

    /// Content over the inline limit (so stored as a loose object).
    fn large(tag: &str) -> String {
        format!("{tag} line of a large file\n").repeat(80_000)
    }

    /// The scenario plus two versions of a large file; their blobs.
    fn scenario_with_large_file() -> (Vault, Oid, Oid) {
        let mut v = scenario();
        v.commit("alpha", &[("large.txt", Some(&large("first")))]);
        v.commit("alpha", &[("large.txt", Some(&large("second")))]);
        let catalog = v.catalog();
        let doc = catalog.document("alpha", "large.txt").unwrap();
        let blob = |n: usize| Oid::from_str(doc.versions[n].blob.as_deref().unwrap()).unwrap();
        let (old, kept) = (blob(0), blob(1));
        (v, old, kept)
    }

    #[test]
    fn large_blobs_stay_loose_through_a_disposition() {
        let (mut v, old, kept) = scenario_with_large_file();
        assert!(loose_path(v.archive.path(), kept).is_file());
        v.dispose(&[("alpha", "large.txt", 1)]).unwrap();
        // Kept loose, so a download streams it; the disposed one is gone.
        assert!(
            loose_path(v.archive.path(), kept).is_file(),
            "the kept large blob stays loose"
        );
        let archive = Archive::open(v.archive.path()).unwrap();
        let odb = archive.repo().odb().unwrap();
        assert!(odb.reader(kept).is_ok(), "it can be read as a stream");
        assert!(!odb.exists(old), "the disposed large blob is gone");
        assert_fsck_clean(v.archive.path());
    }

    #[test]
    fn large_blobs_only_in_a_pack_survive_a_disposition() {
        let (mut v, _, kept) = scenario_with_large_file();
        // As a `git gc` or an older docvault's disposition leaves them.
        let (ok, _, err) = git_out(v.archive.path(), &["repack", "-a", "-d", "-q"]);
        assert!(ok, "{err}");
        assert!(!loose_path(v.archive.path(), kept).exists());
        v.dispose(&[("alpha", "large.txt", 1)]).unwrap();
        let archive = Archive::open(v.archive.path()).unwrap();
        let blob = archive.repo().find_blob(kept).unwrap();
        assert_eq!(blob.content(), large("second").as_bytes());
        assert_fsck_clean(v.archive.path());
    }

    #[test]
    fn objects_a_crash_left_unreferenced_go_with_the_next_disposition() {
        let mut v = scenario();
        let garbage = v.archive.store_loose(M1.repeat(2).as_bytes()).unwrap();
        v.dispose(&[("alpha", "plan.txt", 1)]).unwrap();
        let archive = Archive::open(v.archive.path()).unwrap();
        assert!(!archive.repo().odb().unwrap().exists(garbage.oid));
        assert_fsck_clean(v.archive.path());
    }
}
