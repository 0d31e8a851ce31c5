//! The archive: a bare git repository that is docvault's source of truth.
//!
//! Every share is a branch `refs/heads/<share>` whose tree mirrors the share.
//! A commit holds one settled batch of changes of one share; the metadata of
//! each version in it (a [`VersionRecord`]) is a JSON line in a git note on
//! that commit under [`NOTES_REF`], so the archive alone describes every
//! version and everything else (catalog, index) can be rebuilt from it.
//!
//! Blobs are streamed into the object database while their sha256 is
//! computed, so memory stays flat whatever the file size. Durability comes
//! from one `syncfs` after the objects are written and one after the refs
//! moved, instead of libgit2's fsync per object. Extraction results that
//! arrive while versions flow ride on the next version commit's notes
//! commit; rewritten on their own, they get only the first `syncfs`
//! (see [`Archive::rewrite_notes`]). The notes ref moves before
//! the branch: a crash in between leaves a note on an unreachable commit
//! (harmless), never a version without its record.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use git2::{FileMode, ObjectType, Oid, Repository, Signature, build::TreeUpdateBuilder};
use sha2::{Digest, Sha256};

use crate::catalog::{Catalog, VersionRecord};

/// The ref holding one note per commit: the commit's version records, one JSON line each.
pub const NOTES_REF: &str = "refs/notes/docvault";

/// Files up to this size are read into memory and written in one call;
/// larger ones are streamed through an odb write stream.
const INLINE_LIMIT: u64 = 1 << 20;

/// Errors of the archive; each names what it was doing and where.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("cannot open archive at {path}: {source}")]
    Open { path: PathBuf, source: git2::Error },
    #[error("archive {what}: {source}")]
    Git { what: String, source: git2::Error },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path} changed while it was being read")]
    Changed { path: PathBuf },
    #[error("corrupt version record in note of commit {commit}: {reason}")]
    Record { commit: Oid, reason: String },
    #[error("cannot sync archive at {path}: {source}")]
    Sync { path: PathBuf, source: io::Error },
}

type Result<T, E = ArchiveError> = std::result::Result<T, E>;

fn git<T>(what: impl Into<String>, r: Result<T, git2::Error>) -> Result<T> {
    r.map_err(|source| ArchiveError::Git {
        what: what.into(),
        source,
    })
}

/// A blob written into the archive, with the facts ingest needs about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredBlob {
    pub oid: Oid,
    pub sha256: [u8; 32],
    pub size: u64,
}

/// One change of a commit: where it goes in the tree, and its record.
#[derive(Debug, Clone)]
pub struct Staged {
    pub record: VersionRecord,
    pub tree: TreeOp,
}

/// What a change does to the branch's tree.
#[derive(Debug, Clone, Copy)]
pub enum TreeOp {
    Upsert { oid: Oid, mode: FileMode },
    Remove,
}

/// The archive, opened for writing (ingest) or reading (API handlers open their own).
pub struct Archive {
    repo: Repository,
    path: PathBuf,
    sync_dir: File,
}

impl Archive {
    /// Opens the bare repository at `path`, creating it if it does not exist.
    pub fn open_or_init(path: &Path) -> Result<Archive> {
        let open = |source| ArchiveError::Open {
            path: path.to_owned(),
            source,
        };
        let repo = if path.join("HEAD").exists() {
            Repository::open_bare(path).map_err(open)?
        } else {
            std::fs::create_dir_all(path).map_err(|e| ArchiveError::Sync {
                path: path.to_owned(),
                source: e,
            })?;
            Repository::init_bare(path).map_err(open)?
        };
        let sync_dir = File::open(path).map_err(|source| ArchiveError::Sync {
            path: path.to_owned(),
            source,
        })?;
        Ok(Archive {
            repo,
            path: path.to_owned(),
            sync_dir,
        })
    }

