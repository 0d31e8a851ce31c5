//! The audit trail: every version made, restore, hold change, disposition
//! and configuration reload, as a hash-chained sequence of events stored in
//! the archive under [`AUDIT_REF`].
//!
//! Each event carries the SHA-256 of the one before it (`prev`) and of its
//! own canonical JSON (`hash`), so changing, dropping or reordering any
//! event breaks the chain, which [`verify_chain`] (and `docvault verify`)
//! detects. The log lives in the archive: an audit commit per append, whose
//! tree holds the appended events (`events.jsonl`) and the last archive
//! commit of every share whose versions are all logged (`absorbed.json`).
//! Version events are derived from the archive's notes, so a crash between
//! an archive commit and its audit commit loses nothing: at start-up the
//! versions of every commit after the absorbed one are logged.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use git2::{Oid, Repository};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::archive::{Archive, ArchiveError};
use crate::catalog::VersionRecord;

/// The ref holding the audit log's newest commit.
pub const AUDIT_REF: &str = "refs/docvault/audit";

/// The actor of versions the watcher made.
pub const WATCHER: &str = "watcher";

/// `prev` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const EVENTS_FILE: &str = "events.jsonl";
const ABSORBED_FILE: &str = "absorbed.json";

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    /// 1, 2, 3, … without gaps.
    pub seq: u64,
    /// When it happened (RFC 3339, UTC).
    pub at: String,
    /// `created`, `modified`, `deleted`, `renamed`, `restored`,
    /// `hold_added`, `hold_removed`, `disposed`, `config_reloaded`.
    pub kind: String,
    #[schema(required = true)]
    pub share: Option<String>,
    #[schema(required = true)]
    pub path: Option<String>,
    #[schema(required = true)]
    pub version: Option<u32>,
    /// The token's name, or `watcher`.
    pub actor: String,
    /// Kind-specific facts (sha256, renamed_from, a hold's reason, …).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// `hash` of the previous event ([`GENESIS`] for the first).
    pub prev: String,
    /// SHA-256 (hex) of this event's canonical JSON without `hash`.
    pub hash: String,
}

/// An event before it has its place in the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub at: String,
    pub kind: String,
    pub share: Option<String>,
    pub path: Option<String>,
    pub version: Option<u32>,
    pub actor: String,
    pub detail: serde_json::Value,
}

impl Draft {
    /// The event of a version: what made it, who, and its content's hash.
    pub fn of_version(r: &VersionRecord) -> Draft {
        let mut detail = serde_json::Map::new();
        detail.insert("sha256".into(), r.sha256.clone().into());
        detail.insert("size".into(), r.size.into());
        if let Some(from) = &r.renamed_from {
            detail.insert("renamed_from".into(), from.clone().into());
        }
        if let Some(to) = &r.renamed_to {
            detail.insert("renamed_to".into(), to.clone().into());
        }
        if let Some(n) = r.restored_from {
            detail.insert("restored_from".into(), n.into());
        }
        Draft {
            at: r.at.clone(),
            kind: r.event.to_string(),
            share: Some(r.share.clone()),
            path: Some(r.path.clone()),
            version: Some(r.version),
            actor: r.actor.clone().unwrap_or_else(|| WATCHER.into()),
            detail: serde_json::Value::Object(detail),
        }
    }
}

/// The fields that are hashed, in a fixed order.
#[derive(Serialize)]
struct Canonical<'a> {
    seq: u64,
    at: &'a str,
    kind: &'a str,
    share: &'a Option<String>,
    path: &'a Option<String>,
    version: Option<u32>,
    actor: &'a str,
    detail: &'a serde_json::Value,
    prev: &'a str,
}

/// The hash an event must carry.
pub fn event_hash(e: &AuditEvent) -> String {
    let canonical = Canonical {
        seq: e.seq,
        at: &e.at,
        kind: &e.kind,
        share: &e.share,
        path: &e.path,
        version: e.version,
        actor: &e.actor,
        detail: &e.detail,
        prev: &e.prev,
    };
    // serde_json writes objects' keys sorted (no preserve_order), so the
    // detail's JSON is canonical too.
    let json = serde_json::to_vec(&canonical).expect("events serialize");
    hex::encode(Sha256::digest(json))
}

