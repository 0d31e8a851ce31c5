//! Where the index files live: tantivy's memory-mapped directory, made
//! durable once per index commit instead of once per file, and read
//! through [`MappedFiles`] (whose merges' pages do not stay resident).
//!
//! tantivy's own directory syncs every segment file as it is closed, and
//! rewrites (create, sync, rename) its list of managed files for every new
//! file: about 30 fsyncs and as many file creations per commit, which on a
//! busy disk is most of a commit's time. Here segment files are written
//! without a sync and the list of managed files is kept in memory; when a
//! commit writes `meta.json` (the file that makes segments visible), the list
//! and the new `meta.json` are written, and every file written since the last
//! commit is synced (in parallel, so the journal commits them together), then
//! the directory, before `meta.json` is replaced. What a commit references is
//! durable before the commit is, as with tantivy's directory. Files a crash leaves between two commits
//! are in no list: [`sweep_orphans`] removes them at the next start.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::mapped::MappedFiles;
use tantivy::directory::error::{
    DeleteError, LockError, OpenDirectoryError, OpenReadError, OpenWriteError,
};
use tantivy::directory::{
    AntiCallToken, Directory, DirectoryLock, FileHandle, Lock, MmapDirectory, TerminatingWrite,
    WatchCallback, WatchHandle, WritePtr,
};

/// The file whose atomic write is an index commit.
const META: &str = "meta.json";
/// tantivy's list of the files it manages (and may delete).
const MANAGED: &str = ".managed.json";

#[derive(Debug, Clone)]
pub(crate) struct CommitSyncedDirectory {
    inner: MmapDirectory,
    root: PathBuf,
    /// Files written since the last commit (relative paths).
    unsynced: Arc<Mutex<BTreeSet<PathBuf>>>,
    /// The list of managed files, when it changed since the last commit.
    managed: Arc<Mutex<Option<Vec<u8>>>>,
    /// The segment files open for reading.
    mapped: Arc<MappedFiles>,
}

impl CommitSyncedDirectory {
    pub(crate) fn open(root: &Path) -> Result<CommitSyncedDirectory, OpenDirectoryError> {
        Ok(CommitSyncedDirectory {
            inner: MmapDirectory::open(root)?,
            root: root.to_owned(),
            unsynced: Arc::default(),
            managed: Arc::default(),
            mapped: Arc::default(),
        })
    }

    fn unsynced(&self) -> MutexGuard<'_, BTreeSet<PathBuf>> {
        self.unsynced.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn managed(&self) -> MutexGuard<'_, Option<Vec<u8>>> {
        self.managed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes the list of managed files if it changed (synced with the rest).
    fn write_managed(&self) -> io::Result<()> {
        let Some(data) = self.managed().take() else {
            return Ok(());
        };
        // (A name starting with a dot is not a managed file.)
        let temp = self.root.join(".managed.json.tmp");
        std::fs::write(&temp, &data)?;
        std::fs::rename(&temp, self.root.join(MANAGED))?;
        self.unsynced().insert(PathBuf::from(MANAGED));
        Ok(())
    }

    /// An index commit: the list of managed files and the new `meta.json`
    /// (as a temp file) are written, they and every file written since the
    /// last commit are synced, then the directory, then the temp file is
    /// renamed over `meta.json`. The rename reaches the disk with the next
    /// sync, as in tantivy's directory; until then a crash leaves the previous
    /// commit, which start-up catches up from.
    fn commit(&self, meta: &[u8]) -> io::Result<()> {
        self.write_managed()?;
        let temp = PathBuf::from(".meta.json.tmp");
        std::fs::write(self.root.join(&temp), meta)?;
        self.unsynced().insert(temp.clone());
        self.sync_written()?;
        std::fs::rename(self.root.join(temp), self.root.join(META))
    }

    /// Syncs every file written since the last commit, then the directory.
    fn sync_written(&self) -> io::Result<()> {
        let paths = std::mem::take(&mut *self.unsynced());
        let results: Vec<io::Result<()>> = std::thread::scope(|scope| {
            let syncs: Vec<_> = paths
                .iter()
                .map(|p| scope.spawn(move || sync_file(&self.root.join(p))))
                .collect();
            syncs
                .into_iter()
                .map(|s| {
                    s.join()
                        .unwrap_or_else(|_| Err(io::Error::other("fsync thread panicked")))
                })
                .collect()
        });
        if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
            // Sync them again at the next commit.
            self.unsynced().extend(paths);
            return Err(e);
        }
        sync_file(&self.root)
    }
}

