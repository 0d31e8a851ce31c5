//! The archive: a bare git repository that is docvault's source of truth.
//!
//! Every share is a branch `refs/heads/<share>` whose tree mirrors the share.
//! A commit holds one settled batch of changes of one share; the metadata of
//! each version in it (a [`VersionRecord`]) is a JSON line in a git note on
//! that commit under [`NOTES_REF`], so the archive alone describes every
//! version and everything else (catalog, index) can be rebuilt from it.
//!
//! Blobs are streamed into the object database while their sha256 is
//! computed, so memory stays flat whatever the file size. A batch's new
//! objects (blobs up to [`INLINE_LIMIT`], trees, the commit, its note) are
//! kept in memory and written as one pack when the batch is committed:
//! creating files is what a commit spends most of its time on, and a pack
//! is two files where loose objects are one per object. Larger blobs are
//! streamed to loose objects. [`crate::packs`] merges the small packs this
//! leaves behind. Durability comes
//! from one `syncfs` after the objects are written and one after the refs
//! moved, instead of libgit2's fsync per object. Extraction results that
//! arrive while versions flow ride on the next version commit's notes
//! commit; rewritten on their own, they get only the first `syncfs`
//! (see [`Archive::rewrite_notes`]). The notes ref moves before
//! the branch: a crash in between leaves a note on an unreachable commit
//! (harmless), never a version without its record.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use git2::{FileMode, ObjectType, Odb, Oid, Repository, Signature, build::TreeUpdateBuilder};
use sha2::{Digest, Sha256};

use crate::catalog::{Catalog, VersionRecord};

/// The ref holding one note per commit: the commit's version records, one JSON line each.
pub const NOTES_REF: &str = "refs/notes/docvault";

/// Files up to this size are read into memory and staged for the batch's
/// pack; larger ones are streamed through an odb write stream (a loose object).
pub const INLINE_LIMIT: u64 = 1 << 20;

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
    #[error("cannot write the batch's pack: {source}")]
    Pack { source: io::Error },
    #[error("archive pack for commit {commit} lacks object {missing}; the refs were not moved")]
    Incomplete { commit: Oid, missing: String },
    #[error(
        "content with sha256 {sha256} has the SHA-1 name {oid} of other content in the archive \
         (a SHA-1 collision): it cannot be stored"
    )]
    Collision { oid: Oid, sha256: String },
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

/// A ref to move with a batch, to a commit staged with it (see
/// [`Archive::commit_batch_and`]).
#[derive(Debug, Clone)]
pub struct AlsoRef {
    pub name: &'static str,
    pub target: Oid,
    /// Where the ref is now (`None`: it does not exist yet).
    pub expected: Option<Oid>,
    /// The paths in `target`'s tree that it wrote.
    pub paths: Vec<String>,
    /// Write `target`'s objects with the batch, but leave the ref where
    /// it is (its owner moves it later).
    pub defer: bool,
}

/// The archive, opened for writing (ingest) or reading (API handlers open their own).
pub struct Archive {
    repo: Repository,
    path: PathBuf,
    sync_dir: File,
    /// The batch being built: an object database in memory only (a
    /// mempack). Created at the first staged write; [`Archive::commit_batch`]
    /// and [`Archive::rewrite_notes`] write what a commit needs from it as
    /// one pack. It is kept for the next batch (opening one costs more than
    /// a small commit) until it holds [`STAGE_LIMIT`] bytes.
    ///
    /// It does not read the archive's objects: what building a commit reads
    /// (the parent, the trees along the changed paths) is copied in first
    /// ([`Archive::seed`]). With the archive as an alternate, libgit2
    /// rescanned the pack folder and searched every pack twice for each
    /// object written (it looks for an existing copy first), which made a
    /// one-file commit cost several milliseconds more.
    staging: RefCell<Option<Repository>>,
    /// Bytes written to `staging` since it was created (blobs and notes).
    staged_bytes: Cell<u64>,
    /// The batch's blobs, hashed and deflated already (see
    /// [`PreparedBlob`]): they skip the staging odb and go into the pack as
    /// they are, with the sha256 of their content. Dropped once written,
    /// and with the stage.
    prepared: RefCell<std::collections::HashMap<Oid, (PackEntry, [u8; 32])>>,
    /// Packs this handle wrote (see [`Archive::packs_written`]).
    packs_written: Cell<u64>,
    /// Prepares the blobs staged on the writer's own thread: a change or
    /// a few, whose blobs are stored (see [`Preparer::storing`]).
    preparer: RefCell<Preparer>,
    /// Objects in `staging` that are on disk too: copied from there, or
    /// packed by an earlier commit of the same stage.
    on_disk: RefCell<HashSet<Oid>>,
}