/// Where a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("event {seq}: sequence number out of order (expected {expected})")]
    Sequence { seq: u64, expected: u64 },
    #[error("event {seq}: its content does not match its hash (changed after it was written)")]
    Hash { seq: u64 },
    #[error(
        "event {seq}: prev does not name the event before it (an event was changed, removed or inserted)"
    )]
    Link { seq: u64 },
}

/// Checks seq, hash and prev of every event.
pub fn verify_chain(events: &[AuditEvent]) -> std::result::Result<(), ChainError> {
    let mut prev = GENESIS.to_owned();
    for (i, e) in events.iter().enumerate() {
        let expected = i as u64 + 1;
        if e.seq != expected {
            return Err(ChainError::Sequence {
                seq: e.seq,
                expected,
            });
        }
        if event_hash(e) != e.hash {
            return Err(ChainError::Hash { seq: e.seq });
        }
        if e.prev != prev {
            return Err(ChainError::Link { seq: e.seq });
        }
        prev = e.hash.clone();
    }
    Ok(())
}

/// Where one audit commit's events are: sequence numbers `first..=last`,
/// one per line of the blob `blob`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    first: u64,
    last: u64,
    blob: Oid,
}

/// The audit trail as the API pages it: where each audit commit's events
/// are, and the last event, which the next one chains to. The events
/// themselves stay in the archive: held in memory they took ~1 KB per
/// version, so the daemon grew with every version it ever made (10 MB
/// after a 10,000-file import).
#[derive(Debug, Default, PartialEq)]
pub struct Trail {
    /// In sequence order (and without gaps, in a sound log).
    chunks: Vec<Chunk>,
    /// The last event's sequence number and hash.
    last: Option<(u64, String)>,
}

impl Trail {
    /// The last event's sequence number (0 for an empty trail).
    pub fn last_seq(&self) -> u64 {
        self.last.as_ref().map_or(0, |(seq, _)| *seq)
    }

    /// The chunks that hold the first `limit` events after `since`.
    pub fn chunks_after(&self, since: u64, limit: usize) -> Vec<Chunk> {
        let until = since.saturating_add(limit as u64);
        let from = self.chunks.partition_point(|c| c.last <= since);
        self.chunks[from..]
            .iter()
            .take_while(|c| c.first <= until)
            .copied()
            .collect()
    }

    fn push(&mut self, events: &[AuditEvent], blob: Oid) {
        if let (Some(first), Some(last)) = (events.first(), events.last()) {
            self.chunks.push(Chunk {
                first: first.seq,
                last: last.seq,
                blob,
            });
            self.last = Some((last.seq, last.hash.clone()));
        }
    }
}

/// Reads the first `limit` events after `since` from `chunks` (see
/// [`Trail::chunks_after`]).
pub fn read_events(
    repo: &Repository,
    chunks: &[Chunk],
    since: u64,
    limit: usize,
) -> Result<Vec<AuditEvent>> {
    let mut events = Vec::new();
    for chunk in chunks {
        let blob = git("reading audit events", repo.find_blob(chunk.blob))?;
        // Line n of a chunk is event first + n: parse only the wanted ones.
        let skip = usize::try_from((since + 1).saturating_sub(chunk.first)).unwrap_or(usize::MAX);
        for (line, expected) in event_lines(chunk.blob, blob.content())?
            .skip(skip)
            .zip(chunk.first.max(since + 1)..)
        {
            if events.len() == limit {
                return Ok(events);
            }
            let event = parse_event(chunk.blob, line)?;
            if event.seq != expected {
                return Err(ArchiveError::Record {
                    commit: chunk.blob,
                    reason: format!("audit event {} where {expected} belongs", event.seq),
                });
            }
            events.push(event);
        }
    }
    Ok(events)
}

/// The non-empty lines of an `events.jsonl` blob.
fn event_lines(blob: Oid, content: &[u8]) -> Result<impl Iterator<Item = &str>> {
    let text = std::str::from_utf8(content).map_err(|e| ArchiveError::Record {
        commit: blob,
        reason: format!("audit events: {e}"),
    })?;
    Ok(text.lines().filter(|l| !l.trim().is_empty()))
}