/// fdatasync; a file deleted meanwhile needs none.
fn sync_file(path: &Path) -> io::Result<()> {
    match File::open(path) {
        Ok(f) => f.sync_data(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// A file written without a sync on close.
struct UnsyncedFile(File);

impl Write for UnsyncedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl TerminatingWrite for UnsyncedFile {
    fn terminate_ref(&mut self, _: AntiCallToken) -> io::Result<()> {
        self.0.flush()
    }
}

impl Directory for CommitSyncedDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        self.mapped.open(&self.root.join(path))
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        self.unsynced().remove(path);
        let deleted = self.inner.delete(path);
        // A merged-away segment's pages, which the merge read, need not
        // wait for the last search on it to go.
        self.mapped.release(&self.root.join(path));
        deleted
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.inner.exists(path)
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.root.join(path))
            .map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => OpenWriteError::FileAlreadyExists(path.to_owned()),
                _ => OpenWriteError::wrap_io_error(e, path.to_owned()),
            })?;
        self.unsynced().insert(path.to_owned());
        Ok(BufWriter::new(Box::new(UnsyncedFile(file))))
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        if path == Path::new(MANAGED) {
            if let Some(data) = self.managed().as_ref() {
                return Ok(data.clone());
            }
        }
        self.inner.atomic_read(path)
    }

    fn atomic_write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        if path == Path::new(MANAGED) {
            *self.managed() = Some(data.to_vec());
            return Ok(());
        }
        if path == Path::new(META) {
            return self.commit(data);
        }
        self.inner.atomic_write(path, data)
    }

    fn sync_directory(&self) -> io::Result<()> {
        // Done by the next commit.
        Ok(())
    }

    fn acquire_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        self.inner.acquire_lock(lock)
    }

    fn watch(&self, callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.inner.watch(callback)
    }
}

/// Deletes the segment files no commit references: what a crash left
/// between two commits. Given the index's writer, which holds the writer's
/// lock, before it wrote anything: no other writer is running.
///
/// Not with a lock of its own, released before the writer takes it again:
/// the lock is an flock on a file, which a process forked while it is held
/// (another thread starting `git` or an extraction worker) shares until it
/// execs, so in between the writer could find it busy and opening the index
/// fail.
pub(crate) fn sweep_orphans(
    writer: &tantivy::IndexWriter<tantivy::TantivyDocument>,
    root: &Path,
) -> tantivy::Result<usize> {
    let living = writer.index().load_metas()?.list_segment_files();
    let mut removed = 0;
    for entry in std::fs::read_dir(root)? {
        let name = PathBuf::from(entry?.file_name());
        if is_segment_file(&name) && !living.contains(&name) {
            std::fs::remove_file(root.join(&name))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// `<32 hex digits>.<extension>`: a segment's file.
fn is_segment_file(name: &Path) -> bool {
    let name = name.to_string_lossy();
    let bytes = name.as_bytes();
    bytes.len() > 33 && bytes[32] == b'.' && bytes[..32].iter().all(u8::is_ascii_hexdigit)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `MappedFiles` tells a merge's reads by the name of tantivy's merge
    /// threads: a tantivy whose merges run elsewhere would keep their pages
    /// resident again, and fail here.
    #[test]
    fn tantivy_merges_open_their_files_on_its_merge_threads() {
        use tantivy::schema::{Schema, TEXT};
        let tmp = tempfile::tempdir().unwrap();
        let dir = CommitSyncedDirectory::open(tmp.path()).unwrap();
        let mut schema = Schema::builder();
        let body = schema.add_text_field("body", TEXT);
        let index =
            tantivy::Index::create(dir.clone(), schema.build(), Default::default()).unwrap();
        let mut writer: tantivy::IndexWriter =
            index.writer_with_num_threads(1, 15_000_000).unwrap();
        let mut policy = tantivy::indexer::LogMergePolicy::default();
        policy.set_min_num_segments(2);
        writer.set_merge_policy(Box::new(policy));
        for i in 0..4 {
            writer
                .add_document(tantivy::doc!(body => format!("plan {i}")))
                .unwrap();
            writer.commit().unwrap();
        }
        writer.wait_merging_threads().unwrap();
        assert!(dir.mapped.merge_opens() > 0, "no merge opened a file");
        let segments = index.searchable_segment_ids().unwrap().len();
        assert!(segments < 4, "{segments} segments: none merged");
    }

    #[test]
    fn segment_files_are_recognized_by_name() {
        let id = "0efdc7b332744b7a9ff910836eb9d026";
        assert!(is_segment_file(Path::new(&format!("{id}.idx"))));
        assert!(is_segment_file(Path::new(&format!("{id}.25665.del"))));
        for other in [
            "meta.json",
            ".managed.json",
            ".tantivy-writer.lock",
            "0efdc7b3.idx",
        ] {
            assert!(!is_segment_file(Path::new(other)), "{other}");
        }
    }
}