/// The bytes a batch's in-memory object database may hold before it is
/// dropped after a commit (its objects are on disk by then).
const STAGE_LIMIT: u64 = 16 << 20;

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
            staging: RefCell::new(None),
            staged_bytes: Cell::new(0),
            prepared: RefCell::default(),
            packs_written: Cell::new(0),
            preparer: RefCell::new(Preparer::storing()),
            on_disk: RefCell::default(),
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
            staging: RefCell::new(None),
            staged_bytes: Cell::new(0),
            prepared: RefCell::default(),
            packs_written: Cell::new(0),
            preparer: RefCell::new(Preparer::storing()),
            on_disk: RefCell::default(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes what a killed writer leaves behind: ref lock files (which
    /// would make every later ref update fail) and half-written loose
    /// objects. Call only while holding the data dir lock.
    pub fn remove_stale_files(&self) -> Result<usize> {
        let mut removed =
            crate::packs::remove_torn(&self.path).map_err(|source| ArchiveError::Sync {
                path: self.path.join("objects").join("pack"),
                source,
            })?;
        let walker = walkdir::WalkDir::new(&self.path)
            .follow_links(false)
            .into_iter();
        for entry in walker.filter_map(std::result::Result::ok) {
            let name = entry.file_name().to_string_lossy();
            // A pack's files go in the order .idx last (libgit2's indexer:
            // .idx then .pack renamed in; merges remove .idx first): an
            // .idx without its .pack, or a pack's other files without its
            // .idx, are what an interrupted write or removal leaves.
            let in_pack_dir = entry
                .path()
                .parent()
                .is_some_and(|p| p.ends_with("objects/pack"));
            let extension = entry.path().extension().and_then(|e| e.to_str());
            let orphan_idx =
                extension == Some("idx") && !entry.path().with_extension("pack").exists();
            let orphan_part = in_pack_dir
                && name.starts_with("pack-")
                && matches!(extension, Some("pack" | "rev" | "bitmap" | "mtimes"))
                && !entry.path().with_extension("idx").exists();
            let orphan_idx = orphan_idx || orphan_part;
            let stale = entry.file_type().is_file()
                && (name.ends_with(".lock")
                    || name.starts_with("tmp_object_git2_")
                    || name.starts_with("pack_git2_")
                    || name.starts_with("tmp_pack_")
                    || name.starts_with("tmp_idx_")
                    || orphan_idx);
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

    /// Stages bytes (small files, symlink targets) as a blob of the batch
    /// being built; it reaches the disk with the batch's commit.
    pub fn store_bytes(&self, data: &[u8]) -> Result<StoredBlob> {
        let prepared = self.preparer.borrow_mut().bytes(data)?;
        self.stage_prepared(prepared)
    }

    /// Stages a blob [`Preparer`] made (on any thread) in the batch being
    /// built; it reaches the disk with the batch's commit.
    ///
    /// Prepared blobs are named with plain SHA-1, not the collision-detecting
    /// kind, so a name already in the batch or the archive is checked: the
    /// content there must have the same sha256, or the blob is refused as a
    /// collision (where libgit2 refuses content that looks like one half of
    /// a collision attack). Content that is there already is not written
    /// again.
    pub fn stage_prepared(&self, blob: PreparedBlob) -> Result<StoredBlob> {
        let stored = blob.blob;
        let collision = || ArchiveError::Collision {
            oid: stored.oid,
            sha256: hex::encode(stored.sha256),
        };
        let there = self.with_stage(|stage| {
            if let Some((_, sha256)) = self.prepared.borrow().get(&stored.oid) {
                return Ok(Some(*sha256));
            }
            let disk = git("opening object database", self.repo.odb())?;
            let staged = git("opening staging odb", stage.odb())?;
            // The handle knows every pack: write_staged refreshes it after
            // writing one, and only this writer writes new objects.
            let on_disk = self.on_disk.borrow().contains(&stored.oid)
                || disk.exists_ext(stored.oid, git2::OdbLookupFlags::NO_REFRESH);
            let odb = match (on_disk, staged.exists(stored.oid)) {
                (_, true) => staged,
                (true, false) => disk,
                (false, false) => return Ok(None),
            };
            let object = git(
                format!("reading object {}", stored.oid),
                odb.read(stored.oid),
            )?;
            let same_kind = object.kind() == ObjectType::Blob;
            Ok(Some(if same_kind {
                Sha256::digest(object.data()).into()
            } else {
                [0; 32]
            }))
        })?;
        match there {
            Some(sha256) if sha256 == stored.sha256 => Ok(stored),
            Some(_) => Err(collision()),
            None => {
                self.staged_bytes
                    .set(self.staged_bytes.get() + blob.entry.bytes.len() as u64);
                self.prepared
                    .borrow_mut()
                    .insert(stored.oid, (blob.entry, stored.sha256));
                Ok(stored)
            }
        }
    }

    /// Writes bytes as a loose blob at once, outside any batch (tests that
    /// need a blob on disk without committing it).
    #[cfg(test)]
    pub(crate) fn store_loose(&self, data: &[u8]) -> Result<StoredBlob> {
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
        self.commit_batch_and(share, changes, riders, |_, _| Ok(None))
            .map(|(commit, _)| commit)
    }

    /// Like [`Archive::commit_batch`], and `also` may stage objects of its
    /// own once the commit is known (given the staging repository and the
    /// commit) and name a ref to move to them: the audit log's commit
    /// shares the batch's pack and syncs. That ref moves after the branch,
    /// so a crash in between leaves a version without its event (which the
    /// audit log catches up at start), never an event without its version.
    ///
    /// Returns the commit and whether `also`'s ref moved: when `also` fails
    /// or its ref cannot move, the batch is committed all the same and the
    /// failure is logged. A ref `also` asks to leave ([`AlsoRef::defer`])
    /// does not move, and its objects are written all the same.
    pub fn commit_batch_and(
        &self,
        share: &str,
        changes: &mut [Staged],
        riders: &[(Oid, String)],
        also: impl FnOnce(&Repository, Oid) -> Result<Option<AlsoRef>>,
    ) -> Result<(Oid, bool)> {
        let parent_id = self.ensure_branch(share)?;
        let sig = signature()?;
        let message = commit_message(share, changes);
        let (commit, notes_commit, also) = self.with_stage(|stage| {
            self.seed(stage, parent_id)?;
            let parent = git("reading branch head", stage.find_commit(parent_id))?;
            let changed = changes.iter().map(|c| c.record.path.as_str());
            self.seed_along(stage, parent.tree_id(), changed)?;
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
            let tree_id = git("updating tree", update.create_updated(stage, &base))?;
            let tree = git("reading new tree", stage.find_tree(tree_id))?;
            let commit = git(
                "writing commit",
                stage.commit(None, &sig, &sig, &message, &tree, &[&parent]),
            )?;
            for change in changes.iter_mut() {
                change.record.commit = Some(commit.to_string());
            }
            let records: Vec<&VersionRecord> = changes.iter().map(|c| &c.record).collect();
            let mut notes = Vec::with_capacity(1 + riders.len());
            notes.push((commit, note_text(records)));
            notes.extend(riders.iter().cloned());
            let notes_commit =
                self.write_notes(stage, &notes, &sig, "Notes added by docvault\n")?;
            let also = also(stage, commit).unwrap_or_else(|e| {
                tracing::error!(share, error = %e, "cannot stage what goes with the commit");
                None
            });
            Ok((commit, notes_commit, also))
        })?;
        let paths = changes.iter().map(|c| c.record.path.clone()).collect();
        let noted = riders.iter().map(|(c, _)| note_path(*c));
        let noted = noted.chain([note_path(commit)]).collect();
        let mut written = vec![(commit, paths), (notes_commit, noted)];
        written.extend(also.iter().map(|a| (a.target, a.paths.clone())));
        self.write_staged(&written)?;
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
        let moved = also
            .filter(|a| !a.defer)
            .is_some_and(|a| match self.move_ref(&a) {
                Ok(()) => true,
                Err(e) => {
                    tracing::error!(share, error = %e, "cannot move a ref after the commit");
                    false
                }
            });
        // The refs moved: the commit is made, whatever this sync says (an
        // error here must not make the caller treat it as not made and give
        // its version numbers again). The next sync flushes the refs.
        if let Err(e) = self.sync() {
            tracing::error!(share, error = %e, "cannot sync the archive after a commit");
        }
        Ok((commit, moved))
    }

    /// Moves `also`'s ref, if it still is where it was expected.
    fn move_ref(&self, also: &AlsoRef) -> Result<()> {
        let what = format!("moving {}", also.name);
        let moved = match also.expected {
            Some(old) => {
                self.repo
                    .reference_matching(also.name, also.target, true, old, "docvault")
            }
            None => self
                .repo
                .reference(also.name, also.target, false, "docvault"),
        };
        git(what, moved).map(drop)
    }

    /// How many packs this handle wrote (one per commit at most, and one
    /// per notes rewrite), so that [`crate::packs::Merger`] knows how many
    /// there can be without listing them.
    pub fn packs_written(&self) -> u64 {
        self.packs_written.get()
    }

    /// Drops what the batch being built staged (nothing of it was committed).
    pub fn discard_staged(&self) {
        self.staging.borrow_mut().take();
        self.prepared.borrow_mut().clear();
        self.staged_bytes.set(0);
    }

    /// Runs `write` on the batch being built, starting one if there is none.
    fn with_stage<R>(&self, write: impl FnOnce(&Repository) -> Result<R>) -> Result<R> {
        let mut staging = self.staging.borrow_mut();
        let stage = match staging.take() {
            Some(stage) => stage,
            None => {
                self.staged_bytes.set(0);
                self.prepared.borrow_mut().clear();
                self.on_disk.borrow_mut().clear();
                self.new_stage()?
            }
        };
        let answer = write(&stage);
        *staging = Some(stage);
        answer
    }

    /// An object database in memory.
    fn new_stage(&self) -> Result<Repository> {
        // libgit2 checks that an object exists before a tree entry or a
        // commit refers to it. A stage lacks the archive's blobs (a large
        // file streamed to disk, a renamed file's old blob), so that check
        // is off, process-wide: before any ref moves, `write_staged` checks
        // that every object along the changed paths is on disk (listed in
        // the new pack's index, or found through the archive's handle).
        // And libgit2 hashes every object it reads again (with
        // collision-detecting SHA-1) to check its name: a commit reads the
        // trees it stages, in memory, several times over, and that was a
        // tenth of a small commit's CPU. Off too: a pack entry's zlib
        // stream carries its own checksum, and `docvault verify` hashes
        // every version's content against its record.
        static RELAXED: std::sync::Once = std::sync::Once::new();
        RELAXED.call_once(|| {
            git2::opts::strict_object_creation(false);
            git2::opts::strict_hash_verification(false);
        });
        let odb = git("creating staging odb", Odb::new())?;
        git(
            "adding memory to staging odb",
            odb.add_new_mempack_backend(1000).map(drop),
        )?;
        git("opening staging repository", Repository::from_odb(odb))
    }

    /// Copies the archive's object `oid` into `stage`, unless it is there.
    pub(crate) fn seed(&self, stage: &Repository, oid: Oid) -> Result<()> {
        let staged = git("opening staging odb", stage.odb())?;
        if staged.exists(oid) {
            return Ok(());
        }
        let disk = git("opening object database", self.repo.odb())?;
        let object = git(format!("reading object {oid}"), disk.read(oid))?;
        git(
            format!("staging object {oid}"),
            staged.write(object.kind(), object.data()),
        )?;
        self.on_disk.borrow_mut().insert(oid);
        Ok(())
    }

    /// Copies `tree` and the trees along `paths` in it into `stage`: what
    /// libgit2 reads to update those paths.
    fn seed_along<'p>(
        &self,
        stage: &Repository,
        tree: Oid,
        paths: impl IntoIterator<Item = &'p str>,
    ) -> Result<()> {
        self.seed(stage, tree)?;
        for path in paths {
            let mut current = tree;
            let mut parts = path.split('/').peekable();
            while let Some(part) = parts.next() {
                if parts.peek().is_none() {
                    break;
                }
                let what = || format!("reading tree {current}");
                let parent = git(what(), stage.find_tree(current))?;
                let Some(entry) = parent.get_name(part) else {
                    break;
                };
                if entry.kind() != Some(ObjectType::Tree) {
                    break;
                }
                current = entry.id();
                self.seed(stage, current)?;
            }
        }
        Ok(())
    }

    /// Writes the batch being built as one pack (and drops the in-memory
    /// objects once they pass [`STAGE_LIMIT`]).
    ///
    /// `commits` are the batch's new commits, each with the paths it
    /// changed: a commit's new objects are its tree, the trees along those
    /// paths and the objects at their ends, so those are what the pack
    /// holds (objects already on disk, such as streamed blobs, excepted).
    /// No ref can move to a commit whose objects stayed in memory: the
    /// written pack's index must list every new object, and the objects
    /// that were not staged are looked up on disk.
    fn write_staged(&self, commits: &[(Oid, Vec<String>)]) -> Result<()> {
        let Some(stage) = self.staging.borrow_mut().take() else {
            return Ok(());
        };
        let Some(&(first, _)) = commits.first() else {
            *self.staging.borrow_mut() = Some(stage);
            return Ok(());
        };
        let incomplete = |missing: String| ArchiveError::Incomplete {
            commit: first,
            missing,
        };
        let disk = git("opening object database", self.repo.odb())?;
        let staged = git("opening staging odb", stage.odb())?;
        let mut objects = HashSet::new();
        for (commit, paths) in commits {
            objects.extend(objects_along(&stage, *commit, paths)?);
        }
        // New objects are prepared blobs or in the stage; the others (a
        // large file's blob streamed to disk, a renamed file's old blob)
        // must be on disk.
        let (mut new, mut ready, mut elsewhere) = (Vec::new(), Vec::new(), Vec::new());
        let mut prepared = self.prepared.borrow_mut();
        {
            let on_disk = self.on_disk.borrow();
            for oid in objects.into_iter().filter(|oid| !on_disk.contains(oid)) {
                if prepared.contains_key(&oid) {
                    ready.push(oid);
                } else if staged.exists(oid) {
                    new.push(oid);
                } else {
                    elsewhere.push(oid);
                }
            }
        }
        if !new.is_empty() || !ready.is_empty() {
            let entries = ready.iter().map(|oid| (*oid, &prepared[oid].0));
            // Its index lists every object of `new` and `ready`: the pack
            // is in place when this returns.
            let packed = write_pack(&staged, &self.path, &new, entries, None)?;
            self.packs_written.set(self.packs_written.get() + 1);
            // Make the archive's handle see the new pack (libgit2 looks
            // for new packs only when an object is not found).
            git("refreshing object database", disk.refresh())?;
            for oid in &ready {
                prepared.remove(oid);
            }
            let mut on_disk = self.on_disk.borrow_mut();
            on_disk.extend(new);
            on_disk.extend(ready);
            // The stage holds what it packed (trees and commits too).
            self.staged_bytes
                .set(self.staged_bytes.get() + packed.bytes);
        }
        drop(prepared);
        if let Some(missing) = elsewhere.iter().find(|oid| !disk.exists(**oid)) {
            return Err(incomplete(missing.to_string()));
        }
        drop(staged);
        if self.staged_bytes.get() < STAGE_LIMIT {
            *self.staging.borrow_mut() = Some(stage);
        } else {
            self.prepared.borrow_mut().clear();
        }
        Ok(())
    }

    /// Writes notes with git's two-level fan-out (`ab/cdef…`), so that a
    /// note write costs the same with ten or a million notes. The objects
    /// go to `stage`.
    fn write_notes(
        &self,
        stage: &Repository,
        notes: &[(Oid, String)],
        sig: &Signature<'_>,
        message: &str,
    ) -> Result<Oid> {
        let parent = match self.repo.refname_to_id(NOTES_REF) {
            Ok(id) => {
                self.seed(stage, id)?;
                Some(git("reading notes", stage.find_commit(id))?)
            }
            Err(_) => None,
        };
        let base = match &parent {
            Some(c) => {
                let paths: Vec<String> = notes.iter().map(|(t, _)| note_path(*t)).collect();
                self.seed_along(stage, c.tree_id(), paths.iter().map(String::as_str))?;
                git("reading notes tree", c.tree())?
            }
            None => {
                let empty = git(
                    "empty tree",
                    stage.treebuilder(None).and_then(|b| b.write()),
                )?;
                git("empty tree", stage.find_tree(empty))?
            }
        };
        let mut update = TreeUpdateBuilder::new();
        for (target, text) in notes {
            let blob = git("writing note", stage.blob(text.as_bytes()))?;
            self.staged_bytes
                .set(self.staged_bytes.get() + text.len() as u64);
            update.upsert(note_path(*target), blob, FileMode::Blob);
        }
        let tree_id = git("updating notes tree", update.create_updated(stage, &base))?;
        let tree = git("reading notes tree", stage.find_tree(tree_id))?;
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        git(
            "writing notes commit",
            stage.commit(None, sig, sig, message, &tree, &parents),
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
        let notes_commit = self.with_stage(|stage| {
            self.write_notes(
                stage,
                &texts,
                &sig,
                "Extraction results added by docvault\n",
            )
        })?;
        let noted = notes.keys().map(|c| note_path(*c)).collect();
        self.write_staged(&[(notes_commit, noted)])?;
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

/// How a bulk import's reading threads deflate blobs (see
/// [`Preparer::default`]): zlib's fastest level, as git and libgit2 write
/// loose objects. Merging packs later compresses better.
pub(crate) const COMMIT_COMPRESSION: u32 = 1;

/// The zlib level of a commit's trees, commits and notes: 0, stored as
/// they are (see [`store_entry`]). They are a few KiB that deflate poorly
/// (a tree is mostly SHA-1s), and zlib's fixed cost per object (clearing
/// its hash table, building Huffman trees) made deflating a commit's dozen
/// of them cost more than its file's blob. Merges deflate them later.
pub(crate) const STAGED_COMPRESSION: u32 = 0;

/// Writes `objects` of `from` and the `ready` entries as one pack of the
/// archive at `archive`. Objects are stored ([`STAGED_COMPRESSION`]) and
/// not deltified (libgit2's pack builder always searches for deltas,
/// which costs more than a commit is worth). The [`Packed`] bytes are
/// those of `objects`.
fn write_pack<'e>(
    from: &Odb<'_>,
    archive: &Path,
    objects: &[Oid],
    ready: impl ExactSizeIterator<Item = (Oid, &'e PackEntry)>,
    trickle: Option<&Trickle>,
) -> Result<Packed> {
    let count = objects.len() + ready.len();
    let mut pack = PackWriter::new(archive, count, STAGED_COMPRESSION, trickle)?;
    for (oid, entry) in ready {
        pack.raw(oid, entry.crc, &entry.bytes)?;
    }
    let mut bytes = 0;
    for oid in objects {
        let object = git(format!("reading staged object {oid}"), from.read(*oid))?;
        pack.object(*oid, object.kind(), object.data())?;
        bytes += object.len() as u64;
    }
    let packed = pack.finish()?;
    Ok(Packed { bytes, ..packed })
}

/// A pack entry: the object's header and deflated bytes, and their CRC-32.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PackEntry {
    pub bytes: Vec<u8>,
    pub crc: u32,
}

/// A small file's blob made ready off the writer's thread: named (its
/// SHA-1, as git names it), its sha256 taken, and deflated into a pack
/// entry. [`Archive::stage_prepared`] stages it; the batch's pack takes
/// the entry as it is.
#[derive(Debug, Clone)]
pub struct PreparedBlob {
    pub blob: StoredBlob,
    entry: PackEntry,
}

/// Git's name for a blob of `data`: the SHA-1 of its header and `data`,
/// plain (hardware-accelerated where the CPU can; see
/// [`Archive::stage_prepared`] for collisions).
fn blob_id(data: &[u8]) -> Oid {
    use sha1::Digest as _;
    let mut sha1 = sha1::Sha1::new();
    sha1.update(format!("blob {}\0", data.len()));
    sha1.update(data);
    Oid::from_bytes(&sha1.finalize()).expect("a SHA-1 is 20 bytes")
}

/// Makes [`PreparedBlob`]s, keeping one deflate state for all of them.
/// One per thread.
pub struct Preparer {
    /// None: every blob is stored ([`Preparer::storing`]).
    z: Option<flate2::Compress>,
    /// Where entries are deflated (see [`deflate_entry`]).
    scratch: Vec<u8>,
}

impl Default for Preparer {
    /// Deflates at [`COMMIT_COMPRESSION`], except content that
    /// [`looks_compressed`]: for a bulk import's reading threads.
    fn default() -> Preparer {
        Preparer {
            z: Some(flate2::Compress::new(
                flate2::Compression::new(COMMIT_COMPRESSION),
                true,
            )),
            scratch: Vec::new(),
        }
    }
}

impl Preparer {
    /// Stores every blob as it is, for the writer's own thread: the small
    /// commits of steady state, whose packs a merge soon deflates (at
    /// [`crate::packs::MERGE_COMPRESSION`], beside the writer), so that
    /// deflating at level 1 first was thrown away; it was a third of a
    /// change's CPU. A merge copies the stored blobs that
    /// [`looks_compressed`] as they are.
    pub fn storing() -> Preparer {
        Preparer {
            z: None,
            scratch: Vec::new(),
        }
    }
}

/// Whether `data` looks compressed already: the bytes of a few samples
/// (its start, middle and end) have an order-0 entropy close to 8 bits.
/// Office files (zip), PDF streams and images are; deflating them costs
/// more CPU per byte than anything else and saves next to nothing, so
/// they are stored as they are (and merges copy them as they are).
pub(crate) fn looks_compressed(data: &[u8]) -> bool {
    const WINDOW: usize = 4 << 10;
    const MIN_BITS: f64 = 7.8;
    if data.len() < WINDOW {
        return false;
    }
    let mut counts = [0u32; 256];
    let starts = [0, data.len() / 2 - WINDOW / 2, data.len() - WINDOW];
    let mut total = 0;
    for start in starts
        .into_iter()
        .take(if data.len() < 3 * WINDOW { 1 } else { 3 })
    {
        for &b in &data[start..start + WINDOW] {
            counts[b as usize] += 1;
        }
        total += WINDOW;
    }
    let total = total as f64;
    let bits: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / total;
            -p * p.log2()
        })
        .sum();
    bits >= MIN_BITS
}

impl Preparer {
    /// Reads the file at `path` (at most [`INLINE_LIMIT`] bytes), which
    /// stat said holds `expected` bytes; a file longer or shorter when
    /// read is reported as [`ArchiveError::Changed`].
    pub fn file(&mut self, path: &Path, expected: u64) -> Result<PreparedBlob> {
        let read_err = |source| ArchiveError::Read {
            path: path.to_owned(),
            source,
        };
        if expected > INLINE_LIMIT {
            return Err(read_err(io::Error::other(format!(
                "{expected} bytes is over the {INLINE_LIMIT} bytes a blob is prepared with"
            ))));
        }
        let mut data = Vec::with_capacity(expected as usize);
        File::open(path)
            .and_then(|file| file.take(expected + 1).read_to_end(&mut data))
            .map_err(read_err)?;
        if data.len() as u64 != expected {
            return Err(ArchiveError::Changed {
                path: path.to_owned(),
            });
        }
        self.bytes(&data)
    }

    /// Prepares `data` as a blob.
    pub fn bytes(&mut self, data: &[u8]) -> Result<PreparedBlob> {
        let crc = match &mut self.z {
            Some(z) if !looks_compressed(data) => {
                deflate_entry(z, ObjectType::Blob, data, &mut self.scratch)?
            }
            _ => store_entry(ObjectType::Blob, data, &mut self.scratch)?,
        };
        Ok(PreparedBlob {
            blob: StoredBlob {
                oid: blob_id(data),
                sha256: Sha256::digest(data).into(),
                size: data.len() as u64,
            },
            entry: PackEntry {
                crc,
                bytes: self.scratch.clone(),
            },
        })
    }
}

/// Writes into `out` (cleared first) the pack entry of an object of `kind`
/// holding `data`: the entry header, then `data` deflated by `z` (reset
/// first; one deflate state serves many entries, since making one allocates
/// and clears a few hundred KiB, more than deflating a small object costs).
/// Returns the entry's CRC-32. `out` is reserved for the raw size: a
/// scratch buffer, so that entries kept in memory are copied out at their
/// deflated size (mimalloc shrinks a block in place, keeping all of it,
/// when the new size is at least half).
fn deflate_entry(
    z: &mut flate2::Compress,
    kind: ObjectType,
    data: &[u8],
    out: &mut Vec<u8>,
) -> Result<u32> {
    out.clear();
    out.extend_from_slice(&pack_entry_header(kind, data.len()).map_err(pack_err)?);
    // zlib's bound for stored blocks: deflating never needs more.
    out.reserve(data.len() + data.len() / 1000 + 64);
    z.reset();
    loop {
        let read = z.total_in() as usize;
        let status = z
            .compress_vec(&data[read..], out, flate2::FlushCompress::Finish)
            .map_err(|e| pack_err(io::Error::other(e)))?;
        if status == flate2::Status::StreamEnd {
            break;
        }
        out.reserve(out.capacity().max(64));
    }
    let mut crc = flate2::Crc::new();
    crc.update(out);
    Ok(crc.sum())
}

/// Like [`deflate_entry`] at zlib level 0, without zlib: `data` in stored
/// blocks (RFC 1950 and 1951), which is all level 0 writes. zlib would
/// first clear its hash table, which costs more than copying an object
/// of a few KiB.
pub(crate) fn store_entry(kind: ObjectType, data: &[u8], out: &mut Vec<u8>) -> Result<u32> {
    const BLOCK: usize = u16::MAX as usize;
    out.clear();
    out.extend_from_slice(&pack_entry_header(kind, data.len()).map_err(pack_err)?);
    out.reserve(2 + data.len() + 5 * (data.len() / BLOCK + 1) + 4);
    // Deflate, 32 KiB window, FLEVEL 0 (fastest), and the check bits
    // that make the pair a multiple of 31.
    out.extend_from_slice(&[0x78, 0x01]);
    let mut blocks = data.chunks(BLOCK).peekable();
    if data.is_empty() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        let len = block.len() as u16;
        out.push(u8::from(blocks.peek().is_none()));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&simd_adler32::adler32(&data).to_be_bytes());
    let mut crc = flate2::Crc::new();
    crc.update(out);
    Ok(crc.sum())
}

/// A pack being written, entry by entry, with its index.
///
/// The index is written here, not by libgit2's indexer: the writer knows
/// each entry's object id (the staging odb named it, or the index of the
/// pack it is copied from), so the indexer's work — inflating every entry
/// again and hashing it with collision-detecting SHA-1 — bought nothing
/// but a check of what was just computed, and it was the largest cost of
/// a small commit and of a merge. `git verify-pack` and `git fsck` check
/// these packs in the tests.
pub(crate) struct PackWriter<'t> {
    dir: PathBuf,
    /// `objects/pack/tmp_pack_…`, renamed to `pack-<hash>.pack` when done.
    temp: PathBuf,
    out: HashingWriter<io::BufWriter<File>>,
    /// One deflate state and buffer for all entries (see [`deflate_entry`]);
    /// none at level 0 ([`store_entry`]).
    z: Option<flate2::Compress>,
    scratch: Vec<u8>,
    entries: Vec<crate::packs::IdxEntry>,
    count: u32,
    /// Where the next entry starts.
    offset: u64,
    trickle: Option<&'t Trickle>,
    bytes: u64,
    synced: u64,
    done: bool,
}