fn parse_event(blob: Oid, line: &str) -> Result<AuditEvent> {
    serde_json::from_str(line).map_err(|e| ArchiveError::Record {
        commit: blob,
        reason: format!("audit event: {e}"),
    })
}

/// The trail the API reads (the writer appends to it).
pub type SharedEvents = Arc<RwLock<Trail>>;

/// The audit log, as the writer holds it.
pub struct AuditLog {
    trail: SharedEvents,
    /// Per share, the last archive commit whose versions are all logged.
    absorbed: BTreeMap<String, String>,
    /// The log's newest commit, and where [`AUDIT_REF`] points on disk.
    /// They differ while the ref move of version commits' audit commits
    /// is put off (see [`AuditLog::stage`]).
    head: Option<Oid>,
    at_ref: Option<Oid>,
    /// When the ref last moved.
    moved_at: Option<std::time::Instant>,
}

/// The audit ref moves at most this often while versions are committed
/// (see [`AuditLog::stage`]).
pub const REF_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

type Result<T> = std::result::Result<T, ArchiveError>;

fn git<T>(what: &str, r: std::result::Result<T, git2::Error>) -> Result<T> {
    r.map_err(|source| ArchiveError::Git {
        what: what.to_owned(),
        source,
    })
}

impl AuditLog {
    /// Finds where the archive's log keeps its events (reading only each
    /// audit commit's first and last event).
    pub fn load(archive: &Archive) -> Result<AuditLog> {
        let (trail, absorbed) = read_trail(archive.repo())?;
        let at_ref = head(archive.repo())?;
        Ok(AuditLog {
            trail: Arc::new(RwLock::new(trail)),
            absorbed,
            head: at_ref,
            at_ref,
            moved_at: None,
        })
    }

    pub fn events(&self) -> SharedEvents {
        self.trail.clone()
    }

    pub fn absorbed(&self) -> &BTreeMap<String, String> {
        &self.absorbed
    }

    /// Appends events (and, for version events, the share heads they bring
    /// the log up to) in one audit commit. Does not sync: callers that need
    /// the event on disk at once call [`Archive::sync`].
    pub fn append(
        &mut self,
        archive: &Archive,
        drafts: Vec<Draft>,
        absorbed: &[(String, Oid)],
    ) -> Result<()> {
        self.append_with(archive, drafts, absorbed, false)
    }

    /// Like [`AuditLog::append`], but the new objects are synced before the
    /// ref moves, so a power loss can never leave the ref on a commit that
    /// is not on disk. For events that exist nowhere else (holds, reloads,
    /// dispositions); version events are re-derived from the notes.
    pub fn append_durable(
        &mut self,
        archive: &Archive,
        drafts: Vec<Draft>,
        absorbed: &[(String, Oid)],
    ) -> Result<()> {
        self.append_with(archive, drafts, absorbed, true)
    }

    fn append_with(
        &mut self,
        archive: &Archive,
        drafts: Vec<Draft>,
        absorbed: &[(String, Oid)],
        durable: bool,
    ) -> Result<()> {
        if drafts.is_empty() && absorbed.is_empty() {
            return Ok(());
        }
        let (events, absorbed) = self.pending(drafts, absorbed);
        let (commit, blob) =
            write_commit(archive, &events, &absorbed, durable, self.head, self.at_ref)?;
        self.applied(
            Pending {
                events,
                blob,
                absorbed,
                commit,
            },
            true,
        );
        Ok(())
    }