    /// Opens an existing archive read-only in spirit (API handlers, CLI tools).
    pub fn open(path: &Path) -> Result<Archive> {
        let repo = Repository::open_bare(path).map_err(|source| ArchiveError::Open {
            path: path.to_owned(),
            source,
        })?;
        let sync_dir = File::open(path).map_err(|source| ArchiveError::Sync {
            path: path.to_owned(),
            source,
        })?;
        Ok(Archive {
            repo,
            path: path.to_owned(),
            sync_dir,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes what a killed writer leaves behind: ref lock files (which
    /// would make every later ref update fail) and half-written loose
    /// objects. Call only while holding the data dir lock.
    pub fn remove_stale_files(&self) -> Result<usize> {
        let mut removed = 0;
        let walker = walkdir::WalkDir::new(&self.path)
            .follow_links(false)
            .into_iter();
        for entry in walker.filter_map(std::result::Result::ok) {
            let name = entry.file_name().to_string_lossy();
            let stale = entry.file_type().is_file()
                && (name.ends_with(".lock") || name.starts_with("tmp_object_git2_"));
            if stale {
                std::fs::remove_file(entry.path()).map_err(|source| ArchiveError::Sync {
                    path: entry.path().to_owned(),
                    source,
                })?;
                tracing::warn!(file = %entry.path().display(), "removed a file left by an interrupted write");
                removed += 1;
            }
        }
        Ok(removed)
    }

    pub fn repo(&self) -> &Repository {
        &self.repo
    }

    /// The commit `refs/heads/<share>` points at, if the branch exists.
    pub fn branch_head(&self, share: &str) -> Result<Option<Oid>> {
        match self.repo.refname_to_id(&branch_ref(share)) {
            Ok(oid) => Ok(Some(oid)),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(e) => git(format!("reading branch {share}"), Err(e)),
        }
    }

    /// Makes sure the share has its branch: an empty first commit if it is new.
    pub fn ensure_branch(&self, share: &str) -> Result<Oid> {
        if let Some(head) = self.branch_head(share)? {
            return Ok(head);
        }
        let tree = git(
            "writing empty tree",
            self.repo.treebuilder(None).and_then(|b| b.write()),
        )?;
        let tree = git("reading empty tree", self.repo.find_tree(tree))?;
        let sig = signature()?;
        let msg = format!("{share}: archive started\n");
        let commit = git(
            "writing first commit",
            self.repo.commit(None, &sig, &sig, &msg, &tree, &[]),
        )?;
        self.sync()?;
        git(
            format!("creating branch {share}"),
            self.repo
                .reference(&branch_ref(share), commit, false, "docvault: share added"),
        )?;
        self.sync()?;
        Ok(commit)
    }

    /// Streams the file into the object database while hashing it.
    ///
    /// `expected` is the size stat reported; a file that is longer or shorter
    /// when read is reported as [`ArchiveError::Changed`].
    pub fn store_file(&self, path: &Path, expected: u64) -> Result<StoredBlob> {
        let read_err = |source| ArchiveError::Read {
            path: path.to_owned(),
            source,
        };
        let mut file = File::open(path).map_err(read_err)?;
        if expected <= INLINE_LIMIT {
            let mut data = Vec::with_capacity(expected as usize);
            (&mut file)
                .take(expected + 1)
                .read_to_end(&mut data)
                .map_err(read_err)?;
            if data.len() as u64 != expected {
                return Err(ArchiveError::Changed {
                    path: path.to_owned(),
                });
            }
            return self.store_bytes(&data);
        }
        let odb = git("opening object database", self.repo.odb())?;
        let mut writer = git(
            "opening blob stream",
            odb.writer(expected as usize, ObjectType::Blob),
        )?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut left = expected;
        while left > 0 {
            let want = buf.len().min(left as usize);
            let n = file.read(&mut buf[..want]).map_err(read_err)?;
            if n == 0 {
                return Err(ArchiveError::Changed {
                    path: path.to_owned(),
                });
            }
            hasher.update(&buf[..n]);
            writer.write_all(&buf[..n]).map_err(read_err)?;
            left -= n as u64;
        }
        if file.read(&mut buf[..1]).map_err(read_err)? != 0 {
            return Err(ArchiveError::Changed {
                path: path.to_owned(),
            });
        }
        let oid = git("finishing blob stream", writer.finalize())?;
        Ok(StoredBlob {
            oid,
            sha256: hasher.finalize().into(),
            size: expected,
        })
    }

    /// Writes bytes (small files, symlink targets) as a blob.
    pub fn store_bytes(&self, data: &[u8]) -> Result<StoredBlob> {
        let oid = git("writing blob", self.repo.blob(data))?;
        Ok(StoredBlob {
            oid,
            sha256: Sha256::digest(data).into(),
            size: data.len() as u64,
        })
    }

    /// Commits one batch of one share: tree update, commit, note, then refs.
    /// `riders` are notes of earlier commits to replace in the same notes
    /// commit (extraction results), so they cost no sync of their own.
    ///
    /// Returns the new commit. The records get that commit's id.
    pub fn commit_batch(
        &self,
        share: &str,
        changes: &mut [Staged],
        riders: &[(Oid, String)],
    ) -> Result<Oid> {
        let parent_id = self.ensure_branch(share)?;
        let parent = git("reading branch head", self.repo.find_commit(parent_id))?;
        let base = git("reading head tree", parent.tree())?;
        let mut update = TreeUpdateBuilder::new();
        for change in changes.iter() {
            match change.tree {
                TreeOp::Upsert { oid, mode } => {
                    update.upsert(change.record.path.as_str(), oid, mode)
                }
                TreeOp::Remove => update.remove(change.record.path.as_str()),
            };
        }
        let tree_id = git("updating tree", update.create_updated(&self.repo, &base))?;
        let tree = git("reading new tree", self.repo.find_tree(tree_id))?;
        let sig = signature()?;
        let message = commit_message(share, changes);
        let commit = git(
            "writing commit",
            self.repo
                .commit(None, &sig, &sig, &message, &tree, &[&parent]),
        )?;
        for change in changes.iter_mut() {
            change.record.commit = Some(commit.to_string());
        }
        let records: Vec<&VersionRecord> = changes.iter().map(|c| &c.record).collect();
        let mut notes = Vec::with_capacity(1 + riders.len());
        notes.push((commit, note_text(records)));
        notes.extend(riders.iter().cloned());
        let notes_commit = self.write_notes(&notes, &sig, "Notes added by docvault\n")?;
        self.sync()?;
        git(
            "moving notes ref",
            self.repo
                .reference(NOTES_REF, notes_commit, true, "docvault: note"),
        )?;
        git(
            format!("moving branch {share}"),
            self.repo.reference_matching(
                &branch_ref(share),
                commit,
                true,
                parent_id,
                "docvault: batch",
            ),
        )?;
        self.sync()?;
        Ok(commit)
    }

    /// Writes notes with git's two-level fan-out (`ab/cdef…`), so that a
    /// note write costs the same with ten or a million notes.
    fn write_notes(
        &self,
        notes: &[(Oid, String)],
        sig: &Signature<'_>,
        message: &str,
    ) -> Result<Oid> {
        let parent = match self.repo.refname_to_id(NOTES_REF) {
            Ok(id) => Some(git("reading notes", self.repo.find_commit(id))?),
            Err(_) => None,
        };
        let base = match &parent {
            Some(c) => git("reading notes tree", c.tree())?,
            None => {
                let empty = git(
                    "empty tree",
                    self.repo.treebuilder(None).and_then(|b| b.write()),
                )?;
                git("empty tree", self.repo.find_tree(empty))?
            }
        };
        let mut update = TreeUpdateBuilder::new();
        for (target, text) in notes {
            let blob = git("writing note", self.repo.blob(text.as_bytes()))?;
            update.upsert(note_path(*target), blob, FileMode::Blob);
        }
        let tree_id = git(
            "updating notes tree",
            update.create_updated(&self.repo, &base),
        )?;
        let tree = git("reading notes tree", self.repo.find_tree(tree_id))?;
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        git(
            "writing notes commit",
            self.repo.commit(None, sig, sig, message, &tree, &parents),
        )
    }

    /// The commits reachable from `head` but not from `since` (all of them without `since`).
    pub fn commits_since(
        &self,
        head: Oid,
        since: Option<Oid>,
    ) -> Result<std::collections::HashSet<String>> {
        let mut walk = git("walking history", self.repo.revwalk())?;
        git("walking history", walk.push(head))?;
        if let Some(since) = since.filter(|s| self.repo.find_commit(*s).is_ok()) {
            git("walking history", walk.hide(since))?;
        }
        walk.map(|oid| git("walking history", oid).map(|o| o.to_string()))
            .collect()
    }

    /// The records currently noted on `commit`.
    pub fn notes_of(&self, commit: Oid) -> Result<Vec<VersionRecord>> {
        let tree = match self.repo.refname_to_id(NOTES_REF) {
            Ok(id) => Some(git(
                "reading notes",
                self.repo.find_commit(id).and_then(|c| c.tree()),
            )?),
            Err(_) => None,
        };
        self.records_of(tree.as_ref(), commit)
    }

    /// Replaces the notes of several commits in one notes commit (extraction
    /// results arrive after the version was committed).
    pub fn rewrite_notes(
        &self,
        notes: &std::collections::BTreeMap<Oid, Vec<VersionRecord>>,
    ) -> Result<()> {
        if notes.is_empty() {
            return Ok(());
        }
        let sig = signature()?;
        let texts: Vec<(Oid, String)> = notes
            .iter()
            .map(|(commit, records)| (*commit, note_text(records)))
            .collect();
        let notes_commit =
            self.write_notes(&texts, &sig, "Extraction results added by docvault\n")?;
        // One sync, before the ref moves (a ref must never reach the disk
        // before its objects). No second sync: the ref reaches the disk with
        // the next sync (the next version commit's first one). Losing it
        // loses only extraction results, which are redone at the next
        // start: their versions' notes say `pending` again, and indexing a
        // version again replaces its entry.
        self.sync()?;
        git(
            "moving notes ref",
            self.repo
                .reference(NOTES_REF, notes_commit, true, "docvault: extraction"),
        )?;
        Ok(())
    }

    /// The version records noted on `commit` (empty if it has no note).
    pub fn records_of(
        &self,
        notes_tree: Option<&git2::Tree<'_>>,
        commit: Oid,
    ) -> Result<Vec<VersionRecord>> {
        let Some(tree) = notes_tree else {
            return Ok(Vec::new());
        };
        let entry = match tree.get_path(Path::new(&note_path(commit))) {
            Ok(e) => e,
            Err(_) => match tree.get_name(&commit.to_string()) {
                Some(e) => e.to_owned(),
                None => return Ok(Vec::new()),
            },
        };
        let blob = git("reading note", self.repo.find_blob(entry.id()))?;
        let text = std::str::from_utf8(blob.content()).map_err(|e| ArchiveError::Record {
            commit,
            reason: e.to_string(),
        })?;
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let mut r: VersionRecord =
                    serde_json::from_str(line).map_err(|e| ArchiveError::Record {
                        commit,
                        reason: e.to_string(),
                    })?;
                r.commit = Some(commit.to_string());
                Ok(r)
            })
            .collect()
    }

    /// Rebuilds the catalog of every share's documents and versions from the archive.
    pub fn load_catalog<'a>(&self, shares: impl IntoIterator<Item = &'a str>) -> Result<Catalog> {
        let notes_tree = match self.repo.refname_to_id(NOTES_REF) {
            Ok(id) => Some(git(
                "reading notes",
                self.repo.find_commit(id).and_then(|c| c.tree()),
            )?),
            Err(_) => None,
        };
        let mut catalog = Catalog::default();
        for share in shares {
            let head = self.branch_head(share)?;
            catalog.add_share(share, head);
            let Some(head) = head else { continue };
            let mut walk = git("walking history", self.repo.revwalk())?;
            git("walking history", walk.push(head))?;
            git(
                "walking history",
                walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE),
            )?;
            walk.simplify_first_parent().ok();
            for oid in walk {
                let oid = git("walking history", oid)?;
                for record in self.records_of(notes_tree.as_ref(), oid)? {
                    catalog.apply(record);
                }
            }
        }
        Ok(catalog)
    }