impl<'t> PackWriter<'t> {
    /// Starts a pack of `count` entries in the archive at `archive`,
    /// deflating at `level`.
    pub(crate) fn new(
        archive: &Path,
        count: usize,
        level: u32,
        trickle: Option<&'t Trickle>,
    ) -> Result<PackWriter<'t>> {
        use std::os::unix::fs::OpenOptionsExt;
        use std::sync::atomic::{AtomicU64, Ordering};
        static SERIAL: AtomicU64 = AtomicU64::new(0);
        let count =
            u32::try_from(count).map_err(|_| pack_err(io::Error::other("too many objects")))?;
        let dir = archive.join("objects").join("pack");
        let temp = dir.join(format!(
            "tmp_pack_{}_{}",
            std::process::id(),
            SERIAL.fetch_add(1, Ordering::Relaxed)
        ));
        // Read-only, as git writes packs: they never change once written.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o444)
            .open(&temp)
            .map_err(pack_err)?;
        let mut out = HashingWriter {
            inner: io::BufWriter::with_capacity(256 << 10, file),
            sha1: sha1::Sha1::new(),
        };
        let mut header = b"PACK".to_vec();
        header.extend(2u32.to_be_bytes());
        header.extend(count.to_be_bytes());
        if let Err(e) = out.write_all(&header) {
            std::fs::remove_file(&temp).ok();
            return Err(pack_err(e));
        }
        Ok(PackWriter {
            dir,
            temp,
            out,
            z: (level > 0).then(|| flate2::Compress::new(flate2::Compression::new(level), true)),
            scratch: Vec::new(),
            entries: Vec::with_capacity(count as usize),
            count,
            offset: header.len() as u64,
            trickle,
            bytes: 0,
            synced: 0,
            done: false,
        })
    }

    /// Adds object `oid`, deflated.
    pub(crate) fn object(&mut self, oid: Oid, kind: ObjectType, data: &[u8]) -> Result<()> {
        self.count(data.len())?;
        let mut scratch = std::mem::take(&mut self.scratch);
        let written = match &mut self.z {
            Some(z) => deflate_entry(z, kind, data, &mut scratch),
            None => store_entry(kind, data, &mut scratch),
        }
        .and_then(|crc| self.entry(oid, crc, &scratch));
        self.scratch = scratch;
        written
    }

    /// Adds object `oid` as an entry of another pack, as it is (header and
    /// deflated data, not a delta) with that entry's CRC-32 (which the
    /// caller checked).
    pub(crate) fn raw(&mut self, oid: Oid, crc: u32, entry: &[u8]) -> Result<()> {
        self.count(entry.len())?;
        self.entry(oid, crc, entry)
    }

    fn entry(&mut self, oid: Oid, crc: u32, bytes: &[u8]) -> Result<()> {
        if self.entries.len() == self.count as usize {
            return Err(pack_err(io::Error::other(format!(
                "more objects than the {} the pack header counts",
                self.count
            ))));
        }
        self.entries.push(crate::packs::IdxEntry {
            oid,
            offset: self.offset,
            crc,
        });
        self.out.write_all(bytes).map_err(pack_err)?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    /// Counts bytes, and syncs the file system every `trickle.every` of them.
    fn count(&mut self, len: usize) -> Result<()> {
        self.bytes += len as u64;
        if let Some(t) = self.trickle.filter(|t| self.bytes - self.synced >= t.every) {
            nix::unistd::syncfs(&t.fs).map_err(|e| pack_err(e.into()))?;
            self.synced = self.bytes;
        }
        Ok(())
    }

    /// Writes the trailer and the index, and moves both into place: the
    /// pack first, its index last (a pack without an index is invisible,
    /// and removed at the next start). Nothing is synced yet.
    pub(crate) fn finish(mut self) -> Result<Packed> {
        if self.entries.len() != self.count as usize {
            return Err(pack_err(io::Error::other(format!(
                "{} objects where the pack header counts {}",
                self.entries.len(),
                self.count
            ))));
        }
        let trailer: [u8; 20] = self.out.sha1.clone().finalize().into();
        self.out.inner.write_all(&trailer).map_err(pack_err)?;
        self.out.inner.flush().map_err(pack_err)?;
        let index = crate::packs::idx_bytes(&mut self.entries, &trailer).map_err(pack_err)?;
        let name = format!("pack-{}", hex::encode(trailer));
        let temp_idx = self.temp.with_file_name(format!(
            "tmp_idx_{}",
            self.temp
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix("tmp_pack_"))
                .unwrap_or_default()
        ));
        let placed = (|| {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o444)
                .open(&temp_idx)?
                .write_all(&index)?;
            std::fs::rename(&self.temp, self.dir.join(format!("{name}.pack")))?;
            std::fs::rename(&temp_idx, self.dir.join(format!("{name}.idx")))
        })();
        if let Err(e) = placed {
            std::fs::remove_file(&temp_idx).ok();
            return Err(pack_err(e));
        }
        self.done = true;
        Ok(Packed {
            name,
            bytes: self.bytes,
        })
    }
}