    /// Stages the audit commit of a version commit in `stage` (the batch
    /// being built, see [`Archive::commit_batch_and`]), so that it shares
    /// the batch's pack and syncs. Returns the ref to move and what to
    /// hand to [`AuditLog::applied`] once it moved.
    ///
    /// Within [`REF_EVERY`] of the ref's last move the ref is to stay
    /// ([`crate::archive::AlsoRef::defer`]): the commit is on disk with
    /// the batch, and [`AuditLog::move_ref`] moves the ref later. Version
    /// events are derived from the notes, so a crash in between loses
    /// nothing (they are logged again at start-up), and a change's commit
    /// moves two refs instead of three: each ref move creates and frees a
    /// file, ~0.2 ms on this machine's disk and more when ext4 has to
    /// search for a free inode.
    pub fn stage(
        &self,
        archive: &Archive,
        stage: &Repository,
        drafts: Vec<Draft>,
        absorbed: &[(String, Oid)],
    ) -> Result<(crate::archive::AlsoRef, Pending)> {
        let (events, absorbed) = self.pending(drafts, absorbed);
        let parent = self.head;
        if let Some(parent) = parent {
            archive.seed(stage, parent)?;
        }
        let (commit, blob) = build_commit(stage, &events, &absorbed, parent)?;
        let also = crate::archive::AlsoRef {
            name: AUDIT_REF,
            target: commit,
            expected: self.at_ref,
            paths: vec![EVENTS_FILE.into(), ABSORBED_FILE.into()],
            defer: !self.ref_due(),
        };
        Ok((
            also,
            Pending {
                events,
                blob,
                absorbed,
                commit,
            },
        ))
    }

    /// Notes that [`AUDIT_REF`] now points at the log's head.
    fn ref_moved(&mut self) {
        self.at_ref = self.head;
        self.moved_at = Some(std::time::Instant::now());
    }

    /// Whether [`REF_EVERY`] has passed since [`AUDIT_REF`] last moved.
    pub fn ref_due(&self) -> bool {
        self.moved_at.is_none_or(|at| at.elapsed() >= REF_EVERY)
    }

    /// Whether [`AUDIT_REF`] is behind the log's head.
    pub fn ref_behind(&self) -> bool {
        self.head != self.at_ref
    }

    /// Moves [`AUDIT_REF`] to the log's head, if it is behind, and syncs:
    /// for a writer that has been quiet for [`REF_EVERY`], or stops.
    /// The head's objects are on disk already.
    pub fn move_ref(&mut self, archive: &Archive) -> Result<()> {
        let Some(head) = self.head.filter(|_| self.ref_behind()) else {
            return Ok(());
        };
        set_ref(archive.repo(), head, self.at_ref)?;
        self.ref_moved();
        archive.sync()
    }

    /// Takes in events whose audit commit is now the log's head, and
    /// whether [`AUDIT_REF`] moved to it (else its move is put off, see
    /// [`AuditLog::stage`]).
    pub fn applied(&mut self, pending: Pending, ref_moved: bool) {
        self.head = Some(pending.commit);
        self.absorbed = pending.absorbed;
        self.trail
            .write()
            .expect("events lock")
            .push(&pending.events, pending.blob);
        if ref_moved {
            self.ref_moved();
        }
    }

    /// The events `drafts` become after the log's last one, and the
    /// absorbed heads after `absorbed`.
    fn pending(
        &self,
        drafts: Vec<Draft>,
        absorbed: &[(String, Oid)],
    ) -> (Vec<AuditEvent>, BTreeMap<String, String>) {
        let (mut seq, mut prev) = self
            .trail
            .read()
            .expect("events lock")
            .last
            .clone()
            .unwrap_or_else(|| (0, GENESIS.to_owned()));
        let mut events = Vec::with_capacity(drafts.len());
        for d in drafts {
            seq += 1;
            let mut e = AuditEvent {
                seq,
                at: d.at,
                kind: d.kind,
                share: d.share,
                path: d.path,
                version: d.version,
                actor: d.actor,
                detail: d.detail,
                prev,
                hash: String::new(),
            };
            e.hash = event_hash(&e);
            prev = e.hash.clone();
            events.push(e);
        }
        let mut absorbed_after = self.absorbed.clone();
        for (share, head) in absorbed {
            absorbed_after.insert(share.clone(), head.to_string());
        }
        (events, absorbed_after)
    }
}

/// Events written to the archive but not yet in the log's trail.
#[derive(Debug)]
pub struct Pending {
    events: Vec<AuditEvent>,
    /// Their `events.jsonl` blob.
    blob: Oid,
    absorbed: BTreeMap<String, String>,
    /// Their audit commit.
    commit: Oid,
}