    /// Copies a blob into `out`: streamed where the odb supports it (loose
    /// objects), else read whole (packed objects). Returns the bytes written.
    pub fn copy_blob(&self, oid: Oid, out: &mut dyn Write) -> Result<u64> {
        let odb = git("opening object database", self.repo.odb())?;
        let write_err = |source| ArchiveError::Read {
            path: PathBuf::from(oid.to_string()),
            source,
        };
        if let Ok((mut reader, _, _)) = odb.reader(oid) {
            return io::copy(&mut reader, out).map_err(write_err);
        }
        let blob = git(format!("reading blob {oid}"), self.repo.find_blob(oid))?;
        out.write_all(blob.content()).map_err(write_err)?;
        Ok(blob.content().len() as u64)
    }

    /// Flushes everything written so far to stable storage (one syncfs).
    pub fn sync(&self) -> Result<()> {
        nix::unistd::syncfs(&self.sync_dir).map_err(|e| ArchiveError::Sync {
            path: self.path.clone(),
            source: e.into(),
        })
    }
}

/// A note's text: one JSON line per record.
pub(crate) fn note_text<'a>(records: impl IntoIterator<Item = &'a VersionRecord>) -> String {
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(r).expect("records serialize"));
        text.push('\n');
    }
    text
}

/// Opened archives for the API's readers, reused across requests: opening
/// one costs ~60 system calls (repository discovery, config files, the pack
/// directory), more than reading a small blob. A handle is taken for one
/// read and put back; [`ArchiveReaders::invalidate`] (the writer calls it
/// after a disposition repacked and pruned the archive) closes the idle
/// handles and makes the ones in use close when put back, so no handle
/// keeps serving disposed blobs or holds pruned packs open.
pub struct ArchiveReaders {
    path: PathBuf,
    generation: std::sync::atomic::AtomicU64,
    /// Idle handles with the generation they were opened in.
    idle: std::sync::Mutex<Vec<(u64, Archive)>>,
}