impl Drop for PackWriter<'_> {
    /// A pack given up half-way leaves no file behind.
    fn drop(&mut self) {
        if !self.done {
            std::fs::remove_file(&self.temp).ok();
        }
    }
}

fn pack_err(source: io::Error) -> ArchiveError {
    ArchiveError::Pack { source }
}

/// For a big [`write_pack`] beside the writer: a `syncfs` of `fs` after
/// every `every` bytes, so that the writer's own `syncfs` never finds
/// hundreds of megabytes of someone else's writes to flush.
pub(crate) struct Trickle {
    pub fs: File,
    pub every: u64,
}

/// A pack [`write_pack`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Packed {
    /// `pack-<trailer hash>`, as git names its files.
    pub name: String,
    /// The objects' bytes before deflating.
    pub bytes: u64,
}

/// A pack entry's header: the object type and its size, 4 bits then 7 per byte.
pub(crate) fn pack_entry_header(kind: ObjectType, size: usize) -> io::Result<Vec<u8>> {
    let type_bits: u8 = match kind {
        ObjectType::Commit => 1,
        ObjectType::Tree => 2,
        ObjectType::Blob => 3,
        ObjectType::Tag => 4,
        other => return Err(io::Error::other(format!("cannot pack a {other} object"))),
    };
    let mut size = size as u64;
    let mut header = vec![(type_bits << 4) | (size & 0x0f) as u8];
    size >>= 4;
    while size > 0 {
        *header.last_mut().expect("header has a byte") |= 0x80;
        header.push((size & 0x7f) as u8);
        size >>= 7;
    }
    Ok(header)
}