/// The log's newest commit, if it has one.
fn head(repo: &Repository) -> Result<Option<Oid>> {
    match repo.refname_to_id(AUDIT_REF) {
        Ok(id) => Ok(Some(id)),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => git("reading the audit head", Err(e)),
    }
}

/// Writes one audit commit on top of `parent` (the log's head) and moves
/// [`AUDIT_REF`] to it from `at_ref` (where it is on disk). Returns the
/// commit and its events' blob.
fn write_commit(
    archive: &Archive,
    events: &[AuditEvent],
    absorbed: &BTreeMap<String, String>,
    durable: bool,
    parent: Option<Oid>,
    at_ref: Option<Oid>,
) -> Result<(Oid, Oid)> {
    let repo = archive.repo();
    let (commit, blob) = build_commit(repo, events, absorbed, parent)?;
    if durable {
        archive.sync()?;
    }
    set_ref(repo, commit, at_ref)?;
    Ok((commit, blob))
}

/// Moves [`AUDIT_REF`] to `target` if it still points at `at_ref` (or
/// creates it, if `at_ref` is none and it does not exist).
fn set_ref(repo: &Repository, target: Oid, at_ref: Option<Oid>) -> Result<()> {
    match at_ref {
        Some(old) => git(
            "moving the audit ref",
            repo.reference_matching(AUDIT_REF, target, true, old, "docvault: audit"),
        )?,
        None => git(
            "creating the audit ref",
            repo.reference(AUDIT_REF, target, false, "docvault: audit"),
        )?,
    };
    Ok(())
}

/// Writes the objects of an audit commit on top of `parent` into `repo`;
/// returns the commit and its events' blob.
fn build_commit(
    repo: &Repository,
    events: &[AuditEvent],
    absorbed: &BTreeMap<String, String>,
    parent: Option<Oid>,
) -> Result<(Oid, Oid)> {
    let mut lines = String::new();
    for e in events {
        lines.push_str(&serde_json::to_string(e).expect("events serialize"));
        lines.push('\n');
    }
    let events_blob = git("writing audit events", repo.blob(lines.as_bytes()))?;
    let absorbed_json = serde_json::to_vec_pretty(absorbed).expect("absorbed serializes");
    let absorbed_blob = git("writing audit state", repo.blob(&absorbed_json))?;
    let mut tree = git("building audit tree", repo.treebuilder(None))?;
    git(
        "building audit tree",
        tree.insert(EVENTS_FILE, events_blob, 0o100644),
    )?;
    git(
        "building audit tree",
        tree.insert(ABSORBED_FILE, absorbed_blob, 0o100644),
    )?;
    let tree = git("writing audit tree", tree.write())?;
    let tree = git("reading audit tree", repo.find_tree(tree))?;
    let parent = match parent {
        Some(id) => Some(git("reading audit head", repo.find_commit(id))?),
        None => None,
    };
    let sig = git(
        "making signature",
        git2::Signature::now("docvault", "docvault@localhost"),
    )?;
    let message = match (events.first(), events.last()) {
        (Some(first), Some(last)) if first.seq == last.seq => {
            format!("audit: event {} ({})\n", first.seq, first.kind)
        }
        (Some(first), Some(last)) => format!("audit: events {}-{}\n", first.seq, last.seq),
        _ => "audit: absorbed commits\n".to_owned(),
    };
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    let commit = git(
        "writing audit commit",
        repo.commit(None, &sig, &sig, &message, &tree, &parents),
    )?;
    Ok((commit, events_blob))
}

/// Every event in the archive's log (oldest first) and its absorbed heads:
/// every line of every audit commit, as it is (judging the sequence is
/// [`verify_chain`]'s).
pub fn read_log(repo: &Repository) -> Result<(Vec<AuditEvent>, BTreeMap<String, String>)> {
    let mut chunks = Vec::new();
    let absorbed = walk_log(repo, |blob, content| {
        let chunk: Result<Vec<AuditEvent>> = event_lines(blob, content)?
            .map(|line| parse_event(blob, line))
            .collect();
        chunks.push(chunk?);
        Ok(())
    })?;
    let events = chunks.into_iter().rev().flatten().collect();
    Ok((events, absorbed))
}