/// Idle handles kept at most (the API bounds concurrent reads near this).
const IDLE_READERS: usize = 16;

impl ArchiveReaders {
    pub fn new(path: &Path) -> ArchiveReaders {
        ArchiveReaders {
            path: path.to_owned(),
            generation: 0.into(),
            idle: Default::default(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `read` with an opened archive: an idle one of the current
    /// generation, or a new one.
    pub fn with<R>(&self, read: impl FnOnce(&Archive) -> R) -> Result<R> {
        use std::sync::atomic::Ordering;
        let generation = self.generation.load(Ordering::Acquire);
        let idle = self.idle.lock().expect("readers lock").pop();
        let archive = match idle {
            Some((g, archive)) if g == generation => archive,
            _ => Archive::open(&self.path)?,
        };
        let answer = read(&archive);
        let mut idle = self.idle.lock().expect("readers lock");
        if self.generation.load(Ordering::Acquire) == generation && idle.len() < IDLE_READERS {
            idle.push((generation, archive));
        }
        Ok(answer)
    }

    /// Closes every idle handle; handles in use close when put back.
    pub fn invalidate(&self) {
        let mut idle = self.idle.lock().expect("readers lock");
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        idle.clear();
    }
}

pub fn branch_ref(share: &str) -> String {
    format!("refs/heads/{share}")
}

/// Where the note of `commit` lives in the notes tree (two-level fan-out).
pub(crate) fn note_path(commit: Oid) -> String {
    let hex = commit.to_string();
    format!("{}/{}", &hex[..2], &hex[2..])
}

pub(crate) fn signature() -> Result<Signature<'static>> {
    git(
        "making signature",
        Signature::now("docvault", "docvault@localhost"),
    )
}

/// A summary line and one line per change, for people reading `git log`.
fn commit_message(share: &str, changes: &[Staged]) -> String {
    let records: Vec<&VersionRecord> = changes.iter().map(|c| &c.record).collect();
    records_message(share, &records)
}

/// The message of a commit holding `records`: a summary line and one line
/// per version (disposition rewrites messages with the versions it keeps).
pub(crate) fn records_message(share: &str, records: &[&VersionRecord]) -> String {
    let mut msg = match records {
        [one] => format!("{share}: {} {}\n\n", one.event, one.path),
        _ => format!("{share}: {} changes\n\n", records.len()),
    };
    for r in records {
        msg.push_str(&format!("{} {} (v{})", r.event, r.path, r.version));
        if let Some(from) = &r.renamed_from {
            msg.push_str(&format!(" from {from}"));
        }
        if let Some(to) = &r.renamed_to {
            msg.push_str(&format!(" to {to}"));
        }
        msg.push('\n');
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Event, VersionRecord};

    fn record(path: &str, version: u32, event: Event, blob: &StoredBlob) -> VersionRecord {
        VersionRecord::new("alpha", path, version, event, blob.size, blob.sha256)
    }

    #[test]
    fn readers_reuse_a_handle_until_invalidated() {
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::open_or_init(&dir.path().join("archive.git")).unwrap();
        let a = archive.store_bytes(b"kept").unwrap();
        let readers = ArchiveReaders::new(archive.path());
        let idle = || readers.idle.lock().unwrap().len();
        let read = || readers.with(|h| h.repo().find_blob(a.oid).unwrap().content().to_vec());
        assert_eq!(read().unwrap(), b"kept");
        assert_eq!(read().unwrap(), b"kept");
        assert_eq!(idle(), 1, "one handle, reused");
        readers.invalidate();
        assert_eq!(idle(), 0, "idle handles are closed");
        // A handle in use while the archive is invalidated is not put back.
        readers.with(|_| readers.invalidate()).unwrap();
        assert_eq!(idle(), 0);
        assert_eq!(read().unwrap(), b"kept");
        assert_eq!(idle(), 1);
    }

    #[test]
    fn commits_are_noted_and_catalog_is_rebuilt_from_archive_alone() {
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::open_or_init(&dir.path().join("archive.git")).unwrap();
        archive.ensure_branch("alpha").unwrap();
        let a = archive.store_bytes(b"first").unwrap();
        let mut batch = vec![Staged {
            record: record("dir/a.txt", 1, Event::Created, &a),
            tree: TreeOp::Upsert {
                oid: a.oid,
                mode: FileMode::Blob,
            },
        }];
        let c1 = archive.commit_batch("alpha", &mut batch, &[]).unwrap();
        let b = archive.store_bytes(b"second").unwrap();
        let mut batch = vec![Staged {
            record: record("dir/a.txt", 2, Event::Modified, &b),
            tree: TreeOp::Upsert {
                oid: b.oid,
                mode: FileMode::Blob,
            },
        }];
        let c2 = archive.commit_batch("alpha", &mut batch, &[]).unwrap();
        assert_ne!(c1, c2);

        let reopened = Archive::open(archive.path()).unwrap();
        let catalog = reopened.load_catalog(["alpha"]).unwrap();
        let doc = catalog.document("alpha", "dir/a.txt").unwrap();
        assert_eq!(doc.versions.len(), 2);
        assert_eq!(doc.versions[1].sha256, hex::encode(b.sha256));
        assert_eq!(
            doc.versions[0].commit.as_deref(),
            Some(c1.to_string().as_str())
        );
        let mut content = Vec::new();
        reopened.copy_blob(a.oid, &mut content).unwrap();
        assert_eq!(content, b"first");
    }

    #[test]
    fn removing_the_last_file_of_a_folder_drops_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::open_or_init(&dir.path().join("a.git")).unwrap();
        let a = archive.store_bytes(b"x").unwrap();
        let mut add = vec![Staged {
            record: record("d/e/f.txt", 1, Event::Created, &a),
            tree: TreeOp::Upsert {
                oid: a.oid,
                mode: FileMode::Blob,
            },
        }];
        archive.commit_batch("alpha", &mut add, &[]).unwrap();
        let mut del = vec![Staged {
            record: record("d/e/f.txt", 2, Event::Deleted, &a),
            tree: TreeOp::Remove,
        }];
        let c = archive.commit_batch("alpha", &mut del, &[]).unwrap();
        let tree = archive.repo().find_commit(c).unwrap().tree().unwrap();
        assert_eq!(tree.len(), 0);
    }

    #[test]
    fn streamed_blob_matches_inline_blob_and_detects_growth() {
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::open_or_init(&dir.path().join("a.git")).unwrap();
        let file = dir.path().join("big.bin");
        let data: Vec<u8> = (0..(3 * INLINE_LIMIT as usize))
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&file, &data).unwrap();
        let streamed = archive.store_file(&file, data.len() as u64).unwrap();
        let inline = archive.store_bytes(&data).unwrap();
        assert_eq!(streamed, inline);
        let err = archive
            .store_file(&file, data.len() as u64 - 10)
            .unwrap_err();
        assert!(matches!(err, ArchiveError::Changed { .. }), "{err}");
    }
}