/// Passes bytes on and hashes them (a pack ends with the SHA-1 of what precedes it).
struct HashingWriter<W> {
    inner: W,
    sha1: sha1::Sha1,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha1.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A commit, its tree, and the trees and objects along `paths` in it (a
/// path that is not in the tree, removed by the commit, ends where it ends).
/// Fails if one of those trees or the commit cannot be read.
fn objects_along(repo: &Repository, commit: Oid, paths: &[String]) -> Result<HashSet<Oid>> {
    let what = || format!("reading commit {commit}");
    let commit_obj = git(what(), repo.find_commit(commit))?;
    let root = git(what(), commit_obj.tree())?;
    let mut found = HashSet::from([commit, root.id()]);
    for path in paths {
        let mut tree = root.clone();
        let mut parts = path.split('/').peekable();
        while let Some(part) = parts.next() {
            let Some(entry) = tree.get_name(part) else {
                break;
            };
            let id = entry.id();
            found.insert(id);
            if parts.peek().is_none() || entry.kind() != Some(ObjectType::Tree) {
                break;
            }
            drop(entry);
            tree = git(format!("reading tree {id}"), repo.find_tree(id))?;
        }
    }
    Ok(found)
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

    /// A change that puts `blob` at `path`.
    fn upsert(path: &str, version: u32, event: Event, blob: &StoredBlob) -> Staged {
        Staged {
            record: record(path, version, event, blob),
            tree: TreeOp::Upsert {
                oid: blob.oid,
                mode: FileMode::Blob,
            },
        }
    }

    /// Every file of the share's branch, read through a handle opened now.
    fn tree_on_disk(path: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
        let fresh = Archive::open(path).unwrap();
        let repo = fresh.repo();
        let head = fresh.branch_head("alpha").unwrap().unwrap();
        let tree = repo.find_commit(head).unwrap().tree().unwrap();
        let mut files = std::collections::BTreeMap::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            if entry.kind() == Some(ObjectType::Blob) {
                let blob = repo.find_blob(entry.id()).unwrap();
                let name = format!("{dir}{}", entry.name().unwrap());
                files.insert(name, blob.content().to_vec());
            }
            git2::TreeWalkResult::Ok
        })
        .unwrap();
        files
    }