/// Where the archive's log keeps its events, and its absorbed heads:
/// reads each audit commit's first and last event.
fn read_trail(repo: &Repository) -> Result<(Trail, BTreeMap<String, String>)> {
    let mut chunks = Vec::new();
    let mut last = None;
    let absorbed = walk_log(repo, |blob, content| {
        let mut lines = event_lines(blob, content)?;
        if let Some(first) = lines.next() {
            let first = parse_event(blob, first)?;
            let last_event = match lines.last() {
                Some(line) => parse_event(blob, line)?,
                None => first.clone(),
            };
            if last.is_none() {
                last = Some((last_event.seq, last_event.hash.clone()));
            }
            chunks.push(Chunk {
                first: first.seq,
                last: last_event.seq,
                blob,
            });
        }
        Ok(())
    })?;
    chunks.reverse();
    // Each commit's events follow on from the one before's: what paging by
    // sequence number relies on. A log that breaks this still loads (the
    // daemon keeps versioning); `docvault verify` names the break.
    let follows = chunks.windows(2).all(|w| w[1].first == w[0].last + 1);
    if !follows || chunks.first().is_some_and(|c| c.first != 1) {
        tracing::warn!(
            "the audit trail's sequence numbers have a gap or repeat; run `docvault verify`"
        );
    }
    Ok((Trail { chunks, last }, absorbed))
}

/// Walks the audit commits from the newest, handing `each` every commit's
/// events blob (its id and bytes); returns the newest commit's absorbed
/// heads.
fn walk_log(
    repo: &Repository,
    mut each: impl FnMut(Oid, &[u8]) -> Result<()>,
) -> Result<BTreeMap<String, String>> {
    let Ok(head) = repo.refname_to_id(AUDIT_REF) else {
        return Ok(BTreeMap::new());
    };
    let mut absorbed = None;
    let mut next = Some(head);
    while let Some(id) = next {
        let commit = git("reading the audit log", repo.find_commit(id))?;
        let tree = git("reading the audit log", commit.tree())?;
        if absorbed.is_none() {
            absorbed = Some(match tree.get_name(ABSORBED_FILE) {
                Some(entry) => {
                    let blob = git("reading audit state", repo.find_blob(entry.id()))?;
                    serde_json::from_slice(blob.content()).map_err(|e| ArchiveError::Record {
                        commit: id,
                        reason: format!("audit state: {e}"),
                    })?
                }
                None => BTreeMap::new(),
            });
        }
        if let Some(entry) = tree.get_name(EVENTS_FILE) {
            let blob = git("reading audit events", repo.find_blob(entry.id()))?;
            each(entry.id(), blob.content())?;
        }
        next = commit.parent_ids().next();
    }
    Ok(absorbed.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn draft(kind: &str, actor: &str) -> Draft {
        Draft {
            at: "2026-11-26T05:00:00.000Z".into(),
            kind: kind.into(),
            share: Some("alpha".into()),
            path: Some("a.txt".into()),
            version: Some(1),
            actor: actor.into(),
            detail: serde_json::json!({"reason": "litigation", "b": 2, "a": 1}),
        }
    }

    #[test]
    fn appended_events_survive_a_reload_and_chain() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = Archive::open_or_init(&tmp.path().join("a.git")).unwrap();
        let mut log = AuditLog::load(&archive).unwrap();
        log.append(&archive, vec![draft("created", WATCHER)], &[])
            .unwrap();
        let head = Oid::from_str("0123456789012345678901234567890123456789").unwrap();
        log.append(
            &archive,
            vec![draft("hold_added", "ada"), draft("restored", "ed")],
            &[("alpha".into(), head)],
        )
        .unwrap();
        let (events, _) = read_log(archive.repo()).unwrap();
        assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(events[0].prev, GENESIS);
        assert_eq!(events[1].prev, events[0].hash);
        verify_chain(&events).unwrap();

        let again = AuditLog::load(&archive).unwrap();
        assert_eq!(
            *again.events().read().unwrap(),
            *log.events().read().unwrap()
        );
        assert_eq!(again.events().read().unwrap().last_seq(), 3);
        assert_eq!(again.absorbed()["alpha"], head.to_string());
    }

    #[test]
    fn pages_of_the_trail_are_read_from_the_archive() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = Archive::open_or_init(&tmp.path().join("a.git")).unwrap();
        let mut log = AuditLog::load(&archive).unwrap();
        // Audit commits of 1, 3, 2 and 5 events, and one of none.
        for n in [1, 3, 2, 0, 5] {
            let drafts = (0..n)
                .map(|i| draft("modified", &format!("u{i}")))
                .collect();
            let head = Oid::from_str("0123456789012345678901234567890123456789").unwrap();
            log.append(&archive, drafts, &[("alpha".into(), head)])
                .unwrap();
        }
        let (all, _) = read_log(archive.repo()).unwrap();
        assert_eq!(all.len(), 11);
        verify_chain(&all).unwrap();
        let trail = log.events();
        let trail = trail.read().unwrap();
        assert_eq!(trail.last_seq(), 11);
        for since in 0..=12 {
            for limit in 1..=12 {
                let chunks = trail.chunks_after(since, limit);
                let page = read_events(archive.repo(), &chunks, since, limit).unwrap();
                let expected: Vec<AuditEvent> = all
                    .iter()
                    .skip(since as usize)
                    .take(limit)
                    .cloned()
                    .collect();
                assert_eq!(page, expected, "since {since}, limit {limit}");
                // Only the chunks the page needs are read.
                assert!(chunks.len() <= expected.len().max(1) + 1);
            }
        }
        // The next event chains to the last one.
        drop(trail);
        log.append(&archive, vec![draft("restored", "ed")], &[])
            .unwrap();
        let (all, _) = read_log(archive.repo()).unwrap();
        assert_eq!(all.len(), 12);
        verify_chain(&all).unwrap();
    }

    fn one_file_batch(archive: &Archive, text: &str) -> Vec<crate::archive::Staged> {
        let blob = archive.store_bytes(text.as_bytes()).unwrap();
        let record = VersionRecord::new(
            "alpha",
            "a.txt",
            1,
            crate::catalog::Event::Created,
            blob.size,
            blob.sha256,
        );
        vec![crate::archive::Staged {
            record,
            tree: crate::archive::TreeOp::Upsert {
                oid: blob.oid,
                mode: git2::FileMode::Blob,
            },
        }]
    }

    #[test]
    fn a_version_commit_carries_its_audit_commit() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = Archive::open_or_init(&tmp.path().join("a.git")).unwrap();
        let mut log = AuditLog::load(&archive).unwrap();
        log.append(&archive, vec![draft("hold_added", "ada")], &[])
            .unwrap();
        // One version commit with its audit commit; whether the ref moved
        // and whether its move was put off.
        let commit_one = |log: &mut AuditLog, name: &str| {
            let mut staged = one_file_batch(&archive, name);
            let (mut pending, mut deferred) = (None, false);
            let (commit, moved) = archive
                .commit_batch_and("alpha", &mut staged, &[], |stage, commit| {
                    let heads = [("alpha".to_owned(), commit)];
                    let (also, p) =
                        log.stage(&archive, stage, vec![draft("created", WATCHER)], &heads)?;
                    pending = Some(p);
                    deferred = also.defer;
                    Ok(Some(also))
                })
                .unwrap();
            log.applied(pending.unwrap(), moved);
            (commit, moved, deferred)
        };
        let on_disk = || {
            let reopened = Archive::open(archive.path()).unwrap();
            let (events, _) = read_log(reopened.repo()).unwrap();
            verify_chain(&events).unwrap();
            let kinds: Vec<String> = events.iter().map(|e| e.kind.clone()).collect();
            (kinds, AuditLog::load(&reopened).unwrap())
        };
        // Just after the ref moved: the audit commit is written with the
        // batch, and its ref move is put off.
        let (first, moved, deferred) = commit_one(&mut log, "plan");
        assert!(!moved && deferred);
        assert!(log.ref_behind());
        assert_eq!(on_disk().0, ["hold_added"]);
        log.move_ref(&archive).unwrap();
        assert!(!log.ref_behind());
        let (kinds, again) = on_disk();
        assert_eq!(kinds, ["hold_added", "created"]);
        assert_eq!(
            *again.events().read().unwrap(),
            *log.events().read().unwrap()
        );
        assert_eq!(again.absorbed()["alpha"], first.to_string());
        // Once REF_EVERY has passed, the ref moves with the batch.
        log.moved_at = Some(std::time::Instant::now() - REF_EVERY);
        let (second, moved, deferred) = commit_one(&mut log, "budget");
        assert!(moved && !deferred);
        assert!(!log.ref_behind());
        let (kinds, again) = on_disk();
        assert_eq!(kinds, ["hold_added", "created", "created"]);
        assert_eq!(again.absorbed()["alpha"], second.to_string());
    }

    #[test]
    fn a_stale_audit_head_leaves_the_version_committed_and_the_log_unmoved() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = Archive::open_or_init(&tmp.path().join("a.git")).unwrap();
        let mut log = AuditLog::load(&archive).unwrap();
        let mut staged = one_file_batch(&archive, "plan");
        let (commit, moved) = archive
            .commit_batch_and("alpha", &mut staged, &[], |stage, commit| {
                let heads = [("alpha".to_owned(), commit)];
                let (also, _) =
                    log.stage(&archive, stage, vec![draft("created", WATCHER)], &heads)?;
                // Someone else appended in between: the expected head is stale.
                let mut other = AuditLog::load(&archive).unwrap();
                other
                    .append(&archive, vec![draft("hold_added", "ada")], &[])
                    .unwrap();
                Ok(Some(also))
            })
            .unwrap();
        assert!(!moved, "the audit ref did not move over the other append");
        assert_eq!(archive.branch_head("alpha").unwrap(), Some(commit));
        log = AuditLog::load(&archive).unwrap();
        assert_eq!(log.events().read().unwrap().last_seq(), 1);
        let kinds: Vec<String> = read_log(archive.repo())
            .unwrap()
            .0
            .iter()
            .map(|e| e.kind.clone())
            .collect();
        assert_eq!(kinds, ["hold_added"]);
    }

    #[test]
    fn changed_removed_or_swapped_events_break_the_chain() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = Archive::open_or_init(&tmp.path().join("a.git")).unwrap();
        let mut log = AuditLog::load(&archive).unwrap();
        let drafts = (0..4)
            .map(|i| draft("modified", &format!("u{i}")))
            .collect();
        log.append(&archive, drafts, &[]).unwrap();
        let (events, _) = read_log(archive.repo()).unwrap();

        let mut changed = events.clone();
        changed[1].actor = "mallory".into();
        assert_eq!(verify_chain(&changed), Err(ChainError::Hash { seq: 2 }));

        let mut rehashed = changed.clone();
        rehashed[1].hash = event_hash(&rehashed[1]);
        assert_eq!(verify_chain(&rehashed), Err(ChainError::Link { seq: 3 }));

        let mut removed = events.clone();
        removed.remove(1);
        assert!(verify_chain(&removed).is_err());

        let mut swapped = events.clone();
        swapped.swap(1, 2);
        assert!(verify_chain(&swapped).is_err());
    }

    proptest! {
        #[test]
        fn any_single_field_change_is_caught(
            actors in proptest::collection::vec("[a-z]{1,8}", 1..8),
            victim in 0usize..8,
            new_actor in "[A-Z]{1,8}",
        ) {
            let mut events = Vec::new();
            let mut prev = GENESIS.to_owned();
            for (i, a) in actors.iter().enumerate() {
                let d = draft("modified", a);
                let mut e = AuditEvent {
                    seq: i as u64 + 1, at: d.at, kind: d.kind, share: d.share,
                    path: d.path, version: d.version, actor: d.actor,
                    detail: d.detail, prev: prev.clone(), hash: String::new(),
                };
                e.hash = event_hash(&e);
                prev = e.hash.clone();
                events.push(e);
            }
            prop_assert!(verify_chain(&events).is_ok());
            let victim = victim % events.len();
            events[victim].actor = new_actor;
            prop_assert!(verify_chain(&events).is_err());
        }
    }
}