    fn loose_objects(path: &Path) -> usize {
        walkdir::WalkDir::new(path.join("objects"))
            .into_iter()
            .filter_map(std::result::Result::ok)
            .filter(|e| {
                e.file_type().is_file() && !e.path().starts_with(path.join("objects").join("pack"))
            })
            .count()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

        /// Whatever a batch adds, changes and removes in nested folders, a
        /// handle opened after the commit reads the whole tree as the model
        /// says: every object a commit needs reached its pack.
        #[test]
        fn every_commit_is_complete_on_disk(
            batches in proptest::collection::vec(
                proptest::collection::vec((0u8..3, 0u8..3, 0u8..4, proptest::option::of(0u8..5)), 1..6),
                1..5,
            ),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let archive = Archive::open_or_init(&dir.path().join("archive.git")).unwrap();
            let mut model = std::collections::BTreeMap::new();
            for (round, batch) in batches.iter().enumerate() {
                let mut changes = std::collections::BTreeMap::new();
                for (a, b, f, content) in batch {
                    let path = format!("d{a}/e{b}/f{f}.txt");
                    changes.insert(path, content.map(|c| format!("{c} of round {round}\n").repeat(c as usize + 1)));
                }
                let mut staged = Vec::new();
                for (path, content) in &changes {
                    match content {
                        Some(text) => {
                            let blob = archive.store_bytes(text.as_bytes()).unwrap();
                            model.insert(path.clone(), text.as_bytes().to_vec());
                            staged.push(Staged {
                                record: record(path, 1, Event::Modified, &blob),
                                tree: TreeOp::Upsert { oid: blob.oid, mode: FileMode::Blob },
                            });
                        }
                        None if !model.contains_key(path) => {}
                        None => {
                            model.remove(path);
                            let gone = StoredBlob { oid: Oid::ZERO_SHA1, sha256: [0; 32], size: 0 };
                            staged.push(Staged {
                                record: record(path, 2, Event::Deleted, &gone),
                                tree: TreeOp::Remove,
                            });
                        }
                    }
                }
                if staged.is_empty() {
                    continue;
                }
                archive.commit_batch("alpha", &mut staged, &[]).unwrap();
                proptest::prop_assert_eq!(&tree_on_disk(archive.path()), &model);
            }
            let loose = loose_objects(archive.path());
            proptest::prop_assert!(loose <= 2, "only ensure_branch's empty tree and first commit are loose, not {}", loose);
        }
    }

    #[test]
    fn stale_pack_files_are_removed_and_packs_kept() {
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::open_or_init(&dir.path().join("archive.git")).unwrap();
        let blob = archive.store_bytes(b"kept").unwrap();
        let mut staged = vec![upsert("a.txt", 1, Event::Created, &blob)];
        archive.commit_batch("alpha", &mut staged, &[]).unwrap();
        let pack_dir = archive.path().join("objects").join("pack");
        for stale in [
            "pack_git2_0123abcd",
            "tmp_pack_XYZ",
            "pack-1234.idx",
            "pack-5678.idx.lock",
            "pack-9abc.pack",
            "pack-9abc.rev",
        ] {
            std::fs::write(pack_dir.join(stale), b"half written").unwrap();
        }
        assert_eq!(archive.remove_stale_files().unwrap(), 6);
        assert_eq!(
            crate::packs::list(archive.path()).unwrap().len(),
            1,
            "the real pack stays"
        );
        assert_eq!(tree_on_disk(archive.path())["a.txt"], b"kept");
    }

    #[test]
    fn readers_reuse_a_handle_until_invalidated() {
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::open_or_init(&dir.path().join("archive.git")).unwrap();
        let a = archive.store_loose(b"kept").unwrap();
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
        let mut batch = vec![upsert("dir/a.txt", 1, Event::Created, &a)];
        let c1 = archive.commit_batch("alpha", &mut batch, &[]).unwrap();
        let b = archive.store_bytes(b"second").unwrap();
        let mut batch = vec![upsert("dir/a.txt", 2, Event::Modified, &b)];
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
        let mut add = vec![upsert("d/e/f.txt", 1, Event::Created, &a)];
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
    proptest::proptest! {
        #[test]
        fn a_prepared_blob_is_named_as_git_names_it(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..5_000),
        ) {
            let prepared = Preparer::default().bytes(&data).unwrap();
            proptest::prop_assert_eq!(
                prepared.blob.oid,
                Oid::hash_object(ObjectType::Blob, &data).unwrap()
            );
            proptest::prop_assert_eq!(prepared.blob.sha256, <[u8; 32]>::from(Sha256::digest(&data)));
            proptest::prop_assert_eq!(inflated(&prepared.entry.bytes), data);
        }

        #[test]
        fn repetitive_content_is_deflated_whatever_its_bytes(
            block in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..300),
            times in 50usize..200,
        ) {
            let data = block.repeat(times);
            let prepared = Preparer::default().bytes(&data).unwrap();
            proptest::prop_assert_eq!(inflated(&prepared.entry.bytes), data);
        }
    }

    /// The object a pack entry of a blob holds.
    fn inflated(entry: &[u8]) -> Vec<u8> {
        let header = 1 + entry.iter().take_while(|&&b| b & 0x80 != 0).count();
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(&entry[header..])
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn stored_entries_are_zlib_streams_of_their_data() {
        for len in [0, 1, 100, 65_535, 65_536, 2 * 65_535 + 7, 300_000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let mut out = Vec::new();
            let crc = store_entry(ObjectType::Tree, &data, &mut out).unwrap();
            assert_eq!(inflated(&out), data, "{len} bytes");
            let mut check = flate2::Crc::new();
            check.update(&out);
            assert_eq!(check.sum(), crc, "{len} bytes");
            assert_eq!(out[0] >> 4 & 7, 2, "a tree's entry");
            // zlib checks the Adler-32 at the end.
            let last = out.len() - 1;
            out[last] ^= 1;
            let header = 1 + out.iter().take_while(|&&b| b & 0x80 != 0).count();
            let mut sink = Vec::new();
            assert!(
                flate2::read::ZlibDecoder::new(&out[header..])
                    .read_to_end(&mut sink)
                    .is_err(),
                "{len} bytes"
            );
        }
    }

    /// Content that is compressed already (noise, to zlib) is stored as it
    /// is; text and mixed content are deflated.
    #[test]
    fn compressed_content_is_stored_and_the_rest_deflated() {
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let noise: Vec<u8> = (0..40_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let text = b"Risk R-12: supplier delay, owner A. Meier, status amber. ".repeat(700);
        let mut zip_like = b"PK\x03\x04".to_vec();
        zip_like.extend(&noise);
        let mut mixed = text.clone();
        mixed.extend(&noise[..10_000]);
        let size = |data: &[u8]| Preparer::default().bytes(data).unwrap().entry.bytes.len();
        assert!(looks_compressed(&noise) && looks_compressed(&zip_like));
        assert!(size(&noise) > noise.len(), "stored: {}", size(&noise));
        assert!(!looks_compressed(&text) && !looks_compressed(&mixed));
        assert!(size(&text) * 10 < text.len());
        // A staged chunk holds many entries: each keeps only its bytes,
        // not the raw size reserved for deflating.
        let entry = Preparer::default().bytes(&text).unwrap().entry.bytes;
        assert!(entry.capacity() * 10 < text.len(), "{}", entry.capacity());
        assert!(size(&mixed) < mixed.len());
        for data in [&noise, &zip_like, &text, &mixed] {
            let entry = Preparer::default().bytes(data).unwrap().entry.bytes;
            assert_eq!(&inflated(&entry), data);
            // The writer's own preparer stores everything.
            let stored = Preparer::storing().bytes(data).unwrap();
            assert!(stored.entry.bytes.len() > data.len());
            assert_eq!(&inflated(&stored.entry.bytes), data);
            assert_eq!(stored.blob, Preparer::default().bytes(data).unwrap().blob);
        }
    }

    /// Blobs are named with plain SHA-1: a name that is taken (in the
    /// batch, or on disk) by other content is refused as a collision, and
    /// content that is on disk already is not written again.
    #[test]
    fn a_taken_name_with_other_content_is_refused_and_same_content_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::open_or_init(&dir.path().join("a.git")).unwrap();
        let one = archive.store_bytes(b"one").unwrap();
        // Content "two" posing under the name of "one" (what a SHA-1
        // collision would be): refused while "one" is only in the batch...
        let mut forged = Preparer::default().bytes(b"two").unwrap();
        forged.blob.oid = one.oid;
        let err = archive.stage_prepared(forged.clone()).unwrap_err();
        assert!(matches!(err, ArchiveError::Collision { .. }), "{err}");
        let mut batch = vec![upsert("one.txt", 1, Event::Created, &one)];
        archive.commit_batch("alpha", &mut batch, &[]).unwrap();
        // ...and once it is on disk, through the archive's handle.
        archive.discard_staged();
        let err = archive.stage_prepared(forged).unwrap_err();
        assert!(matches!(err, ArchiveError::Collision { .. }), "{err}");
        let fresh = Archive::open(archive.path()).unwrap();
        assert!(matches!(
            fresh.stage_prepared(Preparer::default().bytes(b"one").unwrap().clone()),
            Ok(b) if b == one
        ));
        let mut forged = Preparer::default().bytes(b"two").unwrap();
        forged.blob.oid = one.oid;
        assert!(fresh.stage_prepared(forged).is_err());
        // The same content again (another path) is not packed again.
        let again = fresh.store_bytes(b"one").unwrap();
        let mut batch = vec![upsert("copy.txt", 1, Event::Created, &again)];
        fresh.commit_batch("alpha", &mut batch, &[]).unwrap();
        let holding = crate::packs::list(archive.path())
            .unwrap()
            .iter()
            .filter(|p| {
                crate::packs::idx_objects(&std::fs::read(&p.idx).unwrap())
                    .unwrap()
                    .contains(&one.oid)
            })
            .count();
        assert_eq!(holding, 1, "one pack holds the blob");
        assert_eq!(tree_on_disk(archive.path())["copy.txt"], b"one");
        crate::dispose::tests::assert_fsck_clean(archive.path());
    }
}
